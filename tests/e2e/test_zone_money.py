"""In a real browser: finance bundles open receivables into a draft from the Current account
tab, and the client downloads the issued invoice in the Client Zone."""

from decimal import Decimal

from app.extensions import db
from app.models import Invoice
from app.services import invoicing
from tests.e2e.conftest import log_in


def test_open_receivables_become_an_invoice_the_client_downloads(app, server, page, mailbox):
    from tests.test_receivables import receivables_world
    from tests.test_zone import contact, invite

    world = receivables_world(app)
    person = contact(app, world.partner, "Zofia", "Kappa", "zofia@kappa.example", "pl")
    invite(app, person, world.partner, "client", "zofia-password")
    log_in(page, server, "finance")
    page.goto(f"{server}/partner/{world.partner}/account")
    page.check(f'input[value="order_line:{world.line_b}"]')
    page.check(f'input[value="quota:{world.quota}"]')
    with page.expect_navigation():
        page.click(".create-receivables-invoice")
    assert "/invoices/show/" in page.url
    invoice_id = int(page.url.rstrip("/").split("/")[-1].split("?")[0])
    with app.test_request_context():
        number = invoicing.issue(invoice_id, None).number
        assert db.session.get(Invoice, invoice_id).gross_total == Decimal("222.25")
    page.goto(f"{server}/partner/{world.partner}/account")
    receivables = page.locator(".receivables").inner_text()
    assert "Telepítés" not in receivables and "Helyszíni óra" not in receivables
    page.goto(f"{server}/logout/")
    with page.expect_navigation():
        page.click(".logout-panel button[type=submit]")
    log_in(page, server, "zofia@kappa.example", "zofia-password")
    page.wait_for_selector(".portal")
    with page.expect_navigation():
        page.click(".portal-nav a[href='/portal/account/']")
    assert "Faktury i saldo" in page.locator(".portal-nav li.active").inner_text()
    row = page.locator(f'tr[data-invoice="{invoice_id}"]')
    assert number in row.inner_text()
    with page.expect_download() as download:
        row.locator("a").click()
    assert download.value.suggested_filename == f"invoice-{number.replace('/', '-')}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
