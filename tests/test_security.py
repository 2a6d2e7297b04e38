"""Roles of SPEC 2: who may read and write what, on screens and the API."""

import pytest
from sqlalchemy import select

from app.cli import initialise
from app.extensions import db
from app.models import Note, Person
from app.security import ROLE_PERMISSIONS
from tests import factories as f

STAFF_SCREENS = [
    "/people/list/",
    "/companies/list/",
    "/contact-persons/list/",
    "/addresses/list/",
    "/codes/list/",
]


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
    assert (
        client.post(
            "/people/add", data={"first_name": "A", "last_name": "B", "status": "active"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/partner/{pid}/notes", data={"body": "x", "kind": "note"}).status_code == 403
    )
    page = client.get(f"/partner/{pid}").get_data(as_text=True)
    assert 'id="new-note"' not in page
    rest = api("readonly")
    assert rest.post("/api/v1/person/", json={"first_name": "A", "last_name": "B"}).status_code in (
        401,
        403,
    )
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


def route_permissions(app) -> dict[str, tuple[frozenset, str | None, str | None]]:
    """Every route: its methods, the permission it requires and on which resource (None, None:
    a route without FAB's permission check)."""
    views = {type(view).__name__: view for view in app.appbuilder.baseviews}
    routes = {}
    for rule in app.url_map.iter_rules():
        class_name, _, method = rule.endpoint.partition(".")
        view = views.get(class_name)
        function = getattr(view, method, None) if view is not None else None
        methods = frozenset(rule.methods - {"HEAD", "OPTIONS"})
        if method == "action_post" and view is not None:
            if not view.actions:
                continue  # a list without actions: the route has nothing to run
            # FAB checks the permission of the chosen action; the weakest one counts.
            permissions = {view.get_action_permission_name(name) for name in view.actions}
            weakest = (permissions - {"can_write"} or permissions).pop()
            routes[rule.endpoint] = (methods, weakest, view.class_permission_name)
        elif function is None or not hasattr(function, "_permission_name"):
            routes[rule.endpoint] = (methods, None, None)
        else:
            routes[rule.endpoint] = (
                methods,
                "can_" + view.get_method_permission(method),
                view.class_permission_name,
            )
    return routes


# POST-only routes that are not writes of a resource: signing in and out, the zone user's
# own portal (guarded by the zone rules), the user's own account.
NOT_RESOURCE_WRITES = (
    "AuthDBView.",
    "DossierAuthDBView.",
    "PortalView.",
    "SecurityApi.",
    "ResetMyPasswordView.",
    "ResetPasswordView.",
    "UserInfoEditView.",
    # FAB's own security screens (Admin only): copy a role, reset a password
    "RoleModelView.",
    "UserDBModelView.",
    # a new link to the user's own calendar feed, for whoever reads it
    "CalendarView.renew_feed",
    # a PDF to download; saving it as a document asks can_write Document
    "DocumentView.generate",
)


def test_every_post_only_route_requires_a_write_permission(app):
    routes = route_permissions(app)
    reads = sorted(
        endpoint
        for endpoint, (methods, permission, _) in routes.items()
        if methods == {"POST"}
        and permission != "can_write"
        and not endpoint.startswith(NOT_RESOURCE_WRITES)
    )
    assert reads == []


def test_the_sheet_s_write_routes_name_their_resource(app):
    routes = route_permissions(app)
    for endpoint, resource in [
        ("NoteView.add_note", "Note"),
        ("NoteView.edit_note", "Note"),
        ("NoteView.remove_note", "Note"),
        ("ContactPersonFormView.new_contact_person", "Affiliation"),
        ("AddressFormView.new_address", "Address"),
        ("ZoneStaffView.share", "Partner"),
        ("ZoneStaffView.comment", "Partner"),
    ]:
        assert routes[endpoint][1:] == ("can_write", resource), endpoint


def test_a_read_only_user_cannot_add_a_contact_person_or_an_address(app, login):
    with app.app_context():
        cid = f.company().id
    client = login("readonly")
    assert client.get(f"/partner/{cid}/contact-persons/add").status_code == 403
    assert (
        client.post(
            f"/partner/{cid}/addresses",
            data={"type": "seat", "street": "Fő utca 1", "city": "Győr"},
        ).status_code
        == 403
    )
