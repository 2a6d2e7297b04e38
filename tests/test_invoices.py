"""Invoices: gapless numbers per year, frozen once issued, PDF in the partner's language."""

import io
import threading
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from pypdf.generic import ContentStream
from sqlalchemy import select

from app.errors import InvoiceLocked
from app.extensions import db
from app.models import Invoice, InvoiceLine
from app.services import invoicing
from tests import factories as f
from tests.conftest import user_id


def fonts_drawing_text(page) -> set[str]:
    names = {
        key: str(font.get_object()["/BaseFont"])
        for key, font in page["/Resources"]["/Font"].items()
    }
    used, current = set(), None
    for operands, operator in ContentStream(page.get_contents(), page.pdf).operations:
        if operator == b"Tf":
            current = names.get(str(operands[0]))
        elif operator in (b"Tj", b"TJ", b"'", b'"') and current:
            used.add(current)
    return used


def draft(app, language="hu", lines=1, **partner):
    with app.app_context():
        p = f.company(
            name=partner.pop("name", "Duna Építő Kft."),
            language=language,
            tax_number=partner.pop("tax_number", None),
        )
        f.address(p, type="billing", street="Váci utca 1", city="Budapest")
        invoice = invoicing.new_draft(p.id, None, currency="HUF")
        for i in range(lines):
            invoicing.add_line(
                invoice.id,
                None,
                description=f"Könyvelés {i + 1}. hó",
                quantity=2,
                unit_price=Decimal("1000.50"),
                vat_rate=27,
            )
        return invoice.id


def test_issuing_numbers_snapshots_and_totals(app, ctx):
    first = draft(app, lines=2)
    second = draft(app, name="Tisza Zrt.")
    invoicing.issue(first, None, today=date(2026, 3, 1))
    invoicing.issue(second, None, today=date(2026, 3, 2))
    a, b = db.session.get(Invoice, first), db.session.get(Invoice, second)
    assert (a.number, b.number) == ("2026/000001", "2026/000002")
    assert a.billing_name == "Duna Építő Kft." and "Váci utca 1" in a.billing_address
    assert (a.net_total, a.vat_total, a.gross_total) == (
        Decimal("4002.00"),
        Decimal("1080.54"),
        Decimal("5082.54"),
    )
    assert a.due_date == date(2026, 3, 9)
    third = draft(app, name="Mátra Bt.")
    assert invoicing.issue(third, None, today=date(2027, 1, 2)).number == "2027/000001"


def test_an_issued_invoice_cannot_be_edited_only_cancelled(app, ctx):
    iid = draft(app)
    invoicing.issue(iid, None, today=date(2026, 3, 1))
    invoice = db.session.get(Invoice, iid)
    invoice.notes = "changed"
    with pytest.raises(InvoiceLocked):
        db.session.commit()
    db.session.rollback()
    line = db.session.scalar(select(InvoiceLine).where(InvoiceLine.invoice_id == iid))
    line.unit_price = Decimal(1)
    with pytest.raises(InvoiceLocked):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(InvoiceLocked):
        invoicing.add_line(iid, None, description="more", quantity=1, unit_price=1)
    db.session.rollback()
    with pytest.raises(InvoiceLocked):
        invoicing.issue(iid, None)
    assert invoicing.set_status(iid, None, "cancelled").state == "cancelled"
    with pytest.raises(InvoiceLocked):
        invoicing.set_status(iid, None, "paid")


def test_an_empty_draft_cannot_be_issued_and_keeps_no_number(app, ctx):
    iid = draft(app, lines=0)
    from app.errors import InvalidValue

    with pytest.raises(InvalidValue):
        invoicing.issue(iid, None)
    db.session.rollback()
    other = draft(app, name="Other Kft.")
    assert invoicing.issue(other, None, today=date(2026, 5, 1)).number == "2026/000001"


def test_invoices_issued_at_the_same_moment_never_share_or_skip_a_number(app):
    ids = [draft(app, name=f"Cég {i}") for i in range(6)]
    numbers, errors = [], []
    barrier = threading.Barrier(len(ids))

    def work(invoice_id):
        with app.app_context():
            barrier.wait()
            for _attempt in range(20):
                try:
                    numbers.append(invoicing.issue(invoice_id, None, date(2026, 6, 1)).number)
                    return
                except Exception as error:  # SQLite: "database is locked" — try again
                    db.session.rollback()
                    if "locked" not in str(error):
                        errors.append(error)
                        return
            errors.append(RuntimeError("gave up"))

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == [f"2026/{n:06d}" for n in range(1, len(ids) + 1)]


@pytest.mark.parametrize(
    "language, words",
    [
        ("hu", ["Számla", "Könyvelés", "Építő"]),
        ("pl", ["Faktura", "Łódź"]),
        ("de", ["Rechnung", "Größe"]),
        ("ru", ["Счёт", "Иван"]),
        ("en", ["Invoice", "Thames"]),
    ],
)
def test_pdf_in_the_partners_language_with_its_letters(app, ctx, language, words):
    name = {
        "hu": "Duna Építő Kft.",
        "pl": "Łódź Sp. z o.o.",
        "de": "Größe GmbH",
        "ru": "ООО «Иван»",
        "en": "Thames & Sons Ltd",
    }[language]
    iid = draft(app, language=language, name=name)
    invoicing.issue(iid, None, today=date(2026, 3, 1))
    with app.test_request_context():
        pdf = invoicing.render_pdf(db.session.get(Invoice, iid))
    pages = PdfReader(io.BytesIO(pdf)).pages
    text = "".join(page.extract_text() for page in pages)
    # Text extraction alone would pass with Helvetica's black boxes: every string drawn is
    # drawn in the embedded DejaVu font.
    fonts = set().union(*(fonts_drawing_text(page) for page in pages))
    assert fonts and all("DejaVu" in name for name in fonts), fonts
    for word in words:
        assert word in text, (language, word, text[:300])
    assert "2026/000001" in text


def test_finance_issues_from_the_screen_and_staff_only_reads(app, login):
    with app.app_context():
        p = f.company(name="Pannon Kft.")
        pid, number = p.id, p.customer_number
    finance = login("finance")
    sheet = finance.get(f"/partner/{pid}").get_data(as_text=True)
    assert f"/invoices/add?partner={number}" in sheet
    assert f'<option value="{pid}" data-detail="{number}" selected>Pannon Kft.' in finance.get(
        f"/invoices/add?partner={number}"
    ).get_data(as_text=True)
    assert (
        finance.post("/invoices/add", data={"partner": pid, "currency": "EUR"}).status_code == 302
    )
    with app.app_context():
        iid = db.session.scalar(select(Invoice.id))
    finance.post(
        "/invoice-lines/add",
        data={
            "invoice": iid,
            "description": "Audit",
            "quantity": "1",
            "unit": "pc",
            "unit_price": "100",
            "vat_rate": "20",
        },
    )
    assert finance.post(f"/invoices/{iid}/issue").status_code == 302
    with app.app_context():
        invoice = db.session.get(Invoice, iid)
        assert invoice.status == "issued" and invoice.gross_total == Decimal("120.00")
    pdf = finance.get(f"/invoice/{iid}/pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    staff = login("staff")
    assert staff.get(f"/invoices/show/{iid}").status_code == 200
    assert staff.post(f"/invoices/{iid}/status", data={"status": "paid"}).status_code == 403
    refused = finance.post(
        f"/invoices/edit/{iid}", data={"partner": pid, "currency": "HUF"}, follow_redirects=True
    )
    assert "cannot be changed" in refused.get_data(as_text=True)
    assert user_id(app, "finance")


def test_payments_settle_invoices_and_the_current_account_adds_up(app, login):
    first, second = draft(app, lines=1), draft(app, name="Second Kft.", lines=1)
    with app.app_context():
        invoicing.issue(first, None, today=date(2026, 1, 10))  # overdue by now
        invoice = db.session.get(Invoice, first)
        pid, gross = invoice.partner_id, invoice.gross_total
        db.session.get(Invoice, second).partner_id = pid
        db.session.commit()
        invoicing.issue(second, None, today=date.today())
    finance = login("finance")
    part = finance.post(
        f"/invoices/{first}/payment", data={"amount": "1000", "paid_on": "2026-02-01"}
    )
    assert part.status_code == 302
    too_much = finance.post(
        f"/invoices/{first}/payment",
        data={"amount": str(gross), "paid_on": "2026-02-02"},
        follow_redirects=True,
    )
    assert "still due" in too_much.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Invoice, first).status == "partly_paid"
    staff = login("staff")
    tab = staff.get(f"/partner/{pid}/account").get_data(as_text=True)
    assert "record-payment" not in tab  # staff reads, finance records
    assert (
        "label-danger" in tab and "HUF1,000" in tab.replace("\xa0", "") and "HUF1,000.00" not in tab
    )
    assert (
        staff.post(
            f"/invoices/{first}/payment", data={"amount": "1", "paid_on": "2026-02-03"}
        ).status_code
        == 403
    )
    rest = gross - Decimal(1000)
    finance.post(f"/invoices/{first}/payment", data={"amount": str(rest), "paid_on": "2026-02-04"})
    with app.app_context():
        assert db.session.get(Invoice, first).status == "paid"
        account = invoicing.current_account(pid)
        totals = account["totals"]["HUF"]
        assert totals["paid"] == gross and totals["overdue"] == 0
        assert totals["outstanding"] == db.session.get(Invoice, second).gross_total
        assert len(account["payments"]) == 2


def test_an_issued_invoice_is_mailed_with_its_pdf_in_the_partners_language(app, login, mailbox):
    from tests.conftest import run_jobs

    iid = draft(app, language="de", name="Größe GmbH")
    with app.app_context():
        invoice = db.session.get(Invoice, iid)
        invoice.partner.email = "buchhaltung@groesse.example"
        db.session.commit()
    finance = login("finance")
    refused = finance.post(f"/invoices/{iid}/email", follow_redirects=True)
    assert "Only an issued invoice can be sent." in refused.get_data(as_text=True)
    finance.post(f"/invoices/{iid}/issue")
    assert finance.post(f"/invoices/{iid}/email").status_code == 302
    run_jobs(app)
    [message] = mailbox.to("buchhaltung@groesse.example")
    assert message["Subject"] == "Rechnung 2026/000001".replace("2026", str(date.today().year))
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    text = PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
    assert "Größe GmbH" in text and "Rechnung" in text
    with app.app_context():
        assert db.session.get(Invoice, iid).status == "sent"


def issued_and_draft(app) -> tuple[int, int, int, int]:
    """An issued invoice and a draft of the same partner, with one line each."""
    issued, open_draft = draft(app), draft(app, name="Tisza Zrt.")
    with app.app_context():
        invoicing.issue(issued, None)
        lines = dict(db.session.execute(select(InvoiceLine.invoice_id, InvoiceLine.id)).all())
    return issued, open_draft, lines[issued], lines[open_draft]


def frozen(app, invoice_id) -> tuple:
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        return (
            invoice.status,
            invoice.gross_total,
            sorted((line.id, line.description, line.quantity) for line in invoice.lines),
        )


def test_no_screen_moves_a_line_out_of_or_into_an_issued_invoice(app, login):
    issued, open_draft, issued_line, draft_line = issued_and_draft(app)
    before = frozen(app, issued)
    finance = login("finance")
    line = {
        "description": "Moved",
        "quantity": "1",
        "unit": "pc",
        "unit_price": "5",
        "vat_rate": "27",
    }
    moved_out = finance.post(
        f"/invoice-lines/edit/{issued_line}",
        data={**line, "invoice": open_draft},
        follow_redirects=True,
    )
    assert "cannot be changed" in moved_out.get_data(as_text=True)
    finance.post(f"/invoice-lines/edit/{draft_line}", data={**line, "invoice": issued})
    finance.post("/invoice-lines/add", data={**line, "invoice": issued})
    finance.post(f"/invoice-lines/delete/{issued_line}")
    assert frozen(app, issued) == before
    with app.app_context():
        assert db.session.get(InvoiceLine, draft_line).invoice_id == open_draft
        assert (
            db.session.scalar(select(InvoiceLine.id).where(InvoiceLine.description == "Moved"))
            is None
        )


def test_the_model_keeps_an_issued_invoices_lines_and_totals(app, ctx):
    issued, open_draft, issued_line, draft_line = issued_and_draft(app)
    line = db.session.get(InvoiceLine, issued_line)
    line.invoice_id = open_draft
    with pytest.raises(InvoiceLocked):
        db.session.flush()
    db.session.rollback()
    db.session.get(InvoiceLine, draft_line).invoice_id = issued
    with pytest.raises(InvoiceLocked):
        db.session.flush()
    db.session.rollback()
    db.session.get(Invoice, issued).gross_total = Decimal("1")
    with pytest.raises(InvoiceLocked):
        db.session.flush()
    db.session.rollback()


def test_screen_lines_take_the_products_unit_and_vat_and_keep_the_totals(app, login):
    from app.models import Product

    open_draft = draft(app, lines=0)
    with app.app_context():
        product = Product(
            code="CONS", name="Consulting", unit="hour", price=Decimal("200"), vat_rate=Decimal("5")
        )
        db.session.add(product)
        db.session.commit()
        product_id = product.id
    finance = login("finance")
    added = finance.post(
        "/invoice-lines/add",
        data={
            "invoice": open_draft,
            "product": product_id,
            "quantity": "3",
            "description": "",
            "unit": "",
            "unit_price": "",
            "vat_rate": "",
        },
    )
    assert added.status_code == 302
    with app.app_context():
        line = db.session.scalar(select(InvoiceLine))
        assert (line.description, line.unit, line.unit_price, line.vat_rate, line.position) == (
            "Consulting",
            "hour",
            Decimal("200.00"),
            Decimal("5.00"),
            1,
        )
        line_id = line.id
        invoice = db.session.get(Invoice, open_draft)
        assert (invoice.net_total, invoice.vat_total) == (Decimal("600.00"), Decimal("30.00"))
    finance.post(
        f"/invoice-lines/edit/{line_id}",
        data={
            "invoice": open_draft,
            "product": product_id,
            "quantity": "1",
            "description": "Advice",
            "unit": "hour",
            "unit_price": "200",
            "vat_rate": "5",
        },
    )
    with app.app_context():
        assert db.session.get(Invoice, open_draft).gross_total == Decimal("210.00")
    other = draft(app, name="Tisza Zrt.", lines=0)
    finance.post(
        f"/invoice-lines/edit/{line_id}",
        data={
            "invoice": other,
            "product": product_id,
            "quantity": "1",
            "description": "Advice",
            "unit": "hour",
            "unit_price": "200",
            "vat_rate": "5",
        },
    )
    with app.app_context():
        assert db.session.get(Invoice, open_draft).gross_total == Decimal("0.00")
        assert db.session.get(Invoice, other).gross_total == Decimal("210.00")
    finance.post(f"/invoice-lines/delete/{line_id}")
    with app.app_context():
        assert db.session.get(Invoice, other).gross_total == Decimal("0.00")
    via_api = invoicing_api_line(app, product_id)
    assert (via_api.unit, via_api.vat_rate) == ("hour", Decimal("5.00"))


def invoicing_api_line(app, product_id):
    with app.app_context():
        partner = f.company()
        db.session.commit()
        pid = partner.id
    http = app.test_client()
    token = http.post(
        "/api/v1/security/login",
        json={"username": "finance", "password": "finance-pw", "provider": "db"},
    ).get_json()
    answer = http.post(
        "/api/v1/invoice/",
        json={"partner": pid, "lines": [{"product": product_id, "quantity": 1}]},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert answer.status_code == 201, answer.get_json()
    with app.app_context():
        line = db.session.scalar(
            select(InvoiceLine).where(InvoiceLine.invoice_id == answer.get_json()["id"])
        )
        db.session.expunge(line)
        return line
