"""What a user's home page shows of their own work: tasks due today and overdue, birthdays of
their partners, their pending offers, the partners they worked on last and their forecast by
month — each one query, whatever the number of records."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from sqlalchemy import and_, extract, func, or_, select, union, union_all

from app.extensions import db
from app.models import AuditLog, Note, Offer, Partner, Person, Task, task_collaborator

BIRTHDAY_DAYS = 14
LIST_LIMIT = 20
RECENT_LIMIT = 8
FORECAST_MONTHS = 12


def _mine(user_id: int):
    """Ids of the tasks a user is responsible for or collaborates on."""
    return union(
        select(Task.id).where(Task.responsible_id == user_id),
        select(task_collaborator.c.task_id).where(task_collaborator.c.user_id == user_id),
    )


def _utc(local: datetime) -> datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def my_tasks(user_id: int, now: datetime, zone: tzinfo) -> dict[str, list[Task]]:
    """Open tasks of the user: overdue (due before now) and due later today (their day)."""
    local_today = now.replace(tzinfo=UTC).astimezone(zone).date()
    end_of_day = _utc(datetime.combine(local_today + timedelta(days=1), time(0), zone))
    rows = db.session.scalars(
        select(Task)
        .where(Task.id.in_(_mine(user_id)), Task.done.is_(False), Task.due_at < end_of_day)
        .order_by(Task.due_at)
        .limit(2 * LIST_LIMIT)
    ).all()
    overdue = [t for t in rows if t.due_at < now][:LIST_LIMIT]
    today = [t for t in rows if t.due_at >= now][:LIST_LIMIT]
    return {"overdue": overdue, "today": today}


def _days_ahead(today: date, days: int) -> dict[int, set[int]]:
    """Month → days of the month in the next `days` days (a window across a year end too)."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for n in range(days + 1):
        day = today + timedelta(days=n)
        wanted[day.month].add(day.day)
        if day.month == 3 and day.day == 1:
            wanted[2].add(29)  # born on 29 February: celebrated on 1 March in a common year
    return wanted


def upcoming_birthdays(user_id: int, today: date, days: int = BIRTHDAY_DAYS) -> list[tuple]:
    """People owned by the user with a birthday in the next `days` days: (person, in days)."""
    month, day = extract("month", Person.birthday), extract("day", Person.birthday)
    people = db.session.scalars(
        select(Person).where(
            Person.owner_id == user_id,
            Person.birthday.is_not(None),
            or_(*(and_(month == m, day.in_(d)) for m, d in _days_ahead(today, days).items())),
        )
    ).all()
    found = [(p, p.days_to_birthday(today)) for p in people]
    return sorted(
        ((p, n) for p, n in found if n is not None and n <= days),
        key=lambda pair: (pair[1], pair[0].display_name),
    )


def expected_value(offer: Offer) -> Decimal | None:
    """Amount × chance of success; None when no chance is given."""
    if offer.chance is None:
        return None
    return (offer.amount or Decimal(0)) * offer.chance / 100


def pending_offers(user_id: int) -> dict:
    """The user's pending offers (nearest decision first) and, per currency, their amount and
    expected value over all of them."""
    offers = db.session.scalars(
        select(Offer)
        .where(Offer.owner_id == user_id, Offer.status == "pending")
        .order_by(
            func.coalesce(Offer.expected_decision, Offer.deadline).is_(None),
            func.coalesce(Offer.expected_decision, Offer.deadline),
            Offer.id,
        )
        .limit(LIST_LIMIT)
    ).all()
    totals = db.session.execute(
        select(
            Offer.currency,
            func.count(),
            func.sum(Offer.amount),
            func.sum(Offer.amount * func.coalesce(Offer.chance, 0)),
        )
        .where(Offer.owner_id == user_id, Offer.status == "pending")
        .group_by(Offer.currency)
        .order_by(Offer.currency)
    ).all()
    return {
        "rows": [(offer, expected_value(offer)) for offer in offers],
        "totals": [
            {
                "currency": currency,
                "count": count,
                "amount": Decimal(amount or 0),
                "expected": Decimal(weighted or 0) / 100,
            }
            for currency, count, amount, weighted in totals
        ],
    }


def recent_partners(user_id: int, limit: int = RECENT_LIMIT) -> list[tuple[Partner, datetime]]:
    """The partners the user worked on last: their own changes in the change log and their
    notes, newest first."""
    touched = union_all(
        select(AuditLog.partner_id.label("partner_id"), AuditLog.at.label("at")).where(
            AuditLog.user_id == user_id, AuditLog.partner_id.is_not(None)
        ),
        select(Note.partner_id, Note.created_at).where(Note.author_id == user_id),
    ).subquery()
    last = (
        select(touched.c.partner_id, func.max(touched.c.at).label("at"))
        .group_by(touched.c.partner_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Partner, last.c.at)
        .join(last, last.c.partner_id == Partner.id)
        .order_by(last.c.at.desc(), Partner.id)
        .limit(limit)
    ).all()
    return [(partner, at) for partner, at in rows]


def _month(day: date, ahead: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + ahead
    return date(index // 12, index % 12 + 1, 1)


def monthly_forecast(user_id: int, today: date, months: int = FORECAST_MONTHS) -> dict:
    """Expected value (amount × chance) of the user's pending offers by month of the expected
    decision (else the deadline), one series per currency: currencies are never added up.
    A decision already past counts in this month."""
    first = _month(today)
    when = func.coalesce(Offer.expected_decision, Offer.deadline)
    rows = db.session.execute(
        select(
            Offer.currency,
            extract("year", when),
            extract("month", when),
            func.sum(Offer.amount * func.coalesce(Offer.chance, 0)),
        )
        .where(
            Offer.owner_id == user_id,
            Offer.status == "pending",
            when.is_not(None),
            when < _month(today, months),
        )
        .group_by(Offer.currency, extract("year", when), extract("month", when))
    ).all()
    axis = [_month(today, n) for n in range(months)]
    series: dict[str, list[Decimal]] = {}
    for currency, year, month, weighted in rows:
        values = series.setdefault(currency, [Decimal(0)] * months)
        index = max(0, (int(year) * 12 + int(month)) - (first.year * 12 + first.month))
        values[index] += Decimal(weighted or 0) / 100
    return {"months": axis, "series": dict(sorted(series.items()))}
