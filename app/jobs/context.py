"""The app a job runs in: made once per worker process, its pool reset in each work-horse."""

from __future__ import annotations

import functools
import os

_app = None
_pid = None


def job_app():
    """The app of a worker process, made on its first job."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def forget_inherited_connections() -> None:
    """rq forks a work-horse per job: pooled connections of the parent are not ours."""
    global _pid
    if _pid != os.getpid():
        from app.extensions import db

        db.engine.dispose(close=False)
        _pid = os.getpid()


def in_app_context(func):
    """Run a job function inside the app context (pushed only when none is active)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from flask import has_app_context

        if has_app_context():
            forget_inherited_connections()
            return func(*args, **kwargs)
        with job_app().app_context():
            forget_inherited_connections()
            return func(*args, **kwargs)

    return wrapper
