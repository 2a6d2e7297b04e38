"""The morning digest: at DIGEST_TIME in each user's time zone, one mail listing the open
tasks due that day; `digest_sent_on` and the outbox key make it once per user and day."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select

from app.extensions import db
from app.formatting import clock_text, date_text
from app.models import Outbox, Partner, Task, utcnow
from app.services.outbox import queue_mails
from app.services.tasks import mail_renderer
from app.services.users import locale_of, profile, profiles, zone_of

# Users live between UTC-12 and UTC+14: any task due "today" somewhere is within this window.
WINDOW = timedelta(hours=38)


def digest_time() -> time:
    hours, minutes = current_app.config["DIGEST_TIME"].split(":")
    return time(int(hours), int(minutes))


def dispatch_digests(now: datetime | None = None) -> int:
    """Queue the digest of every user whose local time has passed DIGEST_TIME today."""
    now = now or utcnow()
    at = digest_time()
    in_window = (Task.done.is_(False), Task.due_at >= now - WINDOW, Task.due_at < now + WINDOW)
    # First who is due (a small query and the profiles), then only their tasks: a run with
    # nothing left to send stays cheap, and it runs every few minutes.
    candidates = list(
        db.session.scalars(
            select(Task.responsible_id)
            .where(Task.responsible_id.is_not(None), *in_window)
            .distinct()
        )
    )
    prefs = profiles(candidates)
    due: dict[int, tuple] = {}
    for user_id in candidates:
        p = prefs.get(user_id)
        zone = zone_of(p)
        local_now = now.replace(tzinfo=UTC).astimezone(zone)
        if local_now.time() < at or (p is not None and p.digest_sent_on == local_now.date()):
            continue
        start = datetime.combine(local_now.date(), time(0), zone).astimezone(UTC)
        due[user_id] = (p, local_now.date(), start.replace(tzinfo=None))
    planned = []
    ids = list(due)
    # Plain rows, not entities: a thousand users' twenty tasks each are read and formatted,
    # nothing else is needed of them.
    for chunk in range(0, len(ids), 500):
        by_user: dict[int, list] = defaultdict(list)
        for row in db.session.execute(
            select(
                Task.id,
                Task.title,
                Task.due_at,
                Task.responsible_id,
                Partner.display_name.label("partner"),
                User.first_name,
                User.email,
                User.active,
            )
            .join(User, User.id == Task.responsible_id)
            .outerjoin(Partner, Partner.id == Task.partner_id)
            .where(Task.responsible_id.in_(ids[chunk : chunk + 500]), *in_window)
            .order_by(Task.due_at)
        ):
            by_user[row.responsible_id].append(row)
        for user_id, tasks in by_user.items():
            p, day, start = due[user_id]
            today = [t for t in tasks if start <= t.due_at < start + timedelta(days=1)]
            if today:
                planned.append((user_id, p, day, today))
    keys = {f"digest:{uid}:{day.isoformat()}": (uid, p, day, ts) for uid, p, day, ts in planned}
    known = set(db.session.scalars(select(Outbox.key).where(Outbox.key.in_(list(keys)))))
    by_locale: dict[str, list] = defaultdict(list)
    for key, (user_id, p, day, tasks) in keys.items():
        (p or profile(user_id)).digest_sent_on = day
        user = tasks[0]
        if key not in known and user.active and user.email:
            by_locale[locale_of(p)].append((key, user, p, day, tasks))
    mails = []
    # One language set-up per language, not per user: a thousand digests are a thousand
    # template renderings and nothing more.
    for locale, planned_here in by_locale.items():
        clocks: dict[tuple, str] = {}  # the same due time in the same zone reads the same
        with mail_renderer("digest", locale) as render:
            for key, user, p, day, tasks in planned_here:
                zone = zone_of(p)
                times = {}
                for t in tasks:
                    text = clocks.get((t.due_at, zone))
                    if text is None:
                        text = clocks[t.due_at, zone] = clock_text(
                            t.due_at, locale=locale, zone=zone
                        )
                    times[t.id] = text
                subject, body = render(
                    user=user, tasks=tasks, times=times, day=date_text(day, "full", locale=locale)
                )
                mails.append(
                    {"key": key, "recipient": user.email, "subject": subject, "body": body}
                )
    sent = queue_mails(db.session, mails)
    db.session.commit()
    return sent
