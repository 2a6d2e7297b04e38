"""Documents of a partner: upload with visibility, download as attachment, delete."""

from __future__ import annotations

import io

from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from flask_wtf import FlaskForm

from app.errors import DomainError, NotFound
from app.extensions import db
from app.models import Partner
from app.services.documents import attach, find_visible, path_of, remove
from app.views.base import ask_again, saved
from app.views.common import DocumentForm


class DocumentView(BaseView):
    route_base = "/documents"
    class_permission_name = "Document"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {
        "upload": "write",
        "download": "read",
        "delete": "write",
        "generate": "read",
    }

    @expose("/upload/<int:partner_id>", methods=["POST"])
    @has_access
    def upload(self, partner_id: int):
        from app.views.sheet import find_partner, render_sheet, tab_of

        if db.session.get(Partner, partner_id) is None:
            raise NotFound()  # answered as the translated missing page
        partner = find_partner(partner_id)
        form = DocumentForm()
        form.fill_choices()
        upload = request.files.get("file")
        valid = form.validate()
        if upload is None or not upload.filename:
            form.file.errors = [*form.file.errors, gettext("Choose a file to attach.")]
        elif valid and saved(
            form,
            attach,
            partner_id,
            g.user.id,
            upload.filename,
            upload.stream,
            visibility=form.visibility.data,
            role_ids=form.roles.data or [],
            user_ids=[user.id for user in form.users.data],
            description=form.description.data,
        ):
            flash(gettext("The document was attached."), "success")
            return redirect(url_for("DataSheetView.tab", partner_id=partner_id, key="documents"))
        # The documents tab again with what was chosen; the file has to be chosen again.
        ask_again(form)
        return render_sheet(self, partner, tab_of(partner, "documents"), form=form), 400

    @expose("/generate/<int:partner_id>", methods=["POST"])
    @has_access
    def generate(self, partner_id: int):
        from app.services.generator import generate_pdf

        back = url_for("DataSheetView.tab", partner_id=partner_id, key="documents")
        template_id = request.form.get("template", type=int)
        if not FlaskForm().validate() or not template_id:
            flash(gettext("Choose a template."), "danger")
            return redirect(back)
        try:
            name, pdf = generate_pdf(template_id, partner_id)
            if request.form.get("save"):
                if not current_app.appbuilder.sm.has_access("can_write", "Document"):
                    abort(403)
                attach(
                    partner_id,
                    g.user.id,
                    name,
                    io.BytesIO(pdf),
                    description=gettext("Generated from a template"),
                )
                flash(gettext("The document was attached."), "success")
                return redirect(back)
        except NotFound:
            raise
        except DomainError as error:
            flash(str(error), "danger")
            return redirect(back)
        return send_file(
            io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True, download_name=name
        )

    @expose("/<int:document_id>/download")
    @has_access
    def download(self, document_id: int):
        document = find_visible(g.user, document_id)
        if document is None:
            abort(404)
        return send_file(
            path_of(document),
            mimetype=document.content_type,
            as_attachment=True,
            download_name=document.filename,
            max_age=0,
        )

    @expose("/<int:document_id>/delete", methods=["POST"])
    @has_access
    def delete(self, document_id: int):
        document = find_visible(g.user, document_id)
        if document is None or not FlaskForm().validate():
            abort(404 if document is None else 400)
        is_manager = current_app.appbuilder.sm.has_role(g.user, "Admin", "Manager")
        if document.uploader_id != g.user.id and not is_manager:
            abort(403)
        partner_id = document.partner_id
        remove(document)
        flash(gettext("The document was deleted."), "success")
        return redirect(url_for("DataSheetView.tab", partner_id=partner_id, key="documents"))
