"""Invoices: drafts, issuing with the next gapless number of the year (refused while our
company lacks the seller's data), credit notes that cancel an invoice, and the PDF."""

from __future__ import annotations

import base64
import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app, render_template
from flask_babel import (
    force_locale,
    format_decimal,
    format_percent,
    get_locale,
    gettext,
)
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, insert, select

from app.errors import InvalidValue, InvoiceLocked, SellerDataMissing
from app.extensions import db
from app.formatting import date_text, money_text
from app.models import (
    INVOICE_STATUS_LABELS,
    PAYMENT_METHOD_LABELS,
    UNIT_LABELS,
    Counter,
    Invoice,
    InvoiceLine,
    OurCompany,
    Outbox,
    Partner,
    Payment,
    Product,
    next_counter_value,
)
from app.services import acting_as, fetch, take_write_lock
from app.services.company import our_company
from app.services.words import amount_in_words

FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
# The counter and the number's prefix of each kind: 2026/000123, CN-2026/000004.
NUMBERING = {
    "invoice": ("invoice", ""),
    "credit_note": ("credit_note", "CN-"),
    "quote": ("quote", "Q-"),
    "order": ("order", "O-"),
}


def next_invoice_number(connection, year: int, kind: str = "invoice") -> str:
    """The next number of the year, inside the issuing transaction: the counter row stays
    locked until that transaction ends, and a rollback gives the number back — no gaps,
    no doubles, on PostgreSQL too. Credit notes count on a counter of their own."""
    counter, prefix = NUMBERING[kind]
    name = f"{counter}:{year}"
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        connection.execute(
            module.insert(Counter.__table__).values(name=name, value=0).on_conflict_do_nothing()
        )
    elif connection.execute(select(Counter.name).where(Counter.name == name)).first() is None:
        connection.execute(insert(Counter.__table__).values(name=name, value=0))
    return f"{prefix}{year}/{next_counter_value(connection, name):06d}"


def new_draft(partner_id: int, actor_id: int | None, **fields) -> Invoice:
    with acting_as(actor_id):
        partner = fetch(Partner, partner_id)
        invoice = Invoice(partner=partner, **{"language": partner.language, **fields})
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
    order_line_id: int | None = None,
) -> InvoiceLine:
    """A line at the end of a draft; what is left empty comes from the product. A line that
    bills an order line (`order_line_id`) is refused beyond what remains of it."""
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
            order_line_id=order_line_id,
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


def payment_method_of(partner: Partner, company: OurCompany, own: str | None = None) -> str:
    """The invoice's own method, else the partner's, else our company's default."""
    return own or getattr(partner, "payment_method", None) or company.payment_method


def seller_missing(company: OurCompany, currency: str, payment_method: str | None) -> list[str]:
    """What our company lacks for an invoice in `currency` paid by `payment_method`."""
    return company.missing_for(currency, payment_method)


def number(invoice: Invoice, today: date) -> None:
    """Give a draft its number and freeze the partner's billing data and our company's
    seller data, inside the caller's transaction (one rule for the screen, the API and
    automatic invoicing). Refused while the seller's data is incomplete."""
    if invoice.status != "draft":
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS[invoice.status])
    if not invoice.lines:
        raise InvalidValue("lines", _l("An invoice needs at least one line."))
    company = our_company()
    credit_note = invoice.kind == "credit_note"
    method = (
        None if credit_note else payment_method_of(invoice.partner, company, invoice.payment_method)
    )
    missing = seller_missing(company, invoice.currency, method)
    if missing:
        raise SellerDataMissing(missing, invoice.currency)
    partner = invoice.partner
    issued_on = invoice.issue_date or today
    invoice.number = next_invoice_number(db.session.connection(), issued_on.year, invoice.kind)
    invoice.year, invoice.issue_date = issued_on.year, issued_on
    invoice.supply_date = invoice.supply_date or issued_on
    if credit_note:  # the buyer as on the invoice it cancels
        original = invoice.credited_invoice
        invoice.billing_name = original.billing_name
        invoice.billing_address = original.billing_address
        invoice.billing_tax_number = original.billing_tax_number
        invoice.due_date = invoice.due_date or issued_on
        invoice.payment_method = original.payment_method
    else:
        terms = timedelta(days=company.payment_terms_days)
        invoice.due_date = invoice.due_date or issued_on + terms
        invoice.billing_name = partner.display_name
        invoice.billing_address = str(partner.billing_address or "")
        invoice.billing_tax_number = getattr(partner, "tax_number", None)
        invoice.payment_method = method
    account = company.account_for(invoice.currency)
    invoice.seller_name, invoice.seller_address = company.name, company.address
    invoice.seller_tax_number = company.tax_number
    invoice.seller_eu_vat_number = company.eu_vat_number
    invoice.seller_registration_number = company.registration_number
    invoice.seller_iban = account.iban if account else None
    invoice.seller_swift = account.swift if account else None
    invoice.footer = company.footer
    invoice.language = invoice.language or partner.language or current_app.config["DEFAULT_LOCALE"]
    invoice.recompute()
    invoice.status = "issued"


def cancel(invoice_id: int, actor_id: int | None, today: date | None = None) -> Invoice:
    """Cancel an issued invoice: a numbered credit note with the negative of its lines,
    referring to it. The invoice itself is not changed; it reads as cancelled because the
    credit note names it. Two cancels at once make one credit note: the second waits for
    the invoice's lock and is then refused."""
    today = today or date.today()
    with acting_as(actor_id):
        original = locked_invoice(invoice_id)
        if original.status == "draft":
            raise InvalidValue(
                "invoice", _l("A draft is not cancelled: change it or delete it instead.")
            )
        if original.kind == "credit_note":
            raise InvalidValue("invoice", _l("A credit note cannot be cancelled."))
        # Asked afresh after the lock: a cancel that held it first has committed by now.
        credited = db.session.scalar(
            select(Invoice.id).where(Invoice.credited_invoice_id == original.id).limit(1)
        )
        if credited is not None or original.status == "cancelled":
            raise InvalidValue(
                "invoice",
                _l("Invoice %(number)s is already cancelled.") % {"number": original.number},
            )
        note = Invoice(
            partner_id=original.partner_id,
            kind="credit_note",
            credited_invoice=original,
            currency=original.currency,
            language=original.language,
            supply_date=original.supply_date,
        )
        note.lines = [
            InvoiceLine(
                position=line.position,
                product_id=line.product_id,
                description=line.description,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=-line.unit_price,
                vat_rate=line.vat_rate,
            )
            for line in original.lines
        ]
        db.session.add(note)
        db.session.flush()
        number(note, today)
        db.session.flush()
        db.session.expire(original, ["is_cancelled"])
    return note


def set_status(invoice_id: int, actor_id: int | None, status: str) -> Invoice:
    """Move an issued invoice on (sent, paid …); "cancelled" issues its credit note."""
    if status == "cancelled":
        cancel(invoice_id, actor_id)
        return fetch(Invoice, invoice_id)
    with acting_as(actor_id):
        invoice = fetch(Invoice, invoice_id)
        invoice.status = status
    return invoice


def render_pdf(invoice: Invoice, company: OurCompany | None = None) -> bytes:
    """The invoice as PDF in its language, with an embedded Unicode font. A caller making
    many passes `company` (our company, read once): the session holds the row only weakly,
    so each call would read it again."""
    return render_pdf_of([invoice], company)


def render_pdf_of(invoices: list[Invoice], company: OurCompany | None = None) -> bytes:
    """Invoices in one PDF, each in its partner's language and starting on a new page (a
    page-break wrapper per invoice: xhtml2pdf's <pdf:nextpage/> recurses itself to death
    at a few hundred invoices)."""
    default = current_app.config["DEFAULT_LOCALE"]
    company = company or our_company()
    documents = []
    for invoice in invoices:
        with force_locale(invoice.language or default):
            documents.append(invoice_document(invoice, company))
    return render_documents(documents)


def render_documents(documents: list[dict]) -> bytes:
    """Documents (invoices, credit notes, orders …) in the one shared layout
    `pdf/_document.html`, with the embedded DejaVu font."""
    from xhtml2pdf import pisa

    bodies = [Markup(render_template("pdf/_document.html", doc=doc)) for doc in documents]
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


def _lines_of(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").replace("\r", "").split("\n") if part.strip()]


def invoice_document(invoice: Invoice, company: OurCompany) -> dict:
    """What the shared layout draws for an invoice or credit note, in the current locale.
    An issued invoice shows the seller as it was frozen when issued; a draft shows our
    company as it is now."""
    issued = invoice.status != "draft"
    currency = invoice.currency
    account_iban = invoice.seller_iban if issued else None
    account_swift = invoice.seller_swift if issued else None
    if not issued and company.account_for(currency) is not None:
        account_iban = company.account_for(currency).iban
        account_swift = company.account_for(currency).swift
    seller = (
        {
            "name": invoice.seller_name,
            "address": invoice.seller_address,
            "tax_number": invoice.seller_tax_number,
            "eu_vat_number": invoice.seller_eu_vat_number,
            "registration_number": invoice.seller_registration_number,
        }
        if issued
        else seller_of(company)
    )
    method = invoice.payment_method or (
        None if issued else payment_method_of(invoice.partner, company)
    )
    meta = [
        (
            gettext("Issue date"),
            date_text(invoice.issue_date, "long"),
        ),
        (
            gettext("Supply date"),
            date_text(invoice.supply_date or invoice.issue_date, "long")
            if (invoice.supply_date or invoice.issue_date)
            else "",
        ),
        (gettext("Due date"), date_text(invoice.due_date, "long")),
        (
            gettext("Payment method"),
            str(PAYMENT_METHOD_LABELS.get(method, method or "")),
        ),
        (gettext("Customer number"), invoice.partner.customer_number or ""),
        (gettext("Currency"), currency),
    ]
    if invoice.period_start:
        meta.append(
            (
                gettext("Billing period"),
                gettext(
                    "%(start)s – %(end)s",
                    start=date_text(invoice.period_start, "long"),
                    end=date_text(invoice.period_end, "long"),
                ),
            )
        )
    reference = None
    if invoice.kind == "credit_note" and invoice.credited_invoice is not None:
        original = invoice.credited_invoice
        reference = gettext(
            "This credit note cancels invoice %(number)s of %(date)s.",
            number=original.number,
            date=date_text(original.issue_date, "long"),
        )
    document = priced_document(
        title=gettext("Credit note") if invoice.kind == "credit_note" else gettext("Invoice"),
        number=invoice.number or gettext("Draft"),
        company=company,
        seller=seller,
        buyer={
            "name": invoice.billing_name or invoice.partner.display_name,
            "address": (
                invoice.billing_address if issued else str(invoice.partner.billing_address or "")
            ),
            "tax_number": (
                invoice.billing_tax_number
                if issued
                else getattr(invoice.partner, "tax_number", None)
            ),
        },
        meta=meta,
        lines=invoice.lines,
        currency=currency,
        totals=(invoice.net_total, invoice.vat_total, invoice.gross_total),
        total_label=gettext("Total due"),
        notes=invoice.notes,
        footer=invoice.footer if issued else company.footer,
        reference=reference,
    )
    document["words"] = amount_in_words(invoice.gross_total, currency, str(get_locale()))
    document["bank"] = (
        gettext(
            "IBAN: %(iban)s · SWIFT/BIC: %(swift)s",
            iban=" ".join(account_iban[i : i + 4] for i in range(0, len(account_iban), 4)),
            swift=account_swift,
        )
        if account_iban
        else None
    )
    return document


def seller_of(company: OurCompany) -> dict:
    """Our company as a document's seller block shows it now."""
    return {
        "name": company.name,
        "address": company.address,
        "tax_number": company.tax_number,
        "eu_vat_number": company.eu_vat_number,
        "registration_number": company.registration_number,
    }


def priced_document(
    *,
    title: str,
    number: str,
    company: OurCompany,
    seller: dict,
    buyer: dict,
    meta: list,
    lines,
    currency: str,
    totals: tuple,
    total_label: str,
    notes: str | None = None,
    footer: str | None = None,
    reference: str | None = None,
) -> dict:
    """What the shared layout `pdf/_document.html` draws for any document of priced lines
    (invoice, credit note, quote, order), in the current locale: the parties, the meta rows
    the caller gives, the lines (with a discount column when a line has a discount), a VAT
    summary per rate and the totals."""

    def money(amount) -> str:
        return money_text(amount, currency)

    party_rows = [
        (gettext("Tax number"), seller["tax_number"]),
        (gettext("EU VAT number"), seller["eu_vat_number"]),
        (gettext("Registration number"), seller["registration_number"]),
    ]
    net_total, vat_total, gross_total = totals
    return {
        "title": title,
        "number": number,
        "logo": logo_uri(company),
        "seller_label": gettext("Seller"),
        "buyer_label": gettext("Buyer"),
        "seller": party_block(seller["name"], seller["address"], party_rows),
        "buyer": party_block(
            buyer["name"], buyer["address"], [(gettext("Tax number"), buyer["tax_number"])]
        ),
        "meta": meta,
        "bank_label": gettext("Bank account"),
        "bank": None,
        "reference": reference,
        "columns": document_columns(any(getattr(line, "discount", 0) for line in lines)),
        "lines": document_lines(lines, money),
        "summary_title": gettext("VAT summary"),
        "summary": vat_summary(lines, money),
        "totals": [
            (gettext("Net total"), money(net_total), False),
            (gettext("VAT total"), money(vat_total), False),
            (total_label, money(gross_total), True),
        ],
        "words_label": gettext("Amount in words"),
        "words": None,
        "notes": notes,
        "footer": _lines_of(footer),
    }


def party_block(name: str | None, address: str | None, rows) -> dict:
    """A seller or buyer block of the shared layout: rows without a value are left out."""
    return {
        "name": name or "",
        "address": _lines_of(address),
        "rows": [(label, value) for label, value in rows if value],
    }


def document_columns(discount: bool = False) -> dict:
    """The column headers of the shared layout; the discount column only where a line has one."""
    columns = {
        "description": gettext("Description"),
        "quantity": gettext("Quantity"),
        "unit_price": gettext("Unit price"),
        "vat_rate": gettext("VAT rate"),
        "net": gettext("Net amount"),
        "vat": gettext("VAT amount"),
        "gross": gettext("Gross amount"),
    }
    if discount:
        columns["discount"] = gettext("Discount")
    return columns


def rate_text(rate) -> str:
    return format_percent(Decimal(rate) / 100, "#,##0.##%")


def document_lines(lines, money) -> list[dict]:
    """Lines of an invoice, quote or order as the shared layout draws them."""
    return [
        {
            "description": line.description,
            "quantity": gettext(
                "%(quantity)s %(unit)s",
                quantity=format_decimal(line.quantity),
                unit=str(UNIT_LABELS.get(line.unit, line.unit)),
            ),
            "unit_price": money(line.unit_price),
            "discount": rate_text(getattr(line, "discount", 0) or 0),
            "vat_rate": rate_text(line.vat_rate),
            "net": money(line.net),
        }
        for line in lines
    ]


def vat_summary(lines, money) -> list[dict]:
    """Net, VAT and gross per VAT rate."""
    summary: dict = {}
    for line in lines:
        row = summary.setdefault(line.vat_rate, [Decimal(0), Decimal(0)])
        row[0] += line.net
        row[1] += line.vat
    return [
        {"rate": rate_text(rate), "net": money(net), "vat": money(vat), "gross": money(net + vat)}
        for rate, (net, vat) in sorted(summary.items())
    ]


def logo_uri(company: OurCompany) -> str | None:
    if company.logo_type is None:
        return None
    return f"data:{company.logo_type};base64,{base64.b64encode(company.logo).decode()}"


OPEN_STATUSES = ("issued", "sent", "partly_paid")


def is_open(invoice: Invoice) -> bool:
    """Money is still expected on it: issued, not paid in full, not cancelled, no credit note."""
    return (
        invoice.status in OPEN_STATUSES
        and not invoice.is_cancelled
        and invoice.kind != "credit_note"
    )


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
        if not is_open(invoice):
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
    if not is_open(invoice):
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
        if invoice.status == "draft" or invoice.is_cancelled:
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
        due = invoice.gross_total - settled if is_open(invoice) else Decimal(0)
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
