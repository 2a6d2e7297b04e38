"""What every area stands on: time, the acting user, value checks, counters, and the checks
every flush makes (values that fit their columns, no bulk change that skips a record's rules)."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from email_validator import EmailNotValidError, validate_email
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    event,
    inspect,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.functions import FunctionElement

from app.errors import BulkChange, BulkNoteChange, InvalidValue, ZoneForbidden


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp is stored in (SQLite keeps no time zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


# Who is acting: the web app installs a provider that reads the logged-in user; jobs and
# scripts set `acting_user` themselves. Models never look at a request.
acting_user: ContextVar[int | None] = ContextVar("acting_user", default=None)
_actor_provider: list[Callable[[], int | None]] = []


def set_actor_provider(provider: Callable[[], int | None]) -> None:
    _actor_provider[:] = [provider]


def current_actor_id() -> int | None:
    explicit = acting_user.get()
    if explicit is not None:
        return explicit
    return _actor_provider[0]() if _actor_provider else None


# The acting user's role names: a manager may set a decided offer back to pending, a zone
# user changes no staff record. The web app and jobs tell the model which roles they are.
_actor_roles_provider: list[Callable[[], set[str]]] = []


def set_actor_roles_provider(provider: Callable[[], set[str]]) -> None:
    _actor_roles_provider[:] = [provider]


def current_actor_roles() -> set[str]:
    return _actor_roles_provider[0]() if _actor_roles_provider else set()


# The roles of the users who reach only the portal, by zone.
ZONE_ROLES = {"client": "Client", "partner": "Partner"}


def actor_is_zone_user() -> bool:
    """The acting user reaches only the portal (Client or Partner role, no staff role)."""
    roles = current_actor_roles()
    return bool(roles) and roles <= set(ZONE_ROLES.values())


def forbid_to_zone_users(mapper, connection, target) -> None:
    """A listener for records that a zone user changes or deletes through no entry point."""
    if actor_is_zone_user():
        raise ZoneForbidden()


def changed_columns(obj) -> set[str]:
    """The columns of a record that this flush changes."""
    state = inspect(obj)
    return {
        attr.key
        for attr in state.mapper.column_attrs
        if state.attrs[attr.key].history.has_changes()
    }


CURRENCIES = ("HUF", "EUR", "PLN", "RUB", "USD", "GBP", "CHF")

# Bidi embedding, override and isolate controls (LRE … RLO, LRI … PDI): stored in a name they
# would mirror the text around it on pages, in PDFs and mails. Marks (LRM, RLM) stay.
BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


PHONE_RE = re.compile(r"^\+?[0-9 ()/.\-]{6,25}$")


def check_choice(field: str, value: str | None, allowed: dict, required: bool = True):
    if value is None and not required:
        return value
    if value not in allowed:
        raise InvalidValue(field, _l("%(value)s is not a valid choice.") % {"value": value})
    return value


def clean_email(field: str, value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidValue(
            field, _l("%(value)s is not a valid e-mail address.") % {"value": value}
        ) from error


def clean_phone(field: str, value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not PHONE_RE.match(value) or sum(c.isdigit() for c in value) < 6:
        raise InvalidValue(field, _l("%(value)s is not a valid phone number.") % {"value": value})
    return value


def required_text(field: str, value: str | None, label) -> str:
    value = (value or "").translate(BIDI_CONTROLS).strip()
    if not value:
        raise InvalidValue(field, _l("%(field)s is required.") % {"field": label})
    return value


def clean_currency(field: str, value: str | None) -> str:
    return check_choice(field, (value or "HUF").upper(), dict.fromkeys(CURRENCIES))


def to_decimal(field: str, value) -> Decimal:
    """A finite number; NaN and Infinity are no amount, price or quantity."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise InvalidValue(field, _l("%(value)s is not a number.") % {"value": value}) from error
    if not number.is_finite():
        raise InvalidValue(field, _l("%(value)s is not a number.") % {"value": value})
    return number


def non_negative(field: str, value, empty=Decimal(0)) -> Decimal | None:
    if value in (None, ""):
        return empty
    value = to_decimal(field, value)
    if value < 0:
        raise InvalidValue(field, _l("%(value)s cannot be negative.") % {"value": value})
    return value


def clean_vat_rate(field: str, value) -> Decimal:
    value = to_decimal(field, value if value not in (None, "") else 0)
    if not 0 <= value <= 100:
        raise InvalidValue(field, _l("The VAT rate must be between 0 and 100 per cent."))
    return value


def association(name: str, left: str, right: str) -> Table:
    """A many-to-many link table, indexed from its second side too."""
    return Table(
        name,
        Model.metadata,
        Column(f"{left}_id", ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True),
        Column(
            f"{right.removeprefix('ab_')}_id",
            ForeignKey(f"{right}.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Index(f"ix_{name}_{right.removeprefix('ab_')}", f"{right.removeprefix('ab_')}_id"),
    )


def search_column(collation: str | None = None):
    """The folded search text of a record (app/text.py), kept by app/models/search.py; a
    `collation` is PostgreSQL's (SQLite compares bytes)."""
    kind = Text().with_variant(Text(collation=collation), "postgresql") if collation else Text
    return mapped_column(kind, nullable=False, default="", server_default="")


def made_on(dialect: str):
    """Alembic's `include_object` for comparing the models with a database of `dialect`: an
    object the models make only on another database (`ddl_if`) is not missing here."""

    def include(obj, name, type_, reflected, compare_to) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect in (None, dialect)

    return include


def search_index(table: str, column: str = "search_text") -> Index:
    """A trigram index for `LIKE '%…%'` on PostgreSQL; on SQLite a plain index, which a
    search scans instead of the table (a fraction of the pages; see the README's figures)."""
    return Index(
        f"ix_{table}_{column}",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    )


class name_inside(FunctionElement):  # noqa: N801 (an SQL function, named as one)
    """A folded name (`|`-separated forms) with the first letter of each form blanked out:
    it holds a word where the name holds it anywhere but at the start of a form. Its trigram
    index on PostgreSQL (migration 0025name01) so leaves out the many names that start with a
    word, which a range of the name order answers. SQLite, without that index, blanks the
    first letter only (what its later forms start with is then found twice)."""

    type = Text()
    inherit_cache = True


@compiles(name_inside)
def _name_inside(element, compiler, **kw):
    return f"substr({compiler.process(element.clauses, **kw)}, 2)"


@compiles(name_inside, "postgresql")
def _name_inside_postgresql(element, compiler, **kw):
    # Written out as in the index: a parameter would not match it.
    return f"regexp_replace({compiler.process(element.clauses, **kw)}, '(^|\\|).', '\\1|', 'g')"


class text_position(FunctionElement):  # noqa: N801 (an SQL function, named as one)
    """Where a text holds another, from 1; 0 when it does not (PostgreSQL's strpos, SQLite's
    instr). As a condition, `> 0` is a LIKE '%…%' that the planner does not count as one:
    a cheap test before a dearer one, without making the planner think few rows pass both."""

    type = Integer()
    inherit_cache = True


@compiles(text_position)
def _text_position(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(text_position, "postgresql")
def _text_position_postgresql(element, compiler, **kw):
    return f"strpos({compiler.process(element.clauses, **kw)})"


class Counter(Model):
    """Named counters behind generated numbers; a row lock makes them safe under concurrency."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def next_counter_value(connection, name: str) -> int:
    counter = Counter.__table__
    return connection.execute(
        update(counter)
        .where(counter.c.name == name)
        .values(value=counter.c.value + 1)
        .returning(counter.c.value)
    ).scalar_one()


# --- no bulk change that would skip a record's rules --------------------------------------

# Rules of flush events (partners.py, sales.py) that bulk and Core statements would skip:
# no note is written, changed or deleted in bulk; no partner is made (its number comes from
# the counter) or deleted (its notes would go with it) in bulk; an offer's status and a
# partner's customer number change one record at a time.
BULK_REFUSED = {name: {"insert", "delete"} for name in ("partner", "person", "organization")}
BULK_GUARDED_COLUMNS = {"offer": {"status"}, "partner": {"customer_number"}}


def refuse_bulk(tables: set[str], operation: str, columns: set[str] = frozenset()) -> None:
    """Raise for a bulk statement (or legacy bulk_* call) that would skip a record's rules."""
    if "note" in tables:
        raise BulkNoteChange()
    if any(operation in BULK_REFUSED.get(name, ()) for name in tables):
        raise BulkChange()
    if operation == "update" and columns & set().union(
        *(BULK_GUARDED_COLUMNS.get(name, set()) for name in tables)
    ):
        raise BulkChange()


def _statement_tables(state) -> set[str]:
    names = {table.name for mapper in state.all_mappers for table in mapper.tables}
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None):
        names.add(table.name)
    return names


def _set_columns(state) -> set[str]:
    """The columns an UPDATE sets: from .values() and from the executed parameters."""
    statement = state.statement
    keys = list(getattr(statement, "_values", None) or ())
    keys += [key for key, _ in getattr(statement, "_ordered_values", None) or ()]
    names = {getattr(key, "key", None) or getattr(key, "name", None) or str(key) for key in keys}
    parameters = state.parameters
    for row in parameters if isinstance(parameters, list) else [parameters or {}]:
        names |= {str(key) for key in row}
    return names


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_rule_changes(state) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    operation = "insert" if state.is_insert else "update" if state.is_update else "delete"
    refuse_bulk(
        _statement_tables(state), operation, _set_columns(state) if state.is_update else set()
    )


# --- what every stored value must be -------------------------------------------------------


def _fitting(key: str, column, value):
    """The value as stored, or InvalidValue when the column (or PostgreSQL) cannot hold it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidValue(key, _l("Text may not contain NUL characters."))
        value = value.translate(BIDI_CONTROLS)
        if not isinstance(column.type, Text) and value.splitlines() != [value]:
            # A one-line column (a name, a title): a line break would end a mail's subject.
            value = " ".join(filter(None, (line.strip() for line in value.splitlines())))
        length = getattr(column.type, "length", None)
        if length and len(value) > length:
            raise InvalidValue(
                key,
                _l("%(length)s characters are too many here: at most %(max)s are allowed.")
                % {"length": len(value), "max": length},
            )
    elif isinstance(value, Decimal) and isinstance(column.type, Numeric):
        if not value.is_finite():
            raise InvalidValue(key, _l("%(value)s is not a number.") % {"value": value})
        precision, scale = column.type.precision, column.type.scale or 0
        if precision and abs(value) >= Decimal(10) ** (precision - scale):
            raise InvalidValue(key, _l("%(value)s is too large.") % {"value": value})
    return value


@event.listens_for(Session, "before_flush")
def _values_fit_their_columns(session: Session, flush_context, instances) -> None:
    # One check for every entry point: SQLite would store what PostgreSQL refuses (too long,
    # NUL, NaN), and a refused value must be the user's 400, not a server error.
    for obj in [*session.new, *session.dirty]:
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            if obj not in session.new and not state.attrs[attr.key].history.has_changes():
                continue
            value = getattr(obj, attr.key)
            fitted = _fitting(attr.key, attr.columns[0], value)
            if fitted != value:
                setattr(obj, attr.key, fitted)
