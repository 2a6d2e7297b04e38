"""Every error answer in one place (a shared module, not a screen): JSON for the REST API, and
for the screens a page in the user's language with the way back — inside the layout with the
menu for a logged-in user, a plain page otherwise; the 500 page asks neither the database nor
the user anything, since either may be what failed."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import current_app, flash, g, jsonify, redirect, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.errors import DomainError, NotFound, ZoneForbidden
from app.extensions import db
from app.views.base import as_domain_error, refusal_log
from app.views.guards import bad_value_message

log = logging.getLogger("dossier.security")

PAGES = {
    400: (
        "fa-exclamation-circle",
        _l("Bad request"),
        _l("The request could not be understood. Check what was entered and try again."),
    ),
    403: (
        "fa-lock",
        _l("Access denied"),
        _l("You do not have permission to open this page or to do this."),
    ),
    404: (
        "fa-question-circle",
        _l("Page not found"),
        _l("The page you asked for does not exist, or it is no longer here."),
    ),
    405: (
        "fa-ban",
        _l("Not possible this way"),
        _l("This address does not take this kind of request."),
    ),
    413: ("fa-file", _l("File too large"), None),  # the message names the limit, see message_for
    429: (
        "fa-hourglass-half",
        _l("Too many requests"),
        _l("Too many requests in a short time. Wait a little and try again."),
    ),
    500: (
        "fa-exclamation-triangle",
        _l("Something went wrong"),
        _l(
            "An unexpected error stopped this page. It has been logged; please try again "
            "later, and tell the administrator if it happens again."
        ),
    ),
}
OTHER = (
    "fa-exclamation-circle",
    _l("Error %(status)s"),
    _l("The request could not be carried out."),
)


def is_api() -> bool:
    return request.path.startswith("/api/")


def message_for(status: int) -> str:
    if status == 413:
        return gettext("The file is larger than %(mb)s MB.", mb=current_app.config["MAX_UPLOAD_MB"])
    return str((PAGES.get(status) or OTHER)[2])


def same_site_referrer() -> str | None:
    """The page the user came from, when it is one of ours."""
    referrer = urlsplit(request.referrer or "")
    if not referrer.path or referrer.netloc and referrer.netloc != request.host:
        return None
    if referrer.path == request.path:
        return None  # a way back that leads to the same error is none
    return referrer.path + (f"?{referrer.query}" if referrer.query else "")


def _context(status: int, message: str | None) -> dict:
    icon, title, _ = PAGES.get(status) or OTHER
    appbuilder = current_app.appbuilder
    return {
        "status": status,
        "icon": icon,
        "title": str(title) % {"status": status},
        "message": message or message_for(status),
        "back": same_site_referrer(),
        "home": appbuilder.get_url_for_index,
        "appbuilder": appbuilder,
    }


def error_page(status: int, message: str | None = None):
    """The answer for an error: JSON under /api/, else the page in the user's language."""
    if is_api():
        return jsonify(message=message or message_for(status)), status
    context = _context(status, message)
    if status >= 500:
        # Not render_template: the context processors (the navbar's bell) ask the database.
        page = current_app.jinja_env.get_template("error.html")
        return page.render(layout="layout/plain.html", **context), status
    if "user" not in g:  # CSRFProtect and routing can speak before FAB has set the user
        g.user = current_user
    logged_in = g.user is not None and g.user.is_authenticated
    layout = current_app.appbuilder.base_template if logged_in else "layout/plain.html"
    return render_template("error.html", layout=layout, **context), status


def _own_description(error: HTTPException) -> str | None:
    """A message given with abort(…, description=…): ours and translated; werkzeug's own
    descriptions are English, so the page says its own instead."""
    if error.description and error.description != type(error).description:
        return error.description
    return None


def register_error_pages(app) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None:
            return error
        return error_page(error.code, _own_description(error))

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError):
        # Flask has logged the exception; the session goes back to the pool at teardown.
        return error_page(500)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        log.warning("refused without a valid CSRF token: %s %s", request.method, request.path)
        message = gettext("The form has expired or did not come from Dossier. Please try again.")
        return error_page(400, message)

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        refusal_log(error)
        # No page to go back to: answered (and logged) as the refusal or the missing page.
        if is_api() or isinstance(error, (ZoneForbidden, NotFound)):
            return error_page(error.status, str(error))
        flash(str(error), "danger")
        return redirect(request.referrer or "/")

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError):
        db.session.rollback()
        return domain_error(as_domain_error(error))

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def bad_value(error):
        db.session.rollback()
        return error_page(400, bad_value_message(error))
