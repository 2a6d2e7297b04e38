"""The job machinery: the scheduler's entries, the CLI commands, the worker's fork."""


from sqlalchemy import select

from app.extensions import db
from app.jobs.queue import queue
from app.jobs.schedule import ENTRIES, register
from app.models import Outbox
from tests.test_mail import overdue_task_without_mail


def test_scheduler_entries_are_registered_once_whatever_the_restarts(app, mailbox):
    with app.app_context():
        connection = queue().connection
        for _ in range(3):
            scheduler = register(connection)
        ids = sorted(job.id for job in scheduler.get_jobs())
    assert ids == sorted(entry_id for entry_id, _, _ in ENTRIES)


def test_worker_and_job_commands(app, mailbox):
    overdue_task_without_mail(app)
    runner = app.test_cli_runner()
    assert "1 overdue tasks noted." in runner.invoke(args=["dossier", "overdue"]).output
    assert "0 digests queued." in runner.invoke(args=["dossier", "digest"]).output
    result = runner.invoke(args=["dossier", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert len(mailbox.to("staff@example.com")) == 1
    with app.app_context():
        assert db.session.scalar(select(Outbox.status)) == "sent"
    assert "0 mails queued." in runner.invoke(args=["dossier", "sweep"]).output
