"""Orders: made in one step from an accepted quote, moved through their statuses, invoiced in
full or in part (drafts whose lines name the order line they bill), e-mailed as PDF."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.errors import InvalidValue, NotFound
from app.extensions import db
from app.formatting import date_text
from app.models import (
    Affiliation,
    Invoice,
    InvoiceLine,
    Offer,
    Order,
    OrderLine,
    OurCompany,
    Outbox,
    Quote,
    beyond_message,
    invoiced_sums,
    lock_order,
)
from app.services import acting_as, fetch, take_write_lock
from app.services.company import our_company
from app.services.invoicing import (
    create_draft,
    next_invoice_number,
    priced_document,
    render_documents,
    seller_of,
)

CENT = Decimal("0.01")


def invoiced_quantities(order_line_ids) -> dict[int, Decimal]:
    """Invoiced quantity per order line (0 for one not invoiced): the invoice lines billing
    it on invoices that are not cancelled — drafts included, since they reserve."""
    ids = list(order_line_ids)
    found = invoiced_sums(db.session.connection(), ids)
    return {line_id: found.get(line_id, Decimal(0)) for line_id in ids}


def lines_with_remaining(order: Order) -> list[dict]:
    """Each line of the order with what is invoiced of it and what remains."""
    invoiced = invoiced_quantities(line.id for line in order.lines)
    return [
        {
            "line": line,
            "invoiced": invoiced[line.id],
            "remaining": max(line.quantity - invoiced[line.id], Decimal(0)),
        }
        for line in order.lines
    ]


def accepted_quote_of(offer_id: int) -> Quote:
    """The offer's accepted quote (its latest accepted version)."""
    fetch(Offer, offer_id)
    quote = ordering_of(offer_id)["quote"]
    if quote is None:
        raise InvalidValue("quote", _l("This offer has no accepted quote to make an order from."))
    return quote


def ordering_of(offer_id: int) -> dict:
    """The offer's accepted quote (latest version) and the order made of it, each or None."""
    quote = db.session.scalar(
        select(Quote)
        .where(Quote.offer_id == offer_id, Quote.status == "accepted")
        .order_by(Quote.version.desc())
        .limit(1)
    )
    order = db.session.scalar(select(Order).where(Order.quote_id == quote.id)) if quote else None
    return {"quote": quote, "order": order}


def make_order(
    quote_id: int, actor_id: int | None, today: date | None = None
) -> tuple[Order, bool]:
    """The order of an accepted quote, with the quote's lines and the next order number of
    the year; `True` when it was made now. One order per quote: a second click, at once or
    later, waits for the quote's lock and answers the order the first one made."""
    today = today or date.today()
    with acting_as(actor_id):
        take_write_lock()
        quote = db.session.scalar(
            select(Quote)
            .where(Quote.id == quote_id)
            .with_for_update(of=Quote)
            .execution_options(populate_existing=True)
        )
        if quote is None:
            raise NotFound()
        existing = db.session.scalar(select(Order).where(Order.quote_id == quote.id))
        if existing is not None:
            return existing, False
        if quote.status != "accepted":
            raise InvalidValue("quote", _l("An order is made only from an accepted quote."))
        if not quote.lines:
            raise InvalidValue("quote", _l("The quote has no lines to order."))
        order = Order(
            number=next_invoice_number(db.session.connection(), today.year, "order"),
            year=today.year,
            partner_id=quote.partner_id,
            offer_id=quote.offer_id,
            quote_id=quote.id,
            contact_id=quote.contact_id,
            language=quote.language or quote.partner.language,
            currency=quote.currency,
            order_date=today,
            created_by_id=actor_id,
        )
        order.lines = [OrderLine(**line.priced_fields()) for line in quote.lines]
        order.recompute()
        db.session.add(order)
        db.session.flush()
    return order, True


def make_order_for_offer(offer_id: int, actor_id: int | None) -> tuple[Order, bool]:
    with acting_as(actor_id):
        return make_order(accepted_quote_of(offer_id).id, actor_id)


def locked_order(order_id: int) -> Order:
    """The order read afresh under the lock its invoicing and status changes take."""
    take_write_lock()
    if lock_order(db.session.connection(), order_id) is None:
        raise NotFound()
    return db.session.scalar(
        select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    )


def set_status(order_id: int, actor_id: int | None, status: str) -> Order:
    """Move the order on (the model refuses what its status does not allow)."""
    with acting_as(actor_id):
        order = locked_order(order_id)
        order.status = status
        db.session.flush()
    return order


def _quantity(value) -> Decimal:
    if isinstance(value, bool):
        raise InvalidValue("quantity", _l("Not a valid number."))
    try:
        quantity = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidValue("quantity", _l("Not a valid number.")) from None
    if not quantity.is_finite() or quantity <= 0:
        raise InvalidValue("quantity", _l("The quantity must be more than zero."))
    if quantity >= Decimal(10) ** 9:  # the column's Numeric(12, 3)
        raise InvalidValue("quantity", _l("%(value)s is too large.") % {"value": value})
    if quantity != quantity.quantize(Decimal("0.001")):
        raise InvalidValue("quantity", _l("A quantity has at most three decimals."))
    return quantity


def invoice_order(
    order_id: int, actor_id: int | None, wanted: dict[int, object] | None = None
) -> Invoice:
    """A draft invoice of the order: the quantities `wanted` per order line id, or all that
    remains of every line. More than remains is refused and nothing is made. Each invoice
    line names its order line; its unit price is the order's price after the discount."""
    with acting_as(actor_id):
        order = locked_order(order_id)
        if order.status == "cancelled":
            raise InvalidValue(
                "order",
                _l("Order %(number)s is cancelled, so it is not invoiced.")
                % {"number": order.number},
            )
        rows = {row["line"].id: row for row in lines_with_remaining(order)}
        if wanted:
            unknown = [key for key in wanted if key not in rows]
            if unknown:
                raise InvalidValue(
                    "lines",
                    _l("No such line on order %(number)s: %(ids)s.")
                    % {"number": order.number, "ids": ", ".join(map(str, unknown))},
                )
            chosen = {key: _quantity(value) for key, value in wanted.items()}
        else:
            chosen = {key: row["remaining"] for key, row in rows.items() if row["remaining"] > 0}
        if not chosen:
            raise InvalidValue(
                "lines",
                _l("Nothing remains to be invoiced on order %(number)s.")
                % {"number": order.number},
            )
        for key, quantity in chosen.items():
            row = rows[key]
            if quantity > row["remaining"]:
                raise InvalidValue("quantity", beyond_message(row["line"], row["invoiced"]))
        language = order.language or order.partner.language or current_app.config["DEFAULT_LOCALE"]
        with force_locale(language):
            notes = gettext(
                "Order %(number)s of %(date)s",
                number=order.number,
                date=date_text(order.order_date, "long"),
            )
        lines = []
        for key in sorted(chosen, key=lambda k: rows[k]["line"].position):
            line = rows[key]["line"]
            price = (line.unit_price * (100 - (line.discount or 0)) / 100).quantize(CENT)
            lines.append(
                {
                    "description": line.description,
                    "quantity": chosen[key],
                    "unit": line.unit,
                    "unit_price": price,
                    "vat_rate": line.vat_rate,
                    "product_id": line.product_id,
                    "order_line_id": line.id,
                }
            )
        invoice = create_draft(
            order.partner_id,
            actor_id,
            lines=lines,
            currency=order.currency,
            language=language,
            notes=notes,
        )
    return invoice


def invoices_of(order: Order) -> list[Invoice]:
    """The invoices (drafts and cancelled ones included) with a line billing the order."""
    billing = (
        select(InvoiceLine.invoice_id)
        .join(OrderLine, OrderLine.id == InvoiceLine.order_line_id)
        .where(OrderLine.order_id == order.id)
    )
    return list(
        db.session.scalars(select(Invoice).where(Invoice.id.in_(billing)).order_by(Invoice.id))
    )


# --- the PDF and the e-mail ----------------------------------------------------------------


def order_document(order: Order, company: OurCompany) -> dict:
    """What the shared layout draws for an order, in the current locale: our company as it
    is now, the customer's billing data as they are now."""
    partner = order.partner
    meta = [
        (gettext("Order date"), date_text(order.order_date, "long")),
        (gettext("Customer number"), partner.customer_number or ""),
        (gettext("Currency"), order.currency),
    ]
    if order.quote is not None:
        meta.append(
            (
                gettext("Quote"),
                gettext(
                    "%(number)s, version %(version)s",
                    number=order.quote.number,
                    version=order.quote.version,
                ),
            )
        )
    if order.contact is not None:
        meta.append((gettext("Contact person"), order.contact.display_name))
    return priced_document(
        title=gettext("Order"),
        number=order.number,
        company=company,
        seller=seller_of(company),
        buyer={
            "name": partner.display_name,
            "address": str(partner.billing_address or ""),
            "tax_number": getattr(partner, "tax_number", None),
        },
        meta=meta,
        lines=order.lines,
        currency=order.currency,
        totals=(order.net_total, order.vat_total, order.gross_total),
        total_label=gettext("Total"),
        footer=company.footer,
    )


def language_of(order: Order) -> str:
    return order.language or order.partner.language or current_app.config["DEFAULT_LOCALE"]


def render_order_pdf(order: Order) -> bytes:
    """The order as PDF in its customer's language."""
    with force_locale(language_of(order)):
        return render_documents([order_document(order, our_company())])


def pdf_name(order: Order) -> str:
    return f"order-{order.number.replace('/', '-')}.pdf"


def recipient_of(order: Order) -> str | None:
    """The contact person's address at the customer (else their own), else the customer's."""
    if order.contact is not None:
        own = db.session.scalar(
            select(Affiliation.email).where(
                Affiliation.person_id == order.contact_id,
                Affiliation.organization_id == order.partner_id,
            )
        )
        if own or order.contact.email:
            return own or order.contact.email
    return order.partner.email


def email_order(order_id: int, actor_id: int | None) -> tuple[Order, str]:
    """Queue the order with its PDF to the contact person, in the customer's language;
    answers the order and the address. Sending again makes a new mail."""
    from app.services.outbox import queue_mail
    from app.services.tasks import render_mail

    with acting_as(actor_id):
        order = fetch(Order, order_id)
        if order.status == "cancelled":
            raise InvalidValue("order", _l("A cancelled order is not sent."))
        recipient = recipient_of(order)
        if not recipient:
            raise InvalidValue(
                "email", _l("Neither the contact person nor the partner has an e-mail address.")
            )
        subject, body = render_mail("order", language_of(order), order=order)
        sent_before = db.session.scalar(
            select(func.count(Outbox.id)).where(Outbox.key.startswith(f"order:{order.id}:"))
        )
        queue_mail(
            db.session,
            f"order:{order.id}:{sent_before + 1}",
            recipient,
            subject,
            body,
            attachments=[(pdf_name(order), "application/pdf", render_order_pdf(order))],
        )
    return order, recipient
