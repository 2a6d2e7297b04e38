"""`GET /health` for a proxy or a monitor, and `flask dossier check` for the admin."""

import re

import flask_migrate

from app import create_app
from app.extensions import db
from tests.conftest import free_port


def test_health_answers_without_a_login_or_a_session(app, mailbox):
    answer = app.test_client().get("/health")
    assert answer.status_code == 200
    assert answer.get_json() == {"database": "ok", "redis": "ok"}
    assert "Set-Cookie" not in answer.headers
    assert answer.cache_control.no_store


def test_health_answers_503_while_redis_is_stopped(app, redis_server, mailbox):
    redis_server.stop()
    try:
        answer = app.test_client().get("/health")
        assert answer.status_code == 503
        assert answer.get_json() == {"database": "ok", "redis": "down"}
    finally:
        redis_server.start()
    assert app.test_client().get("/health").status_code == 200


def test_health_answers_503_when_the_database_does_not(app, tmp_path):
    lost = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/gone/dossier.sqlite", "REDIS_URL": None}
    )
    answer = lost.test_client().get("/health")
    assert answer.status_code == 503
    assert answer.get_json() == {"database": "down", "redis": "not configured"}


def check(app):
    result = app.test_cli_runner().invoke(args=["dossier", "check"])
    lines = {
        line.split()[1]: line.split()[0]
        for line in result.output.splitlines()
        if line.split()[0] in ("ok", "warning", "error")
    }
    return result, lines


def test_check_passes_on_a_configured_installation(app, mailbox):
    result, lines = check(app)
    assert result.exit_code == 0, result.output
    assert set(lines.values()) == {"ok"}, result.output
    assert "No problems found." in result.output


def test_check_warns_of_what_production_lacks(app, mailbox, monkeypatch, tmp_path):
    (tmp_path / "secret_key").write_text("generated-once\n")
    for key, value in {
        "DOSSIER_ENV": "production",
        "MAIL_SERVER": None,
        "PUBLIC_URL": None,
        "INSTANCE_DIR": str(tmp_path),
        "SECRET_KEY": "generated-once",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    result, lines = check(app)
    assert result.exit_code == 0, result.output
    assert lines == {
        "database": "ok",
        "secret": "warning",
        "folders": "ok",
        "mail": "warning",
        "redis": "warning",
        "public": "warning",
    }, result.output
    assert "MAIL_SERVER is not set" in result.output
    assert "SECRET_KEY is not set" in result.output
    assert "does not answer" in result.output
    assert "No errors, 4 warning(s)." in result.output


def test_the_generated_secret_key_is_fine_outside_production(app, monkeypatch, tmp_path):
    (tmp_path / "secret_key").write_text("generated-once\n")
    monkeypatch.setitem(app.config, "INSTANCE_DIR", str(tmp_path))
    monkeypatch.setitem(app.config, "SECRET_KEY", "generated-once")
    assert check(app)[1]["secret"] == "ok"
    monkeypatch.setitem(app.config, "HOST", "0.0.0.0")  # listening beyond this machine
    assert check(app)[1]["secret"] == "warning"


def test_check_fails_when_the_documents_folder_cannot_be_written(app, monkeypatch, tmp_path):
    (tmp_path / "documents").write_text("a file where the folder should be")
    monkeypatch.setitem(app.config, "INSTANCE_DIR", str(tmp_path))
    result, lines = check(app)
    assert result.exit_code == 1
    assert lines["folders"] == "error"
    assert f"cannot write the documents folder {tmp_path / 'documents'}" in result.output
    assert "1 error(s)" in result.output


def test_check_fails_on_a_database_with_migrations_to_apply(app, tmp_path):
    old = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite'}",
            "REDIS_URL": app.config["REDIS_URL"],
        }
    )
    result, lines = check(old)
    assert result.exit_code == 1 and lines["database"] == "error"
    assert "has no Dossier tables yet: run `flask --app app db upgrade`" in result.output
    with old.app_context():
        flask_migrate.upgrade(revision="b2eeb7638c42")
        db.engine.dispose()
    result, lines = check(old)
    assert result.exit_code == 1 and lines["database"] == "error"
    assert re.search(r"\d+ migration\(s\) not applied", result.output), result.output
    with old.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    result, lines = check(old)
    assert lines["database"] == "ok", result.output
