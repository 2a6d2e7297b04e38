"""In a real browser (Debian's chromium through Playwright): the data sheet and a note,
deleting through FAB's confirmation, an automatic invoicing run, and the zone portal."""

import os

from flask_babel import force_locale, gettext

from tests import factories as f
from tests.e2e.conftest import log_in


def test_log_in_open_a_data_sheet_and_add_a_note(app, server, page):
    with app.app_context():
        person = f.person(first_name="Małgorzata", last_name="Wiśniewska")
        f.address(person, latitude=52.2297, longitude=21.0122, city="Warszawa")
    log_in(page, server, "staff")
    assert "/login" not in page.url
    page.goto(f"{server}/people/list/")
    page.click("text=Małgorzata Wiśniewska")
    page.wait_for_selector(".datasheet")
    assert page.locator(".sheet-name").inner_text().startswith("Małgorzata Wiśniewska")
    # Leaflet turns the map's div into its container once its script has run.
    page.wait_for_selector("#sheet-map.leaflet-container", timeout=10000)
    page.select_option("#kind", "call")
    page.fill("#body", "Zadzwoniła, prosi o ofertę do piątku.")
    page.click("#new-note button[type=submit]")
    page.wait_for_selector(".note-body")
    assert "Zadzwoniła, prosi o ofertę do piątku." in page.locator(".notes").inner_text()
    os.makedirs("test-results", exist_ok=True)
    page.screenshot(path="test-results/datasheet.png", full_page=True)


def test_delete_a_person_from_the_list_through_the_confirmation(app, server, page):
    from app.extensions import db
    from app.models import Person

    with app.app_context():
        pid = f.person(first_name="Ödön", last_name="Törlendő").id
    log_in(page, server, "staff")
    page.goto(f"{server}/people/list/")
    page.click(f'a.row-delete[data-href="/people/delete/{pid}"]')
    page.wait_for_selector("#modal-confirm", state="visible")
    with page.expect_navigation():
        page.click("#modal-confirm-ok")
    with app.app_context():
        assert db.session.get(Person, pid) is None


def test_finance_starts_automatic_invoicing_and_follows_its_progress(app, server, page, mailbox):
    from tests.conftest import run_jobs
    from tests.test_recurring import partners_with_settings

    partners_with_settings(app, 3, delivery="post", language="pl")
    log_in(page, server, "finance")
    page.goto(f"{server}/automatic-invoicing/?date=2026-11-30")
    assert page.locator(".due-list tbody tr").count() == 3
    page.fill("#as_of", "2026-11-30")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click(".start-run button")
    assert "/automatic-invoicing/run/" in page.url
    run_jobs(app)
    # The page polls the run and shows its print file once it has finished.
    page.wait_for_selector(".print-files a", timeout=15000)
    assert "100%" in page.locator(".progress-bar").inner_text()
    with page.expect_download() as download:
        page.click(".print-files a")
    assert download.value.suggested_filename.endswith(".pdf")


def test_issuing_an_invoice_asks_first_and_a_no_keeps_the_draft(app, server, page):
    from app.extensions import db
    from app.models import Invoice
    from tests.test_invoices import draft

    iid = draft(app)
    with app.test_request_context(), force_locale("de"):
        question = gettext(
            "Issue this invoice? It takes the next number and can no longer be changed."
        )
    log_in(page, server, "finance")
    page.goto(f"{server}/lang/de")
    page.goto(f"{server}/invoices/show/{iid}")
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.click(".issue-invoice")
    page.wait_for_timeout(500)
    assert asked == [question]
    with app.app_context():
        assert db.session.get(Invoice, iid).status == "draft"
    page.once("dialog", lambda dialog: answer(dialog, True))
    with page.expect_navigation():
        page.click(".issue-invoice")
    assert asked == [question, question]
    with app.app_context():
        assert db.session.get(Invoice, iid).status == "issued"


def test_a_zone_user_comments_and_uploads_and_staff_see_both(app, server, page, mailbox, tmp_path):
    from tests.test_zone import contact, invite, task

    with app.app_context():
        company = f.company(name="Łąka Sp. z o.o.").id
    person = contact(app, company, "Zofia", "Łąkowska", "zofia@laka.example", "pl")
    invite(app, person, company, "client", "zofia-password")
    task_id = task(app, company, "Przesłać umowę")
    from app.services import zone

    with app.app_context():
        zone_user = zone.member_of_person(person)
        zone.share("task", task_id, zone_user, "performer", None)
    log_in(page, server, "zofia@laka.example", "zofia-password")
    page.wait_for_selector(".portal")
    assert "Strefa Klienta" in page.locator(".portal-title").inner_text()
    page.click("text=Przesłać umowę")
    page.fill("#body", "Umowa podpisana, w załączniku.")
    upload = tmp_path / "umowa.pdf"
    upload.write_bytes(b"%PDF-1.4\n%%EOF\n")
    page.set_input_files("#file", str(upload))
    with page.expect_navigation():
        page.click(".add-comment button[type=submit]")
    assert "umowa.pdf" in page.locator(".zone-comments").inner_text()
    page.goto(f"{server}/logout/")
    with page.expect_navigation():
        page.click(".logout-panel button[type=submit]")
    log_in(page, server, "staff")
    page.goto(f"{server}/tasks/show/{task_id}")
    comments = page.locator(".zone-panel .zone-comments").inner_text()
    assert "Umowa podpisana, w załączniku." in comments and "umowa.pdf" in comments
    with page.expect_download() as download:
        page.click(".zone-panel a.comment-file")
    assert download.value.suggested_filename == "umowa.pdf"
