"""Partners (people and organizations), their addresses, contact persons, codes and notes, with
the guards of customer numbers and of the note lock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import current_app, has_app_context
from flask_appbuilder import Model
from flask_appbuilder.models.mixins import ImageColumn
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.errors import (
    InvalidValue,
    NotAuthor,
    NoteLocked,
    PartnerHasContracts,
    PartnerHasFixedNotes,
    PartnerHasInvoices,
    PartnerHasOthersNotes,
    ReadOnlyField,
)
from app.models.audit import Audited
from app.models.base import (
    association,
    check_choice,
    clean_email,
    clean_phone,
    current_actor_id,
    name_inside,
    next_counter_value,
    required_text,
    search_column,
    search_index,
    utcnow,
)
from app.text import search_text

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

LANGUAGE_NAMES = {"en": "English", "hu": "Magyar", "pl": "Polski", "de": "Deutsch", "ru": "Русский"}


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
        return check_choice(key, value, CODE_CATEGORY_LABELS)

    @validates("name")
    def _name(self, key, value):
        return required_text(key, value, _l("Name"))

    def __str__(self) -> str:
        return self.name


class Address(Model):
    """A central address: linked to many partners, edited once."""

    __tablename__ = "address"
    __audited__ = Audited("address", _l("Address"))
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
            raise InvalidValue(key, _l("%(value)s is out of range.") % {"value": value})
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
        # The lists' name order (migration 0025name01, "C" collation on PostgreSQL).
        Index("ix_partner_type_name_text", "type", "name_text", "id"),
        search_index("partner"),
        # The folded name: a name that starts with a word is a range of the index above; one
        # that holds it further on is found by the trigram index of name_inside on PostgreSQL.
        # SQLite scans a plain index (migrations 0020perf01, 0025name01).
        Index("ix_partner_name_text", "name_text").ddl_if(dialect="sqlite"),
        Index(
            "ix_partner_name_inside",
            name_inside(text("name_text")).label("name_inside"),
            postgresql_using="gin",
            postgresql_ops={"name_inside": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    customer_number: Mapped[str] = mapped_column(
        String(20), unique=True, nullable=False, active_history=True
    )
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
    search_text: Mapped[str] = search_column()
    # The folded name alone, for the lists' name filter ("contains" on the name, not on the
    # e-mails or cities of the search text) and their name order, byte by byte ("C").
    name_text: Mapped[str] = search_column(collation="C")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    created_by = relationship("User", foreign_keys=[created_by_id])
    updated_by = relationship("User", foreign_keys=[updated_by_id])
    codes: Mapped[list[Code]] = relationship(secondary=partner_code, order_by=Code.name)
    address_links: Mapped[list[PartnerAddress]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", passive_deletes=True
    )
    notes: Mapped[list[Note]] = relationship(
        back_populates="partner",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Note.created_at.desc()",
    )

    __mapper_args__ = {"polymorphic_on": type}

    @validates("status")
    def _status(self, key, value):
        return check_choice(key, value or "lead", STATUS_LABELS)

    @validates("email")
    def _email(self, key, value):
        return clean_email(key, value)

    @validates("phone", "mobile")
    def _phone(self, key, value):
        return clean_phone(key, value)

    @validates("language")
    def _language(self, key, value):
        return check_choice(key, value or None, LANGUAGE_NAMES, required=False)

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

    def audit_partner_ids(self) -> list[int | None]:
        return [self.id]

    def assert_deletable(self, connection) -> None:
        """A partner whose history is fixed stays: its notes could not go with it, nor its
        invoices, payments and contracts (the books keep them). Nor do other users' notes go
        with it unasked (the note's own rule: only its author)."""
        notes = select(Note.id).where(Note.partner_id == self.id)
        if connection.execute(notes.where(Note.locked_after <= utcnow()).limit(1)).first():
            raise PartnerHasFixedNotes()
        actor = current_actor_id()
        if (
            actor is not None
            and connection.execute(
                notes.where(or_(Note.author_id.is_(None), Note.author_id != actor)).limit(1)
            ).first()
        ):
            raise PartnerHasOthersNotes()
        tables = Model.metadata.tables
        for name, refusal in (
            ("invoice", PartnerHasInvoices),
            ("payment", PartnerHasInvoices),
            ("contract", PartnerHasContracts),
        ):
            table = tables[name]
            if connection.execute(
                select(table.c.id).where(table.c.partner_id == self.id).limit(1)
            ).first():
                raise refusal()

    def __str__(self) -> str:
        return self.display_name or ""


@event.listens_for(Partner, "before_insert", propagate=True)
def _number_new_partner(mapper, connection, target: Partner) -> None:
    target.customer_number = f"{next_counter_value(connection, 'customer_number'):06d}"
    target.refresh_display_name()
    target.name_text = search_text([target.display_name])
    target.created_by_id = target.created_by_id or current_actor_id()
    target.updated_by_id = target.created_by_id
    if target.owner_id is None:  # no one chosen: the one who makes it
        target.owner_id = target.created_by_id


@event.listens_for(Partner, "before_update", propagate=True)
def _guard_partner(mapper, connection, target: Partner) -> None:
    if inspect(target).attrs.customer_number.history.deleted:
        raise ReadOnlyField(field=_l("Customer number"))
    target.refresh_display_name()
    target.name_text = search_text([target.display_name])
    target.updated_by_id = current_actor_id() or target.updated_by_id


@event.listens_for(Partner, "before_delete", propagate=True)
def _guard_partner_delete(mapper, connection, target: Partner) -> None:
    target.assert_deletable(connection)


class Person(Partner):
    __tablename__ = "person"
    __audited__ = Audited("person", _l("Person"), relations=("codes",))
    __table_args__ = (Index("ix_person_last_first", "last_name", "first_name"),)
    id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(40))
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    birthday: Mapped[date | None] = mapped_column(Date)
    bank_account: Mapped[str | None] = mapped_column(String(64))
    payment_method: Mapped[str | None] = mapped_column(String(16))

    affiliations: Mapped[list[Affiliation]] = relationship(
        back_populates="person",
        cascade="all, delete-orphan",
        passive_deletes=True,
        foreign_keys="Affiliation.person_id",
    )

    __mapper_args__ = {"polymorphic_identity": "person"}

    @validates("first_name", "last_name")
    def _names(self, key, value):
        label = {"first_name": _l("First name"), "last_name": _l("Last name")}[key]
        return required_text(key, value, label)

    @validates("payment_method")
    def _payment(self, key, value):
        return check_choice(key, value or None, PAYMENT_METHOD_LABELS, required=False)

    @validates("birthday")
    def _birthday(self, key, value):
        if value is not None and value > date.today():
            raise InvalidValue(key, _l("A birthday cannot be in the future."))
        return value

    def refresh_display_name(self) -> None:
        self.display_name = " ".join(p for p in (self.title, self.first_name, self.last_name) if p)

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
    __audited__ = Audited("organization", _l("Company"), relations=("codes",))
    __table_args__ = ()
    id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(250), nullable=False, index=True)
    tax_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    registration_number: Mapped[str | None] = mapped_column(String(40))
    industry_code: Mapped[str | None] = mapped_column(String(20))

    affiliations: Mapped[list[Affiliation]] = relationship(
        back_populates="organization",
        cascade="all, delete-orphan",
        passive_deletes=True,
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
    __audited__ = Audited("partner_address", _l("Address link"))
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
        return check_choice(key, value, ADDRESS_TYPE_LABELS)

    @property
    def type_label(self) -> str:
        return str(ADDRESS_TYPE_LABELS.get(self.type, self.type))

    def __str__(self) -> str:
        return f"{self.type_label}: {self.address}"


class Affiliation(Model):
    """A person in an organization, with contact details and the contact-person flags."""

    __tablename__ = "affiliation"
    __audited__ = Audited("affiliation", _l("Contact person"))
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

    def audit_partner_ids(self) -> list[int | None]:
        return [self.organization_id, self.person_id]

    def __str__(self) -> str:
        return f"{self.person} – {self.organization}"


class Note(Model):
    """An entry of the partner's history; fixed NOTE_EDIT_MINUTES after it is written."""

    __tablename__ = "note"
    __audited__ = Audited("note", _l("Note"))
    __table_args__ = (
        CheckConstraint(
            "kind IN ('note', 'call', 'email', 'meeting', 'visit', 'letter')",
            name="ck_note_kind",
        ),
        Index("ix_note_partner_created", "partner_id", "created_at"),
        # The overview's latest pinned notes, in order (migration 0027pinned01).
        Index("ix_note_partner_pinned", "partner_id", "pinned", "created_at"),
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
    created_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, nullable=False, active_history=True
    )
    # Set once at insert from NOTE_EDIT_MINUTES; the database refuses changes after it too.
    locked_after: Mapped[datetime] = mapped_column(DateTime, nullable=False, active_history=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    partner: Mapped[Partner] = relationship(back_populates="notes")
    author = relationship("User", lazy="joined")

    @validates("kind")
    def _kind(self, key, value):
        return check_choice(key, value or "note", NOTE_KIND_LABELS)

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
