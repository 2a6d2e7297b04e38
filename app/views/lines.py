"""The lines editor (a shared module, not a screen): one table of a draft invoice's or an
offer's lines on its page, with a product picker per line that fills description, unit,
price and VAT rate, each change saved as it is made and the totals kept live.

dossier/lines.js posts a line's fields as JSON (with the page's CSRF token) and shows the
answer: the lines and totals as the server stores them, or the refusal beside its field.
Without a script each row is a form of its own and a save comes back to the page."""

from __future__ import annotations

import json
from decimal import Decimal

from flask import current_app, flash, g, jsonify, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError, NotFound
from app.extensions import db
from app.formatting import input_number, money_format, money_text, parse_number
from app.models import UNIT_LABELS
from app.services import lines as service
from app.services import pickers
from app.views.base import as_domain_error, refusal_log
from app.views.fields import PICKER_TEXTS, describe, may_pick

# The editor's fields, their labels, and the decimals a number field may have (its column's).
LABELS = {
    "product": _l("Product"),
    "description": _l("Description"),
    "quantity": _l("Quantity"),
    "unit": _l("Unit"),
    "unit_price": _l("Unit price"),
    "discount": _l("Discount (%)"),
    "vat_rate": _l("VAT rate (%)"),
}
DECIMALS = {"quantity": 3, "unit_price": 2, "discount": 2, "vat_rate": 2}
# Digits before the point that the columns hold: the script says so as one types (the model
# refuses more on flush).
WHOLE_DIGITS = {"quantity": 9, "unit_price": 12, "discount": 3, "vat_rate": 3}
# The model's words for a number out of its range, which the script says as one types.
RANGES = {
    "quantity": _l("The quantity must be more than zero."),
    "discount": _l("The discount must be between 0 and 100 per cent."),
    "vat_rate": _l("The VAT rate must be between 0 and 100 per cent."),
}
# What the script says, in the user's language.
TEXTS = {
    "notANumber": _l("Not a number."),
    "tooManyDecimals": _l("At most %(digits)s decimals."),
    "tooLarge": _l("The number is too large."),
    "required": _l("This field is required."),
    "failed": _l("The change could not be saved. Reload the page and try again."),
    "saving": _l("Saving…"),
    "saved": _l("Saved"),
    "otherCurrency": _l("The product's price is in %(currency)s."),
}


def fields_of(kind: str) -> list[str]:
    names = list(LABELS)
    return names if service.KINDS[kind].discount else [n for n in names if n != "discount"]


def line_row(kind: str, line, currency: str) -> dict:
    """A line as the editor shows it: inputs in the user's number format, its net as money."""
    row = {
        "id": line.id,
        "product": describe("product", line.product) if line.product is not None else None,
        "description": line.description,
        "quantity": input_number(line.quantity),
        "unit": line.unit,
        "unit_price": input_number(line.unit_price),
        "vat_rate": input_number(line.vat_rate),
        "net": money_text(line.net, currency),
    }
    if service.KINDS[kind].discount:
        row["discount"] = input_number(line.discount)
    return row


def totals_text(kind: str, lines, currency: str) -> dict:
    found = service.totals(lines)

    def money(amount: Decimal) -> str:
        return money_text(amount, currency)

    return {
        "net": money(found["net"]),
        "vat": money(found["vat"]),
        "gross": money(found["gross"]),
        "summary": [
            {"rate": input_number(rate), "net": money(net), "vat": money(vat)}
            for rate, net, vat in found["summary"]
        ],
    }


def editor(kind: str, owner_id: int) -> dict:
    """What the page and the script need: the lines, the totals, whether they may change,
    where changes go, and how numbers and money are written in the user's locale."""
    owner = service.owner_of(kind, owner_id)
    lines = service.lines_of(kind, owner_id)
    currency = owner.currency
    editable = service.is_editable(kind, owner) and current_app.appbuilder.sm.has_access(
        "can_write", PERMISSIONS[kind]
    )
    add_url = url_for(f"{ENDPOINTS[kind]}.add_line", owner_id=owner_id)
    config = {
        "kind": kind,
        "currency": currency,
        "addUrl": add_url,
        "lineUrl": add_url + "/{id}",
        "removeUrl": add_url + "/{id}/delete",
        "money": money_format(currency),
        "decimal": money_format(currency)["decimal"],
        "group": money_format(currency)["group"],
        "decimals": DECIMALS,
        "wholeDigits": WHOLE_DIGITS,
        "discount": service.KINDS[kind].discount,
        "texts": {
            **{key: str(text) for key, text in TEXTS.items()},
            "ranges": {key: str(text) for key, text in RANGES.items()},
        },
    }
    return {
        "kind": kind,
        "endpoint": ENDPOINTS[kind],
        "owner_id": owner_id,
        "editable": editable,
        "currency": currency,
        "fields": fields_of(kind),
        "labels": LABELS,
        "lines": [line_row(kind, line, currency) for line in lines],
        "totals": totals_text(kind, lines, currency),
        "units": {key: str(label) for key, label in UNIT_LABELS.items() if key != "h"},
        "picker": {
            "url": url_for("PickerView.pick", kind="product"),
            "texts": {key: str(text) for key, text in PICKER_TEXTS.items()},
            "allowed": may_pick("product"),
        },
        "config": json.dumps(config, ensure_ascii=False),
    }


# The show endpoint of each kind's page and the view answering its lines.
PAGES = {"invoice": "InvoiceView.show", "offer": "OfferView.show"}
ENDPOINTS = {"invoice": "InvoiceLinesView", "offer": "OfferLinesView"}
PERMISSIONS = {"invoice": "Invoice", "offer": "Offer"}


def read_values(kind: str, source) -> tuple[dict, dict]:
    """The fields sent (JSON or a form), as the service takes them, and what is wrong with
    them by field (in the user's language). A field not sent is not changed."""
    values, errors = {}, {}
    for name in fields_of(kind):
        if name not in source:
            continue
        given = source.get(name)
        raw = "" if given is None else str(given).strip()
        if name == "product":
            values["product_id"], error = _product(raw)
        elif name in DECIMALS:
            # A JSON number is a number as it is; text is read as the user's locale writes it.
            is_number = isinstance(given, int | float) and not isinstance(given, bool)
            values[name], error = _number(name, raw, plain=is_number)
        else:
            values[name], error = raw, None
        if error:
            errors[name] = error
    return values, errors


def _product(raw: str) -> tuple[int | None, str | None]:
    if not raw:
        return None, None
    try:
        wanted = int(raw)
    except ValueError:
        return None, gettext("Choose from the list.")
    found = pickers.chosen("product", [wanted]) if may_pick("product") else []
    if not found:
        return None, gettext("This choice does not exist or you may not see it.")
    return found[0].id, None


def _number(name: str, raw: str, plain: bool = False) -> tuple[Decimal | None, str | None]:
    try:
        value = parse_number(raw, "en" if plain else None)
    except ValueError:
        return None, str(TEXTS["notANumber"])
    if value is None:
        # An empty price or VAT rate comes from the product; quantity and discount are numbers.
        if name == "quantity":
            return None, gettext("%(field)s is required.", field=LABELS[name])
        return (Decimal(0) if name == "discount" else None), None
    if -value.as_tuple().exponent > DECIMALS[name]:
        return None, str(TEXTS["tooManyDecimals"]) % {"digits": DECIMALS[name]}
    return value, None


def field_of(error: DomainError) -> str | None:
    """The editor's field a refusal is about (the model's `product_id` is `product`)."""
    name = getattr(error, "field", None)
    if name == "product_id":
        return "product"
    return name if name in LABELS else None


class LinesEditorShow:
    """A FAB show page with the lines editor (`lines_kind`: "invoice" or "offer")."""

    lines_kind: str

    def _show(self, pk):
        widgets = super()._show(pk)
        widgets["lines_editor"] = editor(self.lines_kind, int(pk))
        return widgets


class LinesEndpoints:
    """`POST /<kind>/<id>/lines` adds a line, `…/lines/<line id>` changes one and
    `…/lines/<line id>/delete` removes it; a JSON request is answered with the lines and
    totals (or the refusal by field), a form with the page again."""

    lines_kind: str
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"add_line": "write", "change_line": "write", "remove_line": "write"}

    @expose("/<int:owner_id>/lines", methods=["POST"])
    @has_access
    def add_line(self, owner_id: int):
        return self._write(owner_id, None, created=True)

    @expose("/<int:owner_id>/lines/<int:line_id>", methods=["POST"])
    @has_access
    def change_line(self, owner_id: int, line_id: int):
        return self._write(owner_id, line_id)

    @expose("/<int:owner_id>/lines/<int:line_id>/delete", methods=["POST"])
    @has_access
    def remove_line(self, owner_id: int, line_id: int):
        return self._write(owner_id, line_id, removing=True)

    def _write(self, owner_id: int, line_id: int | None, created=False, removing=False):
        kind, user_id = self.lines_kind, g.user.id
        source = request.form
        if request.is_json:
            source = request.get_json(silent=True)
            source = source if isinstance(source, dict) else {}
        values, errors = ({}, {}) if removing else read_values(kind, source)
        if errors:
            service.owner_of(kind, owner_id)  # a missing record is a 404, not a form error
            return self._refused(kind, owner_id, None, errors)
        line = None
        try:
            if removing:
                service.remove_line(kind, owner_id, line_id, user_id)
            elif created:
                line = service.add_line(kind, owner_id, user_id, values)
            else:
                line = service.change_line(kind, owner_id, line_id, user_id, values)
        except NotFound:
            raise
        except (DomainError, IntegrityError) as error:
            db.session.rollback()
            if isinstance(error, IntegrityError):
                error = as_domain_error(error)
            refusal_log(error)
            field = field_of(error)
            return self._refused(kind, owner_id, error, {field: str(error)} if field else {})
        if not request.is_json:
            saved = gettext("The line was saved.")
            flash(gettext("The line was removed.") if removing else saved, "success")
            return redirect(url_for(PAGES[kind], pk=owner_id))
        state = editor(kind, owner_id)
        answer = {
            "line": next((r for r in state["lines"] if line and r["id"] == line.id), None),
            "lines": state["lines"],
            "totals": state["totals"],
            "editable": state["editable"],
        }
        return jsonify(answer), 201 if created else 200

    def _refused(self, kind: str, owner_id: int, error: DomainError | None, errors: dict):
        """The refusal: by field (beside it on the page) and as one message."""
        message = str(error) if error is not None else next(iter(errors.values()))
        if request.is_json:
            status = error.status if error is not None else 400
            return jsonify(message=message, errors=errors), status
        for name, text in errors.items():
            flash(gettext("%(field)s: %(message)s", field=LABELS[name], message=text), "danger")
        if not errors:
            flash(message, "danger")
        return redirect(url_for(PAGES[kind], pk=owner_id))
