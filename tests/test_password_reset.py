"""A forgotten password: a one-time link mailed through the outbox in the user's language,
valid for an hour; the same answer whether or not the account exists."""

import re
from datetime import timedelta

import pytest
from freezegun import freeze_time

from app.errors import InvalidValue
from app.extensions import db
from app.services import auth
from app.services.users import profile
from tests import factories as f
from tests.conftest import Client, at_once, find_csrf, run_jobs
from tests.test_zone import contact, invite

LINK = re.compile(r"http://localhost/reset-password/([\w-]+)")
VOLATILE = re.compile(r'(nonce|value|content)="[^"]*"')
ANSWER = "If the address belongs to an account, a link has been sent."


def staff_member(app, locale: str | None = None) -> str:
    """A staff user (removed after the test) with the password "old-password-1"."""
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.add_user(
            "tmp-erika",
            "Erika",
            "Muster",
            "Erika.Muster@example.com",
            sm.find_role("Staff"),
            password="old-password-1",
        )
        profile(user.id).locale = locale
        db.session.commit()
    return "tmp-erika"


def ask(login, who: str) -> str:
    page = login().post("/forgot-password/", data={"login": who})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def mailed_link(app, mailbox, address: str):
    run_jobs(app)
    [mail] = mailbox.to(address)
    return mail, LINK.search(mail.get_body(("plain",)).get_content()).group(1)


def can_log_in(app, username: str, password: str) -> bool:
    client = Client(app)
    response = client.post("/login/", data={"username": username, "password": password})
    return response.status_code == 302 and "/login" not in response.headers["Location"]


def test_the_login_page_leads_to_the_forgotten_password_form(login):
    client = login()
    page = client.get("/login/").get_data(as_text=True)
    assert 'href="/forgot-password/"' in page and "Forgot password?" in page
    form = client.get("/forgot-password/").get_data(as_text=True)
    assert "forgot-password-form" in form and "E-mail or user name" in form


def test_a_forgotten_password_link_in_the_user_s_language_works_once(app, login, mailbox):
    username = staff_member(app, locale="de")
    session = login(username, "old-password-1")
    assert ANSWER in ask(login, "  erika.MUSTER@example.com ")
    mail, token = mailed_link(app, mailbox, "Erika.Muster@example.com")
    assert mail["Subject"] == "Ein neues Passwort für Dossier"
    body = mail.get_body(("plain",)).get_content()
    assert "60 Minuten" in body and "Benutzername: tmp-erika" in body
    visitor = login()
    assert "reset-password-form" in visitor.get(f"/reset-password/{token}").get_data(as_text=True)
    done = visitor.post(
        f"/reset-password/{token}",
        data={"password": "brand-new-secret-7", "confirm": "brand-new-secret-7"},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/login/")
    assert not can_log_in(app, username, "old-password-1")
    assert can_log_in(app, username, "brand-new-secret-7")
    assert session.get("/people/list/").status_code == 302  # the old session ended
    again = login().get(f"/reset-password/{token}")
    assert again.status_code == 404
    assert "This link has expired or was already used." in again.get_data(as_text=True)
    with app.test_request_context(), pytest.raises(InvalidValue, match="already used"):
        auth.reset_with_token(token, "another-secret-8")
    assert can_log_in(app, username, "brand-new-secret-7")


def test_an_unknown_or_suspended_account_gets_the_same_answer_and_no_mail(app, login, mailbox):
    username = staff_member(app)
    known = ask(login, username)
    unknown = ask(login, "nobody@example.com")
    assert ANSWER in unknown
    assert VOLATILE.sub("", known) == VOLATILE.sub("", unknown)
    run_jobs(app)
    assert len(mailbox.messages) == 1
    with app.app_context():
        app.appbuilder.sm.find_user(username=username).active = False
        db.session.commit()
    with freeze_time(auth.utcnow() + timedelta(minutes=10)):
        assert ANSWER in ask(login, username)
    run_jobs(app)
    assert len(mailbox.messages) == 1


def test_a_reset_link_expires_after_an_hour(app, login, mailbox):
    username = staff_member(app)
    ask(login, username)
    _mail, token = mailed_link(app, mailbox, "Erika.Muster@example.com")
    with freeze_time(auth.utcnow() + timedelta(minutes=61)):
        assert login().get(f"/reset-password/{token}").status_code == 404
        with app.test_request_context(), pytest.raises(InvalidValue):
            auth.reset_with_token(token, "brand-new-secret-7")
    assert can_log_in(app, username, "old-password-1")


def test_a_weak_new_password_is_refused_and_the_link_still_works(app, login, mailbox):
    username = staff_member(app)
    ask(login, username)
    _mail, token = mailed_link(app, mailbox, "Erika.Muster@example.com")
    visitor = login()
    weak = visitor.post(f"/reset-password/{token}", data={"password": "short", "confirm": "short"})
    assert weak.status_code == 400
    assert "at least 10 characters" in weak.get_data(as_text=True)
    common = visitor.post(
        f"/reset-password/{token}", data={"password": "password123", "confirm": "password123"}
    )
    assert "too common" in common.get_data(as_text=True)
    assert can_log_in(app, username, "old-password-1")
    with app.test_request_context(), pytest.raises(InvalidValue):
        auth.reset_with_token(token, "password123")
    done = visitor.post(
        f"/reset-password/{token}",
        data={"password": "brand-new-secret-7", "confirm": "brand-new-secret-7"},
    )
    assert done.status_code == 302
    assert can_log_in(app, username, "brand-new-secret-7")


def test_one_link_per_five_minutes_and_a_new_one_ends_the_old(app, login, mailbox):
    username = staff_member(app)
    ask(login, username)
    ask(login, "erika.muster@example.com")
    _mail, first = mailed_link(app, mailbox, "Erika.Muster@example.com")
    mailbox.messages.clear()
    with freeze_time(auth.utcnow() + timedelta(minutes=6)):
        ask(login, username)
        _mail, second = mailed_link(app, mailbox, "Erika.Muster@example.com")
        assert login().get(f"/reset-password/{first}").status_code == 404
        assert login().get(f"/reset-password/{second}").status_code == 200


def test_a_zone_user_resets_their_password_in_their_language(app, login, mailbox):
    with app.app_context():
        company = f.company(name="Gamma Zrt.").id
    person = contact(app, company, "Gizella", "Gamma", "gizi@gamma.example")
    invite(app, person, company, "client", "gizi-password-1")
    run_jobs(app)  # the invitation
    mailbox.messages.clear()
    ask(login, "GIZI@gamma.example")
    mail, token = mailed_link(app, mailbox, "gizi@gamma.example")
    assert mail["Subject"] == "Új jelszó a Dossierhez"
    visitor = login()
    assert visitor.get(f"/reset-password/{token}").status_code == 200
    visitor.post(
        f"/reset-password/{token}",
        data={"password": "gizi-new-secret-2", "confirm": "gizi-new-secret-2"},
    )
    assert not can_log_in(app, "gizi@gamma.example", "gizi-password-1")
    assert login("gizi@gamma.example", "gizi-new-secret-2").get("/portal/").status_code == 200


def test_two_simultaneous_uses_of_a_link_set_one_password(app, live_server, mailbox):
    username = staff_member(app)
    with app.test_request_context():
        auth.request_reset(username)
    _mail, token = mailed_link(app, mailbox, "Erika.Muster@example.com")
    visitors = [live_server.client(), live_server.client()]
    for visitor in visitors:
        visitor.csrf = find_csrf(visitor.get(f"/reset-password/{token}").text)
    passwords = ["first-new-secret-1", "second-new-secret-2"]

    def use(visitor, password):
        form = {"password": password, "confirm": password}
        return lambda: visitor.post(f"/reset-password/{token}", form, follow=False)

    answers = at_once(*(use(v, p) for v, p in zip(visitors, passwords, strict=True)))
    to_login = [a for a in answers if a.headers.get("Location", "").endswith("/login/")]
    assert len(to_login) == 1, [(a.status_code, a.headers.get("Location")) for a in answers]
    works = [can_log_in(app, username, p) for p in passwords]
    assert works == [answers[0] in to_login, answers[1] in to_login]
