"""In a real browser: the lines editor of a draft invoice and of an offer. Choosing a product in
the picker fills the line, the totals change as the quantity is typed (in Hungarian with a
decimal comma, in English with a point), the server's answer confirms them, and a reload shows
the saved line. The script's sums and money are the server's, for many amounts."""

import os
import random
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.formatting import money_format, money_text
from app.models import Invoice, InvoiceLine, Offer, OfferLine, Product
from app.services import acting_as, invoicing
from tests import factories as f
from tests.e2e.conftest import log_in

TIMEOUT = 10_000


def product(app, **kw) -> None:
    with app.app_context(), acting_as(None):
        db.session.add(
            Product(
                **{
                    "code": "KONYV",
                    "name": "Könyvelés",
                    "unit": "month",
                    "price": Decimal("45000.50"),
                    "vat_rate": Decimal("27"),
                    **kw,
                }
            )
        )


def choose_product(page, row, typed: str, name: str) -> None:
    row.locator(".line-product .select2-selection").click()
    page.fill(".select2-container--open .select2-search__field", typed)
    option = page.locator(".select2-results__option", has_text=name)
    option.wait_for(timeout=TIMEOUT)
    option.click()


def total(page, which: str) -> str:
    return page.locator(f".lines-{which}-total").inner_text().strip()


def amounts(lang: str, currency: str, **values) -> dict:
    return {k: money_text(Decimal(v), currency, lang) for k, v in values.items()}


@pytest.mark.parametrize(
    ("lang", "quantity", "heading"),
    [("hu", "2,5", "Tételek"), ("en", "2.5", "Lines")],
)
def test_a_draft_invoices_lines_from_the_catalogue_with_live_totals(
    app, server, page, lang, quantity, heading
):
    product(app)
    with app.app_context():
        partner = f.company(name="Duna Építő Kft.", language="hu")
        invoice_id = invoicing.new_draft(partner.id, None, currency="HUF").id
    log_in(page, server, "finance")
    page.goto(f"{server}/lang/{lang}")
    page.goto(f"{server}/invoices/show/{invoice_id}")
    editor = page.locator(".lines-editor")
    expect(editor.locator(".panel-heading")).to_contain_text(heading)
    row = editor.locator("tr.line-row").first
    choose_product(page, row, "könyv", "Könyvelés")
    # The product fills the line, which is saved at once.
    expect(row.locator("[name=description]")).to_have_value("Könyvelés")
    expect(row.locator("[name=unit]")).to_have_value("month")
    expect(row.locator("[name=unit_price]")).to_have_value("45000,5" if lang == "hu" else "45000.5")
    expect(row.locator("[name=vat_rate]")).to_have_value("27")
    expect(editor).to_have_attribute("data-confirmed", "1", timeout=TIMEOUT)
    with app.app_context():
        want = amounts(lang, "HUF", net="45000.50", vat="12150.14", gross="57150.64")
    assert total(page, "gross") == want["gross"]
    # Typing the quantity changes the totals before anything is saved: 2.5 × 45000.50 =
    # 112501.25, VAT 27 % 30375.34 (rounded to the cent as the server rounds it).
    row.locator("[name=quantity]").fill(quantity)
    with app.app_context():
        want = amounts(lang, "HUF", net="112501.25", vat="30375.34", gross="142876.59")
    expect(page.locator(".lines-gross-total")).to_have_text(want["gross"])
    assert editor.get_attribute("data-confirmed") == ""
    assert (total(page, "net"), total(page, "vat")) == (want["net"], want["vat"])
    # Leaving the field saves it; the server's answer shows the same totals.
    row.locator("[name=quantity]").press("Tab")
    expect(editor).to_have_attribute("data-confirmed", "1", timeout=TIMEOUT)
    assert (total(page, "net"), total(page, "vat"), total(page, "gross")) == (
        want["net"],
        want["vat"],
        want["gross"],
    )
    with app.app_context():
        [line] = db.session.scalars(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
        ).all()
        assert (line.description, line.quantity) == ("Könyvelés", Decimal("2.500"))
        assert db.session.get(Invoice, invoice_id).gross_total == Decimal("142876.59")
    page.reload()
    row = page.locator(".lines-editor tr.line-row").first
    expect(row.locator("[name=quantity]")).to_have_value(quantity)
    os.makedirs("test-results", exist_ok=True)
    page.screenshot(path=f"test-results/lines-editor-invoice-{lang}.png", full_page=True)
    expect(row.locator(".line-product .select2-selection")).to_contain_text("Könyvelés")
    assert total(page, "gross") == want["gross"]
    # A second line from "Add line": its description is saved as soon as it is left; a bad
    # number is refused beside its field and changes nothing.
    page.click(".lines-add")
    page.keyboard.press("Escape")
    second = page.locator(".lines-editor tr.line-row").nth(2)
    second.locator("[name=description]").fill("Kiszállás")
    second.locator("[name=quantity]").fill("két")
    expect(second.locator("[data-field=quantity] .line-error")).to_have_text(
        "Nem szám." if lang == "hu" else "Not a number."
    )
    second.locator("[name=quantity]").fill("1 000 000 000")
    expect(second.locator("[data-field=quantity] .line-error")).to_have_text(
        "A szám túl nagy." if lang == "hu" else "The number is too large."
    )
    second.locator("[name=quantity]").fill("két")
    second.locator("[name=quantity]").press("Tab")
    saved = ".lines-editor tr.line-row[data-line-id]:not([data-line-id=''])"
    expect(page.locator(saved)).to_have_count(2, timeout=TIMEOUT)
    # A refusal of the server, beside its field in the user's language: a line without a
    # product needs a description.
    second.locator("[name=quantity]").fill("1")
    second.locator("[name=description]").fill("")
    second.locator("[name=description]").press("Tab")
    expect(second.locator("[data-field=description] .line-error")).to_have_text(
        "A(z) „Leírás” mező kitöltése kötelező." if lang == "hu" else "Description is required.",
        timeout=TIMEOUT,
    )
    second.locator("[name=description]").fill("Kiszállás")
    second.locator("[name=quantity]").fill("két")
    second.locator("[name=quantity]").press("Tab")
    expect(second.locator("[data-field=description] .line-error")).to_be_empty(timeout=TIMEOUT)
    # The first line is removed without leaving the page.
    row.locator(".line-remove").click()
    expect(page.locator(saved)).to_have_count(1, timeout=TIMEOUT)
    expect(editor).to_have_attribute("data-confirmed", "", timeout=TIMEOUT)  # "két" is typed
    with app.app_context():
        lines = db.session.get(Invoice, invoice_id).lines
        assert [(x.description, x.quantity) for x in lines] == [("Kiszállás", Decimal("1.000"))]


# What the offer's page says, by language: the price of another currency, a discount out of
# range; and the decimal mark typed.
SAID = {
    "hu": (
        "A termék ára HUF pénznemben van.",
        "A kedvezménynek 0 és 100 százalék között kell lennie.",
        ",",
    ),
    "en": (
        "The product's price is in HUF.",
        "The discount must be between 0 and 100 per cent.",
        ".",
    ),
    "ru": ("Цена товара указана в валюте HUF.", "Скидка должна быть от 0 до 100 процентов.", ","),
}


@pytest.mark.parametrize("lang", list(SAID))
def test_an_offers_lines_with_a_discount_and_live_totals(app, server, page, lang):
    hint, out_of_range, mark = SAID[lang]
    product(app, code="LIC", name="Licenc", unit="licence", price=Decimal("10.05"))
    with app.app_context(), acting_as(None):
        partner = f.company(name="Tisza Zrt.", language="hu")
        offer = Offer(name="CRM bevezetés", partner=partner, currency="EUR")
        db.session.add(offer)
        db.session.flush()
        offer_id = offer.id
    log_in(page, server, "staff")
    page.goto(f"{server}/lang/{lang}")
    page.goto(f"{server}/offers/show/{offer_id}")
    editor = page.locator(".lines-editor")
    row = editor.locator("tr.line-row").first
    choose_product(page, row, "lic", "Licenc")
    expect(row.locator("[name=unit_price]")).to_have_value(f"10{mark}05")
    # The catalogue's price is in forints, the offer in euros: said beside the price.
    expect(row.locator(".line-hint")).to_have_text(hint)
    expect(editor).to_have_attribute("data-confirmed", "1", timeout=TIMEOUT)
    # A discount out of range is said as it is typed, in the model's words.
    row.locator("[name=discount]").fill("101")
    refusal = row.locator("[data-field=discount] .line-error")
    expect(refusal).to_have_text(out_of_range)
    # A description left empty is the product's again, as the server stores it.
    row.locator("[name=description]").fill("")
    row.locator("[name=description]").press("Tab")
    row.locator("[name=quantity]").fill("3")
    row.locator("[name=discount]").fill(f"12{mark}5")
    # 3 × 10.05 − 12.5 % = 26.38125 → 26.38; VAT 7.12; gross 33.50
    with app.app_context():
        want = amounts(lang, "EUR", net="26.38", vat="7.12", gross="33.50")
    expect(page.locator(".lines-gross-total")).to_have_text(want["gross"])
    expect(row.locator(".line-net")).to_have_text(want["net"])
    row.locator("[name=discount]").press("Tab")
    expect(editor).to_have_attribute("data-confirmed", "1", timeout=TIMEOUT)
    expect(refusal).to_be_empty()
    expect(row.locator("[name=description]")).to_have_value("Licenc")
    assert total(page, "gross") == want["gross"]
    page.reload()
    row = page.locator(".lines-editor tr.line-row").first
    page.screenshot(path=f"test-results/lines-editor-offer-{lang}.png", full_page=True)
    expect(row.locator("[name=discount]")).to_have_value(f"12{mark}5")
    assert total(page, "net") == want["net"]
    with app.app_context():
        [line] = db.session.scalars(select(OfferLine).where(OfferLine.offer_id == offer_id)).all()
        assert (line.description, line.net, line.vat) == (
            "Licenc",
            Decimal("26.38"),
            Decimal("7.12"),
        )


def test_the_scripts_sums_and_money_are_the_servers(app, server, page):
    """Many random lines: the script's net and VAT (exact decimals, half to even) equal the
    model's, and its money text equals money_text in every language and currency."""
    with app.app_context():
        partner = f.company(name="Duna Építő Kft.")
        invoice_id = invoicing.new_draft(partner.id, None, currency="HUF").id
    log_in(page, server, "finance")
    page.goto(f"{server}/invoices/show/{invoice_id}")
    page.wait_for_function("window.DossierLines !== undefined")
    rng = random.Random(14)
    cases = []
    for _ in range(400):
        quantity = Decimal(rng.randrange(1, 100_000)) / 1000
        price = Decimal(rng.randrange(0, 10_000_000)) / 100
        discount = rng.choice([None, Decimal(rng.randrange(0, 10_000)) / 100])
        rate = rng.choice([Decimal(0), Decimal(5), Decimal(18), Decimal(27), Decimal("5.5")])
        line = (
            InvoiceLine(quantity=quantity, unit_price=price, vat_rate=rate)
            if discount is None
            else OfferLine(quantity=quantity, unit_price=price, vat_rate=rate, discount=discount)
        )
        cases.append(
            {
                "q": str(quantity),
                "p": str(price),
                "d": None if discount is None else str(discount),
                "r": str(rate),
                "net": line.net,
                "vat": line.vat,
            }
        )
    found = page.evaluate(
        """cases => cases.map(c => {
            const net = DossierLines.net(c.q, c.p, c.d);
            return [net, DossierLines.vat(net, c.r)];
        })""",
        [{k: v for k, v in c.items() if k not in ("net", "vat")} for c in cases],
    )
    for case, (net, vat) in zip(cases, found, strict=True):
        assert (Decimal(net), Decimal(vat)) == (case["net"], case["vat"]), case
    money_cases = []
    with app.app_context():
        for lang in ("en", "hu", "pl", "de", "ru"):
            for currency in ("HUF", "EUR", "PLN", "RUB", "USD"):
                for _ in range(12):
                    amount = Decimal(rng.randrange(-(10**9), 10**9)) / 100
                    money_cases.append(
                        (
                            str(amount),
                            money_format(currency, lang),
                            money_text(amount, currency, lang),
                        )
                    )
    written = page.evaluate(
        "cases => cases.map(c => DossierLines.money(c[0], c[1]))",
        [[a, fmt] for a, fmt, _ in money_cases],
    )
    assert written == [text for _, _, text in money_cases]


def test_without_javascript_each_row_is_saved_by_its_own_button(app, server, page):
    with app.app_context():
        partner = f.company(name="Duna Építő Kft.", language="hu")
        invoice_id = invoicing.new_draft(partner.id, None, currency="EUR").id
    context = page.context.browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    try:
        log_in(plain, server, "finance")
        plain.goto(f"{server}/lang/de")
        plain.goto(f"{server}/invoices/show/{invoice_id}")
        row = plain.locator(".lines-editor tr.line-new")
        row.locator("[name=description]").fill("Beratung")
        row.locator("[name=quantity]").fill("1,5")
        row.locator("[name=unit_price]").fill("80")
        row.locator("[name=vat_rate]").fill("19")
        with plain.expect_navigation():
            row.locator(".line-save").click()
        assert "Die Position wurde gespeichert." in plain.content()
        saved = plain.locator(".lines-editor tr.line-row").first
        expect(saved.locator("[name=quantity]")).to_have_value("1,5")
        with app.app_context():
            assert plain.locator(".lines-gross-total").inner_text().strip() == money_text(
                Decimal("142.80"), "EUR", "de"
            )
        saved.locator("[name=quantity]").fill("2")
        with plain.expect_navigation():
            saved.locator(".line-save").click()
        with app.app_context():
            [line] = db.session.get(Invoice, invoice_id).lines
            assert (line.description, line.quantity, line.net) == (
                "Beratung",
                Decimal("2.000"),
                Decimal("160.00"),
            )
        with plain.expect_navigation():
            plain.locator(".lines-editor tr.line-row .line-remove").first.click()
        assert "Die Position wurde entfernt." in plain.content()
        with app.app_context():
            assert db.session.get(Invoice, invoice_id).lines == []
    finally:
        context.close()
