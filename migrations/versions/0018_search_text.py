"""folded search texts on partners, offers, tasks and invoices, with their indexes

Revision ID: 0018search01
Revises: 0017reset01
Create Date: 2026-12-03 06:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0018search01"
down_revision = "0017reset01"
branch_labels = None
depends_on = None

# The records whose search text is made of their own column.
OWN_COLUMN = {"offer": "name", "task": "title", "invoice": "number"}
TABLES = ("partner", *OWN_COLUMN)
CHUNK = 1000


def _backfill(connection) -> None:
    # The same folding and partner query as on flush (app/text.py, app/models/search.py).
    from app.models.search import refresh_partner_search
    from app.text import search_text

    ids = connection.execute(sa.text("SELECT id FROM partner")).scalars().all()
    refresh_partner_search(connection, ids)
    for table, column in OWN_COLUMN.items():
        rows = connection.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
        store = sa.text(f"UPDATE {table} SET search_text = :search_text WHERE id = :id")
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            connection.execute(
                store, [{"id": i, "search_text": search_text([v])} for i, v in chunk]
            )


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table in TABLES:
        op.add_column(table, sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    _backfill(connection)
    for table in TABLES:
        # GIN trigram on PostgreSQL; a plain index on SQLite, scanned instead of the table.
        op.create_index(
            f"ix_{table}_search_text",
            table,
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )


def downgrade():
    for table in TABLES:
        op.drop_index(f"ix_{table}_search_text", table_name=table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("search_text")
