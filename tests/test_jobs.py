"""The job machinery: the scheduler's entries, the CLI commands, the worker's fork."""

import time
from datetime import date

from rq.job import JobStatus
from sqlalchemy import select

from app.extensions import db
from app.jobs.digest import dispatch_digests
from app.jobs.invoicing import run_invoicing
from app.jobs.mail import send_mails
from app.jobs.schedule import ENTRIES, register
from app.models import Outbox
from app.queue import MAIL_QUEUE, QUEUE_NAME, queue
from app.services import recurring
from tests.conftest import SilentServer
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


def test_mail_hanging_on_a_silent_server_holds_up_no_digest_or_invoicing(app, start_worker):
    silent = SilentServer()
    silent.start()
    try:
        start_worker(MAIL_QUEUE, MAIL_PORT=str(silent.port), MAIL_TIMEOUT="5")
        start_worker(QUEUE_NAME)
        with app.app_context():
            db.session.add(
                Outbox(key="hanging", recipient="staff@example.com", subject="Hello", body="Hello")
            )
            db.session.commit()
            outbox_id = db.session.scalar(select(Outbox.id))
            run_id = recurring.start(None, date.today(), queue_job=False).id
            mail_job = queue(MAIL_QUEUE).enqueue(send_mails, [outbox_id])
            others = [queue().enqueue(dispatch_digests), queue().enqueue(run_invoicing, run_id)]
            deadline = time.monotonic() + 30
            while {job.get_status() for job in others} != {JobStatus.FINISHED}:
                assert time.monotonic() < deadline, [job.get_status() for job in others]
                time.sleep(0.05)
            assert mail_job.get_status() == JobStatus.STARTED  # still waiting on the server
            while mail_job.get_status() != JobStatus.FINISHED:
                assert time.monotonic() < deadline, mail_job.get_status()
                time.sleep(0.05)
            mail_job.refresh()
            assert 5 <= (mail_job.ended_at - mail_job.started_at).total_seconds() < 9
            row = db.session.get(Outbox, outbox_id)
            assert row.status == "failed" and "timed out" in row.last_error
    finally:
        silent.stop()
