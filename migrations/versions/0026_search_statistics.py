"""search texts: a finer sample of their statistics on PostgreSQL

Revision ID: 0026stats01
Revises: 0025name01
Create Date: 2026-12-02 15:25:00.000000

PostgreSQL guesses how many rows `search_text LIKE '%word%'` matches by trying the pattern on
the column's histogram, which it uses only when it holds at least 100 values; with the
default sample it guessed 100 rows for "kovacs", which 13,679 of a million partners hold,
and read every one of them through the trigram index to show 25. A histogram of 1,000
values gives the guess of the real share: a frequent word is met reading the table in order
and stops at the page's rows, a rare one is still found through the index. The search
writes its words into the statement (app/services/search.py, `_like`) so that each word is
planned for itself.
"""

from alembic import op

revision = "0026stats01"
down_revision = "0025name01"
branch_labels = None
depends_on = None

TABLES = ("partner", "task", "offer", "invoice")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN search_text SET STATISTICS 1000")
        op.execute(f"ANALYZE {table} (search_text)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN search_text SET STATISTICS -1")
