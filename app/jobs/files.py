"""File jobs: remove stored files that no record points at any more."""

from app.jobs.context import in_app_context


@in_app_context
def sweep_files() -> int:
    from app.services.documents import sweep_orphan_files

    return sweep_orphan_files()
