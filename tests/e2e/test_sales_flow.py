"""In a real browser, the whole way of a sale (issue 14): product lines typed on an offer with
the lines editor → the quote sent → the client accepts it in the Client Zone → an order made of
it → invoiced in full → the invoice issued → the client downloads it in the zone. Staff work in
Hungarian, the client in Polish."""

from decimal import Decimal

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Invoice, Offer, Order, OrderLine, Quote
from app.services import zone
from tests.conftest import user_id
from tests.e2e.conftest import log_in
from tests.e2e.test_lines_editor import TIMEOUT, choose_product
from tests.test_quotes import make_sales
from tests.test_zone import contact, invite


def confirm(page, asked: list):
    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)


def log_out(page, server):
    page.goto(f"{server}/logout/")
    with page.expect_navigation():
        page.click(".logout-panel button[type=submit]")


def test_an_offer_becomes_a_quote_an_order_and_an_invoice_the_client_downloads(
    app, server, page, mailbox
):
    sales = make_sales(app, language="pl", name="Łąka Sp. z o.o.")
    person = contact(app, sales.company, "Zofia", "Łąkowska", "zofia@laka.example", "pl")
    zofia = invite(app, person, sales.company, "client", "zofia-password")
    with app.app_context():
        zone.share("offer", sales.offer, zofia, "watcher", user_id(app, "staff"))
    asked: list = []

    # Staff type the offer's lines: the product fills the line, the quantity is typed.
    log_in(page, server, "admin", "admin-pw")
    page.goto(f"{server}/lang/hu")
    page.goto(f"{server}/offers/show/{sales.offer}")
    editor = page.locator(".lines-editor")
    row = editor.locator("tr.line-row").first
    choose_product(page, row, "könyv", "Könyvelés")
    expect(row.locator("[name=description]")).to_have_value("Könyvelés")
    expect(editor).to_have_attribute("data-confirmed", "1", timeout=TIMEOUT)
    row.locator("[name=quantity]").fill("12")
    row.locator("[name=quantity]").press("Tab")
    expect(editor).to_have_attribute("data-confirmed", "1", timeout=TIMEOUT)
    with app.app_context():
        offer = db.session.get(Offer, sales.offer)
        assert [(line.description, line.quantity) for line in offer.lines] == [
            ("Könyvelés", Decimal(12))
        ]
        assert offer.amount == Decimal("540000.00")  # 12 months of 45,000: the lines' net

    # The quote is sent (asked first) to the representative.
    page.reload()
    confirm(page, asked)
    with page.expect_navigation():
        page.click(".quote-panel .send-quote-button")
    with app.app_context():
        quote = db.session.scalar(select(Quote))
        quote_id, quote_number = quote.id, quote.number
    assert len(asked) == 1 and quote_number in page.locator(".quote-versions").inner_text()
    log_out(page, server)

    # The client accepts it in the Client Zone (asked first).
    log_in(page, server, "zofia@laka.example", "zofia-password")
    page.goto(f"{server}/portal/quotes/")
    assert quote_number in page.locator(".portal-quotes").inner_text()
    confirm(page, asked)
    with page.expect_navigation():
        page.click(".answer-quote button[name=accept][value='1']")
    with app.app_context():
        assert db.session.get(Quote, quote_id).status == "accepted"
        assert db.session.get(Offer, sales.offer).status == "won"
    log_out(page, server)

    # Staff make the order of it and invoice all of it; the invoice is issued.
    log_in(page, server, "admin", "admin-pw")
    page.goto(f"{server}/offers/show/{sales.offer}")
    confirm(page, asked)
    with page.expect_navigation():
        page.click(".make-order")
    with app.app_context():
        order = db.session.scalar(select(Order))
        order_id, order_number = order.id, order.number
    assert "/orders/show/" in page.url and order_number in page.content()
    with page.expect_navigation():
        page.click(".invoice-all")
    assert "/invoices/show/" in page.url
    invoice_id = int(page.url.rstrip("/").split("/")[-1].split("?")[0])
    confirm(page, asked)
    with page.expect_navigation():
        page.click(".issue-invoice")
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        invoice_number = invoice.number
        assert invoice.status == "issued" and invoice.gross_total == Decimal("685800.00")
        billed = [db.session.get(OrderLine, line.order_line_id) for line in invoice.lines]
        assert [line.order_id for line in billed] == [order_id]
    assert len(asked) == 4
    log_out(page, server)

    # The client downloads the invoice in the zone.
    log_in(page, server, "zofia@laka.example", "zofia-password")
    page.goto(f"{server}/portal/account/")
    invoice_row = page.locator(f'tr[data-invoice="{invoice_id}"]')
    assert invoice_number in invoice_row.inner_text()
    with page.expect_download() as download:
        invoice_row.locator("a").click()
    assert download.value.suggested_filename == f"invoice-{invoice_number.replace('/', '-')}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
    page.goto(f"{server}/portal/orders/")
    assert order_number in page.content()
