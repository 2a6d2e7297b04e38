"""In a browser: staff send the quote of an offer with product lines (asked first), and the
client accepts it in the Client Zone (asked first); the offer is won."""

from sqlalchemy import select

from app.extensions import db
from app.models import Offer, Quote
from app.services import zone
from tests.conftest import user_id
from tests.e2e.conftest import log_in
from tests.test_quotes import make_sales, with_lines
from tests.test_zone import contact, invite


def test_staff_send_the_quote_and_the_client_accepts_it_in_the_zone(app, server, page, mailbox):
    sales = make_sales(app, language="pl", name="Łąka Sp. z o.o.")
    with_lines(app, sales)
    person = contact(app, sales.company, "Zofia", "Łąkowska", "zofia@laka.example", "pl")
    zofia = invite(app, person, sales.company, "client", "zofia-password")
    with app.app_context():
        zone.share("offer", sales.offer, zofia, "watcher", user_id(app, "staff"))
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()

    log_in(page, server, "staff")
    page.goto(f"{server}/offers/show/{sales.offer}")
    descriptions = page.locator(".lines-editor input[name=description]")
    assert "Könyvelés" in [descriptions.nth(i).input_value() for i in range(descriptions.count())]
    page.once("dialog", answer)
    with page.expect_navigation():
        page.click(".quote-panel .send-quote-button")
    assert len(asked) == 1
    with app.app_context():
        quote = db.session.scalar(select(Quote))
        number = quote.number
    assert number in page.locator(".quote-versions").inner_text()
    page.goto(f"{server}/logout/")
    with page.expect_navigation():
        page.click(".logout-panel button[type=submit]")
    log_in(page, server, "zofia@laka.example", "zofia-password")
    page.goto(f"{server}/portal/quotes/")
    assert number in page.locator(".portal-quotes").inner_text()
    with page.expect_download() as download:
        page.click(".portal-quotes a:has(.fa-file-pdf-o)")
    assert download.value.suggested_filename == quote.filename
    page.fill(".answer-quote input[name=comment]", "Zgoda, czekamy na umowę.")
    page.once("dialog", answer)
    with page.expect_navigation():
        page.click(".answer-quote button[name=accept][value='1']")
    assert len(asked) == 2 and number in asked[1]
    with app.app_context():
        quote = db.session.get(Quote, quote.id)
        assert quote.status == "accepted" and quote.decision_comment == "Zgoda, czekamy na umowę."
        assert db.session.get(Offer, sales.offer).status == "won"
    assert "answer-quote" not in page.content()
