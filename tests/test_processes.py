"""The long-running processes survive faults: the worker and the scheduler wait for Redis and
catch up, and `flask dossier serve` starts again whatever dies (its embedded redis-server
too) while the web keeps answering. Real processes, really killed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

from sqlalchemy import select

from app.extensions import db
from app.models import Outbox
from app.services.outbox import queue_mail
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "app", "dossier"]


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def queue_a_mail(app, recipient: str, caplog) -> None:
    """A mail written while Redis is away: the row is committed, its job cannot be queued."""
    with app.app_context():
        queue_mail(db.session, f"waited-{recipient}", recipient, "Waited", "It waited.")
        db.session.commit()
    assert "could not queue send_mails" in caplog.text


def outbox_status(app) -> str:
    with app.app_context():
        return db.session.scalar(select(Outbox.status))


def stop(process: subprocess.Popen, timeout: float = 20) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"{process.args} did not stop on SIGTERM") from None


def test_worker_and_scheduler_wait_for_redis_then_send_what_waited_once(
    app, redis_server, mailbox, caplog, tmp_path
):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_server.url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mailbox.port),
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "scheduler")}
    redis_server.stop()
    processes = {}
    try:
        queue_a_mail(app, "waited@example.com", caplog)
        for name, log in logs.items():
            processes[name] = subprocess.Popen(
                FLASK + [name], env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT
            )
        for name, log in logs.items():
            wait_for(
                lambda log=log: "Redis is unreachable" in log.read_text(),
                30,
                f"{name} waiting for Redis",
            )
        assert all(process.poll() is None for process in processes.values())
        redis_server.start()
        wait_for(lambda: mailbox.to("waited@example.com"), 40, "the mail that waited")
        wait_for(lambda: outbox_status(app) == "sent", 10, "the mail marked sent")

        redis_server.stop()  # Redis gone again: a signal still stops both at once
        time.sleep(1.5)
        for name, process in processes.items():
            assert stop(process) == 0, logs[name].read_text()[-3000:]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
        if redis_server.process is None:
            redis_server.start()
    assert len(mailbox.to("waited@example.com")) == 1


class Serve:
    """`flask dossier serve` in a fresh instance folder with a SQLite database and the
    embedded Redis; its children's pids are read from its log."""

    def __init__(self, smtp_port: int):
        self.folder = Path(tempfile.mkdtemp(prefix="dossier-serve-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = f"sqlite:///{self.folder / 'dossier.sqlite'}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("REDIS_URL", "DATABASE_URL")
        }
        self.env.update(
            DOSSIER_INSTANCE=str(self.folder),
            DATABASE_URL=self.database,
            PYTHONPATH=str(ROOT),
            PORT=str(self.port),
            WEB_CONCURRENCY="1",
            WEB_THREADS="2",
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(smtp_port),
        )
        self.log = self.folder / "serve.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            FLASK + ["serve"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def pids(self, child: str) -> list[int]:
        return [
            int(pid)
            for pid in re.findall(rf"[: ]{child} started \(pid (\d+)\)", self.log.read_text())
        ]

    def get(self, path: str) -> int:
        try:
            with urlopen(self.url + path, timeout=10) as answer:
                return answer.status
        except OSError as error:  # an HTTP error answer, or no answer at all (0)
            return getattr(error, "code", 0)

    def alive(self, pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"  # a zombie has died; its parent has not looked yet

    def group(self, pgid: int) -> list[int]:
        """The processes of a process group."""
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
        return members

    def kill_all(self) -> None:
        for name in ("redis", "web", "worker", "mail-worker", "scheduler"):
            for pid in self.pids(name):
                if self.alive(pid):
                    os.kill(pid, signal.SIGKILL)


def test_serve_starts_again_what_dies_and_the_web_keeps_answering(app, mailbox, caplog):
    from app import create_app

    serve = Serve(mailbox.port)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        env=serve.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    instance = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": serve.database,
            "REDIS_URL": f"unix://{serve.folder / 'redis.sock'}",
        }
    )
    serve.start()
    try:
        wait_for(lambda: serve.get("/health") == 200, 60, "serve answering")
        with urlopen(serve.url + "/login/", timeout=10) as answer:
            assert answer.headers["Server"] == "gunicorn"
        wait_for(
            lambda: "Scheduler for dossier started" in serve.log.read_text(),
            30,
            "the worker with its scheduler process",
        )
        [worker] = serve.pids("worker")
        os.kill(worker, signal.SIGKILL)
        assert serve.get("/health") == 200
        wait_for(lambda: len(serve.pids("worker")) == 2, 10, "a new worker")
        assert f"worker (pid {worker}) was killed by SIGKILL" in serve.log.read_text()
        assert not serve.group(worker)  # its rq scheduler process went with it

        [redis] = serve.pids("redis")
        os.kill(redis, signal.SIGKILL)
        wait_for(lambda: not serve.alive(redis), 5, "redis-server gone")
        queue_a_mail(instance, "during-outage@example.com", caplog)
        assert serve.get("/login/") == 200  # the web keeps serving
        wait_for(lambda: len(serve.pids("redis")) == 2, 10, "a new redis-server")
        wait_for(lambda: mailbox.to("during-outage@example.com"), 40, "the mail that waited")
        assert serve.get("/health") == 200
        assert stop(serve.process, timeout=40) == 0
        children = [
            pid
            for name in ("redis", "web", "worker", "mail-worker", "scheduler")
            for pid in serve.pids(name)
        ]
        assert not [pid for pid in children if serve.alive(pid)]
    finally:
        if serve.process.poll() is None:
            serve.process.kill()
        serve.kill_all()
        shutil.rmtree(serve.folder, ignore_errors=True)
    assert len(mailbox.to("during-outage@example.com")) == 1
