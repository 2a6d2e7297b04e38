"""Writing, changing and deleting notes; the lock itself lives on the Note model."""

from __future__ import annotations

from datetime import datetime

from app.extensions import db
from app.models import Note, Partner
from app.services import acting_as, fetch


def write_note(
    partner_id: int,
    author_id: int | None,
    *,
    body: str,
    kind: str = "note",
    pinned: bool = False,
    occurred_at: datetime | None = None,
) -> Note:
    with acting_as(author_id):
        fetch(Partner, partner_id)
        note = Note(
            partner_id=partner_id,
            author_id=author_id,
            kind=kind,
            body=body,
            pinned=pinned,
            occurred_at=occurred_at,
        )
        db.session.add(note)
    return note


def change_note(note_id: int, actor_id: int | None, **changes) -> Note:
    with acting_as(actor_id):
        note = fetch(Note, note_id)
        for key, value in changes.items():
            setattr(note, key, value)
        db.session.flush()
    return note


def delete_note(note_id: int, actor_id: int | None) -> None:
    with acting_as(actor_id):
        db.session.delete(fetch(Note, note_id))
        db.session.flush()
