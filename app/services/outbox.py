"""The outbox: every e-mail is a row first, committed with the change that caused it, and is
sent by a job after the commit; a sweeper re-queues what Redis or SMTP could not take."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import event, inspect, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import db, mail
from app.models import Outbox, utcnow

log = logging.getLogger(__name__)
STUCK_AFTER = timedelta(minutes=10)


def queue_mail(session: Session, key: str, recipient: str, subject: str, body: str,
               html: str | None = None, check: bool = True) -> Outbox | None:
    """Add a mail to the session's transaction; a key already in the outbox is skipped
    (`check=False` when the caller has looked the keys up in bulk)."""
    if check and session.scalar(select(Outbox.id).where(Outbox.key == key)) is not None:
        return None
    row = Outbox(key=key, recipient=recipient, subject=subject[:250], body=body, html=html)
    session.add(row)
    session.info.setdefault("outbox_new", []).append(row)
    return row


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    rows = session.info.pop("outbox_new", [])
    # No SQL after a commit: the ids come from the identity map.
    ids = [inspect(row).identity[0] for row in rows if inspect(row).identity]
    if ids:
        from app.jobs.mail import send_mail
        from app.jobs.queue import enqueue

        for outbox_id in ids:
            enqueue(send_mail, outbox_id)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("outbox_new", None)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def send(outbox_id: int) -> str:
    """Send one outbox row once: claim it, talk to SMTP, record the outcome."""
    if not current_app.config.get("MAIL_SERVER"):
        db.session.execute(update(Outbox).where(Outbox.id == outbox_id,
                                                Outbox.status == "queued")
                           .values(status="unsent"))
        db.session.commit()
        return "unsent"
    claimed = db.session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.status.in_(("queued", "failed", "unsent")))
        .values(status="sending", attempts=Outbox.attempts + 1, next_attempt_at=None)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "skipped"
    row = db.session.get(Outbox, outbox_id)
    try:
        mail.send(Message(subject=row.subject, recipients=[row.recipient], body=row.body,
                          html=row.html, sender=current_app.config["MAIL_DEFAULT_SENDER"]))
    except Exception as error:  # SMTP refused, timed out, or is not there: retry later
        delay = backoff(row.attempts)
        row.status, row.last_error = "failed", f"{type(error).__name__}: {error}"[:2000]
        row.next_attempt_at = utcnow() + delay
        db.session.commit()
        log.warning("mail %s failed (%s), retry in %s", outbox_id, error, delay)
        from app.jobs.mail import send_mail
        from app.jobs.queue import enqueue

        enqueue(send_mail, outbox_id, delay=delay)
        return "failed"
    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
    db.session.commit()
    return "sent"


def due_for_sending() -> list[int]:
    """What the sweeper re-queues: never queued (Redis was down), due retries, stuck sends,
    and mails kept unsent while no mail server was configured."""
    now = utcnow()
    statuses = ["queued", "failed"] + (["unsent"] if current_app.config.get("MAIL_SERVER") else [])
    return list(db.session.scalars(
        select(Outbox.id).where(or_(
            Outbox.status.in_(statuses) & or_(Outbox.next_attempt_at.is_(None),
                                              Outbox.next_attempt_at <= now),
            (Outbox.status == "sending") & (Outbox.created_at <= now - STUCK_AFTER),
        )).order_by(Outbox.id).limit(5000)
    ))


def resend(outbox_id: int) -> None:
    """The admin's "send again": back to the queue, whatever happened before."""
    db.session.execute(update(Outbox).where(Outbox.id == outbox_id)
                       .values(status="queued", next_attempt_at=None))
    db.session.commit()
    from app.jobs.mail import send_mail
    from app.jobs.queue import enqueue

    enqueue(send_mail, outbox_id)
