"""Form fields shared by the screens (a shared module): a partner chosen by customer number
or name."""

from __future__ import annotations

from flask import has_request_context, request, url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import or_, select
from wtforms import Field
from wtforms.validators import ValidationError

from app.extensions import db
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
