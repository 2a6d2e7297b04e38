"""Tasks: the list with its quick filters, the task form with the overlap warning, the
calendar and its ICS feed, the bell, the outbox and the user's own settings."""

from __future__ import annotations

import calendar as month_calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, action, expose, has_access
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_babel import format_date, format_datetime, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from icalendar import Calendar, Event
from markupsafe import Markup
from sqlalchemy import and_, select, union
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields import DateTimeLocalField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.validators import Optional as OptionalValue

from app.errors import TaskOverlaps
from app.extensions import db
from app.models import (
    OUTBOX_STATUS_LABELS,
    PRIORITY_LABELS,
    Outbox,
    Task,
    UserProfile,
    task_collaborator,
    utcnow,
    zone_user_ids,
)
from app.services.outbox import resend
from app.services.tasks import mark_done, save_task
from app.services.users import LOCALES, ics_token, profile, renew_ics_token
from app.views.base import DossierModelView, datamodel
from app.views.fields import PartnerField
from app.views.labels import LABELS
from app.views.partners import label_of


def staff_users():
    from flask_appbuilder.security.sqla.models import User

    return db.session.scalars(
        select(User).where(User.active.is_(True), User.id.not_in(zone_user_ids()))
        .order_by(User.first_name, User.last_name)
    ).all()


def safe_next() -> str | None:
    """Where to go after saving: only a path of this site."""
    target = request.args.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else None


def bell():
    """The overdue tasks of the logged-in user, for the navbar's bell (None: no bell)."""
    from flask import current_app

    from app.services.tasks import overdue_tasks

    user = g.get("user")
    if user is None or not user.is_authenticated:
        return None
    if not current_app.appbuilder.sm.has_access("can_read", "Task"):
        return None
    return overdue_tasks(user.id)


def user_zone() -> ZoneInfo:
    """The time zone screens show times in (the user's, kept in the session at login)."""
    from flask import current_app, session

    try:
        return ZoneInfo(session.get("timezone") or current_app.config["DEFAULT_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_local(moment: datetime | None) -> datetime | None:
    """A stored UTC time as the user's wall-clock time, for form fields."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(user_zone()).replace(tzinfo=None)


def to_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=user_zone()).astimezone(UTC).replace(tzinfo=None)


class TaskForm(FlaskForm):
    title = StringField(_l("Task title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[OptionalValue()])
    partner = PartnerField(_l("Partner"), required=False)
    responsible = SelectField(_l("Responsible"), coerce=int)
    collaborators = SelectMultipleField(_l("Collaborators"), coerce=int)
    starts_at = DateTimeLocalField(_l("Start"), validators=[DataRequired()])
    due_at = DateTimeLocalField(_l("Due"), validators=[DataRequired()])
    priority = SelectField(_l("Priority"), coerce=int, default=2,
                           choices=list(PRIORITY_LABELS.items()))
    done = BooleanField(_l("Done"))
    save_anyway = BooleanField(_l("Save anyway"))

    def fill_choices(self) -> None:
        users = [(u.id, u.get_full_name()) for u in staff_users()]
        self.responsible.choices = users
        self.collaborators.choices = users

    def validate_due_at(self, field):
        if self.starts_at.data and field.data and field.data < self.starts_at.data:
            raise ValidationError(_l("The due time cannot be before the start."))


def tasks_of(user_id: int):
    """Ids of the tasks a user is responsible for or collaborates on: a union of two index
    lookups (an OR across the two would make PostgreSQL scan every task)."""
    return union(
        select(Task.id).where(Task.responsible_id == user_id),
        select(task_collaborator.c.task_id).where(task_collaborator.c.user_id == user_id),
    )


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


class TaskView(DossierModelView):
    datamodel = datamodel(Task)
    route_base = "/tasks"
    class_permission_name = "Task"
    list_title = _l("Tasks")
    show_title = _l("Task")
    label_columns = {**LABELS, "title": _l("Task title"), "responsible": _l("Responsible"),
                     "due_at": _l("Due"), "starts_at": _l("Start"), "priority": _l("Priority"),
                     "done": _l("Done"), "description": _l("Description"),
                     "collaborators": _l("Collaborators"), "state": _l("State")}
    list_template = "tasks/list.html"
    show_template = "tasks/show.html"
    list_columns = ["state", "title", "partner", "responsible", "starts_at", "due_at",
                    "priority"]
    search_columns = ["title", "responsible", "done", "due_at", "priority"]
    show_columns = ["title", "description", "partner", "responsible", "collaborators",
                    "starts_at", "due_at", "priority", "done"]
    order_columns = ["title", "starts_at", "due_at", "priority", "done"]
    base_order = ("due_at", "asc")
    formatters_columns = {
        "starts_at": lambda d: format_datetime(d, "short") if d else "",
        "due_at": lambda d: format_datetime(d, "short") if d else "",
        "priority": label_of(PRIORITY_LABELS),
        "done": lambda v: Markup('<i class="fa fa-check"></i>') if v else "",
        "description": lambda text: text or "",
        "collaborators": lambda users: ", ".join(u.get_full_name() for u in users or []),
        "state": lambda state: Markup('<span class="label label-{}">{}</span>').format(
            {"overdue": "danger", "open": "warning", "done": "default"}[state],
            TASK_STATE_LABELS[state]),
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


class TaskFormView(BaseView):
    """New and edited tasks; an overlap with the responsible's other tasks asks first."""

    route_base = "/task"
    class_permission_name = "Task"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"new": "write", "change": "write", "done": "write",
                              "bell": "read"}

    def _save(self, form: TaskForm, task: Task | None):
        try:
            save_task(task.id if task else None, {
                "title": form.title.data, "description": form.description.data,
                "partner_id": form.partner.data.id if form.partner.data else None,
                "responsible_id": form.responsible.data,
                "collaborator_ids": form.collaborators.data or [],
                "starts_at": to_utc(form.starts_at.data), "due_at": to_utc(form.due_at.data),
                "priority": form.priority.data, "done": form.done.data,
                "note_id": request.args.get("note", type=int)},
                g.user.id, save_anyway=form.save_anyway.data)
        except TaskOverlaps as overlap:
            return overlap.clashes
        flash(gettext("The task was saved."), "success")
        return None

    def _form_page(self, form, task, clashes=()):
        return self.render_template("tasks/form.html", form=form, task=task, clashes=clashes)

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        form = TaskForm()
        form.fill_choices()
        if request.method == "GET":
            form.responsible.data = g.user.id
            start = (datetime.now() + timedelta(hours=1)).replace(minute=0, second=0,
                                                                 microsecond=0)
            form.starts_at.data, form.due_at.data = start, start + timedelta(hours=1)
            form.title.data = request.args.get("title", "")
        elif form.validate():
            clashes = self._save(form, None)
            if not clashes:
                return redirect(safe_next() or url_for("TaskView.list"))
            return self._form_page(form, None, clashes), 409
        return self._form_page(form, None), 400 if request.method == "POST" else 200

    @expose("/<int:task_id>/edit", methods=["GET", "POST"])
    @has_access
    def change(self, task_id: int):
        task = db.get_or_404(Task, task_id)
        form = TaskForm(obj=task) if request.method == "GET" else TaskForm()
        form.fill_choices()
        if request.method == "GET":
            form.responsible.data = task.responsible_id
            form.collaborators.data = [u.id for u in task.collaborators]
            form.starts_at.data, form.due_at.data = to_local(task.starts_at), to_local(task.due_at)
        elif form.validate():
            clashes = self._save(form, task)
            if not clashes:
                return redirect(safe_next() or url_for("TaskView.list"))
            return self._form_page(form, task, clashes), 409
        return self._form_page(form, task), 400 if request.method == "POST" else 200

    @expose("/<int:task_id>/done", methods=["POST"])
    @has_access
    def done(self, task_id: int):
        if not FlaskForm().validate():
            abort(400)
        mark_done(task_id, request.form.get("undo") is None)
        flash(gettext("The task was saved."), "success")
        return redirect(request.referrer or url_for("TaskView.list"))


def tasks_by_day(first: date, days: int, tasks_between) -> dict[date, list]:
    """Tasks of `days` days from `first`, by their local start day (the user's time zone)."""
    zone = user_zone()
    start = datetime.combine(first, time(0), zone).astimezone(UTC).replace(tzinfo=None)
    by_day: dict[date, list] = {}
    for task in tasks_between(start, start + timedelta(days=days)):
        local = task.starts_at.replace(tzinfo=UTC).astimezone(zone)
        by_day.setdefault(local.date(), []).append((local, task))
    return by_day


def month_grid(year: int | None, month: int | None, tasks_between) -> dict:
    """A month's weeks with the tasks of each day, for the staff and the portal calendar."""
    today = date.today()
    year, month = year or today.year, month or today.month
    if not 1 <= month <= 12 or not 1900 < year < 3000:
        abort(404)
    weeks = month_calendar.Calendar().monthdatescalendar(year, month)
    return {"weeks": weeks, "by_day": tasks_by_day(weeks[0][0], len(weeks) * 7, tasks_between),
            "month": month, "title": format_date(date(year, month, 1), "LLLL y"),
            "today": today, "previous": date(year, month, 1) - timedelta(days=1),
            "following": date(year, month, 28) + timedelta(days=7), "now": utcnow()}


class CalendarView(BaseView):
    """Month and week views of the tasks a user is responsible for or works on, and the
    private ICS feed calendar programs subscribe to."""

    route_base = "/calendar"
    class_permission_name = "Task"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"month": "read", "week": "read", "renew_feed": "read"}
    default_view = "month"

    @staticmethod
    def tasks_between(user_id: int, start: datetime, end: datetime) -> list[Task]:
        return list(db.session.scalars(
            select(Task).where(Task.id.in_(tasks_of(user_id)),
                               and_(Task.starts_at < end, Task.due_at >= start))
            .order_by(Task.starts_at).limit(2000)))

    def _by_day(self, first: date, days: int):
        return tasks_by_day(first, days, lambda start, end: self.tasks_between(g.user.id,
                                                                              start, end))

    @expose("/")
    @expose("/<int:year>/<int:month>")
    @has_access
    def month(self, year: int | None = None, month: int | None = None):
        context = month_grid(year, month, lambda start, end: self.tasks_between(
            g.user.id, start, end))
        return self.render_template(
            "tasks/calendar_month.html", **context,
            feed=url_for("CalendarFeedView.feed", token=ics_token(g.user.id), _external=True))

    @expose("/week/<int:year>/<int:week>")
    @expose("/week")
    @has_access
    def week(self, year: int | None = None, week: int | None = None):
        today = date.today()
        if year is None:
            year, week, _ = today.isocalendar()
        try:
            first = date.fromisocalendar(year, week, 1)
        except ValueError:
            abort(404)
        days = [first + timedelta(days=i) for i in range(7)]
        by_day = self._by_day(first, 7)
        return self.render_template(
            "tasks/calendar_week.html", days=days, by_day=by_day, today=today, now=utcnow(),
            previous=(first - timedelta(days=7)).isocalendar(),
            following=(first + timedelta(days=7)).isocalendar())

    @expose("/feed/renew", methods=["POST"])
    @has_access
    def renew_feed(self):
        if not FlaskForm().validate():
            abort(400)
        renew_ics_token(g.user.id)
        flash(gettext("A new calendar link was made; the old one no longer works."), "success")
        return redirect(url_for(".month"))


class CalendarFeedView(BaseView):
    """The ICS feed: no login, the secret token in the URL is the key."""

    route_base = "/calendar/feed"
    default_view = "feed"

    @expose("/<token>.ics")
    def feed(self, token: str):
        found = db.session.scalar(select(UserProfile).where(UserProfile.ics_token == token))
        if found is None or len(token) < 16:
            abort(404)
        since = utcnow() - timedelta(days=90)
        cal = Calendar()
        cal.add("prodid", "-//Dossier//Tasks//EN")
        cal.add("version", "2.0")
        cal.add("x-wr-calname", "Dossier")
        for task in CalendarView.tasks_between(found.user_id, since, since + timedelta(days=455)):
            event = Event()
            event.add("uid", f"task-{task.id}@dossier")
            event.add("summary", task.title)
            event.add("dtstart", task.starts_at.replace(tzinfo=UTC))
            event.add("dtend", task.due_at.replace(tzinfo=UTC))
            event.add("dtstamp", task.updated_at.replace(tzinfo=UTC))
            if task.description:
                event.add("description", task.description)
            event.add("status", "COMPLETED" if task.done else "CONFIRMED")
            cal.add_component(event)
        return Response(cal.to_ical(), mimetype="text/calendar",
                        headers={"Content-Disposition": "inline; filename=dossier.ics"})


class OutboxView(DossierModelView):
    """Every e-mail with its status, attempts and last error; the admin can send again."""

    datamodel = datamodel(Outbox)
    route_base = "/outbox"
    class_permission_name = "Outbox"
    base_permissions = ["can_read", "can_write"]
    list_title = _l("Outbox")
    show_title = _l("E-mail")
    label_columns = {"recipient": _l("Recipient"), "subject": _l("Subject"), "body": _l("Text"),
                     "status": _l("Status"), "attempts": _l("Attempts"),
                     "last_error": _l("Last error"), "created_at": _l("Created"),
                     "sent_at": _l("Sent"), "next_attempt_at": _l("Next attempt")}
    list_columns = ["created_at", "recipient", "subject", "status", "attempts", "last_error",
                    "sent_at"]
    show_columns = ["created_at", "recipient", "subject", "body", "status", "attempts",
                    "last_error", "next_attempt_at", "sent_at"]
    search_columns = ["recipient", "subject", "status", "created_at"]
    base_order = ("created_at", "desc")
    formatters_columns = {
        "status": label_of(OUTBOX_STATUS_LABELS),
        "created_at": lambda d: format_datetime(d, "short") if d else "",
        "sent_at": lambda d: format_datetime(d, "short") if d else "",
    }

    @action("resend", _l("Send again"), _l("Send the selected e-mails again?"), "fa-repeat",
            single=True, multiple=True)
    def resend_action(self, items):
        for item in items if isinstance(items, list) else [items]:
            resend(item.id)
        flash(gettext("The e-mails were queued again."), "success")
        return redirect(request.referrer or url_for(".list"))


class SettingsForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=[
        ("en", "English"), ("hu", "Magyar"), ("pl", "Polski"), ("de", "Deutsch"),
        ("ru", "Русский")])
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    phone = StringField(_l("Phone"), validators=[OptionalValue(), Length(max=40)])
    zone_mail = BooleanField(_l("E-mail me about the zone: changes and comments on shared "
                                "tasks and offers"), default=True)

    def validate_timezone(self, field):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(field.data)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValidationError(_l("Unknown time zone, e.g. Europe/Budapest.")) from error


class SettingsView(BaseView):
    """The user's language (screens and e-mails), time zone and calendar link."""

    route_base = "/settings"
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    def index(self):
        if g.user is None or not g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login_with(request.url))
        p = profile(g.user.id)
        form = SettingsForm(obj=p)
        if request.method == "GET":
            from flask import current_app

            form.locale.data = p.locale or current_app.config["DEFAULT_LOCALE"]
            form.timezone.data = p.timezone or current_app.config["DEFAULT_TIMEZONE"]
        elif form.validate():
            from flask import session

            p.locale, p.timezone = form.locale.data, form.timezone.data
            p.phone, p.zone_mail = form.phone.data, form.zone_mail.data
            db.session.commit()
            session["locale"], session["timezone"] = p.locale, p.timezone
            flash(gettext("Your settings were saved."), "success")
            return redirect(url_for(".index"))
        db.session.commit()
        return self.render_template("tasks/settings.html", form=form, locales=LOCALES)


__all__ = ["TaskView", "TaskFormView", "CalendarView", "CalendarFeedView", "OutboxView",
           "SettingsView"]
