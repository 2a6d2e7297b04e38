"""Test data made through the models, the way the app makes it."""

from __future__ import annotations

import itertools

from app.extensions import db
from app.models import Address, Affiliation, Code, Note, Organization, PartnerAddress, Person
from app.services import acting_as

_seq = itertools.count(1)


def person(**kw) -> Person:
    n = next(_seq)
    with acting_as(kw.pop("actor", None)):
        p = Person(
            first_name=kw.pop("first_name", f"Anna{n}"),
            last_name=kw.pop("last_name", "Kovács"),
            status=kw.pop("status", "active"),
            **kw,
        )
        db.session.add(p)
    return p


def company(**kw) -> Organization:
    n = next(_seq)
    with acting_as(kw.pop("actor", None)):
        o = Organization(
            name=kw.pop("name", f"Duna Kft. {n}"), status=kw.pop("status", "active"), **kw
        )
        db.session.add(o)
    return o


def note(partner, author_id=None, **kw) -> Note:
    with acting_as(author_id):
        n = Note(
            partner_id=partner.id,
            author_id=author_id,
            body=kw.pop("body", "Called, will call back."),
            kind=kw.pop("kind", "call"),
            **kw,
        )
        db.session.add(n)
    return n


def affiliation(person_, company_, **kw) -> Affiliation:
    with acting_as(None):
        a = Affiliation(person=person_, organization=company_, **kw)
        db.session.add(a)
    return a


def address(partner, type="residence", **kw) -> Address:
    with acting_as(None):
        a = Address(
            street=kw.pop("street", "Váci utca 1"),
            city=kw.pop("city", "Budapest"),
            postal_code=kw.pop("postal_code", "1052"),
            country=kw.pop("country", "HU"),
            **kw,
        )
        db.session.add(PartnerAddress(partner=partner, address=a, type=type))
    return a


def code(name="south", category="category") -> Code:
    with acting_as(None):
        c = Code(name=name, category=category)
        db.session.add(c)
    return c
