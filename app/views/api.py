"""REST resources (FAB ModelRestApi) under /api/v1/<resource>/, same rules as the screens."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask import g, request, send_file
from flask_appbuilder.api import BaseApi, expose, protect
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields

from app.errors import DomainError, InvalidValue
from app.extensions import db
from app.models import (
    Address,
    Affiliation,
    Code,
    Document,
    Invoice,
    Note,
    Offer,
    Order,
    Organization,
    Partner,
    Payment,
    Person,
    Product,
    Task,
    zone_user_ids,
)
from app.services import invoicing, orders, quotes
from app.services.documents import attach, find_visible, path_of, visible_condition
from app.services.receivables import invoice_receivables, open_receivables
from app.services.search import SearchRefused, search
from app.services.tasks import save_task
from app.views.base import DossierApi, datamodel, guarded

PARTNER_COMMON = [
    "status",
    "owner",
    "email",
    "phone",
    "mobile",
    "website",
    "language",
    "codes",
    "description",
]
READ_ONLY = ["id", "customer_number", "display_name", "created_at", "updated_at"]


class InvoiceResult(Schema):
    number = fields.String(allow_none=True)
    status = fields.String()
    total = fields.String()
    currency = fields.String()


class OrderAnswer(Schema):
    id = fields.Integer()
    number = fields.String()


class InvoiceAnswer(Schema):
    id = fields.Integer()
    result = fields.Nested(InvoiceResult)


INVOICE_LINE = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "quantity": {"type": "number"},
        "unit_price": {"type": "number"},
        "vat_rate": {"type": "number"},
        "unit": {"type": "string"},
        "product": {"type": "integer"},
    },
}


def json_object() -> dict:
    """The request's JSON object; anything else (a list, a number) is taken as no fields."""
    payload = request.get_json(silent=True)
    return payload if isinstance(payload, dict) else {}


def answered(status: int, description: str, schema: dict, *refused: int) -> dict:
    """The responses of a write whose answer is not FAB's generic one."""
    responses = {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }
    responses.update({str(code): {"$ref": "#/components/responses/400"} for code in refused})
    responses.update({"401": {"$ref": "#/components/responses/401"}})
    return responses


class PersonApi(DossierApi):
    resource_name = "person"
    class_permission_name = "Partner"
    datamodel = datamodel(Person)
    add_columns = [
        "title",
        "first_name",
        "last_name",
        "birthday",
        "bank_account",
        "payment_method",
    ] + PARTNER_COMMON
    edit_columns = add_columns
    list_columns = READ_ONLY + [
        "first_name",
        "last_name",
        "email",
        "phone",
        "status",
        "owner.id",
        "owner.username",
    ]
    show_columns = READ_ONLY + add_columns
    search_columns = [
        "display_name",
        "first_name",
        "last_name",
        "email",
        "status",
        "customer_number",
    ]
    order_columns = ["display_name", "last_name", "customer_number", "created_at"]

    @expose("/<int:pk>/zone_invite", methods=["POST"])
    @protect()
    def zone_invite(self, pk: int):
        """Give the person, a contact person of `organization`, access to the Client or
        Partner Zone (`zone`) and mail the invitation; answers the new user's id.
        ---
        post:
          description: >-
            Invite the person to the Client or Partner Zone of an organization
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
                  properties:
                    organization:
                      type: integer
                    zone:
                      type: string
                      enum: [client, partner]
                  required: [organization, zone]
          responses:
            201:
              description: The invited zone user
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id:
                        type: integer
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              $ref: '#/components/responses/400'
        """
        from app.services import zone

        payload = json_object()
        if db.session.get(Person, pk) is None:
            return self.response_404()
        organization = payload.get("organization")
        if not isinstance(organization, int) or isinstance(organization, bool):
            return self.response_400(message={"organization": [gettext("Not a valid id.")]})
        try:
            user = zone.invite(pk, organization, payload.get("zone") or "", g.user.id)
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(201, id=user.id)


class OrganizationApi(DossierApi):
    resource_name = "organization"
    class_permission_name = "Partner"
    datamodel = datamodel(Organization)
    add_columns = ["name", "tax_number", "registration_number", "industry_code"] + PARTNER_COMMON
    edit_columns = add_columns
    list_columns = READ_ONLY + [
        "name",
        "tax_number",
        "email",
        "phone",
        "status",
        "owner.id",
        "owner.username",
    ]
    show_columns = READ_ONLY + add_columns
    search_columns = ["name", "tax_number", "email", "status", "customer_number"]
    order_columns = ["name", "customer_number", "created_at"]


class AffiliationApi(DossierApi):
    resource_name = "affiliation"
    class_permission_name = "Affiliation"
    datamodel = datamodel(Affiliation)
    add_columns = [
        "person",
        "organization",
        "role",
        "department",
        "email",
        "phone",
        "address",
        "is_contact_person",
        "may_collect_mail",
        "may_represent",
        "additional_info",
    ]
    edit_columns = add_columns
    list_columns = [
        "id",
        "person_id",
        "organization_id",
        "role",
        "department",
        "email",
        "phone",
        "is_contact_person",
        "may_collect_mail",
        "may_represent",
        "additional_info",
    ]
    show_columns = ["id"] + add_columns
    search_columns = [
        "person",
        "organization",
        "is_contact_person",
        "may_collect_mail",
        "may_represent",
        "role",
    ]


class AddressApi(DossierApi):
    resource_name = "address"
    class_permission_name = "Address"
    datamodel = datamodel(Address)
    add_columns = ["street", "postal_code", "city", "country", "latitude", "longitude"]
    edit_columns = add_columns
    list_columns = ["id"] + add_columns
    show_columns = list_columns
    search_columns = ["street", "postal_code", "city", "country"]


class CodeApi(DossierApi):
    resource_name = "code"
    class_permission_name = "Code"
    datamodel = datamodel(Code)
    add_columns = ["category", "name", "description"]
    edit_columns = add_columns
    list_columns = ["id"] + add_columns
    show_columns = list_columns
    search_columns = ["category", "name"]


class NoteApi(DossierApi):
    resource_name = "note"
    class_permission_name = "Note"
    datamodel = datamodel(Note)
    add_columns = ["partner", "kind", "body", "occurred_at", "pinned"]
    edit_columns = ["kind", "body", "occurred_at", "pinned"]
    list_columns = [
        "id",
        "partner.id",
        "partner.display_name",
        "kind",
        "body",
        "occurred_at",
        "pinned",
        "created_at",
        "author.id",
        "author.username",
    ]
    show_columns = list_columns
    search_columns = ["partner", "kind", "pinned"]
    base_order = ("created_at", "desc")
    order_columns = ["created_at", "kind"]


class QuoteLineResult(Schema):
    id = fields.Integer()
    position = fields.Integer()
    product = fields.Integer(allow_none=True)
    description = fields.String()
    quantity = fields.String()
    unit = fields.String()
    unit_price = fields.String()
    discount = fields.String()
    vat_rate = fields.String()
    net = fields.String()


class QuoteResult(Schema):
    offer = fields.Integer()
    number = fields.String()
    version = fields.Integer()
    status = fields.String()
    contact = fields.Integer(allow_none=True)
    currency = fields.String()
    issue_date = fields.String()
    valid_until = fields.String()
    net_total = fields.String()
    vat_total = fields.String()
    gross_total = fields.String()
    decided_by_name = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)
    decision_comment = fields.String(allow_none=True)
    pdf = fields.String()
    lines = fields.List(fields.Nested(QuoteLineResult))


class QuoteAnswer(Schema):
    id = fields.Integer()
    result = fields.Nested(QuoteResult)


def quote_result(quote) -> dict:
    """A quote version as the REST API answers it."""
    return {
        "offer": quote.offer_id,
        "number": quote.number,
        "version": quote.version,
        "status": quote.status,
        "contact": quote.contact_id,
        "currency": quote.currency,
        "issue_date": quote.issue_date.isoformat(),
        "valid_until": quote.valid_until.isoformat(),
        "net_total": str(quote.net_total),
        "vat_total": str(quote.vat_total),
        "gross_total": str(quote.gross_total),
        "decided_by_name": quote.decided_by_name,
        "decided_at": quote.decided_at.isoformat() if quote.decided_at else None,
        "decision_comment": quote.decision_comment,
        "pdf": f"/quote/{quote.id}/pdf",
        "lines": [quotes.line_dict(line) for line in quote.lines],
    }


class OfferApi(DossierApi):
    """Offers with their product lines (`lines`: read with the offer, replaced as a whole
    when a write sends them), sending the quote and recording the customer's answer."""

    resource_name = "offer"
    class_permission_name = "Offer"
    datamodel = datamodel(Offer)
    # `status` is accepted on create and forced to pending (pre_add and the model).
    add_columns = [
        "name",
        "partner",
        "owner",
        "deadline",
        "amount",
        "currency",
        "payment_frequency",
        "chance",
        "expected_decision",
        "distributor",
        "commission",
        "status",
    ]
    edit_columns = add_columns
    list_columns = [
        "id",
        "name",
        "partner.id",
        "partner.display_name",
        "owner.id",
        "deadline",
        "amount",
        "currency",
        "payment_frequency",
        "status",
        "chance",
        "expected_decision",
        "distributor.id",
        "commission",
    ]
    show_columns = ["id"] + add_columns
    search_columns = ["name", "partner", "owner", "status", "deadline"]
    order_columns = ["name", "deadline", "amount", "status"]
    openapi_spec_component_schemas = (QuoteAnswer,)

    @staticmethod
    def _take_lines() -> None:
        """`lines` are the offer's own, not a relation FAB's schema loads: taken out of the
        request's JSON (FAB reads the same parsed object) and stored in the write's hooks."""
        payload = request.get_json(silent=True)
        if isinstance(payload, dict) and "lines" in payload:
            g.offer_lines = payload.pop("lines")

    def _with_lines(self, response, pk: int | None = None):
        """The written offer's answer with its lines."""
        body = response.get_json(silent=True) if response.status_code in (200, 201) else None
        if isinstance(body, dict) and isinstance(body.get("result"), dict):
            offer_id = int(pk if pk is not None else body.get("id"))
            body["result"]["lines"] = [quotes.line_dict(x) for x in quotes.lines_of(offer_id)]
            return self.response(response.status_code, **body)
        return response

    def post_headless(self):
        self._take_lines()
        return self._with_lines(super().post_headless())

    def put_headless(self, pk):
        self._take_lines()
        return self._with_lines(super().put_headless(pk), pk)

    def pre_add(self, item):
        item.status = "pending"
        super().pre_add(item)
        self._store_lines(item)

    def pre_update(self, item):
        self._store_lines(item)
        super().pre_update(item)

    @staticmethod
    def _store_lines(item) -> None:
        if "offer_lines" in g:
            guarded(quotes.set_lines, item, g.pop("offer_lines"))

    def pre_get(self, data):
        """The offer's lines and the versions of its quote, with what FAB answers."""
        offer_id = int(data.get("id") or 0)
        if isinstance(data.get("result"), dict) and offer_id:
            data["result"]["lines"] = [quotes.line_dict(x) for x in quotes.lines_of(offer_id)]
            data["result"]["quotes"] = [
                {"id": q.id, **{k: v for k, v in quote_result(q).items() if k != "lines"}}
                for q in quotes.quotes_of(offer_id)
            ]

    @expose("/<int:pk>/send", methods=["POST"])
    @protect()
    def send(self, pk: int):
        """Send the offer's quote: freeze its lines as the next version and mail its PDF.
        ---
        post:
          description: >-
            Send the offer's quote to a contact person of its partner (`contact`, a person's
            id; default: the one who may represent the partner). The first sending takes the
            next quote number (Q-2026/000123); sending again after the lines changed makes
            the next version with the same number; without a change it is refused (409).
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    contact:
                      type: integer
                      nullable: true
          responses:
            201:
              description: The quote version sent
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/QuoteAnswer'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              $ref: '#/components/responses/400'
        """
        contact = json_object().get("contact")
        if contact is not None and (isinstance(contact, bool) or not isinstance(contact, int)):
            return self.response_400(message={"contact": [gettext("Not a valid id.")]})
        try:
            quote = quotes.send_quote(pk, g.user.id, contact)
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(201, id=quote.id, result=quote_result(quote))

    @expose("/<int:pk>/accept", methods=["POST"])
    @protect()
    def accept(self, pk: int):
        """Record the customer's answer to the quote waiting for one.
        ---
        post:
          description: >-
            Record by hand that the customer accepted (`decision`: accepted, the default;
            the offer is won) or declined the version of the offer's quote that waits for an
            answer, with who answered (`name`, default: the user) and a `comment`.
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    decision:
                      type: string
                      enum: [accepted, declined]
                    name:
                      type: string
                      nullable: true
                    comment:
                      type: string
                      nullable: true
          responses:
            200:
              description: The quote version answered
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/QuoteAnswer'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              $ref: '#/components/responses/400'
        """
        payload = json_object()
        decision = payload.get("decision") or "accepted"
        if decision not in ("accepted", "declined"):
            return self.response_400(message={"decision": [gettext("Not a valid choice.")]})
        texts = {key: payload.get(key) for key in ("name", "comment")}
        for key, value in texts.items():
            if value is not None and not isinstance(value, str):
                return self.response_400(message={key: [gettext("Not a valid string.")]})
        try:
            quote = quotes.record_answer(pk, g.user, decision == "accepted", **texts)
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(200, id=quote.id, result=quote_result(quote))

    @expose("/<int:pk>/order", methods=["POST"])
    @protect()
    def order(self, pk: int):
        """Make the order of the offer's accepted quote (one per quote: asked again, the
        order already made is answered with 200).
        ---
        post:
          description: >-
            Make an order of the offer's accepted quote; answers the order's id
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          responses:
            201:
              description: The new order
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/OrderAnswer'
            200:
              description: The order made of the quote before
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/OrderAnswer'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        if not self.appbuilder.sm.has_access("can_write", "Order"):
            return self.response_403()
        try:
            made, new = orders.make_order_for_offer(pk, g.user.id)
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(201 if new else 200, id=made.id, number=made.number)


class StaffUsers(BaseFilter):
    """Users who may work on a task: zone users are never offered."""

    name = "staff"

    def apply(self, query, value):
        from flask_appbuilder.security.sqla.models import User

        return query.filter(User.id.not_in(zone_user_ids()))


class TaskApi(DossierApi):
    resource_name = "task"
    class_permission_name = "Task"
    datamodel = datamodel(Task)
    add_columns = [
        "title",
        "description",
        "partner",
        "responsible",
        "collaborators",
        "starts_at",
        "due_at",
        "priority",
        "done",
    ]
    edit_columns = add_columns
    list_columns = [
        "id",
        "title",
        "partner.id",
        "partner.display_name",
        "responsible.id",
        "starts_at",
        "due_at",
        "priority",
        "done",
    ]
    show_columns = ["id"] + add_columns
    search_columns = ["title", "partner", "responsible", "done", "due_at", "priority"]
    order_columns = ["title", "starts_at", "due_at", "priority"]
    add_query_rel_fields = edit_query_rel_fields = {
        "responsible": [["id", StaffUsers, None]],
        "collaborators": [["id", StaffUsers, None]],
    }

    def post_headless(self):
        return self._answer_rule(self._save, None)

    def put_headless(self, pk):
        return self._answer_rule(self._save, pk)

    def _save(self, pk: int | None):
        """Checked by FAB's schema (a PUT keeps what it does not send), saved by the one
        service the task form uses too. The API asks nothing first: a task that overlaps
        another is saved, as the form's "save anyway" does."""
        if not request.is_json:
            return self.response_400(message="Request is not JSON")
        payload, schema = request.json, self.add_model_schema
        if pk is not None:
            found = self.datamodel.get(pk, self._base_filters)
            if found is None:
                return self.response_404()
            payload, schema = self._merge_update_item(found, payload), self.edit_model_schema
        try:
            given = schema.load(payload)
        except ValidationError as error:
            return self.response_422(message=error.messages)
        task = save_task(
            pk,
            {
                "title": given.title,
                "description": given.description,
                "partner_id": given.partner.id if given.partner else None,
                "responsible_id": given.responsible.id if given.responsible else None,
                "collaborator_ids": [user.id for user in given.collaborators],
                "starts_at": given.starts_at,
                "due_at": given.due_at,
                "priority": given.priority,
                "done": given.done,
            },
            g.user.id,
            save_anyway=True,
        )
        if pk is None:
            return self.response(201, id=task.id, result=schema.dump(task, many=False))
        return self.response(200, result=schema.dump(task, many=False))


class ProductApi(DossierApi):
    resource_name = "product"
    class_permission_name = "Product"
    datamodel = datamodel(Product)
    add_columns = ["code", "name", "unit", "price", "currency", "vat_rate", "active", "description"]
    edit_columns = add_columns
    list_columns = ["id"] + add_columns
    show_columns = list_columns
    search_columns = ["code", "name", "active"]


class PaymentApi(DossierApi):
    resource_name = "payment"
    class_permission_name = "Invoice"
    datamodel = datamodel(Payment)
    include_route_methods = {"get", "get_list", "post", "info"}
    add_columns = ["invoice", "amount", "paid_on", "method", "reference"]
    list_columns = [
        "id",
        "invoice.id",
        "invoice.number",
        "partner_id",
        "amount",
        "currency",
        "paid_on",
        "method",
        "reference",
    ]
    show_columns = list_columns
    search_columns = ["invoice", "paid_on"]

    def post_headless(self):
        return self._answer_rule(self._record)

    def _record(self):
        """Validated by the schema, recorded by the one service the screen uses too (it
        takes the invoice's lock before it reads what is still due)."""
        try:
            item = self.add_model_schema.load(request.get_json(silent=True) or {})
        except ValidationError as error:
            return self.response_422(message=error.messages)
        if item.invoice is None:
            raise InvalidValue("invoice", _l("Choose an invoice."))
        payment = invoicing.record_payment(
            item.invoice.id,
            g.user.id,
            item.amount,
            paid_on=item.paid_on,
            method=item.method,
            reference=item.reference,
        )
        return self.response(
            201, id=payment.id, result=self.add_model_schema.dump(payment, many=False)
        )


class VisibleDocuments(BaseFilter):
    """Documents list, count and show only what the user may see (the one rule)."""

    name = "visible"

    def apply(self, query, value):
        return query.filter(visible_condition(g.user))


class DocumentApi(DossierApi):
    resource_name = "document"
    class_permission_name = "Document"
    datamodel = datamodel(Document)
    include_route_methods = {"get", "get_list", "post", "info", "download"}
    base_filters = [["id", VisibleDocuments, None]]
    list_columns = [
        "id",
        "partner_id",
        "filename",
        "content_type",
        "size",
        "description",
        "visibility",
        "uploader_id",
        "created_at",
    ]
    show_columns = list_columns
    add_columns = ["partner", "description", "visibility"]
    search_columns = ["partner", "filename", "visibility"]
    openapi_spec_methods = {
        "post": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file", "partner"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "partner": {"type": "integer"},
                                    "description": {"type": "string"},
                                    "visibility": {
                                        "type": "string",
                                        "enum": ["all", "roles", "users", "uploader", "zone"],
                                    },
                                    "roles": {"type": "array", "items": {"type": "integer"}},
                                    "users": {"type": "array", "items": {"type": "integer"}},
                                },
                            }
                        }
                    },
                },
                "responses": answered(
                    201,
                    "The attached document",
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "result": {
                                "type": "object",
                                "properties": {
                                    "filename": {"type": "string"},
                                    "size": {"type": "integer"},
                                    "visibility": {"type": "string"},
                                },
                            },
                        },
                    },
                    400,
                    413,
                ),
            }
        }
    }

    def post_headless(self):
        """multipart/form-data with `file`, `partner` (id) and optional `visibility`."""
        upload = request.files.get("file")
        partner_id = request.form.get("partner", type=int)
        if upload is None or not partner_id:
            return self.response_400(message=gettext("Send a file and a partner."))
        if db.session.get(Partner, partner_id) is None:
            return self.response_400(
                message={"partner": [gettext("No such record: %(ids)s.", ids=partner_id)]}
            )
        try:
            document = attach(
                partner_id,
                g.user.id,
                upload.filename,
                upload.stream,
                visibility=request.form.get("visibility") or "all",
                role_ids=request.form.getlist("roles", type=int),
                user_ids=request.form.getlist("users", type=int),
                description=request.form.get("description"),
            )
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(
            201,
            id=document.id,
            result={c: getattr(document, c) for c in ("filename", "size", "visibility")},
        )

    @expose("/<int:pk>/download", methods=["GET"])
    @protect()
    def download(self, pk: int):
        """The document's file, if the user may see it.
        ---
        get:
          description: >-
            Download a document's file
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          responses:
            200:
              description: The file, as an attachment
              content:
                application/octet-stream:
                  schema:
                    type: string
                    format: binary
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        document = find_visible(g.user, pk)
        if document is None:
            return self.response_404()
        return send_file(
            path_of(document),
            mimetype=document.content_type,
            as_attachment=True,
            download_name=document.filename,
        )


class InvoiceApi(DossierApi):
    resource_name = "invoice"
    class_permission_name = "Invoice"
    datamodel = datamodel(Invoice)
    include_route_methods = {"get", "get_list", "post", "info", "issue", "cancel"}
    list_columns = [
        "id",
        "number",
        "partner_id",
        "status",
        "state",
        "currency",
        "issue_date",
        "due_date",
        "net_total",
        "vat_total",
        "gross_total",
    ]
    show_columns = list_columns + [
        "kind",
        "credited_invoice_id",
        "supply_date",
        "payment_method",
        "seller_name",
        "seller_tax_number",
        "seller_iban",
        "billing_name",
        "billing_address",
        "period_start",
        "period_end",
        "delivery",
        "lines.description",
        "lines.quantity",
        "lines.unit_price",
        "lines.vat_rate",
    ]
    label_columns = {"gross_total": "total"}
    add_columns = ["partner", "currency", "issue_date", "due_date", "notes"]
    edit_columns = add_columns
    search_columns = ["number", "status", "partner", "issue_date"]
    openapi_spec_component_schemas = (InvoiceAnswer,)
    openapi_spec_methods = {
        "post": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["partner"],
                                "properties": {
                                    "partner": {"type": "integer"},
                                    "currency": {"type": "string"},
                                    "notes": {"type": "string"},
                                    "lines": {"type": "array", "items": INVOICE_LINE},
                                },
                            }
                        }
                    },
                },
                "responses": answered(
                    201, "The new draft", {"$ref": "#/components/schemas/InvoiceAnswer"}, 400
                ),
            }
        }
    }

    def post_headless(self):
        """A draft from `partner` and `lines` ([{description, quantity, unit_price,
        vat_rate}]); `number`, `total` and `status` are the server's to set."""
        payload = json_object()
        partner_id, lines = payload.get("partner"), payload.get("lines") or []
        if not isinstance(partner_id, int) or db.session.get(Partner, partner_id) is None:
            return self.response_400(
                message={"partner": [gettext("No such record: %(ids)s.", ids=partner_id)]}
            )
        if not isinstance(lines, list) or not all(isinstance(x, dict) for x in lines):
            return self.response_400(message={"lines": [gettext("Not a valid list.")]})
        try:
            invoice = invoicing.create_draft(
                partner_id,
                g.user.id,
                currency=payload.get("currency") or "HUF",
                notes=payload.get("notes"),
                lines=[
                    {
                        "description": line.get("description"),
                        "quantity": line.get("quantity", 1),
                        "unit_price": line.get("unit_price"),
                        "vat_rate": line.get("vat_rate"),
                        "unit": line.get("unit"),
                        "product_id": line.get("product"),
                    }
                    for line in lines
                ],
            )
        except (DomainError, InvalidOperation, TypeError, ValueError) as error:
            db.session.rollback()
            message = (
                str(error) if isinstance(error, DomainError) else gettext("Not a valid number.")
            )
            return self.response_400(message=message)
        return self.response(201, id=invoice.id, result=self._result(invoice))

    @staticmethod
    def _result(invoice: Invoice) -> dict:
        return {
            "number": invoice.number,
            "status": invoice.state,
            "total": str(invoice.gross_total),
            "currency": invoice.currency,
        }

    @expose("/<int:pk>/issue", methods=["POST"])
    @protect()
    def issue(self, pk: int):
        """Issue a draft invoice: it takes the next number and can no longer change.
        ---
        post:
          description: >-
            Issue a draft invoice
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          responses:
            200:
              description: The issued invoice
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/InvoiceAnswer'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
            409:
              $ref: '#/components/responses/400'
        """
        try:
            invoice = invoicing.issue(pk, g.user.id)
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(200, id=invoice.id, result=self._result(invoice))

    @expose("/<int:pk>/cancel", methods=["POST"])
    @protect()
    def cancel(self, pk: int):
        """Cancel an issued invoice: a numbered credit note refers to it (it is not changed).
        ---
        post:
          description: >-
            Cancel an issued invoice with a credit note; answers the credit note
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          responses:
            201:
              description: The credit note
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/InvoiceAnswer'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        try:
            note = invoicing.cancel(pk, g.user.id)
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(201, id=note.id, result=self._result(note))


class OrderApi(DossierApi):
    """Orders: read with their lines; only the status changes (`PUT {"status": …}`), and
    `POST /<id>/invoice` makes a draft invoice of it."""

    resource_name = "order"
    class_permission_name = "Order"
    datamodel = datamodel(Order)
    include_route_methods = {"get", "get_list", "put", "info", "invoice"}
    list_columns = [
        "id",
        "number",
        "partner_id",
        "offer_id",
        "quote_id",
        "status",
        "order_date",
        "currency",
        "net_total",
        "vat_total",
        "gross_total",
    ]
    show_columns = list_columns + [
        "contact_id",
        "language",
        "lines.id",
        "lines.position",
        "lines.product_id",
        "lines.description",
        "lines.quantity",
        "lines.unit",
        "lines.unit_price",
        "lines.discount",
        "lines.vat_rate",
    ]
    edit_columns = ["status"]
    search_columns = ["number", "status", "partner", "order_date", "currency"]
    order_columns = ["number", "order_date", "status", "gross_total"]
    openapi_spec_component_schemas = (OrderAnswer,)

    def pre_get(self, data):
        """Each line with what is invoiced of it and what remains, as exact decimals."""
        order = db.session.get(Order, data.get("id"))
        if order is None:
            return
        found = {row["line"].id: row for row in orders.lines_with_remaining(order)}
        for line in data["result"].get("lines") or []:
            row = found.get(line.get("id"))
            if row is not None:
                line["invoiced"] = f"{row['invoiced'].normalize():f}"
                line["remaining"] = f"{row['remaining'].normalize():f}"

    def put_headless(self, pk):
        """Only the status changes, through the one service (the model says where to)."""
        if not str(pk).isdigit():
            return self.response_404()
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or set(payload) != {"status"}:
            return self.response_400(message={"status": [gettext("Only the status changes.")]})
        try:
            order = orders.set_status(int(pk), g.user.id, payload["status"])
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(200, id=order.id, result={"status": order.status})

    @expose("/<int:pk>/invoice", methods=["POST"])
    @protect()
    def invoice(self, pk: int):
        """Make a draft invoice of the order: the quantities given per order line, or
        (no lines) all that remains. More than remains is refused and nothing is made.
        ---
        post:
          description: >-
            Invoice an order in full or in part; answers the new draft invoice's id
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    lines:
                      type: array
                      items:
                        type: object
                        properties:
                          line:
                            type: integer
                          quantity:
                            type: number
                        required: [line, quantity]
          responses:
            201:
              description: The new draft invoice
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/InvoiceAnswer'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        if not self.appbuilder.sm.has_access("can_write", "Invoice"):
            return self.response_403()
        lines = json_object().get("lines") or []
        if not isinstance(lines, list) or not all(
            isinstance(x, dict)
            and isinstance(x.get("line"), int)
            and not isinstance(x.get("line"), bool)
            for x in lines
        ):
            return self.response_400(
                message={"lines": [gettext('A list of {"line": <id>, "quantity": <number>}.')]}
            )
        wanted = {x["line"]: x.get("quantity") for x in lines}
        if len(wanted) != len(lines):
            return self.response_400(message={"lines": [gettext("Name each line once.")]})
        try:
            invoice = orders.invoice_order(pk, g.user.id, wanted or None)
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(201, id=invoice.id, result=InvoiceApi._result(invoice))


class ReceivablesApi(BaseApi):
    """A partner's open receivables, and one draft invoice of the chosen ones."""

    resource_name = "partner"
    class_permission_name = "Invoice"
    method_permission_name = {"receivables": "read", "invoice": "write"}
    allow_browser_login = True
    openapi_spec_tag = "Receivables"

    @expose("/<int:pk>/receivables", methods=["GET"])
    @protect()
    def receivables(self, pk: int):
        """Delivered order lines not yet invoiced, contract fees due and quota units used
        beyond those bought.
        ---
        get:
          description: >-
            The partner's open receivables: delivered order lines not yet invoiced, contract
            fees due for periods begun and not yet invoiced, and quota units used beyond those
            bought and not yet invoiced. Each item's `key` chooses it for an invoice.
          parameters:
          - in: path
            name: pk
            required: true
            schema:
              type: integer
          responses:
            200:
              description: The open items
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            key:
                              type: string
                            kind:
                              type: string
                              enum: [order_line, contract, quota]
                            source:
                              type: string
                            description:
                              type: string
                            quantity:
                              type: string
                            unit:
                              type: string
                            unit_price:
                              type: string
                            vat_rate:
                              type: string
                            net:
                              type: string
                            currency:
                              type: string
                            since:
                              type: string
                              format: date
                              nullable: true
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        if db.session.get(Partner, pk) is None:
            return self.response_404()
        return self.response(200, result=[item.as_json() for item in open_receivables(pk)])

    @expose("/<int:pk>/receivables/invoice", methods=["POST"])
    @protect()
    def invoice(self, pk: int):
        """One draft invoice of the chosen open receivables.
        ---
        post:
          description: >-
            Make one draft invoice of the chosen open receivables (their keys); answers the
            draft. Refused when an item is no longer open (409) or the items are in more than
            one currency (400).
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
                  properties:
                    items:
                      type: array
                      items:
                        type: string
                  required: [items]
          responses:
            201:
              description: The new draft
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/InvoiceAnswer'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              $ref: '#/components/responses/400'
        """
        if db.session.get(Partner, pk) is None:
            return self.response_404()
        try:
            draft = invoice_receivables(pk, g.user.id, json_object().get("items"))
        except DomainError as error:
            db.session.rollback()
            return self.response(error.status, message=str(error))
        return self.response(201, id=draft.id, result=InvoiceApi._result(draft))


def _plain(value):
    """A value of a search result as JSON holds it (decimals as exact strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class SearchApi(BaseApi):
    """GET /api/v1/search/?q=: what the navbar's search finds, as JSON."""

    resource_name = "search"
    class_permission_name = "Partner"
    method_permission_name = {"get": "read"}
    allow_browser_login = True
    openapi_spec_tag = "Search"

    @expose("/", methods=["GET"])
    @protect()
    def get(self):
        """Partners, contact persons, offers, tasks and invoices that match a query.
        ---
        get:
          description: >-
            Search partners (by name, customer number, e-mail, phone, tax number, city and
            company), contact persons (by their person or organization), offers (by name),
            tasks (by title) and invoices (by number), whatever the case, the accents or the
            script ("kovacs" finds Kovács, "ivan" finds Иван). Only the kinds the user may
            read are answered, each with at most 10 results and whether there are more.
          parameters:
          - in: query
            name: q
            required: true
            schema:
              type: string
              maxLength: 100
          responses:
            200:
              description: The results by kind
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      query:
                        type: string
                      result:
                        type: object
                        description: >-
                          By kind (partners, contact_persons, offers, tasks, invoices)
                        additionalProperties:
                          type: object
                          properties:
                            results:
                              type: array
                              items:
                                type: object
                            more:
                              type: boolean
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        query = request.args.get("q", "")
        try:
            found = search(query, g.user)
        except SearchRefused as refused:
            return self.response_400(message=str(refused))
        result = {
            kind: {
                "results": [{k: _plain(v) for k, v in row.items()} for row in group["results"]],
                "more": group["more"],
            }
            for kind, group in found.items()
        }
        return self.response(200, query=query, result=result)


APIS = [
    PersonApi,
    OrganizationApi,
    AffiliationApi,
    AddressApi,
    CodeApi,
    NoteApi,
    OfferApi,
    TaskApi,
    ProductApi,
    PaymentApi,
    DocumentApi,
    InvoiceApi,
    OrderApi,
    ReceivablesApi,
    SearchApi,
]
