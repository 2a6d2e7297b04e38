"""`GET /pick/<kind>/?q=`: the choices of a picker field as JSON, for whoever may read them."""

from __future__ import annotations

from flask import abort, jsonify, request
from flask_appbuilder import BaseView, expose, has_access

from app.services import pickers
from app.views.fields import describe, may_pick


class PickerView(BaseView):
    route_base = "/pick"
    class_permission_name = "Partner"  # every staff role reads partners; zone users do not
    base_permissions = ["can_read", "can_write"]  # the set of every "Partner" view
    method_permission_name = {"pick": "read"}

    @expose("/<kind>/")
    @has_access
    def pick(self, kind: str):
        if kind not in pickers.KINDS:
            abort(404)
        if not may_pick(kind):
            abort(403)
        found = pickers.search(kind, request.args.get("q", ""))
        return jsonify([describe(kind, record) for record in found])


__all__ = ["PickerView"]
