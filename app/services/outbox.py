"""The outbox: every e-mail is a row first, committed with the change that caused it, and is
sent by a job after the commit; a sweeper re-queues what Redis or SMTP could not take."""

from __future__ import annotations

import json
import logging
import smtplib
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app, has_request_context, url_for
from flask_mail import Message
from sqlalchemy import event, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import db, mail
from app.models import Outbox, utcnow
from app.queue import MAIL_QUEUE, enqueue

log = logging.getLogger(__name__)
BATCH = 50  # mails sent over one SMTP connection by one job
SENDABLE = ("queued", "failed", "unsent")  # what a job may claim


def mail_link(endpoint: str, **values) -> str:
    """A URL for a mail: under PUBLIC_URL when it is set, else on the host of the request
    that caused the mail; a job without either writes the path."""
    base = current_app.config.get("PUBLIC_URL")
    if has_request_context() and not base:
        return url_for(endpoint, _external=True, **values)
    return (base or "").rstrip("/") + current_app.url_map.bind("").build(endpoint, values)


def queue_mail(
    session: Session,
    key: str,
    recipient: str,
    subject: str,
    body: str,
    html: str | None = None,
    check: bool = True,
    attachments: list[tuple[str, str, bytes]] = (),
) -> Outbox | None:
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
    row = Outbox(
        key=key,
        recipient=recipient,
        subject=subject[:250],
        body=body,
        html=html,
        attachments=json.dumps(files) if files else None,
    )
    session.add(row)
    session.info.setdefault("outbox_new", []).append(row)
    return row


def queue_mails(session: Session, mails: list[dict]) -> int:
    """Many mails without attachments in one INSERT (the digest's thousand): each dict has
    key, recipient, subject, body; the caller has left out the keys already in the outbox."""
    if not mails:
        return 0
    now = utcnow()
    ids = session.scalars(
        insert(Outbox).returning(Outbox.id),
        [
            {
                "key": m["key"],
                "recipient": m["recipient"],
                "subject": m["subject"][:250],
                "body": m["body"],
                "html": m.get("html"),
                "status": "queued",
                "attempts": 0,
                "created_at": now,
            }
            for m in mails
        ],
    ).all()
    session.info.setdefault("outbox_new_ids", []).extend(ids)
    return len(ids)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    rows = session.info.pop("outbox_new", [])
    # No SQL after a commit: the ids come from the identity map.
    ids = [inspect(row).identity[0] for row in rows if inspect(row).identity]
    ids += session.info.pop("outbox_new_ids", [])
    if ids:
        _queue_batches(ids)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("outbox_new", None)
    session.info.pop("outbox_new_ids", None)


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
    message = Message(
        subject=row.subject,
        recipients=[row.recipient],
        body=row.body,
        html=row.html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    for item in json.loads(row.attachments or "[]"):
        message.attach(item["name"], item["type"], (attachment_dir() / item["file"]).read_bytes())
    return message


def _failed(row: Outbox, error: Exception) -> None:
    row.status, row.last_error = "failed", f"{type(error).__name__}: {error}"[:2000]
    row.next_attempt_at = utcnow() + backoff(row.attempts)
    log.warning("mail %s failed (%s), retry at %s", row.id, error, row.next_attempt_at)


def send_many(ids: list[int]) -> dict[int, str]:
    """Send outbox rows over one SMTP connection. Each row is claimed just before it is sent,
    so a doubled or swept job never sends a mail twice; a failure is recorded and retried with
    back-off. Once the connection failed (down, silent past MAIL_TIMEOUT, gone) the rest of the
    batch is not tried: it waits for its retry."""
    if not current_app.config.get("MAIL_SERVER"):
        db.session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids), Outbox.status == "queued")
            .values(status="unsent")
        )
        db.session.commit()
        return dict.fromkeys(ids, "unsent")
    outcome: dict[int, tuple[str, datetime | None]] = {}
    lost: Exception | None = None
    with ExitStack() as stack:
        connection = None
        for outbox_id in ids:
            row = _claim(outbox_id)
            if row is None:
                continue
            if lost is not None:
                _failed(row, lost)
            else:
                try:
                    if connection is None:
                        connection = stack.enter_context(mail.connect())
                    connection.send(_message(row))
                except smtplib.SMTPServerDisconnected as error:  # timed out or went away
                    lost = error
                    _failed(row, error)
                except Exception as error:  # refused, or down when connecting
                    if connection is None:
                        lost = error
                    _failed(row, error)
                else:
                    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
            outcome[outbox_id] = row.status, row.next_attempt_at
        db.session.commit()
    results = dict.fromkeys(ids, "skipped")
    for outbox_id, (status, retry_at) in outcome.items():
        results[outbox_id] = status
        if status == "failed":
            _queue_one(outbox_id, delay=retry_at - utcnow())
    return results


def _claim(outbox_id: int) -> Outbox | None:
    """Take one mail for this job (and commit what the job did before): of two jobs given the
    same mail, only one finds it sendable, whatever the timing."""
    row = db.session.scalar(
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.status.in_(SENDABLE))
        .values(
            status="sending",
            sending_started_at=utcnow(),
            attempts=Outbox.attempts + 1,
            next_attempt_at=None,
        )
        .returning(Outbox)
    )
    db.session.commit()
    return row


def stuck_after() -> timedelta:
    """How long after its sending started a mail counts as stuck (its worker died): well above
    what a live job spends on one mail, a few SMTP answers of at most MAIL_TIMEOUT each."""
    return timedelta(seconds=max(600.0, 20 * current_app.config["MAIL_TIMEOUT"]))


def sweep() -> int:
    """Queue what waits: mails that never reached Redis, due retries, mails kept unsent while
    no mail server was configured, and stuck sends. A mail that a live job is sending is left
    to it. Returns how many mails were queued."""
    now = utcnow()
    db.session.execute(
        update(Outbox)
        .where(Outbox.status == "sending", Outbox.sending_started_at <= now - stuck_after())
        .values(status="failed")
    )
    db.session.commit()
    statuses = ["queued", "failed"] + (["unsent"] if current_app.config.get("MAIL_SERVER") else [])
    ids = list(
        db.session.scalars(
            select(Outbox.id)
            .where(
                Outbox.status.in_(statuses),
                or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
            )
            .order_by(Outbox.id)
            .limit(5000)
        )
    )
    return _queue_batches(ids)


def _queue_batches(ids: list[int]) -> int:
    """One send_mails job per BATCH mails, on the mail queue; how many mails were queued."""
    return sum(
        len(ids[first : first + BATCH])
        for first in range(0, len(ids), BATCH)
        if enqueue("app.jobs.mail.send_mails", ids[first : first + BATCH], queue_name=MAIL_QUEUE)
    )


def _queue_one(outbox_id: int, delay: timedelta | None = None) -> None:
    enqueue("app.jobs.mail.send_mail", outbox_id, delay=delay, queue_name=MAIL_QUEUE)


def resend(outbox_id: int) -> None:
    """The admin's "send again": back to the queue, whatever happened before."""
    db.session.execute(
        update(Outbox).where(Outbox.id == outbox_id).values(status="queued", next_attempt_at=None)
    )
    db.session.commit()
    _queue_one(outbox_id)
