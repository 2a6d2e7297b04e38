"""The partner data sheet: contact block, map, key information, overview and dossier tabs
(their parts in views/sheet.py), with the contact-person and address forms of its tabs."""

from __future__ import annotations

import os

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    send_from_directory,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from werkzeug.utils import secure_filename

from app.extensions import db
from app.models import Organization
from app.services.partners import add_contact_person, link_address
from app.views.base import safe_next, saved
from app.views.sheet import (
    TABS,
    AddressForm,
    ContactPersonForm,
    Tab,
    find_partner,
    render_sheet,
    tab_of,
)


class DataSheetView(BaseView):
    route_base = "/partner"
    class_permission_name = "Partner"
    base_permissions = ["can_read", "can_write"]  # the same set as every "Partner" view
    method_permission_name = {"sheet": "read", "tab": "read", "picture": "read"}
    default_view = "sheet"

    @expose("/<int:partner_id>")
    @has_access
    def sheet(self, partner_id: int):
        partner = find_partner(partner_id)
        return render_sheet(self, partner, tab_of(partner, "notes"))

    @expose("/<int:partner_id>/<key>")
    @has_access
    def tab(self, partner_id: int, key: str):
        partner = find_partner(partner_id)
        return render_sheet(self, partner, tab_of(partner, key))

    @expose("/picture/<path:filename>")
    @has_access
    def picture(self, filename: str):
        folder = current_app.config["IMG_UPLOAD_FOLDER"]
        safe = secure_filename(filename)
        if not safe or not os.path.isfile(os.path.join(folder, safe)):
            abort(404)
        return send_from_directory(folder, safe)


class ContactPersonFormView(BaseView):
    """A new contact person of a company, from its sheet: a write of "Affiliation"."""

    route_base = "/partner"
    class_permission_name = "Affiliation"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"new_contact_person": "write"}

    @expose("/<int:partner_id>/contact-persons/add", methods=["GET", "POST"])
    @has_access
    def new_contact_person(self, partner_id: int):
        organization = db.get_or_404(Organization, partner_id)
        form = ContactPersonForm()
        back = safe_next() or url_for("DataSheetView.tab", partner_id=partner_id, key="people")
        if request.method == "POST":
            data = {k: v for k, v in form.data.items() if k != "csrf_token"}
            if form.validate() and saved(form, add_contact_person, partner_id, g.user.id, **data):
                flash(gettext("The contact person was saved."), "success")
                return redirect(back)
        return self.render_template(
            "datasheet/contact_person_add.html", form=form, partner=organization, back=back
        ), 400 if request.method == "POST" else 200


class AddressFormView(BaseView):
    """A new address of a partner, from the sheet's address tab: a write of "Address"."""

    route_base = "/partner"
    class_permission_name = "Address"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"new_address": "write"}

    @expose("/<int:partner_id>/addresses", methods=["POST"])
    @has_access
    def new_address(self, partner_id: int):
        form = AddressForm()
        data = {k: v for k, v in form.data.items() if k not in ("csrf_token", "type")}
        if form.validate() and saved(
            form, link_address, partner_id, g.user.id, type=form.type.data, **data
        ):
            flash(gettext("The address was saved."), "success")
            return redirect(url_for("DataSheetView.tab", partner_id=partner_id, key="addresses"))
        partner = find_partner(partner_id)
        return render_sheet(self, partner, tab_of(partner, "addresses"), form=form), 400


__all__ = ["DataSheetView", "ContactPersonFormView", "AddressFormView", "TABS", "Tab"]
