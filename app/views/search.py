"""The global search's results page /search/?q= (the navbar's box sends it there)."""

from __future__ import annotations

from flask import g, request
from flask_appbuilder import BaseView, expose, has_access

from app.models import INVOICE_STATUS_LABELS, OFFER_STATUS_LABELS
from app.services.search import SearchRefused, search


class SearchView(BaseView):
    """Results grouped by kind, each linked to its data sheet or record."""

    route_base = "/search"
    class_permission_name = "Partner"
    method_permission_name = {"index": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        query = request.args.get("q", "")
        found, message, status = None, None, 200
        if query.strip():
            try:
                found = search(query, g.user)
            except SearchRefused as refused:
                message, status = str(refused), 400
        page = self.render_template(
            "search/results.html",
            query=query,
            found=found,
            message=message,
            offer_status=OFFER_STATUS_LABELS,
            invoice_status=INVOICE_STATUS_LABELS,
        )
        return page, status
