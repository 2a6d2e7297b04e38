"""People, companies, contact persons and central addresses through the generated screens."""

import io
import re

from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.models import Affiliation, Organization, Person
from tests import factories as f

ALERT_RE = re.compile(r'<div class="alert alert-danger">(.*?)</div>', re.S)


def alerts(page: str) -> list[str]:
    """The texts of the page's red boxes: flashed errors and the errors under form fields."""
    return [
        " ".join(re.sub(r"<[^>]+>|&times;", " ", box).split()) for box in ALERT_RE.findall(page)
    ]


def field_errors(page: str, field: str) -> list[str]:
    """The errors FAB's form shows under one field (in the field's own table cell)."""
    cell = re.search(rf'<td>\s*<input [^>]*id="{field}".*?</td>', page, re.S)
    return alerts(cell.group(0)) if cell else []


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_staff_adds_a_person_with_picture_and_opens_the_data_sheet(app, login):
    staff = login("staff")
    response = staff.post(
        "/people/add",
        data={
            "first_name": "Zsófia",
            "last_name": "Fűzfa",
            "status": "active",
            "email": "zsofia@example.com",
            "phone": "+36 1 234 5678",
            "birthday": "1985-04-02",
            "payment_method": "transfer",
            "bank_account": "HU42 1177 3016 1111 1018 0000 0000",
            "picture": (io.BytesIO(png_bytes()), "me.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        person = db.session.scalar(select(Person).where(Person.last_name == "Fűzfa"))
        assert person.customer_number and person.picture
        pid = person.id
    listing = staff.get("/people/list/").get_data(as_text=True)
    assert f'href="/partner/{pid}"' in listing
    sheet = staff.get(f"/partner/{pid}").get_data(as_text=True)
    assert "Zsófia Fűzfa" in sheet and "sheet-picture" in sheet
    picture = staff.get(f"/partner/picture/{person.picture}")
    assert picture.status_code == 200 and picture.data.startswith(b"\x89PNG")


def test_bad_input_on_the_person_form_gets_a_message_and_changes_nothing(app, login):
    staff = login("staff")
    with app.app_context():
        people = db.session.scalar(select(func.count(Person.id)))
    person = {"first_name": "A", "last_name": "B", "status": "active"}
    response = staff.post("/people/add", data={**person, "first_name": ""}, follow_redirects=True)
    assert field_errors(response.get_data(as_text=True), "first_name") == [
        "This field is required."
    ]
    for data, message in [
        ({**person, "email": "nope"}, "nope is not a valid e-mail address."),
        ({**person, "phone": "abc"}, "abc is not a valid phone number."),
    ]:
        response = staff.post("/people/add", data=data, follow_redirects=True)
        assert response.status_code == 400
        assert message in alerts(response.get_data(as_text=True)), data
    with app.app_context():
        assert db.session.scalar(select(func.count(Person.id))) == people
    not_an_image = staff.post(
        "/people/add",
        data={
            "first_name": "A",
            "last_name": "B",
            "status": "active",
            "picture": (io.BytesIO(b"%PDF-1.4 not an image"), "me.png"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "This file is not an image." in not_an_image.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Person.id)) is None


def test_a_second_company_with_the_same_tax_number_is_refused(app, login):
    staff = login("staff")
    for _ in range(2):
        response = staff.post(
            "/companies/add",
            data={"name": "Duna Kft.", "tax_number": "12345678-2-41", "status": "active"},
            follow_redirects=True,
        )
    assert response.status_code == 400
    with app.app_context():
        assert len(db.session.scalars(select(Organization)).all()) == 1


def test_contact_persons_row_action_and_add_contact_person(app, login):
    with app.app_context():
        company = f.company(name="Wisła Transport Sp. z o.o.")
        cid = company.id
    staff = login("staff")
    listing = staff.get("/companies/list/").get_data(as_text=True)
    assert f'href="/partner/{cid}/people"' in listing
    tab = staff.get(f"/partner/{cid}/people").get_data(as_text=True)
    assert f"/partner/{cid}/contact-persons/add" in tab
    form = staff.get(f"/partner/{cid}/contact-persons/add")
    assert form.status_code == 200
    response = staff.post(
        f"/partner/{cid}/contact-persons/add",
        data={
            "first_name": "Łukasz",
            "last_name": "Nowak",
            "email": "lukasz@example.com",
            "role": "prezes zarządu",
            "is_contact_person": "y",
            "may_collect_mail": "y",
            "additional_info": "Odbiera pocztę we wtorki.",
        },
    )
    assert response.status_code == 302
    tab = staff.get(f"/partner/{cid}/people?flag=may_collect_mail").get_data(as_text=True)
    assert "Łukasz Nowak" in tab and "Odbiera pocztę we wtorki." in tab
    assert "Łukasz Nowak" not in staff.get(f"/partner/{cid}/people?flag=may_represent").get_data(
        as_text=True
    )


def test_a_person_belongs_to_several_companies_with_own_details(app, login):
    with app.app_context():
        p = f.person(first_name="Jürgen", last_name="Müller")
        a, b = f.company(name="Rhein GmbH"), f.company(name="Spree AG")
        f.affiliation(p, a, role="Geschäftsführer", email="j@rhein.example")
        f.affiliation(p, b, role="Beirat", phone="+49 30 1234567")
        pid = p.id
    page = login("staff").get(f"/partner/{pid}/organizations").get_data(as_text=True)
    assert "Rhein GmbH" in page and "Spree AG" in page and "j@rhein.example" in page


def test_who_may_collect_mail_for_a_company_in_one_list_filter(app, login):
    with app.app_context():
        company, other = f.company(name="Bałtyk S.A."), f.company(name="Other")
        yes, no = f.person(last_name="Mailright"), f.person(last_name="Nomail")
        f.affiliation(yes, company, may_collect_mail=True)
        f.affiliation(no, company, may_collect_mail=False)
        f.affiliation(no, other, may_collect_mail=True)
        cid = company.id
    page = (
        login("staff")
        .get(f"/contact-persons/list/?_flt_0_organization={cid}&_flt_0_may_collect_mail=y")
        .get_data(as_text=True)
    )
    table = page.split('<table class="table table-bordered table-hover">')[1].split("</table>")[0]
    assert "Mailright" in table and "Nomail" not in table
    with app.app_context():
        allowed = db.session.scalars(
            select(Affiliation).where(
                Affiliation.organization_id == cid, Affiliation.may_collect_mail.is_(True)
            )
        ).all()
        assert [a.person.last_name for a in allowed] == ["Mailright"]


def test_editing_a_central_address_once_changes_it_for_every_partner(app, login):
    with app.app_context():
        a, b = f.person(), f.company()
        address = f.address(a, street="Andrássy út 1", latitude=47.5, longitude=19.05)
        from app.models import PartnerAddress
        from app.services import acting_as

        with acting_as(None):
            db.session.add(PartnerAddress(partner=b, address=address, type="seat"))
        ids = a.id, b.id, address.id
    staff = login("staff")
    response = staff.post(
        f"/addresses/edit/{ids[2]}",
        data={
            "street": "Andrássy út 2",
            "city": "Budapest",
            "postal_code": "1061",
            "country": "HU",
            "latitude": "47.51",
            "longitude": "19.06",
        },
    )
    assert response.status_code == 302
    for pid in ids[:2]:
        assert "Andrássy út 2" in staff.get(f"/partner/{pid}").get_data(as_text=True)
    history = staff.get(f"/partner/{ids[0]}/history").get_data(as_text=True)
    assert "Andrássy út 2" in history


def test_the_map_shows_only_with_coordinates_and_a_tile_url(app, login, monkeypatch):
    with app.app_context():
        with_coords, without = f.person(), f.person()
        f.address(with_coords, latitude=47.49, longitude=19.04)
        f.address(without)
        ids = with_coords.id, without.id
    staff = login("staff")
    assert 'id="sheet-map"' in staff.get(f"/partner/{ids[0]}").get_data(as_text=True)
    assert "leaflet/leaflet.js" in staff.get(f"/partner/{ids[0]}").get_data(as_text=True)
    assert 'id="sheet-map"' not in staff.get(f"/partner/{ids[1]}").get_data(as_text=True)
    monkeypatch.setitem(app.config, "MAP_TILE_URL", "")
    page = staff.get(f"/partner/{ids[0]}")
    assert page.status_code == 200 and 'id="sheet-map"' not in page.get_data(as_text=True)


def test_data_sheet_shows_key_information_birthday_and_pinned_notes(app, login):
    from datetime import date, timedelta

    with app.app_context():
        soon = date.today() + timedelta(days=5)
        p = f.person(birthday=soon.replace(year=1980), first_name="Réka")
        f.address(p, type="billing", street="Hatvan utca 3", city="Debrecen")
        f.note(p, body="Always call after 10.", pinned=True)
        pid, number = p.id, p.customer_number
    page = login("staff").get(f"/partner/{pid}").get_data(as_text=True)
    assert number in page and "Hatvan utca 3" in page
    assert "Birthday in 5 days" in page
    assert "Always call after 10." in page.split('class="panel panel-default overview"')[1]


def test_a_company_sheet_has_people_and_a_person_sheet_has_organizations(app, login):
    with app.app_context():
        p, c = f.person(), f.company()
        ids = p.id, c.id
    staff = login("staff")
    person_page = staff.get(f"/partner/{ids[0]}").get_data(as_text=True)
    company_page = staff.get(f"/partner/{ids[1]}").get_data(as_text=True)
    assert 'data-tab="organizations"' in person_page and 'data-tab="people"' not in person_page
    assert 'data-tab="people"' in company_page and 'data-tab="organizations"' not in company_page
    for key in ("notes", "addresses", "history"):
        assert f'data-tab="{key}"' in person_page
    assert staff.get(f"/partner/{ids[0]}/people").status_code == 404
    assert staff.get("/partner/999999").status_code == 404


def test_an_oversized_picture_is_refused(app, login, monkeypatch):
    monkeypatch.setitem(app.config, "PICTURE_MAX_MB", 0)
    response = login("staff").post(
        "/people/add",
        data={
            "first_name": "A",
            "last_name": "B",
            "status": "active",
            "picture": (io.BytesIO(png_bytes()), "big.png"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "The picture is larger than 0 MB." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Person.id)) is None


def test_history_tab_names_the_user_the_field_and_both_values(app, login):
    with app.app_context():
        p = f.person(email="old@example.com")
        pid = p.id
    staff = login("staff")
    response = staff.post(
        f"/people/edit/{pid}",
        data={
            "first_name": "Anna",
            "last_name": "Kovács",
            "status": "inactive",
            "email": "new@example.com",
        },
    )
    assert response.status_code == 302
    staff.lang("hu")
    history = staff.get(f"/partner/{pid}/history").get_data(as_text=True)
    table = history.split('class="table table-condensed history"')[1]
    row = [r for r in table.split("<tr>") if "new@example.com" in r][0]
    for expected in ("old@example.com", "Staff User", "Módosítva", "E-mail", "Személy"):
        assert expected in row, expected


def test_coordinates_are_checked_and_shown_in_the_users_number_format(app, login):
    with app.app_context():
        address = f.address(f.person(), latitude=47.4979, longitude=19.0402)
        aid = address.id
    staff = login("staff")
    bad = staff.post(
        f"/addresses/edit/{aid}",
        data={"street": "Váci utca 1", "city": "Budapest", "latitude": "200", "longitude": "19"},
        follow_redirects=True,
    )
    assert "200" in bad.get_data(as_text=True)
    with app.app_context():
        from app.models import Address

        assert db.session.get(Address, aid).latitude == 47.4979
    staff.lang("hu")
    assert "47,4979" in staff.get("/addresses/list/").get_data(as_text=True)


def test_a_partner_with_fixed_notes_is_not_deleted_from_the_screen(app, login):
    from datetime import UTC, datetime, timedelta

    from freezegun import freeze_time

    with app.app_context():
        with freeze_time(datetime.now(UTC) - timedelta(hours=2)):
            kept = f.person()
            f.note(kept)
        gone = f.person()
        ids = kept.id, gone.id
    staff = login("staff")
    refused = staff.post(f"/people/delete/{ids[0]}", follow_redirects=True)
    assert "Set its status to inactive instead." in refused.get_data(as_text=True)
    staff.post(f"/people/delete/{ids[1]}")
    with app.app_context():
        assert db.session.get(Person, ids[0]) is not None
        assert db.session.get(Person, ids[1]) is None


def test_an_address_is_added_from_the_data_sheet_and_bad_input_stores_nothing(app, login):
    from app.models import Address, PartnerAddress

    with app.app_context():
        pid = f.company().id
    staff = login("staff")
    bad = staff.post(f"/partner/{pid}/addresses", data={"type": "seat", "street": "Fő utca 1"})
    assert bad.status_code == 400 and "has-error" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Address.id)) is None
    ok = staff.post(
        f"/partner/{pid}/addresses",
        data={
            "type": "seat",
            "street": "Fő utca 1",
            "city": "Győr",
            "postal_code": "9021",
            "country": "HU",
            "latitude": "47.6875",
            "longitude": "17.6504",
        },
    )
    assert ok.status_code == 302
    with app.app_context():
        link = db.session.scalar(select(PartnerAddress).where(PartnerAddress.partner_id == pid))
        assert link.type == "seat" and link.address.city == "Győr"
    assert 'id="sheet-map"' in staff.get(f"/partner/{pid}").get_data(as_text=True)


def test_the_lists_cells_carry_their_columns_class_and_hide_on_a_phone(app, login):
    """Each cell says its column (`list-<column>`); all but the name and the e-mail hide on a
    phone (`hidden-xs`), in the header and in every row."""
    with app.app_context():
        f.person(first_name="Kata", last_name="Kovács", email="kata@example.com")
    html = login("staff").get("/people/list/").get_data(as_text=True)
    assert '<td class="list-display_name">' in html and '<td class="list-email">' in html
    assert '<td class="list-customer_number hidden-xs">' in html
    assert '<th class="list-phone hidden-xs">' in html


def test_list_rows_keep_their_cells_classes_buttons_and_escaping(app, login):
    """The list's rows are written in Python (SheetListWidget.rows): each cell keeps its
    column's class (hidden on a phone but for the name and the e-mail), the name opens the
    data sheet, the status goes through its label, nothing shows for None and every value is
    escaped; the row buttons are the user's own."""
    with app.app_context():
        p = f.person(first_name="<b>Zsófia</b>", last_name="Árvai & Fia", status="lead", phone=None)
        pid = p.id
        db.session.commit()
    html = login("staff").get("/people/list/?_flt_0_display_name=arvai").get_data(as_text=True)
    row = re.search(
        rf'<tr><td[^>]*><input id="{pid}".*?</tr>|<tr>.*?/people/edit/{pid}".*?</tr>', html, re.S
    ).group(0)
    assert (
        f'<td class="list-display_name"><a href="/partner/{pid}" class="sheet-link">'
        "&lt;b&gt;Zsófia&lt;/b&gt; Árvai &amp; Fia</a></td>" in row
    )
    assert '<td class="list-status hidden-xs">Lead</td>' in row
    assert '<td class="list-phone hidden-xs"></td>' in row
    assert '<th class="list-email">' in html and '<th class="list-owner hidden-xs">' in html
    assert f'href="/people/edit/{pid}"' in row and f'data-href="/people/delete/{pid}"' in row
    assert "None" not in row
