"""The folded search texts (app/text.py) kept on partners, offers, tasks and invoices, refreshed
on every flush that changes what they are made of, whatever the entry point."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, event, inspect, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.models.base import changed_columns
from app.models.finance import Invoice
from app.models.partners import Address, Affiliation, Organization, Partner, PartnerAddress
from app.models.sales import Offer
from app.models.tasks import Task
from app.text import search_text

# Records whose search text is made of their own columns.
OWN_COLUMNS = {Offer: ("name",), Task: ("title",), Invoice: ("number",)}

# A partner's search text: its names and numbers, e-mails, phones as digits, the cities of
# its addresses and, for a person, the companies it is a contact person of (with the e-mail
# and phone it has there).
PARTNER_COLUMNS = {
    "display_name",
    "customer_number",
    "email",
    "phone",
    "mobile",
    "tax_number",
    "name",
    "first_name",
    "last_name",
    "title",
}
PARTNERS = text(
    "SELECT p.id, p.display_name, p.customer_number, p.email, p.phone, p.mobile, o.tax_number "
    "FROM partner p LEFT JOIN organization o ON o.id = p.id WHERE p.id IN :ids"
).bindparams(bindparam("ids", expanding=True))
CITIES = text(
    "SELECT pa.partner_id, a.city FROM partner_address pa JOIN address a ON a.id = pa.address_id "
    "WHERE pa.partner_id IN :ids ORDER BY pa.id"
).bindparams(bindparam("ids", expanding=True))
COMPANIES = text(
    "SELECT af.person_id, o.name, af.email, af.phone FROM affiliation af "
    "JOIN organization o ON o.id = af.organization_id WHERE af.person_id IN :ids ORDER BY af.id"
).bindparams(bindparam("ids", expanding=True))
STORE = text("UPDATE partner SET search_text = :search_text WHERE id = :id")
CHUNK = 500


def partner_search_texts(connection, ids: list[int]) -> dict[int, str]:
    """The search texts of these partners, as the database holds them now."""
    rows = connection.execute(PARTNERS, {"ids": ids}).all()
    texts = {
        row.id: [row.display_name, row.customer_number, row.email, row.tax_number] for row in rows
    }
    numbers = {row.id: [row.phone, row.mobile] for row in rows}
    for partner_id, city in connection.execute(CITIES, {"ids": ids}):
        texts[partner_id].append(city)
    for person_id, company, email, phone in connection.execute(COMPANIES, {"ids": ids}):
        texts[person_id] += [company, email]
        numbers[person_id].append(phone)
    return {key: search_text(texts[key], numbers[key]) for key in texts}


def refresh_partner_search(connection, ids: Iterable[int]) -> dict[int, str]:
    """Store the search texts of these partners; answers them by id."""
    ids = sorted({i for i in ids if i is not None})
    stored = {}
    for start in range(0, len(ids), CHUNK):
        found = partner_search_texts(connection, ids[start : start + CHUNK])
        if found:
            connection.execute(STORE, [{"id": k, "search_text": v} for k, v in found.items()])
        stored.update(found)
    return stored


def _own_search_text(mapper, connection, target) -> None:
    columns = OWN_COLUMNS[type(target)]
    if inspect(target).pending or set(columns) & changed_columns(target):
        target.search_text = search_text(getattr(target, c) for c in columns)


for _model in OWN_COLUMNS:
    event.listen(_model, "before_insert", _own_search_text)
    event.listen(_model, "before_update", _own_search_text)


def _old_and_new(obj, key: str) -> set[int]:
    history = inspect(obj).attrs[key].history
    return {*history.deleted, *history.added, *history.unchanged} - {None}


def _touched_partners(session: Session) -> tuple[set[int], set[int], set[int]]:
    """Partners whose search text this flush changes: by id, by their organization (a new
    company name reaches its contact persons) and by their address (a new city)."""
    partners, organizations, addresses = set(), set(), set()
    changed = [(obj, False) for obj in session.new] + [(obj, True) for obj in session.dirty]
    for obj, was_there in changed:
        if isinstance(obj, Partner):
            columns = changed_columns(obj) if was_there else PARTNER_COLUMNS
            if not was_there or columns & PARTNER_COLUMNS:
                partners.add(obj.id)
            if isinstance(obj, Organization) and was_there and "name" in columns:
                organizations.add(obj.id)
        elif isinstance(obj, Address) and was_there and "city" in changed_columns(obj):
            addresses.add(obj.id)
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, PartnerAddress):
            partners |= _old_and_new(obj, "partner_id")
        elif isinstance(obj, Affiliation):
            partners |= _old_and_new(obj, "person_id")
    return partners, organizations, addresses


PEOPLE_OF = text("SELECT person_id FROM affiliation WHERE organization_id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
PARTNERS_AT = text("SELECT partner_id FROM partner_address WHERE address_id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)


def _linked(connection, organizations: set[int], addresses: set[int]) -> set[int]:
    """The contact persons of these organizations and the partners at these addresses."""
    found = set()
    if organizations:
        found |= set(connection.execute(PEOPLE_OF, {"ids": sorted(organizations)}).scalars())
    if addresses:
        found |= set(connection.execute(PARTNERS_AT, {"ids": sorted(addresses)}).scalars())
    return found


@event.listens_for(Session, "before_flush")
def _partners_losing_links(session: Session, flush_context, instances) -> None:
    """A deleted company or address takes its links with it (ON DELETE CASCADE): whom they
    reached is asked before they go."""
    organizations = {o.id for o in session.deleted if isinstance(o, Organization)}
    addresses = {a.id for a in session.deleted if isinstance(a, Address)}
    if organizations or addresses:
        found = _linked(session.connection(), organizations, addresses)
        session.info.setdefault("search_partners", set()).update(found)


@event.listens_for(Session, "after_flush")
def _refresh_partner_search(session: Session, flush_context) -> None:
    partners, organizations, addresses = _touched_partners(session)
    partners |= session.info.pop("search_partners", set())
    if not (partners or organizations or addresses):
        return
    connection = session.connection()
    partners |= _linked(connection, organizations, addresses)
    mapper = inspect(Partner)
    for partner_id, value in refresh_partner_search(connection, partners).items():
        loaded = session.identity_map.get(mapper.identity_key_from_primary_key((partner_id,)))
        if loaded is not None:
            set_committed_value(loaded, "search_text", value)
