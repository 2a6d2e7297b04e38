"""Orders: one per accepted quote with its lines and an O- number, statuses, invoicing in full
or in part never beyond the ordered quantities (also at once, on a running server), the PDF
in five languages, the e-mail, the screens, the REST API and the Client Zone."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import func, select, text

from app.errors import DomainError, InvalidValue, OrderLocked
from app.extensions import db
from app.models import (
    Counter,
    Invoice,
    InvoiceLine,
    Offer,
    Order,
    OrderLine,
    Outbox,
    Quote,
    QuoteLine,
)
from app.services import acting_as, invoicing, orders
from tests import factories as f
from tests.conftest import at_once, user_id
from tests.pdf_text import overlapping, page_text

YEAR = date.today().year
LINES = (
    ("Könyvelés havidíj", "3", "month", "100000", "0", "27"),
    ("Bérszámfejtés", "10", "pc", "5000", "10", "27"),
    ("Tanácsadás", "4", "hour", "25000", "0", "5"),
)


def accepted_quote(partner=None, lines=LINES, currency="HUF", language=None, contact=None):
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
            status="accepted",
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


@pytest.fixture(autouse=True)
def fresh_order_counters(app):
    yield
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM counter WHERE name LIKE 'order:%' OR name LIKE 'quote:%'"))


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
    quote = accepted_quote()
    with acting_as(None):
        quote.status = "sent"
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
