"""Error pages: each status answered with a styled page in the user's language and a way back,
inside the layout with the menu for a logged-in user and a plain page for a visitor; JSON under
/api/; the 500 page asks the database nothing, so it shows even while the database is gone."""

from __future__ import annotations

import io
import re

import pytest
from flask import abort, g, has_request_context
from flask_babel import force_locale, gettext
from markupsafe import escape
from sqlalchemy import event

from app import create_app
from app.extensions import db
from tests import factories as f
from tests.conftest import Client

TITLES = {
    400: "Bad request",
    403: "Access denied",
    404: "Page not found",
    405: "Not possible this way",
    413: "File too large",
    429: "Too many requests",
    500: "Something went wrong",
}
MESSAGES = {
    400: "The request could not be understood. Check what was entered and try again.",
    403: "You do not have permission to open this page or to do this.",
    404: "The page you asked for does not exist, or it is no longer here.",
    405: "This address does not take this kind of request.",
    429: "Too many requests in a short time. Wait a little and try again.",
    500: (
        "An unexpected error stopped this page. It has been logged; please try again later, "
        "and tell the administrator if it happens again."
    ),
}


def said(app, lang: str, text: str, **params) -> str:
    with app.test_request_context(), force_locale(lang):
        return gettext(text, **params)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def assert_error_page(app, response, status: int, lang: str, message: str | None = None):
    """The page of `status` in `lang`: its title, its message (the status's own unless given),
    the way home; and none of werkzeug's plain English page."""
    html = text_of(response)
    assert response.status_code == status, html[:300]
    assert response.mimetype == "text/html"
    assert 'class="error-page"' in html and f'data-status="{status}"' in html
    assert str(escape(said(app, lang, TITLES[status]))) in html
    expected = message if message is not None else said(app, lang, MESSAGES[status])
    assert str(escape(expected)) in html
    assert 'class="btn btn-primary error-home" href="/"' in html
    assert str(escape(said(app, lang, "Home page"))) in html
    assert "<title>" in html and "The requested URL" not in html
    if lang != "en":
        assert TITLES[status] not in html


def is_full_layout(html: str) -> bool:
    """The layout with the menu (a logged-in user), not the plain page."""
    return "navbar-collapse" in html and "plain-navbar" not in html


@pytest.fixture(scope="module")
def twin(app):
    """A second app on the suite's database with routes that fail on purpose (routes can be
    added only before an app's first request), and exceptions handled as in production."""
    twin = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "TESTING": True,
            "PROPAGATE_EXCEPTIONS": False,
            "WTF_CSRF_TIME_LIMIT": None,
        }
    )

    def fail(code: int):
        abort(code)

    def crash():
        g.crashed = True
        raise RuntimeError("a bug")

    twin.add_url_rule("/test/fail/<int:code>", "test_fail", fail)
    twin.add_url_rule("/test/crash", "test_crash", crash)
    twin.add_url_rule("/api/v1/test/crash", "test_api_crash", crash)
    return twin


# --- each status, in Hungarian and German ----------------------------------------------------


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_a_missing_page_is_styled_and_translated_with_the_menu(app, login, lang):
    staff = login("staff")
    staff.lang(lang)
    for url in ("/no-such-page", "/partner/999999", "/calendar/2026/13"):
        response = staff.get(url)
        assert_error_page(app, response, 404, lang)
        assert is_full_layout(text_of(response)), url
        assert "Staff User" in text_of(response)  # the user menu of the navbar


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_a_visitor_gets_the_plain_page(app, login, lang):
    visitor = login()
    visitor.lang(lang)
    response = visitor.get("/no-such-page")
    assert_error_page(app, response, 404, lang)
    html = text_of(response)
    assert "plain-navbar" in html and "navbar-collapse" not in html


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_a_record_beyond_the_ids_says_no_such_record(app, login, lang):
    staff = login("staff")
    staff.lang(lang)
    response = staff.get("/partner/99999999999")
    assert_error_page(app, response, 404, lang, said(app, lang, "No such record."))


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_a_screen_without_the_right_is_refused_with_a_page(app, login, lang):
    staff = login("staff")
    staff.lang(lang)
    response = staff.get("/users/list/")
    assert_error_page(app, response, 403, lang)
    assert is_full_layout(text_of(response))


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_bad_input_is_a_400_page_with_its_message(app, login, lang):
    staff = login("staff")
    staff.lang(lang)
    response = staff.get("/people/list/?page_PersonView=-1")
    message = said(app, lang, "A value in the request is out of range or not valid.")
    assert_error_page(app, response, 400, lang, message)


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_a_form_without_its_csrf_token_gets_the_refusal_page(app, login, lang):
    with app.app_context():
        pid = f.person().id
    staff = login("staff")
    staff.lang(lang)
    response = staff.http.post(
        f"/people/delete/{pid}", headers={"Referer": "http://localhost/people/list/"}
    )
    message = said(
        app, lang, "The form has expired or did not come from Dossier. Please try again."
    )
    assert_error_page(app, response, 400, lang, message)
    html = text_of(response)
    assert is_full_layout(html)
    assert 'class="btn btn-default error-back" href="/people/list/"' in html
    # Refused before Talisman's own hook would have run: the scripts still carry the nonce.
    nonces = re.findall(r'<script [^>]*nonce="([^"]*)"', html)
    assert nonces and all(nonces)
    assert f"'nonce-{nonces[0]}'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_a_wrong_method_is_a_405_page(app, login, lang):
    with app.app_context():
        pid = f.person().id
    staff = login("staff")
    staff.lang(lang)
    assert_error_page(app, staff.post(f"/partner/{pid}"), 405, lang)


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_an_upload_over_the_request_limit_is_a_413_page_with_the_limit(
    app, login, monkeypatch, lang
):
    with app.app_context():
        pid = f.person().id
    monkeypatch.setitem(app.config, "MAX_UPLOAD_MB", 1)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)
    staff = login("staff")
    staff.lang(lang)
    response = staff.post(
        f"/documents/upload/{pid}",
        data={"file": (io.BytesIO(b"%PDF" + b"0" * 128 * 1024), "big.pdf"), "visibility": "all"},
        content_type="multipart/form-data",
        headers={"Referer": f"http://localhost/partner/{pid}"},
    )
    message = said(app, lang, "The file is larger than %(mb)s MB.", mb=1)
    assert_error_page(app, response, 413, lang, message)
    assert f'class="btn btn-default error-back" href="/partner/{pid}"' in text_of(response)


@pytest.mark.parametrize("lang", ["hu", "de"])
@pytest.mark.parametrize("status", [400, 429])
def test_the_statuses_no_screen_answers_yet_have_their_pages(app, twin, lang, status):
    staff = Client(twin, "staff")
    staff.lang(lang)
    response = staff.get(f"/test/fail/{status}")
    assert_error_page(app, response, status, lang)
    assert is_full_layout(text_of(response))


def test_any_other_status_names_its_number(app, twin):
    visitor = Client(twin)
    visitor.lang("de")
    response = visitor.get("/test/fail/409")
    assert response.status_code == 409
    html = text_of(response)
    assert escape(said(app, "de", "Error %(status)s", status=409)) in html
    assert escape(said(app, "de", "The request could not be carried out.")) in html


def test_a_way_back_only_to_a_page_of_ours(app, login):
    staff = login("staff")
    inside = staff.get("/no-such-page", headers={"Referer": "http://localhost/people/list/?x=1"})
    assert 'class="btn btn-default error-back" href="/people/list/?x=1"' in text_of(inside)
    outside = staff.get("/no-such-page", headers={"Referer": "https://elsewhere.example/a"})
    assert "error-back" not in text_of(outside)
    assert "error-back" not in text_of(staff.get("/no-such-page"))


# --- 500: no database, no user -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_the_500_page_asks_the_database_nothing(app, twin, lang):
    statements = []

    def record(conn, cursor, statement, *args):
        if has_request_context() and g.get("crashed"):
            statements.append(statement)

    staff = Client(twin, "staff")
    staff.lang(lang)
    with twin.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = staff.get("/test/crash")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert_error_page(app, response, 500, lang)
    assert statements == []
    html = text_of(response)
    assert "plain-navbar" in html and "Staff User" not in html  # not even the user's name
    assert "a bug" not in html and "Traceback" not in html


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_the_500_page_shows_while_the_database_is_unreachable(app, tmp_path, lang):
    lost = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/gone/dossier.sqlite",
            "REDIS_URL": None,
            "PROPAGATE_EXCEPTIONS": False,
        }
    )
    response = lost.test_client().get(f"/people/list/?_l_={lang}")
    assert_error_page(app, response, 500, lang)


# --- the API stays JSON ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["hu", "de"])
def test_api_errors_stay_json_in_the_users_language(app, twin, lang):
    client = app.test_client()
    missing = client.get(f"/api/v1/no-such-resource/?_l_={lang}")
    assert missing.status_code == 404 and missing.is_json
    assert missing.get_json() == {"message": said(app, lang, MESSAGES[404])}
    beyond = client.get(f"/api/v1/person/99999999999?_l_={lang}")
    assert beyond.status_code == 404
    assert beyond.get_json() == {"message": said(app, lang, "No such record.")}
    wrong = client.put(f"/api/v1/_openapi?_l_={lang}", headers={"Authorization": "Bearer -"})
    assert wrong.status_code == 405
    assert wrong.get_json() == {"message": said(app, lang, MESSAGES[405])}
    crash = twin.test_client().get(f"/api/v1/test/crash?_l_={lang}")
    assert crash.status_code == 500
    assert crash.get_json() == {"message": said(app, lang, MESSAGES[500])}
