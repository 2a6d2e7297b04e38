"""A forgotten password: the form that mails a one-time link (the same answer whether or not
the account exists) and the page the link opens. Open to everyone, like the login."""

from __future__ import annotations

from flask import flash, redirect, request
from flask_appbuilder import BaseView, expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.services import auth
from app.views.base import ask_again
from app.views.common import NewPasswordForm


class ForgotPasswordForm(FlaskForm):
    login = StringField(_l("E-mail or user name"), validators=[DataRequired(), Length(max=254)])


class PasswordResetView(BaseView):
    route_base = ""

    @expose("/forgot-password/", methods=["GET", "POST"])
    def forgot(self):
        form = ForgotPasswordForm()
        if form.validate_on_submit():
            auth.request_reset(form.login.data)
            return self.render_template("password/forgot.html", form=None)
        page = self.render_template("password/forgot.html", form=form)
        return page, 400 if request.method == "POST" else 200

    @expose("/reset-password/<token>", methods=["GET", "POST"])
    def reset(self, token: str):
        user = auth.reset_user(token)
        if user is None:
            return self.render_template("password/reset.html", form=None), 404
        form = NewPasswordForm()
        if form.validate_on_submit():
            auth.reset_with_token(token, form.password.data)
            flash(gettext("Your new password is set. Log in with it."), "success")
            return redirect(self.appbuilder.get_url_for_login)
        ask_again(form)
        page = self.render_template("password/reset.html", form=form, user=user)
        return page, 400 if request.method == "POST" else 200
