"""Form fields shared by the screens (a shared module): search-as-you-type pickers for the
relation fields, fed by /pick/<kind>/ a screenful at a time."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request, url_for
from flask_babel import format_currency
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import Field
from wtforms.validators import ValidationError
from wtforms.widgets import html_params

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
