"""Orders: one per accepted quote with its lines and an O- number, statuses, invoicing in full
or in part never beyond the ordered quantities (also at once, on a running server), the PDF
in five languages, the e-mail, the screens, the REST API and the Client Zone."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.errors import DomainError, InvalidValue, OrderLocked
from app.extensions import db
from app.models import (
    Counter,
    Invoice,
    Offer,
    Order,
    OrderLine,
    Outbox,
    Quote,
    QuoteLine,
)
from app.services import acting_as, invoicing, orders
from app.services.company import set_logo
from tests import factories as f
from tests.conftest import at_once
from tests.pdf_text import overlapping, page_text
from tests.test_company import LONG_ADDRESS, LONG_NAME, png
from tests.test_invoices import fonts_drawing_text

YEAR = date.today().year
LINES = (
    ("Könyvelés havidíj", "3", "month", "100000", "0", "27"),
    ("Bérszámfejtés", "10", "pc", "5000", "10", "27"),
    ("Tanácsadás", "4", "hour", "25000", "0", "5"),
)


def accepted_quote(
    partner=None, lines=LINES, currency="HUF", language=None, contact=None, status="accepted"
):
    """An offer with an accepted quote of `lines` (description, quantity, unit, price,
    discount %, VAT %), made through the models as sending and accepting make it."""
    with acting_as(None):
        partner = partner or f.company(name="Duna Építő Kft.", language=language)
        offer = Offer(name="Könyvelés 2026", partner=partner, amount=0, currency=currency)
        db.session.add(offer)
        db.session.flush()
        quote = Quote(
            offer=offer,
            partner=partner,
            number=invoicing.next_invoice_number(db.session.connection(), YEAR, "quote"),
            year=YEAR,
            version=1,
            status=status,
            contact_id=contact.id if contact else None,
            language=language,
            currency=currency,
            issue_date=date.today(),
            valid_until=date.today() + timedelta(days=30),
        )
        quote.lines = [
            QuoteLine(
                position=n,
                description=description,
                quantity=Decimal(quantity),
                unit=unit,
                unit_price=Decimal(price),
                discount=Decimal(discount),
                vat_rate=Decimal(vat),
            )
            for n, (description, quantity, unit, price, discount, vat) in enumerate(lines, 1)
        ]
        db.session.add(quote)
    return quote


def order_counter() -> int:
    return db.session.scalar(select(Counter.value).where(Counter.name == f"order:{YEAR}"))


# --- making an order ----------------------------------------------------------------------


def test_an_order_copies_the_accepted_quotes_lines_and_takes_the_next_number(app, ctx):
    quote = accepted_quote()
    order, made = orders.make_order(quote.id, None)
    assert made and order.number == f"O-{YEAR}/000001" and order.status == "open"
    assert [(line.description, line.quantity, line.discount) for line in order.lines] == [
        (d, Decimal(q), Decimal(disc)) for d, q, _u, _p, disc, _v in LINES
    ]
    # 300000 + 45000 (10 × 5000 − 10 %) + 100000 net; VAT 27 % of 345000 and 5 % of 100000
    assert (order.net_total, order.vat_total, order.gross_total) == (
        Decimal("445000.00"),
        Decimal("98150.00"),
        Decimal("543150.00"),
    )
    assert (order.partner_id, order.offer_id, order.quote_id) == (
        quote.partner_id,
        quote.offer_id,
        quote.id,
    )
    second = accepted_quote()
    assert orders.make_order(second.id, None)[0].number == f"O-{YEAR}/000002"
    assert order_counter() == 2


def test_a_second_make_order_answers_the_order_already_made(app, ctx):
    quote = accepted_quote()
    first, _ = orders.make_order(quote.id, None)
    again, made = orders.make_order(quote.id, None)
    assert (again.id, made) == (first.id, False)
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert order_counter() == 1


def test_only_an_accepted_quote_makes_an_order(app, ctx):
    quote = accepted_quote(status="sent")  # sent, not answered yet
    with pytest.raises(InvalidValue, match="only from an accepted quote"):
        orders.make_order(quote.id, None)
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert order_counter() is None  # the number went back with the refusal


# --- the rules of an order ----------------------------------------------------------------


def test_the_status_moves_only_where_it_may(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    orders.set_status(order.id, None, "in_progress")
    orders.set_status(order.id, None, "delivered")
    with pytest.raises(OrderLocked, match="cannot become"):
        orders.set_status(order.id, None, "open")
    assert db.session.get(Order, order.id).status == "delivered"
    orders.set_status(order.id, None, "in_progress")
    orders.set_status(order.id, None, "cancelled")
    with pytest.raises(OrderLocked, match="cannot become"):
        orders.set_status(order.id, None, "open")
    with pytest.raises(InvalidValue):
        orders.set_status(order.id, None, "lost")


def test_an_orders_content_and_lines_are_fixed_once_made(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    attempts = [
        lambda o: setattr(o, "currency", "EUR"),
        lambda o: setattr(o, "number", "O-2000/000001"),
        lambda o: setattr(o.lines[0], "quantity", Decimal(99)),
        lambda o: o.lines.append(OrderLine(description="Extra", quantity=1, unit_price=1)),
        lambda o: o.lines.remove(o.lines[0]),
        lambda o: db.session.delete(o),
    ]
    for change in attempts:
        with pytest.raises(OrderLocked):
            with acting_as(None):
                change(db.session.get(Order, order.id))
        db.session.rollback()
    stored = db.session.get(Order, order.id)
    assert (stored.currency, stored.number, len(stored.lines)) == ("HUF", order.number, 3)
    assert stored.lines[0].quantity == Decimal(3)


def test_a_new_order_is_open(app, ctx):
    quote = accepted_quote()
    with pytest.raises(OrderLocked):
        with acting_as(None):
            db.session.add(
                Order(
                    number="O-1999/000001",
                    year=1999,
                    partner_id=quote.partner_id,
                    order_date=date.today(),
                    status="delivered",
                )
            )


# --- invoicing ----------------------------------------------------------------------------


def remaining(order_id: int) -> list[tuple[Decimal, Decimal]]:
    order = db.session.get(Order, order_id)
    db.session.refresh(order)
    return [(row["invoiced"], row["remaining"]) for row in orders.lines_with_remaining(order)]


def test_invoicing_all_that_remains_makes_a_draft_whose_lines_name_their_order_lines(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    invoice = orders.invoice_order(order.id, None)
    assert invoice.status == "draft" and invoice.partner_id == order.partner_id
    assert [
        (line.description, line.quantity, line.unit_price, line.order_line_id)
        for line in invoice.lines
    ] == [
        ("Könyvelés havidíj", Decimal(3), Decimal("100000"), order.lines[0].id),
        ("Bérszámfejtés", Decimal(10), Decimal("4500.00"), order.lines[1].id),
        ("Tanácsadás", Decimal(4), Decimal("25000"), order.lines[2].id),
    ]
    assert invoice.gross_total == order.gross_total
    assert f"Order {order.number}" in invoice.notes
    assert remaining(order.id) == [(Decimal(3), 0), (Decimal(10), 0), (Decimal(4), 0)]
    with pytest.raises(InvalidValue, match="Nothing remains"):
        orders.invoice_order(order.id, None)


def test_invoicing_in_part_and_never_beyond_the_quantity(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    first, second, third = (line.id for line in order.lines)
    orders.invoice_order(order.id, None, {first: 1, second: "2.5"})
    assert remaining(order.id) == [
        (Decimal(1), Decimal(2)),
        (Decimal("2.5"), Decimal("7.5")),
        (Decimal(0), Decimal(4)),
    ]
    drafts = db.session.scalar(select(func.count(Invoice.id)))
    with pytest.raises(InvalidValue, match="2 of 3 remain"):
        orders.invoice_order(order.id, None, {first: 3, third: 1})
    assert db.session.scalar(select(func.count(Invoice.id))) == drafts  # nothing made
    for wanted, message in (
        ({first: 0}, "more than zero"),
        ({first: "x"}, "Not a valid number"),
        ({first: True}, "Not a valid number"),
        ({first: "0.0001"}, "at most three decimals"),
        ({first: "1e400"}, "too large"),
        ({999999: 1}, "No such line"),
    ):
        with pytest.raises(InvalidValue, match=message):
            orders.invoice_order(order.id, None, wanted)
    orders.invoice_order(order.id, None, {first: 2})
    assert remaining(order.id)[0] == (Decimal(3), Decimal(0))


def test_the_model_refuses_an_invoice_line_beyond_the_order_line_whoever_writes_it(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    line = order.lines[0]
    invoice = orders.invoice_order(order.id, None, {line.id: 2})
    # Through the invoice line screen's path: a changed quantity …
    stored = invoice.lines[0]
    stored.quantity = Decimal(4)
    with pytest.raises(InvalidValue, match="3 of 3 remain"):
        with acting_as(None):
            invoicing.save_line(stored)
    db.session.rollback()
    # … and a new line naming the order line, on another draft.
    other = invoicing.new_draft(order.partner_id, None, currency="HUF")
    with pytest.raises(InvalidValue, match="1 of 3 remain"):
        invoicing.add_line(other.id, None, description="More", quantity=2, order_line_id=line.id)
    invoicing.add_line(other.id, None, description="More", quantity=1, order_line_id=line.id)
    assert remaining(order.id)[0] == (Decimal(3), Decimal(0))


def test_an_order_is_invoiced_to_its_own_customer_in_its_currency(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    stranger = invoicing.new_draft(f.company(name="Más Kft.").id, None, currency="HUF")
    with pytest.raises(InvalidValue, match="own customer"):
        invoicing.add_line(stranger.id, None, description="x", order_line_id=order.lines[0].id)
    euro = invoicing.new_draft(order.partner_id, None, currency="EUR")
    with pytest.raises(InvalidValue, match="own currency"):
        invoicing.add_line(euro.id, None, description="x", order_line_id=order.lines[0].id)


def test_a_deleted_draft_or_a_cancelled_invoice_gives_the_quantity_back(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    draft = orders.invoice_order(order.id, None)
    assert all(r == 0 for _, r in remaining(order.id))
    with acting_as(None):
        db.session.delete(db.session.get(Invoice, draft.id))
    assert [r for _, r in remaining(order.id)] == [Decimal(3), Decimal(10), Decimal(4)]
    issued = orders.invoice_order(order.id, None)
    invoicing.issue(issued.id, None)
    assert all(r == 0 for _, r in remaining(order.id))
    invoicing.cancel(issued.id, None)
    assert [r for _, r in remaining(order.id)] == [Decimal(3), Decimal(10), Decimal(4)]
    assert orders.invoiced_quantities([line.id for line in order.lines]) == {
        line.id: 0 for line in order.lines
    }


def test_an_invoiced_order_cannot_be_cancelled_and_a_cancelled_one_is_not_invoiced(app, ctx):
    order, _ = orders.make_order(accepted_quote().id, None)
    draft = orders.invoice_order(order.id, None, {order.lines[0].id: 1})
    with pytest.raises(OrderLocked, match="cannot be cancelled"):
        orders.set_status(order.id, None, "cancelled")
    with acting_as(None):
        db.session.delete(db.session.get(Invoice, draft.id))
    orders.set_status(order.id, None, "cancelled")
    with pytest.raises(DomainError, match="is cancelled"):
        orders.invoice_order(order.id, None)
    other = invoicing.new_draft(order.partner_id, None, currency="HUF")
    with pytest.raises(OrderLocked, match="is cancelled"):
        invoicing.add_line(other.id, None, description="x", order_line_id=order.lines[0].id)


# --- the PDF and the e-mail -----------------------------------------------------------------

LANGUAGES = ["en", "hu", "pl", "de", "ru"]
ORDER_WORDS = {
    "en": ("Order", "Order date", "VAT summary"),
    "hu": ("Megrendelés", "Megrendelés dátuma", "ÁFA-összesítő"),
    "pl": ("Zamówienie", "Data zamówienia", "Podsumowanie VAT"),
    "de": ("Auftrag", "Auftragsdatum", "MwSt.-Übersicht"),
    "ru": ("Заказ", "Дата заказа", "Сводка по НДС"),
}
NAMES = {
    "en": "Thames & Sons Ltd",
    "hu": "Duna Építő Kft.",
    "pl": "Łódź Sp. z o.o.",
    "de": "Größe GmbH",
    "ru": "ООО «Иван»",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_order_pdf_in_the_customers_language_with_its_letters(app, ctx, language):
    partner = f.company(name=NAMES[language], language=language, tax_number="98765432-1-12")
    order, _ = orders.make_order(accepted_quote(partner, language=language).id, None)
    pdf = orders.render_order_pdf(order)
    text = page_text(pdf)
    for word in ORDER_WORDS[language]:
        assert word in text, (language, word, text[:400])
    assert NAMES[language] in text and order.number in text
    assert "Dossier Minta Kft." in text and "12345678-2-41" in text and "98765432-1-12" in text
    assert "Könyvelés havidíj" in text and "Bérszámfejtés" in text
    fonts = set().union(*(fonts_drawing_text(p) for p in PdfReader(io.BytesIO(pdf)).pages))
    assert fonts and all("DejaVu" in name for name in fonts), fonts


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_text_overlaps_on_the_order_in_any_language(app, ctx, language):
    f.our_company(name=LONG_NAME, address=LONG_ADDRESS, footer="Köszönjük! " * 30)
    set_logo(None, io.BytesIO(png((300, 100))))
    partner = f.company(
        name="Rhein-Neckar Verwaltungs- und Beteiligungsgesellschaft mbH & Co. KG",
        language=language,
        tax_number="DE123456789",
    )
    long_lines = [
        (
            "Buchhaltungs- und Lohnabrechnungsdienstleistungen für Oktober 2026",
            "12.5",
            unit,
            "98765.43",
            "12.5",
            "27",
        )
        for unit in ("month", "hour", "pc", "licence")
    ]
    contact = f.person(first_name="Maximiliane", last_name="Schwarzenberg-Hohenlohe")
    order, _ = orders.make_order(
        accepted_quote(partner, lines=long_lines, language=language, contact=contact).id, None
    )
    assert overlapping(orders.render_order_pdf(order)) == []


def test_an_order_is_mailed_to_the_contact_person_with_its_pdf(app, login, mailbox):
    from tests.conftest import run_jobs

    with app.app_context():
        partner = f.company(name="Größe GmbH", language="de", email="info@groesse.example")
        contact = f.person(first_name="Greta", last_name="Groß", email="greta@private.example")
        f.affiliation(contact, partner, email="greta@groesse.example", may_represent=True)
        order, _ = orders.make_order(
            accepted_quote(partner, language="de", contact=contact).id, None
        )
        order_id, number = order.id, order.number
    staff = login("staff")
    answer = staff.post(f"/orders/{order_id}/email", follow_redirects=True)
    assert "greta@groesse.example" in answer.get_data(as_text=True)
    run_jobs(app)
    [message] = mailbox.to("greta@groesse.example")
    assert message["Subject"] == f"Auftrag {number}"
    assert "Greta Groß" in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"order-{number.replace('/', '-')}.pdf"
    assert "Größe GmbH" in page_text(attachment.get_content())
    with app.app_context():
        orders.set_status(order_id, None, "cancelled")
    refused = staff.post(f"/orders/{order_id}/email", follow_redirects=True)
    assert "A cancelled order is not sent." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Outbox.id))) == 1


# --- the screens --------------------------------------------------------------------------


def made_order(app, **kw) -> tuple[int, int, list[int]]:
    """An order of a fresh accepted quote: its id, its partner's, and its line ids."""
    with app.app_context():
        order, _ = orders.make_order(accepted_quote(**kw).id, None)
        return order.id, order.partner_id, [line.id for line in order.lines]


def test_make_order_on_the_offer_page_once(app, login):
    with app.app_context():
        quote = accepted_quote()
        quote_id, offer_id = quote.id, quote.offer_id
    staff = login("staff")
    page = staff.get(f"/offers/show/{offer_id}").get_data(as_text=True)
    assert f"/orders/from-quote/{quote_id}" in page and "Make order" in page
    made = staff.post(f"/orders/from-quote/{quote_id}", follow_redirects=True)
    number = f"O-{YEAR}/000001"
    assert f"Order {number} was made." in made.get_data(as_text=True)
    again = staff.post(f"/orders/from-quote/{quote_id}", follow_redirects=True)
    assert f"Order {number} was already made of this quote." in again.get_data(as_text=True)
    page = staff.get(f"/offers/show/{offer_id}").get_data(as_text=True)
    assert "Make order" not in page and number in page
    assert staff.http.post(f"/orders/from-quote/{quote_id}").status_code == 400  # no CSRF
    assert login("readonly").post(f"/orders/from-quote/{quote_id}").status_code == 403


def test_the_orders_list_shows_active_orders_with_totals_per_currency(app, login):
    first, _, _ = made_order(app)
    made_order(app, currency="EUR")
    delivered, _, _ = made_order(app)
    with app.app_context():
        orders.set_status(delivered, None, "delivered")
    staff = login("staff")
    page = staff.get("/orders/list/").get_data(as_text=True)
    assert f"O-{YEAR}/000001" in page and f"O-{YEAR}/000002" in page
    assert f"O-{YEAR}/000003" not in page  # delivered: not active
    assert page.count('class="order-total"') == 2
    assert "543,150.00" in page  # HUF total of the one active HUF order
    every = staff.get("/orders/list/?shown=all").get_data(as_text=True)
    assert f"O-{YEAR}/000003" in every and "HUF1,086,300" in every
    only = staff.get("/orders/list/?shown=delivered").get_data(as_text=True)
    assert f"O-{YEAR}/000003" in only and f"O-{YEAR}/000001" not in only
    searched = staff.get(f"/orders/list/?_flt_0_number=O-{YEAR}/000003").get_data(as_text=True)
    assert f"O-{YEAR}/000003" in searched and f"O-{YEAR}/000001" not in searched
    assert staff.get(f"/orders/show/{first}").status_code == 200
    assert staff.get("/orders/add").status_code == 404
    assert staff.get(f"/orders/edit/{first}").status_code == 404


def test_the_order_page_invoices_in_part_and_shows_what_remains(app, login):
    order_id, _, (first, second, third) = made_order(app)
    finance = login("finance")
    page = finance.get(f"/orders/show/{order_id}").get_data(as_text=True)
    assert f'name="line-{first}"' in page and "Invoice all that remains" in page
    answer = finance.post(
        f"/orders/{order_id}/invoice",
        data={f"line-{first}": "1", f"line-{second}": "2.5", f"line-{third}": "", "chosen": "1"},
    )
    assert answer.status_code == 302 and "/invoices/show/" in answer.headers["Location"]
    with app.app_context():
        assert remaining(order_id) == [
            (Decimal(1), Decimal(2)),
            (Decimal("2.5"), Decimal("7.5")),
            (0, Decimal(4)),
        ]
    too_much = finance.post(
        f"/orders/{order_id}/invoice",
        data={f"line-{first}": "5", "chosen": "1"},
        headers={"Referer": f"/orders/show/{order_id}"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "2 of 3 remain to be invoiced" in too_much
    for typed, message in (
        ("zwei", "zwei is not a number."),
        ("", "Enter the quantity to invoice of at least one line."),
    ):
        refused = finance.post(
            f"/orders/{order_id}/invoice",
            data={f"line-{first}": typed, "chosen": "1"},
            headers={"Referer": f"/orders/show/{order_id}"},
            follow_redirects=True,
        ).get_data(as_text=True)
        assert message in refused
    finance.lang("hu")
    finance.post(f"/orders/{order_id}/invoice", data={f"line-{second}": "1,5", "chosen": "1"})
    finance.post(f"/orders/{order_id}/invoice", data={"all": "1"})
    with app.app_context():
        assert all(r == 0 for _, r in remaining(order_id))
        assert db.session.scalar(select(func.count(Invoice.id))) == 3
    # Staff without finance rights read the order but do not invoice it.
    staff = login("staff")
    assert "Invoice all that remains" not in staff.get(f"/orders/show/{order_id}").get_data(
        as_text=True
    )
    assert staff.post(f"/orders/{order_id}/invoice", data={"all": "1"}).status_code == 403


def test_status_buttons_on_the_order_page(app, login):
    order_id, _, lines = made_order(app)
    staff = login("staff")
    page = staff.get(f"/orders/show/{order_id}").get_data(as_text=True)
    assert 'value="in_progress"' in page and 'value="cancelled"' in page
    staff.post(f"/orders/{order_id}/status", data={"status": "delivered"})
    with app.app_context():
        assert db.session.get(Order, order_id).status == "delivered"
    refused = staff.post(
        f"/orders/{order_id}/status",
        data={"status": "open"},
        headers={"Referer": f"/orders/show/{order_id}"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "An order that is Delivered cannot become Open." in refused
    assert staff.post(f"/orders/{order_id}/status", data={"status": "lost"}).status_code == 400


def test_the_data_sheet_has_an_orders_tab(app, login):
    order_id, partner_id, _ = made_order(app)
    page = login("staff").get(f"/partner/{partner_id}/orders").get_data(as_text=True)
    assert f"O-{YEAR}/000001" in page and f"/orders/show/{order_id}" in page
    assert f"/order/{order_id}/pdf" in page
    cancelled = login("staff").get(f"/partner/{partner_id}/orders?status=cancelled")
    assert f"O-{YEAR}/000001" not in cancelled.get_data(as_text=True)


def test_the_order_pdf_is_downloaded_by_who_reads_orders(app, login):
    order_id, _, _ = made_order(app, language="hu")
    answer = login("readonly").get(f"/order/{order_id}/pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert "Megrendelés" in page_text(answer.data)
    assert login("readonly").get("/order/999999/pdf").status_code == 404


# --- REST ---------------------------------------------------------------------------------


def test_rest_makes_the_order_of_an_offers_accepted_quote_once(app, api):
    with app.app_context():
        quote = accepted_quote()
        offer_id = quote.offer_id
        other = Offer(name="No quote", partner_id=quote.partner_id, amount=1)
        with acting_as(None):
            db.session.add(other)
        other_id = other.id
    staff = api("staff")
    made = staff.post(f"/api/v1/offer/{offer_id}/order", json={})
    assert made.status_code == 201, made.get_data(as_text=True)
    order_id = made.get_json()["id"]
    again = staff.post(f"/api/v1/offer/{offer_id}/order", json={})
    assert (again.status_code, again.get_json()["id"]) == (200, order_id)
    refused = staff.post(f"/api/v1/offer/{other_id}/order", json={})
    assert refused.status_code == 400 and "no accepted quote" in refused.get_json()["message"]
    assert staff.post("/api/v1/offer/999999/order", json={}).status_code == 404
    assert api("readonly").post(f"/api/v1/offer/{offer_id}/order", json={}).status_code == 403
    shown = staff.get(f"/api/v1/order/{order_id}").get_json()["result"]
    assert shown["number"] == f"O-{YEAR}/000001" and shown["status"] == "open"
    assert [line["description"] for line in shown["lines"]] == [line[0] for line in LINES]


def test_rest_changes_only_the_status_of_an_order(app, api):
    order_id, _, _ = made_order(app)
    staff = api("staff")
    moved = staff.put(f"/api/v1/order/{order_id}", json={"status": "in_progress"})
    assert moved.status_code == 200 and moved.get_json()["result"]["status"] == "in_progress"
    assert staff.put(f"/api/v1/order/{order_id}", json={"currency": "EUR"}).status_code == 400
    assert staff.put(f"/api/v1/order/{order_id}", json={"status": "lost"}).status_code == 400
    staff.put(f"/api/v1/order/{order_id}", json={"status": "cancelled"})
    back = staff.put(f"/api/v1/order/{order_id}", json={"status": "open"})
    assert back.status_code == 409 and "cannot become" in back.get_json()["message"]
    assert staff.put("/api/v1/order/999999", json={"status": "open"}).status_code == 404
    assert staff.put("/api/v1/order/x1", json={"status": "open"}).status_code == 404
    assert staff.post("/api/v1/order/", json={"partner": 1}).status_code == 405
    assert staff.delete(f"/api/v1/order/{order_id}").status_code == 405
    listed = staff.get("/api/v1/order/").get_json()
    assert [row["id"] for row in listed["result"]] == [order_id]


def test_rest_invoices_an_order_in_part_then_all_that_remains(app, api):
    order_id, _, (first, second, third) = made_order(app)
    finance = api("finance")
    part = finance.post(
        f"/api/v1/order/{order_id}/invoice",
        json={"lines": [{"line": first, "quantity": 2}, {"line": second, "quantity": "0.5"}]},
    )
    assert part.status_code == 201, part.get_data(as_text=True)
    assert part.get_json()["result"]["status"] == "draft"
    with app.app_context():
        invoice = db.session.get(Invoice, part.get_json()["id"])
        assert [(ln.order_line_id, ln.quantity) for ln in invoice.lines] == [
            (first, 2),
            (second, Decimal("0.5")),
        ]
    lines = finance.get(f"/api/v1/order/{order_id}").get_json()["result"]["lines"]
    assert [(line["invoiced"], line["remaining"]) for line in lines] == [
        ("2", "1"),
        ("0.5", "9.5"),
        ("0", "4"),
    ]
    drafts = 1
    for body, message in (
        ({"lines": [{"line": first, "quantity": 2}]}, "1 of 3 remain to be invoiced"),
        ({"lines": [{"line": first, "quantity": -1}]}, "more than zero"),
        ({"lines": [{"line": first, "quantity": "lots"}]}, "Not a valid number"),
        ({"lines": [{"line": 999999, "quantity": 1}]}, "No such line"),
        ({"lines": [{"line": "x", "quantity": 1}]}, "line"),
        ({"lines": "all"}, "line"),
        ({"lines": [{"line": first, "quantity": 1}, {"line": first, "quantity": 1}]}, "once"),
    ):
        refused = finance.post(f"/api/v1/order/{order_id}/invoice", json=body)
        assert refused.status_code == 400, (body, refused.get_data(as_text=True))
        assert message in refused.get_data(as_text=True), body
    with app.app_context():
        assert db.session.scalar(select(func.count(Invoice.id))) == drafts
    rest = finance.post(f"/api/v1/order/{order_id}/invoice", json={})
    assert rest.status_code == 201
    with app.app_context():
        invoice = db.session.get(Invoice, rest.get_json()["id"])
        assert [(ln.order_line_id, ln.quantity) for ln in invoice.lines] == [
            (first, 1),
            (second, Decimal("9.5")),
            (third, 4),
        ]
    nothing = finance.post(f"/api/v1/order/{order_id}/invoice", json={"lines": []})
    assert nothing.status_code == 400 and "Nothing remains" in nothing.get_json()["message"]
    assert api("staff").post(f"/api/v1/order/{order_id}/invoice", json={}).status_code == 403
    assert finance.post("/api/v1/order/999999/invoice", json={}).status_code == 404


# --- the Client Zone ----------------------------------------------------------------------


def test_zone_users_see_their_companys_orders_and_nothing_of_another(app, login, mailbox):
    from tests.test_zone import contact, invite

    mine, partner_id, _ = made_order(app)
    with app.app_context():
        other_partner = f.company(name="Más Kft.")
        theirs, _ = orders.make_order(accepted_quote(other_partner).id, None)
        theirs_id = theirs.id
    person = contact(app, partner_id, "Anna", "Alfa", "anna@alfa.example", language="en")
    invite(app, person, partner_id, "client", "anna-password")
    zone_user = login("anna@alfa.example", "anna-password")
    portal = zone_user.get("/portal/").get_data(as_text=True)
    assert "/portal/orders/" in portal
    page = zone_user.get("/portal/orders/").get_data(as_text=True)
    assert f"O-{YEAR}/000001" in page and f"O-{YEAR}/000002" not in page
    pdf = zone_user.get(f"/portal/orders/{mine}/pdf")
    assert pdf.status_code == 200 and f"O-{YEAR}/000001" in page_text(pdf.data)
    assert zone_user.get(f"/portal/orders/{theirs_id}/pdf").status_code == 404
    assert zone_user.get(f"/order/{mine}/pdf").status_code in (403, 404)
    assert zone_user.get("/orders/list/").status_code in (403, 404)
    assert login("staff").get("/portal/orders/").status_code == 403  # staff: no zone


# --- at once, on a running server ---------------------------------------------------------

ROUNDS = 8


def invoiced_total(app, order_id: int) -> list[Decimal]:
    with app.app_context():
        order = db.session.get(Order, order_id)
        sums = orders.invoiced_quantities([line.id for line in order.lines])
        return [sums[line.id] for line in order.lines]


def test_two_sessions_invoicing_an_order_at_once_never_exceed_its_quantities(app, live_server):
    clients = [live_server.client().api_login("finance") for _ in range(2)]
    for _round in range(ROUNDS):
        order_id, _, (first, _second, _third) = made_order(app)
        answers = at_once(
            *(
                partial(client.request, "POST", f"/api/v1/order/{order_id}/invoice", json={})
                for client in clients
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 400], [a.text for a in answers]
        assert invoiced_total(app, order_id) == [Decimal(3), Decimal(10), Decimal(4)]
        # Two parts of 2 of the 3 months: one fits, the other is refused.
        order_id, _, (first, _second, _third) = made_order(app)
        body = {"lines": [{"line": first, "quantity": 2}]}
        answers = at_once(
            *(
                partial(client.request, "POST", f"/api/v1/order/{order_id}/invoice", json=body)
                for client in clients
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 400], [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 400).get_json()["message"]
        assert "1 of 3 remain to be invoiced" in refused
        assert invoiced_total(app, order_id)[0] == Decimal(2)


def test_invoice_lines_written_at_once_past_the_service_still_stay_within_the_order(app):
    """The model's own check (after the write, under the order's lock) holds without the
    service's lock: two sessions each add a line of 2 of the 3 ordered to their own draft."""
    import threading

    order_id, partner_id, (first, _second, _third) = made_order(app)
    with app.app_context():
        drafts = [invoicing.new_draft(partner_id, None, currency="HUF").id for _ in range(2)]
    barrier, results = threading.Barrier(2), []

    def add(draft_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                invoicing.add_line(
                    draft_id, None, description="Months", quantity=2, order_line_id=first
                )
                results.append("added")
            except InvalidValue as error:
                results.append(str(error))

    threads = [threading.Thread(target=add, args=(d,)) for d in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results)[0] == "added" and "1 of 3 remain" in sorted(results)[1], results
    assert invoiced_total(app, order_id)[0] == Decimal(2)


def test_two_make_order_clicks_at_once_make_one_order(app, live_server):
    api_clients = [live_server.client().api_login("staff") for _ in range(2)]
    screen_clients = [live_server.client().login("staff") for _ in range(2)]
    for _round in range(ROUNDS):
        with app.app_context():
            quote = accepted_quote()
            offer_id, quote_id = quote.offer_id, quote.id
        answers = at_once(
            *(
                partial(client.request, "POST", f"/api/v1/offer/{offer_id}/order", json={})
                for client in api_clients
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
        assert len({a.get_json()["id"] for a in answers}) == 1
        with app.app_context():
            quote = accepted_quote()
            quote_id = quote.id
        at_once(
            *(partial(client.post, f"/orders/from-quote/{quote_id}") for client in screen_clients)
        )
        with app.app_context():
            assert (
                db.session.scalar(select(func.count(Order.id)).where(Order.quote_id == quote_id))
                == 1
            )
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 2 * ROUNDS
        assert order_counter() == 2 * ROUNDS  # no number lost to the second click


def test_two_orders_made_at_once_get_distinct_numbers(app, live_server):
    clients = [live_server.client().api_login("staff") for _ in range(3)]
    for _round in range(ROUNDS):
        with app.app_context():
            offers = [accepted_quote().offer_id for _ in clients]
        answers = at_once(
            *(
                partial(client.request, "POST", f"/api/v1/offer/{offer_id}/order", json={})
                for client, offer_id in zip(clients, offers, strict=True)
            )
        )
        assert [a.status_code for a in answers] == [201] * len(clients), [a.text for a in answers]
    with app.app_context():
        numbers = sorted(db.session.scalars(select(Order.number)))
    assert numbers == [f"O-{YEAR}/{n:06d}" for n in range(1, ROUNDS * len(clients) + 1)]


def test_the_orders_pages_use_few_queries_whatever_the_number_of_orders(app, login, queries):
    def counts() -> list[int]:
        staff = login("staff")
        with app.app_context():
            order_id = db.session.scalar(select(func.max(Order.id)))
            partner_id = db.session.get(Order, order_id).partner_id
        found = []
        for url in ("/orders/list/", f"/orders/show/{order_id}", f"/partner/{partner_id}/orders"):
            staff.get(url)  # warm: menus and permissions are cached per process
            with queries() as q:
                assert staff.get(url).status_code == 200
            found.append(q.count)
        return found

    made_order(app)
    few = counts()
    with app.app_context():
        for n in range(24):  # each of another customer
            partner = f.company(name=f"Rendelő {n} Kft.")
            order, _ = orders.make_order(accepted_quote(partner).id, None)
        orders.invoice_order(order.id, None)
    many = counts()
    assert many == few, (few, many)


def test_the_invoice_line_screen_keeps_an_order_line_within_its_quantity(app, login):
    order_id, _, (first, _second, _third) = made_order(app)
    with app.app_context():
        invoice = orders.invoice_order(order_id, None, {first: 2})
        invoice_id, line_id = invoice.id, invoice.lines[0].id
    finance = login("finance")
    fields = {
        "invoice": invoice_id,
        "description": "Könyvelés havidíj",
        "unit": "month",
        "unit_price": "100000",
        "vat_rate": "27",
    }
    refused = finance.post(
        f"/invoice-lines/edit/{line_id}", data={**fields, "quantity": "4"}
    ).get_data(as_text=True)
    assert "3 of 3 remain to be invoiced" in refused
    finance.post(f"/invoice-lines/edit/{line_id}", data={**fields, "quantity": "3"})
    with app.app_context():
        assert remaining(order_id)[0] == (Decimal(3), Decimal(0))
        assert db.session.get(Invoice, invoice_id).lines[0].order_line_id == first
