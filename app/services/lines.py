"""The lines of a draft invoice or an offer, one line at a time (the lines editor of their
pages): added, changed and removed through the model, whose rules refuse the lines of an
issued invoice, of a won or lost offer and any change by a zone user; and their totals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.errors import InvalidValue, NotFound
from app.extensions import db
from app.models import Invoice, InvoiceLine, Offer, OfferLine, Product
from app.services import acting_as, fetch, invoicing, take_write_lock

# What a line holds, as the editor sends it (the product by id).
LINE_FIELDS = (
    "product_id",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "discount",
    "vat_rate",
)
TEXT_FIELDS = ("description", "unit")


@dataclass(frozen=True)
class LineKind:
    """Whose lines: the record (`owner`), its line model, the line's link to it, whether its
    lines carry a discount, and the status its lines are edited in."""

    owner: Any
    line: Any
    link: str
    discount: bool
    open_status: str


KINDS = {
    "invoice": LineKind(Invoice, InvoiceLine, "invoice", discount=False, open_status="draft"),
    "offer": LineKind(Offer, OfferLine, "offer", discount=True, open_status="pending"),
}


def owner_of(kind: str, owner_id: int):
    return fetch(KINDS[kind].owner, owner_id)


def lines_of(kind: str, owner_id: int) -> list:
    """The lines in their order, with their products (one query each, whatever the count)."""
    spec = KINDS[kind]
    return list(
        db.session.scalars(
            select(spec.line)
            .where(getattr(spec.line, f"{spec.link}_id") == owner_id)
            .order_by(spec.line.position, spec.line.id)
            .options(selectinload(spec.line.product))
        )
    )


def is_editable(kind: str, owner) -> bool:
    """Whether the lines may still change: a draft invoice, a pending offer (the model says
    the last word)."""
    return owner.status == KINDS[kind].open_status


def add_line(kind: str, owner_id: int, actor_id: int | None, values: dict):
    """A line at the end; what it leaves empty comes from its product."""
    spec = KINDS[kind]
    with acting_as(actor_id):
        owner = _locked_owner(kind, owner_id)
        line = spec.line()
        _assign(kind, line, {"quantity": 1, **values})
        setattr(line, spec.link, owner)
        _store(kind, line, owner.id)
    return line


def change_line(kind: str, owner_id: int, line_id: int, actor_id: int | None, values: dict):
    """Change the given fields of a line; a field left empty is taken from the product."""
    with acting_as(actor_id):
        _locked_owner(kind, owner_id)
        line = _line_of(kind, owner_id, line_id)
        _assign(kind, line, values)
        _store(kind, line, owner_id)
    return line


def remove_line(kind: str, owner_id: int, line_id: int, actor_id: int | None) -> None:
    with acting_as(actor_id):
        _locked_owner(kind, owner_id)
        line = _line_of(kind, owner_id, line_id)
        if kind == "invoice":
            invoicing.line_removed(line)
        db.session.delete(line)
        db.session.flush()


def totals(lines) -> dict:
    """Net, VAT and gross of the lines, and per VAT rate: each line's net and VAT rounded to
    the cent first (PricedLine.net/vat, InvoiceLine.net/vat), then added up."""
    summary: dict[Decimal, list[Decimal]] = {}
    for line in lines:
        row = summary.setdefault(line.vat_rate, [Decimal(0), Decimal(0)])
        row[0] += line.net
        row[1] += line.vat
    net = sum((row[0] for row in summary.values()), Decimal(0))
    vat = sum((row[1] for row in summary.values()), Decimal(0))
    return {
        "net": net,
        "vat": vat,
        "gross": net + vat,
        "summary": [(rate, n, v) for rate, (n, v) in sorted(summary.items())],
    }


def _locked_owner(kind: str, owner_id: int):
    """The invoice or offer, read afresh under the lock its lines change under: two saves on
    one record (or a save and the issuing) wait for each other, so that its totals are the
    sum of all its lines and a line never slips onto an invoice being issued."""
    model = KINDS[kind].owner
    take_write_lock()
    owner = db.session.scalar(
        select(model)
        .where(model.id == owner_id)
        .with_for_update(of=model)
        .execution_options(populate_existing=True)
    )
    if owner is None:
        raise NotFound()
    return owner


def _line_of(kind: str, owner_id: int, line_id: int):
    spec = KINDS[kind]
    line = db.session.get(spec.line, line_id)
    if line is None or getattr(line, f"{spec.link}_id") != owner_id:
        raise NotFound()
    return line


def _assign(kind: str, line, values: dict) -> None:
    """The values on the line (a discount only where lines have one); empty texts are no
    text, so that the product's are taken."""
    product_id = values.get("product_id")
    if product_id is not None and db.session.get(Product, product_id) is None:
        raise InvalidValue("product_id", _l("This choice does not exist or you may not see it."))
    for key in LINE_FIELDS:
        if key not in values or (key == "discount" and not KINDS[kind].discount):
            continue
        value = values[key]
        if key in TEXT_FIELDS:
            value = (value or "").strip() or None
        setattr(line, key, value)


def _store(kind: str, line, owner_id: int) -> None:
    """Through the model's rules; an invoice's totals follow its lines (services/invoicing)."""
    if kind == "invoice":
        invoicing.save_line(line)
        return
    if line.id is None:
        with db.session.no_autoflush:
            line.position = db.session.scalar(
                select(func.coalesce(func.max(OfferLine.position), 0) + 1).where(
                    OfferLine.offer_id == owner_id
                )
            )
    db.session.add(line)
    db.session.flush()
