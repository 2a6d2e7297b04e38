"""note lock in the database: each note's lock time, and on PostgreSQL a trigger that
refuses changing or deleting a note after it (and one that keeps customer numbers)

Revision ID: 0015_note_lock
Revises: 0014sessions01
Create Date: 2026-12-02 04:30:00.000000

"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

# revision identifiers, used by Alembic.
revision = "0015_note_lock"
down_revision = "0014sessions01"
branch_labels = None
depends_on = None

# The content of a locked note; its author may only be cleared (the user was deleted).
LOCK_FUNCTION = """
CREATE OR REPLACE FUNCTION note_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.created_at IS DISTINCT FROM OLD.created_at
                             OR NEW.locked_after IS DISTINCT FROM OLD.locked_after) THEN
        RAISE EXCEPTION 'note_locked: the time of note % is fixed', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.locked_after <= (now() AT TIME ZONE 'UTC') THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'note_locked: note % is fixed', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF (NEW.partner_id, NEW.kind, NEW.body, NEW.occurred_at, NEW.pinned)
               IS DISTINCT FROM (OLD.partner_id, OLD.kind, OLD.body, OLD.occurred_at, OLD.pinned)
           OR (NEW.author_id IS NOT NULL AND NEW.author_id IS DISTINCT FROM OLD.author_id) THEN
            RAISE EXCEPTION 'note_locked: note % is fixed', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$
"""

NUMBER_FUNCTION = """
CREATE OR REPLACE FUNCTION partner_number_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_number IS DISTINCT FROM OLD.customer_number THEN
        RAISE EXCEPTION 'partner_number_fixed: the number of partner % never changes', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$
"""


def edit_minutes() -> int:
    return int(current_app.config.get("NOTE_EDIT_MINUTES", 30)) if has_app_context() else 30


def upgrade():
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_after", sa.DateTime(), nullable=True))
    connection = op.get_bind()
    minutes = edit_minutes()
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("UPDATE note SET locked_after = created_at + :window"),
            {"window": timedelta(minutes=minutes)},
        )
    else:
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff': move the seconds, keep the fraction.
        connection.execute(
            sa.text(
                "UPDATE note SET locked_after = strftime('%Y-%m-%d %H:%M:%S', created_at, "
                ":shift) || substr(created_at, 20)"
            ),
            {"shift": f"+{minutes} minutes"},
        )
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.alter_column("locked_after", existing_type=sa.DateTime(), nullable=False)
    if connection.dialect.name == "postgresql":
        op.execute(LOCK_FUNCTION)
        op.execute(
            "CREATE TRIGGER note_lock BEFORE UPDATE OR DELETE ON note "
            "FOR EACH ROW EXECUTE FUNCTION note_lock()"
        )
        op.execute(NUMBER_FUNCTION)
        op.execute(
            "CREATE TRIGGER partner_number_fixed BEFORE UPDATE OF customer_number "
            "ON partner FOR EACH ROW EXECUTE FUNCTION partner_number_fixed()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS partner_number_fixed ON partner")
        op.execute("DROP FUNCTION IF EXISTS partner_number_fixed()")
        op.execute("DROP TRIGGER IF EXISTS note_lock ON note")
        op.execute("DROP FUNCTION IF EXISTS note_lock()")
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.drop_column("locked_after")
