"""the folded name of each partner alone, with its index, for the lists' name filter

Revision ID: 0020perf01
Revises: 0018search01
Create Date: 2026-12-04 08:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0020perf01"
down_revision = "0019company01"
branch_labels = None
depends_on = None

CHUNK = 1000


def upgrade():
    # The same folding as on flush (app/models/partners.py).
    from app.text import search_text

    op.add_column("partner", sa.Column("name_text", sa.Text(), nullable=False, server_default=""))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, display_name FROM partner")).all()
    store = sa.text("UPDATE partner SET name_text = :name_text WHERE id = :id")
    for start in range(0, len(rows), CHUNK):
        connection.execute(
            store,
            [
                {"id": i, "name_text": search_text([name])}
                for i, name in rows[start : start + CHUNK]
            ],
        )
    # GIN trigram on PostgreSQL (pg_trgm comes with 0018search01); a plain index on SQLite.
    op.create_index(
        "ix_partner_name_text",
        "partner",
        ["name_text"],
        postgresql_using="gin",
        postgresql_ops={"name_text": "gin_trgm_ops"},
    )


def downgrade():
    op.drop_index("ix_partner_name_text", table_name="partner")
    with op.batch_alter_table("partner") as batch_op:
        batch_op.drop_column("name_text")
