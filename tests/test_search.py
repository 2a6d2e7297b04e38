"""Folded matching (app/text.py), the search texts kept on flush, and the global search through
the service, the screen and the REST API, within what each user may read."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Address, Affiliation, Offer, Partner, Task
from app.services import acting_as
from app.services.search import SearchRefused, check_query, match, partner_match
from app.text import fold, fold_variants, query_terms, search_text
from tests import factories as f

# --- folding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("kovacs", "Kovács"),
        ("KOVÁCS", "Kovács"),
        ("lecka", "Łęcka"),
        ("łęcka", "Łęcka"),
        ("иван", "Иван"),
        ("ivan", "Иван"),
        ("muller", "Müller"),
        ("mueller", "Müller"),
        ("müller", "Mueller"),
        ("szoke", "Szőke"),
        ("strasse", "Straße"),
        ("jorgen", "Jørgen"),
        ("dorde", "Đorđe"),
        ("wisniewski", "Wiśniewski"),
        ("petrova", "Петрова"),
        ("zhukov", "Жуков"),
    ],
)
def test_a_folded_query_is_found_in_the_folded_text(typed, stored):
    text = search_text([stored])
    assert any(any(form in text for form in forms) for forms in query_terms(typed))


def test_folding_keeps_the_plain_and_the_german_form():
    assert fold_variants("Müller") == ["muller", "mueller"]
    assert fold_variants("Kovács") == ["kovacs"]
    assert fold("Ёлкин Йоргенсен") == "elkin iorgensen"
    assert fold("  Anna \t Nagy ") == "anna nagy"


def test_a_number_typed_with_spaces_is_one_word_also_as_digits():
    assert query_terms("+36 20 123-4567") == [["+36 20 123-4567", "36201234567"]]
    assert query_terms("kovacs  janos") == [["kovacs"], ["janos"]]


def test_a_stored_text_separates_its_parts_and_keeps_phone_digits():
    assert search_text(["Kovács | Nagy"], ["+36 (20) 123"]) == "kovacs nagy|3620123"


@pytest.mark.parametrize(
    "query", ["", "   ", "%", "_", "%_%", "a", "x" * 101, "kov\x07acs", "kov\x1bacs"]
)
def test_odd_queries_are_refused_with_a_reason(query):
    with pytest.raises(SearchRefused) as refused:
        check_query(query)
    assert str(refused.value)


# --- search texts kept on flush --------------------------------------------------------------


def texts_of(*partners) -> list[str]:
    db.session.expire_all()
    return [db.session.get(Partner, p.id).search_text for p in partners]


def found(query: str) -> set[int]:
    return set(db.session.scalars(select(Partner.id).where(partner_match(query))))


def test_a_partner_is_found_by_name_number_email_phone_tax_number_city_and_company(ctx):
    company = f.company(
        name="Łęcka Sp. z o.o.", tax_number="PL 525-000-11-22", phone="+48 22 111 22 33"
    )
    person = f.person(
        first_name="Иван", last_name="Müller", email="ivan@example.ru", mobile="+36 20 123 4567"
    )
    f.address(person, city="Győr")
    f.affiliation(person, company, email="ivan@lecka.pl")
    for query in (
        "muller",
        "mueller",
        "ИВАН",
        "ivan@example",
        "20 123 4567",
        "36201234567",
        "gyor",
        "lecka",
        person.customer_number,
    ):
        assert person.id in found(query), query
    for query in ("lecka", "525-000-11-22", "48 22 111"):
        assert company.id in found(query), query
    assert found("szoke") == set()


def test_the_search_text_follows_changes_of_names_addresses_and_affiliations(ctx):
    person = f.person(first_name="Anna", last_name="Szőke")
    company = f.company(name="Duna Kft.")
    address = f.address(person, city="Debrecen")
    assert person.id in found("szoke debrecen")
    with acting_as(None):
        person.last_name = "Kovács"
    assert found("szoke") == set() and person.id in found("kovacs")
    with acting_as(None):
        db.session.get(Address, address.id).city = "Szeged"
    assert person.id in found("szeged") and person.id not in found("debrecen")
    affiliation = f.affiliation(person, company)
    assert person.id in found("duna")
    with acting_as(None):
        company.name = "Tisza Zrt."
    assert person.id in found("tisza") and person.id not in found("duna")
    with acting_as(None):
        db.session.delete(db.session.get(Affiliation, affiliation.id))
    assert person.id not in found("tisza")
    with acting_as(None):
        db.session.delete(db.session.get(Address, address.id))
    assert person.id not in found("szeged")


def test_offers_and_tasks_keep_their_search_text(ctx):
    from datetime import datetime

    partner = f.person()
    with acting_as(None):
        offer = Offer(name="Łódź fűtés", partner_id=partner.id)
        task = Task(
            title="Позвонить Ивану",
            starts_at=datetime(2026, 1, 1, 9),
            due_at=datetime(2026, 1, 1, 10),
        )
        db.session.add_all([offer, task])
    assert db.session.scalars(select(Offer.id).where(match(Offer, "lodz futes"))).all() == [
        offer.id
    ]
    assert db.session.scalars(select(Task.id).where(match(Task, "ivanu"))).all() == [task.id]
    with acting_as(None):
        task.title = "Call Szőke"
    assert db.session.scalars(select(Task.id).where(match(Task, "szoke"))).all() == [task.id]


def test_an_unsearchable_query_matches_nothing(ctx):
    person = f.person(first_name="Anna", last_name="Percent%")
    assert found("%") == set()
    assert found("nt%") == {person.id}
    assert found("an%a") == found("an_a") == set()  # % and _ are characters, not wildcards
