"""E-mail through the outbox, with a real Redis, real rq workers and a real SMTP server."""

import time
from datetime import datetime, timedelta

import pytest
from flask_babel import force_locale, gettext
from freezegun import freeze_time
from rq import Worker
from sqlalchemy import func, select

from app.extensions import db
from app.jobs.mail import send_mail, sweep_outbox
from app.models import Outbox, Task, utcnow
from app.queue import MAIL_QUEUE, queue
from app.services import acting_as
from app.services.digest import dispatch_digests
from app.services.outbox import queue_mail, stuck_after
from app.services.tasks import notify_overdue
from app.services.users import profile
from tests.conftest import Mailbox, SilentServer, run_jobs, user_id
from tests.test_tasks import local


def set_profile(app, username, locale, timezone="Europe/Budapest"):
    with app.app_context():
        p = profile(user_id(app, username))
        p.locale, p.timezone = locale, timezone
        db.session.commit()


def translated(app, locale, text, **params):
    with app.test_request_context(), force_locale(locale):
        return gettext(text, **params)


def new_task_form(app, responsible="manager", collaborators=("staff",), title="Prepare offer"):
    start = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return {
        "title": title,
        "responsible": user_id(app, responsible),
        "collaborators": [user_id(app, c) for c in collaborators],
        "starts_at": local(start),
        "due_at": local(start + timedelta(hours=1)),
        "priority": "2",
        "save_anyway": "y",
    }


def test_assignment_mails_reach_each_person_in_their_language(app, login, mailbox):
    set_profile(app, "manager", "hu")
    set_profile(app, "staff", "de")
    assert login("admin").post("/task/new", data=new_task_form(app)).status_code == 302
    run_jobs(app, fork=True)
    hu, de = mailbox.to("manager@example.com"), mailbox.to("staff@example.com")
    assert len(hu) == 1 and len(de) == 1
    assert hu[0]["Subject"] == translated(app, "hu", "New task: %(title)s", title="Prepare offer")
    assert de[0]["Subject"] == translated(app, "de", "New task: %(title)s", title="Prepare offer")
    assert hu[0]["Subject"] != de[0]["Subject"]
    assert (
        translated(app, "de", "you were added to a task as a collaborator.") in de[0].get_content()
    )
    with app.app_context():
        assert {o.status for o in db.session.scalars(select(Outbox))} == {"sent"}


def test_editing_a_task_mails_only_new_people(app, login, mailbox):
    admin = login("admin")
    admin.post("/task/new", data=new_task_form(app, collaborators=()))
    with app.app_context():
        tid = db.session.scalar(select(Task.id))
    admin.post(f"/task/{tid}/edit", data=new_task_form(app, collaborators=("staff", "finance")))
    run_jobs(app)
    assert [len(mailbox.to(u)) for u in ("manager@", "staff@", "finance@")] == [1, 1, 1]


def test_smtp_down_then_up_the_mail_arrives_once(app, login, mailbox):
    mailbox.stop()
    login("admin").post("/task/new", data=new_task_form(app, collaborators=()))
    run_jobs(app)
    with app.app_context():
        row = db.session.scalar(select(Outbox))
        assert (row.status, row.attempts) == ("failed", 1) and row.last_error
        retry_at, oid = row.next_attempt_at, row.id
    mailbox.start()
    with app.app_context():
        with freeze_time(retry_at - timedelta(seconds=5)):
            assert sweep_outbox() == 0
        with freeze_time(retry_at + timedelta(seconds=1)):
            assert sweep_outbox() == 1
    run_jobs(app)
    with app.app_context():
        assert send_mail(oid) == "skipped"
        assert db.session.get(Outbox, oid).status == "sent"
    assert len(mailbox.to("manager@example.com")) == 1


def test_redis_down_while_saving_a_task_keeps_the_task_and_mails_later(
    app, login, mailbox, redis_server
):
    admin = login("admin")
    redis_server.stop()
    try:
        response = admin.post("/task/new", data=new_task_form(app, collaborators=()))
        assert response.status_code == 302
        with app.app_context():
            assert db.session.scalar(select(Task.title)) == "Prepare offer"
            assert db.session.scalar(select(Outbox.status)) == "queued"
    finally:
        redis_server.start()
    with app.app_context():
        assert sweep_outbox() == 1
    run_jobs(app)
    assert len(mailbox.to("manager@example.com")) == 1


def test_without_a_mail_server_mail_stays_in_the_outbox_for_the_admin(
    app, login, mailbox, monkeypatch
):
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    login("admin").post("/task/new", data=new_task_form(app, collaborators=()))
    run_jobs(app)
    with app.app_context():
        row = db.session.scalar(select(Outbox))
        assert row.status == "unsent"
        oid = row.id
    admin = login("admin")
    listing = admin.get("/outbox/list/").get_data(as_text=True)
    assert "manager@example.com" in listing and "no mail server" in listing
    assert login("staff").get("/outbox/list/").status_code == 403
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    admin.post("/outbox/action_post", data={"action": "resend", "rowid": [oid]})
    run_jobs(app)
    assert len(mailbox.to("manager@example.com")) == 1


def _digest_fixture(app):
    set_profile(app, "staff", "de", "Europe/Budapest")
    set_profile(app, "manager", "en", "America/New_York")
    with app.app_context(), acting_as(None):

        def task(username, title, due):
            db.session.add(
                Task(
                    title=title,
                    responsible_id=user_id(app, username),
                    starts_at=due - timedelta(hours=1),
                    due_at=due,
                )
            )

        task("staff", "Call Müller", datetime(2030, 6, 3, 8, 0))  # 10:00 in Budapest
        task("staff", "Send offer", datetime(2030, 6, 3, 15, 0))  # 17:00 in Budapest
        task("staff", "Tomorrow's job", datetime(2030, 6, 4, 9, 0))
        task("manager", "NY review", datetime(2030, 6, 3, 20, 0))  # 16:00 in New York
        task("manager", "Done already", datetime(2030, 6, 3, 18, 0))
        db.session.flush()
        db.session.scalar(select(Task).where(Task.title == "Done already")).done = True
    with app.app_context():
        db.session.execute(Outbox.__table__.delete())
        db.session.commit()


def test_digest_at_digest_time_in_each_users_time_zone_once_a_day(app, mailbox):
    _digest_fixture(app)
    with app.app_context():
        with freeze_time("2030-06-03 05:15:00"):  # 07:15 Budapest, 01:15 New York
            assert dispatch_digests() == 0
        with freeze_time("2030-06-03 05:45:00"):  # 07:45 Budapest
            assert dispatch_digests() == 1
        with freeze_time("2030-06-03 07:00:00"):  # a second run the same morning
            assert dispatch_digests() == 0
        with freeze_time("2030-06-03 11:20:00"):  # 07:20 New York
            assert dispatch_digests() == 0
        with freeze_time("2030-06-03 11:35:00"):  # 07:35 New York
            assert dispatch_digests() == 1
    run_jobs(app)
    staff, manager = mailbox.to("staff@example.com"), mailbox.to("manager@example.com")
    assert len(staff) == 1 and len(manager) == 1
    body = staff[0].get_content()
    assert "Call Müller" in body and "Send offer" in body and "Tomorrow's job" not in body
    assert "10:00" in body and "17:00" in body
    assert (
        "NY review" in manager[0].get_content() and "Done already" not in manager[0].get_content()
    )
    assert "- 16:00  NY review" in manager[0].get_content()  # British English: 24-hour clock


def test_a_retried_digest_job_sends_nothing_twice(app, mailbox):
    _digest_fixture(app)
    with app.app_context():
        with freeze_time("2030-06-03 12:00:00"):
            assert dispatch_digests() == 2
        ids = list(db.session.scalars(select(Outbox.id)))
        from app.models import UserProfile

        db.session.execute(UserProfile.__table__.update().values(digest_sent_on=None))
        db.session.commit()
        with freeze_time("2030-06-03 12:05:00"):  # the guard column lost: the key still holds
            assert dispatch_digests() == 0
    run_jobs(app)
    with app.app_context():
        for oid in ids:
            assert send_mail(oid) == "skipped"
    assert len(mailbox.messages) == 2


def overdue_task_without_mail(app) -> None:
    """A task of the staff user, due yesterday, with nothing in the outbox yet."""
    with app.app_context(), acting_as(None):
        db.session.add(
            Task(
                title="Late",
                responsible_id=user_id(app, "staff"),
                starts_at=utcnow() - timedelta(days=2),
                due_at=utcnow() - timedelta(days=1),
            )
        )
    with app.app_context():
        db.session.execute(Outbox.__table__.delete())
        db.session.commit()


def test_overdue_tasks_are_mailed_once(app, mailbox):
    overdue_task_without_mail(app)
    with app.app_context():
        assert notify_overdue() == 1
        assert notify_overdue() == 0
    run_jobs(app)
    assert len(mailbox.to("staff@example.com")) == 1


def test_the_mails_of_one_change_share_one_smtp_connection(app, login, mailbox):
    data = new_task_form(app, collaborators=("staff", "finance", "readonly", "admin"))
    login("admin").post("/task/new", data=data)
    run_jobs(app)
    assert len(mailbox.messages) == 5
    assert mailbox.connections == 1


def queue_mails(app, count: int) -> list[int]:
    """`count` mails to person0@, person1@ … queued in one commit, so sent by one job."""
    with app.app_context():
        rows = [
            queue_mail(db.session, f"test-{n}", f"person{n}@example.com", f"Mail {n}", "Hello")
            for n in range(count)
        ]
        db.session.commit()
        return [row.id for row in rows]


@pytest.mark.parametrize("hang", ["before the greeting", "after DATA"])
def test_a_hanging_smtp_server_costs_one_timeout_and_the_mails_wait_as_failed(
    app, mailbox, monkeypatch, hang
):
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 1)
    hanging = SilentServer() if hang == "before the greeting" else Mailbox(delay=60)
    hanging.start()
    try:
        monkeypatch.setattr(app.extensions["mail"], "port", hanging.port)
        ids = queue_mails(app, 4)
        started = time.monotonic()
        run_jobs(app)
        elapsed = time.monotonic() - started
    finally:
        hanging.stop()
    assert 1 <= elapsed < 3, elapsed
    with app.app_context():
        rows = db.session.scalars(select(Outbox).order_by(Outbox.id)).all()
        assert [row.id for row in rows] == ids
        for row in rows:
            assert (row.status, row.attempts) == ("failed", 1)
            assert "timed out" in row.last_error and row.next_attempt_at > utcnow()
        # Each waits for its retry on the mail queue.
        assert queue(MAIL_QUEUE).scheduled_job_registry.count == 4


def test_the_sweeper_leaves_a_mail_being_sent_and_takes_back_one_whose_sending_stopped(
    app, mailbox
):
    with app.app_context():
        now, created = utcnow(), utcnow() - timedelta(days=1)
        for name, started in (
            ("live", now - timedelta(minutes=1)),
            ("dead", now - stuck_after() - timedelta(minutes=1)),
        ):
            db.session.add(
                Outbox(
                    key=name,
                    recipient=f"{name}@example.com",
                    subject=name,
                    body="Hello",
                    status="sending",
                    attempts=1,
                    created_at=created,
                    sending_started_at=started,
                )
            )
        db.session.commit()
        assert sweep_outbox() == 1
        assert dict(db.session.execute(select(Outbox.key, Outbox.status)).all()) == {
            "live": "sending",
            "dead": "failed",
        }
    run_jobs(app)
    assert len(mailbox.to("dead@example.com")) == 1 and not mailbox.to("live@example.com")
    with app.app_context():
        assert dict(db.session.execute(select(Outbox.key, Outbox.status)).all()) == {
            "live": "sending",
            "dead": "sent",
        }


def test_two_workers_and_the_sweeper_send_each_mail_once_through_a_slow_server(app, start_worker):
    slow = Mailbox(delay=0.5)
    slow.start()
    try:
        with app.app_context():
            # Mails that waited an hour for Redis: created long before their sending starts.
            for n in range(8):
                db.session.add(
                    Outbox(
                        key=f"late-{n}",
                        recipient=f"person{n}@example.com",
                        subject=f"Mail {n}",
                        body="Hello",
                        created_at=utcnow() - timedelta(hours=1),
                    )
                )
            db.session.commit()
        for _ in range(2):
            start_worker(MAIL_QUEUE, MAIL_PORT=str(slow.port))
        deadline = time.monotonic() + 90
        with app.app_context():
            while time.monotonic() < deadline:
                sweep_outbox()
                waiting = db.session.scalar(
                    select(func.count(Outbox.id)).where(Outbox.status != "sent")
                )
                db.session.rollback()
                if not waiting:
                    break
                time.sleep(0.2)
            assert set(db.session.scalars(select(Outbox.attempts))) == {1}
            workers = Worker.all(connection=queue(MAIL_QUEUE).connection)
            assert sorted(w.successful_job_count > 0 for w in workers) == [True, True]
    finally:
        slow.stop()
    assert sorted(m["To"] for m in slow.messages) == [f"person{n}@example.com" for n in range(8)]


def test_the_digest_of_many_users_is_a_handful_of_statements_in_each_users_language(
    app, mailbox, queries
):
    """Thirty users in five languages, three tasks each: the statements do not grow with the
    users (the outbox rows go in one INSERT), and each mail speaks its reader's language."""
    languages = ["en", "hu", "pl", "de", "ru"]
    with app.app_context(), acting_as(None):
        sm = app.appbuilder.sm
        for n in range(30):
            user = sm.add_user(
                f"tmp-digest-{n}",
                f"Name{n}",
                "Digest",
                f"digest-{n}-@example.com",
                sm.find_role("Staff"),
                password="digest-pw-123",
            )
            p = profile(user.id)
            p.locale, p.timezone = languages[n % 5], "Europe/Warsaw"
            for hour in (8, 11, 14):
                db.session.add(
                    Task(
                        title=f"Task {n}-{hour}",
                        responsible_id=user.id,
                        starts_at=datetime(2030, 6, 3, hour - 1, 0),
                        due_at=datetime(2030, 6, 3, hour, 0),
                    )
                )
        db.session.commit()
        db.session.execute(Outbox.__table__.delete())  # the assignment mails are not the point
        db.session.commit()
        with freeze_time("2030-06-03 06:00:00"), queries() as counted:  # 08:00 in Warsaw
            assert dispatch_digests() == 30
    assert counted.count <= 10, counted.statements
    run_jobs(app)
    for n in range(30):
        received = mailbox.to(f"digest-{n}-@example.com")
        assert len(received) == 1, [m["Subject"] for m in received]
        message = received[0]
        locale = languages[n % 5]
        subject = translated(app, locale, "Your tasks for %(date)s", date="\x00")
        assert all(part.strip() in message["Subject"] for part in subject.split("\x00"))
        body = message.get_content()
        assert f"Task {n}-8" in body and f"Task {n}-14" in body
        assert "10:00" in body and "16:00" in body  # 08:00 and 14:00 UTC, in Warsaw
