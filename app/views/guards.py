"""Bad input stopped at the door: ids beyond the database's integers, NUL bytes, and numbers or
dates the database or Python cannot hold — each a translated 4xx, never a 500."""

from __future__ import annotations

import prison
from flask import abort, request
from flask_babel import gettext
from sqlalchemy.exc import DataError

# Every id column is PostgreSQL's `integer`; SQLite takes no more than a signed 64-bit one.
ID_MAX = 2**31 - 1


def _is_id(name: str, value) -> bool:
    return isinstance(value, int) or name == "pk" or name.endswith("_id")


def _out_of_range(value) -> bool:
    try:
        return abs(int(value)) > ID_MAX
    except (TypeError, ValueError):
        return False


def _is_page(name: str) -> bool:
    # The data sheet's tabs take `page`; FAB's lists `page_<View>` and `psize_<View>`.
    return name == "page" or name.startswith(("page_", "psize_"))


def _bad_page(value) -> bool:
    """A page number or size below zero or beyond any table's ids."""
    try:
        return not 0 <= int(value) <= ID_MAX
    except (TypeError, ValueError):
        return False


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_bad_input():
    """Before any view: an id no record can have is not found; PostgreSQL refuses NUL bytes
    in text, so no search box, form or JSON body may carry one. The refusal's message goes
    out as JSON or as the error page (app/views/error_pages.py)."""
    for name, value in (request.view_args or {}).items():
        if _is_id(name, value) and _out_of_range(value):
            abort(404, gettext("No such record."))
    pages = [v for k, v in request.args.items(multi=True) if _is_page(k)]
    if request.path.startswith("/api/") and "q" in request.args:
        try:
            query = prison.loads(request.args["q"])
        except Exception:  # prison raises whatever its parser meets (ValueError, IndexError…)
            abort(400, gettext("The argument q is not valid Rison."))
        if isinstance(query, dict):
            pages += [v for k, v in query.items() if k in ("page", "page_size")]
    if any(_bad_page(page) for page in pages):
        abort(400, gettext("A value in the request is out of range or not valid."))
    texts = [*request.args.items(multi=True), *request.form.items(multi=True)]
    payload = request.get_json(silent=True) if request.is_json else None
    if _has_nul([v for pair in texts for v in pair]) or _has_nul(payload):
        abort(400, gettext("Text may not contain NUL characters."))
    return None


def bad_value_message(error: BaseException | None) -> str | None:
    """The user's message for a value the database or Python could not take (an id or page
    number beyond 64 bits, a negative page, a date past 9999), else None."""
    if isinstance(error, (OverflowError, DataError)):
        return gettext("A value in the request is out of range or not valid.")
    return None


def register_guards(app) -> None:
    app.before_request(refuse_bad_input)
