"""The morning digest: at DIGEST_TIME in each user's time zone, one mail listing the open
tasks due that day; `digest_sent_on` and the outbox key make it once per user and day."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.formatting import clock_text, date_text
from app.models import Outbox, Task, utcnow
from app.services.outbox import queue_mail
from app.services.tasks import render_mail
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
    for chunk in range(0, len(ids), 500):
        by_user: dict[int, list[Task]] = defaultdict(list)
        for task in db.session.scalars(
            select(Task)
            .where(Task.responsible_id.in_(ids[chunk : chunk + 500]), *in_window)
            .order_by(Task.due_at)
        ):
            by_user[task.responsible_id].append(task)
        for user_id, tasks in by_user.items():
            p, day, start = due[user_id]
            today = [t for t in tasks if start <= t.due_at < start + timedelta(days=1)]
            if today:
                planned.append((user_id, p, day, today))
    keys = {f"digest:{uid}:{day.isoformat()}": (uid, p, day, ts) for uid, p, day, ts in planned}
    known = set(db.session.scalars(select(Outbox.key).where(Outbox.key.in_(list(keys)))))
    sent = 0
    for key, (user_id, p, day, tasks) in keys.items():
        user = tasks[0].responsible
        (p or profile(user_id)).digest_sent_on = day
        if key in known or not (user.active and user.email):
            continue
        locale, zone = locale_of(p), zone_of(p)
        times = {t.id: clock_text(t.due_at, locale=locale, zone=zone) for t in tasks}
        subject, body = render_mail(
            "digest",
            locale,
            user=user,
            tasks=tasks,
            times=times,
            day=date_text(day, "full", locale=locale),
        )
        queue_mail(db.session, key, user.email, subject, body, check=False)
        sent += 1
    db.session.commit()
    return sent
