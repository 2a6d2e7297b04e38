"""One format per locale (lists, pages, form inputs, calendar, mails, PDFs) and the home page:
only my things, birthdays across a year end, currencies kept apart, bounded queries."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from flask import current_app
from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.formatting import (
    date_text,
    datetime_text,
    money_text,
    month_text,
    number_text,
    parse_date,
    parse_datetime,
)
from app.models import AuditLog, Offer, Outbox, Task, utcnow
from app.services import acting_as, home, invoicing
from app.services.users import profile
from tests import factories as f
from tests.conftest import user_id
from tests.test_invoices import draft
from tests.test_zone import world, zone_login  # noqa: F401 (a fixture)

DAY = date(2026, 12, 2)


def plain(text: str) -> str:
    """Babel separates groups with no-break spaces: compared as plain ones."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


MOMENT = datetime(2026, 12, 2, 13, 30, 15, 123456)  # UTC: 14:30 in Budapest


@pytest.mark.parametrize(
    "lang, day, moment, month, huf, eur",
    [
        ("hu", "2026. 12. 02.", "2026. 12. 02. 14:30", "2026. december", "1 234 568 Ft", "EUR"),
        ("pl", "02.12.2026", "02.12.2026 14:30", "grudzień 2026", "1 234 568 HUF", "€"),
        ("de", "02.12.2026", "02.12.2026 14:30", "Dezember 2026", "1.234.568 HUF", "€"),
        ("ru", "02.12.2026", "02.12.2026 14:30", "декабрь 2026 г.", "1 234 568 HUF", "€"),
        ("en", "02/12/2026", "02/12/2026 14:30", "December 2026", "HUF1,234,568", "€1,234.50"),
    ],
)
def test_one_format_per_locale(app, lang, day, moment, month, huf, eur):
    with app.app_context():
        assert date_text(DAY, locale=lang) == day
        assert datetime_text(MOMENT, locale=lang, zone="Europe/Budapest") == moment
        assert plain(month_text(DAY, locale=lang)) == month
        assert plain(money_text(Decimal("1234567.5"), "HUF", locale=lang)) == huf
        assert eur in plain(money_text(Decimal("1234.5"), "EUR", locale=lang))
        assert parse_date(day, locale=lang) == DAY
        assert parse_date("2026-12-02", locale=lang) == DAY
        assert parse_datetime(moment, locale=lang) == datetime(2026, 12, 2, 14, 30)
    assert "123456" not in moment and ".15" not in moment


def test_english_is_british_and_numbers_group_per_locale(app):
    with app.app_context():
        assert date_text(DAY, "long", locale="en") == "2 December 2026"
        assert datetime_text(datetime(2026, 12, 2, 22, 5), locale="en", zone="UTC").endswith(
            "22:05"
        )
        assert number_text(Decimal("1234.5"), 2, locale="de") == "1.234,50"
        assert plain(number_text(Decimal("1234.5"), 2, locale="hu")) == "1 234,50"


@pytest.mark.parametrize("text", ["31.02.2026", "12/2026", "2026. 13. 01.", "tomorrow", "1.2.26"])
def test_a_date_that_is_not_one_is_refused(app, text):
    with app.app_context(), pytest.raises(ValueError):
        parse_date(text, locale="de")


def _offer(owner="staff", **kw) -> int:
    partner = kw.pop("partner", None) or f.company(name=kw.pop("company", "Pannon Kft."))
    values = {"name": "Audit", "amount": 1000, "currency": "HUF", "chance": 50} | kw
    offer = Offer(partner_id=partner.id, owner_id=user_id(current_app, owner), **values)
    db.session.add(offer)
    db.session.commit()
    return offer.id


def test_list_show_page_and_form_input_use_the_locale(app, login):
    with app.app_context():
        oid = _offer(deadline=DAY, amount=Decimal("1234567"), currency="HUF")
    staff = login("staff")
    staff.lang("hu")
    listing = staff.get("/offers/list/").get_data(as_text=True)
    assert "2026. 12. 02." in listing and "1 234 567,00" in plain(listing)
    shown = staff.get(f"/offers/show/{oid}").get_data(as_text=True)
    assert "2026. 12. 02." in shown
    staff.lang("de")
    form = staff.get(f"/offers/edit/{oid}").get_data(as_text=True)
    deadline = re.search(r'<input[^>]*name="deadline"[^>]*>', form).group(0)
    assert 'value="02.12.2026"' in deadline and 'data-picker-format="dd.mm.yyyy"' in deadline
    assert "Dezember" in deadline  # the picker's month names, from the locale
    assert "date-input.js" in form


def _edit_offer(client, oid, deadline):
    form = client.get(f"/offers/edit/{oid}").get_data(as_text=True)
    # The partner picker holds the chosen partner as its one option.
    partner = re.search(r'name="partner".*?<option value="(\d+)"[^>]*selected', form).group(1)
    return client.post(
        f"/offers/edit/{oid}",
        data={
            "name": "Audit",
            "partner": partner,
            "deadline": deadline,
            "amount": "1000",
            "currency": "HUF",
            "payment_frequency": "once",
            "status": "pending",
        },
    )


@pytest.mark.parametrize(
    "lang, typed", [("hu", "2027. 01. 05."), ("de", "05.01.2027"), ("en", "05/01/2027")]
)
def test_a_date_typed_in_the_locale_order_is_saved(app, login, lang, typed):
    with app.app_context():
        oid = _offer()
    staff = login("staff")
    staff.lang(lang)
    assert _edit_offer(staff, oid, typed).status_code == 302
    with app.app_context():
        assert db.session.get(Offer, oid).deadline == date(2027, 1, 5)


def test_a_bad_date_is_refused_with_a_translated_message_and_nothing_changes(app, login):
    with app.app_context():
        oid = _offer(deadline=DAY)
    staff = login("staff")
    staff.lang("de")
    answer = _edit_offer(staff, oid, "31.02.2027")
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "Kein gültiges Datum" in page and 'value="31.02.2027"' in page
    with app.app_context():
        assert db.session.get(Offer, oid).deadline == DAY


def test_the_calendar_heading_reads_the_hungarian_way(app, login):
    staff = login("staff")
    staff.lang("hu")
    page = staff.get("/calendar/2026/12").get_data(as_text=True)
    assert "2026. december" in page
    staff.lang("en")
    assert "December 2026" in staff.get("/calendar/2026/12").get_data(as_text=True)


def test_a_task_mail_is_written_in_the_recipients_format(app, mailbox):
    from app.services.tasks import save_task

    start = datetime(2030, 12, 2, 13, 30)  # UTC
    with app.app_context():
        staff, manager = user_id(app, "staff"), user_id(app, "manager")
        for uid, locale, zone in ((staff, "en", "Europe/London"), (manager, "hu", None)):
            p = profile(uid)
            p.locale, p.timezone = locale, zone
        db.session.commit()
        fields = {
            "title": "Client visit",
            "responsible_id": staff,
            "collaborator_ids": [manager],
            "starts_at": start,
            "due_at": start + timedelta(hours=1),
        }
        save_task(None, fields, staff, save_anyway=True)
        bodies = dict(db.session.execute(select(Outbox.recipient, Outbox.body)).all())
    assert "02/12/2030 13:30" in bodies["staff@example.com"]  # London, British English
    assert "2030. 12. 02. 14:30" in bodies["manager@example.com"]  # Budapest, Hungarian


@pytest.mark.parametrize("language, issued", [("hu", "2026. március 1."), ("en", "1 March 2026")])
def test_an_invoice_pdf_uses_the_partners_format(app, ctx, language, issued):
    iid = draft(app, language=language)
    invoicing.issue(iid, None, today=date(2026, 3, 1))
    from app.models import Invoice

    with app.test_request_context():
        pdf = invoicing.render_pdf(db.session.get(Invoice, iid))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert issued in text, text[:400]
    # 2 × 1,000.50 net + 27 % VAT in forints: whole forints, the locale's separators.
    total = "2 541 Ft" if language == "hu" else "HUF2,541"
    assert total in text.replace("\xa0", " "), text[:600]


# The home page


def _task(responsible: str, title: str, due: datetime, **kw) -> int:
    task = Task(
        title=title,
        responsible_id=user_id(current_app, responsible),
        starts_at=due - timedelta(hours=1),
        due_at=due,
        **kw,
    )
    db.session.add(task)
    db.session.commit()
    return task.id


def _home_data(app, extra: int = 0) -> None:
    """Mine (staff's) and another's (manager's) of each kind; `extra` more of each of mine."""
    now = utcnow().replace(second=0, microsecond=0)
    today = date.today()
    with app.app_context(), acting_as(user_id(app, "staff")):
        company = f.company(name="Pannon Kft.")
        for n in range(1 + extra):
            _task("staff", f"My overdue {n}", now - timedelta(days=1))
            _offer(name=f"My offer {n}", partner=company, expected_decision=today)
            f.person(
                first_name="Anna",
                last_name=f"Born {n}",
                birthday=today.replace(year=1980),
                owner_id=user_id(app, "staff"),
            )
        _task("manager", "Not my task", now - timedelta(days=1))
        _offer(owner="manager", name="Not my offer", partner=company)
        f.person(
            first_name="Other",
            last_name="Birthday",
            birthday=today.replace(year=1980),
            owner_id=user_id(app, "manager"),
        )


def test_the_home_page_shows_my_things_only(app, login):
    _home_data(app)
    with app.app_context():
        pid = f.person(first_name="Worked", last_name="On").id
    page = login("staff").get("/").get_data(as_text=True)
    assert "My overdue 0" in page and "Not my task" not in page
    assert "My offer 0" in page and "Not my offer" not in page
    birthdays = page.split('id="home-birthdays"')[1].split('id="home-recent"')[0]
    assert "Anna Born 0" in birthdays and "Other Birthday" not in birthdays
    # Expected value: 1,000 × 50 % (HUF, whole forints).
    assert "HUF500" in page
    # The partners I worked on: what I changed (Pannon, the people), not what others did.
    recent = page.split('id="home-recent"')[1].split("</div>\n  </div>")[0]
    assert "Pannon Kft." in recent and "Worked On" not in recent
    theirs = login("manager").get("/").get_data(as_text=True).split('id="home-tasks"')[1]
    assert "Not my task" in theirs.split("</ul>")[0]
    assert pid


def test_my_notes_make_a_partner_recent(app, login):
    with app.app_context():
        pid = f.person(first_name="Noted", last_name="Partner").id
        f.note(db.session.get(f.Person, pid), author_id=user_id(app, "staff"))
        db.session.execute(AuditLog.__table__.delete())
        db.session.commit()
    page = login("staff").get("/").get_data(as_text=True)
    assert "Noted Partner" in page.split('id="home-recent"')[1]


def test_birthdays_across_the_year_end(app, ctx):
    staff = user_id(app, "staff")
    for name, born in (
        ("New Year", date(1990, 1, 3)),
        ("Christmas", date(1985, 12, 26)),
        ("Too late", date(1990, 1, 9)),
        ("Past", date(1990, 12, 24)),
    ):
        f.person(first_name=name, last_name="X", birthday=born, owner_id=staff)
    found = home.upcoming_birthdays(staff, date(2026, 12, 25))
    assert [(p.first_name, days) for p, days in found] == [("Christmas", 1), ("New Year", 9)]


def test_the_forecast_keeps_currencies_apart(app, ctx, login):
    today = date.today()
    company = f.company(name="Pannon Kft.")
    _offer(partner=company, amount=1_000_000, currency="HUF", chance=50, expected_decision=today)
    _offer(partner=company, amount=1000, currency="EUR", chance=20, expected_decision=today)
    _offer(
        partner=company,
        amount=4000,
        currency="EUR",
        chance=50,
        expected_decision=today + timedelta(days=40),
    )
    forecast = home.monthly_forecast(user_id(app, "staff"), today)
    assert set(forecast["series"]) == {"EUR", "HUF"}
    assert forecast["series"]["HUF"][0] == Decimal(500000)
    assert forecast["series"]["EUR"][0] == Decimal(200)
    assert sum(forecast["series"]["EUR"]) == Decimal(2200)
    client = login("staff")
    client.lang("hu")
    page = client.get("/").get_data(as_text=True)
    chart = page.split('<svg class="forecast-chart"')[1].split("</svg>")[0]
    assert 'data-currency="EUR"' in chart and 'data-currency="HUF"' in chart
    assert month_label(today) in chart
    legend = plain(page.split('class="list-inline forecast-legend"')[1].split("</ul>")[0])
    assert "500 000 Ft" in legend and "2 200,00 EUR" in legend
    assert "502" not in legend  # never forints and euros added up


def month_label(day: date) -> str:
    from flask import Flask

    with Flask(__name__).app_context():
        return month_text(day.replace(day=1), short=True, locale="hu")


def test_the_home_page_is_translated_with_empty_states(app, login):
    client = login("staff")
    client.lang("hu")
    page = client.get("/").get_data(as_text=True)
    for english in (
        "My tasks today",
        "My pending offers",
        "Partners I worked on last",
        "You have no pending offers.",
    ):
        assert english not in page


@pytest.mark.usefixtures("world")
def test_zone_users_still_go_to_the_portal(app, login):
    answer = zone_login(login, "anna").get("/")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/portal/")


def test_the_home_page_queries_do_not_grow_with_the_data(app, login, queries):
    _home_data(app)
    client = login("staff")
    client.get("/")
    with queries() as few:
        client.get("/")
    _home_data(app, extra=15)
    with queries() as many:
        page = client.get("/").get_data(as_text=True)
    assert "My overdue 15" in page
    assert many.count == few.count, many.statements[few.count :]


def test_the_home_page_asks_nothing_of_a_user_without_those_rights(app, login):
    page = login("readonly").get("/")
    assert page.status_code == 200
