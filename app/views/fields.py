"""Form fields shared by the screens (a shared module): a partner chosen by customer number
or name, and dates typed in the user's locale order."""

from __future__ import annotations

import json
from datetime import date, datetime

from flask import has_request_context, request, url_for
from flask_babel import gettext, to_utc
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import or_, select
from wtforms import DateField, DateTimeField, Field
from wtforms.fields.core import UnboundField
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError
from wtforms.widgets import html_params

from app.extensions import db
from app.formatting import (
    format_locale,
    input_date,
    input_datetime,
    local_time,
    parse_date,
    parse_datetime,
    picker_format,
)
from app.models import Partner


class PartnerInput:
    """A text input with suggestions from /partner/lookup (no drop-down of every partner)."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        options = f"{field.id}-options"
        value = escape(field._value())
        attrs = " ".join(f'{k}="{escape(v)}"' for k, v in kwargs.items() if k != "id")
        lookup = url_for("DataSheetView.lookup")
        script = url_for("static", filename="dossier/partner-lookup.js")
        placeholder = escape(_l("Customer number or name"))
        return Markup(
            f'<input type="text" id="{field.id}" name="{field.name}" value="{value}" '
            f'list="{options}" autocomplete="off" data-partner-lookup="{lookup}" '
            f'placeholder="{placeholder}" {attrs}>'
            f'<datalist id="{options}"></datalist><script src="{script}" defer></script>'
        )


class PartnerField(Field):
    widget = PartnerInput()

    def __init__(self, label=None, validators=None, required: bool = True, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.required = required

    def _value(self) -> str:
        if isinstance(self.data, Partner):
            return self.data.customer_number
        if self.raw_data:
            return self.raw_data[0]
        # "New offer" / "New task" on a data sheet pass the partner in the URL.
        return request.args.get(self.name, "") if has_request_context() else ""

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        self.raw_data = valuelist
        if not text:
            self.data = None
            return
        number = text.split(" ", 1)[0]
        self.data = db.session.scalar(
            select(Partner)
            .where(or_(Partner.customer_number == number, Partner.display_name == text))
            .limit(1)
        )
        if self.data is None:
            raise ValueError(_l("No partner with this customer number or name."))

    def pre_validate(self, form):
        if self.required and self.data is None and not self.process_errors:
            raise ValidationError(_l("Choose a partner."))


def lookup_partners(text: str, limit: int = 15) -> list[dict]:
    text = (text or "").strip()
    if len(text) < 2:
        return []
    rows = db.session.execute(
        select(Partner.id, Partner.customer_number, Partner.display_name)
        .where(
            or_(Partner.customer_number.startswith(text), Partner.display_name.ilike(f"%{text}%"))
        )
        .order_by(Partner.display_name)
        .limit(limit)
    ).all()
    return [{"id": r.id, "value": r.customer_number, "label": r.display_name} for r in rows]


def picker_dates(locale) -> str:
    """Month and day names of the locale for the JS date picker (it wants Sunday first)."""
    days = [locale.days["format"]["wide"][(i + 6) % 7] for i in range(7)]
    short = [locale.days["format"]["abbreviated"][(i + 6) % 7] for i in range(7)]
    narrow = [locale.days["stand-alone"]["short"][(i + 6) % 7] for i in range(7)]
    return json.dumps(
        {
            "days": days,
            "daysShort": short,
            "daysMin": narrow,
            "months": [locale.months["stand-alone"]["wide"][m] for m in range(1, 13)],
            "monthsShort": [locale.months["stand-alone"]["abbreviated"][m] for m in range(1, 13)],
            "today": str(_l("Today")),
            "clear": str(_l("Clear")),
            "weekStart": 1,
        },
        ensure_ascii=False,
    )


class LocaleDateInput:
    """A text input in the user's date order (hu 2026. 12. 02., de 02.12.2026, en 02/12/2026)
    with FAB's vendored date picker told that order and the month names
    (dossier/date-input.js; the server reads what is typed, the picker only helps)."""

    def __init__(self, with_time: bool = False):
        self.with_time = with_time

    def __call__(self, field, **kwargs):
        locale = format_locale()
        kwargs.setdefault("id", field.id)
        given = (kwargs.pop("class_", ""), kwargs.pop("class", ""))
        kwargs["class"] = " ".join(dict.fromkeys(" ".join((*given, "form-control")).split()))
        kwargs.pop("type", None)  # always text: a native date input shows the browser's order
        params = html_params(
            type="text",
            name=field.name,
            value=field._value(),
            autocomplete="off",
            data_locale_date="",
            data_picker_format=picker_format(locale),
            data_picker_language=str(locale),
            data_picker_dates=picker_dates(locale),
            data_with_time="" if self.with_time else False,
            **kwargs,
        )
        script = url_for("static", filename="dossier/date-input.js")
        return Markup(f'<input {params}><script src="{script}" defer></script>')


class LocaleDateField(Field):
    """A date typed in the user's locale order (ISO 2026-12-02 is read too)."""

    widget = LocaleDateInput()

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return input_date(self.data) if isinstance(self.data, date) else ""

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        try:
            self.data = parse_date(valuelist[0] if valuelist else "")
        except ValueError:
            self.data = None
            raise ValueError(
                gettext(
                    "Not a valid date; for example %(example)s.", example=input_date(date.today())
                )
            ) from None


class LocaleDateTimeField(Field):
    """A date and time typed in the user's locale order. `utc`: the data is a stored moment
    (naive UTC) shown and typed in the user's time zone; otherwise it is local time as typed."""

    widget = LocaleDateInput(with_time=True)

    def __init__(self, label=None, validators=None, utc: bool = False, **kwargs):
        kwargs.pop("format", None)
        super().__init__(label, validators, **kwargs)
        self.utc = utc

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if not isinstance(self.data, datetime):
            return ""
        return input_datetime(local_time(self.data) if self.utc else self.data)

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        try:
            local = parse_datetime(valuelist[0] if valuelist else "")
        except ValueError:
            self.data = None
            example = input_datetime(datetime.now().replace(second=0, microsecond=0))
            raise ValueError(
                gettext("Not a valid date and time; for example %(example)s.", example=example)
            ) from None
        if local is not None and self.utc:
            local = to_utc(local)
        self.data = local


def localise_date_fields(form_class) -> None:
    """FAB's generated forms: its date and date-time fields (fixed ISO format, its own picker)
    become the locale's (stored moments are UTC: shown and typed in the user's zone)."""
    if form_class is None:
        return
    for name, unbound in list(vars(form_class).items()):
        if not isinstance(unbound, UnboundField):
            continue
        kinds = {DateField: LocaleDateField, DateTimeField: LocaleDateTimeField}
        replacement = kinds.get(unbound.field_class)
        if replacement is None:
            continue
        kwargs = {k: v for k, v in unbound.kwargs.items() if k not in ("widget", "format")}
        if replacement is LocaleDateTimeField:
            kwargs["utc"] = True
        setattr(form_class, name, replacement(*unbound.args, **kwargs))


def date_input(name: str, value: date | None, **attrs) -> Markup:
    """The date input of a hand-written form (templates), the same as the generated forms'."""
    field = LocaleDateField(_form=None, _meta=DefaultMeta(), name=name)
    field.data = value
    return field(**attrs)
