"""Irreversible actions ask first in the user's language; issued invoices offer no edit."""

import re

import pytest
from flask_babel import force_locale, gettext
from markupsafe import escape

from app.extensions import db
from app.models import Invoice
from app.services import invoicing
from tests.test_invoices import draft
from tests.test_recurring import partners_with_settings
from tests.test_zone import world, zone_login  # noqa: F401 (world is a fixture)

BEHAVIOUR = "/static/dossier/behaviour.js"
LANGS = ["hu", "de"]


def asks(app, page: str, lang: str, msgid: str, **values) -> bool:
    with app.test_request_context(), force_locale(lang):
        question = gettext(msgid, **values)
    assert question != msgid % values, "the catalogue translates the question"
    return f'data-confirm="{escape(question)}"' in page and BEHAVIOUR in page


@pytest.mark.parametrize("lang", LANGS)
def test_issuing_an_invoice_asks_first(app, login, lang):
    iid = draft(app)
    finance = login("finance")
    finance.lang(lang)
    page = finance.get(f"/invoices/show/{iid}").get_data(as_text=True)
    assert asks(
        app,
        page,
        lang,
        "Issue this invoice? It takes the next number and can no longer be changed.",
    )


@pytest.mark.parametrize("lang", LANGS)
def test_starting_an_invoicing_run_asks_first(app, login, lang):
    partners_with_settings(app, 1)
    finance = login("finance")
    finance.lang(lang)
    page = finance.get("/automatic-invoicing/?date=2026-11-30").get_data(as_text=True)
    assert "start-run" in page
    assert asks(
        app,
        page,
        lang,
        "Start the invoicing run? It issues every due invoice, which can then no longer be"
        " changed.",
    )


@pytest.mark.parametrize("lang", LANGS)
def test_suspending_a_zone_user_asks_first(app, world, login, lang):  # noqa: F811
    staff = login("staff")
    staff.lang(lang)
    page = staff.get(f"/partner/{world.alfa}/zone").get_data(as_text=True)
    assert asks(
        app,
        page,
        lang,
        "Suspend %(name)s? They can no longer log in to the zone.",
        name="Anna Alfa",
    )


@pytest.mark.parametrize("lang", LANGS)
def test_marking_a_task_done_in_the_portal_asks_first(app, world, login, lang):  # noqa: F811
    anna = zone_login(login, "anna")
    anna.lang(lang)
    page = anna.get(f"/portal/task/{world.shared_task}").get_data(as_text=True)
    assert asks(app, page, lang, "Mark this task as done?")


def row_links(page: str, path: str) -> set[str]:
    return set(re.findall(rf"{path}/(?:edit|delete)/\d+", page))


def test_an_issued_invoice_and_its_lines_offer_no_edit_or_delete(app, login):
    issued, open_ = draft(app, lines=1), draft(app, name="Tisza Zrt.", lines=1)
    with app.app_context():
        invoicing.issue(issued, None)
        issued_line = db.session.get(Invoice, issued).lines[0].id
        open_line = db.session.get(Invoice, open_).lines[0].id
    finance = login("finance")
    listing = row_links(finance.get("/invoices/list/").get_data(as_text=True), "/invoices")
    assert listing == {f"/invoices/edit/{open_}", f"/invoices/delete/{open_}"}
    # The lines editor: an issued invoice's lines are only shown; a draft's can be removed.
    shown = finance.get(f"/invoices/show/{issued}").get_data(as_text=True)
    assert "lines-editable" not in shown and f"/lines/{issued_line}" not in shown
    shown = finance.get(f"/invoices/show/{open_}").get_data(as_text=True)
    assert f'action="/invoice/{open_}/lines/{open_line}/delete"' in shown
