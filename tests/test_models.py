"""Rules that hold below every entry point: checked on the models, as a shell or job would."""

from datetime import date, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import delete, select, update

from app.errors import (
    BulkNoteChange,
    InvalidValue,
    NotAuthor,
    NoteLocked,
    PartnerHasFixedNotes,
    ReadOnlyField,
)
from app.extensions import db
from app.models import AuditLog, Note, Partner, Person, acting_user, utcnow
from app.services import acting_as
from tests import factories as f
from tests.conftest import user_id


def test_customer_numbers_are_generated_unique_and_never_reused(ctx):
    a, b = f.person(), f.company()
    assert a.customer_number != b.customer_number
    number = b.customer_number
    db.session.delete(b)
    db.session.commit()
    c = f.person()
    assert c.customer_number not in (a.customer_number, number)
    assert int(c.customer_number) > int(number)


def test_customer_number_cannot_be_changed(ctx):
    p = f.person()
    p.customer_number = "999999"
    with pytest.raises(ReadOnlyField):
        db.session.commit()


def test_bad_values_are_refused_before_anything_is_stored(ctx):
    with pytest.raises(InvalidValue):
        Person(first_name="A", last_name="B", email="not-an-email")
    with pytest.raises(InvalidValue):
        Person(first_name="A", last_name="B", phone="call me")
    with pytest.raises(InvalidValue):
        Person(first_name=" ", last_name="B")
    with pytest.raises(InvalidValue):
        Person(first_name="A", last_name="B", status="vip")
    with pytest.raises(InvalidValue):
        Person(first_name="A", last_name="B", birthday=date.today() + timedelta(days=1))
    assert db.session.scalar(select(Partner.id)) is None


def test_display_name_follows_the_name(ctx):
    p = f.person(first_name="Zsófia", last_name="Fűzfa", title="Dr.")
    assert p.display_name == "Dr. Zsófia Fűzfa"
    p.last_name = "Tóth"
    db.session.commit()
    assert p.display_name == "Dr. Zsófia Tóth"


def test_the_author_may_change_a_note_within_the_window(app, ctx):
    # From tomorrow: on PostgreSQL the database's own clock guards the lock too.
    author, written = user_id(app, "staff"), utcnow() + timedelta(days=1)
    with freeze_time(written):
        n = f.note(f.person(), author)
    with freeze_time(written + timedelta(minutes=29)), acting_as(author):
        n.body = "Corrected."
    assert db.session.get(Note, n.id).body == "Corrected."


def test_nobody_may_change_or_delete_a_note_after_the_window(app, ctx):
    author = user_id(app, "staff")
    with freeze_time("2026-03-01 10:00:00"):
        n = f.note(f.person(), author)
    with freeze_time("2026-03-01 10:30:00"):
        for actor in (author, user_id(app, "admin"), None):
            with pytest.raises(NoteLocked):
                with acting_as(actor):
                    db.session.get(Note, n.id).body = "Rewritten"
            with pytest.raises(NoteLocked):
                with acting_as(actor):
                    db.session.delete(db.session.get(Note, n.id))
    assert db.session.get(Note, n.id).body == "Called, will call back."


def test_another_user_may_not_change_a_fresh_note(app, ctx):
    n = f.note(f.person(), user_id(app, "staff"))
    with pytest.raises(NotAuthor):
        with acting_as(user_id(app, "manager")):
            n.body = "Mine now"


def test_bulk_changes_of_notes_are_refused(app, ctx):
    n = f.note(f.person(), user_id(app, "staff"))
    with pytest.raises(BulkNoteChange):
        db.session.execute(update(Note).values(body="x"))
    db.session.rollback()
    with pytest.raises(BulkNoteChange):
        db.session.execute(delete(Note).where(Note.id == n.id))


def test_the_lock_uses_the_configured_minutes(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "NOTE_EDIT_MINUTES", 5)
    with freeze_time("2026-03-01 10:00:00"):
        n = f.note(f.person(), None)
    with freeze_time("2026-03-01 10:06:00"):
        assert n.is_locked()
        with pytest.raises(NoteLocked):
            with acting_as(None):
                n.pinned = True


def test_a_partner_with_fixed_notes_cannot_be_deleted(ctx):
    with freeze_time("2026-03-01 10:00:00"):
        p = f.person()
        f.note(p)
    with freeze_time("2026-03-02 10:00:00"):
        db.session.delete(p)
        with pytest.raises(PartnerHasFixedNotes):
            db.session.commit()


def test_created_at_of_a_note_cannot_be_moved_to_reopen_it(ctx):
    with freeze_time("2026-03-01 10:00:00"):
        n = f.note(f.person())
    with freeze_time("2026-03-02 10:00:00"):
        n.created_at = datetime(2026, 3, 2, 10, 0)
        with pytest.raises(ReadOnlyField):
            db.session.commit()


def test_birthday_within_fourteen_days(ctx):
    p = f.person(birthday=date(1980, 3, 10))
    assert p.days_to_birthday(date(2026, 3, 1)) == 9
    assert p.days_to_birthday(date(2026, 3, 11)) == 364
    leap = f.person(birthday=date(1980, 2, 29))
    assert leap.days_to_birthday(date(2027, 2, 27)) == 2


def test_every_change_is_audited_with_who_what_and_old_and_new_values(app, ctx):
    staff = user_id(app, "staff")
    p = f.person(email="anna@example.com", actor=staff)
    with acting_as(staff):
        p.email = "anna.kovacs@example.com"
    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.partner_id == p.id).order_by(AuditLog.id)
    ).all()
    assert {r.action for r in rows} == {"create", "update"}
    change = [r for r in rows if r.action == "update"][0]
    assert (change.field, change.old_value, change.new_value, change.user_id) == (
        "email",
        "anna@example.com",
        "anna.kovacs@example.com",
        staff,
    )
    assert acting_user.get() is None


def test_an_address_change_is_audited_once_for_all_partners(ctx):
    a, b = f.person(), f.company()
    address = f.address(a)
    with acting_as(None):
        db.session.add(f.address(b, street="x")) if False else None
    from app.models import PartnerAddress

    with acting_as(None):
        db.session.add(PartnerAddress(partner=b, address=address, type="seat"))
    with acting_as(None):
        address.city = "Debrecen"
    assert a.main_address.city == b.main_address.city == "Debrecen"
    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.entity == "address", AuditLog.action == "update")
    ).all()
    assert [(r.field, r.new_value) for r in rows] == [("city", "Debrecen")]
