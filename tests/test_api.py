"""The REST API: JWT login, resources and field names of SPEC 3, the same rules as the screens."""

from sqlalchemy import select

from app.extensions import db
from app.models import Organization
from tests import factories as f


def test_jwt_login_and_openapi(app, api):
    client = api("staff")
    assert client.get("/api/v1/person/").status_code == 200
    spec = api("admin").get("/api/v1/_openapi")
    assert spec.status_code == 200 and "/person/" in spec.get_data(as_text=True)
    assert {
        "/api/v1/person/{pk}/zone_invite",
        "/api/v1/invoice/{pk}/issue",
        "/api/v1/document/{pk}/download",
    } <= set(spec.get_json()["paths"])
    bad = app.test_client().post(
        "/api/v1/security/login", json={"username": "staff", "password": "x", "provider": "db"}
    )
    assert bad.status_code == 401


def test_create_a_company_a_person_and_their_affiliation(app, api):
    client = api("staff")
    company = client.post(
        "/api/v1/organization/",
        json={
            "name": "Spree Software AG",
            "tax_number": "DE123456789",
            "status": "active",
            "email": "info@spree.example",
        },
    )
    assert company.status_code == 201, company.get_json()
    person = client.post(
        "/api/v1/person/",
        json={
            "first_name": "Sabine",
            "last_name": "Weiß",
            "email": "sabine@spree.example",
            "phone": "+49 30 1234567",
            "status": "lead",
            "owner": 1,
        },
    )
    assert person.status_code == 201, person.get_json()
    link = client.post(
        "/api/v1/affiliation/",
        json={
            "person": person.get_json()["id"],
            "organization": company.get_json()["id"],
            "role": "Einkauf",
            "is_contact_person": True,
            "may_collect_mail": True,
            "may_represent": False,
            "additional_info": "Nur vormittags",
        },
    )
    assert link.status_code == 201, link.get_json()
    shown = client.get(f"/api/v1/person/{person.get_json()['id']}").get_json()["result"]
    assert shown["customer_number"] and shown["last_name"] == "Weiß"
    listing = client.get("/api/v1/affiliation/").get_json()
    assert listing["result"][0]["may_collect_mail"] is True


def test_customer_number_is_read_only(app, api):
    with app.app_context():
        p = f.person()
        pid, number = p.id, p.customer_number
    client = api("staff")
    response = client.put(f"/api/v1/person/{pid}", json={"customer_number": "000999"})
    assert response.status_code in (400, 422)
    created = client.post(
        "/api/v1/person/", json={"first_name": "A", "last_name": "B", "customer_number": "X1"}
    )
    assert created.status_code in (400, 422)
    assert client.get(f"/api/v1/person/{pid}").get_json()["result"]["customer_number"] == number


def test_duplicate_tax_number_answers_409_not_500(app, api):
    client = api("staff")
    body = {"name": "Duna Kft.", "tax_number": "11111111-2-41"}
    assert client.post("/api/v1/organization/", json=body).status_code == 201
    second = client.post("/api/v1/organization/", json={**body, "name": "Other Kft."})
    assert second.status_code == 409
    assert "tax number" in second.get_json()["message"]
    with app.app_context():
        assert len(db.session.scalars(select(Organization)).all()) == 1


def test_bad_input_answers_400_with_a_message(app, api):
    client = api("staff")
    for body in (
        {"first_name": "A", "last_name": "B", "email": "nope"},
        {"first_name": "A", "last_name": "B", "phone": "call me"},
        {"first_name": "A", "last_name": "B", "status": "vip"},
        {"first_name": "", "last_name": "B"},
    ):
        response = client.post("/api/v1/person/", json=body)
        assert 400 <= response.status_code < 500, body
        assert response.get_json()["message"]
    ghost = client.post("/api/v1/note/", json={"partner": 999999, "body": "x"})
    assert ghost.status_code == 400
    assert ghost.get_json()["message"] == {"partner": ["No such record: 999999."]}
    missing = client.post("/api/v1/note/?_l_=pl", json={"body": "x"})
    assert missing.status_code == 400 and "partner" in missing.get_json()["message"]
    assert missing.get_json()["message"]["partner"] != ["Missing data for required field."]
    ghost_task = client.post(
        "/api/v1/task/",
        json={
            "title": "x",
            "collaborators": [1, 424242],
            "starts_at": "2030-01-01T10:00:00",
            "due_at": "2030-01-01T11:00:00",
        },
    )
    assert ghost_task.status_code == 400
    with app.app_context():
        from app.models import Partner

        assert db.session.scalar(select(Partner.id)) is None


def test_api_messages_follow_the_requested_language(app, api):
    client = api("staff")
    response = client.post(
        "/api/v1/person/?_l_=de", json={"first_name": "A", "last_name": "B", "email": "nope"}
    )
    assert response.status_code == 400
    assert "E-Mail" in response.get_json()["message"]
