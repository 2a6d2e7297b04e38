"""Exact under concurrency: parallel requests on a real threaded server never cross records,
lose an invoice number or overpay; a request that fails leaves nothing behind."""

from datetime import date
from decimal import Decimal
from functools import partial

from sqlalchemy import func, select

from app.extensions import db
from app.models import Contract, Counter, Invoice, InvoiceLine, Offer, Payment, Quota
from app.services import acting_as, invoicing
from tests import factories as f
from tests.conftest import at_once

ROUNDS = 20


def partner_id(app, name="Spree Software AG") -> int:
    with app.app_context():
        return f.company(name=name).id


def draft(app, pid: int) -> int:
    with app.app_context():
        invoice = invoicing.new_draft(pid, None, currency="HUF")
        invoicing.add_line(
            invoice.id,
            None,
            description="Support",
            quantity=1,
            unit_price=Decimal("1000"),
            vat_rate=27,
        )
        return invoice.id


def issued(app, pid: int) -> tuple[int, str]:
    """An issued invoice of 1270.00 HUF: its id and total."""
    iid = draft(app, pid)
    with app.app_context():
        return iid, str(invoicing.issue(iid, None).gross_total)


def counter(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(Counter.value).where(Counter.name == f"invoice:{date.today().year}")
        )


def test_simultaneous_edits_of_different_offers_never_cross(app, live_server):
    pid = partner_id(app)
    clients = [live_server.client().api_login("staff") for _ in range(4)]
    ids = []
    for n in range(len(clients)):
        created = clients[0].request(
            "POST",
            "/api/v1/offer/",
            json={"name": f"Offer {n}", "partner": pid, "amount": 100, "currency": "EUR"},
        )
        assert created.status_code == 201, created.text
        ids.append(created.get_json()["id"])
    for round_ in range(ROUNDS):
        names = {oid: f"Offer {oid}, round {round_}" for oid in ids}
        answers = at_once(
            *(
                partial(
                    client.request,
                    "PUT",
                    f"/api/v1/offer/{oid}",
                    json={"name": names[oid], "amount": oid},
                )
                for client, oid in zip(clients, ids, strict=True)
            )
        )
        assert [a.status_code for a in answers] == [200] * len(ids), [a.text for a in answers]
        assert [a.get_json()["result"]["name"] for a in answers] == list(names.values())
        with app.app_context():
            stored = {o.id: (o.name, o.amount) for o in db.session.scalars(select(Offer))}
        assert stored == {oid: (name, Decimal(oid)) for oid, name in names.items()}


def test_two_simultaneous_issue_calls_take_one_number(app, live_server):
    pid = partner_id(app)
    clients = [live_server.client().api_login("finance") for _ in range(2)]
    for round_ in range(1, ROUNDS + 1):
        iid = draft(app, pid)
        answers = at_once(
            *(
                partial(client.request, "POST", f"/api/v1/invoice/{iid}/issue", json={})
                for client in clients
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        number = next(a for a in answers if a.status_code == 200).get_json()["result"]["number"]
        assert number == f"{date.today().year}/{round_:06d}"
        assert counter(app) == round_
        with app.app_context():
            assert db.session.get(Invoice, iid).number == number


def test_two_simultaneous_issue_clicks_on_the_screen_take_one_number(app, live_server):
    pid = partner_id(app)
    clients = [live_server.client().login("finance") for _ in range(2)]
    for round_ in range(1, ROUNDS + 1):
        iid = draft(app, pid)
        page = f"/invoices/show/{iid}"
        answers = at_once(
            *(
                partial(
                    client.post,
                    f"/invoices/{iid}/issue",
                    headers={"Referer": live_server.url + page},
                )
                for client in clients
            )
        )
        number = f"{date.today().year}/{round_:06d}"
        issued_ = [a for a in answers if f"Invoice {number} was issued." in a.text]
        refused = [a for a in answers if "An invoice that is Issued cannot be changed" in a.text]
        assert len(issued_) == len(refused) == 1, [a.text[-2000:] for a in answers]
        assert counter(app) == round_
        with app.app_context():
            assert db.session.get(Invoice, iid).number == number


def payments_of(app, iid: int) -> tuple[int, str]:
    with app.app_context():
        count = db.session.scalar(select(func.count(Payment.id)).where(Payment.invoice_id == iid))
        return count, db.session.get(Invoice, iid).status


def test_two_simultaneous_full_payments_through_the_api_store_one(app, live_server):
    pid = partner_id(app)
    clients = [live_server.client().api_login("finance") for _ in range(2)]
    for _round in range(ROUNDS):
        iid, total = issued(app, pid)
        answers = at_once(
            *(
                partial(
                    client.request,
                    "POST",
                    "/api/v1/payment/",
                    json={"invoice": iid, "amount": total, "paid_on": "2026-05-01"},
                )
                for client in clients
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 400], [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 400).get_json()["message"]
        assert refused == "Only an issued, unpaid invoice can be paid."
        assert payments_of(app, iid) == (1, "paid")


def test_a_full_payment_on_the_screen_and_one_through_the_api_at_once_store_one(app, live_server):
    pid = partner_id(app)
    screen = live_server.client().login("finance")
    rest = live_server.client().api_login("finance")
    for _round in range(ROUNDS):
        iid, total = issued(app, pid)
        by_screen, by_api = at_once(
            partial(
                screen.post,
                f"/invoices/{iid}/payment",
                {"amount": total, "paid_on": "2026-05-01", "reference": "bank"},
            ),
            partial(
                rest.request,
                "POST",
                "/api/v1/payment/",
                json={"invoice": iid, "amount": total, "paid_on": "2026-05-01"},
            ),
        )
        screen_paid = "The payment was recorded." in by_screen.text
        assert screen_paid != (by_api.status_code == 201), (by_screen.text[-2000:], by_api.text)
        assert payments_of(app, iid) == (1, "paid")


def test_a_refused_invoice_post_leaves_no_draft_behind(app, api):
    pid = partner_id(app)
    finance = api("finance")
    bad_first = finance.post(
        "/api/v1/invoice/",
        json={
            "partner": pid,
            "lines": [{"description": "Support", "quantity": "many", "unit_price": 100}],
        },
    )
    bad_second = finance.post(
        "/api/v1/invoice/",
        json={
            "partner": pid,
            "lines": [
                {"description": "Support", "quantity": 1, "unit_price": 100, "vat_rate": 27},
                {"description": "Training", "quantity": 1, "unit_price": "a lot"},
            ],
        },
    )
    assert (bad_first.status_code, bad_second.status_code) == (400, 400)
    with app.app_context():
        assert db.session.scalar(select(func.count(Invoice.id))) == 0
        assert db.session.scalar(select(func.count(InvoiceLine.id))) == 0
    good = finance.post(
        "/api/v1/invoice/",
        json={
            "partner": pid,
            "lines": [
                {"description": "Support", "quantity": 2, "unit_price": 100, "vat_rate": 27},
                {"description": "Training", "quantity": 1, "unit_price": 50, "vat_rate": 27},
            ],
        },
    )
    assert good.status_code == 201, good.get_json()
    assert good.get_json()["result"]["total"] == "317.50"


def test_simultaneous_adds_from_related_lists_stay_with_their_parents(app, live_server):
    pid = partner_id(app)
    with app.app_context():
        with acting_as(None):
            contracts = [
                Contract(partner_id=pid, name=f"Support {n}", starts_on=date(2026, 1, 1))
                for n in range(4)
            ]
            db.session.add_all(contracts)
        ids = [c.id for c in contracts]
    clients = [live_server.client().login("admin") for _ in ids]
    for round_ in range(ROUNDS):
        answers = at_once(
            *(
                partial(
                    client.post,
                    f"/quotas/add?_flt_0_contract={cid}",
                    {
                        "name": f"Hours of {cid}, round {round_}",
                        "unit": "h",
                        "bought": "10",
                        "used": "0",
                    },
                )
                for client, cid in zip(clients, ids, strict=True)
            )
        )
        assert [a.status_code for a in answers] == [200] * len(ids)
    with app.app_context():
        quotas = db.session.scalars(select(Quota)).all()
        assert len(quotas) == ROUNDS * len(ids)
        assert all(q.name.startswith(f"Hours of {q.contract_id},") for q in quotas)


def test_two_zone_uploads_at_once_stay_within_the_partners_quota(
    app, live_server, mailbox, monkeypatch
):
    """Two contact persons of one company upload at the same moment, with room for one file:
    one is stored, the other refused (SQLite takes the write lock before the quota is read)."""
    from app.models import Comment
    from app.services import zone
    from tests.conftest import user_id
    from tests.test_zone import PDF, contact, invite, task

    monkeypatch.setitem(app.config, "ZONE_UPLOAD_QUOTA_MB", 1)
    alfa = partner_id(app, "Alfa Kft.")
    emails = {"anna": "anna@alfa.example", "adam": "adam@alfa.example"}
    users = {
        who: invite(
            app,
            contact(app, alfa, who.title(), "Alfa", email, "en"),
            alfa,
            "client",
            f"{who}-password",
        )
        for who, email in emails.items()
    }
    record = task(app, alfa, "Alfa anyagai")
    with app.app_context():
        for uid in users.values():
            zone.share("task", record, uid, "performer", user_id(app, "staff"))
    clients = {
        who: live_server.client().login(email, f"{who}-password") for who, email in emails.items()
    }
    file = PDF + b"x" * (600 * 1024)
    for round_ in range(5):
        at_once(
            *[
                partial(
                    client.post,
                    f"/portal/task/{record}/add",
                    files={"file": (f"{who}-{round_}.pdf", file)},
                )
                for who, client in clients.items()
            ]
        )
        with app.app_context():
            stored = db.session.scalars(select(Comment.id).where(Comment.kind == "file")).all()
            assert len(stored) == 1, round_
            db.session.delete(db.session.get(Comment, stored[0]))
            db.session.commit()
