"""The long-running job processes, rq's worker and rq-scheduler, kept alive through Redis
outages: when Redis cannot be reached they wait 1, 2, 4 … 30 seconds and connect again instead
of exiting; SIGTERM or Ctrl-C still stops them, Redis or not."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker

log = logging.getLogger("dossier.jobs")
LONGEST_WAIT = 30  # seconds between two attempts at most
STEADY_AFTER = 60  # a run this long starts the back-off from 1 s again


def keep_running(name: str, run_once: Callable[[], bool]) -> None:
    """Call `run_once` until it returns True (finished or told to stop). When it raises
    because Redis is unreachable, or returns False (it gave up on its own), wait and call it
    again; the wait doubles from 1 s up to LONGEST_WAIT."""
    wait = 1
    while True:
        started = time.monotonic()
        try:
            if run_once():
                return
            reason = "it stopped on its own"
        except (RedisConnectionError, RedisTimeoutError) as error:
            reason = f"Redis is unreachable: {error}"
        if time.monotonic() - started > STEADY_AFTER:
            wait = 1
        log.warning("%s: %s; starting again in %d s", name, reason, wait)
        _pause(wait)
        wait = min(wait * 2, LONGEST_WAIT)


def _pause(seconds: float) -> None:
    """Sleep with signal handlers of our own: the worker's or the scheduler's would try to
    tell Redis that they stop, and Redis is what is missing."""
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    time.sleep(seconds)


def _exit(signum, frame):
    raise SystemExit(0)


class DossierWorker(Worker):
    """rq's forking worker that remembers a stop request even when Redis cannot be told of
    it (rq would record the request in Redis first, and keep waiting for Redis if it cannot)."""

    stop_signalled = False

    def request_stop(self, signum, frame):
        self.stop_signalled = True
        try:
            super().request_stop(signum, frame)
        except RedisError:
            raise SystemExit(0) from None


def work(queues: list[str], connection, burst: bool = False) -> None:
    """Work the queues (with rq's scheduler for delayed retries) until a signal stops the
    worker or, with `burst`, until they are empty."""

    def run_once() -> bool:
        worker = DossierWorker(queues, connection=connection)
        try:
            worker.work(with_scheduler=True, burst=burst)
        except (RedisConnectionError, RedisTimeoutError):
            if worker.stop_signalled:
                return True
            raise
        return burst or worker.stop_signalled

    keep_running("worker", run_once)


def schedule(connection) -> None:
    """Register the periodic entries and run rq-scheduler until a signal stops it."""
    from app.jobs.schedule import register

    def run_once() -> bool:
        register(connection).run()
        return True

    keep_running("scheduler", run_once)
