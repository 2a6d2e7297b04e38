"""In a real browser: the navbar's search box, "/" to focus it, accents and Cyrillic."""

from tests import factories as f
from tests.e2e.conftest import log_in


def test_search_from_the_navbar_with_accents_and_cyrillic(app, server, page):
    with app.app_context():
        kovacs = f.person(first_name="János", last_name="Kovács")
        f.address(kovacs, city="Debrecen")
        ivan = f.person(first_name="Иван", last_name="Петров")
        kovacs_id, ivan_id = kovacs.id, ivan.id
    log_in(page, server, "staff")
    page.goto(f"{server}/people/list/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "navbar-search"
    page.keyboard.type("kovacs")
    page.keyboard.press("Enter")
    page.wait_for_selector(".search-result")
    assert "/search/" in page.url
    result = page.locator(f'.search-result a[href="/partner/{kovacs_id}"]')
    assert result.inner_text().strip() == "János Kovács"
    assert "Debrecen" in page.locator(".search-result").first.inner_text()
    page.fill("#navbar-search", "иван")
    page.press("#navbar-search", "Enter")
    page.wait_for_selector(f'.search-result a[href="/partner/{ivan_id}"]')
    page.click(f'.search-result a[href="/partner/{ivan_id}"]')
    page.wait_for_selector(".datasheet")
    assert page.locator(".sheet-name").inner_text().startswith("Иван Петров")


def test_slash_types_a_slash_in_a_field(app, server, page):
    log_in(page, server, "staff")
    page.goto(f"{server}/search/")
    page.click("input.form-control[name=q]:not(#navbar-search)")
    page.keyboard.type("a/b")
    assert page.input_value("input.form-control[name=q]:not(#navbar-search)") == "a/b"
