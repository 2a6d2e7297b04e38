"""quotes and orders: offer lines, quote versions, orders and their lines, order of invoice lines

Revision ID: 0021quotes01
Revises: 0020perf01
Create Date: 2026-12-02 10:32:41.746380

"""

import sqlalchemy as sa
from alembic import op

revision = "0021quotes01"
down_revision = "0020perf01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "offer_line",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("discount >= 0 AND discount <= 100", name="ck_offer_line_discount"),
        sa.CheckConstraint("quantity > 0", name="ck_offer_line_quantity"),
        sa.CheckConstraint("unit_price >= 0", name="ck_offer_line_price"),
        sa.CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_offer_line_vat"),
        sa.ForeignKeyConstraint(["offer_id"], ["offer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("offer_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offer_line_offer_id"), ["offer_id"], unique=False)

    op.create_table(
        "quote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("net_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("vat_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("gross_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=250), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('sent', 'accepted', 'declined', 'superseded')", name="ck_quote_status"
        ),
        sa.ForeignKeyConstraint(["contact_id"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["offer_id"], ["offer.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["sent_by_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", "version", name="uq_quote_number_version"),
        sa.UniqueConstraint("offer_id", "version", name="uq_quote_offer_version"),
    )
    with op.batch_alter_table("quote", schema=None) as batch_op:
        batch_op.create_index("ix_quote_partner", ["partner_id"], unique=False)

    op.create_table(
        "quote_line",
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("discount >= 0 AND discount <= 100", name="ck_quote_line_discount"),
        sa.CheckConstraint("quantity > 0", name="ck_quote_line_quantity"),
        sa.CheckConstraint("unit_price >= 0", name="ck_quote_line_price"),
        sa.CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_quote_line_vat"),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["quote_id"], ["quote.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("quote_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quote_line_quote_id"), ["quote_id"], unique=False)

    op.create_table(
        "sales_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("quote_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("net_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("vat_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("gross_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'delivered', 'cancelled')",
            name="ck_sales_order_status",
        ),
        sa.ForeignKeyConstraint(["contact_id"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["offer_id"], ["offer.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["quote_id"], ["quote.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", name="uq_sales_order_number"),
        sa.UniqueConstraint("quote_id"),
    )
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_order_partner_status", ["partner_id", "status"], unique=False
        )

    op.create_table(
        "order_line",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("discount >= 0 AND discount <= 100", name="ck_order_line_discount"),
        sa.CheckConstraint("quantity > 0", name="ck_order_line_quantity"),
        sa.CheckConstraint("unit_price >= 0", name="ck_order_line_price"),
        sa.CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_order_line_vat"),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_line_order_id"), ["order_id"], unique=False)

    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_line_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_invoice_line_order_line_id"), ["order_line_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_invoice_line_order_line",
            "order_line",
            ["order_line_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade():
    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.drop_constraint("fk_invoice_line_order_line", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_invoice_line_order_line_id"))
        batch_op.drop_column("order_line_id")

    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_line_order_id"))

    op.drop_table("order_line")
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_order_partner_status")

    op.drop_table("sales_order")
    with op.batch_alter_table("quote_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quote_line_quote_id"))

    op.drop_table("quote_line")
    with op.batch_alter_table("quote", schema=None) as batch_op:
        batch_op.drop_index("ix_quote_partner")

    op.drop_table("quote")
    with op.batch_alter_table("offer_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_line_offer_id"))

    op.drop_table("offer_line")
