"""REST resources (FAB ModelRestApi) under /api/v1/<resource>/, same rules as the screens."""


from app.models import Address, Affiliation, Code, Note, Offer, Organization, Person, Task
from app.views.base import DossierApi, datamodel

PARTNER_COMMON = ["status", "owner", "email", "phone", "mobile", "website", "language",
                  "codes", "description"]
READ_ONLY = ["id", "customer_number", "display_name", "created_at", "updated_at"]


class PersonApi(DossierApi):
    resource_name = "person"
    class_permission_name = "Partner"
    datamodel = datamodel(Person)
    add_columns = ["title", "first_name", "last_name", "birthday", "bank_account",
                   "payment_method"] + PARTNER_COMMON
    edit_columns = add_columns
    list_columns = READ_ONLY + ["first_name", "last_name", "email", "phone", "status",
                                "owner.id", "owner.username"]
    show_columns = READ_ONLY + add_columns
    search_columns = ["display_name", "first_name", "last_name", "email", "status",
                      "customer_number"]
    order_columns = ["display_name", "last_name", "customer_number", "created_at"]


class OrganizationApi(DossierApi):
    resource_name = "organization"
    class_permission_name = "Partner"
    datamodel = datamodel(Organization)
    add_columns = ["name", "tax_number", "registration_number", "industry_code"] + PARTNER_COMMON
    edit_columns = add_columns
    list_columns = READ_ONLY + ["name", "tax_number", "email", "phone", "status",
                                "owner.id", "owner.username"]
    show_columns = READ_ONLY + add_columns
    search_columns = ["name", "tax_number", "email", "status", "customer_number"]
    order_columns = ["name", "customer_number", "created_at"]


class AffiliationApi(DossierApi):
    resource_name = "affiliation"
    class_permission_name = "Affiliation"
    datamodel = datamodel(Affiliation)
    add_columns = ["person", "organization", "role", "department", "email", "phone",
                   "address", "is_contact_person", "may_collect_mail", "may_represent",
                   "additional_info"]
    edit_columns = add_columns
    list_columns = ["id", "person_id", "organization_id", "role", "department", "email", "phone",
                    "is_contact_person", "may_collect_mail", "may_represent", "additional_info"]
    show_columns = ["id"] + add_columns
    search_columns = ["person", "organization", "is_contact_person", "may_collect_mail",
                      "may_represent", "role"]


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
    list_columns = ["id", "partner.id", "partner.display_name", "kind", "body", "occurred_at",
                    "pinned", "created_at", "author.id", "author.username"]
    show_columns = list_columns
    search_columns = ["partner", "kind", "pinned"]
    base_order = ("created_at", "desc")
    order_columns = ["created_at", "kind"]


class OfferApi(DossierApi):
    resource_name = "offer"
    class_permission_name = "Offer"
    datamodel = datamodel(Offer)
    # `status` is accepted on create and forced to pending (pre_add and the model).
    add_columns = ["name", "partner", "owner", "deadline", "amount", "currency",
                   "payment_frequency", "chance", "expected_decision", "distributor",
                   "commission", "status"]
    edit_columns = add_columns
    list_columns = ["id", "name", "partner.id", "partner.display_name", "owner.id", "deadline",
                    "amount", "currency", "payment_frequency", "status", "chance",
                    "expected_decision", "distributor.id", "commission"]
    show_columns = ["id"] + add_columns
    search_columns = ["name", "partner", "owner", "status", "deadline"]
    order_columns = ["name", "deadline", "amount", "status"]

    def pre_add(self, item):
        item.status = "pending"
        super().pre_add(item)


class TaskApi(DossierApi):
    resource_name = "task"
    class_permission_name = "Task"
    datamodel = datamodel(Task)
    add_columns = ["title", "description", "partner", "responsible", "collaborators",
                   "starts_at", "due_at", "priority", "done"]
    edit_columns = add_columns
    list_columns = ["id", "title", "partner.id", "partner.display_name", "responsible.id",
                    "starts_at", "due_at", "priority", "done"]
    show_columns = ["id"] + add_columns
    search_columns = ["title", "partner", "responsible", "done", "due_at", "priority"]
    order_columns = ["title", "starts_at", "due_at", "priority"]


APIS = [PersonApi, OrganizationApi, AffiliationApi, AddressApi, CodeApi, NoteApi, OfferApi,
        TaskApi]
