"""Notes of the data sheet: write one, change or delete it while its lock allows."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from flask_wtf import FlaskForm

from app.extensions import db
from app.models import Note, Partner
from app.services.notes import change_note, delete_note, write_note
from app.views.base import safe_next, saved
from app.views.common import NoteForm


class NoteView(BaseView):
    """The sheet's note routes, under the write permission of "Note"."""

    route_base = "/partner"
    class_permission_name = "Note"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"add_note": "write", "edit_note": "write", "remove_note": "write"}

    @staticmethod
    def _content(form: NoteForm) -> dict:
        return {
            "kind": form.kind.data,
            "body": form.body.data,
            "pinned": form.pinned.data,
            "occurred_at": form.occurred_at.data,
        }

    @staticmethod
    def _back_url(partner_id: int) -> str:
        return safe_next() or url_for("DataSheetView.tab", partner_id=partner_id, key="notes")

    def _back(self, partner_id: int):
        return redirect(self._back_url(partner_id))

    @expose("/<int:partner_id>/notes", methods=["POST"])
    @has_access
    def add_note(self, partner_id: int):
        from app.views.sheet import find_partner, render_sheet, tab_of

        db.get_or_404(Partner, partner_id)
        form = NoteForm()
        if form.validate() and saved(
            form, write_note, partner_id, g.user.id, **self._content(form)
        ):
            flash(gettext("The note was saved."), "success")
            return self._back(partner_id)
        # The sheet's notes tab again, its form holding what was typed.
        partner = find_partner(partner_id)
        return render_sheet(self, partner, tab_of(partner, "notes"), form=form), 400

    @expose("/<int:partner_id>/notes/<int:note_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit_note(self, partner_id: int, note_id: int):
        note = db.get_or_404(Note, note_id)
        if note.partner_id != partner_id:
            abort(404)
        form = NoteForm(obj=note)
        if request.method == "POST":
            if form.validate() and saved(
                form, change_note, note_id, g.user.id, **self._content(form)
            ):
                flash(gettext("The note was saved."), "success")
                return self._back(partner_id)
            note = db.get_or_404(Note, note_id)  # as stored, after the undo
        elif not note.may_be_changed_by(g.user.id):
            note.assert_changeable()
        return self.render_template(
            "datasheet/note_edit.html",
            form=form,
            note=note,
            partner=note.partner,
            back=self._back_url(partner_id),
        ), 400 if request.method == "POST" else 200

    @expose("/<int:partner_id>/notes/<int:note_id>/delete", methods=["POST"])
    @has_access
    def remove_note(self, partner_id: int, note_id: int):
        note = db.get_or_404(Note, note_id)
        if note.partner_id != partner_id or not FlaskForm().validate():
            abort(400 if note.partner_id == partner_id else 404)
        delete_note(note_id, g.user.id)
        flash(gettext("The note was deleted."), "success")
        return self._back(partner_id)


__all__ = ["NoteView"]
