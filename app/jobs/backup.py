"""The nightly backup: one archive into BACKUP_DIR, keeping the newest BACKUP_KEEP."""

from app.jobs.context import in_app_context


@in_app_context
def nightly_backup() -> str:
    from app.services.backup import scheduled_backup

    return str(scheduled_backup())
