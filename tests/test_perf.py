"""Pages at the floor (issue 13): no page carries a list of every user, partner or code; the
menu and the search form are made once per language and set of rights; statements per page
stay few and do not grow with the data."""

import json
import re
from datetime import timedelta

from flask_appbuilder.models.sqla.filters import SQLAFilterConverter
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import Person, Task
from app.models.base import utcnow
from tests import factories as f
from tests.conftest import user_id

MAX_QUERIES = 10
MAX_TASKS_PAGE = 40 * 1024


def _many_users(app, n: int) -> None:
    with app.app_context():
        staff = app.appbuilder.sm.find_role("Staff")
        password = generate_password_hash("tmp-pw")
        db.session.add_all(
            User(
                first_name=f"Zeta{i:04d}",
                last_name="Sokadik",
                username=f"tmp-many-{i:04d}",
                email=f"tmp-many-{i:04d}@example.com",
                password=password,
                active=True,
                roles=[staff],
            )
            for i in range(n)
        )
        db.session.commit()


def _search_form(html: str) -> tuple[dict, dict]:
    """The form fields and the filter names FAB's search widget is given."""
    script = re.search(r"new AdminFilters\(\s*'#filter_form',\s*(.*?)\);", html, re.S).group(1)
    values = json.loads(f"[{script}]")
    return values[1], values[2]


def test_the_tasks_list_is_small_and_lists_no_user_with_a_thousand_users(app, login, queries):
    _many_users(app, 1000)
    client = login("staff")
    client.get("/tasks/list/")
    with queries() as q:
        response = client.get("/tasks/list/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert len(response.get_data()) < MAX_TASKS_PAGE, len(response.get_data())
    assert q.count <= MAX_QUERIES, q.statements
    assert "Zeta0500" not in html
    fields, _names = _search_form(html)
    assert 'data-pick-url="/pick/user/"' in fields["responsible"]
    assert "<option" not in fields["responsible"].replace('<option value=""></option>', "")


def test_no_list_search_form_offers_a_drop_down_of_every_record(app, login):
    with app.app_context():
        f.person(first_name="Ödön", owner_id=user_id(app, "manager"), codes=[f.code("VIP")])
        db.session.commit()
    client = login("admin")
    for url in (
        "/people/list/",
        "/companies/list/",
        "/contact-persons/list/",
        "/offers/list/",
        "/tasks/list/",
        "/addresses/list/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        fields, _names = _search_form(response.get_data(as_text=True))
        for column, markup in fields.items():
            options = re.findall(r"<option[^>]*value=\"(\d+)\"", markup)
            assert not options, (url, column, markup[:300])
    fields, names = _search_form(client.get("/people/list/").get_data(as_text=True))
    assert 'data-pick-url="/pick/user/"' in fields["owner"]
    assert 'data-pick-url="/pick/code/"' in fields["codes"]
    assert names["owner"] and names["codes"]


def test_a_relation_filter_shows_its_chosen_record_and_filters_the_list(app, login):
    manager = user_id(app, "manager")
    with app.app_context():
        f.person(first_name="Mine", last_name="Kept", owner_id=manager)
        f.person(first_name="Other", last_name="Gone", owner_id=user_id(app, "staff"))
        db.session.commit()
    client = login("staff")
    html = client.get(f"/people/list/?_flt_0_owner={manager}").get_data(as_text=True)
    assert "Mine Kept" in html and "Other Gone" not in html
    fields, _names = _search_form(html)
    assert re.search(
        rf'<option value="{manager}"[^>]*selected>Manager User</option>', fields["owner"]
    )
    # A value that is no id leaves the picker empty and the page whole.
    assert client.get("/people/list/?_flt_0_owner=abc").status_code in (200, 302)


def test_the_code_picker_finds_codes_by_name(app, login):
    from app.models import Code
    from app.services import acting_as

    with app.app_context(), acting_as(None):
        db.session.add(Code(name="Kiemelt partner", category="category"))
        db.session.commit()
    rows = login("staff").get("/pick/code/?q=kiemelt").get_json()
    assert [row["text"] for row in rows] == ["Kiemelt partner"]


def test_a_list_converts_no_filter_once_its_view_is_made(app, login, monkeypatch):
    calls = []
    convert = SQLAFilterConverter.convert
    monkeypatch.setattr(
        SQLAFilterConverter,
        "convert",
        lambda self, column: calls.append(column) or convert(self, column),
    )
    client = login("staff")
    for url in ("/people/list/", "/people/list/?_flt_0_display_name=ab", "/tasks/list/"):
        assert client.get(url).status_code == 200
    assert calls == []


def test_the_menu_follows_the_roles_rights_and_the_language(app, login):
    client = login("staff")
    assert 'href="/companies/list/"' in client.get("/people/list/").get_data(as_text=True)
    sm = app.appbuilder.sm
    with app.app_context():
        staff = sm.find_role("Staff")
        menu = sm.find_permission_view_menu("menu_access", "Companies")
        assert menu in staff.permissions
        sm.del_permission_role(staff, menu)
    try:
        html = client.get("/people/list/").get_data(as_text=True)
        assert 'href="/companies/list/"' not in html
    finally:
        with app.app_context():
            sm.add_permission_role(sm.find_role("Staff"), menu)
    html = client.get("/people/list/").get_data(as_text=True)
    assert 'href="/companies/list/"' in html
    client.lang("de")
    html = client.get("/people/list/").get_data(as_text=True)
    assert "Firmen" in html


def test_list_pages_use_few_queries_whatever_the_data_size(app, login, api, queries):
    def fill(n):
        with app.app_context():
            for i in range(n):
                f.person(first_name=f"Nagy{n}-{i}", owner_id=1)
                f.company(name=f"Tisza {n}-{i} Kft.", owner_id=1)
            db.session.commit()

    urls = [
        "/people/list/",
        "/people/list/?_flt_0_display_name=nagy",
        "/people/list/?_flt_2_display_name=Nagy",
        "/companies/list/",
        "/companies/list/?_flt_0_display_name=tisza",
        f"/people/list/?_flt_0_owner={user_id(app, 'admin')}",
    ]
    rest = ["/api/v1/person/", "/api/v1/organization/"]

    def count():
        client, token = login("staff"), api("staff")
        counts = {}
        for url in urls + rest:
            get = token.get if url in rest else client.get
            get(url)
            with queries() as q:
                assert get(url).status_code == 200, url
            counts[url] = q.count
        return counts

    fill(3)
    small = count()
    fill(40)
    big = count()
    for url in urls + rest:
        assert big[url] <= MAX_QUERIES, (url, big[url])
        assert big[url] == small[url], (url, small[url], big[url])


def test_the_rest_list_refuses_arguments_outside_its_schema(app, api):
    client = api("staff")
    response = client.get("/api/v1/person/?q=(page_size:'many')")
    assert response.status_code == 400
    assert "Not a valid rison schema" in response.get_json()["message"]
    assert client.get("/api/v1/person/?q=(page_size:2,page:0)").status_code == 200


def test_the_name_filter_looks_at_the_name_alone_folded(app, login):
    with app.app_context():
        f.person(first_name="Ágnes", last_name="Kovács", email="budapest.fan@example.com")
        f.person(first_name="Béla", last_name="Budai")
        db.session.commit()
    client = login("staff")

    def names(search):
        html = client.get(f"/people/list/?_flt_0_display_name={search}").get_data(as_text=True)
        return re.findall(r'class="sheet-link">([^<]+)<', html)

    assert names("kovacs") == ["Ágnes Kovács"]
    assert names("budapest") == []  # in the e-mail, not in the name
    assert names("bud") == ["Béla Budai"]
    with app.app_context():  # a new name is folded on flush, whatever changes it
        person = db.session.scalar(db.select(Person).where(Person.first_name == "Béla"))
        person.last_name = "Kovácsné"
        db.session.commit()
    assert names("kovacsne") == ["Béla Kovácsné"]


def test_a_filtered_list_of_many_matches_counts_by_estimate_on_postgresql(
    app, login, api, monkeypatch
):
    import pytest

    with app.app_context():
        if db.engine.name != "postgresql":
            pytest.skip("the planner's estimate exists on PostgreSQL only")
        for i in range(6):
            f.person(first_name=f"Becsült{i}")
        db.session.commit()
    client = login("staff")

    def record_count(url):
        html = client.get(url).get_data(as_text=True)
        return int(re.search(r"Record Count:</strong>\s*(\d+)", html).group(1))

    url = "/people/list/?_flt_0_display_name=becsult"
    assert record_count(url) == 6
    monkeypatch.setitem(app.config, "FILTERED_COUNT_LIMIT", 2)
    assert record_count(url) >= 3  # counted up to 3, then the planner's estimate
    rows = api("staff").get(
        "/api/v1/person/?q=(filters:!((col:display_name,opr:fct,value:becsult)))"
    )
    assert rows.status_code == 200 and len(rows.get_json()["result"]) == 6


def test_starts_with_on_a_name_is_folded_and_letter_for_letter_stays(app, login, api):
    with app.app_context():
        f.person(first_name="Ágnes", last_name="Szabó")
        f.person(first_name="Agata", last_name="Nowak")
        f.person(first_name="Béla", last_name="Agnes")
        db.session.commit()
    client = login("staff")
    html = client.get("/people/list/").get_data(as_text=True)
    _fields, names = _search_form(html)
    assert names["display_name"][:4] == [
        "Contains",
        "Contains, letter for letter",
        "Starts with",
        "Starts with, letter for letter",
    ]

    def found(url):
        page = client.get(url).get_data(as_text=True)
        return sorted(re.findall(r'class="sheet-link">([^<]+)<', page))

    assert found("/people/list/?_flt_2_display_name=agn") == ["Ágnes Szabó"]
    assert found("/people/list/?_flt_2_display_name=ag") == ["Agata Nowak", "Ágnes Szabó"]
    assert found("/people/list/?_flt_3_display_name=Ag") == ["Agata Nowak"]
    rest = api("staff").get("/api/v1/person/?q=(filters:!((col:display_name,opr:sw,value:Ag)))")
    assert [p["display_name"] for p in rest.get_json()["result"]] == ["Agata Nowak"]
    folded = api("staff").get("/api/v1/person/?q=(filters:!((col:display_name,opr:fsw,value:agn)))")
    assert [p["display_name"] for p in folded.get_json()["result"]] == ["Ágnes Szabó"]


def test_list_links_are_fabs_own(app, login):
    """The list's order, page and page size links are built from the list's path made once per
    request: the same URLs as FAB's filters give, whatever the request's arguments."""
    from flask import current_app, render_template_string
    from flask_appbuilder.filters import TemplateFilters

    fab = TemplateFilters.__new__(TemplateFilters)
    queries = [
        "",
        "?_oc_PersonView=email&_od_PersonView=asc",
        "?_oc_PersonView=email&_od_PersonView=desc&page_PersonView=3",
        "?_flt_0_display_name=Kov%C3%A1cs+%26+T%C3%A1rsa&psize_PersonView=50&x=a/b:c?d",
        "?_flt_0_display_name=&_flt_3_owner=2&_flt_3_owner=5",
    ]
    template = (
        "{{ 'email'|link_order('PersonView') }} {{ 3|link_page('PersonView') }} "
        "{{ 100|link_page_size('PersonView') }}"
    )
    with app.app_context():
        for query in queries:
            with current_app.test_request_context("/people/list/" + query):
                from flask import request

                request.url_rule = current_app.url_map._rules_by_endpoint["PersonView.list"][0]
                request.view_args = {}
                ours = render_template_string(template)
                theirs = " ".join(
                    str(x)
                    for x in (
                        fab.link_order_filter("email", "PersonView"),
                        fab.link_page_filter(3, "PersonView"),
                        fab.link_page_size_filter(100, "PersonView"),
                    )
                )
                assert ours == theirs.replace("&", "&amp;"), query
    with app.app_context():
        f.person(first_name="Links")
        db.session.commit()
    html = login("staff").get("/people/list/?_oc_PersonView=email&_od_PersonView=asc").text
    assert "href=/people/list/?_oc_PersonView=email&amp;_od_PersonView=desc" in html


def test_layout_urls_made_once_follow_the_script_root(app, login):
    """The layout's static files and argument-less links are built once per script root: an
    app served under a prefix gets its own, the root keeps its own."""
    client = login("staff")
    plain = client.get("/people/list/").text
    prefixed = client.get("/people/list/", environ_overrides={"SCRIPT_NAME": "/crm"}).text
    again = client.get("/people/list/").text
    for html, root in ((plain, ""), (prefixed, "/crm"), (again, "")):
        assert f'href="{root}/static/dossier/dossier.css"' in html
        assert f'href="{root}/static/appbuilder/css/bootstrap.min.css"' in html
        assert f'action="{root}/search/"' in html
        assert f'href="{root}/settings/"' in html


# -- the frame of every page: permissions and layout made once, a page's own bits per page --

STAFF_READS_PARTNERS = """
    SELECT pvr.id, pvr.permission_view_id, pvr.role_id FROM ab_permission_view_role pvr
    JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id
    JOIN ab_permission p ON p.id = pv.permission_id
    JOIN ab_view_menu v ON v.id = pv.view_menu_id
    JOIN ab_role r ON r.id = pvr.role_id
    WHERE r.name = 'Staff' AND p.name = 'can_read' AND v.name = 'Partner'
"""


def test_permissions_are_read_once_per_process_until_anything_changes_them(app, login, queries):
    """A role set's permissions are kept while the database's security token stays the same;
    a change made anywhere (here by another connection, in plain SQL, as another process or a
    DBA would) renews the token by trigger, and the next request sees it."""
    from sqlalchemy import create_engine, text

    client = login("staff")
    assert client.get("/people/list/").status_code == 200
    with queries() as q:
        assert client.get("/people/list/").status_code == 200
    assert not [s for s in q.statements if "ab_permission_view_role" in s], q.statements

    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    other = create_engine(url)
    try:
        with other.begin() as conn:
            taken = conn.execute(text(STAFF_READS_PARTNERS)).all()
            assert len(taken) == 1
            conn.execute(
                text("DELETE FROM ab_permission_view_role WHERE id = :i"), {"i": taken[0].id}
            )
        refused = client.get("/people/list/")
        assert refused.status_code in (302, 403), refused.status_code
    finally:
        with other.begin() as conn:
            for row in taken:
                conn.execute(
                    text(
                        "INSERT INTO ab_permission_view_role (id, permission_view_id, role_id) "
                        "VALUES (:i, :p, :r)"
                    ),
                    {"i": row.id, "p": row.permission_view_id, "r": row.role_id},
                )
        other.dispose()
    assert client.get("/people/list/").status_code == 200


def test_a_permission_given_on_the_roles_screen_shows_on_the_next_request(app, login):
    """The same through FAB's own security manager (what the roles screen calls)."""
    staff = login("staff")
    assert staff.get("/products/list/").status_code == 200
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Staff")
        view = sm.find_permission_view_menu("can_write", "Product")
        had = view in role.permissions
        if had:
            sm.del_permission_role(role, view)
    try:
        assert staff.get("/products/add").status_code in (302, 403)
        with app.app_context():
            sm = app.appbuilder.sm
            sm.add_permission_role(
                sm.find_role("Staff"), sm.find_permission_view_menu("can_write", "Product")
            )
        assert staff.get("/products/add").status_code == 200
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            role, view = sm.find_role("Staff"), sm.find_permission_view_menu("can_write", "Product")
            if not had and view in role.permissions:
                sm.del_permission_role(role, view)


def test_the_layout_is_made_once_but_each_page_keeps_its_own_bits(app, login):
    """The navbar, scripts and dialogs are saved per user and language; the nonce, the CSRF
    token, the bell and the search box's text are the page's own."""
    from datetime import timedelta

    from app.models import Task
    from app.models.base import utcnow

    staff = login("staff")
    first = staff.get("/people/list/").get_data(as_text=True)
    second = staff.get("/people/list/")
    html = second.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", second.headers["Content-Security-Policy"]).group(1)
    scripts = re.findall(r'<script src="[^"]+" nonce="([^"]*)"', html)
    assert len(scripts) >= 7 and set(scripts) == {nonce}
    assert nonce not in first
    token = re.search(r'class="navbar-logout".*?name="csrf_token" value="([^"]+)"', html, re.S)
    assert token and "\x00" not in html
    # The token of the saved navbar is a working one: logging out with it works.
    assert staff.http.post("/logout/", data={"csrf_token": token.group(1)}).status_code == 302

    staff = login("staff")
    assert "bell-count" not in staff.get("/people/list/").get_data(as_text=True)
    with app.app_context():
        me = user_id(app, "staff")
        start = utcnow() - timedelta(hours=2)
        task = Task(title="Call <Anna>", responsible_id=me, starts_at=start)
        task.due_at = start + timedelta(hours=1)
        db.session.add(task)
        db.session.commit()
    html = staff.get("/people/list/").get_data(as_text=True)
    assert 'bell-count" style="background:#d9534f">1</span>' in html
    assert "Call &lt;Anna&gt;" in html

    searched = staff.get("/search/?q=%22%3E%3Cb%3Ex").get_data(as_text=True)
    assert 'value="&#34;&gt;&lt;b&gt;x"' in searched
    assert 'id="navbar-search" maxlength="100"\n             value=""' in html

    with app.app_context():
        user = db.session.get(User, user_id(app, "staff"))
        old = user.first_name
        user.first_name = "Renamed"
        db.session.commit()
    try:
        assert 'navbar-user-name">Renamed ' in staff.get("/people/list/").get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.get(User, user_id(app, "staff")).first_name = old
            db.session.commit()

    staff.lang("hu")
    html = staff.get("/people/list/").get_data(as_text=True)
    assert "Mégse" in html and ">Cancel<" not in html


def test_a_tab_reads_its_page_and_count_in_one_statement_and_a_quiet_bell_asks_nothing(
    app, login, queries
):
    with app.app_context():
        partner = f.person()
        for i in range(30):
            f.note(partner, body=f"Note number {i}")
        db.session.commit()
        pid = partner.id
    staff = login("staff")
    staff.get(f"/partner/{pid}")
    with queries() as q:
        first = staff.get(f"/partner/{pid}").get_data(as_text=True)
    counted = [s for s in q.statements if "count(" in s.lower() and "FROM note" in s]
    assert len(counted) == 1 and "LIMIT" in counted[0], counted
    # Nobody's task is overdue: the user's own statement said so, the bell asks nothing.
    assert not [
        s for s in q.statements if s.startswith("SELECT task.id, task.title, task.due_at")
    ], q.statements
    assert "30 records" in first and "Page 1 of 2" in first
    second = staff.get(f"/partner/{pid}?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and second.count('class="list-group-item note"') == 5
    # A page past the end holds no row to carry the count: it is counted on its own.
    past = staff.get(f"/partner/{pid}?page=7").get_data(as_text=True)
    assert "Page 7 of 2" in past and "30 records" in past


def test_rest_select_joins_made_once_are_fabs_own(app):
    """The REST lists' joins and load options are worked out once per set of columns and
    applied again (DossierInterface.apply_inner_select_joins): the same SQL as FAB's, with the
    same aliases for ordering by a related column, on every call."""
    from flask_appbuilder.models.sqla.interface import SQLAInterface

    from app.models import Organization
    from app.views.base import datamodel

    column_sets = [
        ["id", "display_name", "owner.id", "owner.username"],
        ["customer_number", "owner.username", "email"],
        ["id", "display_name"],
    ]
    with app.app_context():
        for model in (Person, Organization):
            ours, fabs = datamodel(model), SQLAInterface(model, db.session)
            for columns in column_sets:
                for _ in range(2):  # made, then reused
                    mine, theirs = {}, {}
                    got = ours.apply_inner_select_joins(db.session.query(model), columns, mine)
                    want = fabs.apply_inner_select_joins(db.session.query(model), columns, theirs)
                    assert str(got.statement) == str(want.statement), columns
                    assert mine.keys() == theirs.keys()
                    if "owner" in mine:
                        ordered = ours.apply_order_by(got, "owner.username", "desc", mine)
                        expected = fabs.apply_order_by(want, "owner.username", "desc", theirs)
                        assert str(ordered.statement) == str(expected.statement)
        # A client chooses the columns: the sets kept stay bounded.
        from itertools import permutations

        from app.views.base import SELECT_JOINS_KEPT

        ours = datamodel(Person)
        for columns in permutations(["id", "display_name", "email", "owner.username"]):
            ours.apply_inner_select_joins(db.session.query(Person), list(columns), {})
        for columns in permutations(["id", "email", "phone", "status", "owner.id"]):
            ours.apply_inner_select_joins(db.session.query(Person), list(columns), {})
        assert len(ours.__dict__["_select_joins"]) <= SELECT_JOINS_KEPT


def _ended_with_commit(app, work) -> bool:
    """Runs `work` in an app context (as a request's code would) and tells whether the
    session's transaction then ended with COMMIT at the context's end."""
    from sqlalchemy import event

    committed = []
    with app.app_context():
        session = db.session()
        event.listen(session, "after_commit", lambda s: committed.append(True))
        work()
    return bool(committed)


def test_a_request_that_only_read_ends_with_commit_on_postgresql_and_writes_roll_back(app):
    """psycopg forgets its prepared statements on ROLLBACK: a transaction that only read
    ends with COMMIT on PostgreSQL. Anything that may have written still rolls back."""
    from sqlalchemy import select, text, update

    from app.models import Partner

    with app.app_context():
        postgresql = db.engine.name == "postgresql"
        pid = f.person(email="kept@example.com").id
        db.session.commit()

    def read():
        db.session.execute(select(Person.id)).all()

    def wrote():
        db.session.execute(update(Partner).where(Partner.id == pid).values(email="sql@x.hu"))

    def flushed():
        db.session.get(Person, pid).email = "flushed@example.com"
        db.session.flush()

    def pending():
        db.session.get(Person, pid).email = "pending@example.com"

    def raw_write():
        db.session.execute(text("UPDATE partner SET phone = '+3611' WHERE id = :p"), {"p": pid})

    assert _ended_with_commit(app, read) is postgresql
    if postgresql:  # the planner's estimate of a filtered count reads too
        assert _ended_with_commit(
            app, lambda: db.session.execute(text("EXPLAIN (FORMAT JSON) SELECT 1")).all()
        )
        explain_analyze = text("EXPLAIN (ANALYZE) UPDATE partner SET phone = '1' WHERE id = 0")
        assert not _ended_with_commit(app, lambda: db.session.execute(explain_analyze).all())

    def spoilt():  # a failed flush that nobody rolled back: the context still ends
        from sqlalchemy.exc import IntegrityError

        db.session.execute(select(Person.id)).all()
        taken = db.session.get(Person, pid).customer_number
        db.session.add(Person(first_name="Kettő", last_name="Szám", customer_number=taken))
        try:
            db.session.flush()
        except IntegrityError:
            pass

    for work in (wrote, flushed, pending, raw_write, spoilt):
        assert not _ended_with_commit(app, work), work.__name__
        # The next transaction on the same connection starts clean.
        assert _ended_with_commit(app, read) is postgresql
    with app.app_context():
        person = db.session.get(Person, pid)
        assert (person.email, person.phone) == ("kept@example.com", None)


def test_prepared_statements_outlive_a_request_on_postgresql(app, login):
    """A page's statements run again by the same connection are planned once: PostgreSQL
    keeps psycopg's prepared statements while read-only requests end with COMMIT."""
    import pytest
    from sqlalchemy import event

    with app.app_context():
        if db.engine.name != "postgresql":
            pytest.skip("prepared statements of psycopg on PostgreSQL")
        pid = f.person().id
        db.session.commit()
        engine = db.engine
    staff = login("staff")
    used = []

    def seen(conn, cursor, statement, *args):
        if "partner_code" in statement:
            used.append(conn.connection.dbapi_connection)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(8):
            assert staff.get(f"/partner/{pid}").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # The pool gives the connection used last (pool_use_lifo): the same one served every
    # page, and it holds the statement prepared, asked while it rests in the pool.
    last = used[-1]
    assert used == [last] * len(used)
    prepared = [row[0] for row in last.execute("SELECT statement FROM pg_prepared_statements")]
    last.rollback()
    assert any("FROM partner" in s and "partner_code" in s for s in prepared), prepared


def test_the_benchmarked_pages_send_exactly_their_statements(app, login, api, queries):
    """The pages of bench/bench_partners.py, statement by statement: the user (with the
    security token and whether a task is overdue), then the page's own. The role's permissions
    are the process's own, the bell asks nothing when nothing is overdue; PostgreSQL reads the
    planner's estimate of a large table before counting."""
    with app.app_context():
        postgresql = db.engine.name == "postgresql"
        person = f.person(first_name="Kovács")
        f.company(name="Tisza Kft.")
        f.note(person)
        db.session.commit()
        pid = person.id
    estimate = 1 if postgresql else 0
    expected = {
        "/people/list/": 3 + estimate,
        "/companies/list/": 3 + estimate,
        # The count, how many names hold the word further on (app/services/search.py,
        # many_inside: walked in name order or found through the trigram index; SQLite has
        # no trigram index and always walks), the page.
        "/people/list/?_flt_0_display_name=kov": 3 + estimate,
        # The partner (with whether it has pinned notes, active contracts, coming tasks to
        # read: it has none), its notes with their count.
        f"/partner/{pid}": 3,
        "/api/v1/person/": 4 + estimate,  # the public role's rights: read before the user
    }
    client, token = login("staff"), api("staff")
    sent = {}
    for url in expected:
        get = token.get if url.startswith("/api/") else client.get
        get(url)
        with queries() as q:
            assert get(url).status_code == 200, url
        sent[url] = q.count
    assert sent == expected


def test_a_filtered_count_on_the_partner_table_counts_its_own_kind_only(app, login, api):
    """A person's name filter is counted on the partner table alone (its conditions are all
    the partner's): companies of the same name stay out of the people's count."""
    with app.app_context():
        for i in range(3):
            f.person(first_name=f"Zsombor{i}", last_name="Egyforma")
        for i in range(4):
            f.company(name=f"Egyforma {i} Kft.")
        db.session.commit()
    client = login("staff")
    people = client.get("/people/list/?_flt_2_display_name=Egyforma").get_data(as_text=True)
    assert people.count('class="sheet-link"') == 0  # "starts with": the last name is second
    people = client.get("/people/list/?_flt_0_display_name=Egyforma").get_data(as_text=True)
    assert people.count('class="sheet-link"') == 3
    assert re.search(r"Record Count:</strong>\s*3\b", people)
    companies = client.get("/companies/list/?_flt_2_display_name=Egyforma").get_data(as_text=True)
    assert companies.count('class="sheet-link"') == 4
    # A condition on the person's own table keeps the join (no product of the two tables).
    rest = api("staff").get("/api/v1/person/?q=(filters:!((col:first_name,opr:ct,value:Zsombor)))")
    assert rest.get_json()["count"] == 3


NEW_NOTE = re.compile(
    r'<form method="post" action="([^"]*)" class="panel panel-default new-note".*?</form>', re.S
)
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def test_the_kept_new_note_form_gets_each_page_its_own_address_and_token(app, login):
    """The blank "new note" panel is rendered once per language (register_blank_forms): each
    sheet still gets its partner's address and its session's CSRF token, which works; another
    language gets its own panel; a refused note comes back with what was typed."""
    with app.app_context():
        ids = [f.person().id, f.person().id]
        db.session.commit()
    staff, manager = login("staff"), login("manager")
    tokens = {}
    for name, client in (("staff", staff), ("manager", manager)):
        for pid in ids:
            page = client.get(f"/partner/{pid}").get_data(as_text=True)
            form = NEW_NOTE.search(page)
            assert form and form.group(1) == f"/partner/{pid}/notes", page[-3000:]
            assert "__dossier_form" not in page
            tokens[name, pid] = TOKEN.search(form.group(0)).group(1)
    # A token is the session's secret signed with the time: compare the secrets.
    secret = {key: token.split(".")[0] for key, token in tokens.items()}
    assert secret["staff", ids[0]] == secret["staff", ids[1]] == staff.csrf.split(".")[0]
    assert secret["manager", ids[0]] == manager.csrf.split(".")[0] != secret["staff", ids[0]]
    sent = staff.http.post(
        f"/partner/{ids[1]}/notes",
        data={
            "kind": "note",
            "body": "Through the kept form",
            "csrf_token": tokens["staff", ids[1]],
        },
    )
    assert sent.status_code == 302
    staff.lang("de")
    german = NEW_NOTE.search(staff.get(f"/partner/{ids[0]}").get_data(as_text=True)).group(0)
    assert "Neue Notiz" in german and "In der Übersicht anpinnen" in german
    assert TOKEN.search(german).group(1).split(".")[0] == secret["staff", ids[0]]
    refused = staff.post(f"/partner/{ids[0]}/notes", data={"kind": "call", "body": ""})
    form = NEW_NOTE.search(refused.get_data(as_text=True)).group(0)
    assert refused.status_code == 400 and "has-error" in form
    assert re.search(r'<option selected value="call">|<option value="call" selected>', form)


def test_permission_answers_kept_for_a_request_follow_its_identity(app):
    """has_access answers each question once per request, for the identity that asked: a
    login within the request is asked again."""
    from flask_login import login_user

    sm = app.appbuilder.sm
    with app.test_request_context("/"):
        app.preprocess_request()
        assert not sm.has_access("can_read", "Partner")
        assert not sm.has_access("can_read", "Partner")  # kept
        login_user(sm.find_user(username="staff"))
        assert sm.has_access("can_read", "Partner")
        assert sm.has_access("can_read", "Partner") is True
        db.session.rollback()


def test_the_overview_reads_only_what_the_partner_has(app, login, queries):
    """The partner's statement says whether it has pinned notes, active contracts and
    coming tasks; the sheet reads only those it has, and shows them."""
    with app.app_context():
        bare, full = f.person(), f.person()
        f.note(full, body="Pinned for the overview", pinned=True)
        start = utcnow() + timedelta(days=2)
        db.session.add(
            Task(
                title="Call back soon",
                partner_id=full.id,
                responsible_id=user_id(app, "staff"),
                starts_at=start,
                due_at=start + timedelta(hours=1),
            )
        )
        db.session.commit()
        ids = bare.id, full.id
    staff = login("staff")
    counts, pages = [], []
    for pid in ids:
        staff.get(f"/partner/{pid}")
        with queries() as q:
            pages.append(staff.get(f"/partner/{pid}").get_data(as_text=True))
        counts.append(q.count)
    assert counts[1] == counts[0] + 2  # the pinned notes and the tasks
    assert "Nothing coming up." in pages[0]
    assert "Pinned for the overview" in pages[1] and "Call back soon" in pages[1]


def test_a_list_keeps_its_page_statement_and_pages_through_it(app, api, login):
    """An unsearched list keeps its page statement (DossierInterface._kept_page) and runs it
    with each page's place: every page, order and column set gives FAB's rows; a search is
    built as before."""
    with app.app_context():
        for i in range(12):
            f.person(first_name=f"Kept{i:02d}", last_name="Page")
        db.session.commit()
        expected = db.session.scalars(
            select(Person.customer_number).order_by(Person.customer_number.desc())
        ).all()
    client = api("staff")

    def page(number, columns="", extra=""):
        q = (
            f"(order_column:customer_number,order_direction:desc,page:{number},page_size:5"
            f"{columns}{extra})"
        )
        answer = client.get(f"/api/v1/person/?q={q}").get_json()
        return [row["customer_number"] for row in answer["result"]], answer

    found = []
    for number in range(3):
        rows, answer = page(number)
        assert answer["count"] == len(expected)
        found += rows
    assert found == expected
    narrow, answer = page(1, ",columns:!(customer_number,owner.username)")
    assert narrow == expected[5:10] and set(answer["result"][0]) == {"customer_number", "owner"}
    person_api = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "PersonApi")
    kept = dict(person_api.datamodel._kept_pages)
    assert kept  # the pages above ran a kept statement
    searched, _ = page(0, extra=",filters:!((col:first_name,opr:eq,value:Kept03))")
    assert len(searched) == 1
    assert person_api.datamodel._kept_pages == kept  # a search is built as before
    screen = login("staff").get("/people/list/?psize_PersonView=5&page_PersonView=1").text
    assert screen.count('class="sheet-link"') == 5
