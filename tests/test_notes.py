"""The note log through the data sheet and the REST API; authors who leave."""

import re
from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import select, text

from app.extensions import db
from app.models import Note
from tests import factories as f
from tests.conftest import user_id

# Sessions and CSRF tokens are signed with the time: move the clock forward from now only.
T0 = (datetime.now(UTC) + timedelta(days=1)).replace(
    hour=9, minute=0, second=0, microsecond=0, tzinfo=None
)


def at(hour: int, minute: int) -> datetime:
    return T0 + timedelta(hours=hour - 9, minutes=minute)


def _person_id(app):
    with app.app_context():
        return f.person().id


def test_staff_writes_a_note_and_notes_are_newest_first(app, login):
    pid = _person_id(app)
    staff = login("staff")
    with freeze_time(at(9, 0)):
        assert (
            staff.post(
                f"/partner/{pid}/notes", data={"kind": "call", "body": "First call"}
            ).status_code
            == 302
        )
    with freeze_time(at(11, 0)):
        staff.post(
            f"/partner/{pid}/notes",
            data={"kind": "meeting", "body": "Then a meeting", "pinned": "y"},
        )
        page = staff.get(f"/partner/{pid}").get_data(as_text=True)
    assert page.index("Then a meeting") < page.index("First call")
    with app.app_context():
        notes = db.session.scalars(select(Note).order_by(Note.id)).all()
        assert [n.author_id for n in notes] == [user_id(app, "staff")] * 2
        assert notes[1].pinned


def test_an_empty_note_is_refused_with_a_message(app, login):
    pid = _person_id(app)
    response = login("staff").post(f"/partner/{pid}/notes", data={"kind": "note", "body": ""})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    # Beside the text field of the sheet's note form, not in a banner.
    group = re.search(
        r'<div class="form-group has-error">\s*<label[^>]*for="body".*?</div>', page, re.S
    )
    assert group and '<span class="help-block">' in group.group(0)
    assert "alert-danger" not in page
    with app.app_context():
        assert db.session.scalar(select(Note.id)) is None


def test_a_form_without_csrf_token_changes_nothing(app, login):
    pid = _person_id(app)
    response = login("staff").post(
        f"/partner/{pid}/notes", data={"kind": "note", "body": "x", "csrf_token": "forged"}
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Note.id)) is None


def test_author_edits_and_deletes_within_the_window(app, login):
    pid = _person_id(app)
    staff = login("staff")
    with freeze_time(at(9, 0)):
        staff.post(f"/partner/{pid}/notes", data={"kind": "call", "body": "Draft"})
        with app.app_context():
            nid = db.session.scalar(select(Note.id))
    with freeze_time(at(9, 20)):
        assert staff.get(f"/partner/{pid}/notes/{nid}/edit").status_code == 200
        staff.post(f"/partner/{pid}/notes/{nid}/edit", data={"kind": "call", "body": "Final"})
        with app.app_context():
            assert db.session.get(Note, nid).body == "Final"
        assert staff.post(f"/partner/{pid}/notes/{nid}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Note, nid) is None


def test_nobody_changes_a_locked_note_through_the_data_sheet(app, login):
    with app.app_context(), freeze_time(at(9, 0)):
        p = f.person()
        nid = f.note(p, user_id(app, "staff"), body="Promised a discount").id
        pid = p.id
    with freeze_time(at(9, 31)):
        for who in ("staff", "admin"):
            client = login(who)
            page = client.get(f"/partner/{pid}").get_data(as_text=True)
            assert f"/notes/{nid}/edit" not in page and "fa-lock" in page
            edit = client.post(
                f"/partner/{pid}/notes/{nid}/edit",
                data={"kind": "note", "body": "Never promised"},
                follow_redirects=True,
            )
            assert "can no longer be changed" in edit.get_data(as_text=True)
            client.post(f"/partner/{pid}/notes/{nid}/delete")
    with app.app_context():
        assert db.session.get(Note, nid).body == "Promised a discount"


def test_another_user_cannot_edit_a_fresh_note(app, login):
    with app.app_context():
        p = f.person()
        nid = f.note(p, user_id(app, "staff")).id
        pid = p.id
    response = login("manager").post(
        f"/partner/{pid}/notes/{nid}/edit",
        data={"kind": "note", "body": "Hijack"},
        follow_redirects=True,
    )
    assert "Only the author" in response.get_data(as_text=True)


def test_locked_note_answers_4xx_to_put_and_delete_through_the_api(app, api):
    with app.app_context(), freeze_time(at(9, 0)):
        nid = f.note(f.person(), user_id(app, "admin")).id
    with freeze_time(at(10, 0)):
        client = api("admin")
        put = client.put(f"/api/v1/note/{nid}", json={"body": "Rewritten"})
        assert put.status_code == 403 and "can no longer be changed" in put.get_json()["message"]
        assert client.delete(f"/api/v1/note/{nid}").status_code == 403
    with app.app_context():
        assert db.session.get(Note, nid).body == "Called, will call back."


def test_note_created_through_the_api_belongs_to_its_author_and_can_be_fixed(app, api):
    pid = _person_id(app)
    with freeze_time(at(9, 0)):
        client = api("staff")
        created = client.post(
            "/api/v1/note/", json={"partner": pid, "kind": "email", "body": "Sent the price list"}
        )
        assert created.status_code == 201, created.get_json()
        nid = created.get_json()["id"]
    with freeze_time(at(9, 10)):
        assert client.put(f"/api/v1/note/{nid}", json={"pinned": True}).status_code == 200
    with app.app_context():
        note = db.session.get(Note, nid)
        assert note.author_id == user_id(app, "staff") and note.pinned


def _tmp_user(app, name):
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.add_user(
            name, "Gábor", "Távozó", f"{name}@example.com", sm.find_role("Staff"), password="pw"
        )
        return user.id


def test_deleting_the_author_keeps_the_note_and_hides_the_author(app, login):
    uid = _tmp_user(app, "tmp-leaver")
    with app.app_context():
        p = f.person()
        nid = f.note(p, uid, body="Kept after leaving").id
        pid = p.id
    admin = login("admin")
    response = admin.post(f"/users/delete/{uid}")
    assert response.status_code == 302
    with app.app_context():
        assert app.appbuilder.sm.get_user_by_id(uid) is None
        assert db.session.get(Note, nid).author_id is None
    page = admin.get(f"/partner/{pid}").get_data(as_text=True)
    assert "Kept after leaving" in page and "Gábor Távozó" not in page


def test_deactivating_the_author_keeps_the_author_visible(app, login):
    uid = _tmp_user(app, "tmp-inactive")
    with app.app_context():
        p = f.person()
        f.note(p, uid, body="Still signed")
        pid = p.id
        db.session.execute(
            text("UPDATE ab_user SET active = :f WHERE id = :id"), {"f": False, "id": uid}
        )
        db.session.commit()
    page = login("admin").get(f"/partner/{pid}").get_data(as_text=True)
    assert "Still signed" in page and "Gábor Távozó" in page


def test_the_notes_tab_writes_each_note_with_its_links_escaped(app, login):
    """The notes are written in Python once per page (note_items): kind, time, author, the
    moment it happened, pinned, the author's edit link and delete form with its CSRF token
    while the note may change, the task link with the note's text; everything escaped."""
    with app.app_context(), freeze_time(at(9, 0)):
        p = f.person()
        note = f.note(p, user_id(app, "staff"), body='<script>x</script> & "quoted"')
        note.kind, note.pinned, note.occurred_at = "call", True, at(8, 15)
        db.session.commit()
        nid, pid = note.id, p.id
    with freeze_time(at(9, 10)):
        page = login("staff").get(f"/partner/{pid}").get_data(as_text=True)
    item = page.split(f'data-note="{nid}">')[1].split("</li>")[0]
    assert "<script>x</script>" not in item
    assert (
        '<div class="note-body">&lt;script&gt;x&lt;/script&gt; &amp; &#34;quoted&#34;</div>' in item
    )
    assert "<strong>Phone call</strong>" in item and 'class="note-author">Staff User</span>' in item
    assert "at " in item and "fa-thumb-tack" in item and "fa-lock" not in item
    assert f'href="/partner/{pid}/notes/{nid}/edit?next=' in item
    assert f'action="/partner/{pid}/notes/{nid}/delete"' in item
    assert 'name="csrf_token" value="' in item and 'data-confirm="Delete this note?"' in item
    task_link = re.search(r'href="([^"]*&amp;note=' + str(nid) + ')"', item).group(1)
    assert "title=" not in task_link
    with freeze_time(at(9, 10)):
        form = login("staff").get(task_link.replace("&amp;", "&")).get_data(as_text=True)
    # The task form takes its title from the note, escaped in the field.
    title = re.search(r'<input[^>]*name="title"[^>]*>', form).group(0)
    assert 'value="&lt;script&gt;x&lt;/script&gt; &amp; &#34;quoted&#34;"' in title
    with freeze_time(at(9, 40)):
        page = login("staff").get(f"/partner/{pid}").get_data(as_text=True)
    item = page.split(f'data-note="{nid}">')[1].split("</li>")[0]
    assert "fa-lock" in item and "/edit" not in item and "csrf_token" not in item
