"""Our company (the seller), invoices a customer accepts (the PDF in five languages, no text
overlapping), and credit notes."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.errors import SellerDataMissing
from app.extensions import db
from app.models import Invoice, InvoiceRunRefusal, OurCompany, RecurringInvoice
from app.services import invoicing, recurring
from app.services.company import save_our_company
from app.services.words import amount_in_words, hungarian, polish
from tests import factories as f
from tests.conftest import at_once, find_csrf
from tests.pdf_text import overlapping, page_text

LANGUAGES = ["en", "hu", "pl", "de", "ru"]
LONG_NAME = "Nagy- és Kiskereskedelmi Szolgáltató és Tanácsadó Korlátolt Felelősségű Társaság"
LONG_ADDRESS = (
    "Szent István körút 123. IV. emelet 12. ajtó, Belső udvar, B épület\n"
    "1137 Budapest XIII. kerület, Magyarország"
)


def draft(language="hu", currency="HUF", name="Duna Építő Kft.", lines=2, **kw) -> int:
    partner = f.company(name=name, language=language, tax_number=kw.pop("tax_number", None))
    f.address(partner, type="billing", street=kw.pop("street", "Váci utca 1"), city="Budapest")
    invoice = invoicing.new_draft(partner.id, None, currency=currency)
    for i in range(lines):
        invoicing.add_line(
            invoice.id,
            None,
            description=kw.get("description", f"Könyvelés {i + 1}. hó"),
            quantity=2,
            unit="month",
            unit_price=Decimal("12500.50"),
            vat_rate=27 if i % 2 == 0 else 5,
        )
    return invoice.id


def clear_company(**fields):
    values = {"name": None, "address": None, "tax_number": None, "bank_accounts": []}
    values.update(fields)
    save_our_company(None, **values)


# --- amount in words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, words",
    [
        (0, "nulla"),
        (2, "kettő"),
        (12, "tizenkettő"),
        (22, "huszonkettő"),
        (1500, "ezerötszáz"),
        (2000, "kétezer"),
        (12345, "tizenkétezer-háromszáznegyvenöt"),
        (1_000_001, "egymillió-egy"),
    ],
)
def test_hungarian_numbers_in_words(number, words):
    assert hungarian(number) == words


@pytest.mark.parametrize(
    "number, words",
    [
        (1, "jeden"),
        (12, "dwanaście"),
        (1000, "tysiąc"),
        (2345, "dwa tysiące trzysta czterdzieści pięć"),
        (12_000, "dwanaście tysięcy"),
        (22_000, "dwadzieścia dwa tysiące"),
        (1_250_000, "milion dwieście pięćdziesiąt tysięcy"),
    ],
)
def test_polish_numbers_in_words(number, words):
    assert polish(number) == words


def test_amounts_in_words_only_where_customary():
    assert amount_in_words(Decimal("31751.27"), "HUF", "hu") == (
        "harmincegyezer-hétszázötvenegy forint 27/100"
    )
    assert amount_in_words(Decimal("2"), "PLN", "pl") == "dwa złote"
    assert amount_in_words(Decimal("5"), "PLN", "pl") == "pięć złotych"
    assert amount_in_words(Decimal("10"), "EUR", "de") is None


# --- our company: REST ------------------------------------------------------------------


def test_our_company_is_read_and_changed_by_admin_and_finance_only(app, api):
    for username in ("staff", "manager", "readonly"):
        client = api(username)
        assert client.get("/api/v1/our_company/1").status_code == 403
        assert client.put("/api/v1/our_company/1", json={"name": "X"}).status_code == 403
    answer = api("finance").get("/api/v1/our_company/1")
    assert answer.status_code == 200
    result = answer.get_json()["result"]
    assert result["tax_number"] == "12345678-2-41"
    assert {"currency": "HUF", "iban": "HU42117730161111101800000000", "swift": "OTPVHUHB"} in (
        result["bank_accounts"]
    )
    changed = api("admin").put(
        "/api/v1/our_company/1",
        json={
            "name": "Új Név Kft.",
            "payment_terms_days": 15,
            "bank_accounts": [
                {"currency": "EUR", "iban": "DE89 3704 0044 0532 0130 00", "swift": "cobadeff"}
            ],
        },
    )
    assert changed.status_code == 200, changed.get_json()
    result = changed.get_json()["result"]
    assert (result["name"], result["payment_terms_days"]) == ("Új Név Kft.", 15)
    assert result["bank_accounts"] == [
        {"currency": "EUR", "iban": "DE89370400440532013000", "swift": "COBADEFF"}
    ]
    assert result["tax_number"] == "12345678-2-41"  # left out: kept
    assert api("admin").get("/api/v1/our_company/2").status_code == 404


@pytest.mark.parametrize(
    "account, field",
    [
        ({"currency": "HUF", "iban": "HU42117730161111101800000001", "swift": "OTPVHUHB"}, "iban"),
        ({"currency": "HUF", "iban": "HU4211773016111110180000", "swift": "OTPVHUHB"}, "iban"),
        ({"currency": "HUF", "iban": "XX42117730161111101800000000", "swift": "OTPVHUHB"}, "iban"),
        ({"currency": "HUF", "iban": "HU42117730161111101800000000", "swift": "OTP1"}, "swift"),
        ({"currency": "HUF", "iban": "HU42117730161111101800000000", "swift": "OTPV12HB"}, "swift"),
        ({"currency": "XYZ", "iban": "HU42117730161111101800000000", "swift": "OTPVHUHB"}, None),
    ],
)
def test_a_bad_iban_or_swift_is_refused_and_nothing_changes(app, api, account, field):
    answer = api("finance").put("/api/v1/our_company/1", json={"bank_accounts": [account]})
    assert answer.status_code == 400
    message = answer.get_json()["message"]
    assert field is None or field in message
    with app.app_context():
        assert len(db.session.get(OurCompany, 1).bank_accounts) == len(f.BANK_ACCOUNTS)


def test_one_bank_account_per_currency(app, api):
    twice = [
        {"currency": "HUF", "iban": "HU42117730161111101800000000", "swift": "OTPVHUHB"},
        {"currency": "HUF", "iban": "HU15117730161111101800000001", "swift": "OTPVHUHB"},
    ]
    answer = api("admin").put("/api/v1/our_company/1", json={"bank_accounts": twice})
    assert answer.status_code == 400
    assert "HUF" in str(answer.get_json()["message"])
    for bad in ({"bank_accounts": "HU42"}, {"payment_terms_days": "ten"}, {"name": 5}):
        assert api("admin").put("/api/v1/our_company/1", json=bad).status_code == 400
    assert api("admin").put("/api/v1/our_company/1", json=[1]).status_code == 400


# --- our company: screen and logo ------------------------------------------------------


def png(size=(40, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def company_form(page: str, **changes) -> dict:
    data = {
        "csrf_token": find_csrf(page),
        "name": "Képernyő Kft.",
        "address": "Fő utca 2, Budapest",
        "tax_number": "11111111-2-11",
        "eu_vat_number": "",
        "registration_number": "",
        "payment_terms_days": "10",
        "quote_valid_days": "30",
        "payment_method": "transfer",
        "footer": "Köszönjük!",
        "bank_accounts-0-currency": "HUF",
        "bank_accounts-0-iban": "HU42 1177 3016 1111 1018 0000 0000",
        "bank_accounts-0-swift": "OTPVHUHB",
    }
    data.update(changes)
    return data


def test_the_screen_saves_the_company_and_its_logo_for_finance_only(app, login):
    assert login("staff").get("/our-company/").status_code == 403
    client = login("finance")
    page = client.get("/our-company/").get_data(as_text=True)
    assert "OTPVHUHB" in page
    data = company_form(page, logo=(io.BytesIO(png()), "logo.png"))
    answer = client.post("/our-company/", data=data, content_type="multipart/form-data")
    assert answer.status_code == 302
    with app.app_context():
        company = db.session.get(OurCompany, 1)
        assert (company.name, company.payment_terms_days) == ("Képernyő Kft.", 10)
        assert [a.currency for a in company.bank_accounts] == ["HUF"]
        assert company.logo_type == "image/png" and company.logo.startswith(b"\x89PNG")
    assert client.get("/our-company/logo").status_code == 200


def test_the_screen_keeps_the_input_and_says_what_is_wrong(app, login):
    client = login("admin")
    page = client.get("/our-company/").get_data(as_text=True)
    answer = client.post(
        "/our-company/", data=company_form(page, **{"bank_accounts-0-iban": "HU00 1234"})
    )
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "not a valid IBAN" in text
    assert "Képernyő Kft." in text
    with app.app_context():
        assert db.session.get(OurCompany, 1).name == "Dossier Minta Kft."


@pytest.mark.parametrize(
    "content",
    [b"GIF89a" + b"\0" * 100, b"\x89PNG\r\n\x1a\n" + b"broken", b"\x89PNG\r\n\x1a\n" * 70000],
)
def test_a_logo_of_another_type_broken_or_too_large_is_refused(app, login, content):
    client = login("admin")
    page = client.get("/our-company/").get_data(as_text=True)
    data = company_form(page, logo=(io.BytesIO(content), "logo.png"))
    answer = client.post("/our-company/", data=data, content_type="multipart/form-data")
    assert "PNG or JPEG" in answer.get_data(as_text=True) or "KB" in answer.get_data(as_text=True)
    with app.app_context():
        company = db.session.get(OurCompany, 1)
        assert company.logo_type is None and company.name == "Dossier Minta Kft."


# --- issuing is refused without seller data ----------------------------------------------


def test_issuing_is_refused_while_seller_data_is_missing(app, ctx):
    iid = draft()
    clear_company()
    with pytest.raises(SellerDataMissing) as refused:
        invoicing.issue(iid, None)
    assert "tax number" in str(refused.value) and "HUF" in str(refused.value)
    assert db.session.get(Invoice, iid).status == "draft"
    f.our_company(bank_accounts=[f.BANK_ACCOUNTS[1]])  # EUR only
    with pytest.raises(SellerDataMissing) as refused:
        invoicing.issue(iid, None)
    assert str(refused.value).endswith("a bank account in HUF.")
    f.our_company(bank_accounts=[f.BANK_ACCOUNTS[1]], payment_method="cash")
    assert invoicing.issue(iid, None).number  # paid in cash: no account needed


def test_the_screen_and_the_api_refuse_to_issue_without_seller_data(app, login, api):
    with app.app_context():
        first, second = draft(), draft(name="Tisza Zrt.")
        clear_company(name="Minta Kft.")
    client = login("finance")
    page = client.get(f"/invoices/show/{first}").get_data(as_text=True)
    answer = client.post(
        f"/invoices/{first}/issue", data={"csrf_token": find_csrf(page)}, follow_redirects=True
    )
    assert "Settings → Our company lacks: address, tax number" in answer.get_data(as_text=True)
    answer = api("finance").post(f"/api/v1/invoice/{second}/issue", json={})
    assert answer.status_code == 409
    assert "tax number" in answer.get_json()["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Invoice.number.is_not(None))) == 0


def test_the_invoicing_run_records_the_refusal_per_partner(app, login):
    with app.app_context():
        huf = draft(name="Forint Kft.")
        eur = draft(name="Euro GmbH", currency="EUR")
        for iid in (huf, eur):
            invoice = invoicing.issue(iid, None, today=date(2026, 1, 5))
            recurring.save_settings(
                invoice.partner_id,
                None,
                template_id=iid,
                frequency="monthly",
                next_date=date(2026, 2, 1),
                delivery="post",
            )
        f.our_company(bank_accounts=[f.BANK_ACCOUNTS[0]])  # no EUR account
        run = recurring.run(recurring.start(None, date(2026, 2, 1), queue_job=False).id)
        assert (run.status, run.made) == ("done", 1)
        [refusal] = db.session.scalars(select(InvoiceRunRefusal)).all()
        assert refusal.partner.display_name == "Euro GmbH"
        assert "a bank account in EUR" in refusal.message
        eur_setting = db.session.scalar(
            select(RecurringInvoice).where(RecurringInvoice.template_id == eur)
        )
        assert eur_setting.next_date == date(2026, 2, 1)  # still due
        run_id = run.id
        f.our_company()
        again = recurring.run(recurring.start(None, date(2026, 2, 1), queue_job=False).id)
        assert (again.status, again.made) == ("done", 1)
    page = login("finance").get(f"/automatic-invoicing/run/{run_id}").get_data(as_text=True)
    assert "Euro GmbH" in page and "a bank account in EUR" in page


# --- the PDF -----------------------------------------------------------------------------

EXPECTED = {
    "en": ("Supply date", "VAT summary"),
    "hu": ("Teljesítés dátuma", "ÁFA-összesítő"),
    "pl": ("Data sprzedaży", "Podsumowanie VAT"),
    "de": ("Leistungsdatum", "MwSt.-Übersicht"),
    "ru": ("Дата поставки", "Сводка по НДС"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_invoice_pdf_carries_what_a_customer_accepts(app, ctx, language):
    iid = draft(language=language, tax_number="98765432-1-12", lines=1)
    invoicing.issue(iid, None, today=date(2026, 3, 1))
    text = page_text(invoicing.render_pdf(db.session.get(Invoice, iid)))
    supply, summary = EXPECTED[language]
    assert "Dossier Minta Kft." in text and "12345678-2-41" in text  # seller, tax number
    assert "HU42 1177 3016 1111 1018 0000 0000" in text and "OTPVHUHB" in text
    assert "98765432-1-12" in text and "Duna Építő Kft." in text  # buyer
    assert supply in text and summary in text
    if language == "hu":
        assert "Azaz: harmincegyezer-hétszázötvenegy forint 27/100" in text.replace("\n", " ")
    if language == "pl":
        assert (
            "Słownie: trzydzieści jeden tysięcy siedemset pięćdziesiąt jeden forintów 27/100"
            in (text.replace("\n", " "))
        )


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_text_overlaps_on_the_invoice_in_any_language(app, ctx, language):
    f.our_company(name=LONG_NAME, address=LONG_ADDRESS, footer="Köszönjük! " * 30)
    save_our_company(None, **{"eu_vat_number": "HU12345678"})
    from app.services.company import set_logo

    set_logo(None, io.BytesIO(png((300, 100))))
    iid = draft(
        language=language,
        name="Rhein-Neckar Verwaltungs- und Beteiligungsgesellschaft mbH & Co. KG",
        tax_number="DE123456789",
        street=LONG_ADDRESS,
        lines=4,
        description="Buchhaltungs- und Lohnabrechnungsdienstleistungen für Oktober 2026",
    )
    invoicing.issue(iid, None, today=date(2026, 3, 1))
    invoice = db.session.get(Invoice, iid)
    assert overlapping(invoicing.render_pdf(invoice)) == []
    note = invoicing.cancel(iid, None, today=date(2026, 3, 2))
    assert overlapping(invoicing.render_pdf(note)) == []


def test_the_overlap_check_finds_overlapping_text(app):
    from xhtml2pdf import pisa

    from app.services.invoicing import FONTS

    html = (
        f'<html><head><style>@font-face {{ font-family: D; src: url("{FONTS}/DejaVuSans.ttf"); }}'
        "body { font-family: D; }</style></head><body>"
        '<div style="position: absolute">Leistungsdatum Leistungsdatum</div>'
        '<table><tr><td width="5%">Leistungsdatumszeitraum</td><td width="95%">Netto</td></tr>'
        "</table></body></html>"
    )
    out = io.BytesIO()
    pisa.CreatePDF(html, dest=out, encoding="utf-8")
    assert overlapping(out.getvalue())


# --- credit notes ------------------------------------------------------------------------


def test_cancelling_issues_a_numbered_credit_note_and_leaves_the_invoice_as_it_was(app, ctx):
    iid = draft(lines=2)
    invoicing.issue(iid, None, today=date(2026, 3, 1))
    before = {c: getattr(db.session.get(Invoice, iid), c) for c in ("status", "gross_total")}
    note = invoicing.cancel(iid, None, today=date(2026, 3, 5))
    other = draft(name="Tisza Zrt.")
    invoicing.issue(other, None, today=date(2026, 3, 6))
    second = invoicing.cancel(other, None, today=date(2026, 3, 7))
    assert (note.number, second.number) == ("CN-2026/000001", "CN-2026/000002")
    assert db.session.get(Invoice, other).number == "2026/000002"  # invoices count on
    db.session.expire_all()
    original = db.session.get(Invoice, iid)
    assert {c: getattr(original, c) for c in before} == before
    assert original.state == "cancelled" and original.status == "issued"
    assert note.credited_invoice_id == iid and note.kind == "credit_note"
    assert note.gross_total == -original.gross_total
    assert [line.unit_price for line in note.lines] == [-x.unit_price for x in original.lines]
    assert [line.description for line in note.lines] == [x.description for x in original.lines]
    text = page_text(invoicing.render_pdf(note))
    assert "CN-2026/000001" in text and "2026/000001" in text


def test_drafts_cancelled_invoices_and_credit_notes_are_not_cancelled(app, ctx):
    from app.errors import InvalidValue

    iid = draft()
    with pytest.raises(InvalidValue):
        invoicing.cancel(iid, None)
    invoicing.issue(iid, None)
    note = invoicing.cancel(iid, None)
    with pytest.raises(InvalidValue):
        invoicing.cancel(iid, None)
    with pytest.raises(InvalidValue):
        invoicing.cancel(note.id, None)
    with pytest.raises(InvalidValue):
        invoicing.record_payment(iid, None, 1)
    assert db.session.scalar(select(func.count()).where(Invoice.kind == "credit_note")) == 1


def test_the_screen_and_the_api_cancel_with_a_credit_note(app, login, api):
    with app.app_context():
        first, second, open_draft = draft(), draft(name="B Kft."), draft(name="C Kft.")
        invoicing.issue(first, None)
        invoicing.issue(second, None)
    client = login("finance")
    page = client.get(f"/invoices/show/{first}").get_data(as_text=True)
    assert "data-confirm" in page and f"/invoices/{first}/cancel" in page
    answer = client.post(
        f"/invoices/{first}/cancel", data={"csrf_token": find_csrf(page)}, follow_redirects=True
    )
    assert "is cancelled by credit note CN-" in answer.get_data(as_text=True)
    answer = api("finance").post(f"/api/v1/invoice/{second}/cancel", json={})
    assert answer.status_code == 201
    assert answer.get_json()["result"]["number"].startswith("CN-")
    assert api("finance").post(f"/api/v1/invoice/{second}/cancel", json={}).status_code == 400
    assert api("finance").post(f"/api/v1/invoice/{open_draft}/cancel", json={}).status_code == 400
    assert api("staff").post(f"/api/v1/invoice/{second}/cancel", json={}).status_code == 403
    shown = api("finance").get(f"/api/v1/invoice/{second}").get_json()["result"]
    assert shown["status"] == "issued"  # the invoice itself is not rewritten
    assert shown["state"] == "cancelled"  # what users read: cancelled by its credit note
    listed = api("finance").get("/api/v1/invoice/").get_json()["result"]
    assert {row["id"]: row["state"] for row in listed}[second] == "cancelled"


def test_two_cancels_at_once_issue_one_credit_note(app, live_server):
    with app.app_context():
        iid = draft()
        invoicing.issue(iid, None)
    clients = [live_server.client().api_login("finance") for _ in range(2)]
    answers = at_once(
        *[lambda c=c: c.request("POST", f"/api/v1/invoice/{iid}/cancel", json={}) for c in clients]
    )
    assert sorted(a.status_code for a in answers) == [201, 400]
    with app.app_context():
        notes = db.session.scalars(select(Invoice).where(Invoice.kind == "credit_note")).all()
        assert [n.number for n in notes] == ["CN-" + str(date.today().year) + "/000001"]
