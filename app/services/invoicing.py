"""Invoices: drafts, issuing with the next gapless number of the year, and the PDF."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, insert, select

from app.errors import InvalidValue, InvoiceLocked
from app.extensions import db
from app.models import (
    INVOICE_STATUS_LABELS,
    Counter,
    Invoice,
    InvoiceLine,
    Outbox,
    Partner,
    Payment,
    Product,
    next_counter_value,
)
from app.services import acting_as, fetch, take_write_lock

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
        connection.execute(
            module.insert(Counter.__table__).values(name=name, value=0).on_conflict_do_nothing()
        )
    elif connection.execute(select(Counter.name).where(Counter.name == name)).first() is None:
        connection.execute(insert(Counter.__table__).values(name=name, value=0))
    return f"{year}/{next_counter_value(connection, name):06d}"


def new_draft(partner_id: int, actor_id: int | None, **fields) -> Invoice:
    with acting_as(actor_id):
        partner = fetch(Partner, partner_id)
        invoice = Invoice(partner=partner, language=partner.language, **fields)
        db.session.add(invoice)
        db.session.flush()
    return invoice


def create_draft(partner_id: int, actor_id: int | None, lines: list[dict], **fields) -> Invoice:
    """A draft with its lines (each the keywords of `add_line`): all of it or, when a line
    is refused, nothing."""
    with acting_as(actor_id):
        invoice = new_draft(partner_id, actor_id, **fields)
        for line in lines:
            add_line(invoice.id, actor_id, **line)
    return invoice


def add_line(
    invoice_id: int,
    actor_id: int | None,
    *,
    description: str | None = None,
    quantity=1,
    unit_price=None,
    vat_rate=None,
    unit: str | None = None,
    product_id: int | None = None,
) -> InvoiceLine:
    """A line at the end of a draft; what is left empty comes from the product."""
    with acting_as(actor_id):
        invoice = fetch(Invoice, invoice_id)
        product = db.session.get(Product, product_id) if product_id else None
        line = InvoiceLine(
            invoice=invoice,
            product=product,
            description=description,
            quantity=quantity,
            unit=unit,
            unit_price=unit_price,
            vat_rate=vat_rate,
        )
        save_line(line)
    return line


def save_line(line: InvoiceLine) -> None:
    """Store a new or changed line inside the caller's transaction: the model fills it from
    its product and keeps the lines of issued invoices; a line new to its invoice goes to
    the end, and the totals of its invoice (and of the one it left) follow."""
    left = line.invoice_id  # before the flush: the invoice a stored line is on
    invoice_id = line.invoice.id if line.invoice is not None else line.invoice_id
    if line.id is None or left != invoice_id:
        with db.session.no_autoflush:
            line.position = db.session.scalar(
                select(func.coalesce(func.max(InvoiceLine.position), 0) + 1).where(
                    InvoiceLine.invoice_id == invoice_id
                )
            )
    db.session.add(line)
    db.session.flush()
    refresh_totals({left, line.invoice_id})


def line_removed(line: InvoiceLine) -> None:
    """The totals of a line's invoice without the line, before it is deleted."""
    refresh_totals({line.invoice_id}, without=line.id)


def refresh_totals(invoice_ids, without: int | None = None) -> None:
    """Net, VAT and gross totals from the stored lines (frozen once issued)."""
    for invoice_id in sorted(i for i in invoice_ids if i is not None):
        lines = [
            line
            for line in db.session.scalars(
                select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
            )
            if line.id != without
        ]
        net = sum((line.net for line in lines), Decimal(0))
        vat = sum((line.vat for line in lines), Decimal(0))
        invoice = db.session.get(Invoice, invoice_id)
        invoice.net_total, invoice.vat_total, invoice.gross_total = net, vat, net + vat


def issue(invoice_id: int, actor_id: int | None, today: date | None = None) -> Invoice:
    """Number the draft, freeze the partner's billing data, and mark it issued."""
    today = today or date.today()
    with acting_as(actor_id):
        invoice = locked_invoice(invoice_id)
        number(invoice, today)
    return invoice


def locked_invoice(invoice_id: int) -> Invoice:
    """The invoice, read afresh under the lock that its number and balance are changed
    under: a second click or payment waits for the first and then sees what it did."""
    take_write_lock()
    invoice = db.session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update(of=Invoice)
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        raise InvalidValue("invoice", _l("No such invoice."))
    return invoice


def number(invoice: Invoice, today: date) -> None:
    """Give a draft its number and freeze the partner's billing data, inside the caller's
    transaction (one rule for the screen, the API and automatic invoicing)."""
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
    invoice.language = invoice.language or partner.language or current_app.config["DEFAULT_LOCALE"]
    invoice.recompute()
    invoice.status = "issued"


def set_status(invoice_id: int, actor_id: int | None, status: str) -> Invoice:
    with acting_as(actor_id):
        invoice = fetch(Invoice, invoice_id)
        invoice.status = status
    return invoice


def render_pdf(invoice: Invoice) -> bytes:
    """The invoice as PDF in its language, with an embedded Unicode font."""
    return render_pdf_of([invoice])


def render_pdf_of(invoices: list[Invoice]) -> bytes:
    """Invoices in one PDF, each in its partner's language and starting on a new page (a
    page-break wrapper per invoice: xhtml2pdf's <pdf:nextpage/> recurses itself to death
    at a few hundred invoices)."""
    from xhtml2pdf import pisa

    default = current_app.config["DEFAULT_LOCALE"]
    bodies = []
    for invoice in invoices:
        with force_locale(invoice.language or default):
            bodies.append(Markup(render_template("pdf/_invoice.html", invoice=invoice)))
    html = render_template(
        "pdf/invoices.html",
        bodies=bodies,
        font=str(FONTS / "DejaVuSans.ttf"),
        bold=str(FONTS / "DejaVuSans-Bold.ttf"),
    )
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if result.err:
        raise RuntimeError("the invoice PDF could not be made")
    return out.getvalue()


OPEN_STATUSES = ("issued", "sent", "partly_paid")


def record_payment(
    invoice_id: int,
    actor_id: int | None,
    amount,
    paid_on: date | None = None,
    method: str | None = None,
    reference: str | None = None,
) -> Payment:
    """Record money received against an issued invoice; the invoice becomes partly paid or
    paid. Paying more than is outstanding is refused."""
    with acting_as(actor_id):
        invoice = locked_invoice(invoice_id)
        if invoice.status not in OPEN_STATUSES:
            raise InvalidValue("invoice", _l("Only an issued, unpaid invoice can be paid."))
        payment = Payment(
            invoice_id=invoice.id,
            amount=amount,
            paid_on=paid_on,
            method=method,
            reference=reference,
        )
        settle(payment, invoice)
        db.session.add(payment)
    return payment


def settle(payment: Payment, invoice: Invoice) -> None:
    """Tie a payment to its invoice (partner, currency) and move the invoice to partly paid
    or paid; more than is still due is refused. One rule for the screen and the API."""
    if invoice.status not in OPEN_STATUSES:
        raise InvalidValue("invoice", _l("Only an issued, unpaid invoice can be paid."))
    outstanding = invoice.gross_total - paid_amount(invoice.id)
    if payment.amount > outstanding:
        raise InvalidValue(
            "amount",
            _l("The payment is more than the %(amount)s still due.") % {"amount": outstanding},
        )
    payment.partner_id, payment.currency = invoice.partner_id, invoice.currency
    payment.paid_on = payment.paid_on or date.today()
    invoice.status = "paid" if payment.amount == outstanding else "partly_paid"


def email_invoice(invoice_id: int, actor_id: int | None) -> Invoice:
    """Queue the invoice with its PDF to the partner, in the partner's language; an issued
    invoice becomes sent. Sending it again makes a new mail (the admin may resend too)."""
    from app.services.outbox import queue_mail
    from app.services.tasks import render_mail

    with acting_as(actor_id):
        invoice = fetch(Invoice, invoice_id)
        if invoice.status == "draft" or invoice.status == "cancelled":
            raise InvalidValue("invoice", _l("Only an issued invoice can be sent."))
        recipient = invoice.partner.email
        if not recipient:
            raise InvalidValue("email", _l("The partner has no e-mail address."))
        locale = invoice.language or current_app.config["DEFAULT_LOCALE"]
        subject, body = render_mail("invoice", locale, invoice=invoice)
        name = f"invoice-{invoice.number.replace('/', '-')}.pdf"
        sent_before = db.session.scalar(
            select(func.count(Outbox.id)).where(Outbox.key.startswith(f"invoice:{invoice.id}:"))
        )
        queue_mail(
            db.session,
            f"invoice:{invoice.id}:{sent_before + 1}",
            recipient,
            subject,
            body,
            attachments=[(name, "application/pdf", render_pdf(invoice))],
        )
        if invoice.status == "issued":
            invoice.status = "sent"
    return invoice


def paid_amount(invoice_id: int) -> Decimal:
    return db.session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == invoice_id)
    ) or Decimal(0)


def current_account(partner_id: int, today: date | None = None) -> dict:
    """Invoices with what is paid and still due, payments, and per currency the invoiced,
    paid, outstanding and overdue sums — in three queries whatever the history."""
    today = today or date.today()
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.partner_id == partner_id, Invoice.status != "draft")
            .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        )
    )
    paid = dict(
        db.session.execute(
            select(Payment.invoice_id, func.sum(Payment.amount))
            .where(Payment.partner_id == partner_id, Payment.invoice_id.is_not(None))
            .group_by(Payment.invoice_id)
        ).all()
    )
    payments = list(
        db.session.scalars(
            select(Payment)
            .where(Payment.partner_id == partner_id)
            .order_by(Payment.paid_on.desc(), Payment.id.desc())
        )
    )
    rows, totals = [], {}
    for invoice in invoices:
        settled = Decimal(paid.get(invoice.id) or 0)
        due = invoice.gross_total - settled if invoice.status in OPEN_STATUSES else Decimal(0)
        overdue = due > 0 and invoice.due_date is not None and invoice.due_date < today
        rows.append({"invoice": invoice, "paid": settled, "due": due, "overdue": overdue})
        t = totals.setdefault(
            invoice.currency,
            dict.fromkeys(("invoiced", "paid", "outstanding", "overdue"), Decimal(0)),
        )
        if invoice.status != "cancelled":
            t["invoiced"] += invoice.gross_total
        t["outstanding"] += due
        t["overdue"] += due if overdue else 0
    for payment in payments:
        t = totals.setdefault(
            payment.currency,
            dict.fromkeys(("invoiced", "paid", "outstanding", "overdue"), Decimal(0)),
        )
        t["paid"] += payment.amount
    return {"rows": rows, "payments": payments, "totals": totals}
