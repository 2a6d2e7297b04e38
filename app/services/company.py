"""Our company: reading and saving the seller's data, its bank accounts and logo (the screen
and the REST API both come here)."""

from __future__ import annotations

import io
from typing import BinaryIO

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.errors import InvalidValue
from app.extensions import db
from app.models import LOGO_MAX_BYTES, LOGO_TYPES, BankAccount, OurCompany
from app.services import acting_as, take_write_lock

FIELDS = (
    "name",
    "address",
    "tax_number",
    "eu_vat_number",
    "registration_number",
    "payment_terms_days",
    "payment_method",
    "quote_valid_days",
    "footer",
)


def our_company() -> OurCompany:
    """The one row; before anyone saved it, an empty one (not stored)."""
    return db.session.get(OurCompany, 1) or OurCompany(
        id=1, payment_terms_days=8, payment_method="transfer", quote_valid_days=30
    )


def _locked_row() -> OurCompany:
    take_write_lock()
    company = db.session.scalar(
        select(OurCompany)
        .where(OurCompany.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if company is None:
        company = our_company()
        db.session.add(company)
    return company


def save_our_company(
    actor_id: int | None,
    bank_accounts: list[dict] | None = None,
    logo: BinaryIO | None = None,
    remove_logo: bool = False,
    **fields,
) -> OurCompany:
    """Change the fields given; `bank_accounts` ([{currency, iban, swift}]), when given,
    replaces the accounts; `logo` (a stream) replaces the logo. One account per currency;
    all of it is saved or nothing (a refused logo is read no further than its limit)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise InvalidValue(sorted(unknown)[0], _l("Unknown field."))
    image = read_logo(logo) if logo is not None else None
    with acting_as(actor_id):
        company = _locked_row()
        for key, value in fields.items():
            setattr(company, key, value)
        if bank_accounts is not None:
            set_bank_accounts(company, bank_accounts)
        if image is not None:
            company.logo, company.logo_type = image
        elif remove_logo:
            company.logo, company.logo_type = None, None
        db.session.flush()
    return company


def set_bank_accounts(company: OurCompany, accounts: list[dict]) -> None:
    seen = set()
    rows = []
    for given in accounts:
        account = BankAccount(
            currency=given.get("currency"), iban=given.get("iban"), swift=given.get("swift")
        )
        if account.currency in seen:
            raise InvalidValue(
                "bank_accounts",
                _l("Only one bank account per currency: %(currency)s is given twice.")
                % {"currency": account.currency},
            )
        seen.add(account.currency)
        rows.append(account)
    company.bank_accounts.clear()
    db.session.flush()  # the old rows go first: the new ones may reuse their currencies
    company.bank_accounts.extend(rows)


def read_logo(stream: BinaryIO) -> tuple[bytes, str]:
    """The logo's bytes and type, read no further than the limit: too large, empty, or not
    a PNG or JPEG image is refused before anything is stored."""
    data = stream.read(LOGO_MAX_BYTES + 1)
    if len(data) > LOGO_MAX_BYTES:
        raise InvalidValue(
            "logo",
            _l("The logo is larger than %(kb)s KB.") % {"kb": LOGO_MAX_BYTES // 1024},
        )
    kind = next((k for k, magic in LOGO_TYPES.items() if data.startswith(magic)), None)
    if kind is None or not _is_image(data):
        raise InvalidValue("logo", _l("The logo must be a PNG or JPEG image."))
    return data, kind


def _is_image(data: bytes) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return True


def set_logo(actor_id: int | None, stream: BinaryIO) -> OurCompany:
    return save_our_company(actor_id, logo=stream)


def as_dict(company: OurCompany) -> dict:
    """The REST representation."""
    return {
        "id": 1,
        **{key: getattr(company, key) for key in FIELDS},
        "bank_accounts": [
            {"currency": a.currency, "iban": a.iban, "swift": a.swift}
            for a in company.bank_accounts
        ],
        "has_logo": company.logo_type is not None,
    }
