"""Quotes and orders: an offer's product lines, the numbered versions of the quote sent to the
customer (frozen copies of those lines), and the orders made from an accepted quote, whose
lines are invoiced in full or in part (`InvoiceLine.order_line_id`).

The columns of a priced line are one mixin (`PricedLine`): offer, quote and order lines are
the same line at three moments. Numbers come from gapless yearly counters of their own
(`Q-2026/000123`, `O-2026/000045`), taken in the sending or ordering transaction."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.orm import (
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    query_expression,
    relationship,
    validates,
)

from app.errors import Conflict, InvalidValue, OfferLocked, OrderLocked, QuoteLocked
from app.models.audit import Audited
from app.models.base import (
    _fitting,
    changed_columns,
    check_choice,
    clean_currency,
    forbid_to_zone_users,
    to_decimal,
    utcnow,
)
from app.models.finance import (
    Invoice,
    InvoiceLine,
    LineChecks,
    Product,
    fill_from_product,
    fill_line_from_product,
)
from app.models.partners import Partner, Person
from app.models.sales import OFFER_STATUS_LABELS, Offer

CENT = Decimal("0.01")

QUOTE_STATUS_LABELS = {
    "sent": _l("Sent"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "superseded": _l("Superseded"),
}
ORDER_STATUS_LABELS = {
    "open": _l("Open"),
    "in_progress": _l("In progress"),
    "delivered": _l("Delivered"),
    "cancelled": _l("Cancelled"),
}
# Where an order may go from each status. Cancelling is refused besides once anything of it
# is invoiced (a draft invoice counts: it reserves its quantities).
ORDER_TRANSITIONS = {
    "open": {"in_progress", "delivered", "cancelled"},
    "in_progress": {"open", "delivered", "cancelled"},
    "delivered": {"in_progress"},
    "cancelled": set(),
}
# What an order is once made: its number, customer, currency and lines never change.
ORDER_CONTENT = (
    "number",
    "year",
    "partner_id",
    "offer_id",
    "quote_id",
    "currency",
    "order_date",
    "net_total",
    "vat_total",
    "gross_total",
)


class PricedLine(LineChecks):
    """Product, description, quantity, unit, unit price, discount % and VAT rate of a line.
    Left empty, description, unit, price and VAT rate come from the product (as on invoice
    lines, whose checks it shares)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False, default=1)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pc")
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    discount: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, default=0)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, default=27)

    @declared_attr
    def product_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("product.id", ondelete="SET NULL"))

    @declared_attr
    def product(cls) -> Mapped[Product | None]:
        return relationship(Product)

    @validates("discount")
    def _discount(self, key, value):
        value = to_decimal(key, value if value not in (None, "") else 0)
        if not 0 <= value <= 100:
            raise InvalidValue(key, _l("The discount must be between 0 and 100 per cent."))
        return value

    @validates("unit_price")
    def _price(self, key, value):
        if value in (None, ""):
            return None
        value = to_decimal(key, value)
        if value < 0:
            raise InvalidValue(key, _l("%(value)s cannot be negative.") % {"value": value})
        return value

    @property
    def net(self) -> Decimal:
        gross_price = self.quantity * self.unit_price
        return (gross_price * (100 - (self.discount or 0)) / 100).quantize(CENT)

    @property
    def vat(self) -> Decimal:
        return (self.net * self.vat_rate / 100).quantize(CENT)

    def priced_fields(self) -> dict:
        """What a copy of the line carries (quote ← offer, order ← quote)."""
        return {
            "position": self.position,
            "product_id": self.product_id,
            "description": self.description,
            "quantity": self.quantity,
            "unit": self.unit,
            "unit_price": self.unit_price,
            "discount": self.discount,
            "vat_rate": self.vat_rate,
        }


_LINE_CHECKS = (
    ("quantity > 0", "quantity"),
    ("unit_price >= 0", "price"),
    ("discount >= 0 AND discount <= 100", "discount"),
    ("vat_rate >= 0 AND vat_rate <= 100", "vat"),
)


def _line_checks(table: str) -> tuple:
    return tuple(CheckConstraint(sql, name=f"ck_{table}_{name}") for sql, name in _LINE_CHECKS)


class OfferLine(PricedLine, Model):
    """A product line of an offer; the offer's amount is the sum of its lines' net."""

    __tablename__ = "offer_line"
    __table_args__ = _line_checks("offer_line")
    offer_id: Mapped[int] = mapped_column(
        ForeignKey("offer.id", ondelete="CASCADE"), nullable=False, index=True
    )
    offer: Mapped[Offer] = relationship(back_populates="lines")


Offer.lines = relationship(
    OfferLine,
    back_populates="offer",
    cascade="all, delete-orphan",
    order_by=OfferLine.position,
)


def _guard_offer_line(mapper, connection, target: OfferLine) -> None:
    """The lines of a won or lost offer are what was decided: none is added, changed,
    moved or removed (nor moved to such an offer). Zone users change no line."""
    forbid_to_zone_users(mapper, connection, target)
    offers = {target.offer_id}
    if target.id is not None:  # the offer the stored line is on now
        offers.add(
            connection.execute(select(OfferLine.offer_id).where(OfferLine.id == target.id)).scalar()
        )
    for status in connection.execute(
        select(Offer.status).where(Offer.id.in_(offers - {None}))
    ).scalars():
        if status != "pending":
            raise OfferLocked(status=OFFER_STATUS_LABELS.get(status, status))


for _event in ("before_insert", "before_update", "before_delete"):
    event.listen(OfferLine, _event, _guard_offer_line)
for _event in ("before_insert", "before_update"):
    event.listen(OfferLine, _event, fill_line_from_product)


class Quote(Model):
    """A version of an offer's quote as it was sent: `number` is the offer's (taken at the
    first sending), `version` counts the sendings after a change (1, 2 …)."""

    __tablename__ = "quote"
    __audited__ = Audited("quote", _l("Quote"))
    __table_args__ = (
        UniqueConstraint("number", "version", name="uq_quote_number_version"),
        UniqueConstraint("offer_id", "version", name="uq_quote_offer_version"),
        CheckConstraint(
            "status IN ('sent', 'accepted', 'declined', 'superseded')", name="ck_quote_status"
        ),
        Index("ix_quote_partner", "partner_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(
        ForeignKey("offer.id", ondelete="RESTRICT"), nullable=False
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"), nullable=False
    )
    number: Mapped[str] = mapped_column(String(20), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(
        String(12), nullable=False, default="sent", active_history=True
    )
    # To whom it was sent (default: the contact person who may represent the partner).
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    language: Mapped[str | None] = mapped_column(String(5))
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    valid_until: Mapped[date] = mapped_column(Date, nullable=False)
    net_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    vat_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    gross_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    # The answer: who (a zone user or staff recording it by hand), when, and what they said.
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    decided_by_name: Mapped[str | None] = mapped_column(String(250))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)
    # The offer's name, the buyer and our company as they were when this version was sent.
    title: Mapped[str | None] = mapped_column(String(200))
    buyer_name: Mapped[str | None] = mapped_column(String(250))
    buyer_address: Mapped[str | None] = mapped_column(Text)
    buyer_tax_number: Mapped[str | None] = mapped_column(String(40))
    seller_name: Mapped[str | None] = mapped_column(String(250))
    seller_address: Mapped[str | None] = mapped_column(Text)
    seller_tax_number: Mapped[str | None] = mapped_column(String(40))
    seller_eu_vat_number: Mapped[str | None] = mapped_column(String(40))
    seller_registration_number: Mapped[str | None] = mapped_column(String(60))
    footer: Mapped[str | None] = mapped_column(Text)

    offer: Mapped[Offer] = relationship()
    partner: Mapped[Partner] = relationship(foreign_keys=[partner_id])
    contact: Mapped[Person | None] = relationship(foreign_keys=[contact_id])
    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", order_by="QuoteLine.position"
    )

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @property
    def status_label(self) -> str:
        return str(QUOTE_STATUS_LABELS.get(self.status, self.status))

    @property
    def is_open(self) -> bool:
        """Sent and not yet answered, replaced or out of date: it can be accepted or declined."""
        return self.status == "sent" and self.valid_until >= date.today()

    @property
    def filename(self) -> str:
        return f"quote-{self.number.replace('/', '-')}-v{self.version}.pdf"

    def __str__(self) -> str:
        return f"{self.number} v{self.version}"


# Read with a page of offers when asked for (`with_expression`, services/quotes.py): how many
# lines each has, and the id of its latest quote version. Never loaded otherwise.
Offer.line_count = query_expression()
Offer.latest_quote_id = query_expression()


class QuoteLine(PricedLine, Model):
    """A line of a sent quote: a frozen copy of the offer's line at the sending."""

    __tablename__ = "quote_line"
    __table_args__ = _line_checks("quote_line")
    quote_id: Mapped[int] = mapped_column(
        ForeignKey("quote.id", ondelete="CASCADE"), nullable=False, index=True
    )
    quote: Mapped[Quote] = relationship(back_populates="lines")


class Order(Model):
    """A customer's order, made from an accepted quote; invoiced line by line."""

    __tablename__ = "sales_order"
    __audited__ = Audited("order", _l("Order"))
    __table_args__ = (
        UniqueConstraint("number", name="uq_sales_order_number"),
        CheckConstraint(
            "status IN ('open', 'in_progress', 'delivered', 'cancelled')",
            name="ck_sales_order_status",
        ),
        Index("ix_sales_order_partner_status", "partner_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"), nullable=False
    )
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="SET NULL"))
    # One order per accepted quote: two clicks at once make one.
    quote_id: Mapped[int | None] = mapped_column(
        ForeignKey("quote.id", ondelete="SET NULL"), unique=True
    )
    status: Mapped[str] = mapped_column(
        String(12), nullable=False, default="open", active_history=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    language: Mapped[str | None] = mapped_column(String(5))
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    order_date: Mapped[date] = mapped_column(Date, nullable=False)
    net_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    vat_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    gross_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    # Read with the order (lists show it on every row).
    partner: Mapped[Partner] = relationship(foreign_keys=[partner_id], lazy="joined")
    offer: Mapped[Offer | None] = relationship()
    quote: Mapped[Quote | None] = relationship()
    contact: Mapped[Person | None] = relationship(foreign_keys=[contact_id])
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.position"
    )

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @validates("status")
    def _status(self, key, value):
        return check_choice(key, value, ORDER_STATUS_LABELS)

    @property
    def status_label(self) -> str:
        return str(ORDER_STATUS_LABELS.get(self.status, self.status))

    @property
    def next_statuses(self) -> list[str]:
        return [s for s in ORDER_STATUS_LABELS if s in ORDER_TRANSITIONS[self.status]]

    def recompute(self) -> None:
        net = sum((line.net for line in self.lines), Decimal(0))
        vat = sum((line.vat for line in self.lines), Decimal(0))
        self.net_total, self.vat_total, self.gross_total = net, vat, net + vat

    def __str__(self) -> str:
        return self.number


class OrderLine(PricedLine, Model):
    """A line of an order; invoice lines point at it (`InvoiceLine.order_line_id`) and never
    add up to more than its quantity."""

    __tablename__ = "order_line"
    __table_args__ = _line_checks("order_line")
    order_id: Mapped[int] = mapped_column(
        ForeignKey("sales_order.id", ondelete="CASCADE"), nullable=False, index=True
    )
    order: Mapped[Order] = relationship(back_populates="lines")


# --- the rules of an order, on flush -----------------------------------------------------


def invoiced_sums(connection, order_line_ids) -> dict[int, Decimal]:
    """Invoiced quantity per order line: the sum of the invoice lines billing it on invoices
    that are not cancelled (a draft counts: it reserves; a deleted draft or a credit note
    gives the quantity back)."""
    ids = sorted({i for i in order_line_ids if i is not None})
    if not ids:
        return {}
    rows = connection.execute(
        select(InvoiceLine.order_line_id, func.sum(InvoiceLine.quantity))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.order_line_id.in_(ids), ~Invoice.is_cancelled)
        .group_by(InvoiceLine.order_line_id)
    )
    return {line_id: Decimal(total or 0) for line_id, total in rows}


def beyond_message(line, invoiced_before) -> str:
    """The refusal of invoicing `line` (description, quantity) beyond what remains of it."""
    remaining = max(line.quantity - invoiced_before, Decimal(0))
    return str(
        _l(
            "“%(line)s” cannot be invoiced beyond its ordered quantity: %(remaining)s of "
            "%(ordered)s remain to be invoiced."
        )
        % {
            "line": line.description,
            "remaining": format_decimal(remaining),
            "ordered": format_decimal(line.quantity),
        }
    )


def lock_order(connection, order_id: int):
    """The order's row, read under the lock its invoicing and cancelling take: PostgreSQL's
    SELECT … FOR UPDATE, SQLite's write transaction (BEGIN IMMEDIATE when none is open).
    A second session waits here for the first to commit and then reads what it did."""
    if (
        connection.dialect.name == "sqlite"
        and not connection.connection.driver_connection.in_transaction
    ):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    query = select(Order.status, Order.partner_id, Order.currency, Order.number).where(
        Order.id == order_id
    )
    if connection.dialect.name != "sqlite":
        query = query.with_for_update()
    return connection.execute(query).first()


@event.listens_for(Order, "before_insert")
def _new_order(mapper, connection, target: Order) -> None:
    if target.status not in (None, "open"):
        raise OrderLocked(OrderLocked.new_order)


@event.listens_for(Order, "before_update")
def _guard_order(mapper, connection, target: Order) -> None:
    state = inspect(target)
    if any(state.attrs[c].history.has_changes() for c in ORDER_CONTENT):
        raise OrderLocked(OrderLocked.fixed)
    hist = state.attrs.status.history
    before = hist.deleted[0] if hist.deleted else target.status
    if before == target.status:
        return
    if target.status not in ORDER_TRANSITIONS.get(before, set()):
        raise OrderLocked(
            OrderLocked.transition,
            status=ORDER_STATUS_LABELS.get(before, before),
            new=ORDER_STATUS_LABELS.get(target.status, target.status),
        )
    if target.status == "cancelled":
        # Under the order's lock, so that an invoice made at the same moment is seen.
        lock_order(connection, target.id)
        line_ids = connection.execute(
            select(OrderLine.id).where(OrderLine.order_id == target.id)
        ).scalars()
        if any(invoiced_sums(connection, line_ids).values()):
            raise OrderLocked(OrderLocked.invoiced)


@event.listens_for(Order, "before_delete")
def _keep_order(mapper, connection, target: Order) -> None:
    raise OrderLocked(OrderLocked.deleted)


def _fixed_line(mapper, connection, target: OrderLine) -> None:
    raise OrderLocked(OrderLocked.fixed)


for _event in ("before_update", "before_delete"):
    event.listen(OrderLine, _event, _fixed_line)


@event.listens_for(Session, "before_flush")
def _lines_come_with_their_order(session: Session, flush_context, instances) -> None:
    """An order's lines are the accepted quote's, copied when the order is made: no line is
    added to an order made before."""
    for obj in session.new:
        if isinstance(obj, OrderLine) and (obj.order is None or obj.order not in session.new):
            raise OrderLocked(OrderLocked.fixed)


def _within_order(mapper, connection, target: InvoiceLine) -> None:
    """An order line is never invoiced beyond its quantity, whoever writes the invoice line
    and however many sessions do at once: checked after the line is written, under the
    order's lock, over every stored line that bills it."""
    if target.order_line_id is None:
        return
    line = connection.execute(
        select(OrderLine.order_id, OrderLine.quantity, OrderLine.description).where(
            OrderLine.id == target.order_line_id
        )
    ).first()
    order = lock_order(connection, line.order_id)
    if order.status == "cancelled":
        raise OrderLocked(OrderLocked.cancelled, number=order.number)
    invoice = connection.execute(
        select(Invoice.partner_id, Invoice.currency).where(Invoice.id == target.invoice_id)
    ).first()
    if invoice is not None and (invoice.partner_id, invoice.currency) != (
        order.partner_id,
        order.currency,
    ):
        raise InvalidValue(
            "invoice",
            _l("An order is invoiced to its own customer, in its own currency."),
        )
    invoiced = invoiced_sums(connection, [target.order_line_id]).get(target.order_line_id, 0)
    if invoiced > line.quantity:
        raise InvalidValue("quantity", beyond_message(line, invoiced - target.quantity))


for _event in ("after_insert", "after_update"):
    event.listen(InvoiceLine, _event, _within_order)


# --- the rules of lines and versions, for every entry point --------------------------------

# A sent version changes only by its answer: sent → accepted, declined or superseded.
QUOTE_TRANSITIONS = {"sent": {"accepted", "declined", "superseded"}}
QUOTE_ANSWER = {"status", "decided_by_id", "decided_by_name", "decided_at", "decision_comment"}
WON_BY_QUOTE = "offers_won_by_quote"


def _offer_of(session: Session, line: OfferLine) -> Offer | None:
    if line.offer is not None:
        return line.offer
    return session.get(Offer, line.offer_id) if line.offer_id is not None else None


def _touched_offers(session: Session) -> dict[Offer, bool]:
    """Offers whose lines or amount this flush may change, and whether their lines change."""
    offers: dict[Offer, bool] = {}
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, OfferLine):
            changed = obj in session.new or obj in session.deleted or bool(changed_columns(obj))
            offer = _offer_of(session, obj)
            if offer is not None and changed:
                offers[offer] = True
            history = inspect(obj).attrs.offer.history
            for left in history.deleted or ():  # a line moved to another offer
                if left is not None:
                    offers[left] = True
        elif isinstance(obj, Offer) and obj not in session.deleted:
            state = inspect(obj)
            if obj in session.new:
                offers.setdefault(obj, bool(obj.lines))
            elif state.attrs.lines.history.has_changes():
                offers[obj] = True
            elif state.attrs.amount.history.has_changes():
                offers.setdefault(obj, False)
    return offers


@event.listens_for(Session, "before_flush")
def _offer_lines_and_answers(session: Session, flush_context, instances) -> None:
    """An offer with lines is worth the sum of their net (whatever amount was typed); the
    lines of a won or lost offer stay as they are, and zone users change none. An accepted
    quote makes its offer won."""
    # The lines of a won or lost offer, and a zone user's, are refused line by line on
    # flush (`_guard_offer_line`).
    for offer in _touched_offers(session):
        lines = [line for line in offer.lines if line not in session.deleted]
        if not lines:
            continue
        last = max((line.position or 0) for line in lines)
        connection = session.connection()
        for line in lines:
            if line.position is None:
                last += 1
                line.position = last
            if line.quantity is None:
                line.quantity = Decimal(1)
            if line.discount is None:
                line.discount = Decimal(0)
            fill_from_product(connection, line)
        total = sum((line.net for line in lines), Decimal(0))
        offer.amount = _fitting("amount", Offer.__table__.c.amount, total)
    for obj in session.dirty:
        if isinstance(obj, Quote) and "accepted" in (inspect(obj).attrs.status.history.added or ()):
            offer = obj.offer
            session.info.setdefault(WON_BY_QUOTE, set()).add(offer.id)
            if offer.status == "lost":
                raise Conflict(_l("The offer is lost: its quote can no longer be accepted."))
            offer.status = "won"


@event.listens_for(Session, "after_flush")
def _forget_won_by_quote(session: Session, flush_context) -> None:
    session.info.pop(WON_BY_QUOTE, None)


@event.listens_for(Quote, "before_update")
def _guard_quote(mapper, connection, target: Quote) -> None:
    history = inspect(target).attrs.status.history
    before = history.deleted[0] if history.deleted else target.status
    if before != target.status and target.status not in QUOTE_TRANSITIONS.get(before, set()):
        raise Conflict(
            _l("Version %(version)s of quote %(number)s is %(status)s: it is answered no more.")
            % {
                "version": target.version,
                "number": target.number,
                "status": QUOTE_STATUS_LABELS.get(before, before),
            }
        )
    if changed_columns(target) - QUOTE_ANSWER:
        raise QuoteLocked()


@event.listens_for(QuoteLine, "before_update")
def _guard_quote_line(mapper, connection, target: QuoteLine) -> None:
    if changed_columns(target):
        raise QuoteLocked()
