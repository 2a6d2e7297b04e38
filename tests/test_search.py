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


# --- the search through the screen and the API -----------------------------------------------


def _records():
    """Two Kovács told apart by city and company, an Иван, a Łęcka company with an offer, a
    task and an issued invoice."""
    from datetime import datetime

    from app.models import Invoice

    with acting_as(None):
        duna = f.company(name="Łęcka Sp. z o.o.")
        first = f.person(first_name="János", last_name="Kovács")
        second = f.person(first_name="Péter", last_name="Kovács")
        ivan = f.person(first_name="Иван", last_name="Петров")
    f.address(first, city="Debrecen")
    f.address(second, city="Szeged")
    f.affiliation(second, duna, role="Buyer")
    with acting_as(None):
        db.session.add(Offer(name="Kovács fűtés", partner_id=first.id))
        db.session.add(
            Task(
                title="Call Kovács",
                partner_id=first.id,
                starts_at=datetime(2026, 1, 1, 9),
                due_at=datetime(2026, 1, 1, 10),
            )
        )
        invoice = Invoice(partner_id=duna.id, currency="HUF")
        db.session.add(invoice)
        db.session.flush()
        invoice.number = "2026/000777"
    return {"duna": duna.id, "first": first.id, "second": second.id, "ivan": ivan.id}


def test_staff_find_partners_offers_tasks_and_contact_persons_on_the_results_page(app, login):
    with app.app_context():
        ids = _records()
    page = login("staff").get("/search/?q=kovacs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'href="/partner/{ids["first"]}"' in html and f'href="/partner/{ids["second"]}"' in html
    assert "Debrecen" in html and "Szeged" in html and "Łęcka Sp. z o.o." in html
    assert "Kovács fűtés" in html and "Call Kovács" in html
    assert 'data-kind="contact_persons"' in html
    html = login("staff").get("/search/?q=%D0%B8%D0%B2%D0%B0%D0%BD").get_data(as_text=True)
    assert f'href="/partner/{ids["ivan"]}"' in html  # "иван"
    assert f'href="/partner/{ids["ivan"]}"' in login("staff").get("/search/?q=ivan").get_data(
        as_text=True
    )


def test_the_api_answers_the_same_results_as_json(app, api):
    with app.app_context():
        ids = _records()
    answer = api("staff").get("/api/v1/search/?q=lecka")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    result = answer.get_json()["result"]
    assert [p["id"] for p in result["partners"]["results"]] == [ids["duna"], ids["second"]]
    assert result["contact_persons"]["results"][0]["person_id"] == ids["second"]
    assert result["partners"]["more"] is False
    numbers = api("finance").get("/api/v1/search/?q=000777").get_json()["result"]["invoices"]
    assert [i["number"] for i in numbers["results"]] == ["2026/000777"]
    kovacs = api("staff").get("/api/v1/search/?q=KOVACS").get_json()["result"]["partners"]
    second = next(p for p in kovacs["results"] if p["id"] == ids["second"])
    assert second["city"] == "Szeged" and second["company"] == "Łęcka Sp. z o.o."


def test_the_api_takes_a_browser_session(app, login):
    with app.app_context():
        ids = _records()
    answer = login("staff").get("/api/v1/search/?q=kovacs")
    assert answer.status_code == 200
    assert ids["first"] in [p["id"] for p in answer.get_json()["result"]["partners"]["results"]]


@pytest.mark.parametrize("query", ["%", "_", "%25", "a", "   ", "x" * 101, "kov%07acs"])
def test_odd_input_gets_a_clear_message_never_a_server_error(app, login, api, query):
    from urllib.parse import quote

    url = f"/search/?q={quote(query, safe='%')}"
    page = login("staff").get(url)
    html = page.get_data(as_text=True)
    if query.strip():
        assert page.status_code == 400
        assert 'class="alert alert-warning search-refused"' in html
    else:
        assert page.status_code == 200 and "search-refused" not in html
    answer = api("staff").get(url.replace("/search/", "/api/v1/search/"))
    assert answer.status_code == 400 and answer.get_json()["message"]


def test_the_refusal_is_in_the_users_language(app, login):
    staff = login("staff")
    staff.lang("de")
    html = staff.get("/search/?q=%25").get_data(as_text=True)
    assert "Type at least two letters" not in html


@pytest.fixture
def role_user(app):
    """A user (and its password) of a role made for the test with only these permissions;
    the role goes after the test (the users' screens would list it)."""
    made = []

    def make(permissions: list[tuple[str, str]]) -> tuple[str, str]:
        with app.app_context():
            sm = app.appbuilder.sm
            role = sm.add_role(f"tmp-role-{len(made)}")
            for permission, view in permissions:
                role.permissions.append(sm.add_permission_view_menu(permission, view))
            username = f"tmp-searcher-{len(made)}"
            sm.add_user(
                username, "Tmp", "User", f"{username}@example.com", role, password="pw-1A!x"
            )
            db.session.commit()
            made.append(role.id)
        return username, "pw-1A!x"

    yield make
    with app.app_context():
        from app.security import Role

        for role_id in made:
            role = db.session.get(Role, role_id)
            role.user = []
            db.session.delete(role)
        db.session.commit()


def test_users_find_only_the_kinds_they_may_read(app, login, role_user):
    with app.app_context():
        _records()
    client = login(*role_user([("can_read", "Partner")]))
    found = client.get("/api/v1/search/?q=kovacs").get_json()["result"]
    assert set(found) == {"partners"}
    html = client.get("/search/?q=kovacs").get_data(as_text=True)
    assert "Kovács fűtés" not in html and "Call Kovács" not in html


def test_who_may_not_read_partners_finds_nothing(app, login, role_user):
    with app.app_context():
        _records()
    client = login(*role_user([("can_read", "Task")]))
    assert client.get("/search/?q=kovacs").status_code == 403
    assert client.get("/api/v1/search/?q=kovacs").status_code == 403
    assert "navbar-search" not in client.get("/tasks/list/").get_data(as_text=True)


def test_the_navbar_has_the_search_box_on_staff_pages(app, login):
    html = login("staff").get("/people/list/").get_data(as_text=True)
    assert 'id="navbar-search"' in html and "dossier/search.js" in html


def test_the_people_list_filters_names_folded_and_contains_first(app, login):
    with app.app_context():
        ids = _records()
    html = login("staff").get("/people/list/").get_data(as_text=True)
    assert (
        '"display_name": ["Contains", "Contains, letter for letter", "Starts with"'
        in html.replace("\\u0020", " ")
    )
    html = login("staff").get("/people/list/?_flt_0_display_name=kovacs").get_data(as_text=True)
    assert f"/partner/{ids['first']}" in html and f"/partner/{ids['ivan']}" not in html
    html = login("staff").get("/offers/list/?_flt_0_name=futes").get_data(as_text=True)
    assert "Kovács fűtés" in html
    # FAB's own "contains" stays beside it, letter for letter, on the screen and for REST.
    html = login("staff").get("/people/list/?_flt_1_display_name=kovacs").get_data(as_text=True)
    assert f"/partner/{ids['first']}" not in html


def test_rest_clients_keep_fabs_contains_and_gain_the_folded_one(app, api):
    with app.app_context():
        ids = _records()
    client = api("staff")

    def found(opr: str, value: str) -> set[int]:
        answer = client.get(
            f"/api/v1/person/?q=(filters:!((col:last_name,opr:{opr},value:'{value}')))"
        )
        assert answer.status_code == 200, answer.get_json()
        return set(answer.get_json()["ids"])

    assert ids["first"] in found("ct", "Kovács") and ids["first"] not in found("ct", "kovacs")
    assert ids["first"] in found("fct", "kovacs")


def test_a_search_writes_its_words_into_the_statement_safely(app, login, queries):
    """Each word is planned for itself on PostgreSQL: the pattern is in the statement's text,
    not a parameter, written as the database's own string literal (a quote, a percent sign
    or an underscore is the character itself)."""
    with app.app_context():
        f.person(first_name="Seán", last_name="O'Brien", email="sean.50%_x@example.com")
        # "50%_x" as wildcards would find this one too.
        f.person(first_name="Other", last_name="Obrien", email="other.50abx@example.com")
        db.session.commit()
    staff = login("staff")
    staff.get("/search/?q=o'brien")
    with queries() as q:
        found = staff.get("/search/", query_string={"q": "o'brien"}).get_data(as_text=True)
    assert "O&#39;Brien" in found and "Other Obrien" not in found
    searched = [s for s in q.statements if "search_text LIKE" in s]
    assert searched and all("o''brien" in s for s in searched), searched
    for word, shown in (("50%_x", ["O&#39;Brien"]), ("obrien", ["Other Obrien"])):
        page = staff.get("/search/", query_string={"q": word}).get_data(as_text=True)
        names = [n for n in ("O&#39;Brien", "Other Obrien") if n in page]
        assert names == shown, (word, names)
