"""`flask dossier …`: set-up and maintenance commands."""

import click
from flask import current_app
from flask.cli import with_appcontext


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
