"""Operations that span records or outlive a request: the one way to do each thing."""

from collections.abc import Iterator
from contextlib import contextmanager

from app.extensions import db
from app.models import acting_user


@contextmanager
def acting_as(user_id: int | None) -> Iterator[None]:
    """Run a service on behalf of a user (audit, note authorship), committing once."""
    token = acting_user.set(user_id)
    try:
        yield
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    finally:
        acting_user.reset(token)
