"""Domain errors: raised by models and services, turned into a translated 4xx in one place."""

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """A rule of the domain said no. `message` is a lazy translation with named placeholders."""

    status = 400
    message = _l("The request could not be carried out.")
    # The form field the refusal is about, when it knows one (a model's attribute name):
    # a form shows the message beside that field, else above the form.
    field: str | None = None

    def __init__(self, message=None, **params):
        self.params = params
        if message is not None:
            self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text


class InvalidValue(DomainError):
    status = 400

    def __init__(self, field: str, message):
        self.field = field
        super().__init__(message)


class NotFound(DomainError):
    """The record asked for does not exist (or is not there for this user)."""

    status = 404
    message = _l("No such record.")


class Conflict(DomainError):
    status = 409
    message = _l("This record conflicts with an existing one.")

    def __init__(self, message=None, field: str | None = None, **params):
        self.field = field
        super().__init__(message, **params)


class InUse(DomainError):
    """A record others still point at (a database restriction on delete)."""

    status = 409
    message = _l("This record is still used by other records, so it cannot be deleted.")


class TooLarge(DomainError):
    status = 413
    field = "file"  # a form shows it beside its file input
    message = _l("The file is larger than %(mb)s MB.")


class NoteLocked(DomainError):
    status = 403
    message = _l(
        "This note can no longer be changed or deleted: notes are fixed "
        "%(minutes)s minutes after they are written."
    )


class NotAuthor(DomainError):
    status = 403
    message = _l("Only the author of a note may change or delete it.")


class ReadOnlyField(DomainError):
    status = 400
    message = _l("%(field)s cannot be changed.")


class PartnerHasFixedNotes(DomainError):
    status = 409
    message = _l(
        "This partner has notes that can no longer be changed, so it cannot be "
        "deleted. Set its status to inactive instead."
    )


class PartnerHasOthersNotes(DomainError):
    status = 409
    message = _l(
        "This partner has notes written by other users, so it cannot be deleted. "
        "Set its status to inactive instead."
    )


class PartnerHasInvoices(DomainError):
    status = 409
    message = _l(
        "This partner has invoices or payments, so it cannot be deleted. "
        "Set its status to inactive instead."
    )


class PartnerHasContracts(DomainError):
    status = 409
    message = _l(
        "This partner has contracts, so it cannot be deleted. Set its status to inactive instead."
    )


class BulkChange(DomainError):
    status = 403
    message = _l("This change is made one record at a time, so that its rules are checked.")


class BulkNoteChange(DomainError):
    status = 403
    message = _l("Notes cannot be changed or deleted in bulk.")


class OfferStatusError(DomainError):
    status = 403
    message = _l("Only a manager can set a won or lost offer back to pending.")


class QuoteLocked(DomainError):
    status = 409
    message = _l("A quote that was sent is not changed: change the offer and send it again.")


class InvoiceLocked(DomainError):
    status = 409
    message = _l("An invoice that is %(status)s cannot be changed; cancel it instead.")


class OfferLocked(DomainError):
    status = 409
    message = _l("The lines of an offer that is %(status)s cannot be changed.")


class OrderLocked(DomainError):
    """A rule of orders said no; the message says which."""

    status = 409
    new_order = _l("A new order is open.")
    fixed = _l("An order cannot be changed once it is made, only moved on in its status.")
    transition = _l("An order that is %(status)s cannot become %(new)s.")
    invoiced = _l(
        "This order is invoiced in part or in full, so it cannot be cancelled. "
        "Delete its draft invoices or cancel its invoices first."
    )
    deleted = _l("An order is never deleted; cancel it instead.")
    cancelled = _l("Order %(number)s is cancelled, so it is not invoiced.")
    message = fixed


class TaskOverlaps(DomainError):
    """The responsible already has open tasks at this time (`clashes`); the task form shows
    them and asks before saving anyway."""

    status = 409
    message = _l("The responsible already has a task at this time.")

    def __init__(self, clashes):
        self.clashes = clashes
        super().__init__()


class ZoneForbidden(DomainError):
    status = 403
    message = _l("This is not possible in the zone.")


class LoginRefused(DomainError):
    """Too many failed logins for a user name or from an address (the same for both, so that
    the answer does not tell whether the user exists)."""

    status = 429
    slowed = _l("Too many failed logins. Wait %(seconds)s seconds and try again.")
    locked = _l(
        "Too many failed logins: logging in with this name or from this address is "
        "locked for %(minutes)s minutes."
    )
    message = slowed


# What an invoice cannot be issued without, with the words a refusal names it by.
SELLER_REQUIRED = {
    "name": _l("legal name"),
    "address": _l("address"),
    "tax_number": _l("tax number"),
}


class SellerDataMissing(DomainError):
    """Our company lacks what an invoice must carry: `missing` names it (keys of
    SELLER_REQUIRED, and "bank_account" for a transfer in `currency` without an account)."""

    status = 409
    message = _l("The invoice cannot be issued while Settings → Our company lacks: %(missing)s.")
    bank_account = _l("a bank account in %(currency)s")

    def __init__(self, missing: list[str], currency: str):
        self.missing, self.currency = list(missing), currency
        super().__init__()

    def __str__(self) -> str:
        names = [
            str(self.bank_account) % {"currency": self.currency}
            if key == "bank_account"
            else str(SELLER_REQUIRED[key])
            for key in self.missing
        ]
        return str(self.message) % {"missing": ", ".join(names)}


class QuoteSellerDataMissing(SellerDataMissing):
    """Our company lacks what a quote must carry (the seller's name, address, tax number)."""

    message = _l("The quote cannot be sent while Settings → Our company lacks: %(missing)s.")
