"""Glue shared by every view and API (a shared module, not a screen): domain errors become
translated 4xx answers."""

from __future__ import annotations

import copy
import sys

from flask import abort, current_app, flash, g, has_request_context, jsonify, redirect, request
from flask_appbuilder import ModelView, expose
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug import exceptions

from app.errors import Conflict, DomainError, NotFound, ZoneForbidden
from app.extensions import db
from app.formatting import (
    clock_text,
    date_text,
    datetime_text,
    money_text,
    month_text,
    number_text,
    parse_date,
)
from app.models import PAYMENT_FREQUENCY_LABELS
from app.security import READ_WRITE
from app.views.fields import date_input, localise_date_fields
from app.views.guards import bad_value_message
from app.views.labels import LABELS

CONFLICT_MESSAGES = {
    "tax_number": _l("A company with this tax number already exists."),
    "customer_number": _l("This customer number is already taken."),
    "uq_code_category_name": _l("A code with this name already exists in this category."),
    "uq_partner_address": _l("This address is already linked to the partner with this type."),
    "FOREIGN KEY": _l("A linked record does not exist."),
    "foreign key": _l("A linked record does not exist."),
}


def as_domain_error(error: IntegrityError) -> DomainError:
    text = str(error.orig)
    for needle, message in CONFLICT_MESSAGES.items():
        if needle in text:
            return Conflict(message)
    return Conflict()


def guarded(write, *args) -> None:
    """Run a write inside FAB's hooks so that a rule of the model or a service speaks before
    FAB commits; a refusal leaves nothing behind."""
    session = db.session
    try:
        write(*args)
    except DomainError:
        session.rollback()
        raise
    except IntegrityError as error:
        session.rollback()
        raise as_domain_error(error) from error


def flush_or_raise() -> None:
    """Flush now so that a rule of the model speaks before FAB commits; leave nothing behind."""
    guarded(db.session.flush)


class PerRequest:
    """An attribute that FAB builds once per view or API and then changes while answering a
    request: marshmallow-sqlalchemy keeps the record being loaded on the schema, FAB keeps a
    list's search on the view's filters. Every request gets its own copy (kept in `g` for
    the request), so that requests served in parallel never see each other's."""

    def __init__(self, own_copy):
        self.own_copy = own_copy

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, view, owner=None):
        if view is None:
            return self
        shared = view.__dict__.get(self.name)
        if shared is None or not has_request_context():
            return shared
        mine = g.setdefault("per_request", {})
        key = (id(view), self.name)
        if key not in mine:
            mine[key] = self.own_copy(shared)
        return mine[key]

    def __set__(self, view, value):
        view.__dict__[self.name] = value


def own_schema(schema):
    # FAB's converter makes each model schema as a class instantiated without arguments.
    return type(schema)()


def own_filters(filters):
    mine = copy.copy(filters)
    mine.clear_filters()  # new lists: the search of this request only
    return mine


class GuardedHooks:
    """pre_* hooks of FAB views and APIs: run the model's rules first (one place for both)."""

    method_permission_name = READ_WRITE

    def pre_add(self, item):
        db.session.add(item)
        flush_or_raise()

    def pre_update(self, item):
        flush_or_raise()

    def pre_delete(self, item):
        # The same guard the model runs on flush, asked before FAB deletes and commits.
        check = getattr(item, "assert_deletable", None)
        if check is not None:
            check(db.session.connection())


class DossierInterface(SQLAInterface):
    """FAB's interface with a planner estimate instead of count(*) for huge unfiltered lists."""

    LARGE_TABLES = {
        "partner",
        "person",
        "organization",
        "affiliation",
        "address",
        "note",
        "audit_log",
        "task",
        "offer",
        "outbox",
    }

    def query_count(self, query, filters=None, select_columns=None) -> int:
        # A filter on the discriminator only (a view's base filter) selects the whole table.
        if filters and any(f.column_name != "type" for f in filters.filters):
            return super().query_count(query, filters, select_columns)
        table = self.obj.__table__
        if table.name in self.LARGE_TABLES and self.session.get_bind().name == "postgresql":
            estimate = self.session.execute(
                text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:t)"),
                {"t": table.name},
            ).scalar()
            if estimate and estimate > current_app.config["COUNT_ESTIMATE_THRESHOLD"]:
                return int(estimate)
        # Unfiltered: count the model's own table, not a subquery joining its parents.
        return self.session.scalar(select(func.count()).select_from(table))


PAGE_SIZE = 25


def date_arg(key: str):
    """A query argument as a date, in the user's order or ISO; None when it is missing or not
    a date."""
    try:
        return parse_date(request.args.get(key, ""))
    except ValueError:
        return None


def page_of(query, page: int, size: int = PAGE_SIZE) -> dict:
    """One page of a select for the hand-made lists (data sheet tabs, run pages)."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(size).offset((page - 1) * size)).unique().all()
    return {"rows": rows, "total": total, "page": page, "pages": max(1, -(-total // size))}


def datamodel(model) -> DossierInterface:
    return DossierInterface(model, db.session)


class DossierModelView(GuardedHooks, ModelView):
    page_size = 25
    _filters = PerRequest(own_filters)

    def _init_forms(self):
        super()._init_forms()
        # Dates in the user's locale order, not FAB's fixed ISO ones.
        localise_date_fields(self.add_form)
        localise_date_fields(self.edit_form)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        # FAB looks an unknown action up as None and fails calling it.
        if request.form.get("action") not in self.actions:
            abort(400, description=gettext("Unknown action."))
        return super().action_post()


class DossierApi(GuardedHooks, ModelRestApi):
    """FAB's REST API; its `safe` wrapper would turn a domain error into a 500."""

    allow_browser_login = True
    page_size = 25
    label_columns = LABELS
    # The schemas that load keep the record on themselves; the list and show schemas only
    # dump, which keeps nothing, and stay shared.
    add_model_schema = PerRequest(own_schema)
    edit_model_schema = PerRequest(own_schema)
    _filters = PerRequest(own_filters)

    def _answer_rule(self, write, *args):
        try:
            missing = self._missing_links(request.get_json(silent=True))
            if missing:
                return self.response_400(message=missing)
            return write(*args)
        except (DomainError, IntegrityError) as error:
            db.session.rollback()
            if isinstance(error, IntegrityError):
                error = as_domain_error(error)
            return self.response(error.status, message=str(error))

    def _missing_links(self, payload) -> dict:
        """Ids of related records that do not exist (marshmallow-sqlalchemy would try to make
        them); answered before anything is loaded or stored."""
        problems = {}
        for key, value in (payload or {}).items() if isinstance(payload, dict) else ():
            if value is None or not self.datamodel.is_relation(key):
                continue
            ids = value if isinstance(value, list) else [value]
            model = self.datamodel.get_related_model(key)
            pk = inspect(model).primary_key[0]
            try:
                wanted = {int(i) for i in ids}
            except (TypeError, ValueError):
                problems[key] = [gettext("Not a valid id.")]
                continue
            found = set(db.session.scalars(select(pk).where(pk.in_(wanted))))
            if wanted - found:
                problems[key] = [
                    gettext(
                        "No such record: %(ids)s.", ids=", ".join(map(str, sorted(wanted - found)))
                    )
                ]
        return problems

    def response_500(self, message=None):
        # FAB's `safe` answers every exception with a 500; a value the database could not
        # take (an id or page beyond its integers, a date past 9999) is the client's 400.
        bad_value = bad_value_message(sys.exc_info()[1])
        if bad_value is not None:
            db.session.rollback()
            return self.response_400(message=bad_value)
        return super().response_500(message)

    def _get_field_info(self, field, *args, **kwargs):
        info = super()._get_field_info(field, *args, **kwargs)
        # FAB translates a missing label or description as "", which gettext answers with
        # the catalogue's header.
        for key, given in (
            ("label", self.label_columns),
            ("description", self.description_columns),
        ):
            if not given.get(field.name):
                info[key] = ""
        return info

    def response_422(self, message=None):
        # Bad input is a 400 with a message in the user's language, as on the screens.
        return self.response_400(message=translate_messages(message))

    def post_headless(self):
        return self._answer_rule(super().post_headless)

    def put_headless(self, pk):
        return self._answer_rule(super().put_headless, pk)

    def delete_headless(self, pk):
        return self._answer_rule(super().delete_headless, pk)


# marshmallow's own messages, so that they are in the catalogues and answered translated.
SCHEMA_MESSAGES = [
    _l("Missing data for required field."),
    _l("Unknown field."),
    _l("Not a valid integer."),
    _l("Not a valid number."),
    _l("Not a valid string."),
    _l("Not a valid boolean."),
    _l("Not a valid datetime."),
    _l("Not a valid date."),
    _l("Not a valid list."),
    _l("Field may not be null."),
    _l("Invalid input type."),
    _l("Special numeric values (nan or infinity) are not permitted."),
]


def translate_messages(messages):
    if isinstance(messages, dict):
        return {key: translate_messages(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [translate_messages(value) for value in messages]
    return gettext(messages) if isinstance(messages, str) else messages


def register_error_handlers(app) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        if request.path.startswith("/api/"):
            return jsonify(message=str(error)), error.status
        # No page to go back to: answered (and logged) as the refusal or the missing page.
        if isinstance(error, ZoneForbidden):
            return exceptions.Forbidden(description=str(error))
        if isinstance(error, NotFound):
            return exceptions.NotFound(description=str(error))
        flash(str(error), "danger")
        return redirect(request.referrer or "/")

    @app.errorhandler(413)
    def too_large(error):
        # Werkzeug stops a body over MAX_CONTENT_LENGTH before anything is read or stored.
        limit = current_app.config["MAX_UPLOAD_MB"]
        message = gettext("The file is larger than %(mb)s MB.", mb=limit)
        if request.path.startswith("/api/"):
            return jsonify(message=message), 413
        flash(message, "danger")
        return redirect(request.referrer or "/")

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError):
        db.session.rollback()
        return domain_error(as_domain_error(error))


def register_formatters(app) -> None:
    """Dates and numbers in the user's locale, and the CSRF token, for templates."""
    app.jinja_env.globals["csrf_token"] = generate_csrf
    # One format per locale (app/formatting.py): `date` is the numeric date unless a style
    # (medium, long, full) is asked for; `datetime` is the numeric date and the time.
    app.jinja_env.filters["date"] = date_text
    app.jinja_env.filters["datetime"] = lambda moment, style=None: datetime_text(moment)
    app.jinja_env.filters["clock"] = clock_text
    app.jinja_env.filters["month"] = month_text
    app.jinja_env.filters["number"] = number_text
    app.jinja_env.filters["money"] = money_text
    app.jinja_env.globals["date_input"] = date_input
    app.jinja_env.filters["frequency"] = lambda key: PAYMENT_FREQUENCY_LABELS.get(key, key)
