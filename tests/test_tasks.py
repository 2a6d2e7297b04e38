"""Tasks: the form with its overlap warning, the list filters, calendar, ICS feed, bell."""

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from app.extensions import db
from app.models import Outbox, Task, utcnow
from app.services import acting_as
from tests import factories as f
from tests.conftest import user_id

FMT = "%Y-%m-%dT%H:%M"


def make_task(app, responsible="staff", start=None, hours=1, **kw):
    with app.app_context(), acting_as(None):
        start = start or (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        task = Task(
            title=kw.pop("title", "Call back"),
            responsible_id=user_id(app, responsible),
            starts_at=start,
            due_at=start + timedelta(hours=hours),
            **kw,
        )
        db.session.add(task)
        db.session.flush()
        return task.id


def local(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Budapest")).strftime(FMT)


def test_the_task_form_warns_about_an_overlap_and_saves_anyway(app, login, mailbox):
    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    make_task(app, start=start, title="Board meeting", hours=2)
    staff = login("staff")
    data = {
        "title": "Client visit",
        "responsible": user_id(app, "staff"),
        "starts_at": local(start + timedelta(hours=1)),
        "due_at": local(start + timedelta(hours=3)),
        "priority": "2",
    }
    warned = staff.post("/task/new", data=data)
    assert warned.status_code == 409
    assert "Board meeting" in warned.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Task).where(Task.title == "Client visit")) is None
    saved = staff.post("/task/new", data={**data, "save_anyway": "y"})
    assert saved.status_code == 302
    with app.app_context():
        task = db.session.scalar(select(Task).where(Task.title == "Client visit"))
        assert task.starts_at == start + timedelta(hours=1)


def test_bad_task_input_is_refused(app, login, mailbox):
    staff = login("staff")
    start = utcnow() + timedelta(days=1)
    response = staff.post(
        "/task/new",
        data={
            "title": "",
            "responsible": user_id(app, "staff"),
            "starts_at": local(start),
            "due_at": local(start - timedelta(hours=1)),
            "priority": "2",
        },
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "The due time cannot be before the start." in text
    with app.app_context():
        assert db.session.scalar(select(Task.id)) is None


def test_task_from_the_data_sheet_belongs_to_the_partner(app, login, mailbox):
    with app.app_context():
        p = f.company(name="Tisza Zrt.")
        pid, number = p.id, p.customer_number
    staff = login("staff")
    page = staff.get(f"/partner/{pid}/tasks").get_data(as_text=True)
    assert f"/task/new?partner={number}" in page
    start = utcnow() + timedelta(days=3)
    response = staff.post(
        f"/task/new?partner={number}&next=/partner/{pid}/tasks",
        data={
            "title": "Send contract",
            "partner": pid,
            "responsible": user_id(app, "manager"),
            "collaborators": [user_id(app, "staff")],
            "starts_at": local(start),
            "due_at": local(start + timedelta(hours=1)),
            "priority": "1",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/partner/{pid}/tasks"
    )
    tab = staff.get(f"/partner/{pid}/tasks").get_data(as_text=True)
    assert "Send contract" in tab
    sheet = staff.get(f"/partner/{pid}").get_data(as_text=True)
    assert "Send contract" in sheet.split('class="panel panel-default overview"')[1]


def test_next_never_leaves_the_site(app, login, mailbox):
    start = utcnow() + timedelta(days=3)
    response = login("staff").post(
        "/task/new?next=//evil.example/x",
        data={
            "title": "T",
            "responsible": user_id(app, "staff"),
            "starts_at": local(start),
            "due_at": local(start + timedelta(hours=1)),
            "priority": "2",
        },
    )
    assert response.status_code == 302 and "evil" not in response.headers["Location"]


def test_task_list_filters_mine_open_overdue_done(app, login):
    past = utcnow() - timedelta(days=2)
    make_task(app, title="Overdue one", start=past)
    make_task(app, title="Manager task", responsible="manager")
    make_task(app, title="Finished", done=True)
    staff = login("staff")

    def titles(quick):
        html = staff.get(f"/tasks/list/?quick={quick}").get_data(as_text=True)
        table = html.split("table table-bordered table-hover")[1].split("</table>")[0]
        return {t for t in ("Overdue one", "Manager task", "Finished") if t in table}

    assert titles("mine") == {"Overdue one", "Finished"}
    assert titles("open") == {"Overdue one", "Manager task"}
    assert titles("overdue") == {"Overdue one"}
    assert titles("done") == {"Finished"}


def test_calendar_month_week_and_ics_feed(app, login):
    start = (utcnow() + timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
    make_task(app, title="Quarterly review", start=start)
    make_task(app, title="Not mine", responsible="manager", start=start)
    staff = login("staff")
    month = staff.get(f"/calendar/{start.year}/{start.month}").get_data(as_text=True)
    assert "Quarterly review" in month and "Not mine" not in month
    year, week, _ = start.date().isocalendar()
    assert "Quarterly review" in staff.get(f"/calendar/week/{year}/{week}").get_data(as_text=True)
    feed_url = month.split('readonly value="')[1].split('"')[0]
    path = feed_url.split("localhost", 1)[1]
    anonymous = app.test_client()
    ics = anonymous.get(path)
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    events = [c for c in Calendar.from_ical(ics.data).walk("VEVENT")]
    assert [str(e["summary"]) for e in events] == ["Quarterly review"]
    assert events[0].decoded("dtstart") == start.replace(tzinfo=UTC)
    assert anonymous.get("/calendar/feed/not-a-real-token-123.ics").status_code == 404
    staff.post("/calendar/feed/renew")
    assert anonymous.get(path).status_code == 404


def test_the_bell_counts_overdue_tasks_and_clears_when_done(app, login):
    past = utcnow() - timedelta(days=1)
    first = make_task(app, title="Late report", start=past - timedelta(hours=2))
    make_task(app, title="Late invoice", start=past)
    make_task(app, title="Future", start=utcnow() + timedelta(days=1))
    staff = login("staff")
    page = staff.get("/people/list/").get_data(as_text=True)
    bell = page.split('class="dropdown bell"')[1].split("</li>\n")[0]
    assert "bell-count" in bell and ">2<" in bell.replace(" ", "")
    assert "Late report" in page and f"/task/{first}/edit" in page
    assert staff.post(f"/task/{first}/done").status_code == 302
    page = staff.get("/people/list/").get_data(as_text=True)
    assert ">1<" in page.split('class="dropdown bell"')[1].split("</a>")[0].replace(" ", "")
    assert "Late report" not in page


def test_task_api_creates_with_collaborators_and_queues_mails(app, api, mailbox):
    with app.app_context():
        pid = f.person().id
    start = utcnow() + timedelta(days=1)
    created = api("staff").post(
        "/api/v1/task/",
        json={
            "title": "API task",
            "partner": pid,
            "responsible": user_id(app, "manager"),
            "collaborators": [user_id(app, "staff")],
            "priority": 1,
            "starts_at": start.isoformat(),
            "due_at": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert created.status_code == 201, created.get_json()
    with app.app_context():
        recipients = sorted(db.session.scalars(select(Outbox.recipient)))
    assert recipients == ["manager@example.com", "staff@example.com"]
    bad = api("staff").post(
        "/api/v1/task/",
        json={
            "title": "x",
            "starts_at": start.isoformat(),
            "due_at": (start - timedelta(hours=1)).isoformat(),
        },
    )
    assert bad.status_code == 400


def test_task_list_filters_a_partners_tasks_and_marks_their_state(app, login):
    with app.app_context():
        pid = f.company(name="Mátra Bt.").id
    make_task(app, title="For Mátra", partner_id=pid, start=utcnow() - timedelta(days=2))
    make_task(app, title="For nobody")
    staff = login("staff")
    assert f"/tasks/list/?partner={pid}" in staff.get(f"/partner/{pid}/tasks").get_data(
        as_text=True
    )
    html = staff.get(f"/tasks/list/?partner={pid}").get_data(as_text=True)
    table = html.split("table table-bordered table-hover")[1].split("</table>")[0]
    assert "For Mátra" in table and "For nobody" not in table
    assert "label-danger" in table


def test_my_settings_choose_the_language_and_time_zone_of_the_screens(app, login):
    start = datetime(2030, 1, 15, 15, 0)  # 15:00 UTC = 10:00 in New York
    make_task(app, title="Zoned", start=start)
    staff = login("staff")
    saved = staff.post("/settings/", data={"locale": "de", "timezone": "America/New_York"})
    assert saved.status_code == 302
    html = staff.get("/tasks/list/").get_data(as_text=True)
    assert "Aufgabentitel" in html and "15.01.2030 10:00" in html
    bad = staff.post("/settings/", data={"locale": "de", "timezone": "Mars/Olympus"})
    assert "Europe/Budapest" in bad.get_data(as_text=True)
    again = login("staff")  # a new login takes the profile's choices
    assert "Aufgabentitel" in again.get("/tasks/list/").get_data(as_text=True)


def test_no_template_runs_a_query_the_views_hand_them_the_bell_and_zone_panel(app):
    # The query helpers are no longer callable from templates: the navbar's context
    # processor and the task and offer show views compute the data.
    assert not {"bell", "zone_panel", "is_zone_user"} & set(app.jinja_env.globals)


def test_saving_a_task_refuses_an_overlap_unless_saved_anyway_and_queues_its_mails(
    app, ctx, mailbox
):
    from app.errors import InvalidValue, TaskOverlaps
    from app.services.tasks import save_task

    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    make_task(app, start=start, title="Board meeting", hours=2)
    staff, manager = user_id(app, "staff"), user_id(app, "manager")
    fields = {
        "title": "Client visit",
        "responsible_id": staff,
        "collaborator_ids": [manager],
        "starts_at": start + timedelta(hours=1),
        "due_at": start + timedelta(hours=3),
    }
    with pytest.raises(TaskOverlaps) as overlap:
        save_task(None, fields, staff)
    assert [task.title for task in overlap.value.clashes] == ["Board meeting"]
    assert overlap.value.status == 409
    assert db.session.scalar(select(Task).where(Task.title == "Client visit")) is None
    task = save_task(None, fields, staff, save_anyway=True)
    assert sorted(
        db.session.scalars(
            select(Outbox.recipient).where(Outbox.key.like(f"task-assigned:{task.id}:%"))
        )
    ) == ["manager@example.com", "staff@example.com"]
    with pytest.raises(InvalidValue):
        save_task(task.id, {"responsible_id": user_id(app, "client")}, staff, save_anyway=True)
    assert db.session.get(Task, task.id).responsible_id == staff


def test_a_task_made_from_a_note_keeps_the_note_when_it_is_edited(app, login, mailbox):
    with app.app_context():
        partner = f.company(name="Zala Kft.")
        pid, number, note_id = partner.id, partner.customer_number, f.note(partner).id
    staff = login("staff")
    start = utcnow() + timedelta(days=4)
    data = {
        "title": "Call back",
        "partner": pid,
        "responsible": user_id(app, "staff"),
        "starts_at": local(start),
        "due_at": local(start + timedelta(hours=1)),
        "priority": "2",
    }
    assert staff.post(f"/task/new?partner={number}&note={note_id}", data=data).status_code == 302
    with app.app_context():
        task_id = db.session.scalar(select(Task.id))
    assert (
        staff.post(f"/task/{task_id}/edit", data={**data, "title": "Call back again"}).status_code
        == 302
    )
    with app.app_context():
        task = db.session.get(Task, task_id)
        assert (task.title, task.note_id, task.partner.name) == (
            "Call back again",
            note_id,
            "Zala Kft.",
        )


def test_the_task_api_saves_an_overlap_without_asking_and_a_put_keeps_what_it_leaves_out(
    app, api, mailbox
):
    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    make_task(app, start=start, title="Board meeting", hours=2)
    staff = api("staff")
    created = staff.post(
        "/api/v1/task/",
        json={
            "title": "Overlapping",
            "responsible": user_id(app, "staff"),
            "description": "Bring the contract",
            "starts_at": (start + timedelta(hours=1)).isoformat(),
            "due_at": (start + timedelta(hours=3)).isoformat(),
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["result"]["title"] == "Overlapping"
    task_id = created.get_json()["id"]
    changed = staff.put(f"/api/v1/task/{task_id}", json={"priority": 1})
    assert changed.status_code == 200, changed.get_json()
    assert (
        changed.get_json()["result"]["priority"],
        changed.get_json()["result"]["description"],
    ) == (1, "Bring the contract")
    missing = staff.put("/api/v1/task/999999", json={"priority": 1})
    assert missing.status_code == 404
