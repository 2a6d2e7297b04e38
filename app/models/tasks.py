"""Tasks, what Dossier keeps about its users (profiles, failed logins, password resets), and
the outbox of every e-mail."""

from __future__ import annotations

from datetime import date, datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.errors import InvalidValue, ZoneForbidden
from app.models.audit import Audited
from app.models.base import (
    actor_is_zone_user,
    association,
    changed_columns,
    check_choice,
    clean_phone,
    forbid_to_zone_users,
    required_text,
    search_column,
    search_index,
    utcnow,
)
from app.models.partners import Partner

PRIORITY_LABELS = {1: _l("High"), 2: _l("Normal"), 3: _l("Low")}
OUTBOX_STATUS_LABELS = {
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed, will retry"),
    "unsent": _l("Not sent: no mail server"),
}


task_collaborator = association("task_collaborator", "task", "ab_user")


class Task(Model):
    """Something to do by a responsible user, with collaborators, for a partner or not."""

    __tablename__ = "task"
    __audited__ = Audited("task", _l("Task"))
    __table_args__ = (
        CheckConstraint("priority IN (1, 2, 3)", name="ck_task_priority"),
        CheckConstraint("due_at >= starts_at", name="ck_task_times"),
        Index("ix_task_responsible_due", "responsible_id", "done", "due_at"),
        Index("ix_task_partner_due", "partner_id", "due_at"),
        Index("ix_task_open_due", "done", "due_at"),
        Index("ix_task_due", "due_at", "id"),
        search_index("task"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    note_id: Mapped[int | None] = mapped_column(ForeignKey("note.id", ondelete="SET NULL"))
    responsible_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL")
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Staff allow the zone users who perform the task to mark it done in the portal.
    zone_may_complete: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    search_text: Mapped[str] = search_column()
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    partner: Mapped[Partner | None] = relationship(lazy="joined")
    responsible = relationship("User", foreign_keys=[responsible_id], lazy="joined")
    collaborators = relationship("User", secondary=task_collaborator)

    @validates("title")
    def _title(self, key, value):
        return required_text(key, value, _l("Task title"))

    @validates("priority")
    def _priority(self, key, value):
        value = int(value or 2)
        return check_choice(key, value, PRIORITY_LABELS)

    @validates("done")
    def _done(self, key, value):
        self.done_at = utcnow() if value else None
        return bool(value)

    def is_overdue(self, now: datetime | None = None) -> bool:
        return not self.done and self.due_at < (now or utcnow())

    @property
    def state(self) -> str:
        return "done" if self.done else ("overdue" if self.is_overdue() else "open")

    @property
    def priority_label(self) -> str:
        return str(PRIORITY_LABELS.get(self.priority, self.priority))

    def __str__(self) -> str:
        return self.title


@event.listens_for(Task, "before_insert")
@event.listens_for(Task, "before_update")
def _task_times(mapper, connection, target: Task) -> None:
    if target.starts_at and target.due_at and target.due_at < target.starts_at:
        raise InvalidValue("due_at", _l("The due time cannot be before the start."))


ZONE_TASK_FIELDS = {"done", "done_at", "updated_at"}


@event.listens_for(Task, "before_update", propagate=True)
def _zone_users_only_complete(mapper, connection, target: Task) -> None:
    """A zone user changes no task, through any entry point; a performer may mark a task done
    where staff allow it (checked by the portal service)."""
    if actor_is_zone_user() and (
        changed_columns(target) - ZONE_TASK_FIELDS or not target.zone_may_complete
    ):
        raise ZoneForbidden()


event.listen(Task, "before_delete", forbid_to_zone_users, propagate=True)


class UserProfile(Model):
    """What Dossier keeps about a user beyond FAB's account: language, time zone, feeds."""

    __tablename__ = "user_profile"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str | None] = mapped_column(String(64))
    ics_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    digest_sent_on: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(40))
    # E-mails about zone records: a zone user's own tasks and offers, a zone user's comment.
    zone_mail: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Bumped when the user logs out or a password is set: sessions and tokens made under an
    # older generation are no longer accepted.
    session_generation: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )

    @validates("phone")
    def _phone(self, key, value):
        return clean_phone(key, value)

    user = relationship("User")


class SecurityVersion(Model):
    """One row whose random token the database renews on every change to what roles may do
    (triggers on the role-permission, permission-view, permission and view tables, migration
    0024secver01, whatever makes the change: FAB's screens, its CLI or SQL). Each request reads
    it with the user; a process reuses a role set's permissions while it stays the same."""

    __tablename__ = "security_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")


class LoginThrottle(Model):
    """Failed logins per user name or per address: they slow down, then lock, the next tries."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class PasswordReset(Model):
    """A one-time "forgot password" link; only its hash is kept."""

    __tablename__ = "password_reset"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class Outbox(Model):
    """Every e-mail, kept until it is sent; `key` makes queueing the same mail twice a no-op."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'unsent')",
            name="ck_outbox_status",
        ),
        Index("ix_outbox_status", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(250), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    html: Mapped[str | None] = mapped_column(Text)
    # JSON list of {"name", "type", "file"}: the files live under instance/outbox/.
    attachments: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When a job claimed the row: the sweeper takes a mail for stuck only long after this.
    sending_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def status_label(self) -> str:
        return str(OUTBOX_STATUS_LABELS.get(self.status, self.status))
