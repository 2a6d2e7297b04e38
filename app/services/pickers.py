"""Choices for the relation fields of the forms: at most a screenful of matches of one kind,
and the records among chosen ids that may be picked. Partners match as the global search
does (folded: "kovacs" finds Kovács); the other kinds by a piece of their own columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (
    Address,
    Code,
    Organization,
    Partner,
    PartnerAddress,
    Person,
    Product,
    zone_user_ids,
)
from app.services.search import partner_match

PICK_LIMIT = 20
LONGEST_QUERY = 100


def _user_match(text: str):
    full_name = User.first_name + " " + User.last_name
    return or_(
        full_name.icontains(text, autoescape=True),
        User.last_name.icontains(text, autoescape=True),
        User.username.icontains(text, autoescape=True),
        User.email.icontains(text, autoescape=True),
    )


def _product_match(text: str):
    return or_(
        Product.name.icontains(text, autoescape=True),
        Product.code.istartswith(text, autoescape=True),
    )


def _code_match(text: str):
    return Code.name.icontains(text, autoescape=True)


def _address_match(text: str):
    return or_(
        Address.street.icontains(text, autoescape=True),
        Address.city.icontains(text, autoescape=True),
        Address.postal_code.startswith(text, autoescape=True),
    )


@dataclass(frozen=True)
class Kind:
    """One kind of record a field picks: what may be picked at all (`allowed`), what a search
    offers (`offered`: e.g. no deactivated user), how text matches and in which order."""

    model: Any
    resource: str  # the permission ("can_read" on it) that reading the choices needs
    match: Any
    order: tuple
    allowed: tuple = ()
    offered: tuple = ()
    options: tuple = ()


def _partner_kind(model) -> Kind:
    return Kind(
        model=model,
        resource="Partner",
        match=partner_match,
        order=(Partner.display_name, Partner.id),
        # The city of the main address comes with the partner: one query for all matches.
        options=(selectinload(model.address_links).selectinload(PartnerAddress.address),),
    )


KINDS: dict[str, Kind] = {
    "partner": _partner_kind(Partner),
    "person": _partner_kind(Person),
    "organization": _partner_kind(Organization),
    "user": Kind(
        model=User,
        resource="Partner",  # every staff role reads partners; zone users reach no form
        match=_user_match,
        order=(User.first_name, User.last_name, User.id),
        allowed=(User.id.not_in(zone_user_ids()),),
        offered=(User.active.is_(True),),
    ),
    "product": Kind(
        model=Product,
        resource="Product",
        match=_product_match,
        order=(Product.name, Product.id),
        offered=(Product.active.is_(True),),
    ),
    "code": Kind(
        model=Code,
        resource="Code",
        match=_code_match,
        order=(Code.category, Code.name, Code.id),
    ),
    "address": Kind(
        model=Address,
        resource="Address",
        match=_address_match,
        order=(Address.city, Address.street, Address.id),
    ),
}


def kind_of(model) -> str | None:
    """The kind that picks records of `model`, if one does."""
    return next((kind for kind, spec in KINDS.items() if spec.model is model), None)


def clean_query(text) -> str:
    """What the user typed, as a search: stripped, without NUL characters, not too long."""
    return str(text or "").replace("\x00", "").strip()[:LONGEST_QUERY]


def search(kind: str, text: str, limit: int = PICK_LIMIT) -> list:
    """The first `limit` records of `kind` that match `text` (all of them, in order, for an
    empty text)."""
    spec = KINDS[kind]
    text = clean_query(text)
    query = select(spec.model).where(*spec.allowed, *spec.offered).options(*spec.options)
    if text:
        query = query.where(spec.match(text))
    return list(db.session.scalars(query.order_by(*spec.order).limit(min(limit, PICK_LIMIT))))


def chosen(kind: str, ids: list[int]) -> list:
    """The records of `kind` with these ids that may be picked, in the order of `ids`."""
    if not ids:
        return []
    spec = KINDS[kind]
    pk = spec.model.id
    found = {
        record.id: record
        for record in db.session.scalars(
            select(spec.model).where(pk.in_(set(ids)), *spec.allowed).options(*spec.options)
        )
    }
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def partner_by_number(customer_number: str) -> Partner | None:
    """A partner named in a link of its data sheet (…/add?partner=<customer number>)."""
    return db.session.scalar(
        select(Partner).where(Partner.customer_number == clean_query(customer_number))
    )
