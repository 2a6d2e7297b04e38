"""Periodic jobs: the digest dispatcher and the overdue check, each guarded in the database."""

from app.jobs.context import in_app_context


@in_app_context
def dispatch_digests() -> int:
    from app.services.digest import dispatch_digests as dispatch

    return dispatch()


@in_app_context
def check_overdue() -> int:
    from app.services.tasks import notify_overdue

    return notify_overdue()
