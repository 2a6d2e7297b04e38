"""Tasks: saving one (the form's and the API's one way), the conflict check, and the mails a
task causes, queued in the task's own transaction whatever saves it (screen, data sheet,
REST API, job or shell)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import current_app, has_app_context
from flask_babel import force_locale
from sqlalchemy import bindparam, event, func, inspect, select
from sqlalchemy.orm import Session

from app.errors import TaskOverlaps
from app.extensions import db
from app.formatting import datetime_text
from app.models import Partner, Task, utcnow
from app.services import acting_as, fetch
from app.services.outbox import queue_mail
from app.services.users import locale_of, profiles, zone_of


def conflicting_tasks(
    responsible_id: int | None,
    starts_at: datetime,
    due_at: datetime,
    exclude_id: int | None = None,
    limit: int = 5,
) -> list[Task]:
    """Open tasks of the same responsible that overlap [starts_at, due_at]."""
    if not responsible_id or not starts_at or not due_at:
        return []
    query = select(Task).where(
        Task.responsible_id == responsible_id,
        Task.done.is_(False),
        Task.starts_at < due_at,
        Task.due_at > starts_at,
    )
    if exclude_id:
        query = query.where(Task.id != exclude_id)
    return list(db.session.scalars(query.order_by(Task.starts_at).limit(limit)))


TASK_FIELDS = {
    "title",
    "description",
    "partner_id",
    "responsible_id",
    "collaborator_ids",
    "starts_at",
    "due_at",
    "priority",
    "done",
    "note_id",
}


def save_task(
    task_id: int | None, fields: dict, actor_id: int | None, *, save_anyway: bool = False
) -> Task:
    """Make (`task_id` None) or change a task from `fields` (of TASK_FIELDS; times in UTC).
    An overlap with the responsible's other open tasks is refused with TaskOverlaps unless
    saved anyway; a task keeps the note it was made from. The mails to a new responsible and
    new collaborators go with the commit (see _collect_assignments); the model refuses zone
    users and a due time before the start."""
    unknown = fields.keys() - TASK_FIELDS
    if unknown:
        raise TypeError(f"not fields of a task: {sorted(unknown)}")
    task = Task() if task_id is None else fetch(Task, task_id)
    if task_id is None and not fields.get("responsible_id"):
        fields = {**fields, "responsible_id": actor_id}  # no one chosen: the one who makes it
    if not save_anyway:
        clashes = conflicting_tasks(
            fields.get("responsible_id", task.responsible_id),
            fields.get("starts_at", task.starts_at),
            fields.get("due_at", task.due_at),
            exclude_id=task_id,
        )
        if clashes:
            raise TaskOverlaps(clashes)
    values = dict(fields)
    with acting_as(actor_id):
        if "partner_id" in values:
            partner_id = values.pop("partner_id")
            task.partner = fetch(Partner, partner_id) if partner_id else None
        if "collaborator_ids" in values:
            from flask_appbuilder.security.sqla.models import User

            task.collaborators = list(
                db.session.scalars(
                    select(User).where(User.id.in_(values.pop("collaborator_ids") or []))
                )
            )
        note_id = values.pop("note_id", None)
        task.note_id = task.note_id or note_id
        for key, value in values.items():
            setattr(task, key, value)
        db.session.add(task)
    return task


def local_time(moment: datetime, zone, locale: str) -> str:
    """A moment as the recipient reads it: their locale's format, their time zone."""
    return datetime_text(moment, locale=locale, zone=zone)


@contextmanager
def mail_renderer(template: str, locale: str) -> Iterator[Callable[..., tuple[str, str]]]:
    """A function that renders many mails of one template in one language: the language and
    the template are set up once (the digest renders a thousand)."""
    with force_locale(locale):
        compiled = current_app.jinja_env.get_template(f"mail/{template}.txt")

        def render(**context) -> tuple[str, str]:
            lines = compiled.render(context).splitlines()
            return lines[0].strip(), "\n".join(lines[2:]).strip() + "\n"

        yield render


def render_mail(template: str, locale: str, **context) -> tuple[str, str]:
    """Subject and body of a mail in the recipient's language."""
    with mail_renderer(template, locale) as render:
        return render(**context)


def recipients(task: Task) -> list:
    people = [task.responsible] + list(task.collaborators)
    seen, result = set(), []
    for user in people:
        if user is not None and user.id not in seen and user.active and user.email:
            seen.add(user.id)
            result.append(user)
    return result


def queue_assignment_mails(session: Session, task: Task) -> None:
    users = recipients(task)
    prefs = profiles(u.id for u in users)
    for user in users:
        p = prefs.get(user.id)
        locale, zone = locale_of(p), zone_of(p)
        subject, body = render_mail(
            "task_assigned",
            locale,
            task=task,
            user=user,
            is_responsible=user.id == task.responsible_id,
            starts=local_time(task.starts_at, zone, locale),
            due=local_time(task.due_at, zone, locale),
        )
        queue_mail(session, f"task-assigned:{task.id}:{user.id}", user.email, subject, body)


def _assignment_changed(task: Task) -> bool:
    state = inspect(task)
    return (
        state.attrs.responsible_id.history.has_changes()
        or state.attrs.collaborators.history.has_changes()
    )


@event.listens_for(Session, "after_flush")
def _collect_assignments(session: Session, flush_context) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Task) and (obj in session.new or _assignment_changed(obj)):
            session.info.setdefault("tasks_to_mail", set()).add(obj.id)


@event.listens_for(Session, "after_flush_postexec")
def _queue_assignments(session: Session, flush_context) -> None:
    ids = session.info.pop("tasks_to_mail", None)
    if not ids or not has_app_context():
        return
    for task_id in sorted(ids):
        task = session.get(Task, task_id)
        if task is not None and not task.done:
            # A screen that sets responsible_id leaves the loaded responsible the old one.
            session.expire(task, ["responsible"])
            queue_assignment_mails(session, task)


_OVERDUE: dict[int, object] = {}


def _overdue_statement(limit: int):
    """The bell's select, built once per limit: it runs on every page. Only what the bell shows
    (id, title, due time), not whole tasks: loading Task entities cost twice the query."""
    if limit not in _OVERDUE:
        _OVERDUE[limit] = (
            select(Task.id, Task.title, Task.due_at, func.count().over().label("total"))
            .where(
                Task.responsible_id == bindparam("user_id"),
                Task.done.is_(False),
                Task.due_at < bindparam("now"),
            )
            .order_by(Task.due_at)
            .limit(limit)
        )
    return _OVERDUE[limit]


def overdue_tasks(user_id: int, limit: int = 10) -> tuple[int, list]:
    """The bell: how many open tasks of the user are overdue, and the oldest few (rows with
    the task's id, title and due_at)."""
    rows = db.session.execute(
        _overdue_statement(limit), {"user_id": user_id, "now": utcnow()}
    ).all()
    return (rows[0].total if rows else 0), rows


def notify_overdue(now: datetime | None = None, batch: int = 2000) -> int:
    """Mail the responsible of each newly overdue task once (guarded by notified_at)."""
    now = now or utcnow()
    tasks = list(
        db.session.scalars(
            select(Task)
            .where(
                Task.done.is_(False),
                Task.due_at < now,
                Task.notified_at.is_(None),
                Task.responsible_id.is_not(None),
            )
            .order_by(Task.due_at)
            .limit(batch)
        )
    )
    prefs = profiles(t.responsible_id for t in tasks)
    for task in tasks:
        user = task.responsible
        task.notified_at = now
        if not (user and user.active and user.email):
            continue
        p = prefs.get(user.id)
        locale, zone = locale_of(p), zone_of(p)
        subject, body = render_mail(
            "task_overdue", locale, task=task, user=user, due=local_time(task.due_at, zone, locale)
        )
        queue_mail(db.session, f"task-overdue:{task.id}", user.email, subject, body)
    db.session.commit()
    return len(tasks)


def mark_done(task_id: int, done: bool = True) -> Task:
    task = fetch(Task, task_id)
    task.done = done
    db.session.commit()
    return task


__all__ = ["save_task", "conflicting_tasks", "overdue_tasks", "notify_overdue", "mark_done"]
