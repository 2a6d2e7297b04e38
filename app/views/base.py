"""Glue shared by every view and API (a shared module, not a screen): domain errors become
translated 4xx answers."""

from __future__ import annotations

import copy
import functools
import json
import sys

import jsonschema
from flask import abort, current_app, flash, g, has_request_context, jsonify, redirect, request
from flask_appbuilder import ModelView, expose
from flask_appbuilder.api import ModelRestApi, rison, safe
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api.schemas import get_list_schema
from flask_appbuilder.models.sqla.filters import (
    BaseFilter,
    FilterContains,
    FilterStartsWith,
    SQLAFilterConverter,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name, protect
from flask_appbuilder.widgets import SearchWidget
from flask_babel import (
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    gettext,
)
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug import exceptions

from app.errors import Conflict, DomainError, NotFound, ZoneForbidden
from app.extensions import db
from app.models import PAYMENT_FREQUENCY_LABELS
from app.security import READ_WRITE
from app.services import pickers
from app.services.search import match, starts
from app.views.fields import PickerField, picker_script
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


# Name columns of records with a folded search text: "contains" there is the global search's
# matching (case, accents and script do not matter), over the record's search text.
FOLDED_COLUMNS = {"display_name", "name", "first_name", "last_name", "title", "number"}


class FilterFolded(BaseFilter):
    """Contains, whatever the case, the accents or the script ("kovacs" finds Kovács): on a
    partner's folded name alone, on the search text of the others (their own name)."""

    name = _l("Contains")
    arg_name = "fct"

    def apply(self, query, value):
        field = "name_text" if hasattr(self.model, "name_text") else "search_text"
        return query.filter(match(self.model, str(value or ""), field))


class FilterContainsLetterForLetter(FilterContains):
    """FAB's `ct`, beside the folded one on names: REST clients that use it keep it."""

    name = _l("Contains, letter for letter")


class FilterFoldedStartsWith(BaseFilter):
    """Starts with, whatever the case or the accents, on a partner's folded name: its
    trigram index answers it (FAB's `ILIKE 'x%'` reads every row of a large table)."""

    name = _l("Starts with")
    arg_name = "fsw"

    def apply(self, query, value):
        return query.filter(starts(self.model, str(value or "")))


class FilterStartsWithLetterForLetter(FilterStartsWith):
    """FAB's `sw`, beside the folded one on partners' names: REST clients that use it keep it."""

    name = _l("Starts with, letter for letter")


class DossierFilterConverter(SQLAFilterConverter):
    """FAB's filters, with "contains" first for text (FAB puts "starts with" first), and the
    folded "contains" on the names of records that have a search text."""

    def convert(self, col_name):
        # FAB makes a new set of filters for every column of the model each time it copies a
        # list's filters (several times a request); the filters hold no state of a request, so
        # each column's are made once per model.
        made = self.datamodel.__dict__.setdefault("_filters_by_column", {})
        if col_name not in made:
            made[col_name] = self._convert(col_name)
        return list(made[col_name])

    def _convert(self, col_name):
        filters = super().convert(col_name) or []
        contains = [f for f in filters if isinstance(f, FilterContains)]
        if not contains:
            return filters
        rest = [f for f in filters if not isinstance(f, FilterContains)]
        if col_name in FOLDED_COLUMNS and hasattr(self.datamodel.obj, "search_text"):
            exact = FilterContainsLetterForLetter(col_name, self.datamodel)
            folded = [FilterFolded(col_name, self.datamodel), exact]
            if col_name == "display_name" and hasattr(self.datamodel.obj, "name_text"):
                rest = [f for f in rest if not isinstance(f, FilterStartsWith)]
                folded += [
                    FilterFoldedStartsWith(col_name, self.datamodel),
                    FilterStartsWithLetterForLetter(col_name, self.datamodel),
                ]
            return [*folded, *rest]
        return [*contains, *rest]


class DossierInterface(SQLAInterface):
    """FAB's interface with a planner estimate instead of count(*) for huge unfiltered lists,
    and "contains" as the first filter of text columns (folded on names)."""

    filter_converter_class = DossierFilterConverter

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
            if self.session.get_bind().name != "postgresql":
                return super().query_count(query, filters, select_columns)
            filtered = self._apply_inner_all(
                query, filters, select_columns=select_columns, aliases_mapping={}
            )
            return self._capped_count(filtered.statement)
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

    def _apply_inner_all(self, query, filters=None, *args, **kwargs):
        return super()._apply_inner_all(query, self._searched(filters), *args, **kwargs)

    def _searched(self, filters):
        """People and companies are filtered by their partner row's kind so that the database
        walks (type, display_name) in name order. With a search too the join alone keeps the
        kind: the search is read through its own index and its matches sorted, where a walk
        in name order would pass every name before those that begin with the word."""
        if not filters or self.obj.__mapper__.inherits is None:
            return filters
        pairs = zip(filters.filters, filters.values, strict=True)
        kept = [(f, v) for f, v in pairs if f.column_name != "type"]
        if not kept or len(kept) == len(filters.filters):
            return filters
        mine = copy.copy(filters)
        mine.filters, mine.values = [f for f, _ in kept], [v for _, v in kept]
        return mine

    def _capped_count(self, statement) -> int:
        """The matches of a filter, counted up to FILTERED_COUNT_LIMIT; beyond it the
        planner's estimate: counting every match of a frequent word in a huge table costs
        as much as the matches, a page shows 25 of them."""
        limit = current_app.config["FILTERED_COUNT_LIMIT"]
        counted = self.session.scalar(
            select(func.count()).select_from(statement.limit(limit + 1).subquery())
        )
        if counted <= limit:
            return counted
        connection = self.session.connection()
        compiled = statement.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        plan = connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params
        ).scalar()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return max(counted, int(plan[0]["Plan"]["Plan Rows"]))


PAGE_SIZE = 25


def date_arg(key: str):
    """A YYYY-MM-DD query argument as a date; None when it is missing or not a date."""
    from datetime import date

    try:
        return date.fromisoformat(request.args.get(key, ""))
    except ValueError:
        return None


def page_of(query, page: int, size: int = PAGE_SIZE) -> dict:
    """One page of a select for the hand-made lists (data sheet tabs, run pages)."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(size).offset((page - 1) * size)).unique().all()
    return {"rows": rows, "total": total, "page": page, "pages": max(1, -(-total // size))}


def datamodel(model) -> DossierInterface:
    return DossierInterface(model, db.session)


# Kept by the models, never shown or typed: the folded search text and name.
HIDDEN_COLUMNS = ["search_text", "name_text"]


class OwnLabels:
    """FAB fills a view's `label_columns` with prettified English column names where a label
    is missing; a dict shared by several views (LABELS) would carry them to the others."""

    def __init__(self, *args, **kwargs):
        self.label_columns = dict(self.label_columns or {})
        super().__init__(*args, **kwargs)


class CachedSearchWidget(SearchWidget):
    """FAB's search form, whose labels, filter names and field markup are made once per view
    and language (they change with neither the user nor the data); only the active filters
    are the request's own. A relation's field is a picker: the record of an active filter is
    its one option."""

    def __call__(self, **kwargs):
        view = self.template_args["view"]
        labels, fields, names = view.search_parts(self.template_args["form"])
        active = self.filters.get_filters_values_tojson()
        for column, _name, value in active:
            if column in view.search_pickers:
                fields = {**fields, column: view.chosen_filter(column, value)}
        kwargs.update(
            label_columns=labels,
            form_fields=fields,
            search_filters=names,
            active_filters=active,
        )
        html = super(SearchWidget, self).__call__(**kwargs)
        return Markup(html) + picker_script() if view.search_pickers else html


class DossierModelView(OwnLabels, GuardedHooks, ModelView):
    page_size = 25
    add_exclude_columns = edit_exclude_columns = show_exclude_columns = HIDDEN_COLUMNS
    _filters = PerRequest(own_filters)
    search_widget = CachedSearchWidget

    def _init_properties(self):
        super()._init_properties()
        # No list offers a drop-down of every user, partner or code: a relation is searched
        # with a picker, or not at all when no picker reads its records.
        extra = dict(self.search_form_extra_fields or {})
        self.search_pickers = {}
        self.search_columns = list(self.search_columns)  # the view's own, not the class's
        for column in list(self.search_columns):
            if column in extra or not self.datamodel.is_relation(column):
                continue
            kind = pickers.kind_of(self.datamodel.get_related_model(column))
            if kind is None:
                self.search_columns.remove(column)
                continue
            self.search_pickers[column] = kind
            extra[column] = PickerField(
                self.label_columns.get(column), kind=kind, with_script=False
            )
        self.search_form_extra_fields = extra
        self._filters = self.datamodel.get_filters(self.search_columns)
        self._search_parts = {}

    def search_parts(self, form) -> tuple[dict, dict, dict]:
        """Labels, field markup and filter names of the search form, in the user's language."""
        locale = str(get_locale())
        parts = self._search_parts.get(locale)
        if parts is None:
            offered = self._filters.get_search_filters()
            columns = self.search_columns
            parts = (
                {column: str(form[column].label.text) for column in columns},
                {column: str(form[column]()) for column in columns},
                {column: [str(f.name) for f in offered[column]] for column in columns},
            )
            self._search_parts[locale] = parts
        return parts

    def chosen_filter(self, column: str, value) -> str:
        """The picker of an active relation filter, holding the chosen record."""
        field = self.search_form.refresh()[column]
        values = value if isinstance(value, list) else [value]
        try:
            found = pickers.chosen(self.search_pickers[column], [int(v) for v in values[:1]])
        except (TypeError, ValueError):
            found = []
        field.data = found[0] if found else None
        return str(field())

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        widgets = super()._get_search_widget(form, exclude_cols, widgets)
        widgets["search"].template_args["view"] = self
        return widgets

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        # FAB looks an unknown action up as None and fails calling it.
        if request.form.get("action") not in self.actions:
            abort(400, description=gettext("Unknown action."))
        return super().action_post()


def checked_rison(schema: dict):
    """FAB's `rison` parsing with the arguments checked by a validator made once: FAB's own
    calls `jsonschema.validate`, which checks the schema itself against the meta-schema on
    every request (half the time of a REST list)."""
    validator = jsonschema.validators.validator_for(schema)(schema)

    def decorate(f):
        def check(self, *args, **kwargs):
            error = jsonschema.exceptions.best_match(validator.iter_errors(kwargs["rison"]))
            if error is not None:
                message = str(error).split("\n", 1)[0]
                return self.response_400(message=f"Not a valid rison schema {message}")
            return f(self, *args, **kwargs)

        return rison()(functools.update_wrapper(check, f))

    return decorate


class DossierApi(OwnLabels, GuardedHooks, ModelRestApi):
    """FAB's REST API; its `safe` wrapper would turn a domain error into a 500."""

    allow_browser_login = True
    page_size = 25
    label_columns = LABELS
    add_exclude_columns = edit_exclude_columns = show_exclude_columns = HIDDEN_COLUMNS
    list_exclude_columns = HIDDEN_COLUMNS
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

    @api_expose("/", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @checked_rison(get_list_schema)
    def get_list(self, **kwargs):
        return self.get_list_headless(**kwargs)

    # FAB's answer keys (label_columns, list_columns …), as its own get_list declares them.
    get_list._response_key_func_mappings = ModelRestApi.get_list._response_key_func_mappings

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


def shown(value):
    """What a template prints for a value: nothing for None and yes/no for a boolean, so that
    no page ever shows `None`, `True` or `False` (FAB's lists and show pages print raw values)."""
    if value is None:
        return ""
    if value is True or value is False:
        return gettext("Yes") if value else gettext("No")
    return value


MENU_TEMPLATE = "appbuilder/navbar_menu.html"
MENU_CACHE_SIZE = 64


def register_menu_cache(app) -> None:
    """The navbar's menu changes with nothing but the language and the menu items the user's
    roles show: FAB's template is rendered once per such pair and reused. The key is the set
    of visible items itself, read from the permissions the request loads anyway, so that a
    change of roles or permissions shows at once, in every process, with nothing to clear."""
    fab_menu = app.blueprints["appbuilder"].jinja_loader.load(app.jinja_env, MENU_TEMPLATE)
    appbuilder = app.appbuilder
    rendered: dict = {}

    def cached_menu():
        def render():
            return Markup(fab_menu.render(menu=appbuilder.menu, _=gettext))

        user = g.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            return render()
        visible = frozenset(
            view
            for permission, view in appbuilder.sm._permission_set(user)
            if permission == "menu_access"
        )
        key = (str(get_locale()), visible)
        html = rendered.get(key)
        if html is None:
            if len(rendered) >= MENU_CACHE_SIZE:
                rendered.clear()
            html = rendered[key] = render()
        return html

    app.jinja_env.globals["cached_menu"] = cached_menu


def register_formatters(app) -> None:
    """Dates and numbers in the user's locale, and the CSRF token, for templates."""
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.finalize = shown
    app.jinja_env.filters["date"] = lambda d, fmt="medium": format_date(d, fmt) if d else ""
    app.jinja_env.filters["datetime"] = lambda d, fmt="medium": format_datetime(d, fmt) if d else ""
    app.jinja_env.filters["number"] = lambda n: format_decimal(n) if n is not None else ""
    app.jinja_env.filters["money"] = lambda amount, currency: (
        format_currency(amount, currency) if amount is not None else ""
    )
    app.jinja_env.filters["frequency"] = lambda key: PAYMENT_FREQUENCY_LABELS.get(key, key)
