"""Open receivables of a partner — delivered order lines not yet invoiced, contract fees due
for periods not yet invoiced, quota units used beyond those bought and not yet invoiced — and
one draft invoice made of the chosen ones.

What counts as invoiced: the lines that name the order line, the contract and period, or the
quota (`InvoiceLine.order_line_id`, `contract_id` + `period_start`, `quota_id`) on every
invoice that is not cancelled — drafts included, so that an item being invoiced is not
offered twice; deleting the draft, or cancelling the invoice with a credit note (whose lines
name nothing), makes the item open again. Making the draft takes the partner's lock (and the
orders' rows) before it reads what is open, so two clicks at once never bill an item twice:
the second finds it billed and is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.errors import Conflict, InvalidValue
from app.extensions import db
from app.formatting import date_text, number_text
from app.models import UNIT_LABELS, Contract, Invoice, InvoiceLine, Order, OrderLine, Partner, Quota
from app.services import acting_as, fetch, take_write_lock
from app.services.invoicing import new_draft, save_line
from app.services.orders import invoiced_quantities

CENT = Decimal("0.01")
KIND_LABELS = {
    "order_line": _l("Delivered order"),
    "contract": _l("Contract fee"),
    "quota": _l("Quota overuse"),
}


@dataclass
class Receivable:
    """One open item: `key` names it in forms and the API (`order_line:12`,
    `contract:5:2026-03-01`, `quota:7`)."""

    key: str
    kind: str
    source: str  # the order's number, the contract's or the quota's name
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: Decimal
    currency: str
    since: date | None
    product_id: int | None = None
    order_line_id: int | None = None
    contract_id: int | None = None
    period_start: date | None = None
    period_end: date | None = None
    quota_id: int | None = None

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS[self.kind])

    @property
    def unit_label(self) -> str:
        return str(UNIT_LABELS.get(self.unit, self.unit))

    @property
    def net(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT)

    @property
    def gross(self) -> Decimal:
        return self.net + (self.net * self.vat_rate / 100).quantize(CENT)

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "source": self.source,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "vat_rate": str(self.vat_rate),
            "net": str(self.net),
            "currency": self.currency,
            "since": self.since.isoformat() if self.since else None,
        }


def billing_lines():
    """Invoice lines that bill something: on invoices that are not cancelled (drafts too)."""
    return (
        select(InvoiceLine)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(~Invoice.is_cancelled)
    )


def _order_lines(partner_id: int) -> list[Receivable]:
    lines = list(
        db.session.scalars(
            select(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.partner_id == partner_id, Order.status == "delivered")
            .options(joinedload(OrderLine.order))
            .order_by(Order.order_date, Order.id, OrderLine.position, OrderLine.id)
        )
    )
    invoiced = invoiced_quantities(line.id for line in lines)
    found = []
    for line in lines:
        remaining = line.quantity - invoiced.get(line.id, Decimal(0))
        if remaining <= 0:
            continue
        discount = line.discount or Decimal(0)
        found.append(
            Receivable(
                key=f"order_line:{line.id}",
                kind="order_line",
                source=line.order.number,
                description=line.description,
                quantity=remaining,
                unit=line.unit,
                unit_price=(line.unit_price * (100 - discount) / 100).quantize(CENT),
                vat_rate=line.vat_rate,
                currency=line.order.currency,
                since=line.order.order_date,
                product_id=line.product_id,
                order_line_id=line.id,
            )
        )
    return found


def _contract_fees(partner_id: int, today: date) -> list[Receivable]:
    contracts = list(
        db.session.scalars(
            select(Contract)
            .where(
                Contract.partner_id == partner_id,
                Contract.billing.is_not(None),
                Contract.status.in_(("active", "ended")),
                Contract.starts_on <= today,
            )
            .order_by(Contract.starts_on, Contract.id)
        )
    )
    if not contracts:
        return []
    billed = set(
        db.session.execute(
            billing_lines()
            .with_only_columns(InvoiceLine.contract_id, InvoiceLine.period_start)
            .where(InvoiceLine.contract_id.in_([c.id for c in contracts]))
        ).all()
    )
    found = []
    for contract in contracts:
        for start, end in contract.fee_periods(today):
            if (contract.id, start) in billed:
                continue
            found.append(
                Receivable(
                    key=f"contract:{contract.id}:{start.isoformat()}",
                    kind="contract",
                    source=contract.name,
                    description=gettext(
                        "%(contract)s: fee for %(start)s – %(end)s",
                        contract=contract.name,
                        start=date_text(start),
                        end=date_text(end),
                    ),
                    quantity=Decimal(1),
                    unit="pc",
                    unit_price=contract.price,
                    vat_rate=contract.vat_rate,
                    currency=contract.currency,
                    since=start,
                    contract_id=contract.id,
                    period_start=start,
                    period_end=end,
                )
            )
    return found


def _quota_overuse(partner_id: int) -> list[Receivable]:
    quotas = list(
        db.session.scalars(
            select(Quota)
            .join(Contract, Contract.id == Quota.contract_id)
            .where(
                Contract.partner_id == partner_id,
                Quota.overuse_price.is_not(None),
                Quota.used > Quota.bought,
            )
            .options(joinedload(Quota.contract))
            .order_by(Quota.id)
        )
    )
    if not quotas:
        return []
    billed = dict(
        db.session.execute(
            billing_lines()
            .with_only_columns(InvoiceLine.quota_id, func.sum(InvoiceLine.quantity))
            .where(InvoiceLine.quota_id.in_([q.id for q in quotas]))
            .group_by(InvoiceLine.quota_id)
        ).all()
    )
    found = []
    for quota in quotas:
        due = quota.excess - Decimal(billed.get(quota.id) or 0)
        if due <= 0:
            continue
        found.append(
            Receivable(
                key=f"quota:{quota.id}",
                kind="quota",
                source=f"{quota.contract.name} · {quota.name}",
                description=gettext(
                    "%(quota)s: used beyond the %(bought)s bought",
                    quota=quota.name,
                    bought=number_text(quota.bought),
                ),
                quantity=due,
                unit=quota.unit,
                unit_price=quota.overuse_price,
                vat_rate=quota.contract.vat_rate,
                currency=quota.contract.currency,
                since=None,
                quota_id=quota.id,
            )
        )
    return found


def open_receivables(partner_id: int, today: date | None = None) -> list[Receivable]:
    """What the partner owes and is not invoiced yet, in the current locale's words."""
    today = today or date.today()
    return _order_lines(partner_id) + _contract_fees(partner_id, today) + _quota_overuse(partner_id)


def drafts_billing(partner_id: int) -> list[tuple[int, int]]:
    """The partner's draft invoices that bill open receivables (their ids), with how many
    items each: those items are not offered again until the draft is deleted."""
    return [
        (invoice_id, count)
        for invoice_id, count in db.session.execute(
            select(Invoice.id, func.count(InvoiceLine.id))
            .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
            .where(
                Invoice.partner_id == partner_id,
                Invoice.status == "draft",
                (InvoiceLine.order_line_id.is_not(None))
                | (InvoiceLine.contract_id.is_not(None))
                | (InvoiceLine.quota_id.is_not(None)),
            )
            .group_by(Invoice.id)
            .order_by(Invoice.id)
        )
    ]


def _lock(partner_id: int, keys: list[str]) -> None:
    """The partner's row (and the rows of the orders whose lines are chosen, which the order
    screens invoice under) before anything open is read."""
    take_write_lock()
    db.session.execute(select(Partner.id).where(Partner.id == partner_id).with_for_update())
    line_ids = [int(key.split(":")[1]) for key in keys if key.startswith("order_line:")]
    if line_ids:
        db.session.execute(
            select(Order.id)
            .where(Order.id.in_(select(OrderLine.order_id).where(OrderLine.id.in_(line_ids))))
            .order_by(Order.id)
            .with_for_update()
        ).all()


def _check_keys(keys) -> list[str]:
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise InvalidValue("items", _l("Not a valid list."))
    keys = list(dict.fromkeys(keys))
    if not keys:
        raise InvalidValue("items", _l("Choose at least one item to invoice."))
    for key in keys:
        kind, _, rest = key.partition(":")
        parts = rest.split(":")
        if kind not in KIND_LABELS or not (parts[0].isascii() and parts[0].isdigit()):
            raise InvalidValue("items", _l("%(value)s is not a valid choice.") % {"value": key})
    return keys


def invoice_receivables(
    partner_id: int, actor_id: int | None, keys, today: date | None = None
) -> Invoice:
    """One draft invoice of the chosen open items (their keys), each line naming what it
    bills. Refused, with nothing made, when an item is no longer open (another user billed
    it meanwhile) or when the items are in more than one currency."""
    keys = _check_keys(keys)
    with acting_as(actor_id):
        partner = fetch(Partner, partner_id)
        _lock(partner_id, keys)
        language = partner.language or current_app.config["DEFAULT_LOCALE"]
        with force_locale(language):
            items = {item.key: item for item in open_receivables(partner_id, today)}
        missing = [key for key in keys if key not in items]
        if missing:
            raise Conflict(
                _l(
                    "Some of the chosen items are no longer open: they were invoiced meanwhile "
                    "or changed. Look at the list again and choose once more."
                )
            )
        chosen = [items[key] for key in keys]
        currencies = sorted({item.currency for item in chosen})
        if len(currencies) > 1:
            raise InvalidValue(
                "items",
                _l(
                    "The chosen items are in different currencies (%(currencies)s). An invoice "
                    "has one currency: make one invoice per currency."
                )
                % {"currencies": ", ".join(currencies)},
            )
        invoice = new_draft(partner_id, actor_id, currency=currencies[0])
        for item in chosen:
            save_line(
                InvoiceLine(
                    invoice=invoice,
                    product_id=item.product_id,
                    description=item.description,
                    quantity=item.quantity,
                    unit=item.unit,
                    unit_price=item.unit_price,
                    vat_rate=item.vat_rate,
                    order_line_id=item.order_line_id,
                    contract_id=item.contract_id,
                    period_start=item.period_start,
                    period_end=item.period_end,
                    quota_id=item.quota_id,
                )
            )
    return invoice


__all__ = [
    "Receivable",
    "open_receivables",
    "invoice_receivables",
    "drafts_billing",
]
