"""Finance: the products and services catalogue, invoices and their PDF."""

from __future__ import annotations

import io
from datetime import date

from flask import abort, flash, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DecimalField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange
from wtforms.validators import Optional as OptionalValue

from app.extensions import db
from app.formatting import date_text
from app.models import (
    CONTRACT_STATUS_LABELS,
    CURRENCIES,
    DELIVERY_LABELS,
    INVOICE_KIND_LABELS,
    INVOICE_STATUS_LABELS,
    PAYMENT_FREQUENCY_LABELS,
    PAYMENT_METHOD_LABELS,
    RECURRING_MONTHS,
    UNIT_LABELS,
    Contract,
    DocumentTemplate,
    Invoice,
    InvoiceLine,
    InvoicePrintBatch,
    InvoiceRun,
    Partner,
    Product,
    Quota,
    RecurringInvoice,
)
from app.services import invoicing, receivables, recurring
from app.views.base import (
    DossierModelView,
    datamodel,
    date_arg,
    guarded,
    page_of,
    safe_next,
    saved,
)
from app.views.common import (
    choice_field,
    label_of,
    local_date,
    locale_number,
    two_decimals,
    yes_no,
)
from app.views.fields import LocaleDateField, PartnerField, PickerField
from app.views.labels import LABELS
from app.views.lines import LinesEditorShow, LinesEndpoints


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
    add_columns = ["code", "name", "unit", "price", "currency", "vat_rate", "active", "description"]
    edit_columns = add_columns
    show_columns = add_columns + ["suppliers"]
    base_order = ("name", "asc")
    formatters_columns = {
        "price": two_decimals,
        "unit": label_of(UNIT_LABELS),
        "vat_rate": locale_number,
        "active": yes_no,
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "currency": choice_field(_l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True))),
    }


class PaymentForm(FlaskForm):
    amount = DecimalField(
        _l("Amount"), places=2, validators=[DataRequired(), NumberRange(min=0.01)]
    )
    paid_on = LocaleDateField(_l("Paid on"), validators=[DataRequired()])
    reference = StringField(_l("Reference"), validators=[OptionalValue(), Length(max=120)])


class LockedListWidget(ListWidget):
    """FAB's list whose rows in `locked` show no edit or delete button."""

    template = "widgets/locked_list.html"


class IssuedLockedMixin:
    """Lists issued invoices (or their lines) without edit and delete buttons."""

    list_widget = LockedListWidget  # the view names the locked rows in issued_among(pks)

    def _get_list_widget(self, filters, **kwargs):
        widgets = super()._get_list_widget(filters=filters, **kwargs)
        listing = widgets["list"]
        listing.template_args["locked"] = self.issued_among(listing.template_args["pks"])
        return widgets


class InvoiceLineView(IssuedLockedMixin, DossierModelView):
    """Lines of a draft invoice (a related list on the invoice's page)."""

    datamodel = datamodel(InvoiceLine)
    route_base = "/invoice-lines"
    class_permission_name = "Invoice"
    list_title = _l("Lines")
    show_title = _l("Invoice line")
    add_title = _l("Add invoice line")
    edit_title = _l("Edit invoice line")
    label_columns = {
        **LABELS,
        "description": _l("Description"),
        "quantity": _l("Quantity"),
        "unit_price": _l("Unit price"),
        "product": _l("Product"),
        "net": _l("Net"),
        "invoice": _l("Invoice"),
    }
    formatters_columns = {"unit": label_of(UNIT_LABELS)}
    list_columns = ["position", "description", "quantity", "unit", "unit_price", "vat_rate", "net"]
    add_columns = [
        "invoice",
        "product",
        "description",
        "quantity",
        "unit",
        "unit_price",
        "vat_rate",
    ]
    edit_columns = add_columns
    show_columns = add_columns
    base_order = ("position", "asc")
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "invoice": [["status", FilterEqual, "draft"]],
    }
    description_columns = {
        "product": _l(
            "Left empty, the description, unit, unit price and VAT rate come from the product."
        )
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "product": PickerField(_l("Product"), kind="product"),
        "description": StringField(
            _l("Description"), validators=[OptionalValue(), Length(max=500)]
        ),
        "unit": StringField(_l("Unit"), validators=[OptionalValue(), Length(max=20)]),
        "unit_price": DecimalField(_l("Unit price"), validators=[OptionalValue()]),
        "vat_rate": DecimalField(
            _l("VAT rate (%)"), validators=[OptionalValue(), NumberRange(min=0, max=100)]
        ),
    }

    def issued_among(self, pks: list[int]) -> set[int]:
        return set(
            db.session.scalars(
                select(InvoiceLine.id)
                .join(InvoiceLine.invoice)
                .where(InvoiceLine.id.in_(pks), Invoice.status != "draft")
            )
        )

    def pre_add(self, item):
        guarded(invoicing.save_line, item)

    def pre_update(self, item):
        guarded(invoicing.save_line, item)

    def pre_delete(self, item):
        guarded(invoicing.line_removed, item)


class InvoiceView(LinesEditorShow, IssuedLockedMixin, DossierModelView):
    datamodel = datamodel(Invoice)
    route_base = "/invoices"
    class_permission_name = "Invoice"
    list_title = _l("Invoices")
    show_title = _l("Invoice")
    add_title = _l("New invoice")
    edit_title = _l("Edit invoice")
    show_template = "finance/invoice_show.html"
    lines_kind = "invoice"
    extra_args = {"invoice_statuses": INVOICE_STATUS_LABELS}
    label_columns = {
        **LABELS,
        "number": _l("Number"),
        "issue_date": _l("Issue date"),
        "due_date": _l("Due date"),
        "gross_total": _l("Total"),
        "net_total": _l("Net total"),
        "vat_total": _l("VAT"),
        "notes": _l("Notes"),
        "billing_name": _l("Billed to"),
        "billing_address": _l("Billing address"),
        "supply_date": _l("Supply date"),
        "payment_method": _l("Payment method"),
        "kind": _l("Kind"),
        "credited_invoice": _l("Cancels invoice"),
    }
    list_columns = [
        "number",
        "partner",
        "issue_date",
        "due_date",
        "gross_total",
        "currency",
        "status",
    ]
    search_columns = ["number", "status", "issue_date", "due_date", "currency"]
    add_columns = ["partner", "currency", "issue_date", "supply_date", "due_date", "notes"]
    edit_columns = add_columns
    show_columns = [
        "number",
        "partner",
        "status",
        "billing_name",
        "billing_address",
        "kind",
        "credited_invoice",
        "issue_date",
        "supply_date",
        "due_date",
        "payment_method",
        "currency",
        "notes",
    ]  # the totals: in the lines editor below, live while a draft's lines change
    base_order = ("id", "desc")
    formatters_columns = {
        "status": label_of(INVOICE_STATUS_LABELS),
        "kind": label_of(INVOICE_KIND_LABELS),
        "payment_method": label_of(PAYMENT_METHOD_LABELS),
        "gross_total": two_decimals,
        "issue_date": local_date,
        "supply_date": local_date,
        "due_date": local_date,
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "partner": PartnerField(_l("Partner")),
        "currency": choice_field(_l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True))),
    }

    def issued_among(self, pks: list[int]) -> set[int]:
        return set(
            db.session.scalars(
                select(Invoice.id).where(Invoice.id.in_(pks), Invoice.status != "draft")
            )
        )

    def pre_add(self, item):
        item.language = item.partner.language if item.partner else None
        super().pre_add(item)

    def post_add_redirect(self):
        # A new draft opens at once, for its lines (its Back button goes where it came from).
        if "saved_pk" in g:
            return redirect(url_for(".show", pk=g.saved_pk))
        return super().post_add_redirect()

    @expose("/<int:invoice_id>/issue", methods=["POST"])
    @has_access
    def issue(self, invoice_id: int):
        if not FlaskForm().validate():
            abort(400)
        invoice = invoicing.issue(invoice_id, g.user.id)
        flash(gettext("Invoice %(number)s was issued.", number=invoice.number), "success")
        return redirect(url_for(".show", pk=invoice_id))

    @expose("/<int:invoice_id>/cancel", methods=["POST"])
    @has_access
    def cancel(self, invoice_id: int):
        if not FlaskForm().validate():
            abort(400)
        note = invoicing.cancel(invoice_id, g.user.id)
        flash(
            gettext(
                "Invoice %(number)s is cancelled by credit note %(credit_note)s.",
                number=note.credited_invoice.number,
                credit_note=note.number,
            ),
            "success",
        )
        return redirect(url_for(".show", pk=note.id))

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
        from app.views.sheet import find_partner, render_sheet, tab_of

        form = PaymentForm()
        invoice = db.get_or_404(Invoice, invoice_id)
        partner_id = invoice.partner_id
        if form.validate() and saved(
            form,
            invoicing.record_payment,
            invoice_id,
            g.user.id,
            form.amount.data,
            paid_on=form.paid_on.data,
            reference=form.reference.data,
        ):
            flash(gettext("The payment was recorded."), "success")
            # Back to the account tab (a refused form was shown at this form's own address).
            return redirect(
                safe_next() or url_for("DataSheetView.tab", partner_id=partner_id, key="account")
            )
        # The account tab again, the invoice's payment form holding what was typed.
        partner = find_partner(partner_id)
        return render_sheet(
            self,
            partner,
            tab_of(partner, "account"),
            payment_form=form,
            payment_invoice_id=invoice_id,
        ), 400

    @expose("/<int:invoice_id>/email", methods=["POST"])
    @has_access
    def email(self, invoice_id: int):
        if not FlaskForm().validate():
            abort(400)
        invoice = invoicing.email_invoice(invoice_id, g.user.id)
        flash(
            gettext("The invoice was queued for e-mail to %(email)s.", email=invoice.partner.email),
            "success",
        )
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
        return send_file(
            io.BytesIO(invoicing.render_pdf(invoice)),
            mimetype="application/pdf",
            as_attachment=True,
            download_name=f"invoice-{name}.pdf",
        )


class InvoiceLinesView(LinesEndpoints, BaseView):
    """`POST /invoice/<id>/lines…`: a draft's lines from its page's lines editor."""

    route_base = "/invoice"
    class_permission_name = "Invoice"
    lines_kind = "invoice"


class ReceivablesView(BaseView):
    """ "Create invoice" on the current account tab: the chosen open receivables make one
    draft, which opens at once."""

    route_base = "/partner"
    class_permission_name = "Invoice"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"invoice": "write"}

    @expose("/<int:partner_id>/receivables/invoice", methods=["POST"])
    @has_access
    def invoice(self, partner_id: int):
        if not FlaskForm().validate():
            abort(400)
        db.get_or_404(Partner, partner_id)
        draft = receivables.invoice_receivables(partner_id, g.user.id, request.form.getlist("item"))
        flash(gettext("The draft invoice was made from the chosen items."), "success")
        return redirect(url_for("InvoiceView.show", pk=draft.id))


class QuotaView(DossierModelView):
    datamodel = datamodel(Quota)
    route_base = "/quotas"
    class_permission_name = "Contract"
    list_title = _l("Quotas")
    show_title = _l("Quota")
    add_title = _l("Add quota")
    edit_title = _l("Edit quota")
    label_columns = {
        **LABELS,
        "bought": _l("Bought"),
        "used": _l("Used"),
        "left": _l("Left"),
        "contract": _l("Contract"),
        "overuse_price": _l("Price of a unit beyond those bought"),
    }
    description_columns = {
        "overuse_price": _l(
            "Empty: no more units may be used than were bought. With a price, more may be "
            "used, and the excess is billed from the current account's open receivables."
        ),
    }
    formatters_columns = {"unit": label_of(UNIT_LABELS)}
    list_columns = ["name", "unit", "bought", "used", "left", "overuse_price"]
    add_columns = ["contract", "name", "unit", "bought", "used", "overuse_price"]
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
    label_columns = {
        **LABELS,
        "plan": _l("Plan"),
        "starts_on": _l("Starts on"),
        "ends_on": _l("Ends on"),
        "billing": _l("Fee billed"),
        "vat_rate": _l("VAT rate"),
    }
    description_columns = {
        "billing": _l(
            "How often the price is due; the fees of the periods begun appear among the "
            "current account's open receivables. Empty: billed some other way."
        ),
    }
    list_columns = [
        "name",
        "partner",
        "plan",
        "price",
        "currency",
        "starts_on",
        "ends_on",
        "status",
    ]
    search_columns = ["name", "status", "starts_on", "ends_on", "plan"]
    add_columns = [
        "partner",
        "name",
        "plan",
        "price",
        "currency",
        "billing",
        "vat_rate",
        "starts_on",
        "ends_on",
        "status",
    ]
    edit_columns = add_columns
    show_columns = add_columns
    base_order = ("starts_on", "desc")
    related_views = [QuotaView]
    formatters_columns = {
        "status": label_of(CONTRACT_STATUS_LABELS),
        "billing": lambda key: str(PAYMENT_FREQUENCY_LABELS.get(key, "")) if key else "—",
        "price": two_decimals,
        "starts_on": local_date,
        "ends_on": local_date,
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "partner": PartnerField(_l("Partner")),
        "currency": choice_field(_l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True))),
        "status": choice_field(_l("Status"), CONTRACT_STATUS_LABELS),
        "billing": choice_field(_l("Fee billed"), PAYMENT_FREQUENCY_LABELS, required=False),
        # Left empty: the usual rate (the model's default).
        "vat_rate": DecimalField(
            _l("VAT rate (%)"),
            validators=[OptionalValue(), NumberRange(min=0, max=100)],
            default=27,
        ),
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
    description_columns = {
        "body": _l(
            "HTML with variables: {{ partner.name }}, {{ partner.address }}, "
            "{{ partner.customer_number }}, {{ partner.tax_number }}, {{ representative.name }}, "
            "{{ representative.role }}, {{ owner.name }}, {{ today }}."
        )
    }
    list_columns = ["name"]
    add_columns = ["name", "body"]
    edit_columns = add_columns
    show_columns = add_columns


FREQUENCY_CHOICES = {key: PAYMENT_FREQUENCY_LABELS[key] for key in RECURRING_MONTHS}


class RecurringForm(FlaskForm):
    template = SelectField(_l("Template invoice"), coerce=int, validators=[DataRequired()])
    frequency = SelectField(_l("Frequency"), choices=list(FREQUENCY_CHOICES.items()))
    next_date = LocaleDateField(_l("Next date"), validators=[DataRequired()])
    delivery = SelectField(_l("Delivery"), choices=list(DELIVERY_LABELS.items()))
    active = BooleanField(_l("Active"), default=True)


class RunForm(FlaskForm):
    as_of = LocaleDateField(_l("Invoice what is due up to"), validators=[DataRequired()])


class AutomaticInvoicingView(BaseView):
    """Finance → Automatic invoicing: what is due, runs with their progress and print files,
    and each partner's settings (reached from its Current account tab)."""

    route_base = "/automatic-invoicing"
    class_permission_name = "RecurringInvoice"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {
        "index": "read",
        "run_page": "read",
        "progress": "read",
        "print_file": "read",
        "start": "write",
        "restart": "write",
        "settings": "write",
    }
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        form = RunForm(formdata=None)
        as_of = recurring.check_as_of(date_arg("date") or date.today())
        form.as_of.data = as_of
        return self._index(form, as_of)

    def _index(self, form: RunForm, as_of: date):
        count, due = recurring.due_list(as_of)
        runs = db.session.scalars(select(InvoiceRun).order_by(InvoiceRun.id.desc()).limit(10))
        return self.render_template(
            "finance/recurring_index.html",
            form=form,
            as_of=as_of,
            due=due,
            due_count=count,
            periods=recurring.periods_due(as_of),
            runs=list(runs),
            unfinished=recurring.unfinished_run(),
            can_start=self.appbuilder.sm.has_access("can_write", "RecurringInvoice"),
        )

    @expose("/start", methods=["POST"])
    @has_access
    def start(self):
        form = RunForm()
        started = []
        if form.validate() and saved(
            form, lambda: started.append(recurring.start(g.user.id, form.as_of.data))
        ):
            flash(gettext("The run was started."), "success")
            return redirect(url_for(".run_page", run_id=started[0].id))
        # The page again with the date typed and the reason beside it.
        return self._index(form, date.today()), 400

    @expose("/run/<int:run_id>")
    @has_access
    def run_page(self, run_id: int):
        run = db.get_or_404(InvoiceRun, run_id)
        page = max(1, request.args.get("page", 1, type=int))
        invoices = page_of(
            select(Invoice).where(Invoice.run_id == run_id).order_by(Invoice.id), page
        )
        return self.render_template(
            "finance/recurring_run.html",
            run=run,
            invoices=invoices,
            deliveries=DELIVERY_LABELS,
            stale=recurring.is_stale(run),
            can_start=self.appbuilder.sm.has_access("can_write", "RecurringInvoice"),
        )

    @expose("/run/<int:run_id>/progress")
    @has_access
    def progress(self, run_id: int):
        run = db.get_or_404(InvoiceRun, run_id)
        return jsonify(
            status=run.status,
            status_label=run.status_label,
            percent=run.percent,
            total=run.total,
            made=run.made,
            emailed=run.emailed,
            printed=run.printed,
            error=run.error,
            counts=gettext(
                "%(made)s of %(total)s invoices made, %(emailed)s e-mailed, "
                "%(printed)s in print files",
                made=run.made,
                total=run.total,
                emailed=run.emailed,
                printed=run.printed,
            ),
            files=[
                {
                    "name": b.filename,
                    "invoices": b.invoices,
                    "first": b.first_number,
                    "last": b.last_number,
                    "url": url_for(".print_file", run_id=run.id, position=b.position),
                }
                for b in run.batches
            ],
        )

    @expose("/run/<int:run_id>/restart", methods=["POST"])
    @has_access
    def restart(self, run_id: int):
        if not FlaskForm().validate():
            abort(400)
        recurring.restart(run_id)
        flash(gettext("The run was started again; it makes only what is left."), "success")
        return redirect(url_for(".run_page", run_id=run_id))

    @expose("/run/<int:run_id>/print/<int:position>.pdf")
    @has_access
    def print_file(self, run_id: int, position: int):
        batch = db.session.scalar(
            select(InvoicePrintBatch).where(
                InvoicePrintBatch.run_id == run_id, InvoicePrintBatch.position == position
            )
        )
        if batch is None or not recurring.batch_path(batch).is_file():
            abort(404)
        return send_file(
            recurring.batch_path(batch),
            mimetype="application/pdf",
            as_attachment=True,
            download_name=batch.filename,
        )

    @expose("/partner/<int:partner_id>", methods=["GET", "POST"])
    @has_access
    def settings(self, partner_id: int):
        partner = db.get_or_404(Partner, partner_id)
        current = recurring.settings_of(partner_id)
        templates = recurring.template_choices(partner_id)
        if not templates:
            flash(
                gettext("Automatic invoicing starts from a first invoice made by hand."), "warning"
            )
            return redirect(url_for("DataSheetView.tab", partner_id=partner_id, key="account"))
        form = RecurringForm(obj=current) if request.method == "GET" else RecurringForm()
        form.template.choices = [
            (i.id, f"{i.number} – {date_text(i.issue_date)}") for i in templates
        ]
        if request.method == "GET":
            form.template.data = current.template_id if current else templates[0].id
            if current is None:
                form.next_date.data = recurring.first_of_next_month(date.today())
                form.delivery.data = "email" if partner.email else "post"
        elif form.validate() and saved(
            form,
            recurring.save_settings,
            partner_id,
            g.user.id,
            template_id=form.template.data,
            frequency=form.frequency.data,
            next_date=form.next_date.data,
            delivery=form.delivery.data,
            active=form.active.data,
        ):
            flash(gettext("The automatic invoicing settings were saved."), "success")
            return redirect(url_for("DataSheetView.tab", partner_id=partner_id, key="account"))
        page = self.render_template(
            "finance/recurring_settings.html", form=form, partner=partner, current=current
        )
        return page, 400 if request.method == "POST" else 200


class RecurringInvoiceView(DossierModelView):
    """Every partner's automatic invoicing settings; changed on the partner's settings page."""

    datamodel = datamodel(RecurringInvoice)
    route_base = "/recurring-invoices"
    class_permission_name = "RecurringInvoice"
    list_title = _l("Automatic invoicing settings")
    show_title = _l("Automatic invoicing settings")
    label_columns = {
        **LABELS,
        "template": _l("Template invoice"),
        "frequency": _l("Frequency"),
        "next_date": _l("Next date"),
        "delivery": _l("Delivery"),
        "active": _l("Active"),
    }
    list_columns = ["partner", "template", "frequency", "next_date", "delivery", "active"]
    show_columns = list_columns
    search_columns = ["frequency", "next_date", "delivery", "active"]
    base_order = ("next_date", "asc")
    formatters_columns = {
        "frequency": label_of(PAYMENT_FREQUENCY_LABELS),
        "delivery": label_of(DELIVERY_LABELS),
        "next_date": local_date,
        "active": yes_no,
    }

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        flash(
            gettext(
                "Automatic invoicing is set up on a partner's Current account tab, "
                "after its first invoice."
            ),
            "info",
        )
        return redirect(url_for("InvoiceView.list"))

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        item = db.get_or_404(RecurringInvoice, int(pk))
        return redirect(url_for("AutomaticInvoicingView.settings", partner_id=item.partner_id))
