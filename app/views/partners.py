"""Generated screens for people, companies, contact persons, addresses, codes and the log."""

from __future__ import annotations

from functools import partial

from flask import current_app, g, redirect, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.filters import BaseFilter, FilterEqual
from flask_appbuilder.widgets import ListWidget
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from PIL import Image, UnidentifiedImageError
from wtforms import BooleanField
from wtforms.validators import ValidationError

from app.models import (
    ADDRESS_TYPE_LABELS,
    AUDIT_ACTION_LABELS,
    CODE_CATEGORY_LABELS,
    ENTITY_LABELS,
    LANGUAGE_NAMES,
    PAYMENT_METHOD_LABELS,
    STATUS_LABELS,
    Address,
    Affiliation,
    AuditLog,
    Code,
    Organization,
    PartnerAddress,
    Person,
)
from app.services.documents import audit_visible
from app.views.base import HIDDEN_COLUMNS, DossierModelView, datamodel, shown
from app.views.common import (
    audit_label,
    audit_text,
    choice_field,
    label_of,
    locale_number,
    short_datetime,
    yes_no,
)
from app.views.fields import PartnerField, PickerField, current_user
from app.views.labels import LABELS

# A profile picture needs no more; FAB would unpack and scale anything Pillow opens.
PICTURE_MAX_PIXELS = 40_000_000


def valid_picture(form, field) -> None:
    """A picture must be an image Pillow can read and no larger than PICTURE_MAX_MB."""
    stream = getattr(field.data, "stream", None)
    if stream is None or not getattr(field.data, "filename", None):
        return
    limit = current_app.config["PICTURE_MAX_MB"] * 1024 * 1024
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    if size > limit:
        mb = current_app.config["PICTURE_MAX_MB"]
        raise ValidationError(_l("The picture is larger than %(mb)s MB.") % {"mb": mb})
    too_many = ValidationError(
        _l("The picture has too many pixels: at most %(megapixels)s megapixels are allowed.")
        % {"megapixels": PICTURE_MAX_PIXELS // 1_000_000}
    )
    try:
        # Only the header is read here: a small file may unpack to gigabytes of pixels.
        image = Image.open(stream)
        if image.width * image.height > PICTURE_MAX_PIXELS:
            raise too_many
        image.verify()
    except Image.DecompressionBombError as error:
        raise too_many from error
    except (UnidentifiedImageError, OSError) as error:
        raise ValidationError(_l("This file is not an image.")) from error
    finally:
        stream.seek(0)


class SheetListWidget(ListWidget):
    """FAB's list, with the name linking to the data sheet and per-row extra links; on a phone
    it keeps only the `phone_columns`.

    The rows are written here, in Python, once per page: the template's loop over rows and
    cells (with its `shown` finalizer, escaping and whitespace per cell) was most of the list's
    rendering time."""

    template = "widgets/sheet_list.html"
    link_column = "display_name"
    row_links: tuple = ()
    phone_columns: tuple = ("display_name", "email")

    def __call__(self, **kwargs):
        args = {**self.template_args, **kwargs}
        classes = {
            column: f"list-{column}" + ("" if column in self.phone_columns else " hidden-xs")
            for column in args.get("include_columns", ())
        }
        kwargs.update(
            link_column=self.link_column,
            row_links=self.row_links,
            column_classes=classes,
            list_rows=partial(self.rows, args, classes),
        )
        return super().__call__(**kwargs)

    def rows(self, args, classes, actions, show_url, edit_url, delete_url, sheet_url, titles):
        """The table's rows, as the template wrote them: the action checkbox, FAB's buttons
        (show, edit, delete) and the row links, then each column through its formatter and the
        templates' `shown` (None as nothing, booleans as yes/no), escaped."""
        t_show, t_edit, t_delete = (escape(t) for t in titles)
        columns = [
            (
                column,
                args.get("formatters_columns", {}).get(column),
                f'<td class="{escape(classes[column])}">',
                column == self.link_column,
            )
            for column in args.get("include_columns", ())
        ]
        links = [(escape(icon), escape(label), url) for icon, label, url in self.row_links]
        buttons = bool(show_url or edit_url or delete_url or links)
        sheet_url = escape(sheet_url)
        texts: dict = {column: {} for column, *_ in columns}
        out = []
        for pk, item in zip(args.get("pks", ()), args.get("value_columns", ()), strict=True):
            key = escape(pk)
            out.append("<tr>")
            if actions:
                out.append(
                    f'<td class="hidden-xs"><input id="{key}" class="action_check" '
                    f'name="rowid" value="{key}" type="checkbox"></td>'
                )
            if buttons:
                out.append('<td class="list-buttons"><div class="btn-group btn-group-xs">')
                if show_url:
                    out.append(
                        f'<a href="{escape(show_url.replace("__pk__", str(pk)))}" '
                        f'class="btn btn-sm btn-default" title="{t_show}">'
                        '<i class="fa fa-search"></i></a>'
                    )
                if edit_url:
                    out.append(
                        f'<a href="{escape(edit_url.replace("__pk__", str(pk)))}" '
                        f'class="btn btn-sm btn-default" title="{t_edit}">'
                        '<i class="fa fa-edit"></i></a>'
                    )
                if delete_url:
                    out.append(
                        f'<a href="#" data-href="{escape(delete_url.replace("__pk__", str(pk)))}"'
                        ' class="btn btn-sm btn-default confirm row-delete" '
                        f'title="{t_delete}"><i class="fa fa-trash"></i></a>'
                    )
                for icon, label, url in links:
                    out.append(
                        f'<a href="{escape(url.format(pk=pk))}" class="btn btn-sm btn-default '
                        f'row-link" title="{label}"><i class="fa {icon}"></i></a>'
                    )
                out.append("</div></td>")
            for column, formatter, td, is_link in columns:
                value = item[column]
                if formatter:
                    # A formatter's text (a translated label, a date) made once per value
                    # and page: a lazy label was translated again for every row.
                    known = texts[column]
                    try:
                        text = known[value]
                    except KeyError:
                        text = known[value] = escape(shown(formatter(value)))
                    except TypeError:  # a value that cannot be a key
                        text = escape(shown(formatter(value)))
                    value = text
                else:
                    value = escape(shown(value))
                if is_link:
                    link = f'<a href="{sheet_url}{key}" class="sheet-link">{value}</a>'
                    out.append(f"{td}{link}</td>")
                else:
                    out.append(f"{td}{value}</td>")
            out.append("</tr>\n")
        return Markup("".join(out))


class CompanyListWidget(SheetListWidget):
    row_links = (("fa-address-book", _l("Contact persons"), "/partner/{pk}/people"),)


class AffiliationListWidget(SheetListWidget):
    link_column = None
    phone_columns = ("person", "email")


# What the lists of people and companies read of each row (with their own columns).
LIST_LOAD = ("customer_number", "display_name", "email", "status", "owner")


class PartnerFormMixin:
    """What people and companies share in their forms."""

    class_permission_name = "Partner"
    list_widget = SheetListWidget
    label_columns = LABELS
    base_order = ("display_name", "asc")
    order_columns = ["customer_number", "display_name", "email", "status"]
    formatters_columns = {"status": label_of(STATUS_LABELS)}
    validators_columns = {"picture": [valid_picture]}
    show_exclude_columns = ["notes", "address_links", "affiliations", *HIDDEN_COLUMNS]

    @staticmethod
    def extra_fields():
        return {
            "status": choice_field(_l("Status"), STATUS_LABELS),
            "language": choice_field(_l("Language"), LANGUAGE_NAMES, required=False),
            "owner": PickerField(LABELS["owner"], kind="user", default=current_user),
            "supplied_products": PickerField(
                LABELS["supplied_products"], kind="product", multiple=True
            ),
            "codes": PickerField(LABELS["codes"], kind="code", multiple=True),
        }

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return redirect(url_for("DataSheetView.sheet", partner_id=pk))


COMMON = [
    "status",
    "owner",
    "email",
    "phone",
    "mobile",
    "website",
    "language",
    "codes",
    "supplied_products",
    "picture",
    "description",
]


class PersonView(PartnerFormMixin, DossierModelView):
    datamodel = datamodel(Person, list_load=(*LIST_LOAD, "phone"))
    # Redundant for the join, but lets the database walk ix_partner_type_name in name order.
    base_filters = [["type", FilterEqual, "person"]]
    route_base = "/people"
    list_title = _l("People")
    show_title = _l("Person")
    add_title = _l("Add person")
    edit_title = _l("Edit person")
    list_columns = ["customer_number", "display_name", "email", "phone", "status", "owner"]
    search_columns = [
        "display_name",
        "customer_number",
        "email",
        "phone",
        "status",
        "owner",
        "codes",
        "birthday",
    ]
    add_columns = (
        ["title", "first_name", "last_name", "birthday"]
        + COMMON
        + ["bank_account", "payment_method"]
    )
    edit_columns = add_columns
    add_form_extra_fields = {
        **PartnerFormMixin.extra_fields(),
        "payment_method": choice_field(_l("Payment method"), PAYMENT_METHOD_LABELS, False),
    }
    edit_form_extra_fields = add_form_extra_fields


class OrganizationView(PartnerFormMixin, DossierModelView):
    datamodel = datamodel(Organization, list_load=(*LIST_LOAD, "tax_number", "phone"))
    base_filters = [["type", FilterEqual, "organization"]]
    route_base = "/companies"
    list_widget = CompanyListWidget
    list_title = _l("Companies")
    show_title = _l("Company")
    add_title = _l("Add company")
    edit_title = _l("Edit company")
    list_columns = [
        "customer_number",
        "display_name",
        "tax_number",
        "email",
        "phone",
        "status",
        "owner",
    ]
    search_columns = [
        "display_name",
        "customer_number",
        "tax_number",
        "email",
        "status",
        "owner",
        "codes",
    ]
    add_columns = ["name", "tax_number", "registration_number", "industry_code"] + COMMON
    edit_columns = add_columns
    add_form_extra_fields = PartnerFormMixin.extra_fields()
    edit_form_extra_fields = add_form_extra_fields


AFFILIATION_FLAGS = ("is_contact_person", "may_collect_mail", "may_represent")


class AffiliationView(DossierModelView):
    """People in companies; filtering on a company and a flag answers "who may collect mail"."""

    datamodel = datamodel(Affiliation)
    route_base = "/contact-persons"
    class_permission_name = "Affiliation"
    list_widget = AffiliationListWidget
    list_title = _l("Contact persons")
    show_title = _l("Contact person")
    add_title = _l("Add contact person")
    edit_title = _l("Edit contact person")
    label_columns = LABELS
    list_columns = [
        "person",
        "organization",
        "role",
        "email",
        "phone",
        "is_contact_person",
        "may_collect_mail",
        "may_represent",
    ]
    # No filter on person: its drop-down would list every person in the database.
    search_columns = [
        "organization",
        "role",
        "is_contact_person",
        "may_collect_mail",
        "may_represent",
    ]
    add_columns = [
        "person",
        "organization",
        "role",
        "department",
        "email",
        "phone",
        "address",
        "is_contact_person",
        "may_collect_mail",
        "may_represent",
        "additional_info",
    ]
    edit_columns = add_columns
    show_columns = add_columns
    formatters_columns = {
        "is_contact_person": yes_no,
        "may_collect_mail": yes_no,
        "may_represent": yes_no,
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "person": PickerField(LABELS["person"], kind="person", required=True),
        "organization": PickerField(LABELS["organization"], kind="organization", required=True),
        "address": PickerField(LABELS["address"], kind="address"),
        # FAB makes a NOT NULL boolean a required tick: each flag may be left unticked.
        **{flag: BooleanField(LABELS[flag]) for flag in AFFILIATION_FLAGS},
    }


class PartnerAddressView(DossierModelView):
    datamodel = datamodel(PartnerAddress)
    route_base = "/address-links"
    class_permission_name = "Address"
    list_title = _l("Linked partners")
    show_title = _l("Address link")
    add_title = _l("Link an address")
    edit_title = _l("Edit address link")
    label_columns = LABELS
    list_columns = ["partner", "type"]
    add_columns = ["partner", "address", "type"]
    edit_columns = add_columns
    show_columns = add_columns
    formatters_columns = {"type": label_of(ADDRESS_TYPE_LABELS)}
    add_form_extra_fields = {
        "partner": PartnerField(LABELS["partner"]),
        "address": PickerField(LABELS["address"], kind="address", required=True),
        "type": choice_field(_l("Type"), ADDRESS_TYPE_LABELS),
    }
    edit_form_extra_fields = add_form_extra_fields


class AddressView(DossierModelView):
    datamodel = datamodel(Address)
    route_base = "/addresses"
    class_permission_name = "Address"
    list_title = _l("Addresses")
    show_title = _l("Address")
    add_title = _l("Add address")
    edit_title = _l("Edit address")
    label_columns = LABELS
    list_columns = ["street", "postal_code", "city", "country", "latitude", "longitude"]
    search_columns = ["street", "postal_code", "city", "country"]
    add_columns = list_columns
    edit_columns = list_columns
    show_columns = list_columns
    base_order = ("city", "asc")
    related_views = [PartnerAddressView]
    formatters_columns = {"latitude": locale_number, "longitude": locale_number}


class CodeView(DossierModelView):
    datamodel = datamodel(Code)
    route_base = "/codes"
    class_permission_name = "Code"
    list_title = _l("Codes")
    show_title = _l("Code")
    add_title = _l("Add code")
    edit_title = _l("Edit code")
    label_columns = {**LABELS, "description": _l("Description")}
    list_columns = ["category", "name", "description"]
    search_columns = ["category", "name"]
    add_columns = list_columns
    edit_columns = list_columns
    show_columns = list_columns
    base_order = ("name", "asc")
    formatters_columns = {"category": label_of(CODE_CATEGORY_LABELS)}
    add_form_extra_fields = {"category": choice_field(_l("Category"), CODE_CATEGORY_LABELS)}
    edit_form_extra_fields = add_form_extra_fields


class VisibleAudit(BaseFilter):
    """Change-log entries the reader may see (no names of documents hidden from them)."""

    name = "visible"

    def apply(self, query, value):
        return query.filter(audit_visible(g.user))


class AuditLogView(DossierModelView):
    """The global change log; read-only by design."""

    datamodel = datamodel(AuditLog)
    route_base = "/change-log"
    class_permission_name = "AuditLog"
    base_permissions = ["can_read"]
    list_title = _l("Change log")
    label_columns = LABELS
    list_columns = [
        "at",
        "user",
        "action",
        "entity",
        "entity_id",
        "field",
        "old_value",
        "new_value",
    ]
    search_columns = ["at", "action", "entity", "entity_id", "partner_id", "field"]
    show_columns = list_columns
    base_order = ("at", "desc")
    base_filters = [["id", VisibleAudit, None]]
    show_title = _l("Change")
    formatters_columns = {
        "at": short_datetime,
        "action": label_of(AUDIT_ACTION_LABELS),
        "entity": label_of(ENTITY_LABELS),
    }

    @staticmethod
    def _in_words(row: dict) -> None:
        """The field's label and the values as people read them (FAB's formatters see one
        value; these need the row's record and field)."""
        entity, field = row["entity"], row["field"]
        for key in ("old_value", "new_value"):
            row[key] = audit_text(entity, field, row[key]) if field else ""
        row["field"] = audit_label(field)

    def _get_list_widget(self, *args, **kwargs):
        widgets = super()._get_list_widget(*args, **kwargs)
        rows = list(widgets["list"].template_args["value_columns"])
        for row in rows:
            self._in_words(row)
        widgets["list"].template_args["value_columns"] = rows
        return widgets

    def _get_show_widget(self, *args, **kwargs):
        widgets = super()._get_show_widget(*args, **kwargs)
        args_ = widgets["show"].template_args
        row = dict(zip(args_["include_columns"], args_["value_columns"], strict=True))
        self._in_words(row)
        args_["value_columns"] = [row[column] for column in args_["include_columns"]]
        return widgets
