"""Form fields shared by the screens (a shared module): search-as-you-type pickers for the
relation fields, fed by /pick/<kind>/ a screenful at a time, and dates typed in the user's
locale order."""

from __future__ import annotations

import json
from datetime import date, datetime

from flask import current_app, g, has_request_context, request, url_for
from flask_babel import format_currency, gettext, to_utc
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import DateField, DateTimeField, Field
from wtforms.fields.core import UnboundField
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError
from wtforms.widgets import html_params

from app.formatting import (
    format_locale,
    input_date,
    input_datetime,
    input_number,
    local_time,
    parse_date,
    parse_datetime,
    picker_format,
)
from app.models import CODE_CATEGORY_LABELS
from app.services import pickers

# What select2 says while the user types, in the user's language.
PICKER_TEXTS = {
    "placeholder": _l("Type to search…"),
    "no-matches": _l("No matches"),
    "searching": _l("Searching…"),
    "error": _l("The choices could not be loaded."),
}


def describe(kind: str, record) -> dict:
    """How a choice reads: its name and what tells two of the same name apart."""
    if kind == "user":
        text, details = record.get_full_name(), [record.email]
    elif kind == "product":
        text, details = record.name, [record.code, format_currency(record.price, record.currency)]
        # What choosing it fills on a line (the lines editor), in the user's number format.
        return {
            "id": record.id,
            "text": text,
            "detail": " · ".join(d for d in details if d),
            "description": record.name,
            "unit": record.unit,
            "unit_price": input_number(record.price),
            "vat_rate": input_number(record.vat_rate),
            "currency": record.currency,
        }
    elif kind == "address":
        text, details = str(record), []
    elif kind == "code":
        text, details = record.name, [str(CODE_CATEGORY_LABELS.get(record.category, ""))]
    else:
        city = record.main_address.city if record.main_address else None
        text, details = record.display_name, [record.customer_number, city]
    return {"id": record.id, "text": text, "detail": " · ".join(d for d in details if d)}


def may_pick(kind: str) -> bool:
    resource = pickers.KINDS[kind].resource
    return current_app.appbuilder.sm.has_access("can_read", resource)


class PickerWidget:
    """A <select> holding only the chosen records; pickers.js turns it into a select2 box that
    asks the server as the user types."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs["class"] = f"{kwargs.pop('class_', kwargs.pop('class', ''))} dossier-picker".strip()
        attrs = {
            "name": field.name,
            "multiple": field.multiple,
            "data-pick-url": url_for("PickerView.pick", kind=field.kind),
            **{f"data-{key}": str(text) for key, text in PICKER_TEXTS.items()},
        }
        options = [] if field.multiple else [Markup('<option value=""></option>')]
        for record in field.records():
            choice = describe(field.kind, record)
            options.append(
                Markup('<option value="{}" data-detail="{}" selected>{}</option>').format(
                    choice["id"], choice["detail"], choice["text"]
                )
            )
        select = Markup("<select {}>{}</select>").format(
            Markup(html_params(**attrs, **kwargs)), Markup("").join(options)
        )
        return select + picker_script() if field.with_script else select


def picker_script() -> Markup:
    return Markup('<script src="{}" defer></script>').format(
        url_for("static", filename="dossier/pickers.js")
    )


def current_user():
    """The signed-in user, as a record of this session: the default owner or responsible."""
    if not has_request_context() or not getattr(g.get("user"), "id", None):
        return None
    found = pickers.chosen("user", [g.user.id])
    return found[0] if found else None


class PickerField(Field):
    """One record (or several, `multiple`) of a kind of `app.services.pickers.KINDS`, chosen by
    id; an id that does not exist or may not be picked is refused on the field."""

    widget = PickerWidget()

    def __init__(
        self,
        label=None,
        validators=None,
        kind: str = "partner",
        required: bool = False,
        multiple: bool = False,
        with_script: bool = True,
        **kwargs,
    ):
        super().__init__(label, validators, **kwargs)
        self.kind, self.required, self.multiple = kind, required, multiple
        # A list's search form loads pickers.js once for all its filters.
        self.with_script = with_script

    def records(self) -> list:
        if self.data is None:
            return []
        return list(self.data) if self.multiple else [self.data]

    def process_data(self, value):
        if value is None and not self.multiple:
            value = self._from_link()
        self.data = list(value or []) if self.multiple else value

    def _from_link(self):
        # "New offer" / "New task" … on a data sheet name the partner by its customer number.
        if self.kind != "partner" or not has_request_context() or request.method != "GET":
            return None
        number = request.args.get(self.name)
        return pickers.partner_by_number(number) if number else None

    def process_formdata(self, valuelist):
        self.data = [] if self.multiple else None
        given = [value.strip() for value in valuelist if value and value.strip()]
        if not given:
            return
        if not self.multiple:
            given = given[:1]
        try:
            ids = [int(value) for value in given]
        except ValueError as error:
            raise ValueError(_l("Choose from the list.")) from error
        found = pickers.chosen(self.kind, ids) if may_pick(self.kind) else []
        if len(found) != len(set(ids)):
            raise ValueError(_l("This choice does not exist or you may not see it."))
        self.data = found if self.multiple else found[0]

    def pre_validate(self, form):
        if self.required and not self.data and not self.process_errors:
            raise ValidationError(_l("This field is required."))


def PartnerField(label=None, required: bool = True, **kwargs) -> PickerField:
    return PickerField(label, kind="partner", required=required, **kwargs)


_PICKER_DATES: dict = {}


def picker_dates(locale) -> str:
    """Month and day names of the locale for the JS date picker (it wants Sunday first); made
    once per locale and language (every date field of every form asks)."""
    key = (str(locale), str(_l("Today")), str(_l("Clear")))
    found = _PICKER_DATES.get(key)
    if found is None:
        if len(_PICKER_DATES) >= 64:
            _PICKER_DATES.clear()
        found = _PICKER_DATES[key] = _picker_dates(locale)
    return found


def _picker_dates(locale) -> str:
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
