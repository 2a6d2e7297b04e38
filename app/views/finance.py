"""Finance: the products and services catalogue, invoices and their PDF."""

from __future__ import annotations

import io

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_babel import format_date, format_decimal, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, StringField
from wtforms.validators import DataRequired, Length, NumberRange
from wtforms.validators import Optional as OptionalValue

from app.extensions import db
from app.models import (
    CONTRACT_STATUS_LABELS,
    CURRENCIES,
    INVOICE_STATUS_LABELS,
    Contract,
    DocumentTemplate,
    Invoice,
    InvoiceLine,
    Product,
    Quota,
)
from app.services import invoicing
from app.views.base import DossierModelView, datamodel
from app.views.fields import PartnerField
from app.views.labels import LABELS
from app.views.partners import choice_field, label_of, yes_no


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


class PaymentForm(FlaskForm):
    amount = DecimalField(_l("Amount"), places=2, validators=[DataRequired(),
                                                              NumberRange(min=0.01)])
    paid_on = DateField(_l("Paid on"), validators=[DataRequired()])
    reference = StringField(_l("Reference"), validators=[OptionalValue(), Length(max=120)])


class InvoiceLineView(DossierModelView):
    """Lines of a draft invoice (a related list on the invoice's page)."""

    datamodel = datamodel(InvoiceLine)
    route_base = "/invoice-lines"
    class_permission_name = "Invoice"
    list_title = _l("Lines")
    label_columns = {**LABELS, "description": _l("Description"), "quantity": _l("Quantity"),
                     "unit_price": _l("Unit price"), "product": _l("Product"),
                     "net": _l("Net"), "invoice": _l("Invoice")}
    list_columns = ["position", "description", "quantity", "unit", "unit_price", "vat_rate",
                    "net"]
    add_columns = ["invoice", "product", "description", "quantity", "unit", "unit_price",
                   "vat_rate"]
    edit_columns = add_columns
    show_columns = add_columns
    base_order = ("position", "asc")
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "product": [["active", FilterEqual, True]],
        "invoice": [["status", FilterEqual, "draft"]]}

    def pre_add(self, item):
        # A line from a product takes the product's text, unit, price and VAT unless typed in.
        product = item.product
        if product is not None:
            item.description = item.description or product.name
            item.unit_price = item.unit_price or product.price
        item.position = len(item.invoice.lines) + 1 if item.invoice else 1
        super().pre_add(item)
        item.invoice.recompute()

    def pre_update(self, item):
        super().pre_update(item)
        item.invoice.recompute()


class InvoiceView(DossierModelView):
    datamodel = datamodel(Invoice)
    route_base = "/invoices"
    class_permission_name = "Invoice"
    list_title = _l("Invoices")
    show_title = _l("Invoice")
    add_title = _l("New invoice")
    edit_title = _l("Edit invoice")
    show_template = "finance/invoice_show.html"
    extra_args = {"invoice_statuses": INVOICE_STATUS_LABELS}
    label_columns = {**LABELS, "number": _l("Number"), "issue_date": _l("Issue date"),
                     "due_date": _l("Due date"), "gross_total": _l("Total"),
                     "net_total": _l("Net total"), "vat_total": _l("VAT"),
                     "notes": _l("Notes"), "billing_name": _l("Billed to"),
                     "billing_address": _l("Billing address")}
    list_columns = ["number", "partner", "issue_date", "due_date", "gross_total", "currency",
                    "status"]
    search_columns = ["number", "status", "issue_date", "due_date", "currency"]
    add_columns = ["partner", "currency", "issue_date", "due_date", "notes"]
    edit_columns = add_columns
    show_columns = ["number", "partner", "status", "billing_name", "billing_address",
                    "issue_date", "due_date", "currency", "net_total", "vat_total",
                    "gross_total", "notes"]
    base_order = ("id", "desc")
    related_views = [InvoiceLineView]
    formatters_columns = {
        "status": label_of(INVOICE_STATUS_LABELS),
        "gross_total": lambda v: format_decimal(v, "#,##0.00") if v is not None else "",
        "issue_date": lambda d: format_date(d) if d else "",
        "due_date": lambda d: format_date(d) if d else "",
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "partner": PartnerField(_l("Partner")),
        "currency": choice_field(_l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True))),
    }

    def pre_add(self, item):
        item.language = item.partner.language if item.partner else None
        super().pre_add(item)

    @expose("/<int:invoice_id>/issue", methods=["POST"])
    @has_access
    def issue(self, invoice_id: int):
        if not FlaskForm().validate():
            abort(400)
        invoice = invoicing.issue(invoice_id, g.user.id)
        flash(gettext("Invoice %(number)s was issued.", number=invoice.number), "success")
        return redirect(url_for(".show", pk=invoice_id))

    @expose("/<int:invoice_id>/status", methods=["POST"])
    @has_access
    def change_status(self, invoice_id: int):
        if not FlaskForm().validate() or request.form.get("status") not in INVOICE_STATUS_LABELS:
            abort(400)
        invoicing.set_status(invoice_id, g.user.id, request.form["status"])
        flash(gettext("The invoice was saved."), "success")
        return redirect(url_for(".show", pk=invoice_id))

    @expose("/<int:invoice_id>/payment", methods=["POST"])
    @has_access
    def payment(self, invoice_id: int):
        form = PaymentForm()
        invoice = db.get_or_404(Invoice, invoice_id)
        if form.validate():
            invoicing.record_payment(invoice_id, g.user.id, form.amount.data,
                                     paid_on=form.paid_on.data, reference=form.reference.data)
            flash(gettext("The payment was recorded."), "success")
        else:
            for errors in form.errors.values():
                for error in errors:
                    flash(str(error), "danger")
        return redirect(request.referrer or url_for("DataSheetView.tab",
                                                    partner_id=invoice.partner_id, key="account"))

    @expose("/<int:invoice_id>/email", methods=["POST"])
    @has_access
    def email(self, invoice_id: int):
        if not FlaskForm().validate():
            abort(400)
        invoice = invoicing.email_invoice(invoice_id, g.user.id)
        flash(gettext("The invoice was queued for e-mail to %(email)s.",
                      email=invoice.partner.email), "success")
        return redirect(url_for(".show", pk=invoice_id))



class InvoicePdfView(BaseView):
    """`GET /invoice/<id>/pdf`: the invoice's PDF, for whoever may read invoices."""

    route_base = "/invoice"
    class_permission_name = "Invoice"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"pdf": "read"}

    @expose("/<int:invoice_id>/pdf")
    @has_access
    def pdf(self, invoice_id: int):
        invoice = db.get_or_404(Invoice, invoice_id)
        name = (invoice.number or f"draft-{invoice.id}").replace("/", "-")
        return send_file(io.BytesIO(invoicing.render_pdf(invoice)), mimetype="application/pdf",
                         as_attachment=True, download_name=f"invoice-{name}.pdf")


class QuotaView(DossierModelView):
    datamodel = datamodel(Quota)
    route_base = "/quotas"
    class_permission_name = "Contract"
    list_title = _l("Quotas")
    label_columns = {**LABELS, "bought": _l("Bought"), "used": _l("Used"), "left": _l("Left"),
                     "contract": _l("Contract")}
    list_columns = ["name", "unit", "bought", "used", "left"]
    add_columns = ["contract", "name", "unit", "bought", "used"]
    edit_columns = add_columns
    show_columns = add_columns + ["left"]


class ContractView(DossierModelView):
    datamodel = datamodel(Contract)
    route_base = "/contracts"
    class_permission_name = "Contract"
    list_title = _l("Contracts")
    show_title = _l("Contract")
    add_title = _l("New contract")
    edit_title = _l("Edit contract")
    label_columns = {**LABELS, "plan": _l("Plan"), "starts_on": _l("Starts on"),
                     "ends_on": _l("Ends on")}
    list_columns = ["name", "partner", "plan", "price", "currency", "starts_on", "ends_on",
                    "status"]
    search_columns = ["name", "status", "starts_on", "ends_on", "plan"]
    add_columns = ["partner", "name", "plan", "price", "currency", "starts_on", "ends_on",
                   "status"]
    edit_columns = add_columns
    show_columns = add_columns
    base_order = ("starts_on", "desc")
    related_views = [QuotaView]
    formatters_columns = {
        "status": label_of(CONTRACT_STATUS_LABELS),
        "price": lambda v: format_decimal(v, "#,##0.00") if v is not None else "",
        "starts_on": lambda d: format_date(d) if d else "",
        "ends_on": lambda d: format_date(d) if d else "",
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "partner": PartnerField(_l("Partner")),
        "currency": choice_field(_l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True))),
        "status": choice_field(_l("Status"), CONTRACT_STATUS_LABELS),
    }


class DocumentTemplateView(DossierModelView):
    """Templates of the document generator, kept by the admin."""

    datamodel = datamodel(DocumentTemplate)
    route_base = "/document-templates"
    class_permission_name = "DocumentTemplate"
    list_title = _l("Document templates")
    show_title = _l("Document template")
    add_title = _l("New document template")
    edit_title = _l("Edit document template")
    label_columns = {"name": _l("Name"), "body": _l("Template")}
    description_columns = {"body": _l(
        "HTML with variables: {{ partner.name }}, {{ partner.address }}, "
        "{{ partner.customer_number }}, {{ partner.tax_number }}, {{ representative.name }}, "
        "{{ representative.role }}, {{ owner.name }}, {{ today }}.")}
    list_columns = ["name"]
    add_columns = ["name", "body"]
    edit_columns = add_columns
    show_columns = add_columns
