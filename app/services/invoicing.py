"""Invoices: drafts, issuing with the next gapless number of the year, and the PDF."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select

from app.errors import InvalidValue, InvoiceLocked
from app.extensions import db
from app.models import (
    INVOICE_STATUS_LABELS,
    Counter,
    Invoice,
    InvoiceLine,
    Partner,
    Product,
    next_counter_value,
)
from app.services import acting_as

FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
PAYMENT_DAYS = 8


def next_invoice_number(connection, year: int) -> str:
    """The next number of the year, inside the issuing transaction: the counter row stays
    locked until that transaction ends, and a rollback gives the number back — no gaps,
    no doubles, on PostgreSQL too."""
    name = f"invoice:{year}"
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        connection.execute(module.insert(Counter.__table__)
                           .values(name=name, value=0).on_conflict_do_nothing())
    elif connection.execute(select(Counter.name).where(Counter.name == name)).first() is None:
        connection.execute(insert(Counter.__table__).values(name=name, value=0))
    return f"{year}/{next_counter_value(connection, name):06d}"


def new_draft(partner_id: int, actor_id: int | None, **fields) -> Invoice:
    with acting_as(actor_id):
        partner = db.get_or_404(Partner, partner_id)
        invoice = Invoice(partner=partner, language=partner.language, **fields)
        db.session.add(invoice)
    return invoice


def add_line(invoice_id: int, actor_id: int | None, *, description: str | None = None,
             quantity=1, unit_price=None, vat_rate=None, unit: str | None = None,
             product_id: int | None = None) -> InvoiceLine:
    with acting_as(actor_id):
        invoice = db.get_or_404(Invoice, invoice_id)
        product = db.session.get(Product, product_id) if product_id else None
        line = InvoiceLine(
            invoice=invoice, position=len(invoice.lines) + 1, product=product,
            description=description or (product.name if product else ""),
            quantity=quantity, unit=unit or (product.unit if product else "pc"),
            unit_price=unit_price if unit_price not in (None, "") else
            (product.price if product else 0),
            vat_rate=vat_rate if vat_rate not in (None, "") else
            (product.vat_rate if product else Decimal(27)))
        db.session.add(line)
        db.session.flush()
        invoice.recompute()
    return line


def issue(invoice_id: int, actor_id: int | None, today: date | None = None) -> Invoice:
    """Number the draft, freeze the partner's billing data, and mark it issued."""
    today = today or date.today()
    with acting_as(actor_id):
        invoice = db.session.scalar(
            select(Invoice).where(Invoice.id == invoice_id).with_for_update(of=Invoice))
        if invoice is None:
            raise InvalidValue("invoice", _l("No such invoice."))
        if invoice.status != "draft":
            raise InvoiceLocked(status=INVOICE_STATUS_LABELS[invoice.status])
        if not invoice.lines:
            raise InvalidValue("lines", _l("An invoice needs at least one line."))
        partner = invoice.partner
        issued_on = invoice.issue_date or today
        invoice.number = next_invoice_number(db.session.connection(), issued_on.year)
        invoice.year, invoice.issue_date = issued_on.year, issued_on
        invoice.due_date = invoice.due_date or issued_on + timedelta(days=PAYMENT_DAYS)
        invoice.billing_name = partner.display_name
        invoice.billing_address = str(partner.billing_address or "")
        invoice.billing_tax_number = getattr(partner, "tax_number", None)
        invoice.language = (invoice.language or partner.language
                            or current_app.config["DEFAULT_LOCALE"])
        invoice.recompute()
        invoice.status = "issued"
    return invoice


def set_status(invoice_id: int, actor_id: int | None, status: str) -> Invoice:
    with acting_as(actor_id):
        invoice = db.get_or_404(Invoice, invoice_id)
        invoice.status = status
    return invoice


def render_pdf(invoice: Invoice) -> bytes:
    """The invoice as PDF in its language, with an embedded Unicode font."""
    from xhtml2pdf import pisa

    locale = invoice.language or current_app.config["DEFAULT_LOCALE"]
    with force_locale(locale):
        html = render_template("pdf/invoice.html", invoice=invoice,
                               font=str(FONTS / "DejaVuSans.ttf"),
                               bold=str(FONTS / "DejaVuSans-Bold.ttf"))
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if result.err:
        raise RuntimeError("the invoice PDF could not be made")
    return out.getvalue()
