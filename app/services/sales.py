"""Offers: totals per status and the forecast of expected profit."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from app.extensions import db
from app.models import Offer, Partner


def totals_by_status(partner_id: int) -> dict[str, dict[str, Decimal]]:
    """{status: {currency: sum}} of a partner's offers, for the data sheet's Offers tab."""
    rows = db.session.execute(
        select(Offer.status, Offer.currency, func.sum(Offer.amount), func.count(Offer.id))
        .where(Offer.partner_id == partner_id)
        .group_by(Offer.status, Offer.currency)
    ).all()
    totals: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for status, currency, amount, _count in rows:
        totals[status][currency] = amount or Decimal(0)
    return dict(totals)


def forecast(group: str) -> list[dict]:
    """Expected profit of pending offers (amount × chance − commission), grouped by client,
    distributor or account manager, per currency; largest first."""
    from flask_appbuilder.security.sqla.models import User

    chance = func.coalesce(Offer.chance, 100)
    profit = func.sum(Offer.amount * chance / 100 - func.coalesce(Offer.commission, 0))
    if group == "distributor":
        key, label = Offer.distributor_id, Partner.display_name
        query = select(key, label, Offer.currency, profit, func.count(Offer.id)).outerjoin(
            Partner, Partner.id == Offer.distributor_id
        )
    elif group == "owner":
        key = Offer.owner_id
        label = User.first_name + " " + User.last_name
        query = select(key, label, Offer.currency, profit, func.count(Offer.id)).outerjoin(
            User, User.id == Offer.owner_id
        )
    else:
        key, label = Offer.partner_id, Partner.display_name
        query = select(key, label, Offer.currency, profit, func.count(Offer.id)).join(
            Partner, Partner.id == Offer.partner_id
        )
    rows = db.session.execute(
        query.where(Offer.status == "pending")
        .group_by(key, label, Offer.currency)
        .order_by(profit.desc())
        .limit(200)
    ).all()
    return [
        {"id": r[0], "name": r[1], "currency": r[2], "profit": Decimal(r[3] or 0), "count": r[4]}
        for r in rows
    ]
