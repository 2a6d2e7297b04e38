"""Finance: the products and services catalogue."""

from __future__ import annotations

from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l

from app.models import CURRENCIES, Product
from app.views.base import DossierModelView, datamodel
from app.views.labels import LABELS
from app.views.partners import choice_field, yes_no


class ProductView(DossierModelView):
    datamodel = datamodel(Product)
    route_base = "/products"
    class_permission_name = "Product"
    list_title = _l("Products and services")
    show_title = _l("Product")
    add_title = _l("New product")
    edit_title = _l("Edit product")
    label_columns = {**LABELS, "description": _l("Description")}
    list_columns = ["code", "name", "unit", "price", "currency", "vat_rate", "active"]
    search_columns = ["code", "name", "active", "currency"]
    add_columns = ["code", "name", "unit", "price", "currency", "vat_rate", "active",
                   "description"]
    edit_columns = add_columns
    show_columns = add_columns + ["suppliers"]
    base_order = ("name", "asc")
    formatters_columns = {
        "price": lambda p: format_decimal(p, "#,##0.00") if p is not None else "",
        "vat_rate": lambda v: format_decimal(v, "0.##") if v is not None else "",
        "active": yes_no,
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "currency": choice_field(_l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True))),
    }
