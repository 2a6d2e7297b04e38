"""The document generator: a template filled with a partner's data, as a PDF."""

from __future__ import annotations

import io
from datetime import date

from flask import current_app, render_template
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from app.errors import InvalidValue
from app.extensions import db
from app.models import Affiliation, DocumentTemplate, Partner
from app.services.invoicing import FONTS

# The sandbox and StrictUndefined: a template may only read these values, and a name that is
# not among them is an error the user sees, not an empty gap in a power of attorney.
ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


def variables(partner: Partner, today: date | None = None) -> dict:
    representative = db.session.scalar(
        select(Affiliation).where(Affiliation.organization_id == partner.id,
                                  Affiliation.may_represent.is_(True))
        .order_by(Affiliation.id).limit(1))
    address = partner.main_address
    return {
        "partner": {
            "name": partner.display_name,
            "customer_number": partner.customer_number,
            "address": str(address) if address else "",
            "billing_address": str(partner.billing_address or ""),
            "tax_number": getattr(partner, "tax_number", None) or "",
            "registration_number": getattr(partner, "registration_number", None) or "",
            "email": partner.email or "",
            "phone": partner.phone or "",
        },
        "representative": {
            "name": representative.person.display_name,
            "role": representative.role or "",
            "email": representative.email or representative.person.email or "",
        } if representative else None,
        "owner": {"name": partner.owner.get_full_name(), "email": partner.owner.email}
        if partner.owner else None,
        "today": format_date(today or date.today(), "long"),
    }


def fill(template: DocumentTemplate, partner: Partner) -> str:
    try:
        return ENVIRONMENT.from_string(template.body).render(**variables(partner))
    except UndefinedError as error:
        raise InvalidValue("template", _l(
            "The template uses a value this partner does not have: %(error)s")
            % {"error": error.message}) from error
    except TemplateError as error:
        raise InvalidValue("template", _l("The template has an error: %(error)s")
                           % {"error": str(error)}) from error


def generate_pdf(template_id: int, partner_id: int) -> tuple[str, bytes]:
    """(file name, PDF) of the template filled for the partner."""
    from xhtml2pdf import pisa

    template = db.get_or_404(DocumentTemplate, template_id)
    partner = db.get_or_404(Partner, partner_id)
    html = render_template("pdf/generated.html", body=fill(template, partner),
                           font=str(FONTS / "DejaVuSans.ttf"),
                           bold=str(FONTS / "DejaVuSans-Bold.ttf"))
    out = io.BytesIO()
    if pisa.CreatePDF(html, dest=out, encoding="utf-8").err:
        raise InvalidValue("template", _l("The PDF could not be made from this template."))
    name = f"{template.name} - {partner.display_name}.pdf".replace("/", "-")
    current_app.logger.info("generated %s for partner %s", template.name, partner.id)
    return name, out.getvalue()
