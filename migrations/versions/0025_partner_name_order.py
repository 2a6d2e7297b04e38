"""the lists' name order is the folded name, byte by byte on both databases, with its index;
the folded name's trigram index leaves out the start of each of its forms

Revision ID: 0025name01
Revises: 0024secver01
Create Date: 2026-12-02 14:00:00

"""

from alembic import op

revision = "0025name01"
down_revision = "0024secver01"
branch_labels = None
depends_on = None

TRIGRAMS = {"postgresql_using": "gin", "postgresql_ops": {"name_text": "gin_trgm_ops"}}


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        # The order of SQLite's BINARY, whatever the database's locale: the same on both
        # databases, and the one in which a btree answers "starts with" as a range.
        op.drop_index("ix_partner_name_text", table_name="partner")
        op.execute('ALTER TABLE partner ALTER COLUMN name_text TYPE text COLLATE "C"')
        # A name that starts with a word is a range of the btree below; one that holds it
        # further on is found here (app/models/base.py, name_inside).
        op.execute(
            "CREATE INDEX ix_partner_name_inside ON partner USING gin "
            "((regexp_replace(name_text, '(^|\\|).', '\\1|', 'g')) gin_trgm_ops)"
        )
    # A list of people or companies in name order, whole or searched, walks this index.
    op.create_index("ix_partner_type_name_text", "partner", ["type", "name_text", "id"])
    if postgresql:
        # The new type dropped the column's statistics; the planner needs them (and the
        # index expression's) to tell a range or a word of few names from one of many.
        op.execute("ANALYZE partner")


def downgrade():
    op.drop_index("ix_partner_type_name_text", table_name="partner")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_partner_name_inside", table_name="partner")
        op.execute('ALTER TABLE partner ALTER COLUMN name_text TYPE text COLLATE "default"')
        op.create_index("ix_partner_name_text", "partner", ["name_text"], **TRIGRAMS)
        op.execute("ANALYZE partner")
