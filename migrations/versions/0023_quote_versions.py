"""quotes: the parties as they were sent (buyer, seller, footer, title), the validity setting

Revision ID: 0022quote02
Revises: 0022zone01
Create Date: 2026-12-02 10:55:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0022quote02"
down_revision = "0022zone01"
branch_labels = None
depends_on = None

QUOTE_COLUMNS = (
    ("title", sa.String(length=200)),
    ("buyer_name", sa.String(length=250)),
    ("buyer_address", sa.Text()),
    ("buyer_tax_number", sa.String(length=40)),
    ("seller_name", sa.String(length=250)),
    ("seller_address", sa.Text()),
    ("seller_tax_number", sa.String(length=40)),
    ("seller_eu_vat_number", sa.String(length=40)),
    ("seller_registration_number", sa.String(length=60)),
    ("footer", sa.Text()),
)


def upgrade():
    with op.batch_alter_table("quote", schema=None) as batch_op:
        for name, type_ in QUOTE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("our_company", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("quote_valid_days", sa.Integer(), nullable=False, server_default="30")
        )
        batch_op.create_check_constraint(
            "ck_our_company_quote_days", "quote_valid_days >= 1 AND quote_valid_days <= 365"
        )


def downgrade():
    with op.batch_alter_table("our_company", schema=None) as batch_op:
        batch_op.drop_constraint("ck_our_company_quote_days", type_="check")
        batch_op.drop_column("quote_valid_days")
    with op.batch_alter_table("quote", schema=None) as batch_op:
        for name, _type in reversed(QUOTE_COLUMNS):
            batch_op.drop_column(name)
