"""Rules that hold through every path: the screens, the REST API and the models directly."""

import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import InvalidValue
from app.extensions import db
from app.models import Document, Task, utcnow
from app.services import acting_as
from app.services.documents import attach
from tests import factories as f
from tests.conftest import run_jobs, user_id
from tests.test_tasks import local

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def task_form(app, responsible, collaborators=(), title="Site survey"):
    start = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return {
        "title": title,
        "responsible": user_id(app, responsible),
        "collaborators": [user_id(app, c) for c in collaborators],
        "starts_at": local(start),
        "due_at": local(start + timedelta(hours=1)),
        "priority": "2",
        "save_anyway": "y",
    }


def bearer(app, username: str):
    """A test client and the JWT headers, for the API's multipart uploads."""
    http = app.test_client()
    token = http.post(
        "/api/v1/security/login",
        json={"username": username, "password": f"{username}-pw", "provider": "db"},
    ).get_json()["access_token"]
    return http, {"Authorization": f"Bearer {token}"}


def stored_files(app) -> set[str]:
    from pathlib import Path

    folder = Path(app.config["INSTANCE_DIR"]) / "documents"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


# --- 12: re-assigning a task mails the new people ------------------------------------------


def test_reassigning_a_task_on_its_screen_mails_the_new_responsible_and_collaborators(
    app, login, mailbox
):
    admin = login("admin")
    assert admin.post("/task/new", data=task_form(app, "staff")).status_code == 302
    with app.app_context():
        tid = db.session.scalar(select(Task.id))
    run_jobs(app)
    assert len(mailbox.to("staff@example.com")) == 1
    moved = admin.post(f"/task/{tid}/edit", data=task_form(app, "manager", ("finance",)))
    assert moved.status_code == 302
    run_jobs(app)
    assert [len(mailbox.to(f"{u}@example.com")) for u in ("staff", "manager", "finance")] == [
        1,
        1,
        1,
    ]
    assert "Site survey" in mailbox.to("manager@example.com")[0]["Subject"]
    assert "Manager User" in mailbox.to("finance@example.com")[0].get_content()
    # Saving again without a change mails nobody, and never the old responsible.
    assert (
        admin.post(f"/task/{tid}/edit", data=task_form(app, "manager", ("finance",))).status_code
        == 302
    )
    run_jobs(app)
    assert [len(mailbox.to(f"{u}@example.com")) for u in ("staff", "manager", "finance")] == [
        1,
        1,
        1,
    ]


def test_reassigning_a_task_through_the_api_mails_the_new_responsible(app, api, mailbox):
    start = utcnow() + timedelta(days=1)
    created = api("staff").post(
        "/api/v1/task/",
        json={
            "title": "API task",
            "responsible": user_id(app, "staff"),
            "starts_at": start.isoformat(),
            "due_at": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert created.status_code == 201, created.get_json()
    moved = api("staff").put(
        f"/api/v1/task/{created.get_json()['id']}", json={"responsible": user_id(app, "manager")}
    )
    assert moved.status_code == 200, moved.get_json()
    run_jobs(app)
    assert len(mailbox.to("manager@example.com")) == 1


# --- 13: zone users are never chosen as staff ----------------------------------------------


def test_a_zone_user_is_not_offered_nor_taken_as_responsible_on_the_task_screen(
    app, login, mailbox
):
    admin = login("admin")
    page = admin.get("/task/new").get_data(as_text=True)
    client_id = user_id(app, "client")
    assert f'value="{client_id}"' not in page
    refused = admin.post("/task/new", data=task_form(app, "client"))
    assert refused.status_code == 400
    refused = admin.post("/task/new", data=task_form(app, "staff", ("partner",)))
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Task.id)) is None


def test_a_zone_user_is_refused_as_responsible_or_collaborator_through_the_api(app, api, mailbox):
    start = utcnow() + timedelta(days=1)
    task = {
        "title": "Leak",
        "starts_at": start.isoformat(),
        "due_at": (start + timedelta(hours=1)).isoformat(),
    }
    staff = api("staff")
    answer = staff.post("/api/v1/task/", json={**task, "responsible": user_id(app, "client")})
    assert answer.status_code == 400
    assert "Client Zone or Partner Zone user" in answer.get_json()["message"]
    answer = staff.post(
        "/api/v1/task/",
        json={
            **task,
            "responsible": user_id(app, "staff"),
            "collaborators": [user_id(app, "partner")],
        },
    )
    assert answer.status_code == 400
    created = staff.post("/api/v1/task/", json={**task, "responsible": user_id(app, "staff")})
    tid = created.get_json()["id"]
    answer = staff.put(f"/api/v1/task/{tid}", json={"responsible": user_id(app, "client")})
    assert answer.status_code == 400
    with app.app_context():
        assert db.session.get(Task, tid).responsible_id == user_id(app, "staff")
        assert db.session.scalar(select(Task.id).where(Task.id != tid)) is None
    info = staff.get(
        "/api/v1/task/_info?q=(keys:!(add_columns),add_columns:("
        "responsible:(page_size:100),collaborators:(page_size:100)))"
    ).get_json()
    for field in info["add_columns"]:
        if field["name"] in ("responsible", "collaborators"):
            ids = {row["id"] for row in field["values"]}
            assert user_id(app, "staff") in ids and user_id(app, "client") not in ids


def test_the_model_refuses_a_zone_user_on_a_task_and_a_document(app, ctx):
    from flask_appbuilder.security.sqla.models import User

    start = utcnow() + timedelta(days=1)
    with pytest.raises(InvalidValue), acting_as(None):
        db.session.add(
            Task(title="x", responsible_id=user_id(app, "partner"), starts_at=start, due_at=start)
        )
    with acting_as(None):
        task = Task(title="x", responsible_id=user_id(app, "staff"), starts_at=start, due_at=start)
        db.session.add(task)
    with pytest.raises(InvalidValue), acting_as(None):
        task.collaborators = [db.session.get(User, user_id(app, "client"))]
    partner = f.company()
    db.session.commit()
    with pytest.raises(InvalidValue):
        attach(
            partner.id,
            user_id(app, "staff"),
            "a.pdf",
            io.BytesIO(PDF),
            visibility="users",
            user_ids=[user_id(app, "client")],
        )
    assert db.session.scalar(select(Document.id)) is None


def test_a_zone_user_is_not_offered_nor_taken_as_a_documents_user(app, login):
    with app.app_context():
        pid = f.company().id
    before = stored_files(app)
    staff = login("staff")
    page = staff.get(f"/partner/{pid}/documents").get_data(as_text=True)
    assert (
        f'value="{user_id(app, "client")}"'
        not in page.split('name="users"')[1].split("</select>")[0]
    )
    answer = staff.http.post(
        f"/documents/upload/{pid}",
        data={
            "csrf_token": staff.csrf,
            "visibility": "users",
            "users": [user_id(app, "client")],
            "file": (io.BytesIO(PDF), "secret.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code in (302, 400)
    with app.app_context():
        assert db.session.scalar(select(Document.id)) is None
    assert stored_files(app) == before


def test_a_zone_user_is_refused_as_a_documents_user_through_the_api(app, api):
    with app.app_context():
        pid = f.company().id
    http, headers = bearer(app, "staff")
    answer = http.post(
        "/api/v1/document/",
        headers=headers,
        content_type="multipart/form-data",
        data={
            "partner": str(pid),
            "visibility": "users",
            "users": [str(user_id(app, "client"))],
            "file": (io.BytesIO(PDF), "secret.pdf"),
        },
    )
    assert answer.status_code == 400
    assert "Client Zone or Partner Zone user" in answer.get_json()["message"]
    with app.app_context():
        assert db.session.scalar(select(Document.id)) is None


# --- 14: the History tab and the change log keep hidden documents hidden -------------------


def test_history_and_change_log_do_not_name_a_document_the_reader_may_not_see(app, login):
    with app.app_context():
        pid = f.company().id
        document = attach(
            pid,
            user_id(app, "admin"),
            "salaries-2026.pdf",
            io.BytesIO(PDF),
            visibility="uploader",
            description="Everyone's pay",
        )
        stored, did = document.stored_name, document.id
    secrets = ("salaries-2026", "Everyone&#39;s pay", stored)
    manager = login("manager")
    pages = [
        login("staff").get(f"/partner/{pid}/history"),
        manager.get(f"/partner/{pid}/history"),
        manager.get("/change-log/list/?psize_AuditLogView=100"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert not any(secret in page.get_data(as_text=True) for secret in secrets)
    admin = login("admin")
    for url in (f"/partner/{pid}/history", "/change-log/list/?psize_AuditLogView=100"):
        page = admin.get(url).get_data(as_text=True)
        assert "salaries-2026.pdf" in page and stored in page
    with app.app_context():
        from app.models import AuditLog

        entry = db.session.scalar(
            select(AuditLog.id).where(
                AuditLog.entity == "document",
                AuditLog.entity_id == did,
                AuditLog.field == "filename",
            )
        )
    assert "salaries-2026" in admin.get(f"/change-log/show/{entry}").get_data(as_text=True)
    assert "salaries-2026" not in manager.get(f"/change-log/show/{entry}").get_data(as_text=True)


# --- 15: a deleted record's files leave the disk after the commit --------------------------


def with_files(app, make_partner=f.company) -> dict:
    """A partner with a document, and a task and an offer of it with a zone comment file."""
    from app.models import Comment, Offer
    from app.services.documents import storage_dir

    with app.app_context():
        partner = make_partner()
        db.session.commit()
        document = attach(partner.id, user_id(app, "staff"), "plan.pdf", io.BytesIO(PDF))
        start = utcnow() + timedelta(days=1)
        with acting_as(None):
            task = Task(
                title="Survey",
                partner_id=partner.id,
                responsible_id=user_id(app, "staff"),
                starts_at=start,
                due_at=start,
            )
            offer = Offer(name="Roof", partner_id=partner.id)
            db.session.add_all([task, offer])
        names = {"document": document.stored_name}
        for record in (task, offer):
            name = uuid.uuid4().hex
            (storage_dir() / name).write_bytes(PDF)
            with acting_as(None):
                db.session.add(
                    Comment(
                        kind="file",
                        stored_name=name,
                        filename="photo.pdf",
                        content_type="application/pdf",
                        size=len(PDF),
                        **{f"{record.__tablename__}_id": record.id},
                    )
                )
            names[record.__tablename__] = name
        return {"partner": partner.id, "task": task.id, "files": names}


def test_deleting_a_partner_on_the_screen_removes_its_files(app, login):
    made = with_files(app)
    assert set(made["files"].values()) <= stored_files(app)
    assert login("manager").post(f"/companies/delete/{made['partner']}").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Document.id)) is None
    assert not set(made["files"].values()) & stored_files(app)


def test_deleting_a_partner_through_the_api_removes_its_files(app, api):
    made = with_files(app)
    answer = api("manager").delete(f"/api/v1/organization/{made['partner']}")
    assert answer.status_code == 200, answer.get_json()
    assert not set(made["files"].values()) & stored_files(app)


def test_deleting_a_task_removes_its_comment_files_and_a_rollback_keeps_them(app, login):
    made = with_files(app)
    with app.app_context():
        db.session.delete(db.session.get(Task, made["task"]))
        db.session.flush()
        db.session.rollback()
    assert made["files"]["task"] in stored_files(app)
    assert login("manager").post(f"/tasks/delete/{made['task']}").status_code == 302
    files = stored_files(app)
    assert made["files"]["task"] not in files
    assert {made["files"]["offer"], made["files"]["document"]} <= files


def test_the_sweep_removes_old_files_no_record_points_at(app):
    import os
    import time

    from app.services.documents import storage_dir

    made = with_files(app)
    with app.app_context():
        folder = storage_dir()
    old, fresh = folder / ("a" * 32), folder / ("b" * 32)
    for path in (old, fresh):
        path.write_bytes(PDF)
    hours_ago = time.time() - 7200
    for path in [old] + [folder / name for name in made["files"].values()]:
        os.utime(path, (hours_ago, hours_ago))
    result = app.test_cli_runner().invoke(args=["dossier", "sweep-files"])
    assert result.exit_code == 0 and "1 orphan files removed." in result.output
    files = stored_files(app)
    assert old.name not in files and fresh.name in files
    assert set(made["files"].values()) <= files
    fresh.unlink()


# --- 11: bulk and Core statements, the note lock in the database, partners' notes ----------


def offer_and_partner(app) -> tuple[int, int]:
    from app.models import Offer

    with app.app_context():
        partner = f.company()
        db.session.commit()
        with acting_as(None):
            offer = Offer(name="Roof", partner_id=partner.id)
            db.session.add(offer)
        with acting_as(None):
            offer.status = "won"
        return offer.id, partner.id


def test_bulk_and_core_statements_cannot_change_an_offers_status_or_a_customer_number(app, ctx):
    from sqlalchemy import delete, update

    from app.errors import BulkChange
    from app.models import Offer, Organization, Partner

    offer_id, partner_id = offer_and_partner(app)
    number = db.session.get(Partner, partner_id).customer_number
    refused = [
        lambda: db.session.execute(update(Offer).values(status="pending")),
        lambda: db.session.execute(update(Offer.__table__).values(status="pending")),
        lambda: db.session.execute(update(Offer), [{"id": offer_id, "status": "pending"}]),
        lambda: db.session.execute(update(Organization).values(customer_number="1")),
        lambda: db.session.execute(update(Partner.__table__).values(customer_number="1")),
        lambda: db.session.execute(delete(Partner).where(Partner.id == partner_id)),
        lambda: db.session.execute(delete(Organization.__table__)),
    ]
    for statement in refused:
        with pytest.raises(BulkChange):
            statement()
        db.session.rollback()
    db.session.execute(update(Offer).where(Offer.id == offer_id).values(chance=40))
    db.session.commit()
    offer, partner = db.session.get(Offer, offer_id), db.session.get(Partner, partner_id)
    assert (offer.status, offer.chance, partner.customer_number) == ("won", 40, number)


def test_core_statements_on_notes_through_the_session_are_refused(app, ctx):
    from sqlalchemy import delete, insert, update

    from app.errors import BulkNoteChange
    from app.models import Note

    note = f.note(f.person(), user_id(app, "staff"))
    table = Note.__table__
    for statement in (
        update(table).values(body="x"),
        delete(table).where(table.c.id == note.id),
        insert(table).values(
            partner_id=note.partner_id,
            body="x",
            kind="note",
            pinned=False,
            created_at=utcnow(),
            locked_after=utcnow() + timedelta(days=9),
            updated_at=utcnow(),
        ),
    ):
        with pytest.raises(BulkNoteChange):
            db.session.execute(statement)
        db.session.rollback()
    assert db.session.get(Note, note.id).body == "Called, will call back."


def test_the_legacy_bulk_methods_are_held_to_the_same_rules(app, ctx):
    from app.errors import BulkChange, BulkNoteChange
    from app.models import Note, Offer, Organization, Person

    offer_id, partner_id = offer_and_partner(app)
    note = f.note(f.person(), user_id(app, "staff"))
    db.session.commit()
    calls = [
        (
            BulkNoteChange,
            lambda: db.session.bulk_update_mappings(Note, [{"id": note.id, "body": "Rewritten"}]),
        ),
        (
            BulkNoteChange,
            lambda: db.session.bulk_insert_mappings(
                Note, [{"partner_id": partner_id, "body": "x"}]
            ),
        ),
        (
            BulkChange,
            lambda: db.session.bulk_update_mappings(Offer, [{"id": offer_id, "status": "pending"}]),
        ),
        (
            BulkChange,
            lambda: db.session.bulk_update_mappings(
                Organization, [{"id": partner_id, "customer_number": "1"}]
            ),
        ),
        (
            BulkChange,
            lambda: db.session.bulk_save_objects(
                [Person(first_name="Bulk", last_name="Made", customer_number="1")]
            ),
        ),
    ]
    for error, call in calls:
        with pytest.raises(error):
            call()
        db.session.rollback()
    changed = db.session.get(Offer, offer_id)
    changed.status = "lost"
    with pytest.raises(BulkChange):
        db.session.bulk_save_objects([changed])
    db.session.rollback()
    db.session.bulk_update_mappings(Offer, [{"id": offer_id, "chance": 10}])
    db.session.commit()
    db.session.expire_all()
    assert (db.session.get(Offer, offer_id).status, db.session.get(Note, note.id).body) == (
        "won",
        "Called, will call back.",
    )


def test_a_note_cannot_be_dated_in_the_future_to_put_off_its_lock(app, ctx, api):
    from app.errors import ReadOnlyField
    from app.models import Note

    person = f.person()
    with pytest.raises(InvalidValue):
        f.note(person, user_id(app, "staff"), created_at=utcnow() + timedelta(days=30))
    note = f.note(person, user_id(app, "staff"))
    assert note.locked_after == note.created_at + timedelta(minutes=app.config["NOTE_EDIT_MINUTES"])
    note.locked_after = utcnow() + timedelta(days=30)
    with pytest.raises(ReadOnlyField):
        db.session.commit()
    db.session.rollback()
    answer = api("staff").post(
        "/api/v1/note/",
        json={
            "partner": person.id,
            "body": "Later",
            "kind": "note",
            "created_at": (utcnow() + timedelta(days=30)).isoformat(),
        },
    )
    assert answer.status_code == 400
    assert db.session.scalar(select(Note.id).where(Note.body == "Later")) is None


@pytest.fixture
def fixed_note(app):
    """A note written two hours ago, through the model: fixed since."""
    from freezegun import freeze_time

    with app.app_context(), freeze_time(utcnow() - timedelta(hours=2)):
        person = f.person()
        note = f.note(person, user_id(app, "staff"), body="Promised a discount")
        return note.id, person.id


def pg_only(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the note lock's trigger is PostgreSQL's")


def test_the_database_refuses_changing_a_fixed_note_or_a_customer_number(app, fixed_note):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    pg_only(app)
    note_id, person_id = fixed_note
    statements = [
        ("UPDATE note SET body = 'Never promised' WHERE id = :id", note_id),
        ("UPDATE note SET locked_after = now() + interval '1 day' WHERE id = :id", note_id),
        ("DELETE FROM note WHERE id = :id", note_id),
        ("DELETE FROM partner WHERE id = :id", person_id),
    ]
    statements.append(("UPDATE partner SET customer_number = 'X1' WHERE id = :id", person_id))
    with app.app_context():
        for statement, key in statements:
            with (
                pytest.raises(IntegrityError, match="note_locked|partner_number_fixed"),
                db.engine.begin() as conn,
            ):
                conn.execute(text(statement), {"id": key})
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT body FROM note")).scalar() == "Promised a discount"


def test_the_database_lets_a_fresh_note_change_and_a_fixed_one_lose_its_author(app, fixed_note):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    pg_only(app)
    with app.app_context():
        fresh = f.note(f.person(), user_id(app, "staff")).id
        db.session.commit()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE note SET body = 'Fixed typo' WHERE id = :id"), {"id": fresh})
            conn.execute(
                text("UPDATE note SET author_id = NULL WHERE id = :id"), {"id": fixed_note[0]}
            )
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(
                text("UPDATE note SET created_at = created_at + interval '1 day' WHERE id = :id"),
                {"id": fresh},
            )


def test_deleting_a_partner_does_not_take_other_users_fresh_notes(app, login, api):
    from app.errors import PartnerHasOthersNotes
    from app.models import Note, Person

    with app.app_context():
        people = [f.person() for _ in range(4)]
        db.session.commit()
        for person in people:
            f.note(person, user_id(app, "staff"), body="Staff's note")
        ids = [p.id for p in people]
    refused = login("manager").post(f"/people/delete/{ids[0]}", follow_redirects=True)
    assert "notes written by other users" in refused.get_data(as_text=True)
    answer = api("manager").delete(f"/api/v1/person/{ids[1]}")
    assert answer.status_code == 409 and "other users" in answer.get_json()["message"]
    with app.app_context():
        with pytest.raises(PartnerHasOthersNotes), acting_as(user_id(app, "manager")):
            db.session.delete(db.session.get(Person, ids[2]))
        assert db.session.scalar(select(func.count(Note.id))) == 4
    # The author may delete the partner with their own fresh notes.
    assert login("staff").post(f"/people/delete/{ids[3]}").status_code == 302
    with app.app_context():
        assert db.session.get(Person, ids[3]) is None
        assert db.session.scalar(select(func.count(Note.id))) == 3


def test_deleting_a_record_keyed_by_a_user_is_not_mistaken_for_one_with_files(app, ctx):
    from app.models import UserProfile
    from app.services.users import profile

    profile(user_id(app, "staff"))
    db.session.commit()
    db.session.delete(db.session.get(UserProfile, user_id(app, "staff")))
    db.session.commit()
    assert db.session.get(UserProfile, user_id(app, "staff")) is None
