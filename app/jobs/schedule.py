"""The periodic entries, behind one small module so that rq-scheduler can later give way to
rq's own `rq cron`. Entries have fixed ids: registering them again replaces, never doubles.
Cron strings follow the scheduler's clock, so the digest runs every few minutes and each
user's own DIGEST_TIME is decided in the database (app/services/digest.py)."""

from __future__ import annotations

import logging
import warnings
from contextlib import suppress

import rq_scheduler
from flask import current_app
from redis.exceptions import RedisError
from rq import Queue

from app.jobs.backup import nightly_backup
from app.jobs.digest import check_overdue, dispatch_digests
from app.jobs.files import sweep_files
from app.jobs.invoicing import restart_stalled_runs
from app.jobs.mail import sweep_outbox
from app.queue import QUEUE_NAME

# rq-scheduler's crontab dependency announces a future change of default on every tick.
warnings.filterwarnings("ignore", category=FutureWarning, module="rq_scheduler")

ENTRIES = [
    ("dossier-digest", "*/5 * * * *", dispatch_digests),
    ("dossier-overdue", "*/10 * * * *", check_overdue),
    ("dossier-sweep", "* * * * *", sweep_outbox),
    ("dossier-invoice-runs", "* * * * *", restart_stalled_runs),
    ("dossier-files", "17 * * * *", sweep_files),
]
# Only where BACKUP_DIR is set; 03:15 UTC. Copying a large document store takes longer than
# a job's default three minutes.
BACKUP_ENTRY = ("dossier-backup", "15 3 * * *", nightly_backup)
TIMEOUTS = {"dossier-backup": 6 * 3600}


log = logging.getLogger("dossier.jobs")


class Scheduler(rq_scheduler.Scheduler):
    """rq-scheduler that catches up after Redis was away. On its first round and whenever
    Redis has restarted since the last one (a new run id), it sweeps the outbox at once, so
    that what waited goes out now rather than at the next sweep, and after a restart it puts
    its entries back in case Redis lost them. Telling Redis that it stops is skipped when
    Redis is gone, so that a signal still stops it."""

    redis_run_id: str | None = None

    def add_entries(self) -> None:
        entries = ENTRIES + ([BACKUP_ENTRY] if current_app.config.get("BACKUP_DIR") else [])
        wanted = {entry_id for entry_id, _, _ in entries}
        for job in self.get_jobs():
            if job.id.startswith("dossier-") and job.id not in wanted:
                self.cancel(job)
        for entry_id, cron, func in entries:
            if entry_id in self:
                self.cancel(entry_id)
            self.cron(
                cron,
                func=func,
                id=entry_id,
                queue_name=QUEUE_NAME,
                result_ttl=600,
                timeout=TIMEOUTS.get(entry_id),
            )

    def enqueue_jobs(self):
        run_id = self.connection.info("server")["run_id"]
        if run_id != self.redis_run_id:
            if self.redis_run_id is not None:
                log.warning("scheduler: Redis has restarted; entries registered again")
                self.add_entries()
            self.redis_run_id = run_id
            Queue(QUEUE_NAME, connection=self.connection).enqueue(sweep_outbox, result_ttl=600)
        return super().enqueue_jobs()

    def register_death(self):
        with suppress(RedisError):
            super().register_death()

    def remove_lock(self):
        with suppress(RedisError):
            super().remove_lock()


def register(connection) -> Scheduler:
    scheduler = Scheduler(queue_name=QUEUE_NAME, connection=connection, interval=10)
    scheduler.add_entries()
    return scheduler
