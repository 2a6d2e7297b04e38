"""Operations that span records or outlive a request: the one way to do each thing."""

from collections.abc import Iterator
from contextlib import contextmanager

from app.errors import NotFound
from app.extensions import db
from app.models import acting_user


@contextmanager
def acting_as(user_id: int | None) -> Iterator[None]:
    """Run a service on behalf of a user (audit, note authorship) in one transaction: the
    outermost `acting_as` commits, or rolls everything back on an error, so that a service
    made of other services (or a request calling several) leaves all or nothing."""
    token = acting_user.set(user_id)
    info = db.session.info  # this app context's session: its own count of open services
    outermost = not info.get("services_open")
    info["services_open"] = info.get("services_open", 0) + 1
    try:
        yield
        if outermost:
            db.session.commit()
    except Exception:
        if outermost:
            db.session.rollback()
        raise
    finally:
        info["services_open"] -= 1
        acting_user.reset(token)


def fetch(model, ident):
    """The record of `model` with this primary key; NotFound (answered 404) when none."""
    found = db.session.get(model, ident)
    if found is None:
        raise NotFound()
    return found


def take_write_lock() -> None:
    """Call before reading a counter or a balance that the transaction then changes.
    SQLite has no SELECT … FOR UPDATE: its transaction starts with BEGIN IMMEDIATE, which
    waits for any other writer to finish, so nothing read after it can change underneath.
    (The driver opens a transaction only for a write, and a write already holds the lock.)
    PostgreSQL locks the rows the caller selects FOR UPDATE."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
