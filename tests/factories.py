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


def iban(country: str, bban: str) -> str:
    """A valid IBAN for `bban`: the check digits computed by mod 97."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


# A bank account in each currency, so that any transfer invoice of a test can be issued.
BANK_ACCOUNTS = [
    {"currency": "HUF", "iban": "HU42117730161111101800000000", "swift": "OTPVHUHB"},
    {"currency": "EUR", "iban": "DE89370400440532013000", "swift": "COBADEFFXXX"},
    {"currency": "PLN", "iban": "PL61109010140000071219812874", "swift": "WBKPPLPP"},
    {"currency": "RUB", "iban": iban("RU", "04452522540702810800000001234"), "swift": "SABRRUMM"},
    {"currency": "USD", "iban": iban("HU", "117730161111101800000001"), "swift": "OTPVHUHB"},
    {"currency": "GBP", "iban": "GB29NWBK60161331926819", "swift": "NWBKGB2L"},
    {"currency": "CHF", "iban": "CH9300762011623852957", "swift": "UBSWCHZH80A"},
]


def our_company(**fields):
    """Our company with everything an invoice needs (the suite's default seller)."""
    from app.services.company import save_our_company

    values = {
        "name": "Dossier Minta Kft.",
        "address": "Fő utca 1, 1011 Budapest, Magyarország",
        "tax_number": "12345678-2-41",
        "eu_vat_number": "HU12345678",
        "registration_number": "01-09-123456",
        "payment_terms_days": 8,
        "payment_method": "transfer",
        "footer": None,
        "bank_accounts": BANK_ACCOUNTS,
    }
    values.update(fields)
    return save_our_company(None, **values)
