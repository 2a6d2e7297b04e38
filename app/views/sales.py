"""Sales: the offers list and forms, and the forecast page."""

from __future__ import annotations

import io

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectField
from wtforms.validators import NumberRange
from wtforms.validators import Optional as OptionalValue

from app.extensions import db
from app.formatting import money_text
from app.models import CURRENCIES, OFFER_STATUS_LABELS, PAYMENT_FREQUENCY_LABELS, Offer, Quote
from app.services import quotes
from app.services.orders import ordering_of
from app.services.sales import forecast
from app.views.base import DossierModelView, datamodel, safe_next
from app.views.common import (
    ZonePanelShow,
    can,
    choice_field,
    label_of,
    local_date,
    quote_panel,
    two_decimals,
)
from app.views.fields import PartnerField, PickerField, current_user
from app.views.labels import LABELS
from app.views.lines import LinesEditorShow, LinesEndpoints


class OfferView(LinesEditorShow, ZonePanelShow, DossierModelView):
    datamodel = datamodel(Offer)
    zone_record = "offer"
    route_base = "/offers"
    class_permission_name = "Offer"
    list_title = _l("Offers")
    show_title = _l("Offer")
    add_title = _l("New offer")
    edit_title = _l("Edit offer")
    show_template = "sales/offer_show.html"
    lines_kind = "offer"
    label_columns = LABELS
    list_columns = [
        "name",
        "partner",
        "owner",
        "deadline",
        "amount",
        "currency",
        "payment_frequency",
        "status",
        "chance",
    ]
    search_columns = ["name", "status", "owner", "deadline", "payment_frequency", "currency"]
    add_columns = [
        "name",
        "partner",
        "owner",
        "deadline",
        "amount",
        "currency",
        "payment_frequency",
        "chance",
        "expected_decision",
        "distributor",
        "commission",
    ]
    edit_columns = add_columns + ["status"]
    show_columns = edit_columns
    order_columns = ["name", "deadline", "status", "chance"]
    base_order = ("deadline", "asc")
    description_columns = {
        "amount": _l(
            "With product lines, the amount is their net total; "
            "typed in, it counts only without lines."
        )
    }
    formatters_columns = {
        "status": label_of(OFFER_STATUS_LABELS),
        "payment_frequency": label_of(PAYMENT_FREQUENCY_LABELS),
        "deadline": local_date,
        "amount": two_decimals,
    }
    add_form_extra_fields = {
        "partner": PartnerField(_l("Partner")),
        "distributor": PartnerField(_l("Distributor"), required=False),
        "owner": PickerField(LABELS["owner"], kind="user", default=current_user),
        "currency": choice_field(_l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True))),
        "payment_frequency": choice_field(_l("Payment frequency"), PAYMENT_FREQUENCY_LABELS),
        "amount": DecimalField(_l("Amount"), places=2, validators=[NumberRange(min=0)]),
        "chance": IntegerField(
            _l("Chance of success (%)"), validators=[OptionalValue(), NumberRange(0, 100)]
        ),
        "commission": DecimalField(
            _l("Commission"), places=2, validators=[OptionalValue(), NumberRange(min=0)]
        ),
    }
    edit_form_extra_fields = {
        **add_form_extra_fields,
        "status": SelectField(_l("Status"), choices=list(OFFER_STATUS_LABELS.items())),
    }

    def pre_add(self, item):
        # The form may send anything; a new offer is pending (the model insists too).
        item.status = "pending"
        super().pre_add(item)

    def show_extra(self, pk) -> dict:
        offer = db.session.get(Offer, int(pk))
        ordering = {"ordering": ordering_of(int(pk)), "can_write_orders": can("write", "Order")}
        return {**quote_panel(offer), **ordering} if offer is not None else ordering

    def _back(self, offer_id: int):
        return redirect(safe_next(request.form.get("next", "")) or url_for(".show", pk=offer_id))

    @expose("/<int:offer_id>/send-quote", methods=["POST"])
    @has_access
    def send_quote(self, offer_id: int):
        """ "Send quote" (the offer page and the data sheet): the next version, mailed."""
        if not FlaskForm().validate():
            abort(400)
        quote = quotes.send_quote(offer_id, g.user.id, request.form.get("contact", type=int))
        flash(
            gettext(
                "Quote %(number)s (version %(version)s) was sent to %(name)s.",
                number=quote.number,
                version=quote.version,
                name=quote.contact.display_name,
            ),
            "success",
        )
        return self._back(offer_id)

    @expose("/<int:offer_id>/answer", methods=["POST"])
    @has_access
    def answer(self, offer_id: int):
        """Staff record the customer's answer to the quote waiting for one."""
        accept = request.form.get("accept")
        if not FlaskForm().validate() or accept not in ("1", "0"):
            abort(400)
        quote = quotes.record_answer(
            offer_id,
            g.user,
            accept == "1",
            name=request.form.get("name"),
            comment=request.form.get("comment"),
        )
        flash(
            gettext("Quote %(number)s (version %(version)s) is %(status)s.")
            % {"number": quote.number, "version": quote.version, "status": quote.status_label},
            "success",
        )
        return self._back(offer_id)


class QuotePdfView(BaseView):
    """`GET /quote/<id>/pdf`: a version of a quote as it was sent, for whoever reads offers."""

    route_base = "/quote"
    class_permission_name = "Offer"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"pdf": "read"}

    @expose("/<int:quote_id>/pdf")
    @has_access
    def pdf(self, quote_id: int):
        quote = db.get_or_404(Quote, quote_id)
        return send_file(
            io.BytesIO(quotes.render_pdf(quote)),
            mimetype="application/pdf",
            as_attachment=True,
            download_name=quote.filename,
        )


class OfferLinesView(LinesEndpoints, BaseView):
    """`POST /offer/<id>/lines…`: an offer's lines from its page's lines editor."""

    route_base = "/offer"
    class_permission_name = "Offer"
    lines_kind = "offer"


class ForecastView(BaseView):
    route_base = "/forecast"
    class_permission_name = "Offer"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"index": "read"}
    default_view = "index"
    GROUPS = {
        "client": _l("By client"),
        "distributor": _l("By distributor"),
        "owner": _l("By account manager"),
    }

    @expose("/")
    @has_access
    def index(self):
        group = request.args.get("by", "client")
        if group not in self.GROUPS:
            group = "client"
        rows = forecast(group)
        peak = max((r["profit"] for r in rows), default=0) or 1
        return self.render_template(
            "sales/forecast.html",
            rows=rows,
            group=group,
            groups=self.GROUPS,
            peak=peak,
            money=money_text,
        )
