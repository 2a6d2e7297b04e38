"""Tasks: the list with its quick filters and the task form with the overlap warning."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_babel import gettext, to_user_timezone, to_utc
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from jinja2.filters import do_truncate
from markupsafe import Markup
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.validators import Optional as OptionalValue

from app.errors import TaskOverlaps
from app.extensions import db
from app.models import PRIORITY_LABELS, Note, Task, utcnow
from app.services.tasks import mark_done, save_task
from app.views.base import DossierModelView, datamodel, safe_next, saved
from app.views.common import (
    ZonePanelShow,
    can,
    label_of,
    short_datetime,
    tasks_of,
    yes_no,
)
from app.views.fields import LocaleDateTimeField, PartnerField, PickerField, current_user
from app.views.labels import LABELS


class TaskForm(FlaskForm):
    title = StringField(_l("Task title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[OptionalValue()])
    partner = PartnerField(_l("Partner"), required=False)
    responsible = PickerField(_l("Responsible"), kind="user", required=True, default=current_user)
    collaborators = PickerField(_l("Collaborators"), kind="user", multiple=True)
    starts_at = LocaleDateTimeField(_l("Start"), validators=[DataRequired()])
    due_at = LocaleDateTimeField(_l("Due"), validators=[DataRequired()])
    priority = SelectField(
        _l("Priority"), coerce=int, default=2, choices=list(PRIORITY_LABELS.items())
    )
    done = BooleanField(_l("Done"))
    save_anyway = BooleanField(_l("Save anyway"))

    def validate_due_at(self, field):
        if self.starts_at.data and field.data and field.data < self.starts_at.data:
            raise ValidationError(_l("The due time cannot be before the start."))


def _quick_filter(query, key: str):
    now = utcnow()
    if key == "mine":
        return query.filter(Task.id.in_(tasks_of(g.user.id)))
    if key == "open":
        return query.filter(Task.done.is_(False))
    if key == "overdue":
        return query.filter(Task.done.is_(False), Task.due_at < now)
    if key == "done":
        return query.filter(Task.done.is_(True))
    return query


TASK_STATE_LABELS = {"open": _l("Open"), "overdue": _l("Overdue"), "done": _l("Done")}


class QuickFilter(BaseFilter):
    """mine / open / overdue / done, as one filter of FAB's list."""

    name = _l("Show")
    arg_name = "quick"

    def apply(self, query, value):
        return _quick_filter(query, value)


class TaskView(ZonePanelShow, DossierModelView):
    datamodel = datamodel(Task)
    zone_record = "task"
    route_base = "/tasks"
    class_permission_name = "Task"
    list_title = _l("Tasks")
    show_title = _l("Task")
    label_columns = {
        **LABELS,
        "title": _l("Task title"),
        "responsible": _l("Responsible"),
        "due_at": _l("Due"),
        "starts_at": _l("Start"),
        "priority": _l("Priority"),
        "done": _l("Done"),
        "description": _l("Description"),
        "collaborators": _l("Collaborators"),
        "state": _l("State"),
    }
    list_template = "tasks/list.html"
    show_template = "tasks/show.html"
    list_columns = ["state", "title", "partner", "responsible", "starts_at", "due_at", "priority"]
    search_columns = ["title", "responsible", "done", "due_at", "priority"]
    show_columns = [
        "title",
        "description",
        "partner",
        "responsible",
        "collaborators",
        "starts_at",
        "due_at",
        "priority",
        "done",
    ]
    order_columns = ["title", "starts_at", "due_at", "priority", "done"]
    base_order = ("due_at", "asc")
    formatters_columns = {
        "starts_at": short_datetime,
        "due_at": short_datetime,
        "priority": label_of(PRIORITY_LABELS),
        "done": yes_no,
        "description": lambda text: text or "",
        "collaborators": lambda users: ", ".join(u.get_full_name() for u in users or []),
        "state": lambda state: Markup('<span class="label label-{}">{}</span>').format(
            {"overdue": "danger", "open": "warning", "done": "default"}[state],
            TASK_STATE_LABELS[state],
        ),
    }

    def _get_list_widget(self, filters, **kwargs):
        quick = request.args.get("quick")
        partner = request.args.get("partner", type=int)
        if quick or partner:
            filters = filters.copy()
            if quick:
                filters.add_filter("id", QuickFilter, quick)
            if partner:
                filters.add_filter("partner_id", _PartnerFilter, partner)
        return super()._get_list_widget(filters=filters, **kwargs)

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        return redirect(url_for("TaskFormView.new", **request.args))

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        return redirect(url_for("TaskFormView.change", task_id=pk))


class _PartnerFilter(BaseFilter):
    name = _l("Partner")
    arg_name = "partner"

    def apply(self, query, value):
        return query.filter(Task.partner_id == value)


def _title_of_note(note_id: int | None) -> str:
    """A task made from a note (the notes tab's link names the note) is titled with the
    beginning of its text, as Jinja's `truncate(80)` cuts it."""
    if note_id is None or not can("read", "Note"):
        return ""
    note = db.session.get(Note, note_id)
    if note is None:
        return ""
    return do_truncate(current_app.jinja_env, note.body or "", 80)


class TaskFormView(BaseView):
    """New and edited tasks; an overlap with the responsible's other tasks asks first."""

    route_base = "/task"
    class_permission_name = "Task"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"new": "write", "change": "write", "done": "write", "bell": "read"}

    def _save(self, form: TaskForm, task: Task | None) -> list | None:
        """None once saved; else the responsible's clashing tasks to ask about, or no
        clashes when a rule refused (its message is on the form)."""
        data = {
            "title": form.title.data,
            "description": form.description.data,
            "partner_id": form.partner.data.id if form.partner.data else None,
            "responsible_id": form.responsible.data.id,
            "collaborator_ids": [user.id for user in form.collaborators.data],
            "starts_at": to_utc(form.starts_at.data),
            "due_at": to_utc(form.due_at.data),
            "priority": form.priority.data,
            "done": form.done.data,
            "note_id": request.args.get("note", type=int),
        }
        try:
            if not saved(
                form,
                save_task,
                task.id if task else None,
                data,
                g.user.id,
                save_anyway=form.save_anyway.data,
            ):
                return []
        except TaskOverlaps as overlap:
            return overlap.clashes
        flash(gettext("The task was saved."), "success")
        return None

    def _form_page(self, form, task, clashes=()):
        back = safe_next() or url_for("TaskView.list")
        return self.render_template(
            "tasks/form.html", form=form, task=task, clashes=clashes, back=back
        )

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        form = TaskForm()
        if request.method == "GET":
            start = (datetime.now() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
            form.starts_at.data, form.due_at.data = start, start + timedelta(hours=1)
            form.title.data = request.args.get("title") or _title_of_note(
                request.args.get("note", type=int)
            )
        elif form.validate():
            clashes = self._save(form, None)
            if clashes is None:
                return redirect(safe_next() or url_for("TaskView.list"))
            return self._form_page(form, None, clashes), 409 if clashes else 400
        return self._form_page(form, None), 400 if request.method == "POST" else 200

    @expose("/<int:task_id>/edit", methods=["GET", "POST"])
    @has_access
    def change(self, task_id: int):
        task = db.get_or_404(Task, task_id)
        form = TaskForm(obj=task) if request.method == "GET" else TaskForm()
        if request.method == "GET":
            form.starts_at.data = to_user_timezone(task.starts_at)
            form.due_at.data = to_user_timezone(task.due_at)
        elif form.validate():
            clashes = self._save(form, task)
            if clashes is None:
                return redirect(safe_next() or url_for("TaskView.list"))
            return self._form_page(form, task, clashes), 409 if clashes else 400
        return self._form_page(form, task), 400 if request.method == "POST" else 200

    @expose("/<int:task_id>/done", methods=["POST"])
    @has_access
    def done(self, task_id: int):
        if not FlaskForm().validate():
            abort(400)
        mark_done(task_id, request.form.get("undo") is None)
        flash(gettext("The task was saved."), "success")
        return redirect(request.referrer or url_for("TaskView.list"))


__all__ = ["TaskView", "TaskFormView"]
