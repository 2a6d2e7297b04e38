"""The start page: my tasks today and overdue, birthdays of my partners, my pending offers,
the partners I worked on last and my forecast as a chart; zone users go to the portal."""

from __future__ import annotations

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_babel import get_timezone

from app.formatting import local_time, money_text, month_text
from app.models import utcnow
from app.services import home
from app.services.zone import is_zone_user
from app.views.common import can

# One colour per currency, in the order the series come (colour-blind safe, Okabe–Ito).
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")


def forecast_chart(forecast: dict, width: int = 760, row: int = 90) -> dict:
    """Bars of a chart drawn as inline SVG by the template: a band per currency, each on its
    own scale (forints and euros never share an axis), months along the bottom."""
    months = forecast["months"]
    left, bottom = 110, 28
    step = (width - left) / max(len(months), 1)
    bands = []
    for index, (currency, values) in enumerate(forecast["series"].items()):
        top = index * row
        peak = max(values) or 1
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        bars = []
        for n, value in enumerate(values):
            height = float(value / peak) * (row - 24)
            bars.append(
                {
                    "x": round(left + n * step + step * 0.15, 1),
                    "y": round(top + row - 4 - height, 1),
                    "width": round(step * 0.7, 1),
                    "height": round(height, 1),
                    "title": f"{month_text(months[n])}: {money_text(value, currency)}",
                }
            )
        bands.append(
            {
                "currency": currency,
                "colour": colour,
                "top": top,
                "peak": money_text(max(values), currency),
                "total": money_text(sum(values), currency),
                "bars": bars,
            }
        )
    height = len(bands) * row + bottom
    labels = [
        {"x": round(left + n * step + step / 2, 1), "text": month_text(m, short=True)}
        for n, m in enumerate(months)
    ]
    return {
        "width": width,
        "height": height,
        "row": row,
        "left": left,
        "bands": bands,
        "labels": labels,
        "axis_y": height - bottom,
    }


class HomeView(IndexView):
    index_template = "home.html"

    @expose("/")
    def index(self):
        user = g.user
        if user is None or not user.is_authenticated:
            return self.render_template(self.index_template, appbuilder=self.appbuilder)
        if is_zone_user(user):
            return redirect(url_for("PortalView.index"))  # zone users live in the portal
        now, zone = utcnow(), get_timezone()
        today = local_time(now, zone).date()
        context = {"today": today, "sections": set()}
        if can("read", "Task"):
            context["sections"].add("tasks")
            context["tasks"] = home.my_tasks(user.id, now, zone)
        if can("read", "Partner"):
            context["sections"].add("partners")
            context["birthdays"] = home.upcoming_birthdays(user.id, today)
            context["recent"] = home.recent_partners(user.id)
        if can("read", "Offer"):
            context["sections"].add("offers")
            context["offers"] = home.pending_offers(user.id)
            context["chart"] = forecast_chart(home.monthly_forecast(user.id, today))
        return self.render_template(self.index_template, appbuilder=self.appbuilder, **context)
