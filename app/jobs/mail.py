"""Mail jobs: send one outbox row; sweep what is waiting."""

from app.jobs.context import in_app_context


@in_app_context
def send_mail(outbox_id: int) -> str:
    from app.services.outbox import send

    return send(outbox_id)


@in_app_context
def send_mails(outbox_ids: list[int]) -> dict[int, str]:
    from app.services.outbox import send_many

    return send_many(outbox_ids)


@in_app_context
def sweep_outbox() -> int:
    """Re-queue mails that never reached Redis, are due for a retry, or got stuck."""
    from app.services.outbox import sweep

    return sweep()
