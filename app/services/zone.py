"""The Client Zone and the Partner Zone: who may enter (invitations, suspension), what a zone
user sees — one rule, used by every portal page and download — and the comments, files and
links on shared tasks and offers, with the mails they cause."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, inspect, or_, select, union
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidValue, TooLarge, ZoneForbidden
from app.extensions import db
from app.models import (
    ZONE_LABELS,
    ZONE_ROLES,
    Affiliation,
    Comment,
    Document,
    Invoice,
    News,
    Offer,
    Organization,
    Partner,
    Person,
    Task,
    UserProfile,
    ZoneInvitation,
    ZoneMember,
    ZoneShare,
    changed_columns,
    current_actor_id,
    task_collaborator,
    utcnow,
)
from app.services import acting_as, fetch, take_write_lock
from app.services.auth import set_password
from app.services.documents import check_upload, storage_dir
from app.services.outbox import mail_link, queue_mail
from app.services.tasks import local_time, render_mail
from app.services.users import LOCALES, locale_of, profiles, zone_of

INVITATION_DAYS = 7
RECORDS = {"task": Task, "offer": Offer}


def on(model, record: str):
    """The column of a share or a comment that points at a task or at an offer."""
    return getattr(model, f"{RECORDS[record].__tablename__}_id")


def title_of(item) -> str:
    return item.title if isinstance(item, Task) else item.name


def _user_model():
    return current_app.appbuilder.sm.user_model


def member_of(user_id: int | None) -> ZoneMember | None:
    return db.session.get(ZoneMember, user_id) if user_id else None


def is_zone_user(user) -> bool:
    """A user who reaches only the portal: Client or Partner roles and no other."""
    names = {role.name for role in getattr(user, "roles", None) or []}
    return bool(names) and names <= set(ZONE_ROLES.values())


# --- who may enter -------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(person_id: int, organization_id: int, zone: str, actor_id: int | None):
    """Make a zone user for a contact person of a company and mail them a one-time link to
    set their password. Returns the new user."""
    person = db.session.get(Person, person_id)
    if person is None:
        raise InvalidValue("person", _l("No such person."))
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise InvalidValue("organization", _l("No such company."))
    if zone not in ZONE_LABELS:
        raise InvalidValue("zone", _l("%(value)s is not a valid choice.") % {"value": zone})
    affiliation = db.session.scalar(
        select(Affiliation).where(
            Affiliation.person_id == person_id, Affiliation.organization_id == organization_id
        )
    )
    if affiliation is None:
        raise InvalidValue(
            "organization",
            _l("%(person)s is not a contact person of %(company)s.")
            % {"person": person.display_name, "company": organization.display_name},
        )
    email = affiliation.email or person.email
    if not email:
        raise InvalidValue(
            "email", _l("%(person)s has no e-mail address.") % {"person": person.display_name}
        )
    if db.session.scalar(select(ZoneMember).where(ZoneMember.person_id == person_id)):
        raise Conflict(
            _l("%(person)s already has access to the zone.") % {"person": person.display_name}
        )
    User = _user_model()
    if db.session.scalar(select(User.id).where(or_(User.username == email, User.email == email))):
        raise Conflict(
            _l("A user with the e-mail address %(email)s already exists.") % {"email": email}
        )
    sm = current_app.appbuilder.sm
    with acting_as(actor_id):
        user = sm.add_user(
            username=email,
            first_name=person.first_name,
            last_name=person.last_name,
            email=email,
            role=sm.find_role(ZONE_ROLES[zone]),
            commit=False,
        )
        if not user:
            raise Conflict()
        db.session.add(
            ZoneMember(
                user_id=user.id,
                partner_id=organization_id,
                person_id=person_id,
                zone=zone,
                invited_by_id=actor_id,
            )
        )
        locale = person.language if person.language in LOCALES else None
        db.session.add(UserProfile(user_id=user.id, locale=locale, zone_mail=True))
        db.session.flush()
        _send_invitation(user, zone)
    return user


def reinvite(user_id: int, actor_id: int | None) -> None:
    """A new link (the old ones stop working), for a zone user who lost or let expire theirs."""
    member = member_of(user_id)
    if member is None:
        raise InvalidValue("user", _l("This user is not a zone user."))
    with acting_as(actor_id):
        _send_invitation(member.user, member.zone)


def _send_invitation(user, zone: str) -> None:
    now = utcnow()
    for old in db.session.scalars(
        select(ZoneInvitation).where(
            ZoneInvitation.user_id == user.id, ZoneInvitation.used_at.is_(None)
        )
    ):
        old.used_at = now
    token = secrets.token_urlsafe(32)
    invitation = ZoneInvitation(
        user_id=user.id,
        token_hash=_token_hash(token),
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    db.session.flush()
    prefs = profiles([user.id])
    subject, body = render_mail(
        "zone_invitation",
        locale_of(prefs.get(user.id)),
        user=user,
        zone=ZONE_LABELS[zone],
        days=INVITATION_DAYS,
        link=mail_link("PortalView.welcome", token=token),
    )
    queue_mail(
        db.session, f"zone-invitation:{invitation.id}", user.email, subject, body, check=False
    )


def invitation_user(token: str):
    """The user a still valid, unused link belongs to, or None."""
    invitation = db.session.scalar(
        select(ZoneInvitation).where(ZoneInvitation.token_hash == _token_hash(token))
    )
    if invitation is None or invitation.used_at or invitation.expires_at < utcnow():
        return None
    user = db.session.get(_user_model(), invitation.user_id)
    return user if user is not None and user.active else None


def accept(token: str, password: str):
    """Set the password through the link, once."""
    invitation = db.session.scalar(
        select(ZoneInvitation)
        .where(ZoneInvitation.token_hash == _token_hash(token))
        .with_for_update()
    )
    user = invitation_user(token)
    if user is None:
        raise InvalidValue("token", _l("This link has expired or was already used."))
    with acting_as(user.id):
        set_password(user, password)
        invitation.used_at = utcnow()
    return user


def set_suspended(user_id: int, suspended: bool, actor_id: int | None) -> None:
    """A suspended zone user cannot log in (FAB refuses inactive users) and gets no mail."""
    member = member_of(user_id)
    if member is None:
        raise InvalidValue("user", _l("This user is not a zone user."))
    with acting_as(actor_id):
        member.user.active = not suspended


def member_of_person(person_id: int) -> int | None:
    """The zone user id of a contact person, if they have one."""
    return db.session.scalar(select(ZoneMember.user_id).where(ZoneMember.person_id == person_id))


def members_of(partner_id: int) -> list[ZoneMember]:
    return list(
        db.session.scalars(
            select(ZoneMember)
            .where(ZoneMember.partner_id == partner_id)
            .order_by(ZoneMember.created_at)
        )
    )


# --- what a zone user sees: the one rule ---------------------------------------------------


def _shared(record: str, user_id: int):
    column = on(ZoneShare, record)
    return select(column).where(ZoneShare.user_id == user_id, column.is_not(None))


def visible(record: str, user_id: int):
    """Tasks or offers shared with the zone user, of the user's own partner only (a record
    moved to another partner disappears from the zone at once)."""
    model = RECORDS[record]
    member = member_of(user_id)
    if member is None or not member.user.active:
        return select(model).where(model.id.is_(None))
    return select(model).where(
        model.id.in_(_shared(record, user_id)), model.partner_id == member.partner_id
    )


def find(record: str, user_id: int, record_id: int):
    if record not in RECORDS:
        return None
    model = RECORDS[record]
    return db.session.scalar(visible(record, user_id).where(model.id == record_id))


def share_of(record: str, user_id: int, record_id: int) -> ZoneShare | None:
    column = on(ZoneShare, record)
    return db.session.scalar(
        select(ZoneShare).where(ZoneShare.user_id == user_id, column == record_id)
    )


def comments(record: str, record_id: int, zone_only: bool) -> list[Comment]:
    column = on(Comment, record)
    query = select(Comment).where(column == record_id)
    if zone_only:
        query = query.where(Comment.zone_visible.is_(True))
    return list(db.session.scalars(query.order_by(Comment.created_at, Comment.id)))


def find_file(user, comment_id: int) -> Comment | None:
    """A file a user may download: staff with the record's read right, zone users only the
    zone-visible files of their shared records."""
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.kind != "file":
        return None
    record = "task" if comment.task_id else "offer"
    if is_zone_user(user):
        if (
            not comment.zone_visible
            or find(record, user.id, comment.task_id or comment.offer_id) is None
        ):
            return None
    elif not current_app.appbuilder.sm.has_access("can_read", record.capitalize()):
        return None
    return comment


def contacts(user_id: int) -> list:
    """Staff who share at least one task with the zone user: its responsible and its
    collaborators."""
    User = _user_model()
    tasks = visible("task", user_id).with_only_columns(Task.id)
    ids = union(
        select(Task.responsible_id).where(Task.id.in_(tasks)),
        select(task_collaborator.c.user_id).where(task_collaborator.c.task_id.in_(tasks)),
    )
    return list(
        db.session.scalars(
            select(User)
            .where(User.id.in_(ids), User.active.is_(True))
            .order_by(User.last_name, User.first_name)
        )
    )


def news_for(user_id: int, limit: int = 20) -> list[News]:
    member = member_of(user_id)
    if member is None:
        return []
    return list(
        db.session.scalars(
            select(News)
            .where(
                News.published_at <= utcnow(),
                or_(
                    News.audience == member.zone,
                    (News.audience == "one") & (News.partner_id == member.partner_id),
                ),
            )
            .order_by(News.published_at.desc())
            .limit(limit)
        )
    )


# --- the money and the documents of the zone user's own partner ---------------------------


def _own_partner(user_id: int | None) -> int | None:
    """The partner whose money and documents the zone user sees: their own, while active."""
    member = member_of(user_id)
    if member is None or not member.user.active:
        return None
    return member.partner_id


def account(user_id: int, today=None) -> dict | None:
    """The current account of the zone user's partner as staff see it — issued invoices
    and credit notes (never drafts), what is paid and due, the balance and the overdue sum
    per currency — and nothing of any other partner."""
    from app.services.invoicing import current_account

    partner_id = _own_partner(user_id)
    return None if partner_id is None else current_account(partner_id, today)


def find_invoice(user_id: int, invoice_id: int) -> Invoice | None:
    """An issued invoice or credit note of the zone user's partner; None for a draft or an
    invoice of anyone else."""
    partner_id = _own_partner(user_id)
    if partner_id is None:
        return None
    return db.session.scalar(
        select(Invoice).where(
            Invoice.id == invoice_id,
            Invoice.partner_id == partner_id,
            Invoice.status != "draft",
        )
    )


def _zone_documents(user):
    """The documents of the zone user's own partner that are visible in the zone (the
    documents' one rule, `Document.visible_to`), scoped by the membership whatever roles
    the user holds besides."""
    partner_id = _own_partner(getattr(user, "id", None))
    if partner_id is None:
        return select(Document).where(Document.id.is_(None))
    return select(Document).where(Document.visible_to(user.id, [], zone_partner_id=partner_id))


def documents(user, limit: int = 500) -> list[Document]:
    """The partner's documents that are visible in the zone, newest first."""
    return list(
        db.session.scalars(
            _zone_documents(user)
            .order_by(Document.created_at.desc(), Document.id.desc())
            .limit(limit)
        )
    )


def find_document(user, document_id: int) -> Document | None:
    return db.session.scalar(_zone_documents(user).where(Document.id == document_id))


# --- what zone users and staff do ----------------------------------------------------------


def zone_upload_bytes(partner_id: int) -> int:
    """What the zone users of a partner have uploaded so far."""
    return db.session.scalar(
        select(func.coalesce(func.sum(Comment.size), 0))
        .join(ZoneMember, ZoneMember.user_id == Comment.author_id)
        .where(ZoneMember.partner_id == partner_id, Comment.kind == "file")
    )


def _check_quota(partner_id: int, size: int) -> None:
    quota = current_app.config["ZONE_UPLOAD_QUOTA_MB"]
    # Two uploads at once take their turns: SQLite's write lock, or the partner's row on
    # PostgreSQL, before the sum is read.
    take_write_lock()
    db.session.execute(select(Partner.id).where(Partner.id == partner_id).with_for_update())
    if zone_upload_bytes(partner_id) + size > quota * 1024 * 1024:
        raise TooLarge(
            _l("The files uploaded in the zone for this partner would take more than %(mb)s MB."),
            mb=quota,
        )


def add(
    record: str,
    record_id: int,
    author,
    kind: str,
    *,
    body: str | None = None,
    url: str | None = None,
    upload=None,
    zone_visible: bool = False,
) -> Comment:
    """A comment, link or file on a task or offer. A zone user may add to their shared
    records only (and what they add is visible to the zone); files pass the documents'
    checks before anything is stored."""
    if record not in RECORDS:
        raise InvalidValue("record", _l("No such record."))
    if is_zone_user(author):
        if find(record, author.id, record_id) is None:
            raise ZoneForbidden()
    elif db.session.get(RECORDS[record], record_id) is None:
        raise InvalidValue("record", _l("No such record."))
    comment = Comment(
        kind=kind,
        body=(body or "").strip() or None,
        url=url,
        zone_visible=zone_visible,
        author_id=author.id,
        **{f"{record}_id": record_id},
    )
    target = None
    if kind == "file":
        if upload is None or not upload.filename:
            raise InvalidValue("file", _l("Choose a file."))
        max_bytes = current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024
        name, content_type, size = check_upload(upload.filename, upload.stream, max_bytes)
        if is_zone_user(author):
            _check_quota(member_of(author.id).partner_id, size)
        comment.filename, comment.content_type, comment.size = name, content_type, size
        comment.stored_name = secrets.token_hex(16)
        target = storage_dir() / comment.stored_name
        target.write_bytes(upload.stream.read())
    try:
        with acting_as(author.id):
            db.session.add(comment)
    except Exception:
        if target is not None:
            target.unlink(missing_ok=True)
        raise
    return comment


def set_visibility(comment_id: int, zone_visible: bool, actor_id: int | None) -> Comment:
    comment = fetch(Comment, comment_id)
    with acting_as(actor_id):
        comment.zone_visible = zone_visible
    return comment


def complete(user, task_id: int, done: bool = True) -> Task:
    """A zone user who performs a task marks it done, where staff allow it on the task."""
    task = find("task", user.id, task_id)
    share = share_of("task", user.id, task_id) if task else None
    if task is None or share is None or share.role != "performer" or not task.zone_may_complete:
        raise ZoneForbidden()
    with acting_as(user.id):
        task.done = done
    return task


def allow_completion(task_id: int, allow: bool, actor_id: int | None) -> Task:
    """Staff let the task's performers in the zone mark it done (or no longer)."""
    task = fetch(Task, task_id)
    with acting_as(actor_id):
        task.zone_may_complete = allow
    return task


def share(record: str, record_id: int, user_id: int, role: str, actor_id: int | None) -> ZoneShare:
    """Give a zone user of the record's partner access to it (or change their role)."""
    found = share_of(record, user_id, record_id)
    with acting_as(actor_id):
        found = found or ZoneShare(user_id=user_id, **{f"{record}_id": record_id})
        found.role = role
        db.session.add(found)
    return found


def unshare(share_id: int, actor_id: int | None) -> ZoneShare:
    found = fetch(ZoneShare, share_id)
    with acting_as(actor_id):
        db.session.delete(found)
    return found


def shares(record: str, record_id: int) -> list[ZoneShare]:
    column = on(ZoneShare, record)
    return list(
        db.session.scalars(select(ZoneShare).where(column == record_id).order_by(ZoneShare.id))
    )


def candidates(record: str, record_id: int) -> list[ZoneMember]:
    """Zone users who could be given access to the record: active ones of its partner."""
    item = db.session.get(RECORDS[record], record_id)
    if item is None or item.partner_id is None:
        return []
    return [m for m in members_of(item.partner_id) if m.user.active]


# --- mails ---------------------------------------------------------------------------------
# Written in the transaction of the change that causes them, whatever entry point saved it:
# zone users hear of changes, and of zone-visible comments, files and links, on their
# records; staff hear of what zone users write.

ZONE_CHANGES = {
    "title",
    "description",
    "starts_at",
    "due_at",
    "done",
    "name",
    "deadline",
    "amount",
    "status",
}


@event.listens_for(Session, "after_flush")
def _collect_zone_news(session: Session, flush_context) -> None:
    pending = session.info.setdefault("zone_mail", set())
    for obj in list(session.new) + list(session.dirty):
        if (
            isinstance(obj, Comment)
            and obj.zone_visible
            and (obj in session.new or inspect(obj).attrs.zone_visible.history.added)
        ):
            pending.add(("comment", obj.id))
        elif isinstance(obj, (Task, Offer)) and obj not in session.new and _changed(obj):
            pending.add(("task" if isinstance(obj, Task) else "offer", obj.id))
        elif isinstance(obj, ZoneShare) and obj in session.new:
            pending.add(("share", obj.id))


def _changed(obj) -> bool:
    return bool(changed_columns(obj) & ZONE_CHANGES)


@event.listens_for(Session, "after_flush_postexec")
def _queue_zone_news(session: Session, flush_context) -> None:
    pending = session.info.pop("zone_mail", None)
    if not pending or not has_app_context():
        return
    for kind, obj_id in sorted(pending):
        if kind == "comment":
            _mail_comment(session, session.get(Comment, obj_id))
        elif kind == "share":
            _mail_share(session, session.get(ZoneShare, obj_id))
        else:
            _mail_change(session, kind, session.get(RECORDS[kind], obj_id))


def _wants_mail(users) -> list:
    users = [u for u in users if u is not None and u.active and u.email]
    prefs = profiles(u.id for u in users)
    return [(u, prefs.get(u.id)) for u in users if prefs.get(u.id) is None or prefs[u.id].zone_mail]


def _zone_users_of(session: Session, record: str, record_id: int) -> list:
    column = on(ZoneShare, record)
    User = _user_model()
    return list(
        session.scalars(
            select(User).join(ZoneShare, ZoneShare.user_id == User.id).where(column == record_id)
        )
    )


def _staff_of(record: str, item) -> list:
    if record == "task":
        return [item.responsible, *item.collaborators]
    return [item.owner]


def _portal_link(record: str, record_id: int) -> str:
    return mail_link("PortalView.record", record=record, record_id=record_id)


def _staff_link(record: str, record_id: int) -> str:
    return mail_link(("TaskView" if record == "task" else "OfferView") + ".show", pk=record_id)


def _mail_comment(session: Session, comment: Comment | None) -> None:
    if comment is None:
        return
    record = "task" if comment.task_id else "offer"
    record_id = comment.task_id or comment.offer_id
    item = session.get(RECORDS[record], record_id)
    title = title_of(item)
    author = comment.author
    by_zone = is_zone_user(author)
    people = [
        (u, _portal_link(record, record_id))
        for u, _ in _wants_mail(_zone_users_of(session, record, record_id))
    ]
    if by_zone:
        people += [
            (u, _staff_link(record, record_id)) for u, _ in _wants_mail(_staff_of(record, item))
        ]
    prefs = profiles(u.id for u, _ in people)
    for user, link in people:
        if author is not None and user.id == author.id:
            continue
        subject, body = render_mail(
            "zone_comment",
            locale_of(prefs.get(user.id)),
            comment=comment,
            title=title,
            link=link,
            author=author.get_full_name() if author else "",
        )
        queue_mail(session, f"zone-comment:{comment.id}:{user.id}", user.email, subject, body)


def _mail_share(session: Session, found: ZoneShare | None) -> None:
    """A zone user hears of a task or offer staff shared with them."""
    if found is None:
        return
    record = "task" if found.task_id else "offer"
    item = found.task if found.task_id else found.offer
    for user, pref in _wants_mail([found.member.user]):
        subject, body = render_mail(
            "zone_shared",
            locale_of(pref),
            record=record,
            share=found,
            title=title_of(item),
            link=_portal_link(record, item.id),
        )
        queue_mail(session, f"zone-share:{found.id}", user.email, subject, body)


def _mail_change(session: Session, record: str, item) -> None:
    if item is None:
        return
    title = title_of(item)
    stamp = utcnow().strftime("%Y%m%d%H%M%S%f")
    actor = current_actor_id()
    for user, pref in _wants_mail(_zone_users_of(session, record, item.id)):
        if user.id == actor:
            continue
        locale = locale_of(pref)
        due = local_time(item.due_at, zone_of(pref), locale) if record == "task" else None
        subject, body = render_mail(
            "zone_change",
            locale,
            title=title,
            item=item,
            due=due,
            record=record,
            link=_portal_link(record, item.id),
        )
        queue_mail(
            session, f"zone-change:{record}:{item.id}:{user.id}:{stamp}", user.email, subject, body
        )


__all__ = [
    "invite",
    "reinvite",
    "accept",
    "invitation_user",
    "set_suspended",
    "members_of",
    "visible",
    "find",
    "comments",
    "find_file",
    "contacts",
    "news_for",
    "add",
    "set_visibility",
    "complete",
    "allow_completion",
    "share",
    "unshare",
    "shares",
    "candidates",
    "is_zone_user",
    "member_of",
    "member_of_person",
    "account",
    "find_invoice",
    "documents",
    "find_document",
]
