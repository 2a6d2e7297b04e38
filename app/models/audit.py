"""The change log: who changed which field of a partner-related record, from what to what, and
when. A model is audited where it is defined: `__audited__ = Audited("offer", _l("Offer"))`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from flask_appbuilder import Model
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.models.base import current_actor_id, utcnow

AUDIT_ACTION_LABELS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted")}
AUDIT_SKIP = {
    # read with an offer's overview (app/services/quotes.py), no column of its own
    "line_count",
    "latest_quote_id",
    "created_at",
    "updated_at",
    "created_by_id",
    "updated_by_id",
    "display_name",
    "type",
    "search_text",
    "name_text",
}


class Audited(NamedTuple):
    """How a model's changes are logged: the entity name of its log rows, the name users read
    for it, and the many-to-many relations whose changes are logged too."""

    entity: str
    label: LazyString
    relations: tuple[str, ...] = ()


def audited_models() -> list[type]:
    """Every model that says it is audited."""
    return [
        mapper.class_
        for mapper in Model.registry.mappers
        if getattr(mapper.class_, "__audited__", None)
    ]


class AuditLog(Model):
    """Who changed which field of a partner-related record, from what to what, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_partner_at", "partner_id", "at"),
        Index("ix_audit_entity", "entity", "entity_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(8), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[int] = mapped_column(Integer, nullable=False)
    partner_id: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    user = relationship("User", lazy="joined")


@event.listens_for(Model, "mapper_configured", propagate=True)
def _keep_old_values(mapper, class_) -> None:
    # Setting an expired attribute loses its old value; the audit needs it, so load it first.
    if getattr(class_, "__audited__", None):
        for attr in mapper.column_attrs:
            class_.__mapper__.class_manager[attr.key].impl.active_history = True


def _audit_partners(obj) -> list[int | None]:
    """The partners whose history shows the change: the record's `partner_id`, unless the
    record names them with `audit_partner_ids()`."""
    if hasattr(obj, "audit_partner_ids"):
        return obj.audit_partner_ids()
    return [getattr(obj, "partner_id", None)]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, set)):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def _changes(obj, action: str, audited: Audited) -> list[tuple[str | None, str | None, str | None]]:
    state = inspect(obj)
    result = []
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in AUDIT_SKIP or key == "id":
            continue
        value = getattr(obj, key)
        if action == "create":
            if value not in (None, "", False):
                result.append((key, None, _text(value)))
        elif action == "update":
            hist = state.attrs[key].history
            if hist.has_changes():
                old = hist.deleted[0] if hist.deleted else None
                if _text(old) != _text(value):
                    result.append((key, _text(old), _text(value)))
    for relation in audited.relations if action == "update" else ():
        hist = state.attrs[relation].history
        if hist.has_changes():
            old = [c for c in (hist.unchanged + hist.deleted)]
            new = [c for c in (hist.unchanged + hist.added)]
            result.append((relation, _text(old), _text(new)))
    if action == "delete":
        result.append((None, None, None))
    return result


@event.listens_for(Session, "after_flush")
def _record_audit(session: Session, flush_context) -> None:
    rows = []
    now = utcnow()
    actor = current_actor_id()
    for action, objects in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            audited = getattr(type(obj), "__audited__", None)
            if audited is None:
                continue
            if action == "update" and not session.is_modified(obj):
                continue
            for field, old, new in _changes(obj, action, audited):
                for partner_id in _audit_partners(obj):
                    rows.append(
                        dict(
                            at=now,
                            user_id=actor,
                            action=action,
                            entity=audited.entity,
                            entity_id=obj.id,
                            partner_id=partner_id,
                            field=field,
                            old_value=old,
                            new_value=new,
                        )
                    )
    if rows:
        session.connection().execute(AuditLog.__table__.insert(), rows)
