"""Numbers, money, dates and times in one format per locale, for every screen, form, PDF and
e-mail: built on Flask-Babel's locale and time zone, with English read as British English."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, get_date_format
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
    parse_pattern,
)
from flask import current_app, has_app_context, has_request_context
from flask_babel import get_locale, get_timezone

# The language a user picks, and the locale its dates and numbers are written in.
FORMAT_LOCALES = {"en": "en_GB"}
# Currencies written without minor units (whole forints).
WHOLE_CURRENCIES = {"HUF"}


_LOCALES: dict[str, Locale] = {}


def format_locale(locale: str | Locale | None = None) -> Locale:
    """The formatting locale of a language (the request's when none is given): en → en_GB.
    Parsed once per name (a data sheet formats a date per note)."""
    if locale is None:
        locale = (get_locale() if has_app_context() else None) or "en"
    name = str(locale)
    found = _LOCALES.get(name)
    if found is None:
        try:
            found = Locale.parse(FORMAT_LOCALES.get(name, name))
        except (ValueError, UnknownLocaleError):
            found = Locale.parse(FORMAT_LOCALES["en"])
        if len(_LOCALES) >= 64:
            _LOCALES.clear()
        _LOCALES[name] = found
    return found


def time_zone(zone: str | tzinfo | None = None) -> tzinfo:
    """A time zone by name; none given: the user's (in a request), else the app's default."""
    if isinstance(zone, tzinfo):
        return zone
    if zone:
        try:
            return ZoneInfo(zone)
        except (ValueError, KeyError):
            pass
    if has_request_context():
        return get_timezone()
    default = current_app.config["DEFAULT_TIMEZONE"] if has_app_context() else "Europe/Budapest"
    return ZoneInfo(default)


def local_time(moment: datetime, zone: str | tzinfo | None = None) -> datetime:
    """A stored moment (naive UTC) in a time zone, to the minute's second (no microseconds)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(time_zone(zone)).replace(microsecond=0)


def date_pattern(locale: str | Locale | None = None) -> str:
    """The locale's numeric date with two-digit day and month and a four-digit year: the one
    way dates are shown and typed (hu 2026. 12. 02., de 02.12.2026, en 02/12/2026)."""
    loc = format_locale(locale)
    key = str(loc)
    found = _PATTERNS.get(key)
    if found is None:
        pattern = get_date_format("short", locale=loc).pattern
        pattern = re.sub(r"(?<!d)d(?!d)", "dd", pattern)
        pattern = re.sub(r"(?<!M)M(?!M)", "MM", pattern)
        found = _PATTERNS[key] = re.sub(r"y+", "y", pattern)
    return found


_PATTERNS: dict[str, str] = {}


# The numeric date of each locale as a str.format pattern, made once from Babel's pattern when
# it has only day, month, year and punctuation (every Dossier language); else None: Babel.
_NUMERIC: dict[str, str | None] = {}
_NUMERIC_FIELDS = {"dd": "{0.day:02d}", "MM": "{0.month:02d}", "y": "{0.year}"}


def _numeric_format(loc: Locale) -> str | None:
    key = str(loc)
    if key not in _NUMERIC:
        parts = re.findall(r"dd|MM|y|[^A-Za-z']+|.", date_pattern(loc))
        fields = [
            _NUMERIC_FIELDS.get(part)
            or (
                part.replace("{", "{{").replace("}", "}}")
                if not re.search(r"[A-Za-z']", part)
                else None
            )
            for part in parts
        ]
        _NUMERIC[key] = None if None in fields else "".join(fields)
    return _NUMERIC[key]


def date_text(day: date | datetime | None, style: str = "numeric", locale=None) -> str:
    """A date: `numeric` (lists, pages, forms) or Babel's `medium`, `long`, `full` (letters)."""
    if day is None or day == "":
        return ""
    if isinstance(day, datetime):
        day = day.date()
    loc = format_locale(locale)
    if style == "numeric":
        numeric = _numeric_format(loc)
        if numeric is not None:
            return numeric.format(day)
    return format_date(day, date_pattern(loc) if style == "numeric" else style, locale=loc)


def datetime_text(moment: datetime | None, locale=None, zone=None, seconds: bool = False) -> str:
    """A moment in the user's (or the given) time zone: the numeric date and the time."""
    if moment is None or moment == "":
        return ""
    local = local_time(moment, zone)
    return f"{date_text(local, 'numeric', locale)} {local:%H:%M:%S}"[: None if seconds else -3]


def datetime_texts(locale=None, zone=None):
    """datetime_text for many moments of one page: the locale, its date format and the time
    zone looked up once, not for every moment."""
    loc, tz = format_locale(locale), time_zone(zone)
    numeric = _numeric_format(loc)

    def text(moment: datetime | None) -> str:
        if moment is None or moment == "":
            return ""
        local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(tz)
        day = numeric.format(local) if numeric is not None else date_text(local, locale=loc)
        return f"{day} {local:%H:%M}"

    return text


def clock_text(moment: datetime | time | None, locale=None, zone=None) -> str:
    """Only the time of day (a calendar's entries)."""
    if moment is None:
        return ""
    # Every Dossier language reads the 24-hour clock with two-digit hours.
    value = local_time(moment, zone) if isinstance(moment, datetime) else moment
    return f"{value:%H:%M}"


def month_text(day: date, short: bool = False, locale=None) -> str:
    """A month heading: "2026. december", "December 2026"; short for chart labels."""
    return format_skeleton("yMMM" if short else "yMMMM", day, locale=format_locale(locale))


def number_text(value, digits: int | None = None, locale=None) -> str:
    """A number with the locale's separators; `digits` fixes the decimals."""
    if value is None or value == "":
        return ""
    pattern = "#,##0.######" if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, pattern, locale=format_locale(locale))


def money_text(amount, currency: str | None, locale=None) -> str:
    """An amount with its currency's symbol or code, in the locale's order and separators;
    forints without decimals."""
    if amount is None or amount == "":
        return ""
    loc = format_locale(locale)
    currency = (currency or "HUF").upper()
    if currency not in WHOLE_CURRENCIES:
        return format_currency(amount, currency, locale=loc)
    pattern = parse_pattern(loc.currency_formats["standard"].pattern)
    pattern.frac_prec = (0, 0)
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    return pattern.apply(value, loc, currency=currency, currency_digits=False)


def parse_date(text: str | None, locale=None) -> date | None:
    """A date typed in the locale's order (or as ISO 2026-12-02); None when empty. Raises
    ValueError when it is not a date."""
    text = (text or "").strip()
    if not text:
        return None
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        return date.fromisoformat("-".join(part.zfill(2) for part in text.split("-")))
    parts = re.findall(r"\d+", text)
    if len(parts) != 3 or re.search(r"[^\d\s./-]", text):
        raise ValueError(text)
    pattern = date_pattern(locale)
    order = sorted("dMy", key=pattern.index)
    values = dict(zip(order, map(int, parts), strict=True))
    if values["y"] < 100 or len(parts[order.index("y")]) != 4:
        raise ValueError(text)
    return date(values["y"], values["M"], values["d"])


def parse_datetime(text: str | None, locale=None) -> datetime | None:
    """A local date and time typed in the locale's order (or ISO); None when empty; naive
    local time (the caller turns it into UTC). Raises ValueError when it is not one."""
    text = (text or "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(.*?)[\sT,]+(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not match:
        return datetime.combine(parse_date(text, locale), time(0))
    day = parse_date(match.group(1).rstrip(" ,"), locale)
    return datetime.combine(
        day, time(int(match.group(2)), int(match.group(3)), int(match.group(4) or 0))
    )


def input_date(day: date | None, locale=None) -> str:
    """A date as a form input shows it (the numeric date of the locale)."""
    return date_text(day, "numeric", locale) if day else ""


def input_datetime(local: datetime | None, locale=None) -> str:
    """A local date and time as a form input shows it."""
    if not local:
        return ""
    return f"{date_text(local, 'numeric', locale)} {local:%H:%M}"


def picker_format(locale=None) -> str:
    """The date format of the JS date picker (bootstrap-datepicker's tokens)."""
    return date_pattern(locale).replace("MM", "mm").replace("y", "yyyy")


# Spaces and apostrophes people put between thousands (NBSP and narrow NBSP as Babel writes).
_GROUPING_MARKS = re.compile(r"[\s\u00a0\u202f']")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def _symbols(locale=None) -> dict:
    """The locale's decimal and thousands marks (of its Latin digits)."""
    loc = format_locale(locale)
    symbols = loc.number_symbols
    return symbols.get("latn", symbols) if "latn" in symbols else symbols


def parse_number(text, locale=None) -> Decimal | None:
    """A number as a user of the locale types it: a decimal comma or point (hu, pl, de, ru
    write 12,5), spaces, points or commas between thousands. Both marks: the last one is
    the decimal mark. One mark: the decimal mark, unless it appears more than once between
    groups of three digits, or it is the locale's thousands mark and stands so (de 1.000,
    en 1,000). None when
    empty; ValueError when it is not a number. The same rule as dossier/lines.js."""
    text = _GROUPING_MARKS.sub("", str(text or ""))
    if not text:
        return None
    if "," in text and "." in text:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        text = text.replace("." if decimal_mark == "," else ",", "")
    elif "," in text or "." in text:
        decimal_mark = "," if "," in text else "."
        group = _symbols(locale).get("group", ",")
        grouped = re.fullmatch(rf"[+-]?\d{{1,3}}(\{decimal_mark}\d{{3}})+", text)
        if text.count(decimal_mark) > 1 and not grouped:
            raise ValueError(text)
        if text.count(decimal_mark) > 1 or (decimal_mark == group and grouped):
            text = text.replace(decimal_mark, "")
    else:
        decimal_mark = "."
    text = text.replace(decimal_mark, ".")
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ValueError(text)
    return Decimal(text)


def input_number(value, locale=None) -> str:
    """A number as a form input shows it: no thousands marks, the locale's decimal mark, no
    trailing zeros (12,5 · 27 · 1250)."""
    if value is None or value == "":
        return ""
    text = format(Decimal(str(value)).normalize(), "f")
    return text.replace(".", _symbols(locale).get("decimal", "."))


def money_format(currency: str | None, locale=None) -> dict:
    """How `money_text` writes an amount of `currency`, for a script to write the same:
    the prefixes and suffixes (positive, negative) with the currency's sign, the marks,
    the decimals and the group size."""
    loc = format_locale(locale)
    currency = (currency or "HUF").upper()
    pattern = parse_pattern(loc.currency_formats["standard"].pattern)
    sign = get_currency_symbol(currency, locale=loc)
    symbols = _symbols(loc)
    return {
        "prefix": [p.replace("¤", sign) for p in pattern.prefix],
        "suffix": [s.replace("¤", sign) for s in pattern.suffix],
        "decimal": symbols.get("decimal", "."),
        "group": symbols.get("group", ","),
        "digits": 0 if currency in WHOLE_CURRENCIES else get_currency_precision(currency),
        "grouping": pattern.grouping[0],
    }
