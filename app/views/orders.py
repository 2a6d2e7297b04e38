"""Sales → Orders: the list of orders with totals per currency, an order's page (lines with
what is invoiced and what remains, status, invoicing, PDF, e-mail), the order PDF, and the
orders of a company in the Client Zone."""

from __future__ import annotations

import io
from decimal import Decimal

from babel.numbers import NumberFormatError, parse_decimal
from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from app.errors import InvalidValue
from app.extensions import db
from app.models import ORDER_STATUS_LABELS, UNIT_LABELS, Order
from app.services import orders
from app.views.base import DossierModelView, datamodel
from app.views.common import can, label_of, local_date, require, two_decimals, zone_member
from app.views.labels import LABELS

ACTIVE = ("open", "in_progress")
# The list's quick choice: the active orders (the default), every order, or one status.
SHOWN = {"active": _l("Active"), "all": _l("All"), **ORDER_STATUS_LABELS}


class ShownOrders(BaseFilter):
    name = _l("Shown")
    arg_name = "shown"

    def apply(self, query, value):
        if value == "active":
            return query.filter(Order.status.in_(ACTIVE))
        if value in ORDER_STATUS_LABELS:
            return query.filter(Order.status == value)
        return query


def checked_form() -> None:
    if not FlaskForm().validate():
        abort(400, gettext("The form has expired or did not come from Dossier. Please try again."))


def wanted_quantities(form) -> dict[int, Decimal]:
    """The quantities typed per order line (`line-<id>`), in the user's number format;
    empty fields are lines not chosen."""
    wanted = {}
    for key, value in form.items():
        if not key.startswith("line-") or not value.strip():
            continue
        try:
            line_id = int(key.removeprefix("line-"))
            wanted[line_id] = parse_decimal(value.strip(), locale=get_locale(), strict=False)
        except (ValueError, NumberFormatError):
            raise InvalidValue(
                "quantity", _l("%(value)s is not a number.") % {"value": value}
            ) from None
    return {k: v for k, v in wanted.items() if v != 0}


class OrderView(DossierModelView):
    datamodel = datamodel(Order)
    route_base = "/orders"
    class_permission_name = "Order"
    include_route_methods = {"list", "show", "change_status", "invoice", "email", "make"}
    list_title = _l("Orders")
    show_title = _l("Order")
    list_template = "sales/order_list.html"
    show_template = "sales/order_show.html"
    label_columns = {
        **LABELS,
        "number": _l("Number"),
        "order_date": _l("Order date"),
        "quote": _l("Quote"),
        "contact": _l("Contact person"),
        "net_total": _l("Net total"),
        "vat_total": _l("VAT"),
        "gross_total": _l("Total"),
    }
    list_columns = [
        "number",
        "partner",
        "order_date",
        "status",
        "net_total",
        "gross_total",
        "currency",
    ]
    search_columns = ["number", "partner", "status", "order_date", "currency"]
    order_columns = ["number", "order_date", "status", "gross_total"]
    show_columns = [
        "number",
        "partner",
        "status",
        "order_date",
        "quote",
        "contact",
        "currency",
        "net_total",
        "vat_total",
        "gross_total",
    ]
    base_order = ("id", "desc")
    formatters_columns = {
        "status": label_of(ORDER_STATUS_LABELS),
        "order_date": local_date,
        "net_total": two_decimals,
        "vat_total": two_decimals,
        "gross_total": two_decimals,
    }

    def _get_list_widget(self, filters, **kwargs):
        # Active orders unless asked otherwise; a search looks through them all.
        searched = any(key.startswith("_flt_") for key in request.args)
        shown = request.args.get("shown", "all" if searched else "active")
        shown = shown if shown in SHOWN else "active"
        filters = filters.copy()
        filters.add_filter("id", ShownOrders, shown)
        widgets = super()._get_list_widget(filters=filters, **kwargs)
        joined = filters.get_joined_filters(self._base_filters)
        query = select(
            Order.currency,
            func.count(Order.id),
            func.sum(Order.net_total),
            func.sum(Order.gross_total),
        ).group_by(Order.currency)
        widgets["totals"] = [
            {"currency": currency, "count": count, "net": net, "gross": gross}
            for currency, count, net, gross in db.session.execute(
                joined.apply_all(query).order_by(Order.currency)
            )
        ]
        widgets["shown"] = shown
        widgets["choices"] = SHOWN
        return widgets

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        order = db.get_or_404(Order, pk)
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=self._related_views,
            order=order,
            rows=orders.lines_with_remaining(order),
            invoices=orders.invoices_of(order),
            statuses=ORDER_STATUS_LABELS,
            can_write=can("write", "Order"),
            can_invoice=can("write", "Order") and can("write", "Invoice"),
            recipient=orders.recipient_of(order),
            units=UNIT_LABELS,
        )

    @expose("/<int:order_id>/status", methods=["POST"])
    @has_access
    def change_status(self, order_id: int):
        checked_form()
        status = request.form.get("status")
        if status not in ORDER_STATUS_LABELS:
            abort(400, gettext("%(value)s is not a valid choice.", value=status))
        order = orders.set_status(order_id, g.user.id, status)
        flash(
            gettext(
                "Order %(number)s is now %(status)s.",
                number=order.number,
                status=order.status_label,
            ),
            "success",
        )
        return redirect(url_for(".show", pk=order_id))

    @expose("/<int:order_id>/invoice", methods=["POST"])
    @has_access
    def invoice(self, order_id: int):
        checked_form()
        require("write", "Invoice")
        wanted = None if "all" in request.form else wanted_quantities(request.form)
        if wanted == {}:
            raise InvalidValue(
                "quantity", _l("Enter the quantity to invoice of at least one line.")
            )
        invoice = orders.invoice_order(order_id, g.user.id, wanted)
        number = db.session.get(Order, order_id).number
        flash(gettext("A draft invoice was made of order %(number)s.", number=number), "success")
        return redirect(url_for("InvoiceView.show", pk=invoice.id))

    @expose("/<int:order_id>/email", methods=["POST"])
    @has_access
    def email(self, order_id: int):
        checked_form()
        _order, recipient = orders.email_order(order_id, g.user.id)
        flash(gettext("The order was queued for e-mail to %(email)s.", email=recipient), "success")
        return redirect(url_for(".show", pk=order_id))

    @expose("/from-quote/<int:quote_id>", methods=["POST"])
    @has_access
    def make(self, quote_id: int):
        checked_form()
        order, made = orders.make_order(quote_id, g.user.id)
        if made:
            flash(gettext("Order %(number)s was made.", number=order.number), "success")
        else:
            flash(
                gettext("Order %(number)s was already made of this quote.", number=order.number),
                "info",
            )
        return redirect(url_for(".show", pk=order.id))


class OrderPdfView(BaseView):
    """`GET /order/<id>/pdf`: the order's PDF in its customer's language."""

    route_base = "/order"
    class_permission_name = "Order"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"pdf": "read"}

    @expose("/<int:order_id>/pdf")
    @has_access
    def pdf(self, order_id: int):
        return pdf_answer(db.get_or_404(Order, order_id))


def pdf_answer(order: Order):
    return send_file(
        io.BytesIO(orders.render_order_pdf(order)),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=orders.pdf_name(order),
    )


class PortalOrdersView(BaseView):
    """`/portal/orders`: a zone user's company's orders, with their PDFs; nothing of
    another partner."""

    route_base = "/portal/orders"
    class_permission_name = "Zone"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"index": "read", "pdf": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        member = zone_member()
        found = db.session.scalars(
            select(Order)
            .where(Order.partner_id == member.partner_id)
            .order_by(Order.order_date.desc(), Order.id.desc())
            .limit(200)
        ).all()
        return self.render_template("portal/orders.html", member=member, orders=found)

    @expose("/<int:order_id>/pdf")
    @has_access
    def pdf(self, order_id: int):
        member = zone_member()
        order = db.session.get(Order, order_id)
        if order is None or order.partner_id != member.partner_id:
            abort(404)
        return pdf_answer(order)
