"""Five complete languages: catalogues, pages and locale formats."""

import os
import re
from datetime import date
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.formatting import date_text
from tests import factories as f

ROOT = Path(__file__).resolve().parent.parent
LANGS = ["en", "hu", "pl", "de", "ru"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def catalogue(lang):
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang)


@pytest.mark.parametrize("lang", LANGS)
def test_every_entry_is_translated_and_none_is_fuzzy(lang):
    missing, fuzzy, broken = [], [], []
    for message in catalogue(lang):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            missing.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        if any(set(PLACEHOLDER.findall(s)) - wanted - {"%(num)d"} for s in strings):
            broken.append(message.id)
    assert not missing, f"{lang}: untranslated {missing[:10]}"
    assert not fuzzy, f"{lang}: fuzzy {fuzzy[:10]}"
    assert not broken, f"{lang}: placeholders differ {broken[:10]}"


def test_catalogues_hold_every_string_of_the_code_and_of_fab():
    method_map = [
        ("**.py", "python"),
        ("**/templates/**.html", "jinja2"),
        ("**/templates/**.txt", "jinja2"),
    ]
    found = set()
    for folder in (ROOT / "app", Path(os.path.dirname(flask_appbuilder.__file__))):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            str(folder), method_map, keywords=KEYWORDS
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    for lang in LANGS:
        known = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalogue(lang)}
        assert not found - known, f"{lang}: run `make babel-extract`: {sorted(found - known)[:10]}"


EXPECTED = {
    "hu": ["Emberek", "Cégek", "Ügyfélszám", "Jegyzetek"],
    "pl": ["Osoby", "Firmy", "Numer klienta"],
    "de": ["Personen", "Firmen", "Kundennummer"],
    "ru": ["Люди", "Номер клиента"],
}


@pytest.mark.parametrize("lang", ["hu", "pl", "de", "ru"])
def test_pages_switch_language_with_locale_dates(app, login, lang):
    with app.app_context():
        pid = f.person(birthday=date(1980, 3, 10)).id
    client = login("staff")
    client.lang(lang)
    sheet = client.get(f"/partner/{pid}").get_data(as_text=True)
    listing = client.get("/people/list/").get_data(as_text=True)
    for word in EXPECTED[lang]:
        assert word in sheet + listing, (lang, word)
    for english in ("Customer number", "Key information", "Add Filter", "Record Count"):
        assert english not in sheet + listing, (lang, english)
    with app.test_request_context():
        assert date_text(date(1980, 3, 10), locale=lang) in sheet


def test_hungarian_covers_fabs_own_screens(app, login):
    client = login("admin")
    client.lang("hu")
    login_page = login().http
    login_page.get("/lang/hu")
    text = login_page.get("/login/").get_data(as_text=True)
    assert "Bejelentkezés" in text and "Sign In" not in text
    users = client.get("/users/list/").get_data(as_text=True)
    for english in ("List Users", "Add Filter", "Record Count", "Search"):
        assert english not in users, english


def test_validation_messages_are_in_the_users_language(app, login):
    client = login("staff")
    client.lang("de")
    response = client.post(
        "/people/add",
        data={"first_name": "A", "last_name": "B", "status": "active", "email": "nope"},
        follow_redirects=True,
    )
    assert "ist keine gültige E-Mail-Adresse" in response.get_data(as_text=True)


@pytest.mark.parametrize("lang", ["en", "hu", "pl", "de", "ru", "bg"])
def test_numeric_dates_are_babels_pattern(lang):
    """The numeric date is written by a format made once per locale: the same text as Babel's
    pattern on every day of four centuries (and Babel itself where the pattern holds letters,
    as Bulgarian's "г.")."""
    from datetime import timedelta

    from babel.dates import format_date

    from app.formatting import date_pattern, format_locale

    locale = format_locale(lang)
    start = date(1800, 1, 1)
    for offset in range(0, 400 * 366, 7):
        day = start + timedelta(days=offset)
        expected = format_date(day, date_pattern(locale), locale=locale)
        assert date_text(day, locale=lang) == expected, day


def test_flask_babel_finds_its_namespace_without_the_proxies(app):
    """Flask-Babel's context lookup is replaced by a quicker one (app/views/__init__.py) that
    answers as Flask-Babel 4.0's: the namespace kept on the app context's `g`, None outside
    one. Should Flask-Babel rename its function, this fails rather than the patch doing
    nothing."""
    import flask_babel
    from flask import g

    assert flask_babel._get_current_context.__module__ == "app.views"
    assert flask_babel._get_current_context() is None
    with app.app_context():
        namespace = flask_babel._get_current_context()
        assert namespace is g._flask_babel
        with app.test_request_context("/"):
            assert flask_babel._get_current_context() is namespace
    with app.app_context():
        assert flask_babel._get_current_context() is not namespace
        assert flask_babel.get_locale() is not None
