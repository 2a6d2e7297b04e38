"""Contracts and quotas: active ones on the overview, the history filtered."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.errors import InvalidValue
from app.extensions import db
from app.models import Contract, Quota
from app.services import acting_as
from tests import factories as f


def contracts(app):
    today = date.today()
    with app.app_context(), acting_as(None):
        p = f.company(name="Isar Bäckerei GmbH")
        active = Contract(
            partner=p,
            name="Wartung Premium",
            plan="Premium",
            price=490,
            currency="EUR",
            starts_on=today - timedelta(days=30),
        )
        active.quotas = [Quota(name="Vor-Ort-Besuche", unit="visits", bought=10, used=3)]
        old = Contract(
            partner=p,
            name="Einrichtung 2024",
            price=1200,
            currency="EUR",
            starts_on=date(2024, 1, 1),
            ends_on=date(2024, 12, 31),
            status="ended",
        )
        db.session.add_all([active, old])
        db.session.flush()
        return p.id, p.customer_number


def test_active_contracts_and_quotas_on_the_overview(app, login):
    pid, _ = contracts(app)
    sheet = login("staff").get(f"/partner/{pid}").get_data(as_text=True)
    overview = sheet.split('class="panel panel-default overview"')[1].split("dossier-tabs")[0]
    assert "Wartung Premium" in overview and "Einrichtung 2024" not in overview
    assert "7 of 10 visits left" in overview


def test_contract_history_filters_by_name_status_and_period(app, login):
    pid, _ = contracts(app)
    staff = login("staff")

    def names(query=""):
        html = staff.get(f"/partner/{pid}/contracts{query}").get_data(as_text=True)
        table = html.split('class="table table-striped contracts"')[1].split("</table>")[0]
        return {n for n in ("Wartung Premium", "Einrichtung 2024") if n in table}

    assert names() == {"Wartung Premium", "Einrichtung 2024"}
    assert names("?name=wartung") == {"Wartung Premium"}
    assert names("?status=ended") == {"Einrichtung 2024"}
    assert names("?since=2025-01-01") == {"Wartung Premium"}
    assert names("?until=2024-06-30") == {"Einrichtung 2024"}
    assert names("?since=not-a-date") == {"Wartung Premium", "Einrichtung 2024"}


def test_add_a_contract_from_the_data_sheet(app, login):
    pid, number = contracts(app)
    finance = login("finance")
    page = finance.get(f"/partner/{pid}/contracts").get_data(as_text=True)
    assert f"/contracts/add?partner={number}" in page
    response = finance.post(
        "/contracts/add",
        data={
            "partner": str(pid),
            "name": "Schulung",
            "price": "300",
            "currency": "EUR",
            "starts_on": date.today().isoformat(),
            "status": "active",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert (
            db.session.scalar(select(Contract.partner_id).where(Contract.name == "Schulung")) == pid
        )


def test_more_units_cannot_be_used_than_bought(app, ctx):
    contracts(app)
    quota = db.session.scalar(select(Quota))
    quota.used = Decimal(11)
    with pytest.raises(InvalidValue):
        db.session.commit()
