"""Automatic invoicing jobs: a run, and the scheduler's restart of runs that stalled."""

from app.jobs.context import in_app_context


@in_app_context
def run_invoicing(run_id: int) -> str:
    from app.services.recurring import run

    return run(run_id).status


@in_app_context
def restart_stalled_runs() -> int:
    from app.services.recurring import restart_stalled

    return restart_stalled()
