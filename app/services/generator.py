"""The document generator: a template filled with a partner's data, as a PDF."""

from __future__ import annotations

import functools
import io
import re
import string
import sys
import time
from datetime import date

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace
from sqlalchemy import select

from app.errors import InvalidValue
from app.extensions import db
from app.formatting import date_text
from app.models import Affiliation, DocumentTemplate, Partner
from app.services import fetch
from app.services.invoicing import FONTS

# What a document template may make: a power of attorney is a few pages, not gigabytes, and
# is filled in a moment. Numbers that size strings (repetition, padding, widths) stay below
# the output cap too, so no single operation can build a huge value.
MAX_OUTPUT = 200_000
MAX_SECONDS = 5


def _too_big():
    return InvalidValue(
        "template",
        _l("The template makes a text longer than %(max)s characters.") % {"max": MAX_OUTPUT},
    )


def _refuse_huge(values) -> None:
    for value in values:
        if isinstance(value, int) and abs(value) > MAX_OUTPUT:
            raise _too_big()
        if hasattr(value, "__len__") and not isinstance(value, dict) and len(value) > MAX_OUTPUT:
            raise _too_big()


PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\d*)(?:\.(\d+))?")


def _refuse_wide(text: str, percent: bool) -> None:
    """Widths and precisions in a %-format or str.format() text pad as much as they say."""
    if percent:
        numbers = [n for spec in PERCENT_SPEC.findall(text) for n in spec if n]
    else:
        numbers = [
            n
            for _, _, spec, _ in string.Formatter().parse(text)
            if spec
            for n in re.findall(r"\d+", spec)
        ]
    if any(int(n) > MAX_OUTPUT for n in numbers):
        raise _too_big()


class BoundedNamespace(Namespace):
    """namespace(): the one place a template keeps a value from one loop pass to the next."""

    def __setitem__(self, name, value):
        _refuse_huge([value])
        super().__setitem__(name, value)


class LimitedSandbox(SandboxedEnvironment):
    """Jinja's sandbox (no private attributes, range() of at most 100,000) whose operators,
    calls and filters cannot build a value beyond MAX_OUTPUT."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options):
        super().__init__(**options)
        self.filters = {name: self._bounded(f) for name, f in self.filters.items()}
        self.globals.pop("lipsum")
        self.globals["namespace"] = BoundedNamespace

    @staticmethod
    def _bounded(function):
        @functools.wraps(function)
        def bounded(*args, **kwargs):
            _refuse_huge([*args[1:], *kwargs.values()])
            if function.__name__ == "do_format":
                _refuse_wide(str(args[0]), percent=True)
            result = function(*args, **kwargs)
            _refuse_huge([result])
            return result

        return bounded

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int) and right > 64:
            raise _too_big()
        if operator == "*" and (isinstance(left, int) or isinstance(right, int)):
            sized, times = (right, left) if isinstance(left, int) else (left, right)
            if hasattr(sized, "__len__") and len(sized) * abs(times) > MAX_OUTPUT:
                raise _too_big()
        if operator == "%" and isinstance(left, str):
            _refuse_wide(left, percent=True)
            _refuse_huge(right if isinstance(right, tuple) else [right])
        result = super().call_binop(context, operator, left, right)
        _refuse_huge([result])
        return result

    def wrap_str_format(self, value):
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            _refuse_wide(value.__self__, percent=False)
        return wrapper

    def call(self, __context, __obj, *args, **kwargs):
        _refuse_huge([*args, *kwargs.values()])
        result = super().call(__context, __obj, *args, **kwargs)
        _refuse_huge([result] if isinstance(result, str) else [])
        return result


# StrictUndefined: a name that is not among the values is an error the user sees, not an
# empty gap in a power of attorney.
ENVIRONMENT = LimitedSandbox(undefined=StrictUndefined, autoescape=True)


class _Deadline:
    """A trace function that stops the template's own code after MAX_SECONDS (a loop that
    runs for ever); other frames are not traced. Tracing is per thread."""

    def __init__(self):
        self.until = time.monotonic() + MAX_SECONDS

    def __call__(self, frame, event, arg):
        return self.line if frame.f_code.co_filename == "<template>" else None

    def line(self, frame, event, arg):
        if time.monotonic() > self.until:
            raise InvalidValue(
                "template",
                _l("The template runs longer than %(seconds)s seconds.") % {"seconds": MAX_SECONDS},
            )
        return self.line


def _render(template: DocumentTemplate, values: dict) -> str:
    previous = sys.gettrace()
    sys.settrace(_Deadline())
    try:
        out, size = [], 0
        for chunk in ENVIRONMENT.from_string(template.body).generate(**values):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _too_big()
            out.append(chunk)
        return "".join(out)
    finally:
        sys.settrace(previous)


def variables(partner: Partner, today: date | None = None) -> dict:
    representative = db.session.scalar(
        select(Affiliation)
        .where(Affiliation.organization_id == partner.id, Affiliation.may_represent.is_(True))
        .order_by(Affiliation.id)
        .limit(1)
    )
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
        }
        if representative
        else None,
        "owner": {"name": partner.owner.get_full_name(), "email": partner.owner.email}
        if partner.owner
        else None,
        "today": date_text(today or date.today(), "long"),
    }


def fill(template: DocumentTemplate, partner: Partner) -> str:
    try:
        return _render(template, variables(partner))
    except RecursionError as error:
        raise InvalidValue("template", _l("The template calls itself too deeply.")) from error
    except UndefinedError as error:
        raise InvalidValue(
            "template",
            _l("The template uses a value this partner does not have: %(error)s")
            % {"error": error.message},
        ) from error
    except TemplateError as error:
        raise InvalidValue(
            "template", _l("The template has an error: %(error)s") % {"error": str(error)}
        ) from error


def generate_pdf(template_id: int, partner_id: int) -> tuple[str, bytes]:
    """(file name, PDF) of the template filled for the partner."""
    from xhtml2pdf import pisa

    template = fetch(DocumentTemplate, template_id)
    partner = fetch(Partner, partner_id)
    html = render_template(
        "pdf/generated.html",
        body=fill(template, partner),
        font=str(FONTS / "DejaVuSans.ttf"),
        bold=str(FONTS / "DejaVuSans-Bold.ttf"),
    )
    out = io.BytesIO()
    if pisa.CreatePDF(html, dest=out, encoding="utf-8").err:
        raise InvalidValue("template", _l("The PDF could not be made from this template."))
    name = f"{template.name} - {partner.display_name}.pdf".replace("/", "-")
    current_app.logger.info("generated %s for partner %s", template.name, partner.id)
    return name, out.getvalue()
