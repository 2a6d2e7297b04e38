"""Sales: the offers list and forms, and the forecast page."""

from __future__ import annotations

from flask import request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from wtforms import DecimalField, IntegerField, SelectField
from wtforms.validators import NumberRange
from wtforms.validators import Optional as OptionalValue

from app.formatting import money_text
from app.models import CURRENCIES, OFFER_STATUS_LABELS, PAYMENT_FREQUENCY_LABELS, Offer
from app.services.orders import ordering_of
from app.services.sales import forecast
from app.views.base import DossierModelView, datamodel
from app.views.common import ZonePanelShow, can, choice_field, label_of, local_date, two_decimals
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

    def show_extra(self, pk) -> dict:
        return {"ordering": ordering_of(int(pk)), "can_write_orders": can("write", "Order")}

    def pre_add(self, item):
        # The form may send anything; a new offer is pending (the model insists too).
        item.status = "pending"
        super().pre_add(item)


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
