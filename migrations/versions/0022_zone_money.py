"""money in the zone and open receivables: documents visible in the zone, contract fees and
quota overuse billed through invoice lines that name what they bill

Revision ID: 0022zone01
Revises: 0021quotes01
Create Date: 2026-12-02 10:55:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0022zone01"
down_revision = "0021quotes01"
branch_labels = None
depends_on = None

VISIBILITY_BEFORE = "visibility IN ('all', 'roles', 'users', 'uploader')"
VISIBILITY_AFTER = "visibility IN ('all', 'roles', 'users', 'uploader', 'zone')"


def upgrade():
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_constraint("ck_document_visibility", type_="check")
        batch_op.create_check_constraint("ck_document_visibility", sa.text(VISIBILITY_AFTER))

    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("billing", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column(
                "vat_rate",
                sa.Numeric(precision=5, scale=2),
                nullable=False,
                server_default="27",
            )
        )
        batch_op.create_check_constraint(
            "ck_contract_billing",
            sa.text("billing IS NULL OR billing IN ('once', 'monthly', 'quarterly', 'yearly')"),
        )
        batch_op.create_check_constraint(
            "ck_contract_vat", sa.text("vat_rate >= 0 AND vat_rate <= 100")
        )

    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("overuse_price", sa.Numeric(precision=14, scale=2), nullable=True)
        )
        batch_op.drop_constraint("ck_quota_used", type_="check")
        batch_op.create_check_constraint(
            "ck_quota_used", sa.text("used <= bought OR overuse_price IS NOT NULL")
        )
        batch_op.create_check_constraint(
            "ck_quota_overuse_price", sa.text("overuse_price IS NULL OR overuse_price >= 0")
        )

    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("period_start", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("period_end", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("quota_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_invoice_line_contract", "contract", ["contract_id"], ["id"], ondelete="RESTRICT"
        )
        batch_op.create_foreign_key(
            "fk_invoice_line_quota", "quota", ["quota_id"], ["id"], ondelete="RESTRICT"
        )
        batch_op.create_index(batch_op.f("ix_invoice_line_contract_id"), ["contract_id"])
        batch_op.create_index(batch_op.f("ix_invoice_line_quota_id"), ["quota_id"])
        batch_op.create_check_constraint(
            "ck_invoice_line_bills_one",
            sa.text(
                "(CASE WHEN order_line_id IS NULL THEN 0 ELSE 1 END)"
                " + (CASE WHEN contract_id IS NULL THEN 0 ELSE 1 END)"
                " + (CASE WHEN quota_id IS NULL THEN 0 ELSE 1 END) <= 1"
            ),
        )
        batch_op.create_check_constraint(
            "ck_invoice_line_contract_period",
            sa.text("(contract_id IS NULL) = (period_start IS NULL)"),
        )


def downgrade():
    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.drop_constraint("ck_invoice_line_contract_period", type_="check")
        batch_op.drop_constraint("ck_invoice_line_bills_one", type_="check")
        batch_op.drop_index(batch_op.f("ix_invoice_line_quota_id"))
        batch_op.drop_index(batch_op.f("ix_invoice_line_contract_id"))
        batch_op.drop_constraint("fk_invoice_line_quota", type_="foreignkey")
        batch_op.drop_constraint("fk_invoice_line_contract", type_="foreignkey")
        for name in ("quota_id", "period_end", "period_start", "contract_id"):
            batch_op.drop_column(name)

    op.execute("UPDATE quota SET used = bought WHERE used > bought")
    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.drop_constraint("ck_quota_overuse_price", type_="check")
        batch_op.drop_constraint("ck_quota_used", type_="check")
        batch_op.create_check_constraint("ck_quota_used", sa.text("used <= bought"))
        batch_op.drop_column("overuse_price")

    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_constraint("ck_contract_vat", type_="check")
        batch_op.drop_constraint("ck_contract_billing", type_="check")
        batch_op.drop_column("vat_rate")
        batch_op.drop_column("billing")

    op.execute("UPDATE document SET visibility = 'uploader' WHERE visibility = 'zone'")
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_constraint("ck_document_visibility", type_="check")
        batch_op.create_check_constraint("ck_document_visibility", sa.text(VISIBILITY_BEFORE))
