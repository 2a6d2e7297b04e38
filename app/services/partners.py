"""Partner operations over several records: contact persons and central addresses."""

from __future__ import annotations

from datetime import date

from app.extensions import db
from app.models import Address, Affiliation, Organization, Partner, PartnerAddress, Person
from app.services import acting_as, fetch

PERSON_FIELDS = ("title", "first_name", "last_name", "email", "phone")
AFFILIATION_FIELDS = (
    "role",
    "department",
    "email",
    "phone",
    "is_contact_person",
    "may_collect_mail",
    "may_represent",
    "additional_info",
)


def add_contact_person(
    organization_id: int, actor_id: int | None, person_id: int | None = None, **data
) -> Affiliation:
    """Put a person (new, or an existing one) in a company's contact-person list."""
    with acting_as(actor_id):
        organization = fetch(Organization, organization_id)
        if person_id:
            person = fetch(Person, person_id)
        else:
            person = Person(status="active", **{k: data.get(k) for k in PERSON_FIELDS if k in data})
            db.session.add(person)
        affiliation = Affiliation(
            person=person,
            organization=organization,
            **{k: data.get(k) for k in AFFILIATION_FIELDS if k in data},
        )
        db.session.add(affiliation)
        db.session.flush()
    return affiliation


def link_address(
    partner_id: int, actor_id: int | None, *, type: str, address_id: int | None = None, **fields
) -> PartnerAddress:
    """Link an existing central address, or a new one made from `fields`, to a partner."""
    with acting_as(actor_id):
        partner = fetch(Partner, partner_id)
        address = fetch(Address, address_id) if address_id else Address(**fields)
        link = PartnerAddress(partner=partner, address=address, type=type)
        db.session.add(link)
        db.session.flush()
    return link


def birthday_soon(partner: Partner, today: date, within_days: int = 14) -> int | None:
    """Days until the person's birthday when it falls within `within_days`, else None."""
    if not isinstance(partner, Person):
        return None
    days = partner.days_to_birthday(today)
    return days if days is not None and days <= within_days else None
