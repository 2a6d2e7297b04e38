"""notes: the pinned notes of a partner read newest first from their index

Revision ID: 0027pinned01
Revises: 0026stats01
Create Date: 2026-12-02 18:25:00.000000

The data sheet's overview shows a partner's five latest pinned notes. With the index on
(partner_id, pinned) the database had to sort them, and SQLite preferred to walk all the
partner's notes newest first (ix_note_partner_created) looking for pinned ones: 5,000 notes
for a partner who pinned a few long ago. (partner_id, pinned, created_at) gives them in
order.
"""

from alembic import op

revision = "0027pinned01"
down_revision = "0026stats01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("note") as batch_op:
        batch_op.drop_index("ix_note_partner_pinned")
        batch_op.create_index("ix_note_partner_pinned", ["partner_id", "pinned", "created_at"])


def downgrade():
    with op.batch_alter_table("note") as batch_op:
        batch_op.drop_index("ix_note_partner_pinned")
        batch_op.create_index("ix_note_partner_pinned", ["partner_id", "pinned"])
