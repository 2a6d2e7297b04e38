"""The calendar: month and week views of a user's tasks and the private ICS feed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Response, abort, flash, g, redirect, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from flask_wtf import FlaskForm
from icalendar import Calendar, Event
from sqlalchemy import and_, select

from app.extensions import db
from app.models import Task, UserProfile, utcnow
from app.services.users import ics_token, renew_ics_token
from app.views.common import month_grid, tasks_by_day, tasks_of


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
        return list(
            db.session.scalars(
                select(Task)
                .where(
                    Task.id.in_(tasks_of(user_id)), and_(Task.starts_at < end, Task.due_at >= start)
                )
                .order_by(Task.starts_at)
                .limit(2000)
            )
        )

    def _by_day(self, first: date, days: int):
        return tasks_by_day(
            first, days, lambda start, end: self.tasks_between(g.user.id, start, end)
        )

    @expose("/")
    @expose("/<int:year>/<int:month>")
    @has_access
    def month(self, year: int | None = None, month: int | None = None):
        context = month_grid(
            year, month, lambda start, end: self.tasks_between(g.user.id, start, end)
        )
        return self.render_template(
            "tasks/calendar_month.html",
            **context,
            feed=url_for("CalendarFeedView.feed", token=ics_token(g.user.id), _external=True),
        )

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
            "tasks/calendar_week.html",
            days=days,
            by_day=by_day,
            today=today,
            now=utcnow(),
            previous=(first - timedelta(days=7)).isocalendar(),
            following=(first + timedelta(days=7)).isocalendar(),
        )

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
        return Response(
            cal.to_ical(),
            mimetype="text/calendar",
            headers={"Content-Disposition": "inline; filename=dossier.ics"},
        )


__all__ = ["CalendarView", "CalendarFeedView"]
