"""Is Dossier well? `GET /health` answers a reverse proxy or a monitor (no login, no session);
`flask dossier check` tells the admin, in plain words, what is misconfigured."""

from __future__ import annotations

import ipaddress
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Blueprint, Flask, current_app, jsonify
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

log = logging.getLogger("dossier.health")
health = Blueprint("health", __name__)


def database_state() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as error:
        log.warning("health: the database does not answer: %s", error)
        return "down"
    finally:
        db.session.rollback()


def redis_error(url: str) -> str | None:
    """Why Redis at `url` does not answer a PING within 2 s, or None when it does."""
    client = Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
        return None
    except RedisError as error:
        return str(error) or type(error).__name__
    finally:
        client.close()


def redis_state() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "not configured"
    error = redis_error(url)
    if error:
        log.warning("health: Redis does not answer: %s", error)
    return "down" if error else "ok"


@health.route("/health")
def health_view():
    states = {"database": database_state(), "redis": redis_state()}
    healthy = states["database"] == "ok" and states["redis"] != "down"
    response = jsonify(states)
    response.status_code = 200 if healthy else 503
    response.cache_control.no_store = True
    return response


def init_health(app: Flask) -> None:
    app.register_blueprint(health)


@dataclass
class Finding:
    level: str  # "ok", "warning" or "error"
    topic: str
    text: str


def is_production(config) -> bool:
    """Production: DOSSIER_ENV=production, or listening beyond this machine (HOST is not a
    loopback address), or behind a reverse proxy (TRUSTED_PROXIES > 0)."""
    host = config["HOST"]
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return config["DOSSIER_ENV"] == "production" or config["TRUSTED_PROXIES"] > 0 or not loopback


def check_installation() -> list[Finding]:
    """What `flask dossier check` reports: errors stop `make run`, warnings do not."""
    config = current_app.config
    production = is_production(config)
    return [
        _check_database(),
        _check_secret_key(config, production),
        *_check_folders(config),
        _check_mail(config),
        _check_redis(config),
        *_check_public_url(config, production),
    ]


def _check_database() -> Finding:
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(
        hide_password=True
    )
    upgrade = "run `flask --app app db upgrade`"
    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        return Finding("error", "database", f"cannot connect to {url}: {error}")
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    heads = set(script.get_heads())
    if not current:
        return Finding("error", "database", f"{url} has no Dossier tables yet: {upgrade}.")
    unknown = sorted(rev for rev in current if not _known(script, rev))
    if unknown:
        return Finding(
            "error",
            "database",
            f"{url} is at revision {', '.join(unknown)}, which this code does not know "
            "(a newer release of Dossier?).",
        )
    if current != heads:
        pending = sum(1 for _ in script.iterate_revisions(tuple(heads), tuple(current)))
        return Finding(
            "error",
            "database",
            f"{pending} migration(s) not applied to {url} "
            f"(at {', '.join(sorted(current))}, code at {', '.join(sorted(heads))}): "
            f"{upgrade}.",
        )
    return Finding(
        "ok", "database", f"{url} answers; the schema is up to date ({', '.join(sorted(heads))})."
    )


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _check_secret_key(config, production: bool) -> Finding:
    generated = Path(config["INSTANCE_DIR"]) / "secret_key"
    if not (generated.exists() and generated.read_text().strip() == config["SECRET_KEY"]):
        return Finding("ok", "secret key", "SECRET_KEY is set.")
    if production:
        return Finding(
            "warning",
            "secret key",
            f"SECRET_KEY is not set, so sessions are signed with the key generated in "
            f"{generated}. In production set SECRET_KEY in the environment (the same "
            "value on every web machine), so that it is kept out of the instance "
            "folder and its backups.",
        )
    return Finding(
        "ok",
        "secret key",
        f"the key generated in {generated} is used (set SECRET_KEY in production).",
    )


def _check_folders(config) -> list[Finding]:
    instance = Path(config["INSTANCE_DIR"])
    folders = {
        "documents": instance / "documents",
        "pictures": Path(config["IMG_UPLOAD_FOLDER"]),
        "outbox attachments": instance / "outbox",
        "invoice print files": instance / "invoice-runs",
    }
    findings = []
    for name, folder in folders.items():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            findings.append(
                Finding(
                    "error",
                    "folders",
                    f"cannot write the {name} folder {folder}: {error}. "
                    "Dossier stores files there; give its user write access.",
                )
            )
    if not findings:
        findings.append(Finding("ok", "folders", f"{instance} and its folders are writable."))
    return findings


def _check_mail(config) -> Finding:
    if not config.get("MAIL_SERVER"):
        return Finding(
            "warning",
            "mail",
            "MAIL_SERVER is not set, so no e-mail is sent: mails stay in the outbox as "
            "'not sent' and go out once a mail server is configured.",
        )
    return Finding("ok", "mail", f"mails go through {config['MAIL_SERVER']}:{config['MAIL_PORT']}.")


def _check_redis(config) -> Finding:
    url = config.get("REDIS_URL")
    if not url:
        return Finding(
            "ok",
            "redis",
            "REDIS_URL is not set: `flask dossier serve` (make run) "
            "runs an embedded Redis in the instance folder.",
        )
    error = redis_error(url)
    if error:
        password = urlsplit(url).password
        shown = url.replace(f":{password}@", ":***@") if password else url
        return Finding(
            "warning",
            "redis",
            f"Redis at {shown} does not answer "
            f"({error}). The web keeps working and mails wait in the outbox, but no "
            "mail is sent and no background job runs until it answers.",
        )
    return Finding("ok", "redis", "Redis answers.")


def _check_public_url(config, production: bool) -> list[Finding]:
    if production and not config.get("PUBLIC_URL"):
        return [
            Finding(
                "warning",
                "public address",
                "PUBLIC_URL is not set: links in mails written by background jobs "
                "(digests, automatic invoicing) cannot name the address users reach "
                "Dossier at.",
            )
        ]
    return []
