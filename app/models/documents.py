"""Documents attached to partners, with who may see them, and the templates of generated
documents."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.errors import InvalidValue
from app.models.audit import Audited
from app.models.base import association, check_choice, required_text, utcnow
from app.models.partners import Partner

DOCUMENT_VISIBILITY_LABELS = {
    "all": _l("Everyone who sees the partner"),
    "roles": _l("Chosen roles"),
    "users": _l("Chosen users"),
    "uploader": _l("Only the uploader"),
    "zone": _l("Visible in the zone"),
}

document_role = association("document_role", "document", "ab_role")

document_user = association("document_user", "document", "ab_user")


class Document(Model):
    """A file attached to a partner, with who may see and download it."""

    __tablename__ = "document"
    __audited__ = Audited("document", _l("Document"))
    __table_args__ = (
        CheckConstraint(
            "visibility IN ('all', 'roles', 'users', 'uploader', 'zone')",
            name="ck_document_visibility",
        ),
        CheckConstraint("size > 0", name="ck_document_size"),
        Index("ix_document_partner_created", "partner_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False
    )
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(120), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(8), nullable=False, default="all")
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    partner: Mapped[Partner] = relationship()
    uploader = relationship("User", lazy="joined")
    roles = relationship("Role", secondary=document_role)
    users = relationship("User", secondary=document_user)

    @validates("visibility")
    def _visibility(self, key, value):
        return check_choice(key, value or "all", DOCUMENT_VISIBILITY_LABELS)

    @property
    def visibility_label(self) -> str:
        return str(DOCUMENT_VISIBILITY_LABELS.get(self.visibility, self.visibility))

    @classmethod
    def visible_to(cls, user_id: int | None, role_ids: list[int], zone_partner_id=None):
        """The one rule of who sees a document, as a SQL condition for every list and count.
        Staff see "visible in the zone" as "everyone who sees the partner"; a zone user
        (`zone_partner_id`: the partner they belong to) sees only those of that partner."""
        if user_id is None:
            return cls.id.is_(None)
        if zone_partner_id is not None:
            return (cls.visibility == "zone") & (cls.partner_id == zone_partner_id)
        by_role = select(document_role.c.document_id).where(document_role.c.role_id.in_(role_ids))
        by_user = select(document_user.c.document_id).where(document_user.c.user_id == user_id)
        return or_(
            cls.visibility.in_(("all", "zone")),
            cls.uploader_id == user_id,
            (cls.visibility == "roles") & cls.id.in_(by_role),
            (cls.visibility == "users") & cls.id.in_(by_user),
        )

    def __str__(self) -> str:
        return self.filename


class DocumentTemplate(Model):
    """An HTML template with variables ({{ partner.name }}, {{ representative.name }} …)
    that the document generator fills for a partner and turns into a PDF."""

    __tablename__ = "document_template"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    @validates("body")
    def _body(self, key, value):
        from jinja2 import TemplateSyntaxError
        from jinja2.sandbox import SandboxedEnvironment

        value = required_text(key, value, _l("Template"))
        try:
            SandboxedEnvironment().parse(value)
        except TemplateSyntaxError as error:
            raise InvalidValue(
                key,
                _l("The template has an error on line %(line)s: %(error)s")
                % {"line": error.lineno, "error": error.message},
            ) from error
        return value

    def __str__(self) -> str:
        return self.name
