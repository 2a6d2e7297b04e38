"""`flask dossier …`: set-up and maintenance commands."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.jobs.queue import QUEUES


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
    click.echo(f"Demo data: {created} partners created." if created else
               "Demo data: partners already exist, nothing loaded.")


@dossier.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then stop.")
@click.option("--queue", "names", multiple=True, type=click.Choice(QUEUES),
              help="Work only this queue (repeatable); default: all, in priority order.")
@with_appcontext
def worker_command(burst: bool, names: tuple[str, ...]):
    """Run an rq worker (with rq's scheduler for delayed retries)."""
    from rq import Worker

    from app.jobs.queue import queue

    queues = [queue(name) for name in names or QUEUES]
    Worker(queues, connection=queues[0].connection).work(with_scheduler=True, burst=burst)


@dossier.command("scheduler")
@with_appcontext
def scheduler_command():
    """Register the periodic entries (once, whatever the restarts) and run rq-scheduler."""
    from app.jobs.queue import queue
    from app.jobs.schedule import register

    register(queue().connection).run()


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
@click.option("--date", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Invoice what is due up to this day (default: today).")
@with_appcontext
def invoicing_command(as_of):
    """Run automatic invoicing now, in this process (or finish the unfinished run)."""
    from datetime import date

    from app.services import recurring

    pending = recurring.unfinished_run()
    day = as_of.date() if as_of else date.today()
    run_id = pending.id if pending else recurring.start(None, day, queue_job=False).id
    result = recurring.run(run_id)
    click.echo(f"Run {result.id}: {result.made} invoices made, {result.emailed} e-mailed, "
               f"{result.printed} in {len(result.batches)} print files ({result.status}).")


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
@click.option("--force", is_flag=True,
              help="Replace a database that already holds data, and the stored files.")
@with_appcontext
def restore_command(archive: Path, force: bool):
    """Restore ARCHIVE into the database of DATABASE_URL and the instance folder."""
    from app.services.backup import BackupError, restore_backup

    try:
        restored = restore_backup(archive, force=force)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    migrated = f", migrated to {restored.head}" if restored.migrated else ""
    click.echo(f"Restored {archive}: the {restored.kind} database at revision "
               f"{restored.revision}{migrated}, and {restored.files} files.")


@dossier.command("serve")
@click.option("--port", default=5000, type=int, envvar="PORT")
@with_appcontext
def serve_command(port: int):
    """Web server, one rq worker and the scheduler; Ctrl-C stops them all."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = dict(os.environ)
    if not current_app.config.get("REDIS_URL"):
        from app.jobs.queue import queue

        # This process keeps the embedded redis-server alive and shares its socket.
        env["REDIS_URL"] = f"unix://{queue().connection.socket_file}"
        click.echo(f"Embedded Redis: {env['REDIS_URL']}")
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    commands = [flask + ["run", "--host", "127.0.0.1", "--port", str(port)],
                flask + ["dossier", "worker"], flask + ["dossier", "scheduler"]]
    children = [subprocess.Popen(c, env=env) for c in commands]

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"Dossier: http://127.0.0.1:{port}/  (Ctrl-C stops web, worker and scheduler)")
    try:
        while all(child.poll() is None for child in children):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
