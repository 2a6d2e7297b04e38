"""Quotes: an offer's product lines, sending a numbered version of its quote (the PDF in the
partner's language, e-mailed through the outbox to the contact person chosen), the answer
(accepted or declined in the Client Zone, or recorded by staff), and what the zone sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, selectinload, with_expression

from app.errors import (
    SELLER_REQUIRED,
    Conflict,
    InvalidValue,
    NotFound,
    QuoteSellerDataMissing,
)
from app.extensions import db
from app.formatting import date_text, money_text
from app.models import (
    Affiliation,
    Offer,
    OfferLine,
    OurCompany,
    Partner,
    Person,
    Product,
    Quote,
    QuoteLine,
    utcnow,
)
from app.models.finance import fill_from_product
from app.services import acting_as, take_write_lock
from app.services.company import our_company
from app.services.invoicing import (
    document_columns,
    document_lines,
    logo_uri,
    next_invoice_number,
    party_block,
    render_documents,
    vat_summary,
)
from app.services.users import LOCALES

# What a line of the REST API and the services carries (`product` is the product's id).
LINE_KEYS = ("product", "description", "quantity", "unit", "unit_price", "discount", "vat_rate")


# --- lines ---------------------------------------------------------------------------------


def _line(given: dict, position: int) -> OfferLine:
    if not isinstance(given, dict):
        raise InvalidValue("lines", _l("Not a valid list."))
    unknown = set(given) - set(LINE_KEYS) - {"id", "net", "position"}
    if unknown:
        raise InvalidValue("lines", _l("Unknown field: %(field)s.") % {"field": sorted(unknown)[0]})
    product_id = given.get("product")
    if product_id is not None:
        if isinstance(product_id, bool) or not isinstance(product_id, int):
            raise InvalidValue("lines", _l("Not a valid id."))
        if db.session.get(Product, product_id) is None:
            raise InvalidValue("lines", _l("No such product: %(id)s.") % {"id": product_id})
    for key in ("description", "unit"):
        if given.get(key) is not None and not isinstance(given[key], str):
            raise InvalidValue("lines", _l("Not a valid string."))
    for key in ("quantity", "unit_price", "discount", "vat_rate"):
        value = given.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal, type(None))):
            raise InvalidValue(key, _l("Not a valid number."))
    try:
        return OfferLine(
            position=position,
            product_id=product_id,
            description=given.get("description"),
            quantity=given.get("quantity") if given.get("quantity") is not None else 1,
            unit=given.get("unit"),
            unit_price=given.get("unit_price"),
            discount=given.get("discount"),
            vat_rate=given.get("vat_rate"),
        )
    except InvalidOperation as error:
        raise InvalidValue("lines", _l("Not a valid number.")) from error


def _key(line) -> tuple:
    """What makes two lines the same line (for a quote: whether anything changed)."""
    return (
        line.product_id,
        line.description,
        Decimal(line.quantity),
        line.unit,
        Decimal(line.unit_price),
        Decimal(line.discount or 0),
        Decimal(line.vat_rate),
    )


def set_lines(offer: Offer, lines: list[dict]) -> None:
    """Replace an offer's lines inside the caller's transaction; the model fills them from
    their products, makes the offer's amount their sum, and keeps the lines of a won or
    lost offer. The same lines again change nothing."""
    if not isinstance(lines, list):
        raise InvalidValue("lines", _l("Not a valid list."))
    new = [_line(given, position) for position, given in enumerate(lines, 1)]
    connection = db.session.connection()
    for line in new:  # as the model fills them, so that they compare with the stored ones
        fill_from_product(connection, line)
    with db.session.no_autoflush:
        current = list(offer.lines)
    if [_key(line) for line in current] == [_key(line) for line in new]:
        return
    offer.lines = new
    db.session.flush()


def save_lines(offer_id: int, actor_id: int | None, lines: list[dict]) -> Offer:
    """Replace an offer's lines (the service for callers outside a screen's transaction)."""
    with acting_as(actor_id):
        offer = db.session.get(Offer, offer_id)
        if offer is None:
            raise NotFound()
        set_lines(offer, lines)
    return offer


def line_dict(line: OfferLine | QuoteLine) -> dict:
    """A line as the REST API answers it."""
    return {
        "id": line.id,
        "position": line.position,
        "product": line.product_id,
        "description": line.description,
        "quantity": str(line.quantity),
        "unit": line.unit,
        "unit_price": str(line.unit_price),
        "discount": str(line.discount),
        "vat_rate": str(line.vat_rate),
        "net": str(line.net),
    }


def lines_of(offer_id: int) -> list[OfferLine]:
    return list(
        db.session.scalars(
            select(OfferLine)
            .where(OfferLine.offer_id == offer_id)
            .order_by(OfferLine.position, OfferLine.id)
        )
    )


# --- to whom ---------------------------------------------------------------------------------


@dataclass
class Recipient:
    """A person a quote may be mailed to, at the address they have for the partner."""

    person: Person
    email: str | None
    may_represent: bool


def contacts_of(partner: Partner) -> list[Recipient]:
    """Who a partner's quote may go to: a company's people (those who may represent it
    first, then its contact persons), or the person themself."""
    if isinstance(partner, Person):
        return [Recipient(partner, partner.email, True)]
    rows = db.session.scalars(
        select(Affiliation)
        .join(Person, Person.id == Affiliation.person_id)
        .options(contains_eager(Affiliation.person))
        .where(Affiliation.organization_id == partner.id)
        .order_by(
            Affiliation.may_represent.desc(),
            Affiliation.is_contact_person.desc(),
            Person.display_name,
        )
    ).all()
    return [
        Recipient(a.person, a.email or a.person.email, a.may_represent)
        for a in rows
        if a.person is not None
    ]


def default_contact(recipients: list[Recipient]) -> Recipient | None:
    """The one who may represent the partner, else the first with an e-mail address."""
    with_mail = [r for r in recipients if r.email]
    return next((r for r in with_mail if r.may_represent), with_mail[0] if with_mail else None)


def _recipient(partner: Partner, contact_id: int | None) -> Recipient:
    recipients = contacts_of(partner)
    if contact_id is None:
        chosen = default_contact(recipients)
        if chosen is None:
            raise InvalidValue(
                "contact",
                _l("%(partner)s has no contact person with an e-mail address.")
                % {"partner": partner.display_name},
            )
        return chosen
    chosen = next((r for r in recipients if r.person.id == contact_id), None)
    if chosen is None:
        raise InvalidValue(
            "contact",
            _l("Choose a contact person of %(partner)s.") % {"partner": partner.display_name},
        )
    if not chosen.email:
        raise InvalidValue(
            "contact",
            _l("%(person)s has no e-mail address.") % {"person": chosen.person.display_name},
        )
    return chosen


# --- sending ---------------------------------------------------------------------------------


def _locked_offer(offer_id: int) -> Offer:
    """The offer, read afresh under the lock its quotes are sent and answered under: a
    second click waits for the first and then sees what it did."""
    take_write_lock()
    offer = db.session.scalar(
        select(Offer)
        .where(Offer.id == offer_id)
        .with_for_update(of=Offer)
        .execution_options(populate_existing=True)
    )
    if offer is None:
        raise NotFound()
    return offer


def latest_quote(offer_id: int) -> Quote | None:
    return db.session.scalar(
        select(Quote)
        .where(Quote.offer_id == offer_id)
        .order_by(Quote.version.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


def quotes_of(offer_id: int) -> list[Quote]:
    """Every version sent of an offer's quote, the latest first."""
    return list(
        db.session.scalars(
            select(Quote)
            .where(Quote.offer_id == offer_id)
            .options(selectinload(Quote.contact))
            .order_by(Quote.version.desc())
        )
    )


def valid_days() -> int:
    """How long a quote sent today is valid (Settings → Our company)."""
    days = db.session.scalar(select(OurCompany.quote_valid_days).where(OurCompany.id == 1))
    return days or 30


def language_of(partner: Partner) -> str:
    return partner.language if partner.language in LOCALES else current_app.config["DEFAULT_LOCALE"]


def send_quote(
    offer_id: int, actor_id: int | None, contact_id: int | None = None, today: date | None = None
) -> Quote:
    """Freeze the offer's lines as the next version of its quote and mail its PDF to the
    contact person (default: the one who may represent the partner). The number is taken
    from the gapless yearly counter at the first sending; a later sending after a change
    makes v2, v3 … with the same number and supersedes the version still waiting. Sending
    again without a change is refused."""
    today = today or date.today()
    with acting_as(actor_id):
        offer = _locked_offer(offer_id)
        if offer.status != "pending":
            raise Conflict(
                _l("The offer is %(status)s: only a pending offer's quote is sent.")
                % {"status": offer.status_label}
            )
        lines = list(
            db.session.scalars(
                select(OfferLine)
                .where(OfferLine.offer_id == offer.id)
                .order_by(OfferLine.position, OfferLine.id)
                .execution_options(populate_existing=True)
            )
        )
        if not lines:
            raise InvalidValue(
                "lines", _l("Add product lines to the offer before sending its quote.")
            )
        company = our_company()
        missing = [key for key in SELLER_REQUIRED if not getattr(company, key)]
        if missing:
            raise QuoteSellerDataMissing(missing, offer.currency)
        partner = offer.partner
        recipient = _recipient(partner, contact_id)
        latest = latest_quote(offer.id)
        if (
            latest is not None
            and latest.currency == offer.currency
            and [_key(line) for line in latest.lines] == [_key(line) for line in lines]
        ):
            raise Conflict(
                _l(
                    "Version %(version)s of quote %(number)s already has these lines: "
                    "change the offer to send a new version."
                )
                % {"version": latest.version, "number": latest.number}
            )
        if latest is None:
            number = next_invoice_number(db.session.connection(), today.year, "quote")
            year = today.year
        else:
            number, year = latest.number, latest.year
            for waiting in db.session.scalars(
                select(Quote).where(Quote.offer_id == offer.id, Quote.status == "sent")
            ):
                waiting.status = "superseded"
        quote = Quote(
            offer_id=offer.id,
            partner_id=partner.id,
            number=number,
            year=year,
            version=latest.version + 1 if latest is not None else 1,
            status="sent",
            contact_id=recipient.person.id,
            language=language_of(partner),
            currency=offer.currency,
            issue_date=today,
            valid_until=today + timedelta(days=company.quote_valid_days or 30),
            sent_by_id=actor_id,
            sent_at=utcnow(),
            title=offer.name,
            buyer_name=partner.display_name,
            buyer_address=str(partner.billing_address or ""),
            buyer_tax_number=getattr(partner, "tax_number", None),
            seller_name=company.name,
            seller_address=company.address,
            seller_tax_number=company.tax_number,
            seller_eu_vat_number=company.eu_vat_number,
            seller_registration_number=company.registration_number,
            footer=company.footer,
        )
        quote.lines = [QuoteLine(**line.priced_fields()) for line in lines]
        net = sum((line.net for line in quote.lines), Decimal(0))
        vat = sum((line.vat for line in quote.lines), Decimal(0))
        quote.net_total, quote.vat_total, quote.gross_total = net, vat, net + vat
        db.session.add(quote)
        db.session.flush()
        _mail_quote(quote, recipient, company)
    return quote


def _mail_quote(quote: Quote, recipient: Recipient, company: OurCompany) -> None:
    from app.services.outbox import queue_mail
    from app.services.tasks import render_mail

    person_locale = recipient.person.language
    locale = person_locale if person_locale in LOCALES else quote.language
    subject, body = render_mail(
        "quote", locale, quote=quote, name=recipient.person.display_name, seller=company.name
    )
    queue_mail(
        db.session,
        f"quote:{quote.id}",
        recipient.email,
        subject,
        body,
        attachments=[(quote.filename, "application/pdf", render_pdf(quote, company))],
    )


# --- the answer ------------------------------------------------------------------------------


def _answer(quote: Quote, accept: bool, user, name: str | None, comment: str | None) -> None:
    if quote.status != "sent":
        raise Conflict(
            _l(
                "Version %(version)s of quote %(number)s is %(status)s: it can no longer be "
                "accepted or declined."
            )
            % {"version": quote.version, "number": quote.number, "status": quote.status_label}
        )
    quote.status = "accepted" if accept else "declined"
    quote.decided_by_id = user.id
    quote.decided_by_name = (name or "").strip() or user.get_full_name()
    quote.decided_at = utcnow()
    quote.decision_comment = (comment or "").strip() or None
    db.session.flush()


def record_answer(
    offer_id: int, user, accept: bool = True, name: str | None = None, comment: str | None = None
) -> Quote:
    """Staff record by hand that the customer accepted (the offer is won) or declined the
    version of the offer's quote that waits for an answer."""
    with acting_as(user.id):
        _locked_offer(offer_id)
        quote = db.session.scalar(
            select(Quote)
            .where(Quote.offer_id == offer_id, Quote.status == "sent")
            .order_by(Quote.version.desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
        if quote is None:
            raise Conflict(_l("No quote of this offer waits for an answer."))
        _answer(quote, accept, user, name, comment)
    return quote


def answer_in_zone(quote_id: int, user, accept: bool, comment: str | None = None) -> Quote:
    """A zone user to whom the offer is shared accepts or declines the version that waits
    for an answer, while it is valid; the offer's owner is mailed. Two answers at once
    record one: the second waits for the offer's lock and then finds it answered."""
    found = find_for_zone(user.id, quote_id)
    if found is None:
        raise NotFound()
    with acting_as(user.id):
        _locked_offer(found.offer_id)
        quote = db.session.scalar(
            select(Quote).where(Quote.id == quote_id).execution_options(populate_existing=True)
        )
        if quote.status == "sent" and quote.valid_until < date.today():
            raise Conflict(
                _l("This quote was valid until %(date)s: ask for a new one.")
                % {"date": date_text(quote.valid_until, "long")}
            )
        _answer(quote, accept, user, None, comment)
        _mail_owner(quote)
    return quote


def _mail_owner(quote: Quote) -> None:
    from app.services.outbox import mail_link, queue_mail
    from app.services.tasks import render_mail
    from app.services.users import locale_of, profiles

    owner = quote.offer.owner
    if owner is None or not owner.active or not owner.email:
        return
    subject, body = render_mail(
        "quote_answered",
        locale_of(profiles([owner.id]).get(owner.id)),
        quote=quote,
        link=mail_link("OfferView.show", pk=quote.offer_id),
    )
    queue_mail(db.session, f"quote-answer:{quote.id}", owner.email, subject, body)


def with_overview(query):
    """A select of offers that also reads how many lines each has and its latest quote's
    id (no query more for a page of them)."""
    lines = (
        select(func.count(OfferLine.id))
        .where(OfferLine.offer_id == Offer.id)
        .correlate_except(OfferLine)
        .scalar_subquery()
    )
    latest = (
        select(Quote.id)
        .where(Quote.offer_id == Offer.id)
        .correlate_except(Quote)
        .order_by(Quote.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    return query.options(
        with_expression(Offer.line_count, lines), with_expression(Offer.latest_quote_id, latest)
    )


def latest_quotes(offers: list[Offer]) -> dict[int, Quote]:
    """The latest quote of each offer read `with_overview`: one query, when there are any."""
    ids = [offer.latest_quote_id for offer in offers if offer.latest_quote_id is not None]
    if not ids:
        return {}
    return {q.offer_id: q for q in db.session.scalars(select(Quote).where(Quote.id.in_(ids)))}


# --- what the zone sees ----------------------------------------------------------------------


def visible_to_zone(user_id: int):
    """Quotes of the offers shared with a zone user, of the user's own partner only."""
    from app.services import zone

    offers = zone.visible("offer", user_id).with_only_columns(Offer.id)
    return select(Quote).where(Quote.offer_id.in_(offers))


def find_for_zone(user_id: int, quote_id: int) -> Quote | None:
    return db.session.scalar(visible_to_zone(user_id).where(Quote.id == quote_id))


def zone_quotes(user_id: int, offer_id: int | None = None) -> list[Quote]:
    query = visible_to_zone(user_id)
    if offer_id is not None:
        query = query.where(Quote.offer_id == offer_id)
    return list(
        db.session.scalars(query.order_by(Quote.sent_at.desc(), Quote.version.desc()).limit(200))
    )


# --- the PDF ---------------------------------------------------------------------------------


def render_pdf(quote: Quote, company: OurCompany | None = None) -> bytes:
    """A version of the quote as PDF in its language, in the shared layout."""
    company = company or our_company()
    with force_locale(quote.language or current_app.config["DEFAULT_LOCALE"]):
        document = quote_document(quote, company)
    return render_documents([document])


def quote_document(quote: Quote, company: OurCompany) -> dict:
    """What the shared layout draws for a quote version, in the current locale: the parties
    as they were when it was sent, lines with their discount, the VAT summary, totals and
    the validity date."""

    def money(amount) -> str:
        return money_text(amount, quote.currency)

    contact = quote.contact.display_name if quote.contact is not None else ""
    meta = [
        (gettext("Quote date"), date_text(quote.issue_date, "long")),
        (gettext("Valid until"), date_text(quote.valid_until, "long")),
        (gettext("Version"), str(quote.version)),
        (gettext("Customer number"), quote.partner.customer_number or ""),
        (gettext("Contact person"), contact),
        (gettext("Currency"), quote.currency),
    ]
    seller_rows = [
        (gettext("Tax number"), quote.seller_tax_number),
        (gettext("EU VAT number"), quote.seller_eu_vat_number),
        (gettext("Registration number"), quote.seller_registration_number),
    ]
    return {
        "title": gettext("Quote"),
        "number": quote.number,
        "logo": logo_uri(company),
        "seller_label": gettext("Seller"),
        "buyer_label": gettext("Buyer"),
        "seller": party_block(quote.seller_name, quote.seller_address, seller_rows),
        "buyer": party_block(
            quote.buyer_name, quote.buyer_address, [(gettext("Tax number"), quote.buyer_tax_number)]
        ),
        "meta": meta,
        "bank_label": "",
        "bank": None,
        "reference": quote.title,
        "columns": document_columns(discount=any(line.discount for line in quote.lines)),
        "lines": document_lines(quote.lines, money),
        "summary_title": gettext("VAT summary"),
        "summary": vat_summary(quote.lines, money),
        "totals": [
            (gettext("Net total"), money(quote.net_total), False),
            (gettext("VAT total"), money(quote.vat_total), False),
            (gettext("Gross total"), money(quote.gross_total), True),
        ],
        "words_label": "",
        "words": None,
        "notes": gettext(
            "This quote is valid until %(date)s.", date=date_text(quote.valid_until, "long")
        ),
        "footer": [part.strip() for part in (quote.footer or "").splitlines() if part.strip()],
    }


__all__ = [
    "set_lines",
    "save_lines",
    "line_dict",
    "lines_of",
    "contacts_of",
    "default_contact",
    "send_quote",
    "latest_quote",
    "quotes_of",
    "valid_days",
    "record_answer",
    "answer_in_zone",
    "with_overview",
    "latest_quotes",
    "visible_to_zone",
    "find_for_zone",
    "zone_quotes",
    "render_pdf",
    "quote_document",
]
