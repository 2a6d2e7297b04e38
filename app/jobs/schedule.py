"""The periodic entries, behind one small module so that rq-scheduler can later give way to
rq's own `rq cron`. Entries have fixed ids: registering them again replaces, never doubles.
Cron strings follow the scheduler's clock, so the digest runs every few minutes and each
user's own DIGEST_TIME is decided in the database (app/services/digest.py)."""

from __future__ import annotations

import warnings

from flask import current_app
from rq_scheduler import Scheduler

from app.jobs.backup import nightly_backup
from app.jobs.digest import check_overdue, dispatch_digests
from app.jobs.files import sweep_files
from app.jobs.invoicing import restart_stalled_runs
from app.jobs.mail import sweep_outbox
from app.jobs.queue import QUEUE_NAME

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


def register(connection) -> Scheduler:
    scheduler = Scheduler(queue_name=QUEUE_NAME, connection=connection, interval=30)
    entries = ENTRIES + ([BACKUP_ENTRY] if current_app.config.get("BACKUP_DIR") else [])
    wanted = {entry_id for entry_id, _, _ in entries}
    for job in scheduler.get_jobs():
        if job.id.startswith("dossier-") and job.id not in wanted:
            scheduler.cancel(job)
    for entry_id, cron, func in entries:
        if entry_id in scheduler:
            scheduler.cancel(entry_id)
        scheduler.cron(cron, func=func, id=entry_id, queue_name=QUEUE_NAME, result_ttl=600,
                       timeout=TIMEOUTS.get(entry_id))
    return scheduler
