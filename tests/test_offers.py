"""Offers: always pending when made, then won or lost; only a manager sets them back."""

from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Offer
from tests import factories as f


def _partner(app):
    with app.app_context():
        p = f.company(name="Spree Software AG")
        return p.id, p.customer_number


def test_a_new_offer_is_pending_whatever_the_form_sends(app, login):
    pid, number = _partner(app)
    staff = login("staff")
    form = staff.get(f"/offers/add?partner={number}").get_data(as_text=True)
    assert (
        f'<option value="{pid}" data-detail="{number}" selected>Spree Software AG</option>' in form
    )
    response = staff.post(
        "/offers/add",
        data={
            "name": "Website relaunch",
            "partner": str(pid),
            "amount": "1200000",
            "currency": "HUF",
            "payment_frequency": "monthly",
            "status": "won",
            "chance": "60",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    with app.app_context():
        offer = db.session.scalar(select(Offer))
        assert (offer.status, offer.partner_id) == ("pending", pid)
        assert offer.amount == Decimal("1200000")


def test_a_new_offer_is_pending_whatever_the_api_sends(app, api):
    pid, _ = _partner(app)
    client = api("staff")
    created = client.post(
        "/api/v1/offer/",
        json={
            "name": "Licences",
            "partner": pid,
            "amount": 500,
            "currency": "EUR",
            "payment_frequency": "yearly",
            "status": "won",
        },
    )
    assert created.status_code == 201, created.get_json()
    oid = created.get_json()["id"]
    assert client.get(f"/api/v1/offer/{oid}").get_json()["result"]["status"] == "pending"
    assert client.put(f"/api/v1/offer/{oid}", json={"status": "won"}).status_code == 200
    back = client.put(f"/api/v1/offer/{oid}", json={"status": "pending"})
    assert back.status_code == 403 and "manager" in back.get_json()["message"]
    assert api("manager").put(f"/api/v1/offer/{oid}", json={"status": "pending"}).status_code == 200
    bad = client.put(f"/api/v1/offer/{oid}", json={"status": "maybe"})
    assert bad.status_code == 400


def test_staff_cannot_reopen_a_decided_offer_through_the_form(app, login):
    pid, number = _partner(app)
    with app.app_context():
        from app.services import acting_as

        with acting_as(None):
            offer = Offer(name="Audit", partner_id=pid, amount=100, currency="EUR")
            db.session.add(offer)
        offer.status = "lost"
        db.session.commit()
        oid = offer.id
    data = {
        "name": "Audit",
        "partner": str(pid),
        "amount": "100",
        "currency": "EUR",
        "payment_frequency": "once",
        "status": "pending",
    }
    refused = login("staff").post(f"/offers/edit/{oid}", data=data, follow_redirects=True)
    assert "Only a manager" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Offer, oid).status == "lost"
    assert login("manager").post(f"/offers/edit/{oid}", data=data).status_code == 302
    with app.app_context():
        assert db.session.get(Offer, oid).status == "pending"


def test_offers_tab_shows_totals_per_status_and_forecast_groups(app, login):
    pid, number = _partner(app)
    with app.app_context():
        distributor = f.company(name="Isar Vertrieb GmbH")
        from app.services import acting_as

        with acting_as(None):
            db.session.add_all(
                [
                    Offer(
                        name="A",
                        partner_id=pid,
                        amount=1000,
                        currency="EUR",
                        chance=50,
                        distributor_id=distributor.id,
                        commission=100,
                        owner_id=1,
                    ),
                    Offer(name="B", partner_id=pid, amount=2000, currency="EUR", chance=25),
                ]
            )
    staff = login("staff")
    tab = staff.get(f"/partner/{pid}/offers").get_data(as_text=True)
    assert "€3,000.00" in tab
    forecast = staff.get("/forecast/?by=client").get_data(as_text=True)
    assert "Spree Software AG" in forecast and "€900.00" in forecast
    by_distributor = staff.get("/forecast/?by=distributor").get_data(as_text=True)
    assert "Isar Vertrieb GmbH" in by_distributor and "€400.00" in by_distributor
    assert staff.get("/forecast/?by=owner").status_code == 200


def test_an_unknown_partner_on_the_offer_form_is_a_clear_message(app, login):
    response = login("staff").post(
        "/offers/add",
        data={
            "name": "X",
            "partner": "999999",
            "amount": "1",
            "currency": "EUR",
            "payment_frequency": "once",
        },
    )
    assert response.status_code == 400
    assert "This choice does not exist or you may not see it." in response.get_data(as_text=True)
