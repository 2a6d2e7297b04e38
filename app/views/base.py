"""Glue shared by every view and API (a shared module, not a screen): guarded writes whose
domain errors become translated 4xx answers (app/views/error_pages.py), and the formatters."""

from __future__ import annotations

import copy
import enum
import functools
import json
import logging
import sys
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import jsonschema
from flask import (
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
    url_for,
)
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
from flask_appbuilder.urltools import (
    get_filter_args,
    get_order_args,
    get_page_args,
    get_page_size_args,
)
from flask_appbuilder.widgets import FormWidget, SearchWidget
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from sqlalchemy import bindparam, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, load_only
from sqlalchemy.sql.elements import BinaryExpression
from sqlalchemy.sql.util import find_tables
from wtforms.csrf.core import CSRFTokenField

from app.errors import Conflict, DomainError, InUse, NotFound, TaskOverlaps, ZoneForbidden
from app.extensions import db
from app.formatting import (
    clock_text,
    date_text,
    datetime_text,
    format_locale,
    money_text,
    month_text,
    number_text,
    parse_date,
)
from app.models import PAYMENT_FREQUENCY_LABELS, UNIT_LABELS
from app.security import READ_WRITE
from app.services import pickers
from app.services.search import many_inside, match, name_page, starts
from app.views.fields import PickerField, date_input, localise_date_fields, picker_script
from app.views.guards import bad_value_message
from app.views.labels import LABELS

log = logging.getLogger("dossier.refusals")

# What a database constraint's name (PostgreSQL) or its columns (SQLite's "table.column")
# in the error say, and the form field it is about.
CONFLICT_MESSAGES = {
    "tax_number": (_l("A company with this tax number already exists."), "tax_number"),
    "customer_number": (_l("This customer number is already taken."), "customer_number"),
    "uq_code_category_name": (
        _l("A code with this name already exists in this category."),
        "name",
    ),
    "code.category, code.name": (
        _l("A code with this name already exists in this category."),
        "name",
    ),
    "uq_partner_address": (
        _l("This address is already linked to the partner with this type."),
        "type",
    ),
    "partner_address.partner_id, partner_address.address_id": (
        _l("This address is already linked to the partner with this type."),
        "type",
    ),
    "product.code": (_l("A product with this code already exists."), "code"),
    "product_code_key": (_l("A product with this code already exists."), "code"),
    "document_template.name": (_l("A template with this name already exists."), "name"),
    "document_template_name_key": (_l("A template with this name already exists."), "name"),
}
FOREIGN_KEY = ("FOREIGN KEY", "foreign key")


def as_domain_error(error: IntegrityError, deleting: bool = False) -> DomainError:
    """The refusal a constraint stands for: a duplicate names its field; a missing link is
    bad input, and a record still linked to others cannot be deleted."""
    text = str(error.orig)
    for needle, (message, field) in CONFLICT_MESSAGES.items():
        if needle in text:
            return Conflict(message, field=field)
    if any(needle in text for needle in FOREIGN_KEY):
        return InUse() if deleting else Conflict(_l("A linked record does not exist."))
    return Conflict()


def guarded(write, *args, deleting: bool = False) -> None:
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
        raise as_domain_error(error, deleting) from error


def safe_next(target: str | None = None) -> str | None:
    """Where to go after saving (the `next` argument unless given): only a path of this
    site. `//host`, `/\\host` and a path with a control character would lead browsers to
    another site."""
    target = request.args.get("next", "") if target is None else target
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 33 or ord(c) == 127 for c in target)
    ):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def refusal_log(error: DomainError) -> None:
    """One line for a refused write; a refusal is the user's answer, not a fault. (A missing
    record is no refusal, and the zone logs its own.)"""
    if isinstance(error, (NotFound, ZoneForbidden)):
        return
    log.info("refused %s %s: %s", request.method, request.path, type(error).__name__)


def refuse_on_form(form, error: DomainError | IntegrityError) -> None:
    """Undo the request's writes and show why beside the field the refusal is about (a
    model attribute such as `partner_id` is the form's `partner`), else above the form."""
    db.session.rollback()
    if isinstance(error, IntegrityError):
        error = as_domain_error(error)
    refusal_log(error)
    name = error.field
    if name and name not in form and name.endswith("_id"):
        name = name[: -len("_id")]
    if name and name in form and not isinstance(form[name], CSRFTokenField):
        field = form[name]
        field.errors = [*field.errors, str(error)]
    else:
        flash(str(error), "danger")


# What browsers cannot keep on a form shown again: a chosen file and a typed password.
CHOOSE_AGAIN = _l("A browser cannot keep a chosen file: choose it again.")
TYPE_AGAIN = _l("A browser cannot keep a typed password: type it again.")


def ask_again(form) -> None:
    """Beside a file chosen or a password typed on a refused form: choose or type it again
    (the form keeps the rest)."""
    for field in form:
        if field.type in ("FileField", "MultipleFileField", "FileUploadField", "ImageUploadField"):
            chosen = [d for d in (field.raw_data or []) if getattr(d, "filename", "")]
            notice = CHOOSE_AGAIN
        elif field.type == "PasswordField":
            chosen = [d for d in (field.raw_data or []) if d]
            notice = TYPE_AGAIN
        else:
            continue
        if chosen and str(notice) not in map(str, field.errors):
            field.errors = [*field.errors, str(notice)]


def saved(form, write, *args, **kwargs) -> bool:
    """Run a form's write; a rule that says no (a domain error, a constraint) leaves
    nothing behind and is shown on the form, which keeps what was typed. A missing record
    or a refusal of the zone is no form error and goes on to its answer, and an overlap of
    tasks is a question the task form asks."""
    try:
        write(*args, **kwargs)
    except (NotFound, ZoneForbidden, TaskOverlaps):
        raise
    except (DomainError, IntegrityError) as error:
        refuse_on_form(form, error)
        return False
    return True


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

    def delete_now(self, item) -> None:
        """FAB's delete as one transaction: the model's rules and the database's restrictions
        speak (as a domain error) before anything is committed or any file removed."""
        self.pre_delete(item)
        db.session.delete(item)
        guarded(db.session.flush, deleting=True)
        self.datamodel._delete_files(item)  # FAB's own: a picture goes with its record
        db.session.commit()
        self.post_delete(item)


# Name columns of records with a folded search text: "contains" there is the global search's
# matching (case, accents and script do not matter), over the record's search text.
FOLDED_COLUMNS = {"display_name", "name", "first_name", "last_name", "title", "number"}


class FilterFolded(BaseFilter):
    """Contains, whatever the case, the accents or the script ("kovacs" finds Kovács): on a
    partner's folded name alone, on the search text of the others (their own name)."""

    name = _l("Contains")
    arg_name = "fct"
    # A partner's folded name is read through the (kind, folded name) index (DossierInterface).
    on_name_index = True

    def apply(self, query, value):
        field = "name_text" if hasattr(self.model, "name_text") else "search_text"
        return query.filter(match(self.model, str(value or ""), field))


@dataclass(frozen=True)
class NamePage:
    """The value of a folded "contains" on a list in name order: the words, how many matches
    the page reaches (its own and those before), the direction, and whether many names hold
    the first word after their first letter."""

    words: str
    reach: int
    descending: bool
    dense: bool


@dataclass(frozen=True)
class NameSearch:
    """A list searched by its folded name alone (one "contains", besides the kind)."""

    filters: object  # FAB's Filters of the request
    folded: FilterFolded
    words: str
    dense: bool

    def paged(self, reach: int, descending: bool):
        """The request's filters with the search read as name_page, up to `reach`."""
        mine = copy.copy(self.filters)
        mine.filters, mine.values = [], []
        for f, value in zip(self.filters.filters, self.filters.values, strict=True):
            if f is self.folded:
                f = FilterFoldedPage(f.column_name, f.datamodel)
                value = NamePage(self.words, reach, descending, self.dense)
            mine.filters.append(f)
            mine.values.append(value)
        return mine


class FilterFoldedPage(FilterFolded):
    """The folded "contains" of a list in name order: the matches of the page and those
    before it, read in that order (app/services/search.py, name_page)."""

    # Made by DossierInterface only: no argument of its own (FAB maps each argument name to
    # the filter class made last with it).
    arg_name = None
    # The page's few ids carry the kind: the list looks them up, it does not walk the kind's
    # names to find them (SQLite did, checking each of 50,000 people against the ids).
    on_name_index = False

    def apply(self, query, value: NamePage):
        page = name_page(self.model, value.words, value.reach, value.descending, value.dense)
        return query.filter(page)


class FilterContainsLetterForLetter(FilterContains):
    """FAB's `ct`, beside the folded one on names: REST clients that use it keep it."""

    name = _l("Contains, letter for letter")


class FilterFoldedStartsWith(BaseFilter):
    """Starts with, whatever the case or the accents, on a partner's folded name: a range
    of the (kind, folded name) index, read in the list's order (FAB's `ILIKE 'x%'` reads
    every row of a large table)."""

    name = _l("Starts with")
    arg_name = "fsw"
    on_name_index = True

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


# Sets of REST columns whose joins a list keeps (a client may ask for any set of its columns).
SELECT_JOINS_KEPT = 64


class _RecordedQuery:
    """Stands for a query while FAB's select joins are worked out once: keeps what FAB does
    to it (joins, added entities, load options), to be done again to each real query."""

    def __init__(self):
        self.steps: list[tuple[str, tuple, dict]] = []

    def _record(name):
        def step(self, *args, **kwargs):
            self.steps.append((name, args, kwargs))
            return self

        return step

    options, join, add_entity = _record("options"), _record("join"), _record("add_entity")
    del _record


# What a list shows of a related record: a user by its name.
RELATED_LIST_LOAD = {"User": ("id", "first_name", "last_name")}


class DossierInterface(SQLAInterface):
    """FAB's interface with a planner estimate instead of count(*) for huge unfiltered lists,
    "contains" as the first filter of text columns (folded on names), and people and
    companies in the order of their folded names."""

    filter_converter_class = DossierFilterConverter
    # Columns whose order is the folded name's, where the model has one: case and accents
    # do not matter (Ágnes among the A's), and the order is the same on both databases.
    NAME_COLUMNS = ("display_name", "name")

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

    # The columns a screen's list reads of each row (`datamodel(model, list_load=...)`): the
    # list shows a few, where an entity would carry every column (search texts, descriptions,
    # the owner's password hash) through the ORM. A column left out still loads on access.
    list_load: tuple[str, ...] = ()

    def query(
        self,
        filters=None,
        order_column="",
        order_direction="",
        page=None,
        page_size=None,
        select_columns=None,
        outer_default_load=False,
    ):
        """FAB's list query (SQLAInterface.query: the count, then the page), reading only
        `list_load` of each row when the caller names no columns (the screens' lists; the
        REST API names its own). A search by the folded name alone is read as name_page
        (app/services/search.py): counted up to FILTERED_COUNT_LIMIT matches, and a page in
        name order up to its last match."""
        query = self.session.query(self.obj)
        search = self._name_search(filters)
        count = self.query_count(query, filters, select_columns, search)
        if search is not None and page_size and self._by_name(order_column):
            reach = ((page or 0) + 1) * page_size
            filters = search.paged(reach, order_direction == "desc")
        kept = self._kept_page(
            filters, order_column, order_direction, page_size, select_columns, outer_default_load
        )
        if kept is not None:
            statement = self._kept_pages.get(kept)
            if statement is None:
                paged = self._listed(
                    query,
                    filters,
                    order_column,
                    order_direction,
                    None,
                    None,
                    select_columns,
                    outer_default_load,
                )
                offset, limit = bindparam("_dossier_offset"), bindparam("_dossier_limit")
                statement = paged.offset(offset).limit(limit).statement
                if len(self._kept_pages) >= KEPT_PAGES:
                    self._kept_pages.clear()
                self._kept_pages[kept] = statement
            values = {"_dossier_offset": (page or 0) * page_size, "_dossier_limit": page_size}
            items = self.session.scalars(statement, values).unique().all()
            return count, items
        items = self._listed(
            query,
            filters,
            order_column,
            order_direction,
            page,
            page_size,
            select_columns,
            outer_default_load,
        ).all()
        if items and hasattr(items[0], self.obj.__name__):
            items = [getattr(item, self.obj.__name__) for item in items]
        return count, items

    def _listed(self, query, filters, order, direction, page, page_size, columns, outer_load):
        """FAB's apply_all, reading only `list_load` of each row when no columns are named."""
        query = self.apply_all(
            query, filters, order, direction, page, page_size, columns, outer_load
        )
        return query.options(*self._list_options) if self.list_load and not columns else query

    @functools.cached_property
    def _kept_pages(self) -> dict:
        return {}

    def _kept_page(self, filters, order, direction, page_size, select_columns, outer_load):
        """The key of a list's page statement kept for the next request, None when it is
        not kept: an unsearched list (only the view's fixed filter of the kind) of some page
        size with plain columns. Built and keyed once, it is only run with the page's place as
        parameters: FAB built the query anew on every request and SQLAlchemy worked out its
        key of some eighty parts (a tenth of the REST list)."""
        if not page_size or (filters and any(f.column_name != "type" for f in filters.filters)):
            return None
        if filters and any(callable(value) for value in filters.values):
            return None  # a value of the request's (FAB calls it when it applies the filter)
        if select_columns and self.exists_col_to_many(select_columns):
            return None  # FAB pages those in a subquery of its own
        kinds = tuple(map(repr, filters.values)) if filters else ()
        return (tuple(select_columns or ()), order, direction, kinds, outer_load)

    def query_count(self, query, filters=None, select_columns=None, search=None) -> int:
        # A filter on the discriminator only (a view's base filter) selects the whole table.
        if filters and any(f.column_name != "type" for f in filters.filters):
            filtered = self._apply_inner_all(
                query, filters, select_columns=select_columns, aliases_mapping={}
            )
            if self.session.get_bind().name != "postgresql":
                # No estimate on SQLite: every match counted, on the partner table alone
                # when the conditions are all the partner's.
                counted = self._on_base(filtered.statement).subquery()
                return self.session.scalar(select(func.count()).select_from(counted))
            if search is None:
                return self._capped_count(filtered.statement)
            limit = current_app.config["FILTERED_COUNT_LIMIT"]
            if search.dense:  # more than the limit already
                return max(limit + 1, self._estimate(filtered.statement))
            counted = self._apply_inner_all(
                query,
                search.paged(limit + 1, False),
                select_columns=select_columns,
                aliases_mapping={},
            )
            return self._capped_count(counted.statement, filtered.statement)
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

    @functools.cached_property
    def _list_options(self) -> tuple:
        columns, relations = [], []
        for name in self.list_load:
            if self.is_relation(name):
                related = self.get_related_model(name)
                load = joinedload(getattr(self.obj, name))
                shown = RELATED_LIST_LOAD.get(related.__name__)
                if shown:
                    load = load.load_only(*(getattr(related, c) for c in shown))
                relations.append(load)
            else:
                columns.append(getattr(self.obj, name))
        return (load_only(*columns), *relations)

    @staticmethod
    def _get_attr_value(item, col):
        """FAB's value of a list's column (an attribute, a method's result, a dotted path,
        an Enum's value), reading the attribute once where FAB read it three times, for
        every cell of every list."""
        try:
            value = getattr(item, col)
        except AttributeError:
            try:
                return functools.reduce(getattr, col.split("."), item)
            except Exception:
                return ""
        if callable(value):
            return value()
        return value.value if isinstance(value, enum.Enum) else value

    def _by_name(self, order_column: str) -> bool:
        return order_column in self.NAME_COLUMNS and hasattr(self.obj, "name_text")

    def apply_order_by(self, query, order_column, *args, **kwargs):
        if self._by_name(order_column):
            order_column = "name_text"
        return super().apply_order_by(query, order_column, *args, **kwargs)

    def _name_search(self, filters) -> NameSearch | None:
        """The request's search when it is one "contains" of one value on the folded name
        (with any other filter, or several words given apart, the plain search), and
        whether more than FILTERED_COUNT_LIMIT names hold its word after the start of a form:
        those are met walking the name order."""
        if filters is None or not hasattr(self.obj, "name_text"):
            return None
        pairs = zip(filters.filters, filters.values, strict=True)
        searched = [(f, v) for f, v in pairs if f.column_name != "type"]
        if len(searched) != 1 or type(searched[0][0]) is not FilterFolded:
            return None
        folded, values = searched[0]
        values = values if isinstance(values, list) else [values]
        if len(values) != 1:
            return None
        words = str(values[0] or "")
        limit = current_app.config["FILTERED_COUNT_LIMIT"]
        return NameSearch(filters, folded, words, many_inside(self.obj, words, limit))

    def _apply_inner_all(self, query, filters=None, *args, **kwargs):
        filters, by_kind = self._searched(filters)
        if by_kind:
            mapper = self.obj.__mapper__
            query = query.filter(mapper.polymorphic_on == mapper.polymorphic_identity)
        return super()._apply_inner_all(query, filters, *args, **kwargs)

    def apply_inner_select_joins(self, query, select_columns=None, aliases_mapping=None):
        """FAB's joins and load options for a REST list's columns, worked out once per set of
        columns (FAB's own steps, recorded) and applied with one `options` call: FAB made
        them again on every request and added each option to a new copy of the query."""
        if not select_columns:
            return query
        made = self.__dict__.setdefault("_select_joins", {})
        key = tuple(select_columns)
        if key not in made:
            # A client names the columns (`q=(columns:…)`): their sets are bounded here.
            if len(made) >= SELECT_JOINS_KEPT:
                made.clear()
            recorder, aliases = _RecordedQuery(), {}
            super().apply_inner_select_joins(recorder, list(select_columns), aliases)
            made[key] = (recorder.steps, aliases)
        steps, aliases = made[key]
        if aliases_mapping is not None:
            aliases_mapping.update(aliases)
        options = []
        for name, args, kwargs in steps:
            if name == "options":
                options.extend(args)
            else:
                query = getattr(query, name)(*args, **kwargs)
        return query.options(*options) if options else query

    def _query_join_relation(self, query, root_relation, aliases_mapping=None):
        """FAB's join of a dotted column's relation (`owner.username` in a REST list), with
        the relation's alias and join condition made once per model and relation: FAB made a
        new alias on every request, a copy of every column of the related table (a tenth of
        the REST list's time)."""
        if aliases_mapping is None:
            aliases_mapping = {}
        for model_relation, relation_join, is_alias in self._relation_joins(root_relation):
            if is_alias:
                aliases_mapping[root_relation] = model_relation
            query = query.join(model_relation, relation_join, isouter=True)
        return query

    def _relation_joins(self, root_relation: str) -> list:
        made = self.__dict__.setdefault("_joins_by_relation", {})
        if root_relation not in made:
            joins = []
            for model_relation, relation_join in self.get_related_model_and_join(root_relation):
                is_alias = not hasattr(relation_join, "clauses")  # FAB's: not a custom join
                if is_alias:
                    model_relation = aliased(model_relation, name=root_relation)
                    relation_pk = self.get_pk(model_relation)
                    side = relation_join.left if relation_join.left.foreign_keys else None
                    side = relation_join.right if side is None else side
                    relation_join = BinaryExpression(side, relation_pk, relation_join.operator)
                joins.append((model_relation, relation_join, is_alias))
            made[root_relation] = joins
        return made[root_relation]

    def _searched(self, filters):
        """The filters without the kind (a view's base filter on the discriminator), and
        whether the kind is kept on the partner row. It is, so that the database reads
        (type, name_text) in name order, when the list is not searched or is searched by
        its folded name (a range of that order, or a word read through that order; see
        name_page). With any other search the join alone keeps the kind: the search is read
        through its own index and its matches sorted, where a walk in name order could pass
        every name."""
        if self.obj.__mapper__.inherits is None:
            return filters, False
        if not filters:
            return filters, True
        pairs = zip(filters.filters, filters.values, strict=True)
        kept = [(f, v) for f, v in pairs if f.column_name != "type"]
        by_kind = not kept or any(getattr(f, "on_name_index", False) for f, _ in kept)
        if len(kept) == len(filters.filters):
            return filters, by_kind
        mine = copy.copy(filters)
        mine.filters, mine.values = [f for f, _ in kept], [v for _, v in kept]
        return mine, by_kind

    def _capped_count(self, statement, estimated=None) -> int:
        """The matches of a filter, counted up to FILTERED_COUNT_LIMIT; beyond it the
        planner's estimate (of `estimated`, the same matches said plainly): counting every
        match of a frequent word in a huge table costs as much as the matches, a page shows
        25 of them."""
        limit = current_app.config["FILTERED_COUNT_LIMIT"]
        counted = self.session.scalar(
            select(func.count()).select_from(self._on_base(statement).limit(limit + 1).subquery())
        )
        if counted <= limit:
            return counted
        return max(counted, self._estimate(statement if estimated is None else estimated))

    def _on_base(self, statement):
        """A person's or company's statement counted on the partner table alone when its
        conditions are all the partner's (the kind, the name): the join with `person` or
        `organization` looked up each match once more (1 ms of 1.4 for 1,001 matches)."""
        base = self.obj.__mapper__.base_mapper.local_table
        where = statement.whereclause
        if self.obj.__mapper__.inherits is None or where is None:
            return statement
        if set(find_tables(where, check_columns=True, include_aliases=True)) - {base}:
            return statement
        # The kind stands for the join (a partner row of the kind has its person row).
        kind = base.c.type == self.obj.__mapper__.polymorphic_identity
        return select(base.c.id).where(kind, where)

    def _estimate(self, statement) -> int:
        """The planner's estimate of the rows of a statement."""
        connection = self.session.connection()
        compiled = statement.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        plan = connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params
        ).scalar()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])


PAGE_SIZE = 25

# The page statements a list keeps (DossierInterface._kept_page): one per order and set of
# REST columns asked for.
KEPT_PAGES = 64


def date_arg(key: str):
    """A query argument as a date, in the user's order or ISO; None when it is missing or not
    a date."""
    try:
        return parse_date(request.args.get(key, ""))
    except ValueError:
        return None


def page_of(query, page: int, size: int = PAGE_SIZE, params: dict | None = None) -> dict:
    """One page of a select for the hand-made lists (data sheet tabs, run pages), read with
    its count in one statement: the count is a subquery that the database runs once. Only a
    page past the end, which holds no row to carry it, is counted on its own.

    With `params`, `query` is a statement built once (its values bound parameters): its page
    and count statements are built once too, the page's place given as parameters."""
    if params is None:
        counted, paged = _paged(query, size, (page - 1) * size)
    else:
        made = _PAGED.get(query)
        if made is None:
            if len(_PAGED) >= PAGED_KEPT:
                _PAGED.clear()
            made = _PAGED[query] = _paged(query, bindparam("_size"), bindparam("_offset"))
        counted, paged = made
        params = {**params, "_size": size, "_offset": (page - 1) * size}
    found = db.session.execute(paged, params).unique().all()
    rows = [row[0] for row in found]
    if found:
        total = found[0][-1]
    else:
        total = db.session.scalar(counted, params) if page > 1 else 0
    return {"rows": rows, "total": total, "page": page, "pages": max(1, -(-total // size))}


# page_of's statements of the statements built once (a handful: each is one of a module's).
_PAGED: dict = {}
PAGED_KEPT = 64


def _paged(query, size, offset) -> tuple:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    paged = query.add_columns(counted.scalar_subquery()).limit(size).offset(offset)
    return counted, paged


def datamodel(model, list_load: tuple[str, ...] = ()) -> DossierInterface:
    interface = DossierInterface(model, db.session)
    interface.list_load = tuple(list_load)
    return interface


# Kept by the models, never shown or typed: the folded search text and name.
HIDDEN_COLUMNS = ["search_text", "name_text"]


class OwnLabels:
    """FAB fills a view's `label_columns` with prettified English column names where a label
    is missing; a dict shared by several views (LABELS) would carry them to the others."""

    def __init__(self, *args, **kwargs):
        self.label_columns = dict(self.label_columns or {})
        super().__init__(*args, **kwargs)


class DossierFormWidget(FormWidget):
    """FAB's add and edit form whose back button goes to `back_url` when the form was opened
    from somewhere (the data sheet's tab)."""

    template = "widgets/form.html"


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
    """FAB's generated screens, with forms that keep what was typed when a rule says no, a
    `next` to go back to after saving, and refused deletes that say why."""

    page_size = 25
    add_exclude_columns = edit_exclude_columns = show_exclude_columns = HIDDEN_COLUMNS
    _filters = PerRequest(own_filters)
    add_widget = DossierFormWidget
    edit_widget = DossierFormWidget

    def _init_forms(self):
        super()._init_forms()
        # Dates in the user's locale order, not FAB's fixed ISO ones.
        localise_date_fields(self.add_form)
        localise_date_fields(self.edit_form)

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

    def _store(self, form, item, adding: bool) -> bool:
        """FAB's save of a valid form as one transaction; a refusal stays on the form."""
        try:
            form.populate_obj(item)
            if adding:
                self.pre_add(item)
                self.datamodel.add(item)
                self.post_add(item)
            else:
                self.pre_update(item)
                self.datamodel.edit(item)
                self.post_update(item)
        except (DomainError, IntegrityError) as error:
            refuse_on_form(form, error)
            return False
        g.saved_pk = self.datamodel.get_pk_value(item)
        flash(self.add_row_message if adding else self.edit_row_message, "success")
        return True

    def _add(self):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                if self._store(form, self.datamodel.obj(), adding=True):
                    return None
            ask_again(form)
            g.form_refused = True
        else:
            self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        if request.method == "POST":
            form = self.edit_form.refresh(request.form)
            self._fill_form_exclude_cols(exclude_cols, form)
            form._id = pk
            if form.validate():
                self.process_form(form, False)
                if self._store(form, item, adding=False):
                    return None
                item = self.datamodel.get(pk, self._base_filters)  # as stored, after the undo
            ask_again(form)
            g.form_refused = True
        else:
            form = self.edit_form.refresh(obj=item)
            self.prefill_form(form, pk)
            self.update_redirect()
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        return self._get_related_views_widgets(
            item,
            filters={},
            orders=get_order_args(),
            pages=get_page_args(),
            page_sizes=get_page_size_args(),
            widgets=widgets,
        )

    def _delete(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        self.update_redirect()
        try:
            self.delete_now(item)
        except DomainError as error:
            db.session.rollback()
            refusal_log(error)
            flash(str(error), "danger")
            return
        flash(self.delete_row_message, "success")

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_add_widget(form, exclude_cols, widgets)
        widgets["add"].template_args["back_url"] = safe_next()
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        widgets = super()._get_edit_widget(form, exclude_cols, widgets)
        widgets["edit"].template_args["back_url"] = safe_next()
        return widgets

    def post_add_redirect(self):
        # Back where the form was opened from, else the new record's own page.
        if safe_next():
            return redirect(safe_next())
        # Opened from a related list (a filter on its parent): back to that parent's page.
        opened_in_parent = any(key.startswith("_flt_") for key in request.args)
        if "saved_pk" in g and not opened_in_parent:
            return redirect(url_for(f"{type(self).__name__}.show", pk=g.saved_pk))
        return super().post_add_redirect()

    def post_edit_redirect(self):
        return redirect(safe_next()) if safe_next() else super().post_edit_redirect()

    def post_delete_redirect(self):
        return redirect(safe_next()) if safe_next() else super().post_delete_redirect()


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
            refusal_log(error)
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

    def _label_columns_json(self, cols=None) -> dict:
        # FAB translates every label of the answer on every call, matching each of the
        # (many) labels against the column list: made once per language and columns.
        key = (str(get_locale()), tuple(cols or ()))
        cache = self.__dict__.setdefault("_labels_json", {})
        labels = cache.get(key)
        if labels is None:
            if len(cache) >= 64:
                cache.clear()
            labels = cache[key] = super()._label_columns_json(cols)
        return dict(labels)

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
        return self._answer_rule(self._delete_headless, pk)

    def _delete_headless(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        self.delete_now(item)
        return self.response(200, message="OK")


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


def register_refused_forms(app) -> None:
    """A refused form of FAB's (shown again by FAB's own add and edit, with a 200) answers
    400, as Dossier's own forms do: the save was refused, the page holds what was typed."""

    @app.after_request
    def refused_status(response):
        if g.get("form_refused") and response.status_code == 200:
            response.status_code = 400
        return response


STATIC_URL_CACHE_SIZE = 512


def register_static_urls(app) -> None:
    """The templates' `url_for` of a static file (`static`, `appbuilder.static` with only a
    filename) or of an endpoint without arguments (the navbar's search, settings, zone),
    built once per URL and script root: FAB's layout builds some 30 of them on every page,
    each a walk of the URL map that answers the same every time (Dossier and FAB register no
    URL defaults that could change them)."""
    build = app.jinja_env.globals["url_for"]
    built: dict = {}

    def url_for(endpoint, **values):
        static = len(values) == 1 and "filename" in values and endpoint.endswith("static")
        # (".name" is relative to the request's blueprint: left to Flask.)
        if has_request_context() and (static or not values) and endpoint[:1] != ".":
            key = (endpoint, values.get("filename"), request.script_root)
            url = built.get(key)
            if url is None:
                if len(built) >= STATIC_URL_CACHE_SIZE:
                    built.clear()
                url = built[key] = build(endpoint, **values)
            return url
        return build(endpoint, **values)

    app.jinja_env.globals["url_for"] = url_for


# Arguments Flask's url_for takes for itself: a request carrying one keeps FAB's own links.
URL_FOR_OWN = frozenset(("_anchor", "_method", "_scheme", "_external"))
URL_SAFE = "!$'()*,/:;?@"


def register_list_links(app) -> None:
    """FAB's list links (`link_order` per sortable column, `link_page` per page of the pager,
    `link_page_size` per page size): the same URL as FAB's (the list's own URL with the
    request's arguments and the one changed), the path built once per request instead of a
    walk of the URL map for each of the some 20 links of a list page."""
    fab = {
        name: app.jinja_env.filters[name] for name in ("link_order", "link_page", "link_page_size")
    }

    def listed() -> tuple:
        """The list's path and the request's arguments, read once per request; None when
        the request's URL is not a plain list's (FAB's own links then)."""
        kept = request._get_current_object().__dict__  # the request's (g can outlive it)
        if "_dossier_list" not in kept:
            plain = not request.view_args and not URL_FOR_OWN.intersection(request.args)
            kept["_dossier_list"] = (
                (url_for(request.endpoint), request.args.to_dict()) if plain else None
            )
        return kept["_dossier_list"]

    def link(path: str, args: dict) -> str:
        # Werkzeug's query string: None left out, its safe characters kept.
        query = urlencode([(k, v) for k, v in args.items() if v is not None], safe=URL_SAFE)
        return f"{path}?{query}" if query else path

    def link_order(column, modelview_name):
        if listed() is None:
            return fab["link_order"](column, modelview_name)
        path, args = listed()
        args = dict(args)
        key, direction = "_oc_" + modelview_name, "_od_" + modelview_name
        toggled = key in args and args.get(direction) == "asc"
        args[key] = column
        args[direction] = "desc" if toggled else "asc"
        return link(path, args)

    def link_page(page, modelview_name):
        if listed() is None:
            return fab["link_page"](page, modelview_name)
        path, args = listed()
        return link(path, {**args, "page_" + modelview_name: page})

    def link_page_size(page_size, modelview_name):
        if listed() is None:
            return fab["link_page_size"](page_size, modelview_name)
        path, args = listed()
        return link(path, {**args, "psize_" + modelview_name: page_size})

    app.jinja_env.filters.update(
        link_order=link_order, link_page=link_page, link_page_size=link_page_size
    )


BLANK_FORM_CACHE_SIZE = 64
_ACTION, _TOKEN = "__dossier_form_action__", "__dossier_form_token__"


def register_blank_forms(app) -> None:
    """`blank_form(panel, form, action, ...)`: a macro's rendering of a form that nobody has
    filled in (a GET: the fields hold their defaults), made once per form, language, formats
    and script root, with the form's action and CSRF token put in for each page. The data
    sheet's "new note" panel was a tenth of the sheet, the same HTML on every visit. A form
    sent back (with what was typed and why it was refused) is rendered as it stands."""
    made: dict = {}

    def blank_form(panel, form, action, *args):
        if form.is_submitted():
            return panel(form, action, *args)
        token = form.csrf_token.current_token if "csrf_token" in form else None
        key = (
            type(form),
            str(get_locale()),
            str(format_locale()),
            request.script_root,
            *(str(arg) for arg in args),
        )
        html = made.get(key)
        if html is None:
            html = str(panel(form, _ACTION, *args))
            if token:
                html = html.replace(token, _TOKEN)
            if len(made) >= BLANK_FORM_CACHE_SIZE:
                made.clear()
            made[key] = html
        html = html.replace(_ACTION, str(escape(action)))
        return Markup(html.replace(_TOKEN, token) if token else html)

    app.jinja_env.globals["blank_form"] = blank_form


def register_formatters(app) -> None:
    """Dates and numbers in the user's locale, and the CSRF token, for templates."""
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.finalize = shown
    # One format per locale (app/formatting.py): `date` is the numeric date unless a style
    # (medium, long, full) is asked for; `datetime` is the numeric date and the time.
    app.jinja_env.filters["date"] = date_text
    app.jinja_env.filters["datetime"] = lambda moment, style=None: datetime_text(moment)
    app.jinja_env.filters["clock"] = clock_text
    app.jinja_env.filters["month"] = month_text
    app.jinja_env.filters["number"] = number_text
    app.jinja_env.filters["money"] = money_text
    app.jinja_env.filters["unit"] = lambda key: UNIT_LABELS.get(key, key)
    app.jinja_env.globals["date_input"] = date_input
    app.jinja_env.filters["frequency"] = lambda key: PAYMENT_FREQUENCY_LABELS.get(key, key)
