"""Quotes: an offer's product lines (its amount is their sum), sending numbered versions of
its quote (PDF in the partner's language, e-mailed to the contact person), the answer in the
Client Zone or recorded by staff, and who may see what."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import func, select

from app.errors import OfferClosed, ZoneForbidden
from app.extensions import db
from app.models import Offer, OfferLine, Organization, Outbox, Product, Quote
from app.services import acting_as, quotes, zone
from tests import factories as f
from tests.conftest import at_once, user_id
from tests.pdf_text import overlapping, page_text
from tests.test_zone import contact, invite, zone_login

LANGUAGES = ["en", "hu", "pl", "de", "ru"]
NUMBER = re.compile(r"^Q-\d{4}/\d{6}$")


@dataclass
class Sales:
    company: int
    offer: int
    representative: int  # a contact person who may represent the company
    other: int  # a contact person who may not
    product: int


def make_sales(app, language="hu", name="Alfa Kft.") -> Sales:
    with app.app_context():
        company = f.company(name=name, language=language, tax_number="12345678-1-42")
        f.address(company, type="billing", street="Váci utca 1", city="Budapest")
        other = f.person(first_name="Olga", last_name="Other", email="olga@alfa.example")
        boss = f.person(
            first_name="Réka", last_name="Rendelő", email="reka@alfa.example", language=language
        )
        f.affiliation(other, company, is_contact_person=True)
        f.affiliation(boss, company, is_contact_person=True, may_represent=True)
        with acting_as(None):
            product = Product(
                code="SRV-ACC", name="Könyvelés", unit="month", price=Decimal("45000"), vat_rate=27
            )
            offer = Offer(
                name="Könyvelés 2027",
                partner_id=company.id,
                owner_id=user_id(app, "manager"),
                amount=1,
                currency="HUF",
            )
            db.session.add_all([product, offer])
        return Sales(company.id, offer.id, boss.id, other.id, product.id)


LINES = [
    {"product": None, "description": "Bérszámfejtés", "quantity": 3, "unit": "month",
     "unit_price": 25000, "discount": 10, "vat_rate": 27},
]  # fmt: skip


def with_lines(app, sales: Sales, lines=None) -> None:
    lines = lines or [{"product": sales.product, "quantity": 12}, *LINES]
    with app.app_context():
        quotes.save_lines(sales.offer, user_id(app, "staff"), lines)


def counter_value(app, year: int) -> int | None:
    from app.models import Counter

    with app.app_context():
        return db.session.scalar(select(Counter.value).where(Counter.name == f"quote:{year}"))


# --- lines and the offer's amount -------------------------------------------------------------


def test_lines_fill_from_the_product_and_make_the_offers_amount(app, ctx):
    sales = make_sales(app)
    quotes.save_lines(sales.offer, None, [{"product": sales.product, "quantity": 2}, *LINES])
    offer = db.session.get(Offer, sales.offer)
    first, second = offer.lines
    assert (first.description, first.unit, first.unit_price, first.vat_rate) == (
        "Könyvelés",
        "month",
        Decimal("45000.00"),
        Decimal("27.00"),
    )
    assert second.net == Decimal("67500.00")  # 3 × 25,000 less 10 %
    assert offer.amount == Decimal("157500.00")
    # The typed amount gives way to the lines, through any entry point.
    with acting_as(None):
        offer.amount = 5
    db.session.refresh(offer)
    assert offer.amount == Decimal("157500.00")
    # Without lines the typed amount stays.
    quotes.save_lines(sales.offer, None, [])
    with acting_as(None):
        offer.amount = 5
    assert db.session.get(Offer, sales.offer).amount == Decimal("5.00")


@pytest.mark.parametrize(
    "line, field",
    [
        ({"description": "X", "quantity": 0}, "quantity"),
        ({"description": "X", "discount": 120}, "discount"),
        ({"description": "X", "vat_rate": -1}, "vat_rate"),
        ({"description": "X", "unit_price": -5}, "unit_price"),
        ({"description": "X", "quantity": "many"}, "quantity"),
        ({"quantity": 1}, "description"),
        ({"product": 999999}, "lines"),
    ],
)
def test_bad_lines_are_refused_and_nothing_changes(app, api, line, field):
    sales = make_sales(app)
    with_lines(app, sales)
    answer = api("staff").put(f"/api/v1/offer/{sales.offer}", json={"lines": [line]})
    assert answer.status_code == 400, answer.get_json()
    with app.app_context():
        offer = db.session.get(Offer, sales.offer)
        assert len(offer.lines) == 2 and offer.amount == Decimal("607500.00")


def test_lines_are_read_and_written_through_the_offer_api(app, api):
    sales = make_sales(app)
    client = api("staff")
    created = client.post(
        "/api/v1/offer/",
        json={
            "name": "Bérszámfejtés",
            "partner": sales.company,
            "amount": 1,
            "lines": [{"product": sales.product, "quantity": 2, "discount": 50}],
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["result"]["amount"] == 45000.0 or str(body["result"]["amount"]) == "45000.00"
    assert [line["description"] for line in body["result"]["lines"]] == ["Könyvelés"]
    shown = client.get(f"/api/v1/offer/{body['id']}").get_json()["result"]
    assert shown["lines"][0]["unit_price"] == "45000.00" and shown["lines"][0]["net"] == "45000.00"
    changed = client.put(f"/api/v1/offer/{body['id']}", json={"name": "B2", "lines": LINES})
    assert changed.status_code == 200, changed.get_json()
    assert [line["net"] for line in changed.get_json()["result"]["lines"]] == ["67500.00"]
    with app.app_context():
        assert db.session.get(Offer, body["id"]).amount == Decimal("67500.00")


def test_lines_of_a_won_or_lost_offer_and_zone_users_change_nothing(app, ctx):
    sales = make_sales(app)
    quotes.save_lines(sales.offer, None, LINES)
    offer = db.session.get(Offer, sales.offer)
    with acting_as(None):
        offer.status = "lost"
    with pytest.raises(OfferClosed):
        quotes.save_lines(sales.offer, None, [{"description": "Más", "unit_price": 1}])
    db.session.rollback()
    with pytest.raises(OfferClosed), acting_as(None):
        db.session.get(Offer, sales.offer).lines[0].quantity = 7
    db.session.rollback()
    assert [line.quantity for line in db.session.get(Offer, sales.offer).lines] == [3]


# --- sending ----------------------------------------------------------------------------------


def test_sending_freezes_a_numbered_version_and_mails_the_pdf_to_the_representative(app, ctx):
    sales = make_sales(app)
    quotes.save_lines(sales.offer, None, [{"product": sales.product, "quantity": 12}, *LINES])
    before = counter_value(app, date.today().year) or 0
    quote = quotes.send_quote(sales.offer, user_id(app, "staff"))
    assert NUMBER.match(quote.number) and quote.version == 1 and quote.status == "sent"
    assert int(quote.number[-6:]) == before + 1
    assert quote.contact_id == sales.representative
    assert quote.valid_until == date.today() + timedelta(days=30)
    assert (quote.net_total, quote.gross_total) == (Decimal("607500.00"), Decimal("771525.00"))
    assert [line.description for line in quote.lines] == ["Könyvelés", "Bérszámfejtés"]
    mail = db.session.scalar(select(Outbox).where(Outbox.key == f"quote:{quote.id}"))
    assert mail.recipient == "reka@alfa.example"
    assert quote.number in mail.subject and "Árajánlat" in mail.subject  # Hungarian partner
    assert quote.filename in mail.attachments
    # Sending again without a change is refused; the counter is not touched.
    with pytest.raises(Exception, match="already has these lines"):
        quotes.send_quote(sales.offer, None)
    db.session.rollback()
    quotes.save_lines(sales.offer, None, LINES)
    second = quotes.send_quote(sales.offer, None, contact_id=sales.other)
    assert (second.number, second.version, second.contact_id) == (quote.number, 2, sales.other)
    assert db.session.get(Quote, quote.id).status == "superseded"
    assert (counter_value(app, date.today().year) or 0) == before + 1
    # Each version stays as it was sent.
    assert len(db.session.get(Quote, quote.id).lines) == 2 and len(second.lines) == 1


def test_sending_is_refused_without_lines_contact_or_seller_data(app, ctx):
    sales = make_sales(app)
    with pytest.raises(Exception, match="Add product lines"):
        quotes.send_quote(sales.offer, None)
    db.session.rollback()
    quotes.save_lines(sales.offer, None, LINES)
    lone = f.person(first_name="Nincs", last_name="Címe")
    with pytest.raises(Exception, match="Choose a contact person"):
        quotes.send_quote(sales.offer, None, contact_id=lone.id)
    db.session.rollback()
    from app.services.company import save_our_company

    save_our_company(None, tax_number=None)
    with pytest.raises(Exception, match="tax number"):
        quotes.send_quote(sales.offer, None)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Quote.id))) == 0


def test_send_and_accept_through_the_api(app, api):
    sales = make_sales(app)
    with_lines(app, sales)
    staff = api("staff")
    sent = staff.post(f"/api/v1/offer/{sales.offer}/send", json={"contact": sales.other})
    assert sent.status_code == 201, sent.get_json()
    result = sent.get_json()["result"]
    assert NUMBER.match(result["number"]) and result["version"] == 1
    assert result["contact"] == sales.other and result["valid_until"]
    again = staff.post(f"/api/v1/offer/{sales.offer}/send", json={})
    assert again.status_code == 409 and "already has these lines" in again.get_json()["message"]
    assert staff.post(f"/api/v1/offer/{sales.offer}/send", json={"contact": "x"}).status_code == 400
    assert staff.post("/api/v1/offer/999999/send", json={}).status_code == 404
    assert api("readonly").post(f"/api/v1/offer/{sales.offer}/send", json={}).status_code == 403
    shown = staff.get(f"/api/v1/offer/{sales.offer}").get_json()["result"]
    assert [q["version"] for q in shown["quotes"]] == [1]
    accepted = staff.post(
        f"/api/v1/offer/{sales.offer}/accept", json={"name": "Réka Rendelő", "comment": "Mehet"}
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["result"]["status"] == "accepted"
    with app.app_context():
        offer = db.session.get(Offer, sales.offer)
        quote = db.session.get(Quote, sent.get_json()["id"])
        assert offer.status == "won"
        assert (quote.decided_by_name, quote.decision_comment) == ("Réka Rendelő", "Mehet")
    twice = staff.post(f"/api/v1/offer/{sales.offer}/accept", json={})
    assert twice.status_code == 409
    # A won offer's lines and quote stay as they are.
    assert staff.put(f"/api/v1/offer/{sales.offer}", json={"lines": LINES}).status_code == 409
    assert staff.post(f"/api/v1/offer/{sales.offer}/send", json={}).status_code == 409


def test_staff_record_a_decline_and_the_offer_stays_pending(app, api):
    sales = make_sales(app)
    with_lines(app, sales)
    staff = api("staff")
    assert staff.post(f"/api/v1/offer/{sales.offer}/accept", json={}).status_code == 409
    staff.post(f"/api/v1/offer/{sales.offer}/send", json={})
    declined = staff.post(f"/api/v1/offer/{sales.offer}/accept", json={"decision": "declined"})
    assert declined.get_json()["result"]["status"] == "declined"
    with app.app_context():
        assert db.session.get(Offer, sales.offer).status == "pending"
