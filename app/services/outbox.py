"""The outbox: every e-mail is a row first, committed with the change that caused it, and is
sent by a job after the commit; a sweeper re-queues what Redis or SMTP could not take."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask_mail import Message
from sqlalchemy import event, inspect, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import db, mail
from app.models import Outbox, utcnow

log = logging.getLogger(__name__)
STUCK_AFTER = timedelta(minutes=10)
BATCH = 50  # mails sent over one SMTP connection by one job


def queue_mail(session: Session, key: str, recipient: str, subject: str, body: str,
               html: str | None = None, check: bool = True,
               attachments: list[tuple[str, str, bytes]] = ()) -> Outbox | None:
    """Add a mail to the session's transaction; a key already in the outbox is skipped
    (`check=False` when the caller has looked the keys up in bulk). Attachments are
    (file name, content type, bytes), kept as files beside the outbox (a resend needs them)."""
    if check and session.scalar(select(Outbox.id).where(Outbox.key == key)) is not None:
        return None
    files = []
    for name, content_type, content in attachments:
        stored = attachment_dir() / uuid.uuid4().hex
        stored.write_bytes(content)
        files.append({"name": name, "type": content_type, "file": stored.name})
    row = Outbox(key=key, recipient=recipient, subject=subject[:250], body=body, html=html,
                 attachments=json.dumps(files) if files else None)
    session.add(row)
    session.info.setdefault("outbox_new", []).append(row)
    return row


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    rows = session.info.pop("outbox_new", [])
    # No SQL after a commit: the ids come from the identity map.
    ids = [inspect(row).identity[0] for row in rows if inspect(row).identity]
    if ids:
        from app.jobs.mail import send_mails
        from app.jobs.queue import enqueue

        for first in range(0, len(ids), BATCH):
            enqueue(send_mails, ids[first:first + BATCH])


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("outbox_new", None)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def send(outbox_id: int) -> str:
    """Send one outbox row once (see send_many)."""
    return send_many([outbox_id]).get(outbox_id, "skipped")


def attachment_dir() -> Path:
    path = Path(current_app.config["INSTANCE_DIR"]) / "outbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _message(row: Outbox) -> Message:
    message = Message(subject=row.subject, recipients=[row.recipient], body=row.body,
                      html=row.html, sender=current_app.config["MAIL_DEFAULT_SENDER"])
    for item in json.loads(row.attachments or "[]"):
        message.attach(item["name"], item["type"],
                       (attachment_dir() / item["file"]).read_bytes())
    return message


def _failed(row: Outbox, error: Exception) -> None:
    row.status, row.last_error = "failed", f"{type(error).__name__}: {error}"[:2000]
    row.next_attempt_at = utcnow() + backoff(row.attempts)
    log.warning("mail %s failed (%s), retry at %s", row.id, error, row.next_attempt_at)


def send_many(ids: list[int]) -> dict[int, str]:
    """Send outbox rows over one SMTP connection. Each row is claimed first, so a retried or
    doubled job never sends a mail twice; a failure is recorded and retried with back-off."""
    if not current_app.config.get("MAIL_SERVER"):
        db.session.execute(update(Outbox).where(Outbox.id.in_(ids), Outbox.status == "queued")
                           .values(status="unsent"))
        db.session.commit()
        return dict.fromkeys(ids, "unsent")
    claimed = list(db.session.scalars(
        update(Outbox)
        .where(Outbox.id.in_(ids), Outbox.status.in_(("queued", "failed", "unsent")))
        .values(status="sending", attempts=Outbox.attempts + 1, next_attempt_at=None)
        .returning(Outbox.id)))
    db.session.commit()
    rows = list(db.session.scalars(select(Outbox).where(Outbox.id.in_(claimed))
                                   .order_by(Outbox.id)))
    results = dict.fromkeys(ids, "skipped")
    try:
        with mail.connect() as connection:
            for row in rows:
                try:
                    connection.send(_message(row))
                except Exception as error:  # this recipient or message was refused
                    _failed(row, error)
                else:
                    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
    except Exception as error:  # SMTP is down or went away: what is not sent waits
        for row in rows:
            if row.status == "sending":
                _failed(row, error)
    db.session.commit()
    from app.jobs.mail import send_mail
    from app.jobs.queue import enqueue

    for row in rows:
        results[row.id] = row.status
        if row.status == "failed":
            enqueue(send_mail, row.id, delay=row.next_attempt_at - utcnow())
    return results


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
