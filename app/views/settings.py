"""My settings: the user's language, time zone, phone and zone mail."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.validators import Optional as OptionalValue

from app.extensions import db
from app.services.users import LOCALES, profile, save_settings
from app.views.base import saved


class SettingsForm(FlaskForm):
    locale = SelectField(
        _l("Language"),
        choices=[
            ("en", "English"),
            ("hu", "Magyar"),
            ("pl", "Polski"),
            ("de", "Deutsch"),
            ("ru", "Русский"),
        ],
    )
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    phone = StringField(_l("Phone"), validators=[OptionalValue(), Length(max=40)])
    zone_mail = BooleanField(
        _l("E-mail me about the zone: changes and comments on shared tasks and offers"),
        default=True,
    )

    def validate_timezone(self, field):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(field.data)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValidationError(_l("Unknown time zone, e.g. Europe/Budapest.")) from error


class SettingsView(BaseView):
    """The user's language (screens and e-mails), time zone and calendar link."""

    route_base = "/settings"
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    def index(self):
        if g.user is None or not g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login_with(request.url))
        p = profile(g.user.id)
        form = SettingsForm(obj=p)
        if request.method == "GET":
            from flask import current_app

            form.locale.data = p.locale or current_app.config["DEFAULT_LOCALE"]
            form.timezone.data = p.timezone or current_app.config["DEFAULT_TIMEZONE"]
        elif form.validate() and saved(
            form,
            save_settings,
            g.user.id,
            locale=form.locale.data,
            timezone=form.timezone.data,
            phone=form.phone.data,
            zone_mail=form.zone_mail.data,
        ):
            from flask import session

            session["locale"], session["timezone"] = form.locale.data, form.timezone.data
            flash(gettext("Your settings were saved."), "success")
            return redirect(url_for(".index"))
        db.session.commit()
        page = self.render_template("tasks/settings.html", form=form, locales=LOCALES)
        return page, 400 if request.method == "POST" else 200


__all__ = ["SettingsView"]
