"""In a real browser: a list's relation filter is a picker that asks the server as the user
types, filters the list, and shows the chosen record again on the filtered page."""

from playwright.sync_api import expect

from app.extensions import db
from tests import factories as f
from tests.conftest import user_id
from tests.e2e.conftest import log_in


def test_filter_the_people_list_by_an_owner_picked_by_typing(app, server, page):
    with app.app_context():
        f.person(first_name="Piroska", last_name="Managed", owner_id=user_id(app, "manager"))
        f.person(first_name="Pál", last_name="Elsewhere", owner_id=user_id(app, "staff"))
        db.session.commit()
    log_in(page, server, "staff")
    page.goto(f"{server}/people/list/")
    page.click("#accordion1 a.accordion-toggle")  # the search panel opens
    page.click("#filter_form .dropdown-toggle")
    page.click("#filter_form a.filter[name=owner]")
    picker = page.locator("#filter_form select.dossier-picker + .select2 .select2-selection")
    picker.click()
    with page.expect_response(lambda answer: "/pick/user/?q=manag" in answer.url):
        page.fill(".select2-container--open .select2-search__field", "manag")
    page.locator(".select2-results__option", has_text="Manager User").click()
    with page.expect_navigation():
        page.click("#filter_form button[type=submit]")
    assert f"_owner={user_id(app, 'manager')}" in page.url
    expect(page.locator("a.sheet-link", has_text="Piroska Managed")).to_have_count(1)
    expect(page.locator("a.sheet-link", has_text="Pál Elsewhere")).to_have_count(0)
    expect(picker).to_contain_text("Manager User")
