"""The job machinery: the scheduler's entries, the CLI commands, the worker's fork."""

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.jobs.queue import queue
from app.jobs.schedule import ENTRIES, register
from app.models import Outbox, Task, utcnow
from app.services import acting_as
from tests.conftest import user_id


def test_scheduler_entries_are_registered_once_whatever_the_restarts(app, mailbox):
    with app.app_context():
        connection = queue().connection
        for _ in range(3):
            scheduler = register(connection)
        ids = sorted(job.id for job in scheduler.get_jobs())
    assert ids == sorted(entry_id for entry_id, _, _ in ENTRIES)


def test_worker_and_job_commands(app, mailbox):
    with app.app_context(), acting_as(None):
        db.session.add(Task(title="Late", responsible_id=user_id(app, "staff"),
                            starts_at=utcnow() - timedelta(days=2),
                            due_at=utcnow() - timedelta(days=1)))
    with app.app_context():
        db.session.execute(Outbox.__table__.delete())
        db.session.commit()
    runner = app.test_cli_runner()
    assert "1 overdue tasks noted." in runner.invoke(args=["dossier", "overdue"]).output
    assert "0 digests queued." in runner.invoke(args=["dossier", "digest"]).output
    result = runner.invoke(args=["dossier", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert len(mailbox.to("staff@example.com")) == 1
    with app.app_context():
        assert db.session.scalar(select(Outbox.status)) == "sent"
    assert "0 mails queued." in runner.invoke(args=["dossier", "sweep"]).output
