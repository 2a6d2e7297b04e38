"""Products, invoices and their lines, payments, automatic invoicing (settings, runs, print
files), contracts and quotas, with the guards of an issued invoice."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
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
    inspect,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship, validates

from app.errors import InvalidValue, InvoiceLocked, SellerDataMissing
from app.models.audit import Audited
from app.models.base import (
    association,
    check_choice,
    clean_currency,
    clean_vat_rate,
    non_negative,
    required_text,
    search_column,
    search_index,
    to_decimal,
    utcnow,
)
from app.models.partners import Partner
from app.models.sales import PAYMENT_FREQUENCY_LABELS

# --- products ------------------------------------------------------------------------------

partner_product = association("partner_product", "partner", "product")


class Product(Model):
    """A product or service of the catalogue; partners may supply it."""

    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("price >= 0", name="ck_product_price"),
        CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_product_vat"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pc")
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, default=27)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    description: Mapped[str | None] = mapped_column(Text)

    suppliers: Mapped[list[Partner]] = relationship(
        secondary=partner_product, back_populates="supplied_products"
    )

    @validates("code", "name", "unit")
    def _required(self, key, value):
        labels = {"code": _l("Code"), "name": _l("Name"), "unit": _l("Unit")}
        return required_text(key, value, labels[key])

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @validates("price")
    def _price(self, key, value):
        return non_negative(key, value)

    @validates("vat_rate")
    def _vat(self, key, value):
        return clean_vat_rate(key, value)

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


Partner.supplied_products = relationship(
    Product, secondary=partner_product, back_populates="suppliers", order_by=Product.name
)


# --- invoices ------------------------------------------------------------------------------

INVOICE_STATUS_LABELS = {
    "draft": _l("Draft"),
    "issued": _l("Issued"),
    "sent": _l("Sent"),
    "paid": _l("Paid"),
    "partly_paid": _l("Partly paid"),
    "cancelled": _l("Cancelled"),
}
# What an invoice may become once issued; its content never changes again. Cancelling is not
# a status written on the invoice: it issues a credit note, and "cancelled" is read off that
# (`Invoice.is_cancelled`). Stored "cancelled" rows are invoices cancelled before credit notes.
INVOICE_TRANSITIONS = {
    "draft": {"issued"},
    "issued": {"sent", "paid", "partly_paid"},
    "sent": {"paid", "partly_paid"},
    "partly_paid": {"paid"},
    "paid": set(),
    "cancelled": set(),
}
INVOICE_CONTENT = (
    "partner_id",
    "currency",
    "issue_date",
    "due_date",
    "language",
    "notes",
    "billing_name",
    "billing_address",
    "billing_tax_number",
    "number",
    "year",
    "recurring_id",
    "period_start",
    "period_end",
    "net_total",
    "vat_total",
    "gross_total",
    "kind",
    "credited_invoice_id",
    "supply_date",
    "payment_method",
    "seller_name",
    "seller_address",
    "seller_tax_number",
    "seller_eu_vat_number",
    "seller_registration_number",
    "seller_iban",
    "seller_swift",
    "footer",
)
# Units of the catalogue's usual codes, printed in the document's language; any other unit
# is printed as it was typed.
UNIT_LABELS = {
    "pc": _l("pc"),
    "hour": _l("hour"),
    "h": _l("hour"),
    "day": _l("day"),
    "month": _l("month"),
    "year": _l("year"),
    "user": _l("user"),
    "visits": _l("visit"),
    "kg": _l("kg"),
    "m": _l("m"),
    "km": _l("km"),
    "licence": _l("licence"),
}
INVOICE_KIND_LABELS = {"invoice": _l("Invoice"), "credit_note": _l("Credit note")}
DELIVERY_LABELS = {"email": _l("By e-mail"), "post": _l("By post")}


class Invoice(Model):
    """An invoice: edited as a draft, then issued with the next number of its year."""

    __tablename__ = "invoice"
    __audited__ = Audited("invoice", _l("Invoice"))
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'issued', 'sent', 'paid', 'partly_paid', 'cancelled')",
            name="ck_invoice_status",
        ),
        CheckConstraint("status = 'draft' OR number IS NOT NULL", name="ck_invoice_number"),
        UniqueConstraint("number", name="uq_invoice_number"),
        CheckConstraint("kind IN ('invoice', 'credit_note')", name="ck_invoice_kind"),
        CheckConstraint(
            "(kind = 'credit_note') = (credited_invoice_id IS NOT NULL)",
            name="ck_invoice_credit_note",
        ),
        # One credit note per invoice: two cancels at once make one.
        UniqueConstraint("credited_invoice_id", name="uq_invoice_credited"),
        # One invoice per period of an automatic invoicing: running a period twice is a no-op.
        UniqueConstraint("recurring_id", "period_start", name="uq_invoice_recurring_period"),
        CheckConstraint(
            "delivery IS NULL OR delivery IN ('email', 'post')", name="ck_invoice_delivery"
        ),
        Index("ix_invoice_partner_issue", "partner_id", "issue_date"),
        Index("ix_invoice_run", "run_id", "delivery", "id"),
        search_index("invoice"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), active_history=True)
    search_text: Mapped[str] = search_column()
    year: Mapped[int | None] = mapped_column(Integer)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(
        String(12), nullable=False, default="draft", active_history=True
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    language: Mapped[str | None] = mapped_column(String(5))
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    billing_name: Mapped[str | None] = mapped_column(String(250))
    billing_address: Mapped[str | None] = mapped_column(Text)
    billing_tax_number: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    net_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    vat_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    gross_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    # Made by automatic invoicing: which setting, for which period, in which run, sent how.
    recurring_id: Mapped[int | None] = mapped_column(
        ForeignKey(
            "recurring_invoice.id", ondelete="SET NULL", name="fk_invoice_recurring", use_alter=True
        )
    )
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice_run.id", ondelete="SET NULL", name="fk_invoice_run")
    )
    delivery: Mapped[str | None] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(
        String(12), nullable=False, default="invoice", server_default="invoice"
    )
    # A credit note names the invoice it cancels; that invoice itself is never changed.
    credited_invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice.id", name="fk_invoice_credited")
    )
    supply_date: Mapped[date | None] = mapped_column(Date)
    payment_method: Mapped[str | None] = mapped_column(String(16))
    # The seller as it was when the invoice was issued (Settings → Our company).
    seller_name: Mapped[str | None] = mapped_column(String(250))
    seller_address: Mapped[str | None] = mapped_column(Text)
    seller_tax_number: Mapped[str | None] = mapped_column(String(40))
    seller_eu_vat_number: Mapped[str | None] = mapped_column(String(40))
    seller_registration_number: Mapped[str | None] = mapped_column(String(60))
    seller_iban: Mapped[str | None] = mapped_column(String(34))
    seller_swift: Mapped[str | None] = mapped_column(String(11))
    footer: Mapped[str | None] = mapped_column(Text)

    partner: Mapped[Partner] = relationship(lazy="joined")
    credited_invoice: Mapped[Invoice | None] = relationship(
        remote_side=[id], foreign_keys=[credited_invoice_id]
    )
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.position"
    )

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @property
    def state(self) -> str:
        """The status users read: "cancelled" once a credit note cancels the invoice."""
        return "cancelled" if self.is_cancelled else self.status

    @property
    def status_label(self) -> str:
        return str(INVOICE_STATUS_LABELS.get(self.state, self.state))

    @property
    def is_credit_note(self) -> bool:
        return self.kind == "credit_note"

    @property
    def seller_iban_grouped(self) -> str:
        iban = self.seller_iban or ""
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    def recompute(self) -> None:
        net = sum((line.net for line in self.lines), Decimal(0))
        vat = sum((line.vat for line in self.lines), Decimal(0))
        self.net_total, self.vat_total, self.gross_total = net, vat, net + vat

    def __str__(self) -> str:
        return self.number or str(_l("Draft invoice"))


_invoice, _credit_note = Invoice.__table__, Invoice.__table__.alias("credit_note")
# Cancelled: a credit note names the invoice. Read in the invoice's own SELECT.
Invoice.is_cancelled = column_property(
    select(_credit_note.c.id).where(_credit_note.c.credited_invoice_id == _invoice.c.id).exists()
    | (_invoice.c.status == "cancelled")
)


class LineChecks:
    """What a line of any document (invoice, offer, quote, order) checks as it is set. Left
    empty, the description, unit, price and VAT rate come from the product on flush
    (`fill_from_product`)."""

    @validates("description", "unit")
    def _text(self, key, value):
        return (value or "").strip() or None

    @validates("quantity")
    def _quantity(self, key, value):
        value = to_decimal(key, value)
        if value <= 0:
            raise InvalidValue(key, _l("The quantity must be more than zero."))
        return value

    @validates("vat_rate")
    def _vat(self, key, value):
        return clean_vat_rate(key, value) if value not in (None, "") else None


class InvoiceLine(LineChecks, Model):
    __tablename__ = "invoice_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_invoice_line_quantity"),
        CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_invoice_line_vat"),
        # A line bills at most one open receivable: an order line, a contract's fee for a
        # period, or a quota's units used beyond those bought.
        CheckConstraint(
            "(CASE WHEN order_line_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN contract_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN quota_id IS NULL THEN 0 ELSE 1 END) <= 1",
            name="ck_invoice_line_bills_one",
        ),
        CheckConstraint(
            "(contract_id IS NULL) = (period_start IS NULL)",
            name="ck_invoice_line_contract_period",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False, default=1)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pc")
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, default=27)
    # Invoiced from an order (app/models/quotes.py): the order line this bills, in part or full.
    order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_line.id", ondelete="RESTRICT", name="fk_invoice_line_order_line"),
        index=True,
    )
    # Open receivables it bills (app/services/receivables.py): a contract's fee for the period
    # from `period_start` to `period_end`, or units of a quota used beyond those bought.
    contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("contract.id", ondelete="RESTRICT", name="fk_invoice_line_contract"),
        index=True,
    )
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    quota_id: Mapped[int | None] = mapped_column(
        ForeignKey("quota.id", ondelete="RESTRICT", name="fk_invoice_line_quota"),
        index=True,
    )

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()

    @validates("unit_price")
    def _price(self, key, value):
        return to_decimal(key, value) if value not in (None, "") else None

    @property
    def net(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))

    @property
    def vat(self) -> Decimal:
        return (self.net * self.vat_rate / 100).quantize(Decimal("0.01"))


@event.listens_for(Invoice, "before_update")
def _guard_invoice(mapper, connection, target: Invoice) -> None:
    state = inspect(target)
    hist = state.attrs.status.history
    before = hist.deleted[0] if hist.deleted else target.status
    if before != target.status and target.status not in INVOICE_TRANSITIONS.get(before, set()):
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(before, before))
    if (
        before != target.status
        and connection.execute(
            select(Invoice.id).where(Invoice.credited_invoice_id == target.id).limit(1)
        ).first()
    ):
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS["cancelled"])
    if before != "draft" and any(state.attrs[c].history.has_changes() for c in INVOICE_CONTENT):
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(before, before))


@event.listens_for(Invoice, "before_delete")
def _guard_invoice_delete(mapper, connection, target: Invoice) -> None:
    committed = inspect(target).attrs.status.history
    status = committed.deleted[0] if committed.deleted else target.status
    if status != "draft":
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(status, status))


def _guard_line(mapper, connection, target: InvoiceLine) -> None:
    """A line of an issued invoice is fixed: it is not changed, deleted or moved away, and
    no line is added or moved to an issued invoice."""
    invoices = {target.invoice_id}
    if target.id is not None:  # the invoice the stored line is on now
        invoices.add(
            connection.execute(
                select(InvoiceLine.invoice_id).where(InvoiceLine.id == target.id)
            ).scalar()
        )
    for status in connection.execute(
        select(Invoice.status).where(Invoice.id.in_(invoices - {None}))
    ).scalars():
        if status != "draft":
            raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(status, status))


def fill_from_product(connection, target) -> None:
    """What a priced line (of an invoice, offer, quote or order) leaves empty comes from its
    product: the API, the screens, the lines editor and automatic invoicing make the same
    line."""
    product_id = target.product_id
    if product_id is None and target.product is not None:
        product_id = target.product.id
    product = None
    if product_id is not None and None in (
        target.description,
        target.unit,
        target.unit_price,
        target.vat_rate,
    ):
        product = connection.execute(
            select(Product.name, Product.unit, Product.price, Product.vat_rate).where(
                Product.id == product_id
            )
        ).first()
    if target.description is None and product is not None:
        target.description = product.name
    target.description = required_text("description", target.description, _l("Description"))
    if target.unit is None:
        target.unit = product.unit if product is not None else "pc"
    if target.unit_price is None:
        target.unit_price = product.price if product is not None else Decimal(0)
    if target.vat_rate is None:
        target.vat_rate = product.vat_rate if product is not None else Decimal(27)


def fill_line_from_product(mapper, connection, target) -> None:
    """`fill_from_product` on flush (the event listener of invoice and offer lines)."""
    fill_from_product(connection, target)


for _event in ("before_insert", "before_update", "before_delete"):
    event.listen(InvoiceLine, _event, _guard_line)
for _event in ("before_insert", "before_update"):
    event.listen(InvoiceLine, _event, fill_line_from_product)


class Payment(Model):
    """Money received from a partner, settling an invoice in full or in part."""

    __tablename__ = "payment"
    __audited__ = Audited("payment", _l("Payment"))
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_payment_amount"),
        Index("ix_payment_partner_paid", "partner_id", "paid_on"),
        Index("ix_payment_invoice", "invoice_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"), nullable=False
    )
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    paid_on: Mapped[date] = mapped_column(Date, nullable=False)
    method: Mapped[str | None] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    invoice: Mapped[Invoice | None] = relationship()

    @validates("amount")
    def _amount(self, key, value):
        value = to_decimal(key, value)
        if value <= 0:
            raise InvalidValue(key, _l("A payment must be more than zero."))
        return value


# --- automatic invoicing ------------------------------------------------------------------

RECURRING_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
RUN_STATUS_LABELS = {
    "queued": _l("Waiting to start"),
    "running": _l("Running"),
    "done": _l("Finished"),
    "failed": _l("Stopped"),
}


def add_months(day: date, months: int, anchor: int | None = None) -> date:
    """The same day of the month `months` later (the 31st becomes the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(anchor or day.day, calendar.monthrange(year, month)[1]))


class RecurringInvoice(Model):
    """A partner's automatic invoicing: a template invoice repeated every month, quarter or
    year from `next_date`, delivered by e-mail or by post."""

    __tablename__ = "recurring_invoice"
    __audited__ = Audited("recurring_invoice", _l("Automatic invoicing"))
    __table_args__ = (
        CheckConstraint(
            "frequency IN ('monthly', 'quarterly', 'yearly')", name="ck_recurring_frequency"
        ),
        CheckConstraint("delivery IN ('email', 'post')", name="ck_recurring_delivery"),
        CheckConstraint("anchor_day BETWEEN 1 AND 31", name="ck_recurring_anchor"),
        Index("ix_recurring_due", "active", "next_date"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    template_id: Mapped[int] = mapped_column(
        ForeignKey("invoice.id", ondelete="RESTRICT"), nullable=False
    )
    frequency: Mapped[str] = mapped_column(String(10), nullable=False, default="monthly")
    next_date: Mapped[date] = mapped_column(Date, nullable=False)
    # The day of the month periods start on, so that 31 January, 28 February, 31 March …
    anchor_day: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    delivery: Mapped[str] = mapped_column(String(8), nullable=False, default="email")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    partner: Mapped[Partner] = relationship()
    template: Mapped[Invoice] = relationship(foreign_keys=[template_id])

    @validates("frequency")
    def _frequency(self, key, value):
        return check_choice(key, value, RECURRING_MONTHS)

    @validates("delivery")
    def _delivery(self, key, value):
        return check_choice(key, value, DELIVERY_LABELS)

    @validates("next_date")
    def _next_date(self, key, value):
        if value is None:
            raise InvalidValue(key, _l("%(field)s is required.") % {"field": _l("Next date")})
        return value

    def period_after(self, start: date) -> date:
        return add_months(start, RECURRING_MONTHS[self.frequency], self.anchor_day)

    @property
    def frequency_label(self) -> str:
        return str(PAYMENT_FREQUENCY_LABELS.get(self.frequency, self.frequency))

    @property
    def delivery_label(self) -> str:
        return str(DELIVERY_LABELS.get(self.delivery, self.delivery))


@event.listens_for(RecurringInvoice, "before_insert")
@event.listens_for(RecurringInvoice, "before_update")
def _recurring_template(mapper, connection, target: RecurringInvoice) -> None:
    """The template is an issued invoice of the same partner: the first one is made by hand.
    Checked when it is chosen; a template cancelled later still serves as the pattern."""
    state = inspect(target)
    if state.persistent and not (
        state.attrs.template_id.history.has_changes()
        or state.attrs.partner_id.history.has_changes()
    ):
        return
    row = connection.execute(
        select(
            Invoice.partner_id,
            Invoice.status,
            Invoice.kind,
            Invoice.is_cancelled.label("is_cancelled"),
        ).where(Invoice.id == target.template_id)
    ).first()
    if (
        row is None
        or row.partner_id != target.partner_id
        or row.status == "draft"
        or row.kind != "invoice"
        or row.is_cancelled
    ):
        raise InvalidValue(
            "template", _l("Choose an issued invoice of this partner as the template.")
        )


class InvoiceRun(Model):
    """One start of automatic invoicing: every setting due up to `as_of` gets its invoices;
    a run that stopped half-way is started again and finishes the rest."""

    __tablename__ = "invoice_run"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_invoice_run_status"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    made: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    emailed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    printed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    started_by = relationship("User")
    batches: Mapped[list[InvoicePrintBatch]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="InvoicePrintBatch.position"
    )
    refusals: Mapped[list[InvoiceRunRefusal]] = relationship(
        cascade="all, delete-orphan", order_by="InvoiceRunRefusal.id"
    )

    @property
    def status_label(self) -> str:
        return str(RUN_STATUS_LABELS.get(self.status, self.status))

    @property
    def percent(self) -> int:
        """Invoices made of those due; the print files are the last per cent."""
        if self.status == "done":
            return 100
        return min(99, 100 * self.made // self.total) if self.total else 0


class InvoiceRunRefusal(Model):
    """A partner whose invoice a run did not make because our company lacked seller data
    (`missing`: keys of SELLER_REQUIRED and "bank_account", comma-separated). Its setting
    keeps its next date, so a later run makes the invoice once the data is there."""

    __tablename__ = "invoice_run_refusal"
    __table_args__ = (UniqueConstraint("run_id", "recurring_id", name="uq_invoice_run_refusal"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("invoice_run.id", ondelete="CASCADE"), nullable=False
    )
    recurring_id: Mapped[int] = mapped_column(
        ForeignKey("recurring_invoice.id", ondelete="CASCADE"), nullable=False
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    missing: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    partner: Mapped[Partner] = relationship()

    @property
    def message(self) -> str:
        return str(SellerDataMissing(self.missing.split(","), self.currency))


class InvoicePrintBatch(Model):
    """One PDF of up to INVOICE_PRINT_BATCH invoices of a run, for printing and posting."""

    __tablename__ = "invoice_print_batch"
    __table_args__ = (UniqueConstraint("run_id", "position", name="uq_print_batch_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("invoice_run.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    invoices: Mapped[int] = mapped_column(Integer, nullable=False)
    first_number: Mapped[str] = mapped_column(String(20), nullable=False)
    last_number: Mapped[str] = mapped_column(String(20), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    run: Mapped[InvoiceRun] = relationship(back_populates="batches")

    @property
    def filename(self) -> str:
        return f"invoices-run{self.run_id}-{self.position:03d}.pdf"


# --- contracts and quotas ------------------------------------------------------------------

CONTRACT_STATUS_LABELS = {
    "draft": _l("Draft"),
    "active": _l("Active"),
    "ended": _l("Ended"),
    "cancelled": _l("Cancelled"),
}


class Contract(Model):
    """A contract of a partner (a plan, its price and period), with the quotas it buys.
    With `billing` set, its price is a fee due once or for every month, quarter or year from
    `starts_on` (the open receivables of the current account); left empty, the fee is billed
    some other way (by hand, by automatic invoicing)."""

    __tablename__ = "contract"
    __audited__ = Audited("contract", _l("Contract"))
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'active', 'ended', 'cancelled')", name="ck_contract_status"
        ),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ck_contract_period"),
        CheckConstraint(
            "billing IS NULL OR billing IN ('once', 'monthly', 'quarterly', 'yearly')",
            name="ck_contract_billing",
        ),
        CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_contract_vat"),
        Index("ix_contract_partner_status", "partner_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    plan: Mapped[str | None] = mapped_column(String(120))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="active")
    billing: Mapped[str | None] = mapped_column(String(10))
    vat_rate: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), nullable=False, default=27, server_default="27"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    partner: Mapped[Partner] = relationship()
    quotas: Mapped[list[Quota]] = relationship(
        back_populates="contract", cascade="all, delete-orphan"
    )

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    @validates("status")
    def _status(self, key, value):
        return check_choice(key, value or "active", CONTRACT_STATUS_LABELS)

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @validates("billing")
    def _billing(self, key, value):
        return check_choice(key, value, PAYMENT_FREQUENCY_LABELS) if value else None

    @validates("vat_rate")
    def _vat(self, key, value):
        return clean_vat_rate(key, value if value not in (None, "") else 27)

    def fee_periods(self, today: date, limit: int = 240) -> list[tuple[date, date]]:
        """The periods (first and last day) whose fee is due by `today`: each one that has
        begun, within the contract's term; one period for a one-off fee. Empty when the fee
        is not billed from here, or the contract is a draft or cancelled."""
        if self.billing is None or (self.status or "active") not in ("active", "ended"):
            return []
        if self.billing == "once":
            if self.starts_on > today:
                return []
            return [(self.starts_on, self.ends_on or self.starts_on)]
        months = RECURRING_MONTHS[self.billing]
        periods, start = [], self.starts_on
        while start <= today and (self.ends_on is None or start <= self.ends_on):
            following = add_months(self.starts_on, months * (len(periods) + 1))
            end = following - timedelta(days=1)
            periods.append((start, min(end, self.ends_on) if self.ends_on else end))
            if len(periods) >= limit:
                break
            start = following
        return periods

    @property
    def billing_label(self) -> str:
        return str(PAYMENT_FREQUENCY_LABELS.get(self.billing, "")) if self.billing else ""

    def is_active(self, today: date) -> bool:
        return (
            self.status == "active"
            and self.starts_on <= today
            and (self.ends_on is None or self.ends_on >= today)
        )

    @property
    def status_label(self) -> str:
        return str(CONTRACT_STATUS_LABELS.get(self.status, self.status))

    def __str__(self) -> str:
        return self.name


class Quota(Model):
    """Units bought under a contract (hours, visits, licences …) and how many are used."""

    __tablename__ = "quota"
    __audited__ = Audited("quota", _l("Quota"))
    __table_args__ = (
        CheckConstraint("bought >= 0 AND used >= 0", name="ck_quota_units"),
        # Units beyond those bought may be used where they have a price: the excess is billed.
        CheckConstraint("used <= bought OR overuse_price IS NOT NULL", name="ck_quota_used"),
        CheckConstraint(
            "overuse_price IS NULL OR overuse_price >= 0", name="ck_quota_overuse_price"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contract.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pc")
    bought: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False, default=0)
    used: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False, default=0)
    # The price of a unit used beyond those bought (in the contract's currency); empty: no
    # more may be used than were bought.
    overuse_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))

    contract: Mapped[Contract] = relationship(back_populates="quotas")

    @validates("bought", "used")
    def _units(self, key, value):
        return non_negative(key, value)

    @validates("overuse_price")
    def _overuse_price(self, key, value):
        return non_negative(key, value) if value not in (None, "") else None

    @property
    def left(self) -> Decimal:
        return max((self.bought or 0) - (self.used or 0), Decimal(0))

    @property
    def excess(self) -> Decimal:
        """Units used beyond those bought."""
        return max((self.used or 0) - (self.bought or 0), Decimal(0))

    def audit_partner_ids(self) -> list[int | None]:
        return [self.contract.partner_id if self.contract else None]

    def __str__(self) -> str:
        return self.name


@event.listens_for(Quota, "before_insert")
@event.listens_for(Quota, "before_update")
def _quota_within_bought(mapper, connection, target: Quota) -> None:
    if target.used > target.bought and target.overuse_price is None:
        raise InvalidValue(
            "used",
            _l(
                "More units are used than were bought. Give a price for units beyond those "
                "bought to allow it; the excess is then billed."
            ),
        )
