"""How the app is served: gunicorn's settings from the environment, static files with cache
headers (and private files without), proxy headers believed only from trusted proxies."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Document
from tests.test_documents import _partner, upload

ROOT = Path(__file__).resolve().parent.parent


def gunicorn_settings(tmp_path, **environment) -> dict:
    """gunicorn.conf.py as gunicorn reads it, in a process with this environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HOST", "PORT", "WEB_CONCURRENCY", "WEB_THREADS")
    }
    env.update(DOSSIER_INSTANCE=str(tmp_path), PYTHONPATH=str(ROOT), **environment)
    script = (
        "import json, runpy; s = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: s[k] for k in ('bind', 'workers', 'threads')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def test_gunicorn_takes_its_address_processes_and_threads_from_the_environment(tmp_path):
    assert gunicorn_settings(tmp_path) == {
        "bind": "127.0.0.1:5000",
        "workers": max(2, os.cpu_count()),
        "threads": 4,
    }
    assert gunicorn_settings(
        tmp_path, HOST="0.0.0.0", PORT="8123", WEB_CONCURRENCY="3", WEB_THREADS="8"
    ) == {"bind": "0.0.0.0:8123", "workers": 3, "threads": 8}
    assert gunicorn_settings(tmp_path, HOST="::")["bind"] == "[::]:5000"


def test_static_files_are_cached_and_private_files_are_not(app, login):
    client = app.test_client()
    for path in ("/static/dossier/behaviour.js", "/static/appbuilder/css/ab.css"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.cache_control.public and answer.cache_control.max_age == 43200, path
        again = client.get(path, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304 and again.cache_control.max_age == 43200
    staff = login("staff")
    upload(staff, _partner(app))
    with app.app_context():
        did = db.session.scalar(select(Document.id))
    download = staff.get(f"/documents/{did}/download")
    assert download.status_code == 200
    assert not download.cache_control.public and not download.cache_control.max_age


def test_proxy_headers_count_only_with_trusted_proxies(app):
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "crm.example.com",
        "X-Forwarded-For": "203.0.113.9",
    }
    direct = app.test_client().get("/login/", headers=forwarded)
    assert "Secure" not in direct.headers["Set-Cookie"]  # plain HTTP: no proxy is believed
    behind = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "TRUSTED_PROXIES": 1,
        }
    )
    proxied = behind.test_client().get("/login/", headers=forwarded)
    assert proxied.status_code == 200
    assert "Secure" in proxied.headers["Set-Cookie"]  # the request came over HTTPS
