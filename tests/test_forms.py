"""Forms that keep what was typed when a rule says no (the message beside its field, in the
user's language, nothing stored), forms that return where they were opened, and refusals that
say why — on FAB's generated forms and on Dossier's own."""

from __future__ import annotations

import html
import io
import logging
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Affiliation,
    Code,
    Contract,
    Invoice,
    Note,
    Offer,
    Organization,
    Person,
    UserProfile,
)
from app.services import invoicing
from tests import factories as f
from tests.conftest import user_id

ALERT_RE = re.compile(r'<div class="alert alert-danger">(.*?)</div>', re.S)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>|&times;", " ", fragment)).split())


def fab_field_errors(page: str, field: str) -> list[str]:
    """The errors FAB's form shows in one field's own table cell (after its input)."""
    cell = re.search(rf'<(?:input|select|textarea) [^>]*id="{field}".*?</td>', page, re.S)
    return [text_of(box) for box in ALERT_RE.findall(cell.group(0))] if cell else []


def own_field_errors(page: str, field: str) -> list[str]:
    """The errors Dossier's own forms show under one field (its form group)."""
    group = re.search(
        rf'<div class="[^"]*form-group[^"]*">\s*<label[^>]*for="{field}".*?</div>', page, re.S
    )
    if group is None:
        return []
    return [text_of(e) for e in re.findall(r'<span class="help-block">(.*?)</span>', group[0])]


def flashed(page: str) -> list[str]:
    """The messages above the page (flashed), not beside a field."""
    return [text_of(a) for a in ALERT_RE.findall(page)]


def value_of(page: str, field: str) -> str | None:
    tag = re.search(rf'<input [^>]*(?:id|name)="{field}"[^>]*>', page)
    found = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    return html.unescape(found.group(1)) if found else None


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def refusal_lines(caplog) -> list[logging.LogRecord]:
    """What a refusal wrote to the log: nothing with a traceback, nothing at ERROR."""
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


PERSON = {
    "first_name": "Zsófia",
    "last_name": "Fűzfa",
    "status": "active",
    "phone": "+36 1 234 5678",
    "description": "Met at the fair in Győr",
}


# --- forms keep their input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, message",
    [
        ("en", "nope@ is not a valid e-mail address."),
        ("de", "nope@ ist keine gültige E-Mail-Adresse."),
    ],
)
def test_a_bad_email_keeps_the_person_form_with_the_message_beside_the_field(
    app, login, caplog, lang, message
):
    staff = login("staff")
    staff.lang(lang)
    response = staff.post("/people/add", data={**PERSON, "email": "nope@"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert fab_field_errors(page, "email") == [message]
    assert value_of(page, "email") == "nope@"
    assert value_of(page, "first_name") == "Zsófia"
    assert value_of(page, "phone") == "+36 1 234 5678"
    assert "Met at the fair in Győr" in page
    with app.app_context():
        assert count(Person) == 0
    assert refusal_lines(caplog) == []


def test_a_refused_person_form_says_beside_the_picture_to_choose_it_again(app, login):
    from tests.test_partners import png_bytes

    staff = login("staff")
    staff.lang("hu")
    response = staff.post(
        "/people/add",
        data={**PERSON, "email": "nope@", "picture": (io.BytesIO(png_bytes()), "en.png")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert fab_field_errors(page, "picture") == [
        "A böngésző nem tudja megtartani a kiválasztott fájlt: válassza ki újra."
    ]
    assert value_of(page, "first_name") == "Zsófia"
    with app.app_context():
        assert count(Person) == 0


def test_a_model_rule_on_the_edit_form_keeps_the_input_and_the_stored_record(app, login):
    with app.app_context():
        person = f.person(first_name="Anna", email="anna@example.com")
        db.session.commit()
        pk = person.id
    staff = login("staff")
    future = (date.today() + timedelta(days=30)).isoformat()
    response = staff.post(
        f"/people/edit/{pk}",
        data={**PERSON, "email": "new@example.com", "birthday": future},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert fab_field_errors(page, "birthday") == ["A birthday cannot be in the future."]
    assert value_of(page, "first_name") == "Zsófia"
    assert value_of(page, "email") == "new@example.com"
    with app.app_context():
        stored = db.session.get(Person, pk)
        assert (stored.first_name, stored.email, stored.birthday) == (
            "Anna",
            "anna@example.com",
            None,
        )


def test_a_duplicate_tax_number_is_shown_beside_the_field_in_hungarian(app, login):
    with app.app_context():
        f.company(name="Duna Kft.", tax_number="12345678-2-41")
        db.session.commit()
    staff = login("staff")
    staff.lang("hu")
    response = staff.post(
        "/companies/add",
        data={"name": "Tisza Zrt.", "tax_number": "12345678-2-41", "status": "active"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert fab_field_errors(page, "tax_number") == ["Már létezik."]  # FAB's own check
    assert value_of(page, "name") == "Tisza Zrt."
    with app.app_context():
        assert count(Organization) == 1


def test_a_unique_constraint_of_the_database_is_shown_beside_its_field(app, login):
    # FAB's form checks single unique columns itself; a constraint over two columns is the
    # database's, answered at the flush.
    with app.app_context():
        f.code(name="south", category="category")
        db.session.commit()
    manager = login("manager")
    manager.lang("de")
    response = manager.post(
        "/codes/add",
        data={"category": "category", "name": "south", "description": "Southern partners"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert fab_field_errors(page, "name") == [
        "In dieser Kategorie gibt es bereits ein Schlagwort mit diesem Namen."
    ]
    assert "Southern partners" in page
    with app.app_context():
        assert count(Code) == 1


def test_a_refusal_without_a_field_is_shown_above_the_kept_form(app, login):
    with app.app_context():
        partner = f.person()
        db.session.flush()
        invoice = invoicing.create_draft(
            partner.id, None, [{"description": "Work", "quantity": 1, "unit_price": 10}]
        )
        invoicing.issue(invoice.id, None)
        pk, partner_id = invoice.id, partner.id
    finance = login("finance")
    response = finance.post(
        f"/invoices/edit/{pk}",
        data={"partner": str(partner_id), "currency": "EUR", "notes": "Changed after issue"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "cannot be changed; cancel it instead." in " ".join(
        text_of(a) for a in ALERT_RE.findall(page)
    )
    assert "Changed after issue" in page
    with app.app_context():
        assert db.session.get(Invoice, pk).notes is None


def db_value(app, model, pk, attribute):
    with app.app_context():
        return getattr(db.session.get(model, pk), attribute)


def test_the_contact_person_form_keeps_its_input_on_a_bad_email(app, login):
    with app.app_context():
        company = f.company()
        db.session.commit()
        pk = company.id
    staff = login("staff")
    staff.lang("de")
    response = staff.post(
        f"/partner/{pk}/contact-persons/add",
        data={"first_name": "Jan", "last_name": "Nowak", "email": "jan@", "role": "Buyer"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert own_field_errors(page, "email") == ["jan@ ist keine gültige E-Mail-Adresse."]
    assert flashed(page) == []  # beside the field only, not once more above the page
    assert value_of(page, "role") == "Buyer"
    assert value_of(page, "last_name") == "Nowak"
    with app.app_context():
        assert count(Person) == 0 and count(Affiliation) == 0


def test_my_settings_keep_their_input_on_a_bad_phone(app, login):
    staff = login("staff")
    response = staff.post(
        "/settings/",
        data={"locale": "de", "timezone": "Europe/Warsaw", "phone": "call me", "zone_mail": "y"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert own_field_errors(page, "phone") == ["call me is not a valid phone number."]
    assert value_of(page, "timezone") == "Europe/Warsaw"
    with app.app_context():
        stored = db.session.get(UserProfile, user_id(app, "staff"))
        assert stored is None or (stored.phone, stored.locale) != ("call me", "de")


def test_a_locked_note_keeps_the_edit_form_with_the_reason(app, login):
    staff_id = user_id(app, "staff")
    with app.app_context():
        partner = f.person()
        db.session.flush()
        with freeze_time(datetime.now(UTC) - timedelta(hours=2)):
            note = f.note(partner, author_id=staff_id, body="First call")
            db.session.commit()
        ids = partner.id, note.id
    staff = login("staff")
    response = staff.post(
        f"/partner/{ids[0]}/notes/{ids[1]}/edit", data={"kind": "call", "body": "Rewritten"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This note can no longer be changed or deleted" in page
    assert "Rewritten" in page
    with app.app_context():
        assert db.session.get(Note, ids[1]).body == "First call"


def test_a_portal_comment_with_a_bad_link_keeps_the_text(app, login, mailbox):
    from app.models import Outbox
    from app.services import zone

    staff_id = user_id(app, "staff")
    with app.app_context():
        company = f.company()
        contact = f.person(email="kinga@example.com")
        f.affiliation(contact, company, is_contact_person=True)
        db.session.add(Offer(name="Roof", partner=company, amount=10, currency="EUR"))
        db.session.commit()
        ids = company.id, contact.id, db.session.scalar(select(Offer.id))
    with app.test_request_context():
        member = zone.invite(ids[1], ids[0], "client", staff_id)
        member_id = member.id
    with app.app_context():
        body = db.session.scalar(select(Outbox.body).where(Outbox.recipient == "kinga@example.com"))
    token = re.search(r"/portal/welcome/(\S+)", body).group(1)
    with app.test_request_context():
        zone.accept(token, "kinga-password-1")
    with app.app_context():
        zone.share("offer", ids[2], member_id, "watcher", staff_id)
    client = login("kinga@example.com", "kinga-password-1")
    client.lang("pl")
    response = client.post(
        f"/portal/offer/{ids[2]}/add",
        data={
            "body": "Please look at this",
            "url": "ftp://example.com/plan.pdf",
            "file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "plan.pdf"),
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert own_field_errors(page, "url") == [
        "ftp://example.com/plan.pdf nie jest prawidłowym adresem internetowym."
    ]
    assert own_field_errors(page, "file") == [
        "Przeglądarka nie może zachować wybranego pliku: wybierz go ponownie."
    ]
    assert flashed(page) == []
    assert "Please look at this</textarea>" in page
    with app.app_context():
        assert zone.comments("offer", ids[2], zone_only=False) == []


# --- every form of the data sheet, the zone and finance keeps its input --------------------------


def company_id(app) -> int:
    with app.app_context():
        company = f.company(name="Duna Kft.")
        db.session.commit()
        return company.id


def test_a_note_of_the_sheet_keeps_its_text_on_a_bad_time_in_hungarian(app, login):
    pk = company_id(app)
    staff = login("staff")
    staff.lang("hu")
    response = staff.post(
        f"/partner/{pk}/notes",
        data={"kind": "call", "body": "Visszahívást kért", "occurred_at": "tegnap", "pinned": "y"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = own_field_errors(page, "occurred_at")
    assert len(errors) == 1 and errors[0].startswith("Érvénytelen dátum és időpont; például ")
    assert flashed(page) == []
    assert 'class="list-group notes"' in page  # the sheet's notes tab, not another page
    assert "Visszahívást kért</textarea>" in page
    assert value_of(page, "occurred_at") == "tegnap"
    assert re.search(r'<option selected value="call">|<option value="call" selected', page)
    assert re.search(r'<input[^>]*checked[^>]*id="pinned"|<input[^>]*id="pinned"[^>]*checked', page)
    with app.app_context():
        assert count(Note) == 0


def test_an_address_of_the_sheet_keeps_its_input_on_a_bad_latitude(app, login):
    from app.models import Address

    pk = company_id(app)
    staff = login("staff")
    staff.lang("de")
    response = staff.post(
        f"/partner/{pk}/addresses",
        data={
            "type": "billing",
            "street": "Hauptstraße 5",
            "postal_code": "1010",
            "city": "Wien",
            "country": "AT",
            "latitude": "95",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = own_field_errors(page, "latitude")
    assert len(errors) == 1 and "-90" in errors[0] and "90" in errors[0]
    assert errors[0] != "Number must be between -90 and 90."  # WTForms' own, in German
    assert flashed(page) == []
    assert value_of(page, "street") == "Hauptstraße 5"
    assert value_of(page, "city") == "Wien"
    assert value_of(page, "latitude") == "95"
    with app.app_context():
        assert count(Address) == 0


def upload_document(client, pk, name, content, **data):
    import io

    return client.post(
        f"/documents/upload/{pk}",
        data={"file": (io.BytesIO(content), name), **data},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize(
    "name, content, reasons",
    [
        (
            "tool.exe",
            b"MZ\x90\x00",
            [
                "Dateien dieses Typs können nicht angehängt werden: tool.exe",
                "Der Browser kann eine gewählte Datei nicht behalten: Bitte wählen Sie sie erneut.",
            ],
        ),
        ("", b"", ["Wählen Sie eine Datei zum Anhängen."]),
    ],
)
def test_a_refused_upload_keeps_the_description_and_says_to_choose_the_file_again(
    app, login, name, content, reasons
):
    from app.models import Document

    pk = company_id(app)
    staff = login("staff")
    staff.lang("de")
    response = upload_document(
        staff, pk, name, content, description="Rahmenvertrag 2026", visibility="uploader"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert own_field_errors(page, "file") == reasons
    assert flashed(page) == []
    assert 'id="attach-document"' in page  # the sheet's documents tab
    assert value_of(page, "description") == "Rahmenvertrag 2026"
    assert re.search(r'<option selected value="uploader">|<option value="uploader" selected', page)
    with app.app_context():
        assert count(Document) == 0


def issued_invoice(app, amount=100) -> tuple[int, int]:
    with app.app_context():
        partner = f.company(name="Tisza Zrt.")
        db.session.flush()
        invoice = invoicing.create_draft(
            partner.id, None, [{"description": "Work", "quantity": 1, "unit_price": amount}]
        )
        invoicing.issue(invoice.id, None)
        db.session.commit()
        return partner.id, invoice.id


@pytest.mark.parametrize(
    "lang, amount, message",
    [
        ("hu", "150", "A befizetés több, mint a még esedékes "),
        ("de", "zehn", None),  # WTForms' own message, in German
    ],
)
def test_a_refused_payment_keeps_the_date_and_the_reference(app, login, lang, amount, message):
    from app.models import Payment

    partner_id, invoice_id = issued_invoice(app)
    finance = login("finance")
    finance.lang(lang)
    paid_on = "2026. 11. 30." if lang == "hu" else "30.11.2026"
    response = finance.post(
        f"/invoices/{invoice_id}/payment",
        data={"amount": amount, "paid_on": paid_on, "reference": "Átutalás 42/2026"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = own_field_errors(page, f"amount-{invoice_id}")
    assert len(errors) == 1
    if message:
        assert errors[0].startswith(message)
    else:
        assert errors[0] and errors[0] != "Not a valid decimal value."
    assert flashed(page) == []
    assert 'class="table table-striped account-invoices"' in page  # the account tab
    assert value_of(page, f"amount-{invoice_id}") == amount
    assert value_of(page, f"paid_on-{invoice_id}") == paid_on
    assert value_of(page, f"reference-{invoice_id}") == "Átutalás 42/2026"
    with app.app_context():
        assert count(Payment) == 0
        assert db.session.get(Invoice, invoice_id).status == "issued"
    # The form that was not refused records the payment, back on the tab.
    saved = finance.post(
        f"/invoices/{invoice_id}/payment",
        data={"amount": "100", "paid_on": paid_on, "reference": "Átutalás 42/2026"},
        headers={"Referer": f"/partner/{partner_id}/account"},
    )
    assert saved.status_code == 302
    assert saved.headers["Location"] == f"/partner/{partner_id}/account"
    with app.app_context():
        assert db.session.scalar(select(Payment.reference)) == "Átutalás 42/2026"


def test_a_staff_comment_with_a_bad_link_keeps_the_text_on_the_task_page(app, login):
    from app.models import Comment, Task
    from app.services import acting_as

    with app.app_context(), acting_as(None):
        company = f.company()
        db.session.flush()
        start = datetime(2026, 12, 10, 9, 0)
        task = Task(
            title="Tetőfelmérés",
            partner_id=company.id,
            responsible_id=user_id(app, "staff"),
            starts_at=start,
            due_at=start + timedelta(hours=1),
        )
        offer = Offer(name="Tetőcsere", partner=company, amount=10, currency="EUR")
        db.session.add_all([task, offer])
        db.session.commit()
        task_id, offer_id = task.id, offer.id
    staff = login("staff")
    staff.lang("hu")
    response = staff.post(
        f"/zone/task/{task_id}/comments",
        data={
            "body": "Nézd meg a tervet",
            "url": "ftp://example.com/terv.pdf",
            "zone_visible": "y",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert own_field_errors(page, "url") == ["ftp://example.com/terv.pdf nem érvényes webcím."]
    assert flashed(page) == []
    assert "Tetőfelmérés" in page and "zone-panel" in page  # the task's own page
    assert "Nézd meg a tervet</textarea>" in page
    assert value_of(page, "url") == "ftp://example.com/terv.pdf"
    assert re.search(
        r'<input[^>]*checked[^>]*id="zone_visible"|id="zone_visible"[^>]*checked', page
    )
    with app.app_context():
        assert count(Comment) == 0
    empty = staff.post(f"/zone/task/{task_id}/comments", data={"body": "  "})
    assert empty.status_code == 400
    assert own_field_errors(empty.get_data(as_text=True), "body") == [
        "Írjon megjegyzést, adjon meg hivatkozást, vagy válasszon fájlt."
    ]
    on_offer = staff.post(
        f"/zone/offer/{offer_id}/comments", data={"body": "Ár?", "url": "nem-link"}
    )
    page = on_offer.get_data(as_text=True)
    assert on_offer.status_code == 400
    assert "Tetőcsere" in page and "zone-panel" in page  # the offer's own page
    assert own_field_errors(page, "url") == ["Érvénytelen URL."]  # WTForms' own, in Hungarian
    assert "Ár?</textarea>" in page
    with app.app_context():
        assert count(Comment) == 0


def test_a_refused_run_keeps_its_date_beside_the_reason(app, login):
    from app.models import InvoiceRun

    manager = login("finance")
    manager.lang("de")
    far = (date.today() + timedelta(days=800)).strftime("%d.%m.%Y")
    response = manager.post("/automatic-invoicing/start", data={"as_of": far})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = own_field_errors(page, "as_of")
    assert len(errors) == 1
    assert errors[0].startswith("Die automatische Rechnungsstellung reicht höchstens ein Jahr")
    assert flashed(page) == []
    assert value_of(page, "as_of") == far
    with app.app_context():
        assert count(InvoiceRun) == 0


def test_automatic_invoicing_settings_keep_their_input_in_polish(app, login):
    from app.models import RecurringInvoice

    partner_id, invoice_id = issued_invoice(app)
    finance = login("finance")
    finance.lang("pl")
    response = finance.post(
        f"/automatic-invoicing/partner/{partner_id}",
        data={
            "template": str(invoice_id),
            "frequency": "quarterly",
            "next_date": "01.02.2027",
            "delivery": "email",
            "active": "y",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert own_field_errors(page, "delivery") == [
        "Partner nie ma adresu e-mail: dodaj go lub wybierz doręczenie pocztą."
    ]
    assert flashed(page) == []
    assert value_of(page, "next_date") == "01.02.2027"
    assert re.search(
        r'<option selected value="quarterly">|<option value="quarterly" selected', page
    )
    with app.app_context():
        assert count(RecurringInvoice) == 0


def test_a_weak_password_on_the_invitation_says_to_type_it_again(app, login):
    from app.models import Outbox
    from app.services import zone

    staff_id = user_id(app, "staff")
    with app.app_context():
        company = f.company()
        contact = f.person(email="kinga@example.com")
        f.affiliation(contact, company, is_contact_person=True)
        db.session.commit()
        ids = company.id, contact.id
    with app.test_request_context():
        zone.invite(ids[1], ids[0], "client", staff_id)
    with app.app_context():
        body = db.session.scalar(select(Outbox.body).where(Outbox.recipient == "kinga@example.com"))
    token = re.search(r"/portal/welcome/(\S+)", body).group(1)
    visitor = login()
    visitor.lang("de")
    response = visitor.post(
        f"/portal/welcome/{token}", data={"password": "kurz", "confirm": "kurz"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = own_field_errors(page, "password")
    assert len(errors) >= 2
    assert errors[-1] == (
        "Der Browser kann ein eingegebenes Passwort nicht behalten: Bitte geben Sie es erneut ein."
    )
    assert flashed(page) == []
    assert 'value="kurz"' not in page
    with app.app_context():
        assert zone.invitation_user(token) is not None  # still to be accepted


# --- back where the form was opened -----------------------------------------------------------


def test_an_offer_from_the_offers_tab_returns_to_that_tab(app, login):
    with app.app_context():
        partner = f.company()
        db.session.commit()
        pk = partner.id
        cn = str(pk)  # the picker posts the id
    staff = login("staff")
    sheet = staff.get(f"/partner/{pk}/offers").get_data(as_text=True)
    link = html.unescape(re.search(r'href="(/offers/add[^"]*)"', sheet).group(1))
    assert f"next=/partner/{pk}/offers" in link.replace("%2F", "/")
    form = staff.get(link).get_data(as_text=True)
    assert re.search(rf'href="/partner/{pk}/offers"[^>]*class="[^"]*form-back', form)
    saved = staff.post(
        link,
        data={
            "name": "Website",
            "partner": cn,
            "amount": "1000",
            "currency": "EUR",
            "payment_frequency": "once",
        },
    )
    assert saved.status_code == 302
    assert saved.headers["Location"] == f"/partner/{pk}/offers"
    with app.app_context():
        offer = db.session.scalar(select(Offer))
        offer_id = offer.id
    sheet = staff.get(f"/partner/{pk}/offers?status=pending").get_data(as_text=True)
    edit = html.unescape(re.search(rf'href="(/offers/edit/{offer_id}[^"]*)"', sheet).group(1))
    changed = staff.post(
        edit,
        data={
            "name": "Website 2",
            "partner": cn,
            "amount": "1200",
            "currency": "EUR",
            "payment_frequency": "once",
            "status": "pending",
        },
    )
    assert changed.headers["Location"] == f"/partner/{pk}/offers?status=pending"


def test_a_contact_person_and_a_note_edit_return_to_the_tab_they_came_from(app, login):
    staff_id = user_id(app, "staff")
    with app.app_context():
        company = f.company()
        note = f.note(company, author_id=staff_id)
        db.session.commit()
        pk, note_id = company.id, note.id
    staff = login("staff")
    added = staff.post(
        f"/partner/{pk}/contact-persons/add?next=/partner/{pk}/notes",
        data={"first_name": "Jan", "last_name": "Nowak"},
    )
    assert added.headers["Location"] == f"/partner/{pk}/notes"
    edited = staff.post(
        f"/partner/{pk}/notes/{note_id}/edit?next=/partner/{pk}/notes?kind=call",
        data={"kind": "call", "body": "Called back"},
    )
    assert edited.headers["Location"] == f"/partner/{pk}/notes?kind=call"


def test_a_new_record_opens_its_own_page_and_a_new_invoice_its_draft(app, login):
    staff = login("staff")
    added = staff.post("/people/add", data=PERSON)
    with app.app_context():
        person_id = db.session.scalar(select(Person.id))
        partner = f.company()
        db.session.commit()
        pk = partner.id
        cn = str(pk)  # the picker posts the id
    assert added.headers["Location"] == f"/people/show/{person_id}"
    assert staff.get(added.headers["Location"]).headers["Location"] == f"/partner/{person_id}"
    finance = login("finance")
    draft = finance.post(
        f"/invoices/add?next=/partner/{pk}/account", data={"partner": cn, "currency": "EUR"}
    )
    with app.app_context():
        invoice_id = db.session.scalar(select(Invoice.id))
    assert draft.headers["Location"] == f"/invoices/show/{invoice_id}"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leads_to_another_site(app, login, target):
    with app.app_context():
        partner = f.company()
        db.session.commit()
        cn = str(partner.id)  # the picker posts the id
    staff = login("staff")
    form = staff.get("/offers/add", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in form and "javascript:" not in form
    saved = staff.post(
        "/offers/add",
        query_string={"next": target},
        data={
            "name": "Website",
            "partner": cn,
            "amount": "1",
            "currency": "EUR",
            "payment_frequency": "once",
        },
    )
    with app.app_context():
        offer_id = db.session.scalar(select(Offer.id))
    assert saved.headers["Location"] == f"/offers/show/{offer_id}"
    task = staff.post(
        "/task/new",
        query_string={"next": target},
        data={
            "title": "Call",
            "responsible": user_id(app, "staff"),
            "starts_at": "2026-03-02T10:00",
            "due_at": "2026-03-02T11:00",
            "priority": "2",
        },
    )
    assert task.headers["Location"] == "/tasks/list/"


# --- refusals explain themselves --------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, reason",
    [
        ("hu", "A partnerhez számlák vagy befizetések tartoznak, ezért nem törölhető."),
        ("de", "Dieser Kontakt hat Rechnungen oder Zahlungen und kann daher nicht gelöscht"),
    ],
)
def test_deleting_a_partner_with_invoices_says_why_in_the_users_language(
    app, login, caplog, lang, reason
):
    with app.app_context():
        partner = f.person()
        db.session.flush()
        invoicing.create_draft(partner.id, None, [{"description": "Work", "unit_price": 5}])
        pk = partner.id
    manager = login("manager")
    manager.lang(lang)
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = manager.post(f"/people/delete/{pk}", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert any(reason in text_of(a) for a in ALERT_RE.findall(page)), page
    assert (
        re.search(r'alert-(?:info|message)"[^>]*>\s*(?:<button[^>]*>.*?</button>)?\s*<', page)
        is None
    )
    with app.app_context():
        assert db.session.get(Person, pk) is not None
    assert refusal_lines(caplog) == []
    ours = [r for r in caplog.records if r.name == "dossier.refusals"]
    assert len(ours) == 1 and ours[0].levelno == logging.INFO


def test_deleting_a_partner_with_a_contract_or_fixed_notes_says_why(app, login):
    with app.app_context():
        with_contract = f.company()
        with freeze_time(datetime.now(UTC) - timedelta(hours=2)):
            with_notes = f.person()
            f.note(with_notes)
        db.session.flush()
        db.session.add(Contract(partner_id=with_contract.id, name="Plan", starts_on=date.today()))
        db.session.commit()
        ids = with_contract.id, with_notes.id
    manager = login("manager")
    contract = manager.post(f"/companies/delete/{ids[0]}", follow_redirects=True)
    assert "This partner has contracts, so it cannot be deleted." in contract.get_data(as_text=True)
    notes = manager.post(f"/people/delete/{ids[1]}", follow_redirects=True)
    assert "notes that can no longer be changed" in notes.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Organization, ids[0]) is not None
        assert count(Contract) == 1
        assert db.session.get(Person, ids[1]) is not None


def test_a_refused_delete_stays_on_the_list_it_came_from(app, login):
    with app.app_context():
        partner = f.company()
        db.session.flush()
        db.session.add(Contract(partner_id=partner.id, name="Plan", starts_on=date.today()))
        db.session.commit()
        pk = partner.id
    manager = login("manager")
    manager.get("/companies/list/")
    refused = manager.post(f"/companies/delete/{pk}")
    assert refused.headers["Location"].endswith("/companies/list/")


def test_deleting_an_issued_invoice_or_its_line_says_why(app, login, caplog):
    with app.app_context():
        partner = f.person()
        db.session.flush()
        invoice = invoicing.create_draft(
            partner.id, None, [{"description": "Work", "unit_price": 5}]
        )
        invoicing.issue(invoice.id, None)
        pk, line_id = invoice.id, invoice.lines[0].id
    finance = login("finance")
    for url in (f"/invoices/delete/{pk}", f"/invoice-lines/delete/{line_id}"):
        page = finance.post(url, follow_redirects=True).get_data(as_text=True)
        assert any(
            "cannot be changed; cancel it instead." in text_of(a) for a in ALERT_RE.findall(page)
        ), url
    with app.app_context():
        assert db.session.get(Invoice, pk) is not None
        assert len(db.session.get(Invoice, pk).lines) == 1
    assert refusal_lines(caplog) == []


def test_the_api_says_why_a_partner_is_not_deleted(app, api, caplog):
    with app.app_context():
        partner = f.person()
        db.session.flush()
        invoicing.create_draft(partner.id, None, [{"description": "Work", "unit_price": 5}])
        pk = partner.id
    manager = api("manager")
    response = manager.delete(f"/api/v1/person/{pk}?_l_=de")
    assert response.status_code == 409
    assert "Rechnungen oder Zahlungen" in response.get_json()["message"]
    with app.app_context():
        assert db.session.get(Person, pk) is not None
    assert refusal_lines(caplog) == []


def test_a_partner_without_ties_is_still_deleted(app, login):
    with app.app_context():
        partner = f.person()
        f.address(partner)
        db.session.commit()
        pk = partner.id
    manager = login("manager")
    deleted = manager.post(f"/people/delete/{pk}", follow_redirects=True)
    assert deleted.status_code == 200
    with app.app_context():
        assert db.session.get(Person, pk) is None
