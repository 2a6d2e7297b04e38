"""The OpenAPI document matches what the API answers: schemathesis, as admin against a running
server, finds no server error and no response that breaks the document."""

from __future__ import annotations

import io

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.extensions import db
from app.services import documents, invoicing
from tests import factories as f
from tests.conftest import user_id
from tests.test_zone import PDF

LANGUAGES = ["en", "hu", "pl", "de", "ru"]


@pytest.fixture
def token(live_server) -> str:
    response = requests.post(
        f"{live_server.url}/api/v1/security/login",
        json={"username": "admin", "password": "admin-pw", "provider": "db"},
        timeout=10,
    )
    return response.json()["access_token"]


@pytest.fixture
def records(app) -> dict[str, int]:
    """One record of each resource, so that generated ids sometimes find one (schemathesis's
    PUT and DELETE then change or delete it: that is expected)."""
    admin = user_id(app, "admin")
    with app.test_request_context():
        person, company = f.person(email="a@example.com"), f.company()
        affiliation = f.affiliation(person, company)
        address, code = f.address(person), f.code()
        note = f.note(person, admin)
        db.session.flush()
        invoice = invoicing.new_draft(company.id, admin)
        invoicing.add_line(
            invoice.id, admin, description="Audit", quantity=1, unit_price=1000, vat_rate=27
        )
        invoicing.issue(invoice.id, admin)
        document = documents.attach(company.id, admin, "a.pdf", io.BytesIO(PDF))
        from app.models import Offer, Payment, Product, Task
        from app.services import acting_as

        with acting_as(admin):
            offer = Offer(name="CRM", partner=company, amount=100)
            task = Task(
                title="Call",
                partner=company,
                responsible_id=admin,
                starts_at=invoice.created_at,
                due_at=invoice.created_at,
            )
            product = Product(code="P1", name="Audit", unit="pc", price=1000)
            payment = Payment(invoice=invoice, amount=10)
            invoicing.settle(payment, invoice)
            db.session.add_all([offer, task, product, payment])
        db.session.commit()
        return {
            "person": person.id,
            "organization": company.id,
            "affiliation": affiliation.id,
            "address": address.id,
            "code": code.id,
            "note": note.id,
            "invoice": invoice.id,
            "document": document.id,
            "offer": offer.id,
            "task": task.id,
            "product": product.id,
            "payment": payment.id,
        }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_info_answers_labels_not_the_catalogue_header(app, api, lang):
    info = api("admin").get(f"/api/v1/offer/_info?_l_={lang}").get_json()
    for column in info["add_columns"] + info["edit_columns"]:
        assert "Project-Id-Version" not in column["description"] + column["label"]
        assert column["label"]


def test_custom_routes_declare_their_parameters_and_answers(app, api):
    spec = api("admin").get("/api/v1/_openapi").get_json()
    for path, method in (
        ("/api/v1/invoice/{pk}/issue", "post"),
        ("/api/v1/document/{pk}/download", "get"),
        ("/api/v1/person/{pk}/zone_invite", "post"),
    ):
        operation = spec["paths"][path][method]
        assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == ["pk"]
        assert {"200", "201"} & set(operation["responses"])


def answers_as_documented(operation, headers: dict, existing: int | None) -> None:
    """A few generated requests of one operation; raises the first failure."""

    @settings(
        max_examples=4,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case):
        # Half of the generated ids point at a record that exists.
        pk = (case.path_parameters or {}).get("pk")
        if isinstance(pk, int) and pk % 2 == 0 and existing:
            case.path_parameters["pk"] = existing
        case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )

    check()


def test_the_api_answers_as_its_openapi_document_says(live_server, token, records):
    """Every operation, as admin (about half a minute); locally, run schemathesis's
    `st run <server>/api/v1/_openapi` for longer."""
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/_openapi", headers=headers)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            answers_as_documented(operation, headers, records.get(operation.path.split("/")[3]))
        except Exception as error:  # the operation's first failure, as schemathesis says
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
