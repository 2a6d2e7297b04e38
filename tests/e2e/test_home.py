"""The home page in Hungarian in a real browser: its sections and the forecast chart; and a
date picker that writes the Hungarian order."""

import re
from datetime import date, timedelta

from app.extensions import db
from app.models import Offer, Task, utcnow
from app.services import acting_as
from tests import factories as f
from tests.conftest import user_id
from tests.e2e.conftest import log_in


def _my_things(app) -> int:
    staff = user_id(app, "staff")
    today = date.today()
    with app.app_context(), acting_as(staff):
        company = f.company(name="Pannon Kft.")
        f.person(
            first_name="Anna", last_name="Szép", birthday=today.replace(year=1980), owner_id=staff
        )
        now = utcnow().replace(microsecond=0)
        db.session.add(
            Task(
                title="Visszahívni",
                responsible_id=staff,
                starts_at=now - timedelta(days=2),
                due_at=now - timedelta(days=1),
            )
        )
        offers = [
            Offer(
                name="Könyvvizsgálat",
                partner=company,
                owner_id=staff,
                amount=1_000_000,
                currency="HUF",
                chance=50,
                expected_decision=today,
            ),
            Offer(
                name="Audit DE",
                partner=company,
                owner_id=staff,
                amount=4000,
                currency="EUR",
                chance=25,
                expected_decision=today + timedelta(days=35),
            ),
        ]
        db.session.add_all(offers)
        db.session.commit()
        return offers[0].id


def test_the_home_page_in_hungarian_with_its_chart(app, server, page):
    oid = _my_things(app)
    log_in(page, server, "staff")
    page.goto(f"{server}/lang/hu")
    page.goto(f"{server}/")
    assert page.locator("#home-tasks").inner_text().count("Visszahívni") == 1
    assert page.locator("#home-tasks .task-overdue").count() == 1
    assert "Anna Szép" in page.locator("#home-birthdays").inner_text()
    assert "Pannon Kft." in page.locator("#home-recent").inner_text()
    offers = page.locator("#home-offers").inner_text().replace("\xa0", " ")
    assert "Könyvvizsgálat" in offers and "500 000 Ft" in offers
    chart = page.locator("svg.forecast-chart")
    assert chart.is_visible()
    assert chart.locator("g.series").count() == 2  # HUF and EUR, each its own band
    assert chart.locator("g.series[data-currency=HUF] rect").count() == 12
    labels = chart.locator("text.month").all_text_contents()
    assert len(labels) == 12 and re.fullmatch(r"\d{4}\. \w+\.?", labels[0]), labels
    legend = page.locator(".forecast-legend").inner_text().replace("\xa0", " ")
    assert "HUF: összesen 500 000 Ft" in legend and "EUR" in legend

    # The offer's date picker shows Hungarian months and writes the Hungarian order.
    page.goto(f"{server}/offers/edit/{oid}")
    deadline = page.locator("input[name=deadline]")
    deadline.click()
    picker = page.locator(".datepicker-dropdown")
    picker.wait_for()
    month = date.today().strftime("%m")
    assert any(
        m in picker.inner_text()
        for m in (
            "január",
            "február",
            "március",
            "április",
            "május",
            "június",
            "július",
            "augusztus",
            "szeptember",
            "október",
            "november",
            "december",
        )
    )
    picker.locator("td.day:not(.old):not(.new)", has_text=re.compile(r"^15$")).click()
    value = deadline.input_value()
    assert re.fullmatch(rf"\d{{4}}\. {month}\. 15\.", value), value
    with page.expect_navigation():
        page.click("#model_form button[type=submit], #model_form input[type=submit]")
    with app.app_context():
        assert db.session.get(Offer, oid).deadline == date.today().replace(day=15)
