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

from app.errors import OfferLocked, ZoneForbidden
from app.extensions import db
from app.models import Offer, OfferLine, Outbox, Product, Quote
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


def make_sales(app, language="hu", name="Alfa Kft.", tax_number="12345678-1-42") -> Sales:
    with app.app_context():
        company = f.company(name=name, language=language, tax_number=tax_number)
        f.address(company, type="billing", street="Váci utca 1", city="Budapest")
        other = f.person(first_name="Olga", last_name="Other", email="olga@alfa.example")
        boss = f.person(
            first_name="Réka", last_name="Rendelő", email="reka@alfa.example", language=language
        )
        f.affiliation(other, company, is_contact_person=True)
        f.affiliation(boss, company, is_contact_person=True, may_represent=True)
        with acting_as(None):
            product = db.session.scalar(
                select(Product).where(Product.code == "SRV-ACC")
            ) or Product(
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
        ({"description": "X", "quantity": 999999999, "unit_price": 999999999999}, "amount"),
        ({"description": "X", "quantity": 1e30}, "quantity"),
        ("line", "lines"),
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
    with pytest.raises(OfferLocked):
        quotes.save_lines(sales.offer, None, [{"description": "Más", "unit_price": 1}])
    db.session.rollback()
    with pytest.raises(OfferLocked), acting_as(None):
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
    # A won offer's lines and quote stay as they are; its lines sent back as read change nothing.
    assert staff.put(f"/api/v1/offer/{sales.offer}", json={"lines": LINES}).status_code == 409
    same = staff.put(f"/api/v1/offer/{sales.offer}", json={"lines": shown["lines"]})
    assert same.status_code == 200, same.get_json()
    assert staff.post(f"/api/v1/offer/{sales.offer}/send", json={}).status_code == 409


def test_the_quote_of_an_offer_set_lost_is_no_longer_accepted(app, api):
    sales = make_sales(app)
    with_lines(app, sales)
    staff = api("staff")
    assert staff.post(f"/api/v1/offer/{sales.offer}/send", json={}).status_code == 201
    assert staff.put(f"/api/v1/offer/{sales.offer}", json={"status": "lost"}).status_code == 200
    refused = staff.post(f"/api/v1/offer/{sales.offer}/accept", json={})
    assert refused.status_code == 409 and "lost" in refused.get_json()["message"]
    with app.app_context():
        assert db.session.scalar(select(Quote.status)) == "sent"
        assert db.session.get(Offer, sales.offer).status == "lost"


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


# --- the screens ------------------------------------------------------------------------------


def test_the_offer_page_sends_the_quote_and_lists_its_versions(app, login):
    sales = make_sales(app)
    with_lines(app, sales)
    staff = login("staff")
    page = staff.get(f"/offers/show/{sales.offer}").get_data(as_text=True)
    assert "Könyvelés" in page and "send-quote" in page
    # The representative is chosen by default.
    assert re.search(rf'<option value="{sales.representative}" selected>', page)
    answer = staff.post(
        f"/offers/{sales.offer}/send-quote", data={"contact": sales.other}, follow_redirects=True
    )
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "was sent to Olga Other" in text
    with app.app_context():
        quote = db.session.scalar(select(Quote))
        assert (quote.contact_id, quote.version) == (sales.other, 1)
    assert quote.number in text and f"/quote/{quote.id}/pdf" in text
    # Again without a change: the message, and nothing new.
    again = staff.post(f"/offers/{sales.offer}/send-quote", data={}, follow_redirects=True)
    assert "already has these lines" in again.get_data(as_text=True)
    pdf = staff.get(f"/quote/{quote.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert login("readonly").post(f"/offers/{sales.offer}/send-quote").status_code == 403
    # Staff record the acceptance by hand.
    recorded = staff.post(
        f"/offers/{sales.offer}/answer",
        data={"accept": "1", "name": "Réka Rendelő", "comment": "Telefonon"},
        follow_redirects=True,
    )
    assert recorded.status_code == 200
    with app.app_context():
        assert db.session.get(Offer, sales.offer).status == "won"
        assert db.session.get(Quote, quote.id).decided_by_name == "Réka Rendelő"
    assert staff.post(f"/offers/{sales.offer}/answer", data={"accept": "x"}).status_code == 400


def test_the_data_sheets_offers_tab_sends_the_quote(app, login):
    sales = make_sales(app)
    with_lines(app, sales)
    staff = login("staff")
    tab = staff.get(f"/partner/{sales.company}/offers").get_data(as_text=True)
    assert f"/offers/{sales.offer}/send-quote" in tab and "data-confirm" in tab
    here = f"/partner/{sales.company}/offers"
    answer = staff.post(f"/offers/{sales.offer}/send-quote", data={"next": here})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(here)
    tab = staff.get(here).get_data(as_text=True)
    with app.app_context():
        quote = db.session.scalar(select(Quote))
    assert f"{quote.number} v1" in tab


# --- the PDF ----------------------------------------------------------------------------------

EXPECTED = {
    "en": ("Quote", "Valid until", "Discount"),
    "hu": ("Árajánlat", "Érvényes", "Kedvezmény"),
    "pl": ("Oferta", "Ważna do", "Rabat"),
    "de": ("Angebot", "Gültig bis", "Rabatt"),
    "ru": ("Коммерческое предложение", "Действительно до", "Скидка"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_quote_pdf_in_every_language_has_every_glyph_and_no_overlaps(app, ctx, language):
    from app.services.company import save_our_company

    f.our_company(
        name="Nagy- és Kiskereskedelmi Szolgáltató és Tanácsadó Korlátolt Felelősségű Társaság",
        footer="Köszönjük! Dziękujemy! Vielen Dank! Спасибо! " * 6,
    )
    save_our_company(None, quote_valid_days=45)
    sales = make_sales(app, language=language, name="Łódź Żółć Größe Ünnep Иванов Kft.")
    quotes.save_lines(
        sales.offer,
        None,
        [
            {"product": sales.product, "quantity": 12},
            {"description": "Ő ű ą ł ż ß и — Buchhaltungs- und Lohnabrechnungsdienstleistungen",
             "quantity": 2.5, "unit": "hour", "unit_price": 18000, "discount": 12.5,
             "vat_rate": 5},
        ],
    )  # fmt: skip
    quote = quotes.send_quote(sales.offer, None, today=date(2026, 3, 1))
    pdf = quotes.render_pdf(quote)
    text = page_text(pdf)
    title, valid, discount = EXPECTED[language]
    assert title in text and valid in text and discount in text
    assert quote.number in text and "Łódź Żółć Größe Ünnep Иванов Kft." in text
    assert "Ő ű ą ł ż ß и" in text  # every glyph drawn, none missing
    assert "12345678-2-41" in text and "12345678-1-42" in text  # seller and buyer tax numbers
    assert overlapping(pdf) == []


def test_a_version_keeps_the_seller_it_was_sent_with(app, ctx):
    sales = make_sales(app)
    quotes.save_lines(sales.offer, None, LINES)
    quote = quotes.send_quote(sales.offer, None)
    f.our_company(name="Új Név Kft.")
    text = page_text(quotes.render_pdf(db.session.get(Quote, quote.id)))
    assert "Dossier Minta Kft." in text and "Új Név Kft." not in text


# --- the Client Zone --------------------------------------------------------------------------


@dataclass
class Zone:
    sales: Sales
    anna: int  # zone user of the offer's company, the offer shared with her
    bela: int  # zone user of another company


@pytest.fixture
def zone_world(app, mailbox) -> Zone:
    sales = make_sales(app)
    with app.app_context():
        beta = f.company(name="Béta Bt.").id
    anna_person = contact(app, sales.company, "Anna", "Alfa", "anna@alfa.example")
    bela_person = contact(app, beta, "Béla", "Béta", "bela@beta.example")
    anna = invite(app, anna_person, sales.company, "client", "anna-password")
    bela = invite(app, bela_person, beta, "client", "bela-password")
    with_lines(app, sales)
    with app.app_context():
        zone.share("offer", sales.offer, anna, "watcher", user_id(app, "staff"))
    return Zone(sales, anna, bela)


def sent(app, sales: Sales, **kw) -> int:
    with app.test_request_context():
        return quotes.send_quote(sales.offer, user_id(app, "staff"), **kw).id


def test_the_client_sees_downloads_and_accepts_the_quote_in_the_zone(app, zone_world, login):
    sales = zone_world.sales
    quote_id = sent(app, sales)
    anna = zone_login(login, "anna")
    listed = anna.get("/portal/quotes/").get_data(as_text=True)
    with app.app_context():
        number = db.session.get(Quote, quote_id).number
    assert number in listed and "answer-quote" in listed and "data-confirm" in listed
    record = anna.get(f"/portal/offer/{sales.offer}").get_data(as_text=True)
    assert number in record and f"/portal/quotes/{quote_id}/pdf" in record
    pdf = anna.get(f"/portal/quotes/{quote_id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert anna.get(f"/quote/{quote_id}/pdf").status_code in (403, 404)  # the staff's door
    answer = anna.post(
        f"/portal/quotes/{quote_id}/answer",
        data={"accept": "1", "comment": "Rendben, várjuk a szerződést."},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    with app.app_context():
        quote = db.session.get(Quote, quote_id)
        assert quote.status == "accepted" and quote.decided_by_id == zone_world.anna
        assert quote.decided_by_name == "Anna Alfa" and quote.decided_at is not None
        assert quote.decision_comment == "Rendben, várjuk a szerződést."
        assert db.session.get(Offer, sales.offer).status == "won"
        mail = db.session.scalar(select(Outbox).where(Outbox.key == f"quote-answer:{quote_id}"))
        assert mail.recipient == "manager@example.com" and number in mail.subject
    # Answered: no second answer, and the offer's lines stay.
    again = anna.post(f"/portal/quotes/{quote_id}/answer", data={"accept": "0"})
    assert again.status_code == 302
    with app.app_context():
        assert db.session.get(Quote, quote_id).status == "accepted"


def test_a_superseded_or_expired_version_cannot_be_answered(app, zone_world, login):
    sales = zone_world.sales
    old = sent(app, sales, today=date.today() - timedelta(days=40))
    anna = zone_login(login, "anna")
    assert "answer-quote" not in anna.get("/portal/quotes/").get_data(as_text=True)
    anna.post(f"/portal/quotes/{old}/answer", data={"accept": "1"})
    with app.app_context():
        assert db.session.get(Quote, old).status == "sent"  # out of date: refused
        quotes.save_lines(sales.offer, None, LINES)
    new = sent(app, sales)
    anna.post(f"/portal/quotes/{old}/answer", data={"accept": "1"})
    anna.post(f"/portal/quotes/{new}/answer", data={"accept": "0"})
    with app.app_context():
        assert db.session.get(Quote, old).status == "superseded"
        assert db.session.get(Quote, new).status == "declined"
        assert db.session.get(Offer, sales.offer).status == "pending"


def test_zone_users_of_another_partner_or_without_the_share_get_404(app, zone_world, login):
    sales = zone_world.sales
    quote_id = sent(app, sales)
    bela = zone_login(login, "bela")
    assert bela.get(f"/portal/quotes/{quote_id}/pdf").status_code == 404
    assert bela.post(f"/portal/quotes/{quote_id}/answer", data={"accept": "1"}).status_code == 404
    with app.app_context():
        number = db.session.get(Quote, quote_id).number
    assert number not in bela.get("/portal/quotes/").get_data(as_text=True)
    with app.app_context():
        share = zone.share_of("offer", zone_world.anna, sales.offer)
        zone.unshare(share.id, user_id(app, "staff"))
    anna = zone_login(login, "anna")
    assert anna.get(f"/portal/quotes/{quote_id}/pdf").status_code == 404
    assert anna.post(f"/portal/quotes/{quote_id}/answer", data={"accept": "1"}).status_code == 404
    with app.app_context():
        assert db.session.get(Quote, quote_id).status == "sent"
    # Zone users change no offer lines, through any entry point.
    from app import _request_user_roles
    from app.models import set_actor_roles_provider

    with app.app_context():
        set_actor_roles_provider(lambda: {"Client"})
        try:
            with pytest.raises(ZoneForbidden), acting_as(zone_world.anna):
                db.session.add(OfferLine(offer_id=sales.offer, description="x", unit_price=1))
            with pytest.raises(ZoneForbidden), acting_as(zone_world.anna):
                db.session.get(Offer, sales.offer).lines[0].quantity = 99
            with pytest.raises(ZoneForbidden), acting_as(zone_world.anna):
                quotes.set_lines(db.session.get(Offer, sales.offer), [])
        finally:
            set_actor_roles_provider(_request_user_roles)
        assert len(db.session.get(Offer, sales.offer).lines) == 2


# --- at once ----------------------------------------------------------------------------------


def test_quotes_of_different_offers_sent_at_once_get_distinct_numbers(app, live_server):
    clients = [live_server.client().api_login("staff") for _ in range(2)]
    numbers = []
    for round_ in range(5):
        offers = [
            make_sales(app, name=f"Cég {round_}-{n}", tax_number=f"1000{round_}{n}")
            for n in range(2)
        ]
        for sales in offers:
            with_lines(app, sales)
        answers = at_once(
            *(
                partial(client.request, "POST", f"/api/v1/offer/{sales.offer}/send", json={})
                for client, sales in zip(clients, offers, strict=True)
            )
        )
        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        numbers += [a.get_json()["result"]["number"] for a in answers]
    assert len(set(numbers)) == len(numbers) == 10
    assert sorted(int(n[-6:]) for n in numbers) == list(range(1, 11))  # and no gaps


def test_the_same_offer_sent_twice_at_once_makes_one_version(app, live_server):
    sales = make_sales(app)
    with_lines(app, sales)
    clients = [live_server.client().api_login("staff") for _ in range(2)]
    for version in (1, 2, 3):
        if version > 1:
            with_lines(app, sales, [{"description": f"Változat {version}", "unit_price": 10}])
        answers = at_once(
            *(
                partial(client.request, "POST", f"/api/v1/offer/{sales.offer}/send", json={})
                for client in clients
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    with app.app_context():
        versions = db.session.scalars(select(Quote).order_by(Quote.version)).all()
        assert [(q.version, q.status) for q in versions] == [
            (1, "superseded"),
            (2, "superseded"),
            (3, "sent"),
        ]
        assert len({q.number for q in versions}) == 1


def test_two_answers_at_once_record_one_decision(app, live_server, zone_world):
    sales = zone_world.sales
    quote_id = sent(app, sales)
    zone_clients = [
        live_server.client().login("anna@alfa.example", "anna-password") for _ in range(2)
    ]
    staff = live_server.client().api_login("staff")
    answers = at_once(
        partial(
            zone_clients[0].post,
            f"/portal/quotes/{quote_id}/answer",
            {"accept": "1"},
            follow=False,
        ),
        partial(
            zone_clients[1].post,
            f"/portal/quotes/{quote_id}/answer",
            {"accept": "0"},
            follow=False,
        ),
        partial(staff.request, "POST", f"/api/v1/offer/{sales.offer}/accept", json={}),
    )
    assert [a.status_code for a in answers][:2] == [302, 302]
    with app.app_context():
        quote = db.session.get(Quote, quote_id)
        assert quote.status in ("accepted", "declined") and quote.decided_at is not None
        offer = db.session.get(Offer, sales.offer)
        assert offer.status == ("won" if quote.status == "accepted" else "pending")
        mails = db.session.scalar(
            select(func.count(Outbox.id)).where(Outbox.key.startswith("quote-answer:"))
        )
        assert mails == (0 if quote.decided_by_id == user_id(app, "staff") else 1)
    assert answers[2].status_code in (200, 409)


def test_the_validity_is_a_setting_of_our_company(app, api):
    finance = api("finance")
    assert finance.put("/api/v1/our_company/1", json={"quote_valid_days": 0}).status_code == 400
    assert finance.put("/api/v1/our_company/1", json={"quote_valid_days": "x"}).status_code == 400
    changed = finance.put("/api/v1/our_company/1", json={"quote_valid_days": 45})
    assert changed.status_code == 200 and changed.get_json()["result"]["quote_valid_days"] == 45
    sales = make_sales(app)
    with_lines(app, sales)
    result = api("staff").post(f"/api/v1/offer/{sales.offer}/send", json={}).get_json()["result"]
    assert result["valid_until"] == (date.today() + timedelta(days=45)).isoformat()


def test_quote_pages_take_a_bounded_number_of_queries(app, zone_world, login, queries):
    sales = zone_world.sales
    staff, anna = login("staff"), zone_login(login, "anna")
    pages = [
        (staff, f"/offers/show/{sales.offer}"),
        (staff, f"/partner/{sales.company}/offers"),
        (anna, "/portal/quotes/"),
        (anna, f"/portal/offer/{sales.offer}"),
    ]

    def counts() -> list[int]:
        found = []
        for client, url in pages:
            client.get(url)
            with queries() as q:
                assert client.get(url).status_code == 200, url
            found.append(q.count)
        return found

    sent(app, sales)
    few = counts()
    for n in range(4):
        with_lines(app, sales, [{"description": f"Változat {n}", "unit_price": 10 + n}] * (n + 2))
        sent(app, sales)
    assert all(after <= before for after, before in zip(counts(), few, strict=True)), few


def test_the_quote_reaches_the_contact_with_its_pdf_and_the_answer_reaches_the_owner(
    app, zone_world, login, mailbox
):
    import io

    from pypdf import PdfReader

    from tests.conftest import run_jobs

    sales = zone_world.sales
    with app.app_context():
        from app.services.users import save_settings

        save_settings(user_id(app, "manager"), locale="de")
    quote_id = sent(app, sales, contact_id=sales.other)  # Olga: no language, the partner's (hu)
    run_jobs(app)
    [message] = mailbox.to("olga@alfa.example")
    with app.app_context():
        quote = db.session.get(Quote, quote_id)
        number, filename = quote.number, quote.filename
    assert message["Subject"] == f"Árajánlat: {number} (1. változat)"
    assert "Tisztelt Olga Other!" in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == filename
    text = PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
    assert "Árajánlat" in text and number in text
    zone_login(login, "anna").post(
        f"/portal/quotes/{quote_id}/answer", data={"accept": "0", "comment": "Drága."}
    )
    run_jobs(app)
    [answer] = mailbox.to("manager@example.com")
    assert answer["Subject"] == f"Angebot {number} abgelehnt: „Könyvelés 2027“"
    body = answer.get_body(("plain",)).get_content()
    assert "Anna Alfa" in body and "Drága." in body and f"/offers/show/{sales.offer}" in body


def test_a_new_version_and_an_answer_to_the_old_one_at_once_never_both(
    app, live_server, zone_world
):
    sales = zone_world.sales
    anna = live_server.client().login("anna@alfa.example", "anna-password")
    staff = live_server.client().api_login("staff")
    outcomes = set()
    for round_ in range(4):
        with app.app_context():
            with acting_as(None):
                offer = Offer(name=f"Kör {round_}", partner_id=sales.company, currency="HUF")
                db.session.add(offer)
            offer_id = offer.id
            quotes.save_lines(offer_id, None, LINES)
            zone.share("offer", offer_id, zone_world.anna, "watcher", user_id(app, "staff"))
            first = quotes.send_quote(offer_id, None).id
            quotes.save_lines(offer_id, None, [{"description": "Új", "unit_price": round_ + 1}])
        sending, answering = at_once(
            partial(staff.request, "POST", f"/api/v1/offer/{offer_id}/send", json={}),
            partial(anna.post, f"/portal/quotes/{first}/answer", {"accept": "1"}, follow=False),
        )
        with app.app_context():
            old = db.session.get(Quote, first)
            versions = db.session.scalar(
                select(func.count(Quote.id)).where(Quote.offer_id == offer_id)
            )
            won = db.session.get(Offer, offer_id).status == "won"
        if old.status == "accepted":
            assert (sending.status_code, versions, won) == (409, 1, True)
        else:
            assert (old.status, old.decided_at, sending.status_code) == ("superseded", None, 201)
            assert (versions, won) == (2, False)
        assert answering.status_code == 302
        outcomes.add(old.status)
    assert outcomes <= {"accepted", "superseded"}
