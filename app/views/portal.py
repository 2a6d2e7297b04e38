"""The Client Zone and the Partner Zone: the portal of zone users under /portal/, and the
staff's side of it — invitations, suspension, sharing, comments, news."""

from __future__ import annotations

import io
import logging

from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import login_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms.validators import Optional as OptionalValue

from app.extensions import db
from app.models import (
    NEWS_AUDIENCE_LABELS,
    ZONE_LABELS,
    Comment,
    News,
    Offer,
    Organization,
    Task,
    ZoneMember,
    ZoneShare,
)
from app.services import quotes, zone
from app.services.documents import path_of, path_of_stored
from app.views.base import DossierModelView, ask_again, datamodel, safe_next, saved
from app.views.common import (
    CommentForm,
    NewPasswordForm,
    choice_field,
    label_of,
    month_grid,
    require,
    short_datetime,
    yes_no,
    zone_member,
)
from app.views.fields import LocaleDateTimeField, PartnerField

log = logging.getLogger("dossier.zone")


def _add_comment(record: str, record_id: int, form: CommentForm, zone_visible: bool) -> bool:
    """Add what the form holds, through the one service; False when refused (the message
    beside its field, the rest of the form kept: a chosen file has to be chosen again)."""
    if not form.validate():
        ask_again(form)
        return False
    kind = form.kind()
    if kind is None:
        form.body.errors = [
            *form.body.errors,
            gettext("Write a comment, give a link or choose a file."),
        ]
        return False
    if not saved(
        form,
        zone.add,
        record,
        record_id,
        g.user,
        kind,
        body=form.body.data,
        url=form.url.data,
        upload=form.file.data if kind == "file" else None,
        zone_visible=zone_visible,
    ):
        ask_again(form)
        return False
    flash(gettext("It was added."), "success")
    return True


class PortalView(BaseView):
    """What a zone user sees: their tasks and offers with what staff shared on them, a
    calendar, the staff they work with, and news."""

    route_base = "/portal"
    class_permission_name = "Zone"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {
        "index": "read",
        "record": "read",
        "calendar": "read",
        "contacts": "read",
        "news": "read",
        "download": "read",
        "add": "write",
        "complete": "write",
        "quotes": "read",
        "quote_pdf": "read",
        "answer_quote": "write",
    }
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        member = zone_member()
        tasks = db.session.scalars(
            zone.visible("task", g.user.id).order_by(Task.done, Task.due_at).limit(200)
        ).all()
        offers = db.session.scalars(
            zone.visible("offer", g.user.id).order_by(Offer.deadline.desc().nulls_last()).limit(200)
        ).all()
        return self.render_template(
            "portal/index.html",
            member=member,
            tasks=tasks,
            offers=offers,
            news=zone.news_for(g.user.id, 5),
        )

    @expose("/<record>/<int:record_id>")
    @has_access
    def record(self, record: str, record_id: int, form: CommentForm | None = None):
        member = zone_member()
        item = zone.find(record, g.user.id, record_id)
        if item is None:
            abort(404)
        share = zone.share_of(record, g.user.id, record_id)
        return self.render_template(
            "portal/record.html",
            member=member,
            record=record,
            item=item,
            share=share,
            comments=zone.comments(record, record_id, zone_only=True),
            quotes=quotes.zone_quotes(g.user.id, record_id) if record == "offer" else [],
            form=form or CommentForm(formdata=None),
            may_complete=record == "task" and share.role == "performer" and item.zone_may_complete,
        )

    @expose("/<record>/<int:record_id>/add", methods=["POST"])
    @has_access
    def add(self, record: str, record_id: int):
        if zone.find(record, g.user.id, record_id) is None:
            abort(404)
        form = CommentForm()
        if not _add_comment(record, record_id, form, zone_visible=True):
            # The page again with what was typed (a file has to be chosen again).
            return self.record(record, record_id, form=form), 400
        return redirect(url_for(".record", record=record, record_id=record_id))

    @expose("/task/<int:record_id>/done", methods=["POST"])
    @has_access
    def complete(self, record_id: int):
        if not FlaskForm().validate():
            abort(400)
        if zone.find("task", g.user.id, record_id) is None:
            abort(404)
        zone.complete(g.user, record_id, done=request.form.get("undo") is None)
        flash(gettext("The task was saved."), "success")
        return redirect(url_for(".record", record="task", record_id=record_id))

    @expose("/quotes/")
    @has_access
    def quotes(self):
        return self.render_template(
            "portal/quotes.html", member=zone_member(), quotes=quotes.zone_quotes(g.user.id)
        )

    @expose("/quotes/<int:quote_id>/pdf")
    @has_access
    def quote_pdf(self, quote_id: int):
        zone_member()
        quote = quotes.find_for_zone(g.user.id, quote_id)
        if quote is None:
            abort(404)
        return send_file(
            io.BytesIO(quotes.render_pdf(quote)),
            mimetype="application/pdf",
            as_attachment=True,
            download_name=quote.filename,
        )

    @expose("/quotes/<int:quote_id>/answer", methods=["POST"])
    @has_access
    def answer_quote(self, quote_id: int):
        """Accept or decline a quote: name, time and comment are recorded, staff mailed."""
        accept = request.form.get("accept")
        if not FlaskForm().validate() or accept not in ("1", "0"):
            abort(400)
        zone_member()
        quote = quotes.answer_in_zone(quote_id, g.user, accept == "1", request.form.get("comment"))
        flash(
            gettext("Thank you: you accepted quote %(number)s.", number=quote.number)
            if quote.status == "accepted"
            else gettext("You declined quote %(number)s.", number=quote.number),
            "success",
        )
        return redirect(safe_next(request.form.get("next", "")) or url_for(".quotes"))

    @expose("/files/<int:comment_id>")
    @has_access
    def download(self, comment_id: int):
        zone_member()
        return _send(comment_id)

    @expose("/calendar/")
    @expose("/calendar/<int:year>/<int:month>")
    @has_access
    def calendar(self, year: int | None = None, month: int | None = None):
        member = zone_member()

        def tasks_between(start, end):
            return db.session.scalars(
                zone.visible("task", g.user.id)
                .where(Task.starts_at < end, Task.due_at >= start)
                .order_by(Task.starts_at)
            ).all()

        return self.render_template(
            "portal/calendar.html", member=member, **month_grid(year, month, tasks_between)
        )

    @expose("/contacts/")
    @has_access
    def contacts(self):
        member = zone_member()
        people = zone.contacts(g.user.id)
        from app.services.users import profiles

        return self.render_template(
            "portal/contacts.html",
            member=member,
            people=people,
            profiles=profiles(p.id for p in people),
        )

    @expose("/news/")
    @has_access
    def news(self):
        return self.render_template(
            "portal/news.html", member=zone_member(), news=zone.news_for(g.user.id, 100)
        )

    @expose("/welcome/<token>", methods=["GET", "POST"])
    def welcome(self, token: str):
        """The invitation link: set a password once, then into the portal."""
        user = zone.invitation_user(token)
        if user is None:
            return self.render_template("portal/welcome.html", form=None), 404
        form = NewPasswordForm()
        if request.method == "POST":
            if form.validate():
                user = zone.accept(token, form.password.data)
                login_user(user, remember=False)
                self.appbuilder.sm.update_user_auth_stat(user)
                flash(gettext("Your password is set. Welcome!"), "success")
                return redirect(url_for(".index"))
            ask_again(form)
        page = self.render_template("portal/welcome.html", form=form, user=user)
        return page, 400 if request.method == "POST" else 200


class PortalMoneyView(BaseView):
    """The zone user's company's money and documents: issued invoices and credit notes with
    their PDF, the balance and overdue sums, and the documents visible in the zone."""

    route_base = "/portal"
    class_permission_name = "Zone"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {
        "account": "read",
        "pdf": "read",
        "documents": "read",
        "download": "read",
    }

    @expose("/account/")
    @has_access
    def account(self):
        member = zone_member()
        return self.render_template(
            "portal/account.html", member=member, account=zone.account(g.user.id) or abort(404)
        )

    @expose("/invoices/<int:invoice_id>/pdf")
    @has_access
    def pdf(self, invoice_id: int):
        zone_member()
        invoice = zone.find_invoice(g.user.id, invoice_id)
        if invoice is None:
            abort(404)
        from app.services.invoicing import render_pdf

        return send_file(
            io.BytesIO(render_pdf(invoice)),
            mimetype="application/pdf",
            as_attachment=True,
            download_name=f"{invoice.kind}-{invoice.number.replace('/', '-')}.pdf",
        )

    @expose("/documents/")
    @has_access
    def documents(self):
        return self.render_template(
            "portal/documents.html", member=zone_member(), documents=zone.documents(g.user)
        )

    @expose("/documents/<int:document_id>/file")
    @has_access
    def download(self, document_id: int):
        zone_member()
        document = zone.find_document(g.user, document_id)
        if document is None:
            abort(404)
        return send_file(
            path_of(document),
            mimetype=document.content_type,
            as_attachment=True,
            download_name=document.filename,
        )


class ZoneStaffView(BaseView):
    """The staff's side: invite, suspend and restore zone users; share tasks and offers with
    them; comments, files and links with their visibility."""

    route_base = "/zone"
    class_permission_name = "Partner"
    base_permissions = ["can_read", "can_write"]
    # Sharing and commenting also need the write permission of the task or offer itself.
    method_permission_name = {
        "invite": "write",
        "suspend": "write",
        "reinvite": "write",
        "share": "write",
        "unshare": "write",
        "comment": "write",
        "visibility": "write",
        "download": "read",
        "may_complete": "write",
    }

    @staticmethod
    def _require(permission: str, record: str) -> None:
        require(permission, record.capitalize())

    @staticmethod
    def _back(record: str, record_id: int):
        view = "TaskView" if record == "task" else "OfferView"
        return redirect(url_for(f"{view}.show", pk=record_id))

    @expose("/invite/<int:organization_id>", methods=["POST"])
    @has_access
    def invite(self, organization_id: int):
        if not FlaskForm().validate():
            abort(400)
        db.get_or_404(Organization, organization_id)
        user = zone.invite(
            request.form.get("person", type=int) or 0,
            organization_id,
            request.form.get("zone", ""),
            g.user.id,
        )
        flash(
            gettext(
                "%(name)s was invited to the zone; the e-mail is on its way.",
                name=user.get_full_name(),
            ),
            "success",
        )
        return redirect(url_for("DataSheetView.tab", partner_id=organization_id, key="zone"))

    @expose("/users/<int:user_id>/suspend", methods=["POST"])
    @has_access
    def suspend(self, user_id: int):
        if not FlaskForm().validate():
            abort(400)
        member = zone.member_of(user_id) or abort(404)
        suspended = request.form.get("restore") is None
        zone.set_suspended(user_id, suspended, g.user.id)
        flash(
            gettext("The access was suspended.")
            if suspended
            else gettext("The access was restored."),
            "success",
        )
        return redirect(url_for("DataSheetView.tab", partner_id=member.partner_id, key="zone"))

    @expose("/users/<int:user_id>/reinvite", methods=["POST"])
    @has_access
    def reinvite(self, user_id: int):
        if not FlaskForm().validate():
            abort(400)
        member = zone.member_of(user_id) or abort(404)
        zone.reinvite(user_id, g.user.id)
        flash(gettext("A new invitation was sent."), "success")
        return redirect(url_for("DataSheetView.tab", partner_id=member.partner_id, key="zone"))

    @expose("/<record>/<int:record_id>/share", methods=["POST"])
    @has_access
    def share(self, record: str, record_id: int):
        if record not in zone.RECORDS or not FlaskForm().validate():
            abort(400)
        self._require("write", record)
        role = request.form.get("role", "watcher")
        zone.share(record, record_id, request.form.get("user", type=int) or 0, role, g.user.id)
        flash(gettext("The zone user can see it now."), "success")
        return self._back(record, record_id)

    @expose("/shares/<int:share_id>/remove", methods=["POST"])
    @has_access
    def unshare(self, share_id: int):
        if not FlaskForm().validate():
            abort(400)
        found = db.get_or_404(ZoneShare, share_id)
        record, record_id = ("task", found.task_id) if found.task_id else ("offer", found.offer_id)
        self._require("write", record)
        zone.unshare(share_id, g.user.id)
        return self._back(record, record_id)

    @expose("/task/<int:record_id>/may-complete", methods=["POST"])
    @has_access
    def may_complete(self, record_id: int):
        if not FlaskForm().validate():
            abort(400)
        self._require("write", "task")
        zone.allow_completion(record_id, request.form.get("allow") is not None, g.user.id)
        return self._back("task", record_id)

    @expose("/<record>/<int:record_id>/comments", methods=["POST"])
    @has_access
    def comment(self, record: str, record_id: int):
        if record not in zone.RECORDS:
            abort(404)
        self._require("write", record)
        form = CommentForm()
        if _add_comment(record, record_id, form, zone_visible=bool(form.zone_visible.data)):
            return self._back(record, record_id)
        # The task's or offer's page again, its comment form holding what was typed.
        return _staff_view(record).show_page(record_id, form=form), 400

    @expose("/comments/<int:comment_id>/visibility", methods=["POST"])
    @has_access
    def visibility(self, comment_id: int):
        if not FlaskForm().validate():
            abort(400)
        found = db.get_or_404(Comment, comment_id)
        record = "task" if found.task_id else "offer"
        self._require("write", record)
        zone.set_visibility(comment_id, request.form.get("zone_visible") is not None, g.user.id)
        return self._back(record, found.task_id or found.offer_id)

    @expose("/comments/<int:comment_id>/file")
    @has_access
    def download(self, comment_id: int):
        return _send(comment_id)


def _staff_view(record: str):
    """The staff's view of a task or an offer (its show page has the zone panel)."""
    name = "TaskView" if record == "task" else "OfferView"
    for view in current_app.appbuilder.baseviews:
        if type(view).__name__ == name:
            return view
    abort(404)


def _send(comment_id: int):
    """A file of a comment to whoever may have it (the one rule in zone.find_file)."""
    found = zone.find_file(g.user, comment_id)
    if found is None:
        abort(404)
    return send_file(
        path_of_stored(found.stored_name),
        mimetype=found.content_type,
        as_attachment=True,
        download_name=found.filename,
    )


def log_refusals(app) -> None:
    """Every refused attempt of a zone user (403 or 404) is logged: who, what, where from."""

    @app.after_request
    def _log(response):
        user = g.get("user")
        if (
            response.status_code in (403, 404)
            and user is not None
            and getattr(user, "is_authenticated", False)
            and zone.is_zone_user(user)
        ):
            log.warning(
                "zone user %s (%s) was refused %s %s: %s",
                user.id,
                user.username,
                request.method,
                request.full_path.rstrip("?"),
                response.status_code,
            )
        return response


class NewsView(DossierModelView):
    datamodel = datamodel(News)
    route_base = "/news"
    class_permission_name = "News"
    list_title = _l("News")
    show_title = _l("News")
    add_title = _l("New news")
    edit_title = _l("Edit news")
    label_columns = {
        "title": _l("Title"),
        "body": _l("Text"),
        "audience": _l("For"),
        "partner": _l("Partner"),
        "published_at": _l("Published"),
        "author": _l("Author"),
    }
    list_columns = ["published_at", "title", "audience", "partner", "author"]
    add_columns = ["title", "body", "audience", "partner", "published_at"]
    edit_columns = add_columns
    show_columns = add_columns + ["author"]
    search_columns = ["title", "audience", "published_at"]
    base_order = ("published_at", "desc")
    formatters_columns = {
        "audience": label_of(NEWS_AUDIENCE_LABELS),
        "published_at": short_datetime,
    }
    description_columns = {
        "partner": _l("Only for news for one partner."),
        "published_at": _l("Empty: now. A later time publishes it then."),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "audience": choice_field(_l("For"), NEWS_AUDIENCE_LABELS),
        "partner": PartnerField(_l("Partner"), required=False),
        "published_at": LocaleDateTimeField(
            _l("Published"), validators=[OptionalValue()], utc=True
        ),
    }


class ZoneMemberView(DossierModelView):
    """Every zone user with their partner, zone, state and last login."""

    datamodel = datamodel(ZoneMember)
    route_base = "/zone-users"
    class_permission_name = "Partner"
    base_permissions = ["can_read", "can_write"]  # the set of every "Partner" view
    include_route_methods = {"list", "show"}  # invited and suspended from the data sheet
    list_title = _l("Zone users")
    show_title = _l("Zone user")
    label_columns = {
        "user": _l("User"),
        "partner": _l("Partner"),
        "zone": _l("Zone"),
        "active": _l("Active"),
        "last_login": _l("Last login"),
        "created_at": _l("Invited"),
        "person": _l("Person"),
    }
    list_columns = ["user", "partner", "zone", "active", "last_login", "created_at"]
    show_columns = list_columns
    search_columns = ["zone", "created_at"]
    base_order = ("created_at", "desc")
    formatters_columns = {
        "zone": label_of(ZONE_LABELS),
        "active": yes_no,
        "last_login": lambda d: short_datetime(d) or "—",
        "created_at": short_datetime,
        "partner": lambda p: Markup('<a href="{}">{}</a>').format(
            url_for("DataSheetView.tab", partner_id=p.id, key="zone"), p.display_name
        ),
    }


__all__ = [
    "PortalView",
    "PortalMoneyView",
    "ZoneStaffView",
    "NewsView",
    "ZoneMemberView",
    "log_refusals",
]
