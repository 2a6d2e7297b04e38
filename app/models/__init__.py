"""Tables and the invariants that hold for every entry point: checked on flush."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from flask_appbuilder import Model
from flask_appbuilder.models.mixins import ImageColumn
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    inspect,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import (
    Mapped,
    Session,
    mapped_column,
    relationship,
    validates,
)

from app.errors import (
    BulkChange,
    BulkNoteChange,
    InvalidValue,
    InvoiceLocked,
    NotAuthor,
    NoteLocked,
    OfferStatusError,
    PartnerHasFixedNotes,
    PartnerHasOthersNotes,
    ReadOnlyField,
    ZoneForbidden,
)


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp is stored in (SQLite keeps no time zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


# Who is acting: the web app installs a provider that reads the logged-in user; jobs and
# scripts set `acting_user` themselves. Models never look at a request.
acting_user: ContextVar[int | None] = ContextVar("acting_user", default=None)
_actor_provider: list[Callable[[], int | None]] = []


def set_actor_provider(provider: Callable[[], int | None]) -> None:
    _actor_provider[:] = [provider]


def current_actor_id() -> int | None:
    explicit = acting_user.get()
    if explicit is not None:
        return explicit
    return _actor_provider[0]() if _actor_provider else None


STATUS_LABELS = {
    "lead": _l("Lead"),
    "active": _l("Active"),
    "inactive": _l("Inactive"),
}

NOTE_KIND_LABELS = {
    "note": _l("Note"),
    "call": _l("Phone call"),
    "email": _l("E-mail"),
    "meeting": _l("Meeting"),
    "visit": _l("Visit"),
    "letter": _l("Letter"),
}

ADDRESS_TYPE_LABELS = {
    "residence": _l("Residence"),
    "seat": _l("Seat"),
    "site": _l("Site"),
    "billing": _l("Billing"),
    "postal": _l("Postal"),
}

ENTITY_LABELS = {
    "person": _l("Person"),
    "organization": _l("Company"),
    "affiliation": _l("Contact person"),
    "address": _l("Address"),
    "partner_address": _l("Address link"),
    "note": _l("Note"),
}

AUDIT_ACTION_LABELS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted")}

CODE_CATEGORY_LABELS = {
    "category": _l("Category"),
    "industry": _l("Industry code"),
    "function": _l("Function code"),
}

PAYMENT_METHOD_LABELS = {
    "transfer": _l("Bank transfer"),
    "cash": _l("Cash"),
    "card": _l("Card"),
    "direct_debit": _l("Direct debit"),
}

# Bidi embedding, override and isolate controls (LRE … RLO, LRI … PDI): stored in a name they
# would mirror the text around it on pages, in PDFs and mails. Marks (LRM, RLM) stay.
BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


PHONE_RE = re.compile(r"^\+?[0-9 ()/.\-]{6,25}$")


def _check_in(field: str, value: str | None, allowed: dict, required: bool = True):
    if value is None and not required:
        return value
    if value not in allowed:
        raise InvalidValue(field, _l("%(value)s is not a valid choice.") % {"value": value})
    return value


def clean_email(field: str, value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidValue(
            field, _l("%(value)s is not a valid e-mail address.") % {"value": value}
        ) from error


def clean_phone(field: str, value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not PHONE_RE.match(value) or sum(c.isdigit() for c in value) < 6:
        raise InvalidValue(
            field, _l("%(value)s is not a valid phone number.") % {"value": value}
        )
    return value


def required_text(field: str, value: str | None, label) -> str:
    value = (value or "").translate(BIDI_CONTROLS).strip()
    if not value:
        raise InvalidValue(field, _l("%(field)s is required.") % {"field": label})
    return value


def clean_currency(field: str, value: str | None) -> str:
    return _check_in(field, (value or "HUF").upper(), dict.fromkeys(CURRENCIES))


def to_decimal(field: str, value) -> Decimal:
    """A finite number; NaN and Infinity are no amount, price or quantity."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise InvalidValue(field, _l("%(value)s is not a number.") % {"value": value}) from error
    if not number.is_finite():
        raise InvalidValue(field, _l("%(value)s is not a number.") % {"value": value})
    return number


def non_negative(field: str, value, empty=Decimal(0)) -> Decimal | None:
    if value in (None, ""):
        return empty
    value = to_decimal(field, value)
    if value < 0:
        raise InvalidValue(field, _l("%(value)s cannot be negative.") % {"value": value})
    return value


def clean_vat_rate(field: str, value) -> Decimal:
    value = to_decimal(field, value if value not in (None, "") else 0)
    if not 0 <= value <= 100:
        raise InvalidValue(field, _l("The VAT rate must be between 0 and 100 per cent."))
    return value


def association(name: str, left: str, right: str) -> Table:
    """A many-to-many link table, indexed from its second side too."""
    return Table(
        name,
        Model.metadata,
        Column(f"{left}_id", ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True),
        Column(f"{right.removeprefix('ab_')}_id",
               ForeignKey(f"{right}.id", ondelete="CASCADE"), primary_key=True),
        Index(f"ix_{name}_{right.removeprefix('ab_')}", f"{right.removeprefix('ab_')}_id"),
    )


class Counter(Model):
    """Named counters behind generated numbers; a row lock makes them safe under concurrency."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def next_counter_value(connection, name: str) -> int:
    counter = Counter.__table__
    return connection.execute(
        update(counter)
        .where(counter.c.name == name)
        .values(value=counter.c.value + 1)
        .returning(counter.c.value)
    ).scalar_one()


partner_code = association("partner_code", "partner", "code")


class Code(Model):
    __tablename__ = "code"
    __table_args__ = (
        UniqueConstraint("category", "name", name="uq_code_category_name"),
        CheckConstraint(
            "category IN ('category', 'industry', 'function')", name="ck_code_category"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="category")
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)

    @validates("category")
    def _category(self, key, value):
        return _check_in(key, value, CODE_CATEGORY_LABELS)

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    def __str__(self) -> str:
        return self.name


class Address(Model):
    """A central address: linked to many partners, edited once."""

    __tablename__ = "address"
    __table_args__ = (
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="ck_lat"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="ck_lon"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    street: Mapped[str] = mapped_column(String(200), nullable=False)
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    country: Mapped[str | None] = mapped_column(String(2), default="HU")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)

    links: Mapped[list[PartnerAddress]] = relationship(
        back_populates="address", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("street", "city")
    def _required(self, key, value):
        return required_text(key, value, {"street": _l("Street"), "city": _l("City")}[key])

    @validates("latitude", "longitude")
    def _coordinate(self, key, value):
        if value in (None, ""):
            return None
        limit = 90 if key == "latitude" else 180
        if not -limit <= float(value) <= limit:
            raise InvalidValue(
                key, _l("%(value)s is out of range.") % {"value": value}
            )
        return float(value)

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    def __str__(self) -> str:
        place = " ".join(p for p in (self.postal_code, self.city) if p)
        return ", ".join(p for p in (self.street, place, self.country) if p)


class Partner(Model):
    """A person or an organization; one data sheet each."""

    __tablename__ = "partner"
    __table_args__ = (
        CheckConstraint("status IN ('lead', 'active', 'inactive')", name="ck_partner_status"),
        CheckConstraint("type IN ('person', 'organization')", name="ck_partner_type"),
        Index("ix_partner_type_name", "type", "display_name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    customer_number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False,
                                                 active_history=True)
    display_name: Mapped[str] = mapped_column(String(250), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="lead")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(250))
    language: Mapped[str | None] = mapped_column(String(5))
    picture: Mapped[str | None] = mapped_column(
        ImageColumn(thumbnail_size=(80, 80, True), size=(400, 400, True))
    )
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL")
    )

    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    created_by = relationship("User", foreign_keys=[created_by_id])
    updated_by = relationship("User", foreign_keys=[updated_by_id])
    codes: Mapped[list[Code]] = relationship(secondary=partner_code, order_by=Code.name)
    address_links: Mapped[list[PartnerAddress]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", passive_deletes=True
    )
    notes: Mapped[list[Note]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Note.created_at.desc()",
    )

    __mapper_args__ = {"polymorphic_on": type}

    @validates("status")
    def _status(self, key, value):
        return _check_in(key, value or "lead", STATUS_LABELS)

    @validates("email")
    def _email(self, key, value):
        return clean_email(key, value)

    @validates("phone", "mobile")
    def _phone(self, key, value):
        return clean_phone(key, value)

    @validates("language")
    def _language(self, key, value):
        return _check_in(key, value or None, LANGUAGE_NAMES, required=False)

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.status, self.status))

    def address_of(self, *types: str) -> Address | None:
        for wanted in types:
            for link in self.address_links:
                if link.type == wanted:
                    return link.address
        return None

    @property
    def main_address(self) -> Address | None:
        return self.address_of("residence", "seat", "site", "postal", "billing")

    @property
    def billing_address(self) -> Address | None:
        return self.address_of("billing") or self.main_address

    def refresh_display_name(self) -> None:
        """Subclasses say how their name reads."""

    def assert_deletable(self, connection) -> None:
        """A partner whose history is fixed stays: its notes could not go with it. Nor do
        other users' notes go with it unasked (the note's own rule: only its author)."""
        notes = select(Note.id).where(Note.partner_id == self.id)
        if connection.execute(notes.where(Note.locked_after <= utcnow()).limit(1)).first():
            raise PartnerHasFixedNotes()
        actor = current_actor_id()
        if actor is not None and connection.execute(notes.where(or_(
                Note.author_id.is_(None), Note.author_id != actor)).limit(1)).first():
            raise PartnerHasOthersNotes()

    def __str__(self) -> str:
        return self.display_name or ""


LANGUAGE_NAMES = {"en": "English", "hu": "Magyar", "pl": "Polski", "de": "Deutsch", "ru": "Русский"}


class Person(Partner):
    __tablename__ = "person"
    __table_args__ = (Index("ix_person_last_first", "last_name", "first_name"),)
    id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(40))
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    birthday: Mapped[date | None] = mapped_column(Date)
    bank_account: Mapped[str | None] = mapped_column(String(64))
    payment_method: Mapped[str | None] = mapped_column(String(16))

    affiliations: Mapped[list[Affiliation]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True,
        foreign_keys="Affiliation.person_id",
    )

    __mapper_args__ = {"polymorphic_identity": "person"}

    @validates("first_name", "last_name")
    def _names(self, key, value):
        label = {"first_name": _l("First name"), "last_name": _l("Last name")}[key]
        return required_text(key, value, label)

    @validates("payment_method")
    def _payment(self, key, value):
        return _check_in(key, value or None, PAYMENT_METHOD_LABELS, required=False)

    @validates("birthday")
    def _birthday(self, key, value):
        if value is not None and value > date.today():
            raise InvalidValue(key, _l("A birthday cannot be in the future."))
        return value

    def refresh_display_name(self) -> None:
        self.display_name = " ".join(
            p for p in (self.title, self.first_name, self.last_name) if p
        )

    def days_to_birthday(self, today: date) -> int | None:
        if not self.birthday:
            return None
        for year in (today.year, today.year + 1):
            try:
                upcoming = self.birthday.replace(year=year)
            except ValueError:  # 29 February in a common year
                upcoming = date(year, 3, 1)
            if upcoming >= today:
                return (upcoming - today).days
        return None


class Organization(Partner):
    __tablename__ = "organization"
    __table_args__ = ()
    id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(250), nullable=False, index=True)
    tax_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    registration_number: Mapped[str | None] = mapped_column(String(40))
    industry_code: Mapped[str | None] = mapped_column(String(20))

    affiliations: Mapped[list[Affiliation]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True,
        foreign_keys="Affiliation.organization_id",
    )

    __mapper_args__ = {"polymorphic_identity": "organization"}

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    @validates("tax_number")
    def _tax_number(self, key, value):
        return (value or "").strip() or None

    def refresh_display_name(self) -> None:
        self.display_name = self.name


class PartnerAddress(Model):
    """The link of a central address to a partner, with the address's role for it."""

    __tablename__ = "partner_address"
    __table_args__ = (
        UniqueConstraint("partner_id", "address_id", "type", name="uq_partner_address"),
        CheckConstraint(
            "type IN ('residence', 'seat', 'site', 'billing', 'postal')",
            name="ck_partner_address_type",
        ),
        Index("ix_partner_address_address", "address_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False
    )
    address_id: Mapped[int] = mapped_column(
        ForeignKey("address.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(16), nullable=False, default="residence")

    partner: Mapped[Partner] = relationship(back_populates="address_links")
    address: Mapped[Address] = relationship(back_populates="links", lazy="joined")

    @validates("type")
    def _type(self, key, value):
        return _check_in(key, value, ADDRESS_TYPE_LABELS)

    @property
    def type_label(self) -> str:
        return str(ADDRESS_TYPE_LABELS.get(self.type, self.type))

    def __str__(self) -> str:
        return f"{self.type_label}: {self.address}"


class Affiliation(Model):
    """A person in an organization, with contact details and the contact-person flags."""

    __tablename__ = "affiliation"
    __table_args__ = (
        Index("ix_affiliation_org_flags", "organization_id", "may_collect_mail"),
        Index("ix_affiliation_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), nullable=False
    )
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="SET NULL"))
    is_contact_person: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    may_collect_mail: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    may_represent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    additional_info: Mapped[str | None] = mapped_column(Text)

    person: Mapped[Person] = relationship(
        back_populates="affiliations", foreign_keys=[person_id], lazy="joined"
    )
    organization: Mapped[Organization] = relationship(
        back_populates="affiliations", foreign_keys=[organization_id], lazy="joined"
    )
    address: Mapped[Address | None] = relationship()

    @validates("email")
    def _email(self, key, value):
        return clean_email(key, value)

    @validates("phone")
    def _phone(self, key, value):
        return clean_phone(key, value)

    def __str__(self) -> str:
        return f"{self.person} – {self.organization}"


class Note(Model):
    """An entry of the partner's history; fixed NOTE_EDIT_MINUTES after it is written."""

    __tablename__ = "note"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('note', 'call', 'email', 'meeting', 'visit', 'letter')",
            name="ck_note_kind",
        ),
        Index("ix_note_partner_created", "partner_id", "created_at"),
        Index("ix_note_partner_pinned", "partner_id", "pinned"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="note")
    body: Mapped[str] = mapped_column(Text, nullable=False)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime)
    pinned: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False,
                                                 active_history=True)
    # Set once at insert from NOTE_EDIT_MINUTES; the database refuses changes after it too.
    locked_after: Mapped[datetime] = mapped_column(DateTime, nullable=False,
                                                   active_history=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    partner: Mapped[Partner] = relationship(back_populates="notes")
    author = relationship("User", lazy="joined")

    @validates("kind")
    def _kind(self, key, value):
        return _check_in(key, value or "note", NOTE_KIND_LABELS)

    @validates("body")
    def _body(self, key, value):
        return required_text(key, value, _l("Text"))

    @property
    def kind_label(self) -> str:
        return str(NOTE_KIND_LABELS.get(self.kind, self.kind))

    @staticmethod
    def edit_minutes() -> int:
        if has_app_context():
            return int(current_app.config.get("NOTE_EDIT_MINUTES", 30))
        return 30

    def locks_at(self) -> datetime:
        if self.locked_after is not None:
            return self.locked_after
        return (self.created_at or utcnow()) + timedelta(minutes=self.edit_minutes())

    def is_locked(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.locks_at()

    def may_be_changed_by(self, user_id: int | None) -> bool:
        return not self.is_locked() and user_id is not None and user_id == self.author_id

    def assert_changeable(self) -> None:
        if self.is_locked():
            raise NoteLocked(minutes=self.edit_minutes())
        actor = current_actor_id()
        if actor is not None and actor != self.author_id:
            raise NotAuthor()

    def assert_deletable(self, connection) -> None:
        self.assert_changeable()

    def __str__(self) -> str:
        return self.body[:60]


NOTE_CONTENT = ("kind", "body", "occurred_at", "pinned", "partner_id")


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


# --- invariants on flush -------------------------------------------------------------------


@event.listens_for(Partner, "before_insert", propagate=True)
def _number_new_partner(mapper, connection, target: Partner) -> None:
    target.customer_number = f"{next_counter_value(connection, 'customer_number'):06d}"
    target.refresh_display_name()
    target.created_by_id = target.created_by_id or current_actor_id()
    target.updated_by_id = target.created_by_id


@event.listens_for(Partner, "before_update", propagate=True)
def _guard_partner(mapper, connection, target: Partner) -> None:
    if inspect(target).attrs.customer_number.history.deleted:
        raise ReadOnlyField(field=_l("Customer number"))
    target.refresh_display_name()
    target.updated_by_id = current_actor_id() or target.updated_by_id


@event.listens_for(Partner, "before_delete", propagate=True)
def _guard_partner_delete(mapper, connection, target: Partner) -> None:
    target.assert_deletable(connection)


@event.listens_for(Note, "before_insert")
def _note_author(mapper, connection, target: Note) -> None:
    """A note is written now (a later time would put off its lock) and locks after the
    configured minutes; an earlier time is for history brought in from elsewhere."""
    now = utcnow()
    if target.created_at is not None and target.created_at > now:
        raise InvalidValue("created_at", _l("A note cannot be dated in the future."))
    target.created_at = target.created_at or now
    target.locked_after = target.created_at + timedelta(minutes=Note.edit_minutes())
    target.author_id = target.author_id or current_actor_id()


@event.listens_for(Note, "before_update")
def _guard_note_update(mapper, connection, target: Note) -> None:
    state = inspect(target)
    if state.attrs.created_at.history.deleted or state.attrs.locked_after.history.deleted:
        raise ReadOnlyField(field=_l("Created"))
    # Only the note's own columns count: deleting the author's user nulls author_id.
    if any(state.attrs[c].history.has_changes() for c in NOTE_CONTENT):
        target.assert_changeable()


@event.listens_for(Note, "before_delete")
def _guard_note_delete(mapper, connection, target: Note) -> None:
    target.assert_deletable(connection)


# Rules that live in the flush events above, which bulk and Core statements would skip:
# no note is written, changed or deleted in bulk; no partner is made (its number comes from
# the counter) or deleted (its notes would go with it) in bulk; an offer's status and a
# partner's customer number change one record at a time.
BULK_REFUSED = {name: {"insert", "delete"} for name in ("partner", "person", "organization")}
BULK_GUARDED_COLUMNS = {"offer": {"status"}, "partner": {"customer_number"}}


def refuse_bulk(tables: set[str], operation: str, columns: set[str] = frozenset()) -> None:
    """Raise for a bulk statement (or legacy bulk_* call) that would skip a record's rules."""
    if "note" in tables:
        raise BulkNoteChange()
    if any(operation in BULK_REFUSED.get(name, ()) for name in tables):
        raise BulkChange()
    if operation == "update" and columns & set().union(
            *(BULK_GUARDED_COLUMNS.get(name, set()) for name in tables)):
        raise BulkChange()


def _statement_tables(state) -> set[str]:
    names = {table.name for mapper in state.all_mappers for table in mapper.tables}
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None):
        names.add(table.name)
    return names


def _set_columns(state) -> set[str]:
    """The columns an UPDATE sets: from .values() and from the executed parameters."""
    statement = state.statement
    keys = list(getattr(statement, "_values", None) or ())
    keys += [key for key, _ in getattr(statement, "_ordered_values", None) or ()]
    names = {getattr(key, "key", None) or getattr(key, "name", None) or str(key)
             for key in keys}
    parameters = state.parameters
    for row in parameters if isinstance(parameters, list) else [parameters or {}]:
        names |= {str(key) for key in row}
    return names


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_rule_changes(state) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    operation = "insert" if state.is_insert else "update" if state.is_update else "delete"
    refuse_bulk(_statement_tables(state), operation,
                _set_columns(state) if state.is_update else set())


# --- what every stored value must be -------------------------------------------------------

def _fitting(key: str, column, value):
    """The value as stored, or InvalidValue when the column (or PostgreSQL) cannot hold it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidValue(key, _l("Text may not contain NUL characters."))
        value = value.translate(BIDI_CONTROLS)
        if not isinstance(column.type, Text) and value.splitlines() != [value]:
            # A one-line column (a name, a title): a line break would end a mail's subject.
            value = " ".join(filter(None, (line.strip() for line in value.splitlines())))
        length = getattr(column.type, "length", None)
        if length and len(value) > length:
            raise InvalidValue(key, _l("%(length)s characters are too many here: at most "
                                       "%(max)s are allowed.")
                               % {"length": len(value), "max": length})
    elif isinstance(value, Decimal) and isinstance(column.type, Numeric):
        if not value.is_finite():
            raise InvalidValue(key, _l("%(value)s is not a number.") % {"value": value})
        precision, scale = column.type.precision, column.type.scale or 0
        if precision and abs(value) >= Decimal(10) ** (precision - scale):
            raise InvalidValue(key, _l("%(value)s is too large.") % {"value": value})
    return value


@event.listens_for(Session, "before_flush")
def _values_fit_their_columns(session: Session, flush_context, instances) -> None:
    # One check for every entry point: SQLite would store what PostgreSQL refuses (too long,
    # NUL, NaN), and a refused value must be the user's 400, not a server error.
    for obj in [*session.new, *session.dirty]:
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            if obj not in session.new and not state.attrs[attr.key].history.has_changes():
                continue
            value = getattr(obj, attr.key)
            fitted = _fitting(attr.key, attr.columns[0], value)
            if fitted != value:
                setattr(obj, attr.key, fitted)


# --- audit ---------------------------------------------------------------------------------

AUDITED = {
    Person: "person",
    Organization: "organization",
    Affiliation: "affiliation",
    Address: "address",
    PartnerAddress: "partner_address",
    Note: "note",
}
AUDIT_SKIP = {"created_at", "updated_at", "created_by_id", "updated_by_id", "display_name", "type"}


@event.listens_for(Model, "mapper_configured", propagate=True)
def _keep_old_values(mapper, class_) -> None:
    # Setting an expired attribute loses its old value; the audit needs it, so load it first.
    if class_ in AUDITED:
        for attr in mapper.column_attrs:
            class_.__mapper__.class_manager[attr.key].impl.active_history = True


def _audit_partners(obj) -> list[int | None]:
    if isinstance(obj, Partner):
        return [obj.id]
    if isinstance(obj, Affiliation):
        return [obj.organization_id, obj.person_id]
    if isinstance(obj, (Note, PartnerAddress)) or hasattr(obj, "partner_id"):
        return [obj.partner_id]
    if hasattr(obj, "contract"):
        return [obj.contract.partner_id if obj.contract else None]
    return [None]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, set)):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def _changes(obj, action: str) -> list[tuple[str | None, str | None, str | None]]:
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
    if action == "update" and isinstance(obj, Partner):
        hist = state.attrs.codes.history
        if hist.has_changes():
            old = [c for c in (hist.unchanged + hist.deleted)]
            new = [c for c in (hist.unchanged + hist.added)]
            result.append(("codes", _text(old), _text(new)))
    if action == "delete":
        result.append((None, None, None))
    return result


@event.listens_for(Session, "after_flush")
def _record_audit(session: Session, flush_context) -> None:
    rows = []
    now = utcnow()
    actor = current_actor_id()
    for action, objects in (("create", session.new), ("update", session.dirty),
                            ("delete", session.deleted)):
        for obj in objects:
            entity = AUDITED.get(type(obj))
            if entity is None:
                continue
            if action == "update" and not session.is_modified(obj):
                continue
            for field, old, new in _changes(obj, action):
                for partner_id in _audit_partners(obj):
                    rows.append(dict(at=now, user_id=actor, action=action, entity=entity,
                                     entity_id=obj.id, partner_id=partner_id, field=field,
                                     old_value=old, new_value=new))
    if rows:
        session.connection().execute(AuditLog.__table__.insert(), rows)


# --- sales, tasks, mail --------------------------------------------------------------------

OFFER_STATUS_LABELS = {"pending": _l("Pending"), "won": _l("Won"), "lost": _l("Lost")}
PAYMENT_FREQUENCY_LABELS = {
    "once": _l("One-off"),
    "monthly": _l("Monthly"),
    "quarterly": _l("Quarterly"),
    "yearly": _l("Yearly"),
}
PRIORITY_LABELS = {1: _l("High"), 2: _l("Normal"), 3: _l("Low")}
OUTBOX_STATUS_LABELS = {
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed, will retry"),
    "unsent": _l("Not sent: no mail server"),
}
CURRENCIES = ("HUF", "EUR", "PLN", "RUB", "USD", "GBP", "CHF")

# Role names whose holders may set a decided offer back to pending; the web app and jobs
# tell the model which roles the acting user has.
_actor_roles_provider: list[Callable[[], set[str]]] = []


def set_actor_roles_provider(provider: Callable[[], set[str]]) -> None:
    _actor_roles_provider[:] = [provider]


def current_actor_roles() -> set[str]:
    return _actor_roles_provider[0]() if _actor_roles_provider else set()


class Offer(Model):
    """A sales opportunity of a partner: pending when made, then won or lost."""

    __tablename__ = "offer"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'won', 'lost')", name="ck_offer_status"),
        CheckConstraint(
            "payment_frequency IN ('once', 'monthly', 'quarterly', 'yearly')",
            name="ck_offer_frequency",
        ),
        CheckConstraint("chance IS NULL OR chance BETWEEN 0 AND 100", name="ck_offer_chance"),
        CheckConstraint("amount >= 0", name="ck_offer_amount"),
        Index("ix_offer_partner_status", "partner_id", "status"),
        Index("ix_offer_owner", "owner_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    deadline: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    payment_frequency: Mapped[str] = mapped_column(String(10), nullable=False, default="once")
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="pending",
                                        active_history=True)
    chance: Mapped[int | None] = mapped_column(Integer)
    expected_decision: Mapped[date | None] = mapped_column(Date)
    distributor_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="SET NULL"), index=True
    )
    commission: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    partner: Mapped[Partner] = relationship(foreign_keys=[partner_id], lazy="joined")
    distributor: Mapped[Partner | None] = relationship(foreign_keys=[distributor_id])
    owner = relationship("User", lazy="joined")

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    @validates("status")
    def _status(self, key, value):
        return _check_in(key, value or "pending", OFFER_STATUS_LABELS)

    @validates("payment_frequency")
    def _frequency(self, key, value):
        return _check_in(key, value or "once", PAYMENT_FREQUENCY_LABELS)

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @validates("amount", "commission")
    def _money(self, key, value):
        return non_negative(key, value, None if key == "commission" else Decimal(0))

    @validates("chance")
    def _chance(self, key, value):
        if value in (None, ""):
            return None
        if not 0 <= int(value) <= 100:
            raise InvalidValue(key, _l("The chance must be between 0 and 100 per cent."))
        return int(value)

    @property
    def status_label(self) -> str:
        return str(OFFER_STATUS_LABELS.get(self.status, self.status))

    @property
    def expected_profit(self) -> Decimal:
        """Amount weighed by the chance of success, less the distributor's commission."""
        chance = Decimal(self.chance if self.chance is not None else 100) / 100
        return (self.amount or 0) * chance - (self.commission or 0)

    def __str__(self) -> str:
        return self.name


@event.listens_for(Offer, "before_insert")
def _new_offer_is_pending(mapper, connection, target: Offer) -> None:
    target.status = "pending"


@event.listens_for(Offer, "before_update")
def _guard_offer_status(mapper, connection, target: Offer) -> None:
    hist = inspect(target).attrs.status.history
    if not hist.deleted or hist.deleted[0] == target.status:
        return
    if target.status == "pending" and not current_actor_roles() & {"Manager", "Admin"}:
        raise OfferStatusError()


task_collaborator = association("task_collaborator", "task", "ab_user")


class Task(Model):
    """Something to do by a responsible user, with collaborators, for a partner or not."""

    __tablename__ = "task"
    __table_args__ = (
        CheckConstraint("priority IN (1, 2, 3)", name="ck_task_priority"),
        CheckConstraint("due_at >= starts_at", name="ck_task_times"),
        Index("ix_task_responsible_due", "responsible_id", "done", "due_at"),
        Index("ix_task_partner_due", "partner_id", "due_at"),
        Index("ix_task_open_due", "done", "due_at"),
        Index("ix_task_due", "due_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    note_id: Mapped[int | None] = mapped_column(ForeignKey("note.id", ondelete="SET NULL"))
    responsible_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL")
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Staff allow the zone users who perform the task to mark it done in the portal.
    zone_may_complete: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    partner: Mapped[Partner | None] = relationship(lazy="joined")
    responsible = relationship("User", foreign_keys=[responsible_id], lazy="joined")
    collaborators = relationship("User", secondary=task_collaborator)

    @validates("title")
    def _title(self, key, value):
        return required_text(key, value, _l("Task title"))

    @validates("priority")
    def _priority(self, key, value):
        value = int(value or 2)
        return _check_in(key, value, PRIORITY_LABELS)

    @validates("done")
    def _done(self, key, value):
        self.done_at = utcnow() if value else None
        return bool(value)

    def is_overdue(self, now: datetime | None = None) -> bool:
        return not self.done and self.due_at < (now or utcnow())

    @property
    def state(self) -> str:
        return "done" if self.done else ("overdue" if self.is_overdue() else "open")

    @property
    def priority_label(self) -> str:
        return str(PRIORITY_LABELS.get(self.priority, self.priority))

    def __str__(self) -> str:
        return self.title


@event.listens_for(Task, "before_insert")
@event.listens_for(Task, "before_update")
def _task_times(mapper, connection, target: Task) -> None:
    if target.starts_at and target.due_at and target.due_at < target.starts_at:
        raise InvalidValue("due_at", _l("The due time cannot be before the start."))


class UserProfile(Model):
    """What Dossier keeps about a user beyond FAB's account: language, time zone, feeds."""

    __tablename__ = "user_profile"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str | None] = mapped_column(String(64))
    ics_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    digest_sent_on: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(40))
    # E-mails about zone records: a zone user's own tasks and offers, a zone user's comment.
    zone_mail: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Bumped when the user logs out or a password is set: sessions and tokens made under an
    # older generation are no longer accepted.
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                                    server_default="0")

    @validates("phone")
    def _phone(self, key, value):
        return clean_phone(key, value)

    user = relationship("User")


class LoginThrottle(Model):
    """Failed logins per user name or per address: they slow down, then lock, the next tries."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class Outbox(Model):
    """Every e-mail, kept until it is sent; `key` makes queueing the same mail twice a no-op."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'unsent')",
            name="ck_outbox_status",
        ),
        Index("ix_outbox_status", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(250), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    html: Mapped[str | None] = mapped_column(Text)
    # JSON list of {"name", "type", "file"}: the files live under instance/outbox/.
    attachments: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When a job claimed the row: the sweeper takes a mail for stuck only long after this.
    sending_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def status_label(self) -> str:
        return str(OUTBOX_STATUS_LABELS.get(self.status, self.status))


AUDITED.update({Offer: "offer", Task: "task"})
ENTITY_LABELS.update({"offer": _l("Offer"), "task": _l("Task")})


# --- documents -----------------------------------------------------------------------------

DOCUMENT_VISIBILITY_LABELS = {
    "all": _l("Everyone who sees the partner"),
    "roles": _l("Chosen roles"),
    "users": _l("Chosen users"),
    "uploader": _l("Only the uploader"),
}

document_role = association("document_role", "document", "ab_role")

document_user = association("document_user", "document", "ab_user")


class Document(Model):
    """A file attached to a partner, with who may see and download it."""

    __tablename__ = "document"
    __table_args__ = (
        CheckConstraint("visibility IN ('all', 'roles', 'users', 'uploader')",
                        name="ck_document_visibility"),
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
        return _check_in(key, value or "all", DOCUMENT_VISIBILITY_LABELS)

    @property
    def visibility_label(self) -> str:
        return str(DOCUMENT_VISIBILITY_LABELS.get(self.visibility, self.visibility))

    @classmethod
    def visible_to(cls, user_id: int | None, role_ids: list[int]):
        """The one rule of who sees a document, as a SQL condition for every list and count."""
        if user_id is None:
            return cls.id.is_(None)
        by_role = select(document_role.c.document_id).where(document_role.c.role_id.in_(role_ids))
        by_user = select(document_user.c.document_id).where(document_user.c.user_id == user_id)
        return or_(
            cls.visibility == "all",
            cls.uploader_id == user_id,
            (cls.visibility == "roles") & cls.id.in_(by_role),
            (cls.visibility == "users") & cls.id.in_(by_user),
        )

    def __str__(self) -> str:
        return self.filename


AUDITED[Document] = "document"
ENTITY_LABELS["document"] = _l("Document")


# --- products ------------------------------------------------------------------------------

partner_product = association("partner_product", "partner", "product")


class Product(Model):
    """A product or service of the catalogue; partners may supply it."""

    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("price >= 0", name="ck_product_price"),
        CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_product_vat"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pc")
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, default=27)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    description: Mapped[str | None] = mapped_column(Text)

    suppliers: Mapped[list[Partner]] = relationship(secondary=partner_product,
                                                    back_populates="supplied_products")

    @validates("code", "name", "unit")
    def _required(self, key, value):
        labels = {"code": _l("Code"), "name": _l("Name"), "unit": _l("Unit")}
        return required_text(key, value, labels[key])

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @validates("price")
    def _price(self, key, value):
        return non_negative(key, value)

    @validates("vat_rate")
    def _vat(self, key, value):
        return clean_vat_rate(key, value)

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


Partner.supplied_products = relationship(
    Product, secondary=partner_product, back_populates="suppliers", order_by=Product.name)


# --- invoices ------------------------------------------------------------------------------

INVOICE_STATUS_LABELS = {
    "draft": _l("Draft"),
    "issued": _l("Issued"),
    "sent": _l("Sent"),
    "paid": _l("Paid"),
    "partly_paid": _l("Partly paid"),
    "cancelled": _l("Cancelled"),
}
# What an invoice may become once issued; its content never changes again.
INVOICE_TRANSITIONS = {
    "draft": {"issued"},
    "issued": {"sent", "paid", "partly_paid", "cancelled"},
    "sent": {"paid", "partly_paid", "cancelled"},
    "partly_paid": {"paid", "cancelled"},
    "paid": set(),
    "cancelled": set(),
}
INVOICE_CONTENT = ("partner_id", "currency", "issue_date", "due_date", "language", "notes",
                   "billing_name", "billing_address", "billing_tax_number", "number", "year",
                   "recurring_id", "period_start", "period_end",
                   "net_total", "vat_total", "gross_total")
DELIVERY_LABELS = {"email": _l("By e-mail"), "post": _l("By post")}


class Invoice(Model):
    """An invoice: edited as a draft, then issued with the next number of its year."""

    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'issued', 'sent', 'paid', 'partly_paid', 'cancelled')",
            name="ck_invoice_status"),
        CheckConstraint("status = 'draft' OR number IS NOT NULL", name="ck_invoice_number"),
        UniqueConstraint("number", name="uq_invoice_number"),
        # One invoice per period of an automatic invoicing: running a period twice is a no-op.
        UniqueConstraint("recurring_id", "period_start", name="uq_invoice_recurring_period"),
        CheckConstraint("delivery IS NULL OR delivery IN ('email', 'post')",
                        name="ck_invoice_delivery"),
        Index("ix_invoice_partner_issue", "partner_id", "issue_date"),
        Index("ix_invoice_run", "run_id", "delivery", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), active_history=True)
    year: Mapped[int | None] = mapped_column(Integer)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="draft",
                                        active_history=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    language: Mapped[str | None] = mapped_column(String(5))
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    billing_name: Mapped[str | None] = mapped_column(String(250))
    billing_address: Mapped[str | None] = mapped_column(Text)
    billing_tax_number: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    net_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    vat_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    gross_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    # Made by automatic invoicing: which setting, for which period, in which run, sent how.
    recurring_id: Mapped[int | None] = mapped_column(
        ForeignKey("recurring_invoice.id", ondelete="SET NULL", name="fk_invoice_recurring",
                   use_alter=True))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice_run.id", ondelete="SET NULL", name="fk_invoice_run"))
    delivery: Mapped[str | None] = mapped_column(String(8))

    partner: Mapped[Partner] = relationship(lazy="joined")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.position")

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    @property
    def status_label(self) -> str:
        return str(INVOICE_STATUS_LABELS.get(self.status, self.status))

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    def recompute(self) -> None:
        net = sum((line.net for line in self.lines), Decimal(0))
        vat = sum((line.vat for line in self.lines), Decimal(0))
        self.net_total, self.vat_total, self.gross_total = net, vat, net + vat

    def __str__(self) -> str:
        return self.number or str(_l("Draft invoice"))


class InvoiceLine(Model):
    __tablename__ = "invoice_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_invoice_line_quantity"),
        CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="ck_invoice_line_vat"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False, default=1)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pc")
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, default=27)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()

    # Left empty, the description, unit, price and VAT rate come from the product on flush.
    @validates("description", "unit")
    def _text(self, key, value):
        return (value or "").strip() or None

    @validates("quantity")
    def _quantity(self, key, value):
        value = to_decimal(key, value)
        if value <= 0:
            raise InvalidValue(key, _l("The quantity must be more than zero."))
        return value

    @validates("unit_price")
    def _price(self, key, value):
        return to_decimal(key, value) if value not in (None, "") else None

    @validates("vat_rate")
    def _vat(self, key, value):
        return clean_vat_rate(key, value) if value not in (None, "") else None

    @property
    def net(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))

    @property
    def vat(self) -> Decimal:
        return (self.net * self.vat_rate / 100).quantize(Decimal("0.01"))


@event.listens_for(Invoice, "before_update")
def _guard_invoice(mapper, connection, target: Invoice) -> None:
    state = inspect(target)
    hist = state.attrs.status.history
    before = hist.deleted[0] if hist.deleted else target.status
    if before != target.status and target.status not in INVOICE_TRANSITIONS.get(before, set()):
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(before, before))
    if before != "draft" and any(state.attrs[c].history.has_changes() for c in INVOICE_CONTENT):
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(before, before))


@event.listens_for(Invoice, "before_delete")
def _guard_invoice_delete(mapper, connection, target: Invoice) -> None:
    committed = inspect(target).attrs.status.history
    status = committed.deleted[0] if committed.deleted else target.status
    if status != "draft":
        raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(status, status))


def _guard_line(mapper, connection, target: InvoiceLine) -> None:
    """A line of an issued invoice is fixed: it is not changed, deleted or moved away, and
    no line is added or moved to an issued invoice."""
    invoices = {target.invoice_id}
    if target.id is not None:   # the invoice the stored line is on now
        invoices.add(connection.execute(
            select(InvoiceLine.invoice_id).where(InvoiceLine.id == target.id)).scalar())
    for status in connection.execute(
            select(Invoice.status).where(Invoice.id.in_(invoices - {None}))).scalars():
        if status != "draft":
            raise InvoiceLocked(status=INVOICE_STATUS_LABELS.get(status, status))


def _fill_line(mapper, connection, target: InvoiceLine) -> None:
    """What the line leaves empty comes from its product: the API, the screens and
    automatic invoicing make the same line."""
    product = None
    if target.product_id is not None and None in (target.description, target.unit,
                                                   target.unit_price, target.vat_rate):
        product = connection.execute(
            select(Product.name, Product.unit, Product.price, Product.vat_rate)
            .where(Product.id == target.product_id)).first()
    if target.description is None and product is not None:
        target.description = product.name
    target.description = required_text("description", target.description, _l("Description"))
    if target.unit is None:
        target.unit = product.unit if product is not None else "pc"
    if target.unit_price is None:
        target.unit_price = product.price if product is not None else Decimal(0)
    if target.vat_rate is None:
        target.vat_rate = product.vat_rate if product is not None else Decimal(27)


for _event in ("before_insert", "before_update", "before_delete"):
    event.listen(InvoiceLine, _event, _guard_line)
for _event in ("before_insert", "before_update"):
    event.listen(InvoiceLine, _event, _fill_line)

AUDITED.update({Invoice: "invoice"})
ENTITY_LABELS["invoice"] = _l("Invoice")


class Payment(Model):
    """Money received from a partner, settling an invoice in full or in part."""

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_payment_amount"),
        Index("ix_payment_partner_paid", "partner_id", "paid_on"),
        Index("ix_payment_invoice", "invoice_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"), nullable=False)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    paid_on: Mapped[date] = mapped_column(Date, nullable=False)
    method: Mapped[str | None] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    invoice: Mapped[Invoice | None] = relationship()

    @validates("amount")
    def _amount(self, key, value):
        value = to_decimal(key, value)
        if value <= 0:
            raise InvalidValue(key, _l("A payment must be more than zero."))
        return value


AUDITED.update({Payment: "payment"})
ENTITY_LABELS["payment"] = _l("Payment")


# --- automatic invoicing ------------------------------------------------------------------

RECURRING_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
RUN_STATUS_LABELS = {"queued": _l("Waiting to start"), "running": _l("Running"),
                     "done": _l("Finished"), "failed": _l("Stopped")}


def add_months(day: date, months: int, anchor: int | None = None) -> date:
    """The same day of the month `months` later (the 31st becomes the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(anchor or day.day, calendar.monthrange(year, month)[1]))


class RecurringInvoice(Model):
    """A partner's automatic invoicing: a template invoice repeated every month, quarter or
    year from `next_date`, delivered by e-mail or by post."""

    __tablename__ = "recurring_invoice"
    __table_args__ = (
        CheckConstraint("frequency IN ('monthly', 'quarterly', 'yearly')",
                        name="ck_recurring_frequency"),
        CheckConstraint("delivery IN ('email', 'post')", name="ck_recurring_delivery"),
        CheckConstraint("anchor_day BETWEEN 1 AND 31", name="ck_recurring_anchor"),
        Index("ix_recurring_due", "active", "next_date"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False, unique=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("invoice.id", ondelete="RESTRICT"), nullable=False)
    frequency: Mapped[str] = mapped_column(String(10), nullable=False, default="monthly")
    next_date: Mapped[date] = mapped_column(Date, nullable=False)
    # The day of the month periods start on, so that 31 January, 28 February, 31 March …
    anchor_day: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    delivery: Mapped[str] = mapped_column(String(8), nullable=False, default="email")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False)

    partner: Mapped[Partner] = relationship()
    template: Mapped[Invoice] = relationship(foreign_keys=[template_id])

    @validates("frequency")
    def _frequency(self, key, value):
        return _check_in(key, value, RECURRING_MONTHS)

    @validates("delivery")
    def _delivery(self, key, value):
        return _check_in(key, value, DELIVERY_LABELS)

    @validates("next_date")
    def _next_date(self, key, value):
        if value is None:
            raise InvalidValue(key, _l("%(field)s is required.") % {"field": _l("Next date")})
        return value

    def period_after(self, start: date) -> date:
        return add_months(start, RECURRING_MONTHS[self.frequency], self.anchor_day)

    @property
    def frequency_label(self) -> str:
        return str(PAYMENT_FREQUENCY_LABELS.get(self.frequency, self.frequency))

    @property
    def delivery_label(self) -> str:
        return str(DELIVERY_LABELS.get(self.delivery, self.delivery))


@event.listens_for(RecurringInvoice, "before_insert")
@event.listens_for(RecurringInvoice, "before_update")
def _recurring_template(mapper, connection, target: RecurringInvoice) -> None:
    """The template is an issued invoice of the same partner: the first one is made by hand.
    Checked when it is chosen; a template cancelled later still serves as the pattern."""
    state = inspect(target)
    if state.persistent and not (state.attrs.template_id.history.has_changes()
                                 or state.attrs.partner_id.history.has_changes()):
        return
    row = connection.execute(select(Invoice.partner_id, Invoice.status)
                             .where(Invoice.id == target.template_id)).first()
    if row is None or row.partner_id != target.partner_id or row.status in ("draft",
                                                                            "cancelled"):
        raise InvalidValue("template", _l("Choose an issued invoice of this partner as the "
                                          "template."))


class InvoiceRun(Model):
    """One start of automatic invoicing: every setting due up to `as_of` gets its invoices;
    a run that stopped half-way is started again and finishes the rest."""

    __tablename__ = "invoice_run"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                        name="ck_invoice_run_status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    made: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    emailed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    printed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    started_by = relationship("User")
    batches: Mapped[list[InvoicePrintBatch]] = relationship(
        back_populates="run", cascade="all, delete-orphan",
        order_by="InvoicePrintBatch.position")

    @property
    def status_label(self) -> str:
        return str(RUN_STATUS_LABELS.get(self.status, self.status))

    @property
    def percent(self) -> int:
        """Invoices made of those due; the print files are the last per cent."""
        if self.status == "done":
            return 100
        return min(99, 100 * self.made // self.total) if self.total else 0


class InvoicePrintBatch(Model):
    """One PDF of up to INVOICE_PRINT_BATCH invoices of a run, for printing and posting."""

    __tablename__ = "invoice_print_batch"
    __table_args__ = (UniqueConstraint("run_id", "position", name="uq_print_batch_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("invoice_run.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    invoices: Mapped[int] = mapped_column(Integer, nullable=False)
    first_number: Mapped[str] = mapped_column(String(20), nullable=False)
    last_number: Mapped[str] = mapped_column(String(20), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    run: Mapped[InvoiceRun] = relationship(back_populates="batches")

    @property
    def filename(self) -> str:
        return f"invoices-run{self.run_id}-{self.position:03d}.pdf"


AUDITED[RecurringInvoice] = "recurring_invoice"
ENTITY_LABELS["recurring_invoice"] = _l("Automatic invoicing")


# --- contracts and quotas ------------------------------------------------------------------

CONTRACT_STATUS_LABELS = {"draft": _l("Draft"), "active": _l("Active"),
                          "ended": _l("Ended"), "cancelled": _l("Cancelled")}


class Contract(Model):
    """A contract of a partner (a plan, its price and period), with the quotas it buys."""

    __tablename__ = "contract"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'ended', 'cancelled')",
                        name="ck_contract_status"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ck_contract_period"),
        Index("ix_contract_partner_status", "partner_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    plan: Mapped[str | None] = mapped_column(String(120))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="HUF")
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    partner: Mapped[Partner] = relationship()
    quotas: Mapped[list[Quota]] = relationship(back_populates="contract",
                                                 cascade="all, delete-orphan")

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    @validates("status")
    def _status(self, key, value):
        return _check_in(key, value or "active", CONTRACT_STATUS_LABELS)

    @validates("currency")
    def _currency(self, key, value):
        return clean_currency(key, value)

    def is_active(self, today: date) -> bool:
        return self.status == "active" and self.starts_on <= today and (
            self.ends_on is None or self.ends_on >= today)

    @property
    def status_label(self) -> str:
        return str(CONTRACT_STATUS_LABELS.get(self.status, self.status))

    def __str__(self) -> str:
        return self.name


class Quota(Model):
    """Units bought under a contract (hours, visits, licences …) and how many are used."""

    __tablename__ = "quota"
    __table_args__ = (
        CheckConstraint("bought >= 0 AND used >= 0", name="ck_quota_units"),
        CheckConstraint("used <= bought", name="ck_quota_used"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contract.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pc")
    bought: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False, default=0)
    used: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False, default=0)

    contract: Mapped[Contract] = relationship(back_populates="quotas")

    @validates("bought", "used")
    def _units(self, key, value):
        return non_negative(key, value)

    @property
    def left(self) -> Decimal:
        return (self.bought or 0) - (self.used or 0)

    def __str__(self) -> str:
        return self.name


@event.listens_for(Quota, "before_insert")
@event.listens_for(Quota, "before_update")
def _quota_within_bought(mapper, connection, target: Quota) -> None:
    if target.used > target.bought:
        raise InvalidValue("used", _l("More units are used than were bought."))


AUDITED.update({Contract: "contract"})
ENTITY_LABELS["contract"] = _l("Contract")
AUDITED.update({Quota: "quota"})
ENTITY_LABELS["quota"] = _l("Quota")


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
            raise InvalidValue(key, _l("The template has an error on line %(line)s: %(error)s")
                               % {"line": error.lineno, "error": error.message}) from error
        return value

    def __str__(self) -> str:
        return self.name


# --- the Client Zone and the Partner Zone -------------------------------------------------

ZONE_LABELS = {"client": _l("Client Zone"), "partner": _l("Partner Zone")}
ZONE_ROLES = {"client": "Client", "partner": "Partner"}
SHARE_ROLE_LABELS = {"performer": _l("Performer"), "watcher": _l("Watcher")}
COMMENT_KIND_LABELS = {"comment": _l("Comment"), "file": _l("File"), "link": _l("Link")}
NEWS_AUDIENCE_LABELS = {"client": _l("Client Zone"), "partner": _l("Partner Zone"),
                        "one": _l("One partner")}


def changed_columns(obj) -> set[str]:
    """The columns of a record that this flush changes."""
    state = inspect(obj)
    return {attr.key for attr in state.mapper.column_attrs
            if state.attrs[attr.key].history.has_changes()}


def actor_is_zone_user() -> bool:
    """The acting user reaches only the portal (Client or Partner role, no staff role)."""
    roles = current_actor_roles()
    return bool(roles) and roles <= set(ZONE_ROLES.values())


class ZoneMember(Model):
    """A Client Zone or Partner Zone user: the partner they belong to, and as whom."""

    __tablename__ = "zone_member"
    __table_args__ = (
        CheckConstraint("zone IN ('client', 'partner')", name="ck_zone_member_zone"),
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), nullable=False, index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), unique=True)
    zone: Mapped[str] = mapped_column(String(8), nullable=False)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    partner: Mapped[Partner] = relationship()
    person: Mapped[Person | None] = relationship(foreign_keys=[person_id])

    @validates("zone")
    def _zone(self, key, value):
        return _check_in(key, value, ZONE_LABELS)

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
        ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ZoneShare(Model):
    """A task or an offer shared with a zone user of its partner, as performer or watcher."""

    __tablename__ = "zone_share"
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
        ForeignKey("zone_member.user_id", ondelete="CASCADE"), nullable=False)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10), nullable=False, default="watcher")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    member: Mapped[ZoneMember] = relationship(lazy="joined")
    task: Mapped[Task | None] = relationship()
    offer: Mapped[Offer | None] = relationship()

    @validates("role")
    def _role(self, key, value):
        return _check_in(key, value or "watcher", SHARE_ROLE_LABELS)

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
        select(record.partner_id).where(record.id == record_id)).scalar()
    member_partner = connection.execute(
        select(ZoneMember.partner_id).where(ZoneMember.user_id == target.user_id)).scalar()
    if partner_id is None or partner_id != member_partner:
        raise InvalidValue("user", _l("Only a zone user of the record's own partner can be "
                                      "given access to it."))


class Comment(Model):
    """A comment, a file or a link on a task or an offer: internal unless it is marked
    visible to the zone; what a zone user writes is visible to the zone."""

    __tablename__ = "comment"
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
        return _check_in(key, value or "comment", COMMENT_KIND_LABELS)

    @validates("url")
    def _url(self, key, value):
        value = (value or "").strip()
        if not value:
            return None
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
            raise InvalidValue(key, _l("%(value)s is not a valid web address.")
                               % {"value": value})
        return value

    @property
    def kind_label(self) -> str:
        return str(COMMENT_KIND_LABELS.get(self.kind, self.kind))


@event.listens_for(Comment, "before_insert")
def _comment_is_whole(mapper, connection, target: Comment) -> None:
    needed = {"comment": ("body", _l("Text")), "link": ("url", _l("Web address")),
              "file": ("stored_name", _l("File"))}[target.kind]
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
            "zone_visible" in changed and actor_is_zone_user()):
        raise ZoneForbidden()


class News(Model):
    """News published for the Client Zone, the Partner Zone, or one partner's zone users."""

    __tablename__ = "news"
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
        ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    published_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    partner: Mapped[Partner | None] = relationship()
    author = relationship("User")

    @validates("title", "body")
    def _required(self, key, value):
        return required_text(key, value, {"title": _l("Title"), "body": _l("Text")}[key])

    @validates("audience")
    def _audience(self, key, value):
        return _check_in(key, value or "client", NEWS_AUDIENCE_LABELS)

    @property
    def audience_label(self) -> str:
        return str(NEWS_AUDIENCE_LABELS.get(self.audience, self.audience))

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


ZONE_TASK_FIELDS = {"done", "done_at", "updated_at"}


@event.listens_for(Task, "before_update", propagate=True)
@event.listens_for(Offer, "before_update", propagate=True)
def _zone_users_do_not_edit(mapper, connection, target) -> None:
    """A zone user changes no task or offer, through any entry point; a performer may mark a
    task done where staff allow it (checked by the portal service)."""
    if not actor_is_zone_user():
        return
    changed = changed_columns(target)
    if not isinstance(target, Task) or changed - ZONE_TASK_FIELDS or not target.zone_may_complete:
        raise ZoneForbidden()


@event.listens_for(Task, "before_delete", propagate=True)
@event.listens_for(Offer, "before_delete", propagate=True)
@event.listens_for(Comment, "before_delete")
def _zone_users_do_not_delete(mapper, connection, target) -> None:
    if actor_is_zone_user():
        raise ZoneForbidden()


def zone_user_ids():
    """Ids of the users who reach only the portal: zone members and holders of the Client
    or Partner role. They are never a task's responsible or collaborator, nor a document's
    chosen user."""
    from flask_appbuilder.security.sqla.models import Role, assoc_user_role

    return union(
        select(assoc_user_role.c.user_id).join(Role, Role.id == assoc_user_role.c.role_id)
        .where(Role.name.in_(ZONE_ROLES.values())),
        select(ZoneMember.user_id))


def _refuse_zone_users(connection, field: str, user_ids) -> None:
    wanted = {i for i in user_ids if i is not None}
    zone_users = zone_user_ids().subquery()
    if wanted and connection.execute(
            select(func.count()).select_from(zone_users)
            .where(zone_users.c.user_id.in_(wanted))).scalar():
        raise InvalidValue(field, _l("A Client Zone or Partner Zone user cannot be chosen "
                                     "here."))


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


AUDITED.update({ZoneShare: "zone_share", Comment: "comment", News: "news"})
ENTITY_LABELS.update({"zone_share": _l("Zone access"), "comment": _l("Comment"),
                      "news": _l("News")})
