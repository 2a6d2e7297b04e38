"""The layout in a real browser, in every language: at 1366 × 768 the admin's top menu (the most
entries) stays on one row with room for the navbar's search box; on a 390 × 844 phone the People
list keeps the name and the e-mail in view, the data sheet stacks and no page scrolls sideways;
and the 404 page in German. Screenshots go to test-results/."""

import os

import pytest
from flask_babel import force_locale, gettext

from tests import factories as f
from tests.e2e.conftest import log_in

LANGUAGES = ["en", "hu", "pl", "de", "ru"]
SEARCH_ROOM = 220  # px the navbar's search box takes, before the user menu

# The navbar's search box when the page has one, else a stand-in as wide, where it goes.
MAKE_ROOM_FOR_SEARCH = """(width) => {
  const right = document.querySelector('.navbar-collapse .navbar-right');
  if (right.querySelector('input[type=search], input[name=q]')) return 'search box';
  const stand_in = document.createElement('li');
  stand_in.className = 'search-stand-in';
  stand_in.style.width = width + 'px';
  stand_in.style.height = '50px';
  right.insertBefore(stand_in, right.lastElementChild);
  return 'stand-in';
}"""

NAVBAR = """() => {
  const items = [...document.querySelectorAll('.navbar-collapse > .navbar-nav > li')]
    .filter(li => li.offsetParent !== null)
    .map(li => ({
      text: li.innerText.trim(), top: li.offsetTop, right: li.getBoundingClientRect().right,
    }));
  return {items, height: document.querySelector('.navbar').getBoundingClientRect().height};
}"""

OVERFLOW = """() => ({
  scroll: document.documentElement.scrollWidth,
  view: document.documentElement.clientWidth,
})"""


def screenshot(page, name: str) -> None:
    os.makedirs("test-results", exist_ok=True)
    page.screenshot(path=f"test-results/layout-{name}.png", full_page=True)


def assert_no_sideways_scroll(page) -> None:
    sizes = page.evaluate(OVERFLOW)
    assert sizes["scroll"] <= sizes["view"], (page.url, sizes)


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


@pytest.fixture
def partner(app):
    with app.app_context():
        person = f.person(
            first_name="Małgorzata",
            last_name="Wiśniewska-Kowalczyk",
            email="malgorzata.wisniewska-kowalczyk@example.com",
            phone="+48 600 123 456",
        )
        f.address(person, city="Warszawa")
        return person.id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_layout_holds_in_every_language(app, server, page, partner, lang):
    log_in(page, server, "admin")
    page.goto(f"{server}/lang/{lang}")

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server}/people/list/")
    page.evaluate(MAKE_ROOM_FOR_SEARCH, SEARCH_ROOM)
    navbar = page.evaluate(NAVBAR)
    items = navbar["items"]
    assert len(items) >= 9, items  # the admin's menus, the bell, language, search, user
    assert {item["top"] for item in items} == {items[0]["top"]}, items
    assert max(item["right"] for item in items) <= 1366, items
    assert navbar["height"] < 60, navbar  # one row: Bootstrap's navbar is 50 px high
    assert_no_sideways_scroll(page)
    screenshot(page, f"{lang}-1366")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/people/list/")
    assert_no_sideways_scroll(page)
    for cell in ("td.list-display_name", "td.list-email"):
        shown = box(page, cell)
        assert shown is not None and shown["width"] > 0, cell
        assert 0 <= shown["x"] and shown["x"] + shown["width"] <= 390, (cell, shown)
    assert page.locator("td.list-email").first.inner_text().replace("\n", "") == (
        "malgorzata.wisniewska-kowalczyk@example.com"
    )
    assert not page.locator("td.list-phone").first.is_visible()
    screenshot(page, f"{lang}-390-people")

    page.goto(f"{server}/partner/{partner}")
    page.wait_for_selector(".datasheet")
    assert_no_sideways_scroll(page)
    # The sheet's two columns one under the other, each as wide as the phone allows.
    main, side = (
        box(page, ".datasheet > .row > .col-md-8"),
        box(page, ".datasheet > .row > .col-md-4"),
    )
    assert side["y"] >= main["y"] + main["height"] - 1, (main, side)
    assert main["x"] + main["width"] <= 390 and side["x"] + side["width"] <= 390
    # Every tab can be reached and opens its dossier.
    tabs = page.locator(".datasheet .nav-tabs > li > a")
    for index in range(tabs.count()):
        tab = box(page, f".datasheet .nav-tabs > li:nth-child({index + 1}) > a")
        assert 0 <= tab["x"] and tab["x"] + tab["width"] <= 390, tab
    tabs.nth(1).click()
    page.wait_for_load_state()
    assert_no_sideways_scroll(page)
    screenshot(page, f"{lang}-390-sheet")

    page.goto(f"{server}/people/add")
    assert_no_sideways_scroll(page)
    field = box(page, "#model_form input#email")
    assert field["width"] > 300, field  # full width on the phone
    screenshot(page, f"{lang}-390-form")


def test_a_missing_page_in_german(app, server, page):
    with app.test_request_context(), force_locale("de"):
        title = gettext("Page not found")
        home = gettext("Home page")
    log_in(page, server, "staff")
    page.goto(f"{server}/lang/de")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 768})
        response = page.goto(f"{server}/no-such-page")
        assert response.status == 404
        assert title in page.locator(".error-title").inner_text()
        assert page.locator(".navbar").count() == 1
        assert_no_sideways_scroll(page)
        screenshot(page, f"de-{width}-404")
    with page.expect_navigation():
        page.click(f"text={home}")
    assert page.url.rstrip("/") == server
