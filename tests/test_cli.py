"""`flask dossier …` commands and the schema from Alembic."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model
from sqlalchemy import func, select

from app.extensions import db
from app.models import Note, Partner


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
        assert db.session.scalar(select(Invoice.status)) == "issued"
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
            diff = compare_metadata(MigrationContext.configure(conn), Model.metadata)
    assert diff == []
