"""The Client Zone and the Partner Zone: zone users and their invitations, tasks and offers
shared with them, comments, news; and who counts as a zone user for the other areas' rules."""

from __future__ import annotations

import re
from datetime import datetime

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import Role, assoc_user_role
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    inspect,
    select,
    union,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.errors import InvalidValue, ZoneForbidden
from app.models.audit import Audited
from app.models.base import (
    ZONE_ROLES,
    actor_is_zone_user,
    changed_columns,
    check_choice,
    current_actor_id,
    forbid_to_zone_users,
    required_text,
    utcnow,
)
from app.models.documents import Document
from app.models.partners import Partner, Person
from app.models.sales import Offer
from app.models.tasks import Task

ZONE_LABELS = {"client": _l("Client Zone"), "partner": _l("Partner Zone")}
SHARE_ROLE_LABELS = {"performer": _l("Performer"), "watcher": _l("Watcher")}
COMMENT_KIND_LABELS = {"comment": _l("Comment"), "file": _l("File"), "link": _l("Link")}
NEWS_AUDIENCE_LABELS = {
    "client": _l("Client Zone"),
    "partner": _l("Partner Zone"),
    "one": _l("One partner"),
}


class ZoneMember(Model):
    """A Client Zone or Partner Zone user: the partner they belong to, and as whom."""

    __tablename__ = "zone_member"
    __table_args__ = (CheckConstraint("zone IN ('client', 'partner')", name="ck_zone_member_zone"),)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), unique=True
    )
    zone: Mapped[str] = mapped_column(String(8), nullable=False)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    partner: Mapped[Partner] = relationship()
    person: Mapped[Person | None] = relationship(foreign_keys=[person_id])

    @validates("zone")
    def _zone(self, key, value):
        return check_choice(key, value, ZONE_LABELS)

    @property
    def zone_label(self) -> str:
        return str(ZONE_LABELS.get(self.zone, self.zone))

    @property
    def active(self) -> bool:
        return bool(self.user and self.user.active)

    @property
    def last_login(self) -> datetime | None:
        return self.user.last_login if self.user else None


class ZoneInvitation(Model):
    """A one-time link to set a password; only its hash is kept."""

    __tablename__ = "zone_invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ZoneShare(Model):
    """A task or an offer shared with a zone user of its partner, as performer or watcher."""

    __tablename__ = "zone_share"
    __audited__ = Audited("zone_share", _l("Zone access"))
    __table_args__ = (
        CheckConstraint("(task_id IS NULL) <> (offer_id IS NULL)", name="ck_zone_share_one"),
        CheckConstraint("role IN ('performer', 'watcher')", name="ck_zone_share_role"),
        UniqueConstraint("user_id", "task_id", name="uq_zone_share_task"),
        UniqueConstraint("user_id", "offer_id", name="uq_zone_share_offer"),
        Index("ix_zone_share_task", "task_id"),
        Index("ix_zone_share_offer", "offer_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("zone_member.user_id", ondelete="CASCADE"), nullable=False
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10), nullable=False, default="watcher")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    member: Mapped[ZoneMember] = relationship(lazy="joined")
    task: Mapped[Task | None] = relationship()
    offer: Mapped[Offer | None] = relationship()

    @validates("role")
    def _role(self, key, value):
        return check_choice(key, value or "watcher", SHARE_ROLE_LABELS)

    @property
    def role_label(self) -> str:
        return str(SHARE_ROLE_LABELS.get(self.role, self.role))


@event.listens_for(ZoneShare, "before_insert")
@event.listens_for(ZoneShare, "before_update")
def _share_within_the_partner(mapper, connection, target: ZoneShare) -> None:
    """A zone user sees only their own partner's records: nothing else can be shared."""
    record = Task if target.task_id else Offer
    record_id = target.task_id or target.offer_id
    partner_id = connection.execute(
        select(record.partner_id).where(record.id == record_id)
    ).scalar()
    member_partner = connection.execute(
        select(ZoneMember.partner_id).where(ZoneMember.user_id == target.user_id)
    ).scalar()
    if partner_id is None or partner_id != member_partner:
        raise InvalidValue(
            "user", _l("Only a zone user of the record's own partner can be given access to it.")
        )


class Comment(Model):
    """A comment, a file or a link on a task or an offer: internal unless it is marked
    visible to the zone; what a zone user writes is visible to the zone."""

    __tablename__ = "comment"
    __audited__ = Audited("comment", _l("Comment"))
    __table_args__ = (
        CheckConstraint("(task_id IS NULL) <> (offer_id IS NULL)", name="ck_comment_one"),
        CheckConstraint("kind IN ('comment', 'file', 'link')", name="ck_comment_kind"),
        Index("ix_comment_task", "task_id", "created_at"),
        Index("ix_comment_offer", "offer_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default="comment")
    body: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2000))
    filename: Mapped[str | None] = mapped_column(String(255))
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(120))
    size: Mapped[int | None] = mapped_column(Integer)
    zone_visible: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    author = relationship("User", lazy="joined")

    @validates("kind")
    def _kind(self, key, value):
        return check_choice(key, value or "comment", COMMENT_KIND_LABELS)

    @validates("url")
    def _url(self, key, value):
        value = (value or "").strip()
        if not value:
            return None
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
            raise InvalidValue(key, _l("%(value)s is not a valid web address.") % {"value": value})
        return value

    @property
    def kind_label(self) -> str:
        return str(COMMENT_KIND_LABELS.get(self.kind, self.kind))


@event.listens_for(Comment, "before_insert")
def _comment_is_whole(mapper, connection, target: Comment) -> None:
    needed = {
        "comment": ("body", _l("Text")),
        "link": ("url", _l("Web address")),
        "file": ("stored_name", _l("File")),
    }[target.kind]
    if not (getattr(target, needed[0]) or "").strip():
        raise InvalidValue(needed[0], _l("%(field)s is required.") % {"field": needed[1]})
    target.author_id = target.author_id or current_actor_id()
    if actor_is_zone_user():
        target.zone_visible = True


@event.listens_for(Comment, "before_update")
def _comment_content_is_fixed(mapper, connection, target: Comment) -> None:
    changed = changed_columns(target)
    # Only the visibility may change, and only by staff; the author's user may go (SET NULL).
    if changed - {"zone_visible", "author_id"} or (
        "zone_visible" in changed and actor_is_zone_user()
    ):
        raise ZoneForbidden()


event.listen(Comment, "before_delete", forbid_to_zone_users)


class News(Model):
    """News published for the Client Zone, the Partner Zone, or one partner's zone users."""

    __tablename__ = "news"
    __audited__ = Audited("news", _l("News"))
    __table_args__ = (
        CheckConstraint("audience IN ('client', 'partner', 'one')", name="ck_news_audience"),
        CheckConstraint("audience <> 'one' OR partner_id IS NOT NULL", name="ck_news_partner"),
        Index("ix_news_published", "published_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    audience: Mapped[str] = mapped_column(String(8), nullable=False, default="client")
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    published_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    partner: Mapped[Partner | None] = relationship()
    author = relationship("User")

    @validates("title", "body")
    def _required(self, key, value):
        return required_text(key, value, {"title": _l("Title"), "body": _l("Text")}[key])

    @validates("audience")
    def _audience(self, key, value):
        return check_choice(key, value or "client", NEWS_AUDIENCE_LABELS)

    def __str__(self) -> str:
        return self.title


@event.listens_for(News, "before_insert")
@event.listens_for(News, "before_update")
def _news_for_one_partner(mapper, connection, target: News) -> None:
    if target.audience == "one" and target.partner_id is None:
        raise InvalidValue("partner", _l("Choose the partner the news is for."))
    if target.audience != "one":
        target.partner_id = None
    target.author_id = target.author_id or current_actor_id()
    target.published_at = target.published_at or utcnow()


# Who counts as a zone user takes the zone's members, so the guards that keep zone users off a
# task's people and a document's chosen users live here rather than beside Task and Document:
# tasks.py and documents.py would have to import this module, which imports them.
def zone_user_ids():
    """Ids of the users who reach only the portal: zone members and holders of the Client
    or Partner role. They are never a task's responsible or collaborator, nor a document's
    chosen user."""
    return union(
        select(assoc_user_role.c.user_id)
        .join(Role, Role.id == assoc_user_role.c.role_id)
        .where(Role.name.in_(ZONE_ROLES.values())),
        select(ZoneMember.user_id),
    )


def _refuse_zone_users(connection, field: str, user_ids) -> None:
    wanted = {i for i in user_ids if i is not None}
    zone_users = zone_user_ids().subquery()
    if (
        wanted
        and connection.execute(
            select(func.count()).select_from(zone_users).where(zone_users.c.user_id.in_(wanted))
        ).scalar()
    ):
        raise InvalidValue(field, _l("A Client Zone or Partner Zone user cannot be chosen here."))


def _added_users(target, relation: str) -> list[int | None]:
    return [user.id for user in inspect(target).attrs[relation].history.added]


@event.listens_for(Task, "before_insert", propagate=True)
@event.listens_for(Task, "before_update", propagate=True)
def _task_people_are_staff(mapper, connection, target: Task) -> None:
    state = inspect(target)
    if not state.persistent or state.attrs.responsible_id.history.has_changes():
        _refuse_zone_users(connection, "responsible", [target.responsible_id])
    _refuse_zone_users(connection, "collaborators", _added_users(target, "collaborators"))


@event.listens_for(Document, "before_insert")
@event.listens_for(Document, "before_update")
def _document_users_are_staff(mapper, connection, target: Document) -> None:
    _refuse_zone_users(connection, "users", _added_users(target, "users"))
