"""session generations and login throttling

Revision ID: 0014sessions01
Revises: 57767d10e2b2
Create Date: 2026-12-02 04:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0014sessions01"
down_revision = "57767d10e2b2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade():
    op.drop_table("login_throttle")
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
