"""Fixtures: the app from the factory on a real database (SQLite file, or PostgreSQL from
DOSSIER_TEST_DB), the real FAB login, one user per role, and a clean slate per test."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from email.policy import default as default_policy
from http.cookiejar import CookieJar
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import pytest

INSTANCE = tempfile.mkdtemp(prefix="dossier-test-")
os.environ["DOSSIER_INSTANCE"] = INSTANCE
os.environ.setdefault("MAP_TILE_URL", "http://127.0.0.1:9/{z}/{x}/{y}.png")

import flask_migrate  # noqa: E402
from flask_appbuilder import Model  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402

from app import create_app  # noqa: E402
from app.cli import initialise  # noqa: E402
from app.extensions import db  # noqa: E402
from tests import factories  # noqa: E402

DB_URL = os.environ.get("DOSSIER_TEST_DB")


def free_port() -> int:
    # aiosmtpd's controller cannot bind port 0 and report it: pick a free port first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server of the suite's own, so that a test can stop and start it."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) whose messages the tests read; with `delay`,
    a slow one that takes that many seconds to answer each message's DATA."""

    def __init__(self, delay: float = 0):
        self.port = free_port()
        self.delay = delay
        self.messages: list = []
        self.connections = 0
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m["To"]]


class SilentServer:
    """A TCP server on loopback that accepts connections and never says a word, as an SMTP
    server that hangs before its greeting."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                self.connections.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smtp_server():
    box = Mailbox()
    box.start()
    yield box
    box.stop()


ROLES = ["Admin", "Manager", "Staff", "Finance", "Read-only", "Client", "Partner"]
# Every table of ours (importing `app` has loaded every model), dependents first. FAB's security
# tables (ab_*) keep the role users; the counters keep their values but the invoice numbers'
# (below); alembic_version is no model's.
DATA_TABLES = [
    table.name
    for table in reversed(Model.metadata.sorted_tables)
    if not table.name.startswith("ab_") and table.name not in ("counter", "security_version")
]
CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def _fresh_database() -> str:
    if not DB_URL:
        return f"sqlite:///{INSTANCE}/test.sqlite"
    engine = create_engine(DB_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return DB_URL


@pytest.fixture(scope="session")
def app(redis_server, smtp_server):
    app = create_app(
        {
            "REDIS_URL": redis_server.url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_server.port,
            "SQLALCHEMY_DATABASE_URI": _fresh_database(),
            "TESTING": True,
            "ADMIN_PASSWORD": "admin-pw",
            # Tests move the clock by years; a CSRF token then lives as long as the session.
            "WTF_CSRF_TIME_LIMIT": None,
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
        initialise()
        sm = app.appbuilder.sm
        for role in ROLES:
            username = role.lower().replace("-", "")
            if not sm.find_user(username=username):
                sm.add_user(
                    username,
                    role,
                    "User",
                    f"{username}@example.com",
                    sm.find_role(role),
                    password=f"{username}-pw",
                )
        factories.our_company()
    return app


@pytest.fixture(autouse=True)
def clean(app):
    yield
    with app.app_context():
        db.session.rollback()
        with db.engine.begin() as conn:
            # Zone users are made by invitations; they go with the test that made them.
            zone_users = [row[0] for row in conn.execute(text("SELECT user_id FROM zone_member"))]
            for table in DATA_TABLES:
                if table == "note" and conn.dialect.name == "postgresql":
                    # The note lock's trigger refuses deleting fixed notes; a test's go anyway.
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                    conn.execute(text("DELETE FROM note"))
                    conn.execute(text("SET LOCAL session_replication_role = DEFAULT"))
                    continue
                conn.execute(text(f"DELETE FROM {table}"))
            for user in zone_users:
                conn.execute(text("DELETE FROM ab_user_role WHERE user_id = :u"), {"u": user})
                conn.execute(text("DELETE FROM ab_user WHERE id = :u"), {"u": user})
            conn.execute(
                text(
                    "DELETE FROM ab_user_role WHERE user_id IN "
                    "(SELECT id FROM ab_user WHERE username LIKE 'tmp-%')"
                )
            )
            conn.execute(text("DELETE FROM ab_user WHERE username LIKE 'tmp-%'"))
            # Roles a test made for itself go with it too.
            for table, column in (
                ("ab_permission_view_role", "role_id"),
                ("ab_user_role", "role_id"),
            ):
                conn.execute(
                    text(
                        f"DELETE FROM {table} WHERE {column} IN "
                        "(SELECT id FROM ab_role WHERE name LIKE 'tmp-%')"
                    )
                )
            conn.execute(text("DELETE FROM ab_role WHERE name LIKE 'tmp-%'"))
            conn.execute(text("UPDATE ab_user SET active = :t"), {"t": True})
            conn.execute(text("DELETE FROM counter WHERE name LIKE 'invoice:%'"))
            conn.execute(text("DELETE FROM counter WHERE name LIKE 'credit_note:%'"))
            conn.execute(text("DELETE FROM counter WHERE name LIKE 'order:%'"))
            conn.execute(text("DELETE FROM counter WHERE name LIKE 'quote:%'"))
        # Every test starts with our company filled in, as a set-up installation has it.
        with app.app_context():
            factories.our_company()


@pytest.fixture
def mailbox(smtp_server, redis_server, app):
    """The SMTP server's messages and an empty queue, fresh for the test."""
    smtp_server.messages.clear()
    smtp_server.connections = 0
    if redis_server.process is None:
        redis_server.start()
    if smtp_server.controller is None:
        smtp_server.start()
    with app.app_context():
        from app.queue import queue

        queue().connection.flushdb()
    yield smtp_server


def run_jobs(app, fork: bool = False) -> None:
    """Work every queue empty, as `flask dossier worker --burst` would."""
    from rq import SimpleWorker, Worker

    with app.app_context():
        from app.queue import QUEUES, queue

        queues = [queue(name) for name in QUEUES]
        (Worker if fork else SimpleWorker)(queues, connection=queues[0].connection).work(burst=True)


@pytest.fixture
def start_worker(app, mailbox, tmp_path):
    """`flask dossier worker` in a process of its own on the suite's database and Redis:
    `start_worker("dossier-mail", MAIL_PORT="2525")` starts one on those queues (default: all)
    with that environment over the app's, and returns once it listens. The workers stop
    (warm shutdown: the job at hand is finished) after the test."""
    from rq import Worker

    processes = []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base = {
        **os.environ,
        "PYTHONPATH": root,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "MAIL_SERVER": app.config["MAIL_SERVER"],
        "MAIL_PORT": str(app.config["MAIL_PORT"]),
    }

    def start(*queues: str, **env: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "flask", "--app", "app", "dossier", "worker"]
        for name in queues:
            command += ["--queue", name]
        log = tmp_path / f"worker-{len(processes)}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                command, cwd=root, env={**base, **env}, stdout=output, stderr=subprocess.STDOUT
            )
        processes.append(process)
        with app.app_context():
            from app.queue import queue

            connection = queue().connection
            deadline = time.monotonic() + 60
            while len(Worker.all(connection=connection)) < len(processes):
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[
                    -3000:
                ]
                time.sleep(0.1)
        return process

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(60)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


def user_id(app, username: str) -> int:
    with app.app_context():
        return app.appbuilder.sm.find_user(username=username).id


def find_csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return next(g for g in match.groups() if g)


class Client:
    """A browser-like test client: logs in through FAB's form and posts with the CSRF token."""

    def __init__(self, app, username: str | None = None, password: str | None = None):
        self.app = app
        self.http = app.test_client()
        self.csrf = find_csrf(self.http.get("/login/").get_data(as_text=True))
        if username:
            response = self.http.post(
                "/login/",
                data={
                    "username": username,
                    "password": password or f"{username}-pw",
                    "csrf_token": self.csrf,
                },
            )
            assert response.status_code == 302, response.get_data(as_text=True)[:500]

    def get(self, url, **kw):
        return self.http.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self.http.post(url, data=data, **kw)

    def lang(self, code: str) -> None:
        self.http.get(f"/lang/{code}")


@pytest.fixture
def login(app):
    return lambda username=None, password=None: Client(app, username, password)


@pytest.fixture
def api(app):
    """A JWT-authenticated JSON client for the REST API."""

    def make(username: str, password: str | None = None):
        http = app.test_client()
        response = http.post(
            "/api/v1/security/login",
            json={"username": username, "password": password or f"{username}-pw", "provider": "db"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        token = response.get_json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        class Api:
            def get(self, url):
                return http.get(url, headers=headers)

            def post(self, url, json):
                return http.post(url, json=json, headers=headers)

            def put(self, url, json):
                return http.put(url, json=json, headers=headers)

            def delete(self, url):
                return http.delete(url, headers=headers)

        return Api()

    return make


@pytest.fixture
def queries(app):
    """Counts the SQL statements the app sends while the block runs."""

    class Counter:
        def __init__(self):
            self.statements: list[str] = []

        def __enter__(self):
            with app.app_context():
                self.engine = db.engine
            event.listen(self.engine, "before_cursor_execute", self._count)
            return self

        def _count(self, conn, cursor, statement, *args):
            self.statements.append(statement)

        def __exit__(self, *exc):
            event.remove(self.engine, "before_cursor_execute", self._count)

        @property
        def count(self):
            return len(self.statements)

    return Counter


class LiveResponse:
    """What the live server answered: status, headers, body (text) and its JSON."""

    def __init__(self, status: int, headers, body: bytes):
        self.status_code, self.headers = status, headers
        self.text = body.decode("utf-8", "replace")

    def get_json(self):
        import json

        return json.loads(self.text)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _multipart(form: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in form.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream'
            f"\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class LiveClient:
    """An HTTP client of the live server over real sockets (urllib): it keeps cookies like a
    browser and posts forms with the CSRF token after `login()`, or, after `api_login()`,
    sends a JWT bearer token and no cookie, as an API client does. Redirects are followed
    unless `follow=False`; a 4xx or 5xx is answered, not raised. Use one client per thread,
    as one browser is one user."""

    def __init__(self, url: str):
        self.url = url
        self.cookies = CookieJar()
        processor = HTTPCookieProcessor(self.cookies)
        self.following = build_opener(processor)
        self.staying = build_opener(processor, _NoRedirect)
        self.headers: dict[str, str] = {}
        self.csrf: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json=None,
        form=None,
        files=None,
        headers=None,
        follow: bool = True,
    ) -> LiveResponse:
        import json as json_module

        body, sent = None, {**self.headers, **(headers or {})}
        if json is not None:
            body = json_module.dumps(json).encode()
            sent["Content-Type"] = "application/json"
        elif files is not None:
            body, sent["Content-Type"] = _multipart(form or {}, files)
        elif form is not None:
            body = urlencode(form, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        opener = self.following if follow else self.staying
        try:
            with opener.open(
                Request(self.url + path, data=body, headers=sent, method=method), timeout=60
            ) as answer:
                return LiveResponse(answer.status, answer.headers, answer.read())
        except HTTPError as error:
            return LiveResponse(error.code, error.headers, error.read())

    def get(self, path: str, **kw) -> LiveResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, data=None, **kw) -> LiveResponse:
        """A form post with the CSRF token of the logged-in session (see `login`); `files`
        ({field: (file name, bytes)}) makes it multipart, as a browser's upload."""
        form = dict(data or {})
        if self.csrf:
            form.setdefault("csrf_token", self.csrf)
        return self.request("POST", path, form=form, **kw)

    def login(self, username: str, password: str | None = None) -> LiveClient:
        """Log in through FAB's form, as a browser does."""
        self.csrf = find_csrf(self.get("/login/").text)
        answer = self.post(
            "/login/",
            {"username": username, "password": password or f"{username}-pw"},
            follow=False,
        )
        assert answer.status_code == 302, answer.text[:500]
        return self

    def api_login(self, username: str, password: str | None = None) -> LiveClient:
        """Get a JWT access token; later requests carry it as a bearer token."""
        answer = self.request(
            "POST",
            "/api/v1/security/login",
            json={"username": username, "password": password or f"{username}-pw", "provider": "db"},
        )
        assert answer.status_code == 200, answer.text
        self.headers["Authorization"] = f"Bearer {answer.get_json()['access_token']}"
        self.following, self.staying = build_opener(), build_opener(_NoRedirect)
        self.cookies.clear()
        return self


class LiveServer:
    """The test app served over HTTP on a free loopback port by werkzeug's threaded server
    (one thread per request, as gunicorn's threads or any threaded server run them) in a
    background thread, for tests that need parallel requests on real sockets."""

    def __init__(self, app):
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Handler(WSGIRequestHandler):
            def log_request(self, *args) -> None:
                """Errors are logged; the access log would bury a test's report."""

        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()

    def client(self) -> LiveClient:
        return LiveClient(self.url)


@pytest.fixture(scope="session")
def live_server(app):
    """The app on a real threaded HTTP server for the whole session: `live_server.url`, and
    `live_server.client()` for a cookie-keeping (`login`) or JWT (`api_login`) client. Data
    is cleaned after each test by `clean`, as for the in-process clients."""
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


def at_once(*calls):
    """Run each call in its own thread, all released together by a barrier (as simultaneous
    clicks or API calls are); their results in the order of the calls."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))
