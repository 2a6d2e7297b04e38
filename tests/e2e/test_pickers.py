"""In a real browser: the offer form's partner picker asks the server as the user types,
folded ("kovacs" finds Kovács), and the saved offer belongs to the chosen partner."""

import os

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Offer
from tests import factories as f
from tests.conftest import user_id
from tests.e2e.conftest import log_in


def test_choose_a_partner_on_the_offer_form_by_typing_part_of_its_name(app, server, page):
    with app.app_context():
        wanted = f.person(first_name="Anna", last_name="Kovács")
        f.address(wanted, city="Debrecen")
        f.person(first_name="Anna", last_name="Kovalenko")
        f.company(name="Tisza Zrt.")
        db.session.commit()
        wanted_id = wanted.id
    log_in(page, server, "staff")
    page.goto(f"{server}/offers/add")
    # The owner is already the one who makes it; the partner box is empty and loads nothing.
    assert "Staff User" in page.locator("#owner + .select2 .select2-selection").inner_text()
    assert page.locator("#partner option").count() == 1
    page.click("#partner + .select2 .select2-selection")
    with page.expect_response(lambda answer: "q=kovacs" in answer.url):
        page.fill(".select2-container--open .select2-search__field", "kovacs")
    expect(page.locator(".select2-results__option", has_text="Tisza")).to_have_count(0)
    option = page.locator(".select2-results__option", has_text="Kovács")
    option.wait_for()
    os.makedirs("test-results", exist_ok=True)
    assert "Debrecen" in option.inner_text()  # the city tells two Anna Kovács apart
    page.screenshot(path="test-results/picker.png")
    option.click()
    page.fill("#name", "Könyvvizsgálat")
    page.fill("#amount", "250000")
    with page.expect_navigation():
        page.click("#model_form [type=submit]")
    with app.app_context():
        offer = db.session.scalar(select(Offer).where(Offer.name == "Könyvvizsgálat"))
        assert offer is not None, page.content()[:2000]
        assert (offer.partner_id, offer.owner_id) == (wanted_id, user_id(app, "staff"))
