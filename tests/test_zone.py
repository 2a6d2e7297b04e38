"""The Client Zone and the Partner Zone: invitations, what a zone user sees and may do, the
mails, and who may reach every URL of the app (a permission matrix)."""

import io
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from app.errors import InvalidValue, ZoneForbidden
from app.extensions import db
from app.models import Comment, News, Offer, Organization, Outbox, Task, ZoneMember, utcnow
from app.services import acting_as, zone
from tests import factories as f
from tests.conftest import user_id

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LINK = re.compile(r"/portal/welcome/([\w-]+)")


@dataclass
class World:
    alfa: int
    beta: int
    partner_co: int
    anna: int  # zone users: Anna of Alfa (client), Béla of Béta (client) and
    bela: int  # Piotr of the partner company (partner)
    piotr: int
    anna_person: int
    shared_task: int  # Alfa's task shared with Anna as performer (she may mark it done)
    internal_task: int  # Alfa's task not shared with anybody
    beta_task: int  # Béta's task shared with Béla
    shared_offer: int  # Alfa's offer shared with Anna as watcher
    beta_offer: int
    internal_comment: int
    visible_comment: int
    visible_file: int
    internal_file: int
    beta_file: int


def token_of(app, email: str) -> str:
    with app.app_context():
        body = db.session.scalar(
            select(Outbox.body).where(Outbox.recipient == email).order_by(Outbox.id.desc())
        )
    return LINK.search(body).group(1)


def invite(app, person_id: int, organization_id: int, zone_key: str, password: str) -> int:
    """Invite through the service, then set the password through the mailed link."""
    with app.test_request_context():
        user = zone.invite(person_id, organization_id, zone_key, user_id(app, "staff"))
        uid, email = user.id, user.email
    with app.test_request_context():
        zone.accept(token_of(app, email), password)
    return uid


def contact(app, company_id: int, first: str, last: str, email: str, language="hu") -> int:
    with app.app_context():
        person = f.person(first_name=first, last_name=last, email=email, language=language)
        f.affiliation(person, db.session.get(Organization, company_id), is_contact_person=True)
        return person.id


def comment(app, record: str, record_id: int, kind="comment", visible=False, **kw) -> int:
    with app.app_context():
        from flask_appbuilder.security.sqla.models import User

        author = db.session.get(User, user_id(app, "staff"))
        if kind == "file":
            from werkzeug.datastructures import FileStorage

            kw["upload"] = FileStorage(io.BytesIO(PDF), filename=kw.pop("filename", "a.pdf"))
        return zone.add(record, record_id, author, kind, zone_visible=visible, **kw).id


def task(app, company_id: int, title: str, **kw) -> int:
    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    with app.app_context(), acting_as(None):
        item = Task(
            title=title,
            partner_id=company_id,
            responsible_id=user_id(app, "staff"),
            starts_at=start,
            due_at=start + timedelta(hours=1),
            **kw,
        )
        db.session.add(item)
        db.session.flush()
        return item.id


def offer(app, company_id: int, name: str) -> int:
    with app.app_context(), acting_as(None):
        item = Offer(
            name=name, partner_id=company_id, owner_id=user_id(app, "manager"), amount=100000
        )
        db.session.add(item)
        db.session.flush()
        return item.id


@pytest.fixture
def world(app, mailbox) -> World:
    with app.app_context():
        alfa = f.company(name="Alfa Kft.").id
        beta = f.company(name="Béta Bt.").id
        partner_co = f.company(name="Partner Sp. z o.o.").id
    anna_person = contact(app, alfa, "Anna", "Alfa", "anna@alfa.example")
    bela_person = contact(app, beta, "Béla", "Béta", "bela@beta.example")
    piotr_person = contact(app, partner_co, "Piotr", "Nowak", "piotr@partner.example", "pl")
    anna = invite(app, anna_person, alfa, "client", "anna-password")
    bela = invite(app, bela_person, beta, "client", "bela-password")
    piotr = invite(app, piotr_person, partner_co, "partner", "piotr-password")
    shared_task = task(app, alfa, "Könyvelési anyag átadása", zone_may_complete=True)
    internal_task = task(app, alfa, "Belső egyeztetés")
    beta_task = task(app, beta, "Béta feladata")
    shared_offer, beta_offer = offer(app, alfa, "Alfa – CRM"), offer(app, beta, "Béta – CRM")
    with app.app_context():
        staff = user_id(app, "staff")
        zone.share("task", shared_task, anna, "performer", staff)
        zone.share("offer", shared_offer, anna, "watcher", staff)
        zone.share("task", beta_task, bela, "performer", staff)
        zone.share("offer", beta_offer, bela, "watcher", staff)
        with acting_as(staff):
            db.session.add_all(
                [
                    News(title="Ügyfélhír", body="Új nyitvatartás.", audience="client"),
                    News(title="Partnerhír", body="Nowe zasady.", audience="partner"),
                    News(title="Béta hír", body="Csak Bétának.", audience="one", partner_id=beta),
                ]
            )
    w = World(
        alfa=alfa,
        beta=beta,
        partner_co=partner_co,
        anna=anna,
        bela=bela,
        piotr=piotr,
        anna_person=anna_person,
        shared_task=shared_task,
        internal_task=internal_task,
        beta_task=beta_task,
        shared_offer=shared_offer,
        beta_offer=beta_offer,
        internal_comment=comment(app, "task", shared_task, body="Csak belső megjegyzés"),
        visible_comment=comment(
            app, "task", shared_task, visible=True, body="Kérjük a számlákat péntekig."
        ),
        visible_file=comment(app, "task", shared_task, "file", True, filename="lista.pdf"),
        internal_file=comment(app, "task", shared_task, "file", False, filename="belso.pdf"),
        beta_file=comment(app, "task", beta_task, "file", True, filename="beta.pdf"),
    )
    with app.app_context():
        db.session.execute(Outbox.__table__.delete())
        db.session.commit()
    return w


def zone_login(login, who: str):
    return login(
        f"{who}@" + {"anna": "alfa", "bela": "beta", "piotr": "partner"}[who] + ".example",
        f"{who}-password",
    )


def test_an_invitation_makes_a_zone_user_whose_link_works_once(app, login, mailbox):
    with app.app_context():
        company = f.company(name="Gamma Zrt.").id
    person = contact(app, company, "Gizella", "Gamma", "gizi@gamma.example")
    staff = login("staff")
    tab = staff.get(f"/partner/{company}/zone").get_data(as_text=True)
    assert "invite-to-zone" in tab and "Gizella Gamma" in tab
    assert (
        staff.post(f"/zone/invite/{company}", data={"person": person, "zone": "client"}).status_code
        == 302
    )
    with app.app_context():
        member = db.session.scalar(select(ZoneMember))
        assert (member.partner_id, member.person_id, member.zone) == (company, person, "client")
        assert [r.name for r in member.user.roles] == ["Client"]
        mail = db.session.scalar(select(Outbox).where(Outbox.recipient == "gizi@gamma.example"))
        assert mail.subject == "Hozzáférés: Ügyfélzóna"  # Gizella speaks Hungarian
    token = token_of(app, "gizi@gamma.example")
    visitor = login()
    assert visitor.get(f"/portal/welcome/{token}").status_code == 200
    weak = visitor.post(f"/portal/welcome/{token}", data={"password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "welcome-form" in weak.get_data(as_text=True)
    done = visitor.post(
        f"/portal/welcome/{token}",
        data={"password": "gizi-password-1", "confirm": "gizi-password-1"},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/portal/")
    assert visitor.get("/portal/").status_code == 200
    again = login().post(
        f"/portal/welcome/{token}",
        data={"password": "other-password-2", "confirm": "other-password-2"},
    )
    assert again.status_code == 404
    assert login("gizi@gamma.example", "gizi-password-1").get("/portal/").status_code == 200
    duplicate = staff.post(
        f"/zone/invite/{company}", data={"person": person, "zone": "client"}, follow_redirects=True
    )
    assert "already has access" in duplicate.get_data(as_text=True)


def test_an_invitation_link_expires(app, login, mailbox):
    with app.app_context():
        company = f.company(name="Delta Kft.").id
    person = contact(app, company, "Dénes", "Delta", "denes@delta.example")
    with app.test_request_context():
        zone.invite(person, company, "partner", None)
    token = token_of(app, "denes@delta.example")
    with freeze_time(utcnow() + timedelta(days=zone.INVITATION_DAYS, minutes=1)):
        assert login().get(f"/portal/welcome/{token}").status_code == 404


def test_a_zone_user_logging_in_lands_in_the_portal(app, world, login):
    client = login()
    response = client.post(
        "/login/",
        data={
            "username": "anna@alfa.example",
            "password": "anna-password",
            "csrf_token": client.csrf,
        },
        follow_redirects=True,
    )
    assert response.request.path == "/portal/"
    page = response.get_data(as_text=True)
    assert "Ügyfélzóna" in page  # in Anna's language
    assert "dropdown bell" not in page and 'href="/portal/"' in page
    assert 'href="/portal/"' not in login("admin").get("/").get_data(as_text=True)


def test_the_portal_shows_only_shared_records_and_what_is_visible_to_the_zone(app, world, login):
    anna = zone_login(login, "anna")
    home = anna.get("/portal/").get_data(as_text=True)
    assert "Könyvelési anyag átadása" in home and "Alfa – CRM" in home
    assert "Belső egyeztetés" not in home and "Béta" not in home
    assert "Ügyfélhír" in home and "Partnerhír" not in home and "Béta hír" not in home
    page = anna.get(f"/portal/task/{world.shared_task}").get_data(as_text=True)
    assert "Kérjük a számlákat péntekig." in page and "lista.pdf" in page
    assert "Csak belső megjegyzés" not in page and "belso.pdf" not in page
    download = anna.get(f"/portal/files/{world.visible_file}")
    assert download.data == PDF and "attachment" in download.headers["Content-Disposition"]
    piotr = zone_login(login, "piotr")
    assert "Partnerhír" in piotr.get("/portal/news/").get_data(as_text=True)
    assert "Ügyfélhír" not in piotr.get("/portal/news/").get_data(as_text=True)
    bela = zone_login(login, "bela")
    assert "Béta hír" in bela.get("/portal/").get_data(as_text=True)


def test_the_contact_book_lists_the_staff_sharing_tasks(app, world, login):
    with app.app_context():
        from app.services.users import profile

        profile(user_id(app, "staff")).phone = "+36 1 234 5678"
        db.session.commit()
    page = zone_login(login, "anna").get("/portal/contacts/").get_data(as_text=True)
    assert "staff@example.com" in page and "+36 1 234 5678" in page
    assert "manager@example.com" not in page  # the offer's owner shares no task
    assert "Nowak" not in zone_login(login, "bela").get("/portal/contacts/").get_data(as_text=True)


def test_the_calendar_shows_the_zone_users_tasks(app, world, login):
    with app.app_context():
        start = db.session.get(Task, world.shared_task).starts_at
    page = zone_login(login, "anna").get(f"/portal/calendar/{start.year}/{start.month}")
    text = page.get_data(as_text=True)
    assert "Könyvelési anyag átadása" in text and "Béta feladata" not in text


def test_a_zone_user_comments_and_uploads_and_staff_see_it_and_are_mailed(
    app, world, login, mailbox
):
    from tests.conftest import run_jobs

    anna = zone_login(login, "anna")
    assert (
        anna.post(
            f"/portal/task/{world.shared_task}/add", data={"body": "Feltöltöttem a listát."}
        ).status_code
        == 302
    )
    assert (
        anna.post(
            f"/portal/task/{world.shared_task}/add",
            data={"file": (io.BytesIO(PDF), "szamlak.pdf")},
            content_type="multipart/form-data",
        ).status_code
        == 302
    )
    assert (
        anna.post(
            f"/portal/task/{world.shared_task}/add",
            data={"url": "https://files.example/alfa", "body": "A többi itt."},
        ).status_code
        == 302
    )
    refused = anna.post(
        f"/portal/task/{world.shared_task}/add",
        data={"file": (io.BytesIO(b"MZ\x90\x00"), "virus.exe")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "virus.exe" in refused.get_data(as_text=True)
    with app.app_context():
        mine = db.session.scalars(
            select(Comment).where(Comment.author_id == world.anna).order_by(Comment.id)
        ).all()
        assert [c.kind for c in mine] == ["comment", "file", "link"]
        assert all(c.zone_visible for c in mine)
    staff_page = login("staff").get(f"/tasks/show/{world.shared_task}").get_data(as_text=True)
    assert "Feltöltöttem a listát." in staff_page and "szamlak.pdf" in staff_page
    assert "Anna Alfa" in staff_page and "zone-shares" in staff_page
    run_jobs(app)
    to_staff = mailbox.to("staff@example.com")
    assert len(to_staff) == 3 and "Feltöltöttem a listát." in to_staff[0].get_content()
    assert mailbox.to("anna@alfa.example") == []  # not about her own comments


def test_an_upload_too_large_is_refused_before_it_is_stored(app, world, login):
    app.config["MAX_CONTENT_LENGTH"], before = 2048, app.config["MAX_CONTENT_LENGTH"]
    try:
        response = zone_login(login, "anna").post(
            f"/portal/task/{world.shared_task}/add",
            data={"file": (io.BytesIO(b"%PDF" + b"x" * 4096), "big.pdf")},
            content_type="multipart/form-data",
        )
    finally:
        app.config["MAX_CONTENT_LENGTH"] = before
    assert response.status_code in (302, 413)
    with app.app_context():
        assert (
            db.session.scalar(select(func.count(Comment.id)).where(Comment.author_id == world.anna))
            == 0
        )


def test_staff_mark_what_the_zone_sees_and_zone_users_hear_of_it_in_their_language(
    app, world, login, mailbox
):
    from tests.conftest import run_jobs

    staff = login("staff")
    assert (
        staff.post(
            f"/zone/comments/{world.internal_comment}/visibility", data={"zone_visible": "y"}
        ).status_code
        == 302
    )
    page = zone_login(login, "anna").get(f"/portal/task/{world.shared_task}")
    assert "Csak belső megjegyzés" in page.get_data(as_text=True)
    staff.post(f"/zone/task/{world.shared_task}/comments", data={"body": "Belső: ne mutasd"})
    staff.post(
        f"/zone/task/{world.shared_task}/comments",
        data={"body": "Megkaptuk, köszönjük!", "zone_visible": "y"},
    )
    run_jobs(app)
    mails = mailbox.to("anna@alfa.example")
    assert len(mails) == 2 and all(m["Subject"].startswith("Újdonság") for m in mails)
    assert "Belső: ne mutasd" not in "".join(m.get_content() for m in mails)


def test_zone_users_hear_of_changes_and_can_turn_the_mails_off(app, world, login, mailbox):
    from tests.conftest import run_jobs

    with app.app_context(), acting_as(user_id(app, "staff")):
        db.session.get(Task, world.shared_task).due_at += timedelta(days=1)
    run_jobs(app)
    [mail] = mailbox.to("anna@alfa.example")
    assert mail["Subject"] == "Módosult: „Könyvelési anyag átadása”"
    anna = zone_login(login, "anna")
    assert (
        anna.post("/settings/", data={"locale": "hu", "timezone": "Europe/Budapest"}).status_code
        == 302
    )  # zone_mail unticked
    with app.app_context(), acting_as(user_id(app, "staff")):
        db.session.get(Task, world.shared_task).title = "Könyvelési anyag (új határidő)"
    run_jobs(app)
    assert len(mailbox.to("anna@alfa.example")) == 1


def test_a_performer_marks_a_task_done_only_where_staff_allow_it(app, world, login):
    anna = zone_login(login, "anna")
    assert anna.post(f"/portal/task/{world.shared_task}/done").status_code == 302
    with app.app_context():
        assert db.session.get(Task, world.shared_task).done
        task_ = db.session.get(Task, world.beta_task)
        task_.zone_may_complete = False
        db.session.commit()
    assert zone_login(login, "bela").post(f"/portal/task/{world.beta_task}/done").status_code == 403
    with app.app_context():
        assert not db.session.get(Task, world.beta_task).done


def test_a_zone_user_changes_no_task_or_offer_through_any_entry_point(app, world):
    from app.models import set_actor_roles_provider

    with app.app_context():
        set_actor_roles_provider(lambda: {"Client"})
        try:
            with pytest.raises(ZoneForbidden), acting_as(world.anna):
                db.session.get(Task, world.shared_task).title = "Átírva"
            with pytest.raises(ZoneForbidden), acting_as(world.anna):
                db.session.delete(db.session.get(Offer, world.shared_offer))
            with pytest.raises(ZoneForbidden), acting_as(world.anna):
                db.session.get(Comment, world.visible_comment).body = "Átírva"
        finally:
            from app import _request_user_roles

            set_actor_roles_provider(_request_user_roles)
        assert db.session.get(Task, world.shared_task).title == "Könyvelési anyag átadása"


def test_a_suspended_zone_user_cannot_log_in_and_gets_no_mail(app, world, login, mailbox):
    from tests.conftest import run_jobs

    anna = zone_login(login, "anna")
    staff = login("staff")
    assert staff.post(f"/zone/users/{world.anna}/suspend").status_code == 302
    assert anna.get("/portal/").status_code == 302  # the session is gone
    blocked = login()
    blocked.post(
        "/login/",
        data={
            "username": "anna@alfa.example",
            "password": "anna-password",
            "csrf_token": blocked.csrf,
        },
    )
    assert blocked.get("/portal/").status_code == 302
    staff.post(
        f"/zone/task/{world.shared_task}/comments", data={"body": "Látható", "zone_visible": "y"}
    )
    run_jobs(app)
    assert mailbox.to("anna@alfa.example") == []
    tab = staff.get(f"/partner/{world.alfa}/zone").get_data(as_text=True)
    assert "restore" in tab
    staff.post(f"/zone/users/{world.anna}/suspend", data={"restore": "1"})
    assert zone_login(login, "anna").get("/portal/").status_code == 200


def test_staff_share_only_with_zone_users_of_the_records_partner(app, world, login, mailbox):
    staff = login("staff")
    page = staff.get(f"/tasks/show/{world.internal_task}").get_data(as_text=True)
    assert "Anna Alfa" in page and "Béla Béta" not in page  # the share form's choices
    offer_page = staff.get(f"/offers/show/{world.shared_offer}").get_data(as_text=True)
    assert "zone-shares" in offer_page and "Anna Alfa" in offer_page
    refused = staff.post(
        f"/zone/task/{world.internal_task}/share",
        data={"user": world.bela, "role": "watcher"},
        follow_redirects=True,
    )
    assert "own partner" in refused.get_data(as_text=True)
    with app.app_context(), pytest.raises(InvalidValue):
        zone.share("offer", world.shared_offer, world.piotr, "watcher", None)
    assert (
        login("readonly")
        .post(
            f"/zone/task/{world.internal_task}/share", data={"user": world.anna, "role": "watcher"}
        )
        .status_code
        == 403
    )
    assert (
        staff.post(
            f"/zone/task/{world.internal_task}/share", data={"user": world.anna, "role": "watcher"}
        ).status_code
        == 302
    )
    assert "Belső egyeztetés" in zone_login(login, "anna").get("/portal/").get_data(as_text=True)
    from tests.conftest import run_jobs

    run_jobs(app)
    [mail] = mailbox.to("anna@alfa.example")
    assert mail["Subject"] == "Megosztva Önnel: „Belső egyeztetés”"
    assert "Megfigyelő" in mail.get_content()


def test_the_data_sheet_lists_zone_users_with_their_last_login(app, world, login):
    zone_login(login, "anna")
    tab = login("staff").get(f"/partner/{world.alfa}/zone").get_data(as_text=True)
    assert "anna@alfa.example" in tab
    assert re.search(r'class="last-login">\s*(?!Never)\S', tab)


def test_the_api_invites_a_contact_person_for_staff_only(app, api, world):
    with app.app_context():
        company = f.company(name="Epsilon Kft.").id
    person = contact(app, company, "Emese", "Epsilon", "emese@epsilon.example")
    payload = {"zone": "partner", "organization": company}
    assert (
        api("readonly").post(f"/api/v1/person/{person}/zone_invite", json=payload).status_code
        == 403
    )
    assert (
        api("staff")
        .post(
            f"/api/v1/person/{person}/zone_invite", json={"zone": "nope", "organization": company}
        )
        .status_code
        == 400
    )
    assert (
        api("staff")
        .post(
            f"/api/v1/person/{person}/zone_invite",
            json={"zone": "client", "organization": world.beta},
        )
        .status_code
        == 400
    )  # not a contact person there
    created = api("staff").post(f"/api/v1/person/{person}/zone_invite", json=payload)
    assert created.status_code == 201
    with app.app_context():
        member = db.session.get(ZoneMember, created.get_json()["id"])
        assert (member.zone, member.partner_id) == ("partner", company)
    assert (
        api("staff").post(f"/api/v1/person/{person}/zone_invite", json=payload).status_code == 409
    )
    assert api("anna@alfa.example", "anna-password").post(
        f"/api/v1/person/{person}/zone_invite", json=payload
    ).status_code in (401, 403)


# --- who may reach what ---------------------------------------------------------------------

OPEN_TO_EVERYONE = {
    "/",
    "/login/",
    "/logout/",
    "/forgot-password/",
    "/health",
    "/settings/",
    "/users/userinfo/",
    "/resetmypassword/form",
    "/userinfoeditview/form",
    "/swagger/v1",
    "/api/v1/_openapi",
    "/api/v1/security/login",
    "/api/v1/security/refresh",
    "/api/v1/openapi/v1/_openapi",
}


def staff_urls(app, world) -> list[str]:
    """Every staff page and API URL of the app, with ids of Béta's records filled in."""
    ids = {
        "pk": world.beta_task,
        "partner_id": world.beta,
        "invoice_id": 1,
        "task_id": world.beta_task,
        "record_id": world.beta_task,
        "user_id": world.bela,
        "comment_id": world.beta_file,
        "share_id": 1,
        "organization_id": world.beta,
        "run_id": 1,
        "position": 1,
        "id": 1,
        "year": 2026,
        "month": 11,
        "week": 47,
        "document_id": 1,
        "note_id": 1,
    }
    urls = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/static", "/appbuilder", "/portal")):
            continue
        values = {}
        for arg in rule.arguments:
            if arg in ids:
                values[arg] = ids[arg]
            elif arg == "record":
                values[arg] = "task"
            elif arg in ("key",):
                values[arg] = "notes"
            else:
                values = None
                break
        if values is None:
            continue
        with app.test_request_context():
            from flask import url_for

            try:
                url = url_for(rule.endpoint, **values)
            except Exception:
                continue
        if url not in OPEN_TO_EVERYONE and not url.startswith(
            ("/lang/", "/calendar/feed/", "/back")
        ):
            urls.add(url)
    return sorted(urls)


@pytest.mark.parametrize("who", ["anna", "bela", "piotr"])
def test_zone_users_reach_no_staff_screen_or_api_and_are_logged(
    app, world, login, api, who, caplog
):
    client = zone_login(login, who)
    urls = staff_urls(app, world)
    assert len(urls) > 60
    caplog.set_level(logging.WARNING, logger="dossier.zone")
    for url in urls:
        assert client.get(url).status_code in (403, 404), url
    for url in (
        "/people/add",
        "/tasks/delete/1",
        f"/task/{world.beta_task}/done",
        f"/zone/task/{world.shared_task}/comments",
        "/invoices/add",
    ):
        assert client.post(url, data={"title": "x"}).status_code in (403, 404), url
    rest = api(
        f"{who}@" + {"anna": "alfa", "bela": "beta", "piotr": "partner"}[who] + ".example",
        f"{who}-password",
    )
    for url in [u for u in urls if u.startswith("/api/")]:
        assert rest.get(url).status_code in (401, 403, 404), url
    assert rest.post("/api/v1/task/", json={"title": "x"}).status_code in (401, 403)
    assert sum("was refused" in r.getMessage() for r in caplog.records) >= len(urls)


def portal_matrix(world) -> list[tuple[str, str]]:
    """(URL, who may reach it) for every portal URL, with guessed ids of other partners."""
    return [
        ("/portal/", "anna bela piotr"),
        ("/portal/calendar/", "anna bela piotr"),
        ("/portal/contacts/", "anna bela piotr"),
        ("/portal/news/", "anna bela piotr"),
        (f"/portal/task/{world.shared_task}", "anna"),
        (f"/portal/task/{world.internal_task}", ""),
        (f"/portal/task/{world.beta_task}", "bela"),
        (f"/portal/offer/{world.shared_offer}", "anna"),
        (f"/portal/offer/{world.beta_offer}", "bela"),
        (f"/portal/invoice/{world.shared_task}", ""),
        (f"/portal/files/{world.visible_file}", "anna"),
        (f"/portal/files/{world.internal_file}", ""),
        (f"/portal/files/{world.beta_file}", "bela"),
        (f"/portal/files/{world.visible_comment}", ""),
    ]


def test_the_portal_permission_matrix(app, world, login):
    clients = {who: zone_login(login, who) for who in ("anna", "bela", "piotr")}
    clients["staff"], clients["admin"] = login("staff"), login("admin")
    for url, allowed in portal_matrix(world):
        for who, client in clients.items():
            status = client.get(url).status_code
            if who in allowed.split():
                assert status == 200, (url, who, status)
            else:
                assert status in (403, 404), (url, who, status)
    posts = [
        (f"/portal/task/{world.beta_task}/add", "bela"),
        (f"/portal/task/{world.internal_task}/add", ""),
        (f"/portal/offer/{world.beta_offer}/add", "bela"),
        (f"/portal/task/{world.beta_task}/done", "bela"),
    ]
    for url, _allowed in posts:
        for who in ("anna", "piotr", "staff"):
            status = clients[who].post(url, data={"body": "guess"}).status_code
            assert status in (403, 404), (url, who, status)
    anonymous = login()
    for url, _ in portal_matrix(world):
        assert anonymous.get(url).status_code == 302, url
    with app.app_context():
        assert db.session.scalar(select(func.count(Comment.id)).where(Comment.body == "guess")) == 0


def test_portal_pages_take_a_bounded_number_of_queries(app, world, login, queries):
    def counts():
        anna, staff = zone_login(login, "anna"), login("staff")
        pages = {
            "home": (anna, "/portal/"),
            "task": (anna, f"/portal/task/{world.shared_task}"),
            "calendar": (anna, "/portal/calendar/"),
            "contacts": (anna, "/portal/contacts/"),
            "staff task": (staff, f"/tasks/show/{world.shared_task}"),
        }
        result = {}
        for key, (client, url) in pages.items():
            client.get(url)
            with queries() as q:
                assert client.get(url).status_code == 200
            result[key] = q.count
        return result

    few = counts()
    for i in range(15):
        comment(app, "task", world.shared_task, visible=True, body=f"Megjegyzés {i}")
        shared = task(app, world.alfa, f"Feladat {i}")
        with app.app_context():
            zone.share("task", shared, world.anna, "watcher", None)
    many = counts()
    assert many == few, (few, many)
    assert max(many.values()) <= 16, many


def test_sending_the_invitation_again_makes_a_new_link_and_voids_the_old(app, world, login):
    with app.app_context():
        company = f.company(name="Zéta Kft.").id
    person = contact(app, company, "Zoltán", "Zéta", "zoltan@zeta.example")
    with app.test_request_context():
        uid = zone.invite(person, company, "client", None).id
    old = token_of(app, "zoltan@zeta.example")
    assert login("staff").post(f"/zone/users/{uid}/reinvite").status_code == 302
    new = token_of(app, "zoltan@zeta.example")
    assert new != old
    assert login().get(f"/portal/welcome/{old}").status_code == 404
    assert login().get(f"/portal/welcome/{new}").status_code == 200


def test_staff_publish_news_and_list_zone_users(app, world, login):
    staff = login("staff")
    missing = staff.post(
        "/news/add",
        data={"title": "Csak Alfának", "body": "Szia!", "audience": "one"},
        follow_redirects=True,
    )
    assert "Choose the partner the news is for." in missing.get_data(as_text=True)
    assert (
        staff.post(
            "/news/add",
            data={
                "title": "Csak Alfának",
                "body": "Szia!",
                "audience": "one",
                "partner": world.alfa,
            },
        ).status_code
        == 302
    )
    assert "Csak Alfának" in zone_login(login, "anna").get("/portal/news/").get_data(as_text=True)
    assert "Csak Alfának" not in zone_login(login, "bela").get("/portal/news/").get_data(
        as_text=True
    )
    assert (
        login("readonly")
        .post("/news/add", data={"title": "x", "body": "y", "audience": "client"})
        .status_code
        == 403
    )
    listing = staff.get("/zone-users/list/").get_data(as_text=True)
    assert "Alfa Kft." in listing and "Partner Sp. z o.o." in listing
