"""Our company: the seller on every invoice (one row), its bank accounts (one per currency,
IBAN and SWIFT/BIC checked) and logo, and what an invoice needs of it before it is issued."""

from __future__ import annotations

import re

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.errors import SELLER_REQUIRED, InvalidValue
from app.models.base import BIDI_CONTROLS, check_choice, clean_currency
from app.models.partners import PAYMENT_METHOD_LABELS

# Length of the IBAN per country (the SWIFT IBAN registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
SWIFT_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
LOGO_MAX_BYTES = 512 * 1024
LOGO_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def clean_iban(field: str, value: str | None) -> str:
    """An IBAN without spaces, in capitals, of its country's length and with a valid
    mod-97 check (ISO 13616)."""
    iban = re.sub(r"[\s-]", "", value or "").upper()
    if not iban:
        raise InvalidValue(field, _l("%(field)s is required.") % {"field": _l("IBAN")})
    length = IBAN_LENGTHS.get(iban[:2])
    if length is None or len(iban) != length or not iban.isalnum():
        raise InvalidValue(
            field,
            _l("%(value)s is not a valid IBAN: its country or length is wrong.") % {"value": iban},
        )
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise InvalidValue(
            field,
            _l("%(value)s is not a valid IBAN: its check digits do not match.") % {"value": iban},
        )
    return iban


def clean_swift(field: str, value: str | None) -> str:
    swift = re.sub(r"\s", "", value or "").upper()
    if not SWIFT_RE.match(swift):
        raise InvalidValue(
            field,
            _l("%(value)s is not a valid SWIFT/BIC code (8 or 11 letters and digits).")
            % {"value": swift or "—"},
        )
    return swift


def optional_text(value: str | None) -> str | None:
    return (value or "").translate(BIDI_CONTROLS).strip() or None


class OurCompany(Model):
    """The seller: one row (id 1), kept by Admin and Finance."""

    __tablename__ = "our_company"
    __table_args__ = (
        CheckConstraint("id = 1", name="ck_our_company_one_row"),
        CheckConstraint(
            "payment_terms_days >= 0 AND payment_terms_days <= 365", name="ck_our_company_terms"
        ),
        CheckConstraint(
            "quote_valid_days >= 1 AND quote_valid_days <= 365", name="ck_our_company_quote_days"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    name: Mapped[str | None] = mapped_column(String(250))
    address: Mapped[str | None] = mapped_column(Text)
    tax_number: Mapped[str | None] = mapped_column(String(40))
    eu_vat_number: Mapped[str | None] = mapped_column(String(40))
    registration_number: Mapped[str | None] = mapped_column(String(60))
    payment_terms_days: Mapped[int] = mapped_column(Integer, nullable=False, default=8)
    payment_method: Mapped[str] = mapped_column(String(16), nullable=False, default="transfer")
    # How long a quote sent today is valid (its validity date is printed on it).
    quote_valid_days: Mapped[int] = mapped_column(
        Integer, nullable=False, default=30, server_default="30"
    )
    footer: Mapped[str | None] = mapped_column(Text)
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(20))

    bank_accounts: Mapped[list[BankAccount]] = relationship(
        back_populates="company",
        cascade="all, delete-orphan",
        order_by="BankAccount.currency",
        lazy="selectin",
    )

    @validates("name", "address", "tax_number", "eu_vat_number", "registration_number", "footer")
    def _text(self, key, value):
        return optional_text(value)

    @validates("payment_terms_days")
    def _terms(self, key, value):
        try:
            days = int(value)
        except (TypeError, ValueError) as error:
            raise InvalidValue(key, _l("%(value)s is not a number.") % {"value": value}) from error
        if not 0 <= days <= 365:
            raise InvalidValue(key, _l("Payment terms are between 0 and 365 days."))
        return days

    @validates("quote_valid_days")
    def _quote_days(self, key, value):
        try:
            days = int(value)
        except (TypeError, ValueError) as error:
            raise InvalidValue(key, _l("%(value)s is not a number.") % {"value": value}) from error
        if not 1 <= days <= 365:
            raise InvalidValue(key, _l("A quote is valid for 1 to 365 days."))
        return days

    @validates("payment_method")
    def _method(self, key, value):
        return check_choice(key, value or "transfer", PAYMENT_METHOD_LABELS)

    @validates("logo_type")
    def _logo_type(self, key, value):
        return check_choice(key, value, LOGO_TYPES, required=False)

    def account_for(self, currency: str) -> BankAccount | None:
        return next((a for a in self.bank_accounts if a.currency == currency), None)

    def missing_for(self, currency: str, payment_method: str) -> list[str]:
        """Keys of what an invoice in `currency` paid by `payment_method` lacks: the
        fields of SELLER_REQUIRED, and "bank_account" for a transfer without an account."""
        missing = [key for key in SELLER_REQUIRED if not getattr(self, key)]
        if payment_method == "transfer" and self.account_for(currency) is None:
            missing.append("bank_account")
        return missing

    def __str__(self) -> str:
        return self.name or str(_l("Our company"))


class BankAccount(Model):
    """A bank account of our company: at most one per currency."""

    __tablename__ = "our_company_bank_account"
    __table_args__ = (UniqueConstraint("company_id", "currency", name="uq_bank_account_currency"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("our_company.id", ondelete="CASCADE"), nullable=False
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    iban: Mapped[str] = mapped_column(String(34), nullable=False)
    swift: Mapped[str] = mapped_column(String(11), nullable=False)

    company: Mapped[OurCompany] = relationship(back_populates="bank_accounts")

    @validates("currency")
    def _currency(self, key, value):
        if not value:
            raise InvalidValue(key, _l("%(field)s is required.") % {"field": _l("Currency")})
        return clean_currency(key, value)

    @validates("iban")
    def _iban(self, key, value):
        return clean_iban(key, value)

    @validates("swift")
    def _swift(self, key, value):
        return clean_swift(key, value)

    @property
    def iban_grouped(self) -> str:
        """The IBAN in groups of four, as it is printed."""
        return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))
