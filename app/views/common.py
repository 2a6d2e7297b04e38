"""Screen helpers shared by several views: choice fields and column formatters, the change
log's entries in words, permission checks, where to go after a save, a user's tasks and a
month of them, the note, document, comment and new password forms, and the zone panel of the
task and offer pages."""

from __future__ import annotations

import calendar as month_calendar
from datetime import date, datetime, time, timedelta

from babel.numbers import format_decimal
from flask import abort, current_app, g
from flask_appbuilder import expose, has_access
from flask_appbuilder.validators import PasswordComplexityValidator
from flask_babel import gettext, to_user_timezone, to_utc
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select, union
from wtforms import (
    BooleanField,
    FileField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, EqualTo, Length
from wtforms.validators import Optional as OptionalValue

from app.extensions import db
from app.formatting import date_text, datetime_text, format_locale, month_text, number_text
from app.models import (
    ADDRESS_TYPE_LABELS,
    CODE_CATEGORY_LABELS,
    COMMENT_KIND_LABELS,
    CONTRACT_STATUS_LABELS,
    DELIVERY_LABELS,
    DOCUMENT_VISIBILITY_LABELS,
    INVOICE_STATUS_LABELS,
    LANGUAGE_NAMES,
    NEWS_AUDIENCE_LABELS,
    NOTE_KIND_LABELS,
    OFFER_STATUS_LABELS,
    PAYMENT_FREQUENCY_LABELS,
    PAYMENT_METHOD_LABELS,
    PRIORITY_LABELS,
    SHARE_ROLE_LABELS,
    STATUS_LABELS,
    ZONE_LABELS,
    Task,
    audited_models,
    task_collaborator,
    utcnow,
)
from app.services import zone
from app.views.fields import LocaleDateTimeField, PickerField
from app.views.labels import LABELS


def tasks_of(user_id: int):
    """Ids of the tasks a user is responsible for or collaborates on: a union of two index
    lookups (an OR across the two would make PostgreSQL scan every task)."""
    return union(
        select(Task.id).where(Task.responsible_id == user_id),
        select(task_collaborator.c.task_id).where(task_collaborator.c.user_id == user_id),
    )


def tasks_by_day(first: date, days: int, tasks_between) -> dict[date, list]:
    """Tasks of `days` days from `first`, by their local start day (the user's time zone)."""
    start = to_utc(datetime.combine(first, time(0)))
    by_day: dict[date, list] = {}
    for task in tasks_between(start, start + timedelta(days=days)):
        local = to_user_timezone(task.starts_at)
        by_day.setdefault(local.date(), []).append((local, task))
    return by_day


def month_grid(year: int | None, month: int | None, tasks_between) -> dict:
    """A month's weeks with the tasks of each day, for the staff and the portal calendar."""
    today = date.today()
    year, month = year or today.year, month or today.month
    if not 1 <= month <= 12 or not 1900 < year < 3000:
        abort(404)
    weeks = month_calendar.Calendar().monthdatescalendar(year, month)
    return {
        "weeks": weeks,
        "by_day": tasks_by_day(weeks[0][0], len(weeks) * 7, tasks_between),
        "month": month,
        "title": month_text(date(year, month, 1)),
        "today": today,
        "previous": date(year, month, 1) - timedelta(days=1),
        "following": date(year, month, 28) + timedelta(days=7),
        "now": utcnow(),
    }


def choice_field(label, choices: dict, required: bool = True) -> SelectField:
    options = [(key, value) for key, value in choices.items()]
    if not required:
        options = [("", "—")] + options
    return SelectField(label, choices=options, validators=[] if required else [OptionalValue()])


def label_of(choices: dict):
    return lambda value: choices.get(value, value or "")


def locale_number(value) -> str:
    return number_text(value)


def short_datetime(moment) -> str:
    """A list column's time in the user's locale and time zone."""
    return datetime_text(moment)


def local_date(day) -> str:
    return date_text(day)


def two_decimals(amount) -> str:
    return number_text(amount, 2)


def yes_no(value) -> Markup:
    return Markup('<i class="fa fa-check"></i>') if value else Markup("")


# The stored keys of choice columns and their labels, by field (and by record where a field
# means different things).
AUDIT_CHOICES = {
    ("offer", "status"): OFFER_STATUS_LABELS,
    ("invoice", "status"): INVOICE_STATUS_LABELS,
    ("contract", "status"): CONTRACT_STATUS_LABELS,
    ("comment", "kind"): COMMENT_KIND_LABELS,
    ("zone_share", "role"): SHARE_ROLE_LABELS,
    (None, "status"): STATUS_LABELS,
    (None, "kind"): NOTE_KIND_LABELS,
    (None, "payment_frequency"): PAYMENT_FREQUENCY_LABELS,
    (None, "frequency"): PAYMENT_FREQUENCY_LABELS,
    (None, "payment_method"): PAYMENT_METHOD_LABELS,
    (None, "type"): ADDRESS_TYPE_LABELS,
    (None, "category"): CODE_CATEGORY_LABELS,
    (None, "priority"): {str(key): label for key, label in PRIORITY_LABELS.items()},
    (None, "visibility"): DOCUMENT_VISIBILITY_LABELS,
    (None, "audience"): NEWS_AUDIENCE_LABELS,
    (None, "delivery"): DELIVERY_LABELS,
    (None, "language"): LANGUAGE_NAMES,
    (None, "zone"): ZONE_LABELS,
}
EMPTY = "—"


def _audited_column(entity: str, field: str):
    for model in audited_models():
        if model.__audited__.entity == entity:
            return model.__mapper__.columns.get(field)
    return None


def audit_label(field: str | None) -> str:
    """The name users read for a logged field: its label, never the column's name."""
    if not field:
        return ""
    label = LABELS.get(field) or LABELS.get(field.removesuffix("_id"))
    return str(label) if label is not None else field


def _record_name(column, raw: str) -> str:
    """A foreign key's record by its name (cached for the request)."""
    from flask_appbuilder import Model

    target = next(iter(column.foreign_keys)).column.table
    model = next((m.class_ for m in Model.registry.mappers if m.local_table is target), None)
    cache = g.setdefault("audit_names", {})
    key = (target.name, raw)
    if key not in cache:
        record = db.session.get(model, int(raw)) if model is not None else None
        if record is None:
            cache[key] = f"#{raw}"
        elif hasattr(record, "get_full_name"):
            cache[key] = record.get_full_name()
        else:
            cache[key] = str(record)
    return cache[key]


def audit_text(entity: str, field: str | None, raw: str | None) -> str:
    """A logged value as people read it: yes/no, a choice's label, a linked record's name,
    dates and amounts in the user's locale and time zone (no microseconds), "—" for empty."""
    from decimal import Decimal, InvalidOperation

    from sqlalchemy import Boolean, Date, DateTime, Numeric

    if raw is None or raw == "":
        return EMPTY
    choices = AUDIT_CHOICES.get((entity, field)) or AUDIT_CHOICES.get((None, field))
    if choices is not None and raw in choices:
        return str(choices[raw])
    column = _audited_column(entity, field) if field else None
    if column is None:
        return raw
    try:
        if column.foreign_keys:
            return _record_name(column, raw)
        if isinstance(column.type, Boolean) or raw in ("True", "False"):
            return gettext("Yes") if raw in ("True", "1", "true") else gettext("No")
        if isinstance(column.type, DateTime):
            return datetime_text(datetime.fromisoformat(raw))
        if isinstance(column.type, Date):
            return date_text(date.fromisoformat(raw[:10]))
        if isinstance(column.type, Numeric):
            return format_decimal(Decimal(raw), "#,##0.00####", locale=format_locale())
    except (ValueError, InvalidOperation):
        return raw
    return raw


def can(permission: str, resource: str) -> bool:
    return current_app.appbuilder.sm.has_access(f"can_{permission}", resource)


def require(permission: str, resource: str) -> None:
    if not can(permission, resource):
        abort(403)


def zone_member():
    """The signed-in zone user's membership (their partner); anyone else finds nothing here."""
    member = zone.member_of(g.user.id)
    if member is None:
        abort(404)
    return member


class DocumentForm(FlaskForm):
    file = FileField(_l("File"))
    description = StringField(_l("Description"), validators=[OptionalValue(), Length(max=500)])
    visibility = SelectField(_l("Who may see it"), choices=list(DOCUMENT_VISIBILITY_LABELS.items()))
    roles = SelectMultipleField(_l("Roles"), coerce=int)
    users = PickerField(_l("Users"), kind="user", multiple=True)

    def fill_choices(self) -> None:
        from flask_appbuilder.security.sqla.models import Role

        self.roles.choices = [
            (r.id, r.name)
            for r in db.session.scalars(
                select(Role).where(Role.name.not_in(("Public",))).order_by(Role.name)
            )
        ]


class NewPasswordForm(FlaskForm):
    """A password chosen through a mailed link: an invitation or a forgotten password."""

    password = PasswordField(
        _l("Password"), validators=[DataRequired(), PasswordComplexityValidator()]
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))],
    )


class NoteForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=list(NOTE_KIND_LABELS.items()), default="note")
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=20000)])
    occurred_at = LocaleDateTimeField(
        _l("Time of the interaction"), validators=[OptionalValue()], utc=True
    )
    pinned = BooleanField(_l("Pin to the overview"))


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Comment"), validators=[OptionalValue(), Length(max=20000)])
    url = StringField(_l("Link"), validators=[OptionalValue(), URL(), Length(max=2000)])
    file = FileField(_l("File"))
    zone_visible = BooleanField(_l("Visible to the zone"))

    def kind(self) -> str | None:
        if self.file.data and getattr(self.file.data, "filename", ""):
            return "file"
        if self.url.data:
            return "link"
        return "comment" if (self.body.data or "").strip() else None


def quote_panel(offer) -> dict:
    """What the offer page shows of its quote: the lines (read-only here), every version
    sent, the contact persons it may go to (the representative first) and its validity."""
    from app.services import quotes

    recipients = quotes.contacts_of(offer.partner)
    chosen = quotes.default_contact(recipients)
    versions = quotes.quotes_of(offer.id)
    return {
        "quote_lines": list(offer.lines),
        "quote_versions": versions,
        "waiting_quote": next((q for q in versions if q.status == "sent"), None),
        "recipients": [r for r in recipients if r.email],
        "default_contact": chosen.person.id if chosen else None,
        "valid_until": date.today() + timedelta(days=quotes.valid_days()),
        "can_send_quote": can("write", "Offer") and offer.status == "pending",
    }


def zone_panel(record: str, record_id) -> dict:
    """What the staff's task and offer pages show of the zone: who can see the record, and
    every comment, file and link with its visibility."""
    record_id = int(record_id)  # FAB's show page has the key as text
    return {
        "record": record,
        "record_id": record_id,
        "shares": zone.shares(record, record_id),
        "candidates": zone.candidates(record, record_id),
        "comments": zone.comments(record, record_id, zone_only=False),
        "form": CommentForm(),
        "roles": SHARE_ROLE_LABELS,
        "can_write": can("write", record.capitalize()),
        "item": db.session.get(zone.RECORDS[record], record_id),
    }


class ZonePanelShow:
    """A task's or offer's show page with its zone panel (`zone_record`: "task" or "offer")."""

    zone_record: str

    def show_extra(self, pk) -> dict:
        """What else the page shows of the record (an offer's quotes and order)."""
        return {}

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return self.show_page(self._deserialize_pk_if_composite(pk))

    def show_page(self, pk, form: CommentForm | None = None):
        """The show page; `form`: the panel's comment form as a refused post left it."""
        widgets = self._show(pk)
        panel = zone_panel(self.zone_record, pk)
        if form is not None:
            panel["form"] = form
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=self._related_views,
            panel=panel,
            **self.show_extra(pk),
        )
