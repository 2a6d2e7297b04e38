"""Global search: one query over partners, contact persons, offers, tasks and invoices, matched
on their folded search texts (app/text.py), grouped by kind, within what the user may read.
`match` and `partner_match` give the same matching to lists and pickers."""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, false, func, literal, or_, select, true, union
from sqlalchemy.orm import aliased

from app.errors import DomainError
from app.extensions import db
from app.models import Affiliation, Invoice, Offer, Partner, PartnerAddress, Task
from app.models.base import name_inside, text_position
from app.models.partners import Address
from app.text import SEPARATOR, fold_variants, query_terms

MAX_LENGTH = 100
MIN_CHARACTERS = 2
MAX_WORDS = 8
LIMIT_PER_KIND = 10
# Contact persons are found through the partners (people or companies) that match: at most
# this many of them are looked at.
AFFILIATION_REACH = 200

# Each kind of result, with the permission (as the lists have it) that shows it.
KINDS = {
    "partners": "Partner",
    "contact_persons": "Affiliation",
    "offers": "Offer",
    "tasks": "Task",
    "invoices": "Invoice",
}
# The address a partner is known by, in order of preference (as its data sheet shows it).
CITY_ORDER = ("residence", "seat", "site", "postal", "billing")


class SearchRefused(DomainError):
    status = 400
    message = _l("Type at least two letters or digits to search.")


TOO_LONG = _l("A search may be at most %(max)s characters long.")
CONTROL_CHARACTERS = _l("A search may not contain control characters.")


def check_query(query: str | None) -> list[list[str]]:
    """The terms of a query (see app.text.query_terms), or SearchRefused saying why not."""
    query = query or ""
    if len(query) > MAX_LENGTH:
        raise SearchRefused(TOO_LONG, max=MAX_LENGTH)
    if any(unicodedata.category(c) == "Cc" and not c.isspace() for c in query):
        raise SearchRefused(CONTROL_CHARACTERS)
    terms = query_terms(query)[:MAX_WORDS]
    if sum(c.isalnum() for forms in terms for c in forms[0]) < MIN_CHARACTERS:
        raise SearchRefused()
    return terms


def _like(column, form: str, anywhere: bool = True, inline: bool = False):
    """`column` holds `form` (anywhere, or at its start). `inline` writes the pattern into the
    statement's text rather than as a parameter: PostgreSQL then plans each word for itself
    (a word in one text of a hundred is best met reading the table in order, a rare one
    through the trigram index), where a prepared statement's generic plan would take one way
    for every word."""
    escaped = form.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"{'%' if anywhere else ''}{escaped}%"
    if inline:
        pattern = literal(pattern, String, literal_execute=True)
    return column.like(pattern, escape="\\")


def _prefix(column, form: str):
    """`column` starts with `form`, said as a range: the texts that start with it are those
    from `form` up to (not with) its last letter's next, in the byte order of SQLite and of
    PostgreSQL's "C", so that a btree reads them in order (and the planner knows how many
    from its statistics)."""
    following = ord(form[-1]) + 1
    if following > sys.maxunicode or 0xD800 <= following < 0xE000:
        return _like(column, form, anywhere=False)
    return and_(column >= form, column < form[:-1] + chr(following))


def starts(model, query: str, field: str = "name_text"):
    """A where-clause: `model`'s folded name (or `field`) starts with the query, whatever
    the case or the accents ("agn" finds Ágnes); an empty query matches everything."""
    forms = fold_variants(query or "")
    if not forms:
        return true()
    return or_(*(_prefix(getattr(model, field), form) for form in forms))


# A German form ("mueller") of a folded name holds two letters where its plain form
# ("muller") holds one.
UMLAUTS = ("ae", "oe", "ue")


def _plain_starts(form: str) -> set[str]:
    """What the plain form of a name starts with when one of its German forms starts with
    `form`: `form` with any of its "ae", "oe", "ue" as one letter or two."""
    starts = {""}
    rest = form
    while rest:
        two = rest[:2]
        one = {s + rest[0] for s in starts}
        starts = one | {s + two for s in starts} if two in UMLAUTS else one
        rest = rest[2:] if two in UMLAUTS else rest[1:]
    return starts


def _starting(column, form: str) -> list:
    """Where-clauses, each a range of the name order, of the folded names of which a form
    starts with `form` (the plain form is the first; a German form follows a `|`)."""
    found = [_prefix(column, form)]
    if any(umlaut in form for umlaut in UMLAUTS):
        later = _like(column, SEPARATOR + form)
        found += [and_(_prefix(column, s), later) for s in sorted(_plain_starts(form) - {form})]
    return found


def _inside(column, form: str):
    """The folded name holds `form` elsewhere than at the start of a form: through the
    trigram index of name_inside; row by row, a plain search for `form` first spares most
    names the regular expression."""
    return and_(text_position(column, form) > 0, _like(name_inside(column), form))


def _name_like(column, form: str):
    """The folded name contains `form`: a form of it starts with it (ranges of the name
    order) or holds it further on (name_inside). Said so, the many names that start with a
    word, all in one stretch of the order, are not read to find the few that hold it
    inside."""
    return or_(*_starting(column, form), _inside(column, form))


def match(model, query: str | list[list[str]], field: str = "search_text"):
    """A where-clause: `model`'s search text (or another folded text, `field`) holds every
    word of the query in one of its forms. A query with nothing to search for matches
    nothing."""
    try:
        terms = check_query(query) if isinstance(query, str) else query
    except SearchRefused:
        return false()
    column = getattr(model, field)
    if field == "name_text":
        return and_(*(or_(*(_name_like(column, form) for form in forms)) for forms in terms))
    return and_(*(or_(*(_like(column, f, inline=True) for f in forms)) for forms in terms))


def _parts(model, query: str):
    """What name_page and many_inside read: the partner table's entity, the condition of
    the kind and the query's words (each with its forms); None when the query has nothing to
    search for."""
    try:
        terms = check_query(query)
    except SearchRefused:
        return None
    mapper = model.__mapper__
    base = mapper.base_mapper.class_
    kind = base.type == mapper.polymorphic_identity if mapper.inherits else true()
    return base, kind, terms


def _all_of(column, terms):
    """The folded name `column` holds every word of `terms` in one of its forms (said so
    that the indexes can answer it with the first word's)."""
    return and_(true(), *(or_(*(_name_like(column, form) for form in forms)) for forms in terms))


# A trigram index answers a word of at least this many letters; for a shorter one it reads
# every row.
TRIGRAM = 3


def _trigrams() -> bool:
    """Whether the database has the trigram index of the names (PostgreSQL's
    ix_partner_name_inside; SQLite has none)."""
    return db.session.get_bind().dialect.name == "postgresql"


def many_inside(model, query: str, limit: int) -> bool:
    """Whether more than `limit` names of `model`'s kind hold the query's first word
    elsewhere than at the start of a form (and the other words anywhere): counted up to
    `limit` + 1 through the trigram index. A word shorter than a trigram is taken as held by
    many: the index would read every name for it, a walk in name order reads up to the page."""
    parts = _parts(model, query)
    if parts is None:
        return False
    if not _trigrams():
        # Without a trigram index (SQLite) every name is read to find the few as well as
        # the many, and counting them would read them all once more: the walk stops at the
        # page.
        return True
    base, kind, (first, *others) = parts
    if any(len(form) < TRIGRAM for form in first):
        return True
    if model.__mapper__.inherits:
        # The kind checked on the rows the trigram index finds, not through the kind's
        # index: PostgreSQL, once it knows its statistics, ANDed the word's matches with the
        # 500,000 people of ix_partner_type_name (21 ms of 31 at 1,000,000 partners).
        kind = base.type.concat("") == model.__mapper__.polymorphic_identity
    inside = or_(*(_inside(base.name_text, form) for form in first))
    found = select(base.id).where(kind, inside, _all_of(base.name_text, others))
    counted = select(func.count()).select_from(found.limit(limit + 1).subquery())
    return db.session.scalar(counted) > limit


def name_page(model, query: str, reach: int, descending: bool = False, dense: bool = False):
    """A where-clause: `model` (people or companies) among the first `reach` in name order
    (folded name, id) whose folded name holds every word of the query. The names of which a
    form starts with the first word (ranges of the name order) and those that hold it further
    on are read apart, each up to `reach` in name order, and merged: a word at the start of
    many names fills the page from its range, however far in the order. Further on, a word of
    many names (`dense`: see many_inside) is met while walking the names in order; a word of
    few is found through the trigram index and its matches sorted."""
    parts = _parts(model, query)
    if parts is None:
        return false()
    base, kind, (first, *others) = parts
    column = base.name_text

    def ordered(name, pk):
        return (name.desc(), pk.desc()) if descending else (name, pk)

    def names(source, name, pk, *where):
        return (
            select(pk, name.label("name"))
            .select_from(source)
            .where(*where, _all_of(name, others))
            .order_by(*ordered(name, pk))
            .limit(reach)
        )

    branches = [
        names(base, column, base.id, kind, where)
        for form in first
        for where in _starting(column, form)
    ]
    if dense and not _trigrams():
        # SQLite walks the (kind, name) index in order and stops at the page; it would sort
        # the whole walk again if it came from a subquery, which it does not know in order.
        inside = or_(*(_inside(column, form) for form in first))
        branches.append(names(base, column, base.id, kind, inside))
    elif dense:
        # The names of the kind in order, as they come (OFFSET 0 keeps the database from
        # planning them together with the condition, whose matches it cannot count).
        walk = select(base.id, column).where(kind).order_by(*ordered(column, base.id))
        walk = walk.offset(0).subquery()
        inside = or_(*(_inside(walk.c.name_text, form) for form in first))
        branches.append(names(walk, walk.c.name_text, walk.c.id, inside))
    else:
        # Sorted, whatever the planner thinks of their number: not walked in order.
        inside = or_(*(_inside(column, form) for form in first))
        found = names(base, column, base.id, kind, inside)
        branches.append(found.order_by(None).order_by(*ordered(column + "", base.id)))
    merged = union(*(select(*b.subquery().c) for b in branches)).subquery()
    first_ones = select(merged.c.id).order_by(*ordered(merged.c.name, merged.c.id)).limit(reach)
    return model.id.in_(first_ones)


def partner_match(query: str):
    """A where-clause on Partner (people and companies) for a picker or a list filter."""
    return match(Partner, query)


def readable_kinds(user) -> list[str]:
    """The kinds of results the user may read, by the permissions the lists check."""
    if user is None:
        return []
    may = current_app.appbuilder.sm._has_view_access
    return [kind for kind, resource in KINDS.items() if may(user, "can_read", resource)]


def _limited(rows: list, limit: int) -> dict[str, Any]:
    return {"results": rows[:limit], "more": len(rows) > limit}


def _first(model, terms, limit: int):
    """The ids of the first `limit` matches as the index finds them, unsorted: sorting every
    match before taking a few would cost what the matches cost (13,679 "kovacs" among a million
    partners: 52 ms against 6.5 ms on PostgreSQL). The few are put in order afterwards; when
    there are more, the page asks for more of the name."""
    return select(model.id).where(match(model, terms)).limit(limit)


def _partners(terms, limit: int) -> list[dict]:
    found = _first(Partner, terms, limit)
    rows = db.session.execute(
        select(
            Partner.id,
            Partner.type,
            Partner.display_name,
            Partner.customer_number,
            Partner.email,
            Partner.phone,
        )
        .where(Partner.id.in_(found))
        .order_by(Partner.search_text, Partner.id)
    ).all()
    ids = [row.id for row in rows]
    cities: dict[int, tuple[int, str]] = {}
    for partner_id, kind, city in db.session.execute(
        select(PartnerAddress.partner_id, PartnerAddress.type, Address.city)
        .join(Address, Address.id == PartnerAddress.address_id)
        .where(PartnerAddress.partner_id.in_(ids))
    ):
        rank = CITY_ORDER.index(kind) if kind in CITY_ORDER else len(CITY_ORDER)
        if partner_id not in cities or rank < cities[partner_id][0]:
            cities[partner_id] = (rank, city)
    company = aliased(Partner)
    companies: dict[int, str] = {}
    for person_id, name in db.session.execute(
        select(Affiliation.person_id, company.display_name)
        .join(company, company.id == Affiliation.organization_id)
        .where(Affiliation.person_id.in_(ids))
        .order_by(Affiliation.id)
    ):
        companies.setdefault(person_id, name)
    return [
        {
            "id": row.id,
            "type": row.type,
            "name": row.display_name,
            "customer_number": row.customer_number,
            "city": cities.get(row.id, (0, None))[1],
            "company": companies.get(row.id),
            "email": row.email,
            "phone": row.phone,
        }
        for row in rows
    ]


def _contact_persons(terms, limit: int) -> list[dict]:
    matching = select(Partner.id).where(match(Partner, terms)).limit(AFFILIATION_REACH)
    person, company = aliased(Partner), aliased(Partner)
    rows = db.session.execute(
        select(
            Affiliation.id,
            Affiliation.person_id,
            Affiliation.organization_id,
            Affiliation.role,
            Affiliation.email,
            Affiliation.phone,
            person.display_name.label("person"),
            company.display_name.label("organization"),
            company.customer_number,
        )
        .join(person, person.id == Affiliation.person_id)
        .join(company, company.id == Affiliation.organization_id)
        .where(or_(Affiliation.organization_id.in_(matching), Affiliation.person_id.in_(matching)))
        .order_by(company.display_name, person.display_name, Affiliation.id)
        .limit(limit)
    ).all()
    return [dict(row._mapping) | {"id": row.id} for row in rows]


def _offers(terms, limit: int) -> list[dict]:
    rows = db.session.execute(
        select(
            Offer.id,
            Offer.name,
            Offer.status,
            Offer.amount,
            Offer.currency,
            Offer.partner_id,
            Partner.display_name.label("partner"),
        )
        .join(Partner, Partner.id == Offer.partner_id)
        .where(Offer.id.in_(_first(Offer, terms, limit)))
        .order_by(Offer.search_text, Offer.id)
    ).all()
    return [dict(row._mapping) for row in rows]


def _tasks(terms, limit: int) -> list[dict]:
    rows = db.session.execute(
        select(
            Task.id,
            Task.title,
            Task.due_at,
            Task.done,
            Task.partner_id,
            Partner.display_name.label("partner"),
        )
        .outerjoin(Partner, Partner.id == Task.partner_id)
        .where(Task.id.in_(_first(Task, terms, limit)))
        .order_by(Task.search_text, Task.id)
    ).all()
    return [dict(row._mapping) for row in rows]


def _invoices(terms, limit: int) -> list[dict]:
    rows = db.session.execute(
        select(
            Invoice.id,
            Invoice.number,
            Invoice.status,
            Invoice.issue_date,
            Invoice.gross_total,
            Invoice.currency,
            Invoice.partner_id,
            Partner.display_name.label("partner"),
        )
        .join(Partner, Partner.id == Invoice.partner_id)
        .where(match(Invoice, terms))
        .order_by(Invoice.search_text.desc(), Invoice.id)
        .limit(limit)
    ).all()
    return [dict(row._mapping) for row in rows]


FINDERS = {
    "partners": _partners,
    "contact_persons": _contact_persons,
    "offers": _offers,
    "tasks": _tasks,
    "invoices": _invoices,
}


def search(query: str, user, limit_per_kind: int = LIMIT_PER_KIND) -> dict[str, dict]:
    """What the query finds, by kind, among the kinds the user may read: for each kind
    `{"results": [...], "more": bool}`. Raises SearchRefused for a query that cannot be
    searched for (empty, too long, control characters, fewer than two letters or digits)."""
    terms = check_query(query)
    return {
        kind: _limited(FINDERS[kind](terms, limit_per_kind + 1), limit_per_kind)
        for kind in readable_kinds(user)
    }


__all__ = [
    "KINDS",
    "SearchRefused",
    "check_query",
    "many_inside",
    "match",
    "name_page",
    "partner_match",
    "readable_kinds",
    "search",
]
