"""Settings → Our company (the seller on invoices) and its REST resource `our_company`."""

from __future__ import annotations

import io

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.api import BaseApi, protect
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, FieldList, FormField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange
from wtforms.validators import Optional as OptionalValue

from app.errors import DomainError
from app.extensions import db
from app.models import CURRENCIES, PAYMENT_METHOD_LABELS
from app.services import company as seller
from app.views.base import ask_again
from app.views.common import choice_field

EMPTY_ACCOUNT_ROWS = 2


class BankAccountForm(FlaskForm):
    class Meta:
        csrf = False  # a row of the company form, which carries the token

    currency = choice_field(
        _l("Currency"), dict(zip(CURRENCIES, CURRENCIES, strict=True)), required=False
    )
    iban = StringField(_l("IBAN"), validators=[OptionalValue(), Length(max=42)])
    swift = StringField(_l("SWIFT/BIC"), validators=[OptionalValue(), Length(max=14)])


class OurCompanyForm(FlaskForm):
    name = StringField(_l("Legal name"), validators=[OptionalValue(), Length(max=250)])
    address = TextAreaField(_l("Address"), validators=[OptionalValue(), Length(max=1000)])
    tax_number = StringField(_l("Tax number"), validators=[OptionalValue(), Length(max=40)])
    eu_vat_number = StringField(_l("EU VAT number"), validators=[OptionalValue(), Length(max=40)])
    registration_number = StringField(
        _l("Registration number"), validators=[OptionalValue(), Length(max=60)]
    )
    payment_terms_days = IntegerField(
        _l("Payment terms (days)"), validators=[InputRequired(), NumberRange(min=0, max=365)]
    )
    payment_method = choice_field(_l("Default payment method"), PAYMENT_METHOD_LABELS)
    quote_valid_days = IntegerField(
        _l("Quotes are valid for (days)"), validators=[InputRequired(), NumberRange(min=1, max=365)]
    )
    footer = TextAreaField(_l("Invoice footer"), validators=[OptionalValue(), Length(max=2000)])
    bank_accounts = FieldList(FormField(BankAccountForm), label=_l("Bank accounts"))
    logo = FileField(_l("Logo (PNG or JPEG)"))
    remove_logo = BooleanField(_l("Remove the logo"))


class OurCompanyView(BaseView):
    """The seller's data, its bank accounts (one per currency) and logo."""

    route_base = "/our-company"
    default_view = "index"
    class_permission_name = "OurCompany"
    base_permissions = ["can_read", "can_write"]
    method_permission_name = {"index": "read", "save": "write", "logo": "read"}

    @expose("/")
    @has_access
    def index(self):
        company = seller.our_company()
        form = OurCompanyForm(obj=company)
        form.bank_accounts.entries = []
        for account in company.bank_accounts:
            form.bank_accounts.append_entry(
                {"currency": account.currency, "iban": account.iban, "swift": account.swift}
            )
        return self._page(form, company)

    @expose("/", methods=["POST"])
    @has_access
    def save(self):
        form = OurCompanyForm()
        company = seller.our_company()
        if form.validate():
            try:
                self._store(form)
            except DomainError as error:
                db.session.rollback()
                field = getattr(form, getattr(error, "field", ""), None)
                if field is not None and not isinstance(field, FieldList):
                    field.errors = [*field.errors, str(error)]
                else:
                    flash(str(error), "danger")
            else:
                flash(gettext("Our company's data was saved."), "success")
                return redirect(url_for(".index"))
        ask_again(form)  # the logo has to be chosen again
        return self._page(form, company), 400

    @staticmethod
    def _store(form: OurCompanyForm) -> None:
        accounts = [
            row.data
            for row in form.bank_accounts
            if (row.iban.data or "").strip() or (row.swift.data or "").strip()
        ]
        upload = request.files.get("logo")
        seller.save_our_company(
            g.user.id,
            bank_accounts=accounts,
            logo=upload.stream if upload is not None and upload.filename else None,
            remove_logo=form.remove_logo.data,
            **{key: getattr(form, key).data for key in seller.FIELDS},
        )

    def _page(self, form: OurCompanyForm, company):
        for _ in range(EMPTY_ACCOUNT_ROWS):
            form.bank_accounts.append_entry()
        return self.render_template(
            "finance/our_company.html",
            form=form,
            company=company,
            can_write=self.appbuilder.sm.has_access("can_write", "OurCompany"),
        )

    @expose("/logo")
    @has_access
    def logo(self):
        company = seller.our_company()
        if company.logo_type is None:
            abort(404)
        return send_file(io.BytesIO(company.logo), mimetype=company.logo_type)


BANK_ACCOUNT_SCHEMA = {
    "type": "object",
    "required": ["currency", "iban", "swift"],
    "properties": {
        "currency": {"type": "string", "enum": list(CURRENCIES)},
        "iban": {"type": "string"},
        "swift": {"type": "string"},
    },
}
OUR_COMPANY_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "nullable": True},
        "address": {"type": "string", "nullable": True},
        "tax_number": {"type": "string", "nullable": True},
        "eu_vat_number": {"type": "string", "nullable": True},
        "registration_number": {"type": "string", "nullable": True},
        "payment_terms_days": {"type": "integer"},
        "quote_valid_days": {"type": "integer"},
        "payment_method": {"type": "string", "enum": list(PAYMENT_METHOD_LABELS)},
        "footer": {"type": "string", "nullable": True},
        "bank_accounts": {"type": "array", "items": BANK_ACCOUNT_SCHEMA},
        "has_logo": {"type": "boolean"},
    },
}
TEXT_FIELDS = ("name", "address", "tax_number", "eu_vat_number", "registration_number", "footer")


class OurCompanyApi(BaseApi):
    """`GET /api/v1/our_company/1` and `PUT /api/v1/our_company/1`: the seller as one row."""

    resource_name = "our_company"
    class_permission_name = "OurCompany"
    allow_browser_login = True
    method_permission_name = {"get": "read", "put": "write"}
    openapi_spec_tag = "Our company"

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    def get(self, pk: int):
        """Our company's data.
        ---
        get:
          description: >-
            The seller on every invoice (there is one row, id 1)
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          responses:
            200:
              description: Our company
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id:
                        type: integer
                      result:
                        type: object
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        if pk != 1:
            return self.response_404()
        return self.response(200, id=1, result=seller.as_dict(seller.our_company()))

    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    def put(self, pk: int):
        """Change our company's data; `bank_accounts`, when given, replaces the accounts.
        ---
        put:
          description: >-
            Change our company's data (fields left out stay as they are)
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
          responses:
            200:
              description: Our company as saved
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id:
                        type: integer
                      result:
                        type: object
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        if pk != 1:
            return self.response_404()
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        problems = self._type_problems(payload)
        if problems:
            return self.response_400(message=problems)
        fields = {k: v for k, v in payload.items() if k in seller.FIELDS}
        try:
            company = seller.save_our_company(
                g.user.id, bank_accounts=payload.get("bank_accounts"), **fields
            )
        except DomainError as error:
            db.session.rollback()
            field = getattr(error, "field", None) or "our_company"
            return self.response_400(message={field: [str(error)]})
        return self.response(200, id=1, result=seller.as_dict(company))

    @staticmethod
    def _type_problems(payload: dict) -> dict:
        """Fields of the wrong JSON type, answered before anything is stored."""
        problems = {}
        unknown = set(payload) - set(seller.FIELDS) - {"bank_accounts", "id", "has_logo"}
        for key in sorted(unknown):
            problems[key] = [gettext("Unknown field.")]
        for key in TEXT_FIELDS + ("payment_method",):
            if key in payload and payload[key] is not None and not isinstance(payload[key], str):
                problems[key] = [gettext("Not a valid string.")]
        for key in ("payment_terms_days", "quote_valid_days"):
            days = payload.get(key)
            if key in payload and (isinstance(days, bool) or not isinstance(days, int)):
                problems[key] = [gettext("Not a valid integer.")]
        accounts = payload.get("bank_accounts")
        if "bank_accounts" in payload and not (
            isinstance(accounts, list)
            and all(
                isinstance(a, dict)
                and all(isinstance(a.get(k), str) for k in ("currency", "iban", "swift"))
                for a in accounts
            )
        ):
            problems["bank_accounts"] = [
                gettext("A list of bank accounts, each with currency, IBAN and SWIFT.")
            ]
        return problems


__all__ = ["OurCompanyView", "OurCompanyApi"]
