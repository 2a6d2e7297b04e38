"""outbox: when sending started

Revision ID: 0016outbox01
Revises: 0015_note_lock
Create Date: 2026-12-03 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0016outbox01"
down_revision = "0015_note_lock"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sending_started_at", sa.DateTime(), nullable=True))
    # A mail caught sending by the upgrade: its start is unknown, its creation is the bound.
    op.execute("UPDATE outbox SET sending_started_at = created_at WHERE status = 'sending'")


def downgrade():
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("sending_started_at")
