"""`flask dossier …`: set-up and maintenance commands."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.queue import QUEUES


@click.group()
def dossier():
    """Dossier set-up and maintenance."""


def initialise() -> str | None:
    """Permissions of every view, the roles of SPEC 2 and the first admin; idempotent.

    Returns the admin password when one was generated."""
    appbuilder = current_app.appbuilder
    sm = appbuilder.sm
    sm.add_role(sm.auth_role_admin)
    sm.add_role(sm.auth_role_public)
    appbuilder.add_permissions(update_perms=True)
    sm.seed_roles()
    return sm.ensure_admin(current_app.config["ADMIN_USER"], current_app.config["ADMIN_PASSWORD"])


@dossier.command("init")
@with_appcontext
def init_command():
    """Seed permissions, roles and the first admin (safe to run again)."""
    generated = initialise()
    user = current_app.config["ADMIN_USER"]
    if generated:
        click.echo(f"Admin user created: {user} / {generated}")
    else:
        click.echo(f"Roles and permissions are up to date; admin user: {user}")


@dossier.command("demo")
@click.option("--force", is_flag=True, help="Load even when partners already exist.")
@with_appcontext
def demo_command(force: bool):
    """Load demo partners on first start (nothing happens when data exists)."""
    from app.services.demo import load_demo

    created = load_demo(force=force)
    click.echo(
        f"Demo data: {created} partners created."
        if created
        else "Demo data: partners already exist, nothing loaded."
    )


@dossier.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then stop.")
@click.option(
    "--queue",
    "names",
    multiple=True,
    type=click.Choice(QUEUES),
    help="Work only this queue (repeatable); default: all, in priority order.",
)
@with_appcontext
def worker_command(burst: bool, names: tuple[str, ...]):
    """Run an rq worker (with rq's scheduler for delayed retries); it waits for Redis."""
    from app.jobs.runner import work
    from app.queue import queue

    _log_to_terminal()
    work(list(names or QUEUES), queue().connection, burst=burst)


@dossier.command("scheduler")
@with_appcontext
def scheduler_command():
    """Register the periodic entries (once, whatever the restarts) and run rq-scheduler;
    it waits for Redis."""
    from app.jobs.runner import schedule
    from app.queue import queue

    _log_to_terminal()
    schedule(queue().connection)


@dossier.command("digest")
@with_appcontext
def digest_command():
    """Queue the daily digests that are due now."""
    from app.services.digest import dispatch_digests

    click.echo(f"{dispatch_digests()} digests queued.")


@dossier.command("overdue")
@with_appcontext
def overdue_command():
    """Mail the responsible of each newly overdue task."""
    from app.services.tasks import notify_overdue

    click.echo(f"{notify_overdue()} overdue tasks noted.")


@dossier.command("sweep")
@with_appcontext
def sweep_command():
    """Re-queue mails waiting in the outbox."""
    from app.jobs.mail import sweep_outbox

    click.echo(f"{sweep_outbox()} mails queued.")


@dossier.command("sweep-files")
@with_appcontext
def sweep_files_command():
    """Remove stored files that no document or comment points at (older than an hour)."""
    from app.services.documents import sweep_orphan_files

    click.echo(f"{sweep_orphan_files()} orphan files removed.")


@dossier.command("invoicing")
@click.option(
    "--date",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Invoice what is due up to this day (default: today).",
)
@with_appcontext
def invoicing_command(as_of):
    """Run automatic invoicing now, in this process (or finish the unfinished run)."""
    from datetime import date

    from app.services import recurring

    pending = recurring.unfinished_run()
    day = as_of.date() if as_of else date.today()
    run_id = pending.id if pending else recurring.start(None, day, queue_job=False).id
    result = recurring.run(run_id)
    click.echo(
        f"Run {result.id}: {result.made} invoices made, {result.emailed} e-mailed, "
        f"{result.printed} in {len(result.batches)} print files ({result.status})."
    )


@dossier.command("backup")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(folder: Path | None):
    """Write a dated archive of the database and the stored files into FOLDER (default:
    BACKUP_DIR, else instance/backups) while the app keeps serving."""
    from app.services.backup import BackupError, create_backup

    try:
        archive = create_backup(folder)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backup written: {archive}")


@dossier.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace a database that already holds data, and the stored files.",
)
@with_appcontext
def restore_command(archive: Path, force: bool):
    """Restore ARCHIVE into the database of DATABASE_URL and the instance folder."""
    from app.services.backup import BackupError, restore_backup

    try:
        restored = restore_backup(archive, force=force)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    migrated = f", migrated to {restored.head}" if restored.migrated else ""
    click.echo(
        f"Restored {archive}: the {restored.kind} database at revision "
        f"{restored.revision}{migrated}, and {restored.files} files."
    )


def _log_to_terminal() -> None:
    """The long-running commands say what they do (restarts, Redis outages) on stderr."""
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@dossier.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: PORT, 5000).")
@with_appcontext
def serve_command(host: str | None, port: int | None):
    """gunicorn, one rq worker, the scheduler and (without REDIS_URL) an embedded Redis,
    each started again when it exits; Ctrl-C or SIGTERM stops them all."""
    from app.supervisor import Supervisor, children

    _log_to_terminal()
    config = current_app.config
    host, port = host or config["HOST"], port or config["PORT"]
    found, env = children(config, host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Dossier: http://{shown}:{port}/  (Ctrl-C stops web, worker and scheduler)")
    Supervisor(found, env).run()


@dossier.command("check")
@with_appcontext
def check_command():
    """Say what is misconfigured; the exit code is 1 when something must be fixed first."""
    from app.health import check_installation

    findings = check_installation()
    for finding in findings:
        click.echo(f"{finding.level:<8} {finding.topic:<15} {finding.text}")
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    if errors:
        click.echo(f"{errors} error(s), {warnings} warning(s): fix the errors before serving.")
        raise SystemExit(1)
    click.echo(f"No errors, {warnings} warning(s)." if warnings else "No problems found.")
