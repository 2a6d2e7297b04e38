"""security_version: a token the database renews on every change to what roles may do

Revision ID: 0024secver01
Revises: 0022quote02
Create Date: 2026-12-02 14:00:00.000000

Each request reads the token together with the user (app/security.py); a process keeps a
role set's permissions while the token stays the same, instead of reading them on every
request. Triggers renew it whatever changes the permissions: FAB's role screens, its CLI,
`flask dossier` or SQL. The token is random, not a count, so that a database made again or
restored from a backup never shows a process a token it saw before with other permissions.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024secver01"
down_revision = "0022quote02"
branch_labels = None
depends_on = None

# What a role set's permission names are read from (app/security.py _permissions_select).
WATCHED = ("ab_permission_view_role", "ab_permission_view", "ab_permission", "ab_view_menu")
EVENTS = ("INSERT", "UPDATE", "DELETE")
# A new random token (62 bits) on each database.
SQLITE_TOKEN = "(random() & 4611686018427387903)"
POSTGRESQL_TOKEN = "floor(random() * 4611686018427387903)::bigint"


def upgrade():
    op.create_table(
        "security_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    token = POSTGRESQL_TOKEN if postgresql else SQLITE_TOKEN
    op.execute(f"INSERT INTO security_version (id, value) VALUES (1, {token})")
    if postgresql:
        op.execute(
            "CREATE FUNCTION bump_security_version() RETURNS trigger AS $$ "
            f"BEGIN UPDATE security_version SET value = {token}; RETURN NULL; END "
            "$$ LANGUAGE plpgsql"
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_bumps_security AFTER INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                "EXECUTE FUNCTION bump_security_version()"
            )
    else:
        for table in WATCHED:
            for event in EVENTS:
                op.execute(
                    f"CREATE TRIGGER {table}_{event.lower()}_bumps_security AFTER {event} "
                    f"ON {table} BEGIN UPDATE security_version SET value = {token}; END"
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bumps_security ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_security_version()")
    else:
        for table in WATCHED:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{event.lower()}_bumps_security")
    op.drop_table("security_version")
