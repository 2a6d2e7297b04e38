"""Offers: a partner's sales opportunities, pending when made, then won or lost."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
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
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship, validates

from app.errors import InvalidValue, OfferStatusError
from app.models.audit import Audited
from app.models.base import (
    changed_columns,
    check_choice,
    clean_currency,
    current_actor_id,
    current_actor_roles,
    forbid_to_zone_users,
    non_negative,
    required_text,
    search_column,
    search_index,
    utcnow,
)
from app.models.partners import Partner

OFFER_STATUS_LABELS = {"pending": _l("Pending"), "won": _l("Won"), "lost": _l("Lost")}
PAYMENT_FREQUENCY_LABELS = {
    "once": _l("One-off"),
    "monthly": _l("Monthly"),
    "quarterly": _l("Quarterly"),
    "yearly": _l("Yearly"),
}


class Offer(Model):
    """A sales opportunity of a partner: pending when made, then won or lost."""

    __tablename__ = "offer"
    __audited__ = Audited("offer", _l("Offer"))
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'won', 'lost')", name="ck_offer_status"),
        CheckConstraint(
            "payment_frequency IN ('once', 'monthly', 'quarterly', 'yearly')",
            name="ck_offer_frequency",
        ),
        CheckConstraint("chance IS NULL OR chance BETWEEN 0 AND 100", name="ck_offer_chance"),
        CheckConstraint("amount >= 0", name="ck_offer_amount"),
        Index("ix_offer_partner_status", "partner_id", "status"),
        Index("ix_offer_owner", "owner_id"),
        search_index("offer"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    deadline: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    payment_frequency: Mapped[str] = mapped_column(String(10), nullable=False, default="once")
    status: Mapped[str] = mapped_column(
        String(8), nullable=False, default="pending", active_history=True
    )
    chance: Mapped[int | None] = mapped_column(Integer)
    expected_decision: Mapped[date | None] = mapped_column(Date)
    distributor_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="SET NULL"), index=True
    )
    commission: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    search_text: Mapped[str] = search_column()
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    partner: Mapped[Partner] = relationship(foreign_keys=[partner_id], lazy="joined")
    distributor: Mapped[Partner | None] = relationship(foreign_keys=[distributor_id])
    owner = relationship("User", lazy="joined")

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    @validates("status")
    def _status(self, key, value):
        return check_choice(key, value or "pending", OFFER_STATUS_LABELS)

    @validates("payment_frequency")
    def _frequency(self, key, value):
        return check_choice(key, value or "once", PAYMENT_FREQUENCY_LABELS)

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @validates("amount", "commission")
    def _money(self, key, value):
        return non_negative(key, value, None if key == "commission" else Decimal(0))

    @validates("chance")
    def _chance(self, key, value):
        if value in (None, ""):
            return None
        if not 0 <= int(value) <= 100:
            raise InvalidValue(key, _l("The chance must be between 0 and 100 per cent."))
        return int(value)

    @property
    def status_label(self) -> str:
        return str(OFFER_STATUS_LABELS.get(self.status, self.status))

    def __str__(self) -> str:
        return self.name


@event.listens_for(Offer, "before_insert")
def _new_offer_is_pending(mapper, connection, target: Offer) -> None:
    target.status = "pending"
    if target.owner_id is None:  # no one chosen: the one who makes it
        target.owner_id = current_actor_id()


@event.listens_for(Offer, "before_update")
def _guard_offer_status(mapper, connection, target: Offer) -> None:
    hist = inspect(target).attrs.status.history
    if not hist.deleted or hist.deleted[0] == target.status:
        return
    if target.status == "pending" and not current_actor_roles() & {"Manager", "Admin"}:
        raise OfferStatusError()


def _zone_users_change_no_offer(mapper, connection, target: Offer) -> None:
    """A zone user changes no offer, through any entry point; only their acceptance of its
    quote sets it won (app/models/quotes.py marks the offers it wins in this flush)."""
    session = object_session(target)
    won = session.info.get("offers_won_by_quote", ()) if session is not None else ()
    if target.id in won and changed_columns(target) <= {"status", "updated_at"}:
        return
    forbid_to_zone_users(mapper, connection, target)


event.listen(Offer, "before_update", _zone_users_change_no_offer, propagate=True)
event.listen(Offer, "before_delete", forbid_to_zone_users, propagate=True)
