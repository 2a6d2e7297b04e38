"""Global search: one query over partners, contact persons, offers, tasks and invoices, matched
on their folded search texts (app/text.py), grouped by kind, within what the user may read.
`match` and `partner_match` give the same matching to lists and pickers."""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.orm import aliased

from app.errors import DomainError
from app.extensions import db
from app.models import Affiliation, Invoice, Offer, Partner, PartnerAddress, Task
from app.models.partners import Address
from app.text import fold_variants, query_terms

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


def _like(column, form: str, anywhere: bool = True):
    escaped = form.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"{'%' if anywhere else ''}{escaped}%", escape="\\")


def starts(model, query: str, field: str = "name_text"):
    """A where-clause: `model`'s folded name (or `field`) starts with the query, whatever
    the case or the accents ("agn" finds Ágnes); an empty query matches everything."""
    forms = fold_variants(query or "")
    if not forms:
        return true()
    return or_(*(_like(getattr(model, field), form, anywhere=False) for form in forms))


def match(model, query: str | list[list[str]], field: str = "search_text"):
    """A where-clause: `model`'s search text (or another folded text, `field`) holds every
    word of the query in one of its forms. A query with nothing to search for matches
    nothing."""
    try:
        terms = check_query(query) if isinstance(query, str) else query
    except SearchRefused:
        return false()
    column = getattr(model, field)
    return and_(*(or_(*(_like(column, form) for form in forms)) for forms in terms))


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
    "match",
    "partner_match",
    "readable_kinds",
    "search",
]
