"""Roles of SPEC 2: who may read and write what, on screens and the API."""

import pytest
from sqlalchemy import select

from app.cli import initialise
from app.extensions import db
from app.models import Note, Person
from app.security import ROLE_PERMISSIONS
from tests import factories as f

STAFF_SCREENS = ["/people/list/", "/companies/list/", "/contact-persons/list/",
                 "/addresses/list/", "/codes/list/"]


def test_init_is_idempotent_and_seeds_every_role(app):
    with app.app_context():
        initialise()
        initialise()
        sm = app.appbuilder.sm
        for role in list(ROLE_PERMISSIONS) + ["Admin"]:
            assert sm.find_role(role) is not None
        staff = {(p.permission.name, p.view_menu.name) for p in sm.find_role("Staff").permissions}
        assert ("can_write", "Note") in staff and ("can_write", "Code") not in staff


@pytest.mark.parametrize("username", ["staff", "manager", "readonly", "finance", "admin"])
def test_staff_roles_read_the_partner_screens(app, login, username):
    client = login(username)
    with app.app_context():
        pid = f.person().id
    for url in STAFF_SCREENS + [f"/partner/{pid}"]:
        assert client.get(url).status_code == 200, (username, url)


def test_read_only_user_cannot_write(app, login, api):
    with app.app_context():
        pid = f.person().id
    client = login("readonly")
    assert client.get("/people/add").status_code == 403
    assert client.post("/people/add", data={"first_name": "A", "last_name": "B",
                                            "status": "active"}).status_code == 403
    assert client.post(f"/partner/{pid}/notes", data={"body": "x", "kind": "note"}
                       ).status_code == 403
    page = client.get(f"/partner/{pid}").get_data(as_text=True)
    assert 'id="new-note"' not in page
    rest = api("readonly")
    assert rest.post("/api/v1/person/", json={"first_name": "A", "last_name": "B"}
                     ).status_code in (401, 403)
    assert rest.get("/api/v1/person/").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Note.id)) is None
        assert len(db.session.scalars(select(Person)).all()) == 1


@pytest.mark.parametrize("username", ["client", "partner"])
def test_zone_users_cannot_reach_staff_screens_or_the_api(app, login, api, username):
    with app.app_context():
        pid = f.person().id
    client = login(username)
    for url in STAFF_SCREENS + [f"/partner/{pid}", "/users/list/", "/change-log/list/"]:
        assert client.get(url).status_code in (403, 404), url
    rest = api(username)
    for url in ("/api/v1/person/", "/api/v1/note/", f"/api/v1/person/{pid}"):
        assert rest.get(url).status_code in (401, 403, 404), url


def test_anonymous_users_are_sent_to_login(app, login):
    with app.app_context():
        pid = f.person().id
    response = login().get(f"/partner/{pid}")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_change_log_is_for_managers_and_admins(app, login):
    assert login("manager").get("/change-log/list/").status_code == 200
    assert login("staff").get("/change-log/list/").status_code == 403


def test_permission_checks_are_cached_per_request(app, login, queries):
    client = login("staff")
    client.get("/people/list/")
    with queries() as q:
        client.get("/people/list/")
    permission_queries = [s for s in q.statements if "ab_permission_view_role" in s]
    assert len(permission_queries) <= 1
