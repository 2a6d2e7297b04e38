"""`flask dossier …` commands and the schema from Alembic."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model
from sqlalchemy import func, select

from app.extensions import db
from app.models import Note, Partner
from app.models.base import made_on


def test_demo_loads_once_on_first_start(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["dossier", "demo"])
    assert first.exit_code == 0 and "partners created" in first.output
    with app.app_context():
        partners = db.session.scalar(select(func.count(Partner.id)))
        assert partners >= 24
        assert db.session.scalar(select(func.count(Note.id))) > 0
        from app.models import Contract, Invoice, Offer, Task

        for model in (Offer, Task, Invoice, Contract):
            assert db.session.scalar(select(func.count(model.id))) > 0, model
        # Drafts for the lines editor and the order, and one issued invoice (in no order).
        assert "issued" in set(db.session.scalars(select(Invoice.status)))
    second = runner.invoke(args=["dossier", "demo"])
    assert "nothing loaded" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Partner.id))) == partners


def test_init_command_is_idempotent(app):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["dossier", "init"])
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output


def test_migrations_match_the_models(app):
    with app.app_context():
        with db.engine.connect() as conn:
            options = {"include_object": made_on(conn.dialect.name)}
            diff = compare_metadata(MigrationContext.configure(conn, opts=options), Model.metadata)
    assert diff == []


def test_an_older_database_upgrades_without_losing_rows(app, tmp_path):
    """SQLite batch migrations copy and drop tables: child rows (an invoice's lines) must
    survive that, as they do on PostgreSQL."""
    import flask_migrate
    from sqlalchemy import text

    from app import create_app

    old = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite'}"})
    with old.app_context():
        flask_migrate.upgrade(revision="b2eeb7638c42")  # the release before invoicing runs
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO partner (id, type, customer_number, display_name, status, "
                    "created_at, updated_at) VALUES (1, 'organization', '000001', 'Duna Kft.', "
                    "'active', '2026-01-01', '2026-01-01')"
                )
            )
            conn.execute(text("INSERT INTO organization (id, name) VALUES (1, 'Duna Kft.')"))
            conn.execute(
                text(
                    "INSERT INTO invoice (id, number, year, partner_id, status, currency, "
                    "net_total, vat_total, gross_total, created_at) VALUES (1, '2026/000001', "
                    "2026, 1, 'issued', 'HUF', 100, 27, 127, '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO invoice_line (invoice_id, position, description, quantity, unit, "
                    "unit_price, vat_rate) VALUES (1, 1, 'Audit', 1, 'pc', 100, 27)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO payment (partner_id, invoice_id, amount, currency, paid_on, "
                    "created_at) VALUES (1, 1, 27, 'HUF', '2026-01-05', '2026-01-05')"
                )
            )
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            counts = [
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("invoice", "invoice_line", "payment")
            ]
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.engine.dispose()
    assert counts == [1, 1, 1]
