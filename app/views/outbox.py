"""The outbox: every e-mail with its status; the admin can send one again."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder import action
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.models import OUTBOX_STATUS_LABELS, Outbox
from app.security import READ_WRITE
from app.services.outbox import resend
from app.views.base import DossierModelView, datamodel
from app.views.common import label_of, short_datetime


class OutboxView(DossierModelView):
    """Every e-mail with its status, attempts and last error; the admin can send again."""

    datamodel = datamodel(Outbox)
    route_base = "/outbox"
    class_permission_name = "Outbox"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {**READ_WRITE, "resend_action": "write"}
    list_title = _l("Outbox")
    show_title = _l("E-mail")
    add_title = _l("New e-mail")
    edit_title = _l("Edit e-mail")
    label_columns = {
        "recipient": _l("Recipient"),
        "subject": _l("Subject"),
        "body": _l("Text"),
        "status": _l("Status"),
        "attempts": _l("Attempts"),
        "last_error": _l("Last error"),
        "created_at": _l("Created"),
        "sent_at": _l("Sent"),
        "next_attempt_at": _l("Next attempt"),
        "key": _l("Key"),
        "html": _l("HTML version"),
        "attachments": _l("Attachments"),
        "sending_started_at": _l("Sending started"),
    }
    list_columns = [
        "created_at",
        "recipient",
        "subject",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    ]
    show_columns = [
        "created_at",
        "recipient",
        "subject",
        "body",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "sent_at",
    ]
    search_columns = ["recipient", "subject", "status", "created_at"]
    base_order = ("created_at", "desc")
    formatters_columns = {
        "status": label_of(OUTBOX_STATUS_LABELS),
        "created_at": short_datetime,
        "sent_at": short_datetime,
    }

    @action(
        "resend",
        _l("Send again"),
        _l("Send the selected e-mails again?"),
        "fa-repeat",
        single=True,
        multiple=True,
    )
    def resend_action(self, items):
        for item in items if isinstance(items, list) else [items]:
            resend(item.id)
        flash(gettext("The e-mails were queued again."), "success")
        return redirect(request.referrer or url_for(".list"))


__all__ = ["OutboxView"]
