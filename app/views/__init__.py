"""The screens by area; register() adds them and their menus to the AppBuilder and
init_app() hooks the screens' request glue (error answers, guards, navbar data) into Flask."""

from __future__ import annotations

from types import SimpleNamespace

import flask_babel
from flask import g, session
from flask.globals import _cv_app
from flask_babel import get_babel
from flask_babel import lazy_gettext as _l


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


def _navbar() -> dict:
    """What the navbar shows, once per request: the link to the zone for zone users, the
    bell of overdue tasks (count, oldest few) for staff who may read tasks, and the search
    box for staff."""
    from flask import current_app

    from app.services.tasks import overdue_tasks
    from app.services.zone import is_zone_user

    if "navbar" not in g:
        user = g.get("user")
        if user is None or not user.is_authenticated:
            g.navbar = {"my_zone": False, "bell": None, "search_box": False}
        else:
            reads_tasks = current_app.appbuilder.sm.has_access("can_read", "Task")
            # The user's loading said whether any task is overdue (app/security.py): the
            # bell's own query only when there is something to show.
            quiet = getattr(user, "has_overdue_tasks", None) is False
            g.navbar = {
                "my_zone": is_zone_user(user),
                "bell": ((0, []) if quiet else overdue_tasks(user.id)) if reads_tasks else None,
                # The global search, for staff (zone users read no partner list).
                "search_box": current_app.appbuilder.sm.has_access("can_read", "Partner"),
            }
    return g.navbar


def _babel_context():
    """Flask-Babel's per-context namespace (flask_babel._get_current_context, 4.0), found
    without its three lookups through the `g` proxy: Flask-Babel asks for it some 200 times
    on a data sheet (each translation, each lazy label, the locale, the time zone), a
    twentieth of the page. The same object as Flask-Babel's own (tests/test_i18n.py)."""
    app_context = _cv_app.get(None)
    if app_context is None:
        return None
    kept = app_context.g.__dict__
    found = kept.get("_flask_babel")
    if found is None:
        found = kept["_flask_babel"] = SimpleNamespace()
    return found


def init_app(app) -> None:
    from app.views.base import (
        register_blank_forms,
        register_formatters,
        register_list_links,
        register_menu_cache,
        register_refused_forms,
        register_static_urls,
    )
    from app.views.chrome import register_chrome
    from app.views.error_pages import register_error_pages
    from app.views.guards import register_guards
    from app.views.portal import log_refusals

    register_error_pages(app)
    register_formatters(app)
    register_blank_forms(app)
    register_refused_forms(app)
    register_menu_cache(app)
    register_static_urls(app)
    register_list_links(app)
    register_guards(app)
    register_chrome(app)
    app.context_processor(_navbar)
    log_refusals(app)
    app.before_request(_load_preferences)
    get_babel(app).timezone_selector = lambda: session.get("timezone")
    flask_babel._get_current_context = _babel_context


def register(appbuilder) -> None:
    """Every screen, menu entry and API of Dossier, in menu order."""
    from app.views.api import APIS
    from app.views.calendar import CalendarFeedView, CalendarView
    from app.views.datasheet import AddressFormView, ContactPersonFormView, DataSheetView
    from app.views.documents import DocumentView
    from app.views.finance import (
        AutomaticInvoicingView,
        ContractView,
        DocumentTemplateView,
        InvoiceLinesView,
        InvoiceLineView,
        InvoicePdfView,
        InvoiceView,
        ProductView,
        QuotaView,
        ReceivablesView,
        RecurringInvoiceView,
    )
    from app.views.notes import NoteView
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
    from app.views.pickers import PickerView
    from app.views.sales import ForecastView, OfferLinesView, OfferView, QuotePdfView
    from app.views.search import SearchView
    from app.views.settings import SettingsView
    from app.views.tasks import TaskFormView, TaskView

    partners = "Partners"
    appbuilder.add_view(
        PersonView,
        "People",
        label=_l("People"),
        icon="fa-user",
        category=partners,
        category_label=_l("Partners"),
        category_icon="fa-address-card",
    )
    appbuilder.add_view(
        OrganizationView, "Companies", label=_l("Companies"), icon="fa-building", category=partners
    )
    appbuilder.add_view(
        AffiliationView,
        "Contact persons",
        label=_l("Contact persons"),
        icon="fa-address-book",
        category=partners,
    )
    appbuilder.add_view(
        AddressView, "Addresses", label=_l("Addresses"), icon="fa-map-marker", category=partners
    )
    appbuilder.add_view(CodeView, "Codes", label=_l("Codes"), icon="fa-tags", category=partners)
    appbuilder.add_view(
        AuditLogView, "Change log", label=_l("Change log"), icon="fa-history", category=partners
    )
    appbuilder.add_view_no_menu(PartnerAddressView)
    appbuilder.add_view_no_menu(SearchView)  # from the navbar's search box
    appbuilder.add_view_no_menu(DataSheetView)
    appbuilder.add_view_no_menu(NoteView)
    appbuilder.add_view_no_menu(ContactPersonFormView)
    appbuilder.add_view_no_menu(AddressFormView)
    appbuilder.add_view_no_menu(PickerView)

    appbuilder.add_view(
        OfferView,
        "Offers",
        label=_l("Offers"),
        icon="fa-handshake-o",
        category="Sales",
        category_label=_l("Sales"),
        category_icon="fa-line-chart",
    )
    appbuilder.add_view_no_menu(OfferLinesView)
    from app.views.orders import OrderPdfView, OrderView, PortalOrdersView

    appbuilder.add_view(
        OrderView, "Orders", label=_l("Orders"), icon="fa-shopping-cart", category="Sales"
    )
    appbuilder.add_view_no_menu(OrderPdfView)
    appbuilder.add_view_no_menu(PortalOrdersView)  # from the portal's tabs
    appbuilder.add_view(
        ForecastView, "Forecast", label=_l("Forecast"), icon="fa-bar-chart", category="Sales"
    )
    appbuilder.add_view_no_menu(QuotePdfView)
    appbuilder.add_view(
        TaskView,
        "Task list",
        label=_l("Tasks"),
        icon="fa-check-square-o",
        category="Tasks",
        category_label=_l("Tasks"),
        category_icon="fa-tasks",
    )
    appbuilder.add_view(
        CalendarView, "Calendar", label=_l("Calendar"), icon="fa-calendar", category="Tasks"
    )
    appbuilder.add_view(
        OutboxView,
        "Outbox",
        label=_l("Outbox"),
        icon="fa-envelope",
        category="Settings",
        category_label=_l("Settings"),
        category_icon="fa-cogs",
    )
    from app.views.company import OurCompanyApi, OurCompanyView

    appbuilder.add_view(
        OurCompanyView,
        "Our company",
        label=_l("Our company"),
        icon="fa-building-o",
        category="Settings",
    )
    appbuilder.add_api(OurCompanyApi)
    appbuilder.add_view_no_menu(TaskFormView)
    appbuilder.add_view_no_menu(CalendarFeedView)
    appbuilder.add_view_no_menu(SettingsView)
    appbuilder.add_view_no_menu(DocumentView)
    appbuilder.add_view(
        ProductView,
        "Products",
        label=_l("Products and services"),
        icon="fa-cubes",
        category="Finance",
        category_label=_l("Finance"),
        category_icon="fa-money",
    )
    appbuilder.add_view(
        InvoiceView, "Invoices", label=_l("Invoices"), icon="fa-file-text-o", category="Finance"
    )
    appbuilder.add_view_no_menu(InvoiceLineView)
    appbuilder.add_view_no_menu(InvoiceLinesView)
    appbuilder.add_view_no_menu(InvoicePdfView)
    appbuilder.add_view_no_menu(ReceivablesView)
    appbuilder.add_view(
        ContractView, "Contracts", label=_l("Contracts"), icon="fa-handshake-o", category="Finance"
    )
    appbuilder.add_view(
        AutomaticInvoicingView,
        "Automatic invoicing",
        label=_l("Automatic invoicing"),
        icon="fa-refresh",
        category="Finance",
    )
    appbuilder.add_view_no_menu(RecurringInvoiceView)
    appbuilder.add_view_no_menu(QuotaView)
    appbuilder.add_view(
        DocumentTemplateView,
        "Document templates",
        label=_l("Document templates"),
        icon="fa-file-code-o",
        category="Settings",
    )
    from app.views.portal import (
        NewsView,
        PortalMoneyView,
        PortalView,
        ZoneMemberView,
        ZoneStaffView,
    )

    appbuilder.add_view(
        NewsView,
        "Portal news",
        label=_l("News"),
        icon="fa-newspaper-o",
        category="Portal",
        category_label=_l("Portal"),
        category_icon="fa-globe",
    )
    appbuilder.add_view(
        ZoneMemberView, "Zone users", label=_l("Zone users"), icon="fa-users", category="Portal"
    )
    appbuilder.add_view_no_menu(ZoneStaffView)
    appbuilder.add_view_no_menu(PortalView)  # zone users reach it from the navbar
    appbuilder.add_view_no_menu(PortalMoneyView)
    from app.views.password import PasswordResetView

    appbuilder.add_view_no_menu(PasswordResetView)  # from the login page, for everyone
    for api in APIS:
        appbuilder.add_api(api)
    from flask_appbuilder.api.manager import SwaggerView

    from app.views.openapi import DossierOpenApi

    appbuilder.add_api(DossierOpenApi)
    appbuilder.add_view_no_menu(SwaggerView)
