"""our company, the seller on invoices; credit notes; supply date and payment method

Revision ID: 0019company01
Revises: 0017reset01
Create Date: 2026-12-03 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0019company01"
down_revision = "0018search01"
branch_labels = None
depends_on = None

SELLER_COLUMNS = {
    "seller_name": sa.String(length=250),
    "seller_address": sa.Text(),
    "seller_tax_number": sa.String(length=40),
    "seller_eu_vat_number": sa.String(length=40),
    "seller_registration_number": sa.String(length=60),
    "seller_iban": sa.String(length=34),
    "seller_swift": sa.String(length=11),
    "footer": sa.Text(),
}


def upgrade():
    op.create_table(
        "our_company",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("tax_number", sa.String(length=40), nullable=True),
        sa.Column("eu_vat_number", sa.String(length=40), nullable=True),
        sa.Column("registration_number", sa.String(length=60), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("footer", sa.Text(), nullable=True),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=20), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_our_company_one_row"),
        sa.CheckConstraint(
            "payment_terms_days >= 0 AND payment_terms_days <= 365", name="ck_our_company_terms"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "our_company_bank_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("swift", sa.String(length=11), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["our_company.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "currency", name="uq_bank_account_currency"),
    )
    op.create_table(
        "invoice_run_refusal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("recurring_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("missing", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["invoice_run.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recurring_id"], ["recurring_invoice.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "recurring_id", name="uq_invoice_run_refusal"),
    )
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=12), nullable=False, server_default="invoice")
        )
        batch_op.add_column(sa.Column("credited_invoice_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("supply_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("payment_method", sa.String(length=16), nullable=True))
        for name, type_ in SELLER_COLUMNS.items():
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_foreign_key(
            "fk_invoice_credited", "invoice", ["credited_invoice_id"], ["id"]
        )
        batch_op.create_unique_constraint("uq_invoice_credited", ["credited_invoice_id"])
        batch_op.create_check_constraint(
            "ck_invoice_kind", sa.text("kind IN ('invoice', 'credit_note')")
        )
        batch_op.create_check_constraint(
            "ck_invoice_credit_note",
            sa.text("(kind = 'credit_note') = (credited_invoice_id IS NOT NULL)"),
        )
    # Invoices issued before: the supply date is the issue date.
    op.execute("UPDATE invoice SET supply_date = issue_date WHERE issue_date IS NOT NULL")


def downgrade():
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_constraint("ck_invoice_credit_note", type_="check")
        batch_op.drop_constraint("ck_invoice_kind", type_="check")
        batch_op.drop_constraint("uq_invoice_credited", type_="unique")
        batch_op.drop_constraint("fk_invoice_credited", type_="foreignkey")
        for name in reversed(SELLER_COLUMNS):
            batch_op.drop_column(name)
        for name in ("payment_method", "supply_date", "credited_invoice_id", "kind"):
            batch_op.drop_column(name)
    op.drop_table("invoice_run_refusal")
    op.drop_table("our_company_bank_account")
    op.drop_table("our_company")
