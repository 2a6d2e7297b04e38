"""REST resources of issue 4: document, product, invoice, payment."""

import io

from sqlalchemy import select

from app.extensions import db
from app.models import Document, Invoice
from tests import factories as f

PDF = b"%PDF-1.4\n%%EOF\n"


def test_invoice_draft_with_lines_then_issue_and_pay(app, api):
    with app.app_context():
        pid = f.company(name="Nordsee Fisch GmbH").id
    finance = api("finance")
    created = finance.post(
        "/api/v1/invoice/",
        json={
            "partner": pid,
            "currency": "EUR",
            "number": "X-1",
            "status": "paid",
            "lines": [
                {"description": "Beratung", "quantity": 2, "unit_price": 150, "vat_rate": 19}
            ],
        },
    )
    assert created.status_code == 201, created.get_json()
    iid = created.get_json()["id"]
    assert created.get_json()["result"] == {
        "number": None,
        "status": "draft",
        "total": "357.00",
        "currency": "EUR",
    }
    issued = finance.post(f"/api/v1/invoice/{iid}/issue", json={})
    assert issued.status_code == 200 and issued.get_json()["result"]["number"].endswith("/000001")
    assert finance.post(f"/api/v1/invoice/{iid}/issue", json={}).status_code == 409
    shown = finance.get(f"/api/v1/invoice/{iid}").get_json()["result"]
    assert shown["status"] == "issued" and float(shown["gross_total"]) == 357.0
    too_much = finance.post(
        "/api/v1/payment/", json={"invoice": iid, "amount": 400, "paid_on": "2026-05-01"}
    )
    assert too_much.status_code == 400
    paid = finance.post(
        "/api/v1/payment/", json={"invoice": iid, "amount": 357, "paid_on": "2026-05-01"}
    )
    assert paid.status_code == 201, paid.get_json()
    with app.app_context():
        assert db.session.get(Invoice, iid).status == "paid"
    assert api("staff").post(
        "/api/v1/invoice/", json={"partner": pid, "lines": []}
    ).status_code in (401, 403)
    bad = finance.post(
        "/api/v1/invoice/",
        json={"partner": pid, "lines": [{"description": "x", "quantity": "many"}]},
    )
    assert bad.status_code == 400


def test_product_resource(app, api):
    finance = api("finance")
    created = finance.post(
        "/api/v1/product/",
        json={
            "code": "P-1",
            "name": "Licenc",
            "unit": "db",
            "price": 9900,
            "currency": "HUF",
            "vat_rate": 27,
            "active": True,
        },
    )
    assert created.status_code == 201, created.get_json()
    assert (
        finance.post(
            "/api/v1/product/", json={"code": "P-1", "name": "Dup", "unit": "db"}
        ).status_code
        == 409
    )
    assert api("staff").get("/api/v1/product/").get_json()["count"] == 1


def test_document_upload_and_download_keep_the_visibility_rules(app):
    with app.app_context():
        pid = f.company(name="Rhein GmbH").id

    def client(username):
        http = app.test_client()
        token = http.post(
            "/api/v1/security/login",
            json={"username": username, "password": f"{username}-pw", "provider": "db"},
        ).get_json()["access_token"]
        return http, {"Authorization": f"Bearer {token}"}

    staff, headers = client("staff")
    created = staff.post(
        "/api/v1/document/",
        headers=headers,
        data={
            "file": (io.BytesIO(PDF), "secret.pdf"),
            "partner": str(pid),
            "visibility": "uploader",
        },
        content_type="multipart/form-data",
    )
    assert created.status_code == 201, created.get_json()
    did = created.get_json()["id"]
    bad = staff.post(
        "/api/v1/document/",
        headers=headers,
        data={"file": (io.BytesIO(b"MZ"), "tool.exe"), "partner": str(pid)},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400
    download = staff.get(f"/api/v1/document/{did}/download", headers=headers)
    assert download.status_code == 200 and download.data == PDF
    other, other_headers = client("manager")
    assert other.get(f"/api/v1/document/{did}/download", headers=other_headers).status_code == 404
    assert other.get(f"/api/v1/document/{did}", headers=other_headers).status_code == 404
    assert other.get("/api/v1/document/", headers=other_headers).get_json()["count"] == 0
    assert staff.get("/api/v1/document/", headers=headers).get_json()["count"] == 1
    with app.app_context():
        assert len(db.session.scalars(select(Document)).all()) == 1
