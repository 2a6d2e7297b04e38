"""Documents: checked before anything is stored, kept under instance/ by a generated name,
and shown only to whom their visibility allows."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from app.errors import InvalidValue, TooLarge
from app.extensions import db
from app.models import ZONE_ROLES, AuditLog, Comment, Document, Offer, Partner, Task, ZoneMember
from app.services import acting_as, fetch

ORPHAN_AGE = 3600  # seconds an unrecorded file may be an upload whose row is not committed yet

ALLOWED = {
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "rtf": "application/rtf",
    "txt": "text/plain",
    "csv": "text/csv",
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
}
# What a file of each kind starts with; a PDF that is really an executable is refused.
SIGNATURES = {
    "pdf": (b"%PDF",),
    "png": (b"\x89PNG",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF8",),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
    "pptx": (b"PK\x03\x04",),
    "odt": (b"PK\x03\x04",),
    "ods": (b"PK\x03\x04",),
    "odp": (b"PK\x03\x04",),
    "doc": (b"\xd0\xcf\x11\xe0",),
    "xls": (b"\xd0\xcf\x11\xe0",),
    "ppt": (b"\xd0\xcf\x11\xe0",),
    "rtf": (b"{\\rtf",),
}


def storage_dir() -> Path:
    path = Path(current_app.config["INSTANCE_DIR"]) / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_filename(name: str) -> str:
    """Keep the user's name for display (any script), never as a path."""
    base = os.path.basename((name or "").replace("\\", "/")).strip().lstrip(".")
    base = "".join(c for c in base if c.isprintable() and c not in '<>:"/\\|?*')
    return base[:200] or "document"


def check_upload(filename: str, stream, max_bytes: int) -> tuple[str, str, int]:
    """(clean name, content type, size) of an acceptable upload; raises InvalidValue."""
    name = clean_filename(filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED:
        raise InvalidValue(
            "file", _l("Files of this type cannot be attached: %(name)s") % {"name": name}
        )
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size == 0:
        raise InvalidValue("file", _l("The file is empty."))
    if size > max_bytes:
        raise TooLarge(mb=max_bytes // (1024 * 1024))
    head = stream.read(8)
    stream.seek(0)
    if extension in SIGNATURES and not head.startswith(SIGNATURES[extension]):
        raise InvalidValue(
            "file", _l("The content of %(name)s does not match its type.") % {"name": name}
        )
    return name, ALLOWED[extension], size


def attach(
    partner_id: int,
    uploader_id: int | None,
    filename: str,
    stream,
    *,
    visibility: str = "all",
    role_ids=(),
    user_ids=(),
    description: str | None = None,
) -> Document:
    """Check, store and record one file; a refused file leaves nothing behind."""
    from flask_appbuilder.security.sqla.models import Role, User

    fetch(Partner, partner_id)
    max_bytes = current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    name, content_type, size = check_upload(filename, stream, max_bytes)
    stored = uuid.uuid4().hex
    target = storage_dir() / stored
    with open(target, "wb") as out:
        out.write(stream.read())
    try:
        with acting_as(uploader_id):
            document = Document(
                partner_id=partner_id,
                filename=name,
                stored_name=stored,
                size=size,
                content_type=content_type,
                visibility=visibility,
                uploader_id=uploader_id,
                description=description or None,
            )
            if visibility == "roles":
                document.roles = list(
                    db.session.scalars(select(Role).where(Role.id.in_(list(role_ids))))
                )
            if visibility == "users":
                document.users = list(
                    db.session.scalars(select(User).where(User.id.in_(list(user_ids))))
                )
            db.session.add(document)
    except Exception:
        target.unlink(missing_ok=True)
        raise
    return document


def path_of(document: Document) -> Path:
    return path_of_stored(document.stored_name)


def path_of_stored(stored_name: str) -> Path:
    """Where a stored upload lives: generated names only, never the user's."""
    return storage_dir() / stored_name


def visible_condition(user):
    """Who sees a document, for this user: staff by the document's visibility, a zone user
    only the documents of their own partner that are visible in the zone."""
    if user is None:
        return Document.id.is_(None)
    names = {role.name for role in user.roles}
    if names and names <= set(ZONE_ROLES.values()):
        member = db.session.get(ZoneMember, user.id)
        if member is None or not user.active:
            return Document.id.is_(None)
        return Document.visible_to(user.id, [], zone_partner_id=member.partner_id)
    return Document.visible_to(user.id, [role.id for role in user.roles])


def visible(user, query=None):
    """Documents the user may see (lists, counts, search, downloads and the zone all go
    through here)."""
    query = query if query is not None else select(Document)
    return query.where(visible_condition(user))


def audit_visible(user):
    """Change-log entries the user may read: a document's entries only while the user may see
    the document (name, description and stored name are in them); its deletion says none."""
    role_ids = [r.id for r in user.roles] if user is not None else []
    seen = select(Document.id).where(Document.visible_to(getattr(user, "id", None), role_ids))
    return ~(
        (AuditLog.entity == Document.__audited__.entity)
        & (AuditLog.action != "delete")
        & AuditLog.entity_id.not_in(seen)
    )


def find_visible(user, document_id: int) -> Document | None:
    return db.session.scalar(visible(user).where(Document.id == document_id))


def remove(document: Document) -> None:
    db.session.delete(document)
    db.session.commit()


def _stored_files_of(session: Session, obj) -> list[str]:
    """The stored files a deleted record takes with it, its database cascades included."""
    if isinstance(obj, (Document, Comment)):
        return [obj.stored_name] if obj.stored_name else []
    files = select(Comment.stored_name).where(Comment.stored_name.is_not(None))
    if isinstance(obj, Partner):
        documents = select(Document.stored_name).where(Document.partner_id == obj.id)
        files = files.where(
            or_(
                Comment.task_id.in_(select(Task.id).where(Task.partner_id == obj.id)),
                Comment.offer_id.in_(select(Offer.id).where(Offer.partner_id == obj.id)),
            )
        )
        return list(session.scalars(documents)) + list(session.scalars(files))
    if isinstance(obj, Task):
        return list(session.scalars(files.where(Comment.task_id == obj.id)))
    if isinstance(obj, Offer):
        return list(session.scalars(files.where(Comment.offer_id == obj.id)))
    return []


@event.listens_for(Session, "before_flush")
def _collect_deleted_files(session: Session, flush_context, instances) -> None:
    for obj in session.deleted:
        if isinstance(obj, (Document, Comment, Partner, Task, Offer)) and obj.id is not None:
            session.info.setdefault("files_to_remove", set()).update(_stored_files_of(session, obj))


@event.listens_for(Session, "after_commit")
def _remove_files_after_commit(session: Session) -> None:
    names = session.info.pop("files_to_remove", None)
    if names and has_app_context():
        for name in names:
            path_of_stored(name).unlink(missing_ok=True)


@event.listens_for(Session, "after_rollback")
def _keep_files_after_rollback(session: Session) -> None:
    session.info.pop("files_to_remove", None)


def sweep_orphan_files(min_age: int = ORPHAN_AGE, batch: int = 500) -> int:
    """Remove stored files that no document or comment points at and that are older than
    `min_age` seconds (a run killed between writing a file and committing its row, or
    before removing a deleted record's file). Returns how many were removed."""
    cutoff = time.time() - min_age
    candidates = [p for p in storage_dir().iterdir() if p.is_file() and p.stat().st_mtime < cutoff]
    removed = 0
    for first in range(0, len(candidates), batch):
        chunk = {p.name: p for p in candidates[first : first + batch]}
        known = set(
            db.session.scalars(select(Document.stored_name).where(Document.stored_name.in_(chunk)))
        )
        known |= set(
            db.session.scalars(select(Comment.stored_name).where(Comment.stored_name.in_(chunk)))
        )
        for name in chunk.keys() - known:
            chunk[name].unlink(missing_ok=True)
            removed += 1
    return removed


__all__ = [
    "attach",
    "visible",
    "visible_condition",
    "audit_visible",
    "find_visible",
    "remove",
    "sweep_orphan_files",
]
