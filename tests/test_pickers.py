"""Relation fields are search-as-you-type pickers: /pick/<kind>/ answers a screenful of matches
to whoever may read them, a form takes only an id it may pick, and a new partner, offer or task
belongs to the one who makes it unless another is chosen."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Affiliation,
    Offer,
    Organization,
    PartnerAddress,
    Person,
    Product,
    Task,
    utcnow,
)
from app.services import acting_as
from tests import factories as f
from tests.conftest import user_id
from tests.test_tasks import local

PARTNERS_ONLY = "tmp-partners-only"


def _offer_form() -> dict:
    return {"name": "Licences", "amount": "100", "currency": "EUR", "payment_frequency": "once"}


def _products(app):
    with app.app_context(), acting_as(None):
        db.session.add_all(
            [
                Product(
                    code="SRV-01",
                    name="Könyvelés",
                    unit="h",
                    price=Decimal("15000"),
                    currency="HUF",
                ),
                Product(code="OLD-1", name="Régi könyvelés", unit="h", price=1, active=False),
            ]
        )
        db.session.commit()
        return db.session.scalar(select(Product.id).where(Product.code == "SRV-01"))


def test_the_partner_picker_answers_at_most_twenty_with_number_and_city(app, login):
    with app.app_context():
        companies = [f.company(name=f"Duna Kft. {n:02d}") for n in range(25)]
        f.company(name="Tisza Zrt.")
        f.address(companies[0], type="seat", city="Győr")
        db.session.commit()
        first = companies[0]
        first_id, first_number = first.id, first.customer_number
    rows = login("staff").get("/pick/partner/?q=duna").get_json()
    assert len(rows) == 20
    assert all(row["text"].startswith("Duna Kft.") for row in rows)
    assert rows[0] == {"id": first_id, "text": "Duna Kft. 00", "detail": f"{first_number} · Győr"}
    assert [row["text"] for row in login("staff").get("/pick/partner/?q=TISZA").get_json()] == [
        "Tisza Zrt."
    ]
    assert login("staff").get(f"/pick/partner/?q={first_number}").get_json()[0]["id"] == first_id


def test_people_and_companies_pickers_offer_only_their_kind(app, login):
    with app.app_context():
        f.person(first_name="Éva", last_name="Duna")
        f.company(name="Duna Kft.")
        db.session.commit()
    staff = login("staff")
    assert [r["text"] for r in staff.get("/pick/person/?q=duna").get_json()] == ["Éva Duna"]
    assert [r["text"] for r in staff.get("/pick/organization/?q=duna").get_json()] == ["Duna Kft."]


def test_the_user_picker_offers_active_staff_with_their_email(app, login):
    staff = login("staff")
    rows = staff.get("/pick/user/?q=").get_json()
    usernames = {row["detail"].split("@")[0] for row in rows}
    assert {"admin", "manager", "staff", "finance"} <= usernames
    assert not {"client", "partner"} & usernames  # zone users are never picked
    assert {
        "id": user_id(app, "manager"),
        "text": "Manager User",
        "detail": "manager@example.com",
    } in rows
    with app.app_context():
        app.appbuilder.sm.get_user_by_id(user_id(app, "finance")).active = False
        db.session.commit()
    assert [r["text"] for r in staff.get("/pick/user/?q=finance").get_json()] == []
    assert [r["text"] for r in staff.get("/pick/user/?q=manager user").get_json()] == [
        "Manager User"
    ]


def test_the_product_picker_shows_the_unit_price_and_offers_active_products(app, login):
    product_id = _products(app)
    rows = login("staff").get("/pick/product/?q=könyv").get_json()
    # With what choosing it fills on a line (the lines editor), numbers as the user types them.
    assert rows == [
        {
            "id": product_id,
            "text": "Könyvelés",
            "detail": "SRV-01 · HUF15,000.00",
            "description": "Könyvelés",
            "unit": "h",
            "unit_price": "15000",
            "vat_rate": "27",
            "currency": "HUF",
        }
    ]


def test_the_address_picker_finds_by_street_city_or_postal_code(app, login):
    with app.app_context():
        address_id = f.address(f.company(), street="Fő utca 2", city="Pécs", postal_code="7621").id
        db.session.commit()
    staff = login("staff")
    for text in ("pécs", "fő utca", "7621"):
        assert [r["id"] for r in staff.get(f"/pick/address/?q={text}").get_json()] == [address_id]


@pytest.mark.parametrize(
    "text", ["%", "_", "'; DROP TABLE partner; --", "x" * 5000, "\\", "Кова", "🙂"]
)
def test_odd_text_finds_nothing_and_breaks_nothing(app, login, text):
    with app.app_context():
        f.company(name="Alfa Kft.")
        db.session.commit()
    response = login("staff").get("/pick/partner/", query_string={"q": text})
    assert response.status_code == 200 and response.get_json() == []


def _partners_only_user(app) -> None:
    """A user whose role reads partners and nothing else."""
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role(PARTNERS_ONLY) or sm.add_role(PARTNERS_ONLY)
        sm.add_permission_role(role, sm.find_permission_view_menu("can_read", "Partner"))
        sm.add_user(PARTNERS_ONLY, "Pál", "Csak", "tmp-po@example.com", role, password="pw-x")


def test_pickers_answer_only_whoever_may_read_the_records(app, login):
    _products(app)
    assert login().get("/pick/partner/?q=a").status_code in (302, 401)  # to the login page
    assert login("client", "client-pw").get("/pick/partner/?q=a").status_code == 403
    assert login("staff").get("/pick/nothing/?q=a").status_code == 404
    _partners_only_user(app)
    reader = login(PARTNERS_ONLY, "pw-x")
    assert reader.get("/pick/partner/?q=").status_code == 200
    assert reader.get("/pick/product/?q=").status_code == 403
    assert reader.get("/pick/address/?q=").status_code == 403


def test_an_offer_is_saved_with_the_picked_partner_distributor_and_owner(app, login):
    with app.app_context():
        client, distributor = f.company(name="Spree AG"), f.company(name="Isar GmbH")
        db.session.commit()
        ids = client.id, distributor.id
    response = login("staff").post(
        "/offers/add",
        data={
            **_offer_form(),
            "partner": str(ids[0]),
            "distributor": str(ids[1]),
            "owner": str(user_id(app, "manager")),
        },
    )
    assert response.status_code == 302
    with app.app_context():
        offer = db.session.scalar(select(Offer))
        assert (offer.partner_id, offer.distributor_id) == ids
        assert offer.owner_id == user_id(app, "manager")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("partner", "999999", "This choice does not exist or you may not see it."),
        ("partner", "Spree", "Choose from the list."),
        ("owner", "client", "This choice does not exist or you may not see it."),
        ("distributor", "-1", "This choice does not exist or you may not see it."),
    ],
)
def test_a_wrong_choice_is_refused_on_its_field_and_nothing_is_stored(
    app, login, field, value, message
):
    with app.app_context():
        pid = f.company(name="Spree AG").id
        db.session.commit()
    if value == "client":
        value = str(user_id(app, "client"))  # a zone user is nobody's owner
    data = {**_offer_form(), "partner": str(pid), field: value}
    staff = login("staff")
    staff.lang("hu")
    page = staff.post("/offers/add", data=data).get_data(as_text=True)
    with app.app_context():
        from flask_babel import force_locale, gettext

        with app.test_request_context(), force_locale("hu"):
            translated = gettext(message)
    assert translated != message
    field_html = page.split(f'name="{field}"')[1].split("</div>")[0]
    assert translated in field_html
    with app.app_context():
        assert db.session.scalar(select(Offer.id)) is None


def test_a_contact_person_takes_a_person_and_a_company_and_not_the_other_way(app, login):
    with app.app_context():
        person, company = f.person(last_name="Nagy"), f.company(name="Alfa Kft.")
        address = f.address(company, city="Szeged")
        db.session.commit()
        ids = person.id, company.id, address.id
    staff = login("staff")
    wrong = staff.post(
        "/contact-persons/add", data={"person": str(ids[1]), "organization": str(ids[0])}
    )
    assert wrong.status_code == 400
    assert "This choice does not exist or you may not see it." in wrong.get_data(as_text=True)
    right = staff.post(
        "/contact-persons/add",
        data={"person": str(ids[0]), "organization": str(ids[1]), "address": str(ids[2])},
    )
    assert right.status_code == 302
    linked = staff.post(
        "/address-links/add",
        data={"partner": str(ids[0]), "address": str(ids[2]), "type": "postal"},
    )
    assert linked.status_code == 302
    with app.app_context():
        contact = db.session.scalar(select(Affiliation))
        assert (contact.person_id, contact.organization_id, contact.address_id) == ids
        assert db.session.scalar(
            select(PartnerAddress.id).where(
                PartnerAddress.partner_id == ids[0], PartnerAddress.type == "postal"
            )
        )


def test_a_task_takes_picked_collaborators_and_refuses_a_zone_user(app, login, mailbox):
    start = utcnow() + timedelta(days=2)
    data = {
        "title": "Call back",
        "starts_at": local(start),
        "due_at": local(start + timedelta(hours=1)),
        "priority": "2",
        "responsible": str(user_id(app, "manager")),
    }
    staff = login("staff")
    refused = staff.post("/task/new", data={**data, "collaborators": [user_id(app, "partner")]})
    assert refused.status_code == 400
    assert "This choice does not exist or you may not see it." in refused.get_data(as_text=True)
    saved = staff.post(
        "/task/new",
        data={**data, "collaborators": [user_id(app, "staff"), user_id(app, "finance")]},
    )
    assert saved.status_code == 302
    with app.app_context():
        task = db.session.scalar(select(Task))
        assert {u.username for u in task.collaborators} == {"staff", "finance"}
        task_id = task.id
    edit = staff.get(f"/task/{task_id}/edit").get_data(as_text=True)
    collaborators = edit.split('name="collaborators"')[1].split("</select>")[0]
    assert "Staff User" in collaborators and "Finance User" in collaborators
    assert "Admin User" not in collaborators  # only the chosen ones, never every user


def test_forms_from_a_data_sheet_show_the_partners_name(app, login):
    with app.app_context():
        p = f.company(name="Tisza Zrt.")
        db.session.commit()
        pid, number = p.id, p.customer_number
    staff = login("staff")
    for url in (f"/offers/add?partner={number}", f"/task/new?partner={number}"):
        page = staff.get(url).get_data(as_text=True)
        assert f'<option value="{pid}" data-detail="{number}" selected>Tisza Zrt.</option>' in page


def test_the_maker_is_the_owner_or_responsible_unless_another_is_chosen(app, login):
    with app.app_context():
        pid = f.company(name="Spree AG").id
        db.session.commit()
    me, manager = user_id(app, "staff"), user_id(app, "manager")
    staff = login("staff")
    for url in ("/offers/add", "/companies/add", "/people/add", "/task/new"):
        page = staff.get(url).get_data(as_text=True)
        field = "responsible" if url == "/task/new" else "owner"
        chosen = page.split(f'name="{field}"')[1].split("</select>")[0]
        assert f'<option value="{me}" data-detail="staff@example.com" selected>Staff User' in chosen
    staff.post("/offers/add", data={**_offer_form(), "name": "Mine", "partner": pid})
    staff.post(
        "/offers/add",
        data={**_offer_form(), "name": "Theirs", "partner": pid, "owner": manager},
    )
    staff.post("/companies/add", data={"name": "Mine Kft.", "status": "lead"})
    staff.post("/companies/add", data={"name": "Theirs Kft.", "status": "lead", "owner": manager})
    with app.app_context():
        owners = dict(db.session.execute(select(Offer.name, Offer.owner_id)).all())
        assert owners == {"Mine": me, "Theirs": manager}
        companies = dict(
            db.session.execute(
                select(Organization.name, Organization.owner_id).where(
                    Organization.name.like("%Kft.")
                )
            ).all()
        )
        assert companies == {"Mine Kft.": me, "Theirs Kft.": manager}


def test_the_api_makes_the_caller_owner_or_responsible_unless_another_is_given(app, api):
    with app.app_context():
        pid = f.company(name="Spree AG").id
        db.session.commit()
    me, manager = user_id(app, "staff"), user_id(app, "manager")
    client = api("staff")
    offer = {"partner": pid, "amount": 1, "currency": "EUR"}
    mine = client.post("/api/v1/offer/", json={**offer, "name": "Mine"}).get_json()["id"]
    theirs = client.post("/api/v1/offer/", json={**offer, "name": "Theirs", "owner": manager})
    person = client.post("/api/v1/person/", json={"first_name": "Ada", "last_name": "Kis"})
    start = utcnow() + timedelta(days=5)
    task = client.post(
        "/api/v1/task/",
        json={
            "title": "Call",
            "starts_at": start.isoformat(),
            "due_at": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert task.status_code == 201, task.get_json()
    with app.app_context():
        assert db.session.get(Offer, mine).owner_id == me
        assert db.session.get(Offer, theirs.get_json()["id"]).owner_id == manager
        assert db.session.get(Person, person.get_json()["id"]).owner_id == me
        assert db.session.get(Task, task.get_json()["id"]).responsible_id == me


def test_the_offer_form_loads_no_partners_users_or_products(app, login, queries):
    staff = login("staff")
    staff.get("/offers/add")  # warm the permission and translation caches

    def form_queries() -> int:
        with queries() as counted:
            assert staff.get("/offers/add").status_code == 200
        return counted.count

    before = form_queries()
    with app.app_context():
        for n in range(40):
            f.company(name=f"Bulk Kft. {n}")
        db.session.commit()
    _products(app)
    assert form_queries() == before


def test_the_partner_picker_matches_as_the_global_search_does(app, login):
    with app.app_context():
        f.person(first_name="Anna", last_name="Kovács")
        f.person(first_name="Zoltán", last_name="Szőke")
        f.company(name="Łęcka Sp. z o.o.")
        db.session.commit()
    staff = login("staff")
    for typed, found in (("kovacs", "Anna Kovács"), ("SZOKE", "Zoltán Szőke"), ("lecka", "Łęcka")):
        assert [r["text"] for r in staff.get(f"/pick/partner/?q={typed}").get_json()][0].startswith(
            found
        )
