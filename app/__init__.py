"""create_app(): configuration, extensions, AppBuilder, views and CLI — wiring only."""

from __future__ import annotations

import os

from flask import Flask, g, has_request_context, session
from flask_appbuilder import AppBuilder
from flask_babel import get_babel
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db, mail, migrate
from app.models import set_actor_provider, set_actor_roles_provider

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "migrations")


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


def _load_preferences() -> None:
    """Once per login: the user's language and time zone from their profile, into the session."""
    user = g.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return
    if session.get("preferences_of") == user.id:
        return
    from app.services.users import profile_or_none

    found = profile_or_none(user.id)
    if found is not None and found.locale:
        session["locale"] = found.locale
    if found is not None and found.timezone:
        session["timezone"] = found.timezone
    session["preferences_of"] = user.id


def create_app(overrides: dict | None = None) -> Flask:
    from config import Config

    app = Flask(__name__, instance_path=Config.INSTANCE_DIR)
    app.config.from_object(Config)
    app.config.update(overrides or {})
    os.makedirs(app.config["IMG_UPLOAD_FOLDER"], exist_ok=True)

    db.init_app(app)
    mail.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
    set_actor_provider(_request_user_id)
    set_actor_roles_provider(_request_user_roles)

    from app.protection import init_csrf, init_protection
    from app.services.auth import check_password_policy

    app.config.setdefault("FAB_PASSWORD_COMPLEXITY_VALIDATOR", check_password_policy)
    init_csrf(app)
    with app.app_context():
        appbuilder = AppBuilder()
        appbuilder.init_app(app, db.session)
        _register_views(appbuilder)

    from app.views.base import register_error_handlers, register_formatters

    register_error_handlers(app)
    init_protection(app)
    from app.health import init_health
    from app.serving import init_serving

    init_serving(app)
    init_health(app)
    register_formatters(app)
    from app.views.guards import register_guards

    register_guards(app)
    from app.views.tasks import bell

    app.jinja_env.globals["bell"] = bell
    from app.views.portal import log_refusals, zone_panel

    app.jinja_env.globals["zone_panel"] = zone_panel
    from app.services.zone import is_zone_user

    app.jinja_env.globals["is_zone_user"] = is_zone_user
    log_refusals(app)
    app.before_request(_load_preferences)
    get_babel(app).timezone_selector = lambda: session.get("timezone")

    from app.cli import dossier

    app.cli.add_command(dossier)
    return app


def _register_views(appbuilder: AppBuilder) -> None:
    from app.views.api import APIS
    from app.views.calendar import CalendarFeedView, CalendarView
    from app.views.datasheet import DataSheetView
    from app.views.documents import DocumentView
    from app.views.finance import (
        AutomaticInvoicingView,
        ContractView,
        DocumentTemplateView,
        InvoiceLineView,
        InvoicePdfView,
        InvoiceView,
        ProductView,
        QuotaView,
        RecurringInvoiceView,
    )
    from app.views.outbox import OutboxView
    from app.views.partners import (
        AddressView,
        AffiliationView,
        AuditLogView,
        CodeView,
        OrganizationView,
        PartnerAddressView,
        PersonView,
    )
    from app.views.sales import ForecastView, OfferView
    from app.views.settings import SettingsView
    from app.views.tasks import TaskFormView, TaskView

    partners = "Partners"
    appbuilder.add_view(PersonView, "People", label=_l("People"), icon="fa-user",
                        category=partners, category_label=_l("Partners"),
                        category_icon="fa-address-card")
    appbuilder.add_view(OrganizationView, "Companies", label=_l("Companies"),
                        icon="fa-building", category=partners)
    appbuilder.add_view(AffiliationView, "Contact persons", label=_l("Contact persons"),
                        icon="fa-address-book", category=partners)
    appbuilder.add_view(AddressView, "Addresses", label=_l("Addresses"), icon="fa-map-marker",
                        category=partners)
    appbuilder.add_view(CodeView, "Codes", label=_l("Codes"), icon="fa-tags",
                        category=partners)
    appbuilder.add_view(AuditLogView, "Change log", label=_l("Change log"), icon="fa-history",
                        category=partners)
    appbuilder.add_view_no_menu(PartnerAddressView)
    appbuilder.add_view_no_menu(DataSheetView)

    appbuilder.add_view(OfferView, "Offers", label=_l("Offers"), icon="fa-handshake-o",
                        category="Sales", category_label=_l("Sales"), category_icon="fa-line-chart")
    appbuilder.add_view(ForecastView, "Forecast", label=_l("Forecast"), icon="fa-bar-chart",
                        category="Sales")
    appbuilder.add_view(TaskView, "Task list", label=_l("Tasks"), icon="fa-check-square-o",
                        category="Tasks", category_label=_l("Tasks"), category_icon="fa-tasks")
    appbuilder.add_view(CalendarView, "Calendar", label=_l("Calendar"), icon="fa-calendar",
                        category="Tasks")
    appbuilder.add_view(OutboxView, "Outbox", label=_l("Outbox"), icon="fa-envelope",
                        category="Settings", category_label=_l("Settings"),
                        category_icon="fa-cogs")
    appbuilder.add_view_no_menu(TaskFormView)
    appbuilder.add_view_no_menu(CalendarFeedView)
    appbuilder.add_view_no_menu(SettingsView)
    appbuilder.add_view_no_menu(DocumentView)
    appbuilder.add_view(ProductView, "Products", label=_l("Products and services"),
                        icon="fa-cubes", category="Finance", category_label=_l("Finance"),
                        category_icon="fa-money")
    appbuilder.add_view(InvoiceView, "Invoices", label=_l("Invoices"), icon="fa-file-text-o",
                        category="Finance")
    appbuilder.add_view_no_menu(InvoiceLineView)
    appbuilder.add_view_no_menu(InvoicePdfView)
    appbuilder.add_view(ContractView, "Contracts", label=_l("Contracts"), icon="fa-handshake-o",
                        category="Finance")
    appbuilder.add_view(AutomaticInvoicingView, "Automatic invoicing",
                        label=_l("Automatic invoicing"), icon="fa-refresh", category="Finance")
    appbuilder.add_view_no_menu(RecurringInvoiceView)
    appbuilder.add_view_no_menu(QuotaView)
    appbuilder.add_view(DocumentTemplateView, "Document templates",
                        label=_l("Document templates"), icon="fa-file-code-o",
                        category="Settings")
    from app.views.portal import NewsView, PortalView, ZoneMemberView, ZoneStaffView

    appbuilder.add_view(NewsView, "Portal news", label=_l("News"), icon="fa-newspaper-o",
                        category="Portal", category_label=_l("Portal"),
                        category_icon="fa-globe")
    appbuilder.add_view(ZoneMemberView, "Zone users", label=_l("Zone users"),
                        icon="fa-users", category="Portal")
    appbuilder.add_view_no_menu(ZoneStaffView)
    appbuilder.add_view_no_menu(PortalView)   # zone users reach it from the navbar
    for api in APIS:
        appbuilder.add_api(api)
    from flask_appbuilder.api.manager import SwaggerView

    from app.views.openapi import DossierOpenApi

    appbuilder.add_api(DossierOpenApi)
    appbuilder.add_view_no_menu(SwaggerView)
