"""create_app(): configuration, extensions, AppBuilder, views and CLI — wiring only."""

from __future__ import annotations

import os

from flask import Flask, g, has_request_context
from flask_appbuilder import AppBuilder
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db, end_read_only_transactions, mail, migrate
from app.models import set_actor_provider, set_actor_roles_provider

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection, connection_record) -> None:
    # SQLite enforces foreign keys (ON DELETE SET NULL for a deleted author) only when asked.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _request_user_id():
    if has_request_context():
        user = g.get("user")
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id
    return None


def _request_user_roles() -> set[str]:
    if has_request_context():
        user = g.get("user")
        if user is not None and getattr(user, "is_authenticated", False):
            return {role.name for role in user.roles}
    return set()


def create_app(overrides: dict | None = None) -> Flask:
    from config import Config

    app = Flask(__name__, instance_path=Config.INSTANCE_DIR)
    app.config.from_object(Config)
    app.config.update(overrides or {})
    os.makedirs(app.config["IMG_UPLOAD_FOLDER"], exist_ok=True)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # The connection used last is taken again: its prepared statements (PostgreSQL keeps
        # their plans) are warm, and connections beyond what the load needs stay idle.
        options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_use_lifo": True, **options}
    db.init_app(app)
    end_read_only_transactions(app)  # registered after Flask-SQLAlchemy's: runs before it
    mail.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
    set_actor_provider(_request_user_id)
    set_actor_roles_provider(_request_user_roles)

    from app.protection import init_csrf, init_protection
    from app.services.auth import check_password_policy
    from app.views import init_app as init_views
    from app.views import register as register_views

    app.config.setdefault("FAB_PASSWORD_COMPLEXITY_VALIDATOR", check_password_policy)
    init_csrf(app)
    with app.app_context():
        appbuilder = AppBuilder()
        appbuilder.init_app(app, db.session)
        register_views(appbuilder)

    init_protection(app)
    from app.health import init_health
    from app.serving import init_serving

    init_serving(app)
    init_health(app)
    init_views(app)

    from app.cli import dossier

    app.cli.add_command(dossier)
    return app
