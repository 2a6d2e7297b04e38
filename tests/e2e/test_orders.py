"""In a real browser: an order made of an accepted quote with one confirmed click, then
invoiced in part from its page, in Hungarian."""

from decimal import Decimal

from flask_babel import force_locale, gettext

from tests.e2e.conftest import log_in


def test_make_an_order_and_invoice_part_of_it(app, server, page):
    from app.extensions import db
    from app.models import Invoice, Order
    from app.services import orders
    from tests.test_orders import accepted_quote

    with app.app_context():
        quote = accepted_quote(language="hu")
        offer_id, quote_text = quote.offer_id, str(quote)
    with app.test_request_context(), force_locale("hu"):
        question = gettext(
            "Make an order of the accepted quote %(quote)s? Its lines are copied to the order, "
            "which takes the next order number.",
            quote=quote_text,
        )
    log_in(page, server, "admin", "admin-pw")
    page.goto(f"{server}/lang/hu")
    page.goto(f"{server}/offers/show/{offer_id}")
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.click(".make-order")
    page.wait_for_timeout(500)
    with app.app_context():
        assert db.session.query(Order).count() == 0
    page.once("dialog", lambda dialog: answer(dialog, True))
    with page.expect_navigation():
        page.click(".make-order")
    assert asked == [question, question]
    with app.app_context():
        order = db.session.query(Order).one()
        order_id, number, lines = order.id, order.number, [line.id for line in order.lines]
    assert "/orders/show/" in page.url and number in page.content()
    # Two of the three months and 2,5 of the ten payrolls; the consulting hours wait.
    page.fill(f"input[name=line-{lines[0]}]", "2")
    page.fill(f"input[name=line-{lines[1]}]", "2,5")
    page.fill(f"input[name=line-{lines[2]}]", "")
    with page.expect_navigation():
        page.click(".invoice-chosen")
    assert "/invoices/show/" in page.url
    with app.app_context():
        invoice = db.session.query(Invoice).one()
        assert [line.quantity for line in invoice.lines] == [Decimal(2), Decimal("2.5")]
        order = db.session.get(Order, order_id)
        assert [row["remaining"] for row in orders.lines_with_remaining(order)] == [
            Decimal(1),
            Decimal("7.5"),
            Decimal(4),
        ]
    page.goto(f"{server}/orders/show/{order_id}")
    remaining = page.locator(".order-line .remaining").all_inner_texts()
    assert remaining == ["1", "7,5", "4"]
