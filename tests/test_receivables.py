"""Open receivables on the Current account tab: delivered order lines not yet invoiced,
contract fees due, quota units used beyond those bought; "Create invoice" bundles the chosen
ones into one draft — never billing an item twice, also when two users click at once."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import func, select

from app.errors import Conflict, InvalidValue
from app.extensions import db
from app.models import Contract, Invoice, InvoiceLine, Order, OrderLine, Quota
from app.services import acting_as, invoicing
from app.services.receivables import invoice_receivables, open_receivables
from tests import factories as f
from tests.conftest import at_once

ROUNDS = 10
TODAY = date.today()


@dataclass
class Open:
    partner: int
    order: int
    line_a: int  # 10 pcs at 100, 10 % off: 4 already invoiced on an issued invoice
    line_b: int  # 2 h at 50
    open_order_line: int  # of an order not delivered yet
    contract: int  # 1000 HUF a month from three months ago (the 1st): four periods begun
    quota: int  # 10 bought, 13 used, 25 HUF a unit beyond
    eur_contract: int  # a one-off fee of 300 EUR


def first_of_month(months_back: int) -> date:
    index = TODAY.year * 12 + TODAY.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def order(partner_id: int, status: str, lines: list[dict], number: str, currency="HUF") -> Order:
    with acting_as(None):
        made = Order(
            number=number,
            year=TODAY.year,
            partner_id=partner_id,
            currency=currency,
            order_date=TODAY - timedelta(days=10),
            lines=[OrderLine(position=n, **line) for n, line in enumerate(lines, 1)],
        )
        db.session.add(made)
        db.session.flush()  # a new order is open; then it moves on as the model allows
        made.status = status
        db.session.flush()
    return made


def receivables_world(app) -> Open:
    with app.test_request_context():
        partner = f.company(name="Kappa Kft.", language="hu")
        delivered = order(
            partner.id,
            "delivered",
            [
                {
                    "description": "Szerver",
                    "quantity": 10,
                    "unit": "pc",
                    "unit_price": 100,
                    "discount": 10,
                    "vat_rate": 27,
                },
                {"description": "Telepítés", "quantity": 2, "unit": "hour", "unit_price": 50},
            ],
            f"O-{TODAY.year}/000001",
        )
        waiting = order(
            partner.id,
            "in_progress",
            [{"description": "Még nem szállított", "quantity": 1, "unit_price": 5}],
            f"O-{TODAY.year}/000002",
        )
        line_a, line_b = (line.id for line in delivered.lines)
        earlier = invoicing.new_draft(partner.id, None, currency="HUF")
        with acting_as(None):
            db.session.add(
                InvoiceLine(
                    invoice=earlier,
                    description="Szerver",
                    quantity=4,
                    unit_price=90,
                    vat_rate=27,
                    order_line_id=line_a,
                )
            )
        invoicing.refresh_totals({earlier.id})
        db.session.commit()
        invoicing.issue(earlier.id, None)
        with acting_as(None):
            contract = Contract(
                partner_id=partner.id,
                name="Üzemeltetés",
                price=1000,
                currency="HUF",
                starts_on=first_of_month(3),
                billing="monthly",
            )
            contract.quotas = [
                Quota(name="Helyszíni óra", unit="hour", bought=10, used=13, overuse_price=25),
                Quota(name="Hívások", unit="pc", bought=10, used=2),
            ]
            unbilled = Contract(
                partner_id=partner.id,
                name="Régi szerződés",
                price=777,
                starts_on=first_of_month(12),
            )
            eur = Contract(
                partner_id=partner.id,
                name="Bevezetés",
                price=300,
                currency="EUR",
                starts_on=TODAY - timedelta(days=5),
                billing="once",
                vat_rate=0,
            )
            db.session.add_all([contract, unbilled, eur])
        return Open(
            partner=partner.id,
            order=delivered.id,
            line_a=line_a,
            line_b=line_b,
            open_order_line=waiting.lines[0].id,
            contract=contract.id,
            quota=contract.quotas[0].id,
            eur_contract=eur.id,
        )


@pytest.fixture
def world(app) -> Open:
    return receivables_world(app)


def keys_of(app, partner_id: int) -> list[str]:
    with app.test_request_context():
        return [item.key for item in open_receivables(partner_id)]


def periods(w: Open) -> list[str]:
    return [f"contract:{w.contract}:{first_of_month(n).isoformat()}" for n in (3, 2, 1, 0)]


def test_the_open_items_of_a_partner(app, world):
    with app.test_request_context():
        items = {item.key: item for item in open_receivables(world.partner)}
    assert list(items) == [
        f"order_line:{world.line_a}",
        f"order_line:{world.line_b}",
        *periods(world),
        f"contract:{world.eur_contract}:{(TODAY - timedelta(days=5)).isoformat()}",
        f"quota:{world.quota}",
    ]
    a = items[f"order_line:{world.line_a}"]
    assert (a.quantity, a.unit_price, a.net, a.currency) == (6, Decimal("90.00"), 540, "HUF")
    assert items[f"order_line:{world.line_b}"].quantity == 2
    fee = items[periods(world)[0]]
    assert (fee.quantity, fee.unit_price, fee.vat_rate) == (1, 1000, 27)
    assert "Üzemeltetés" in fee.description
    quota = items[f"quota:{world.quota}"]
    assert (quota.quantity, quota.unit_price, quota.net) == (3, 25, 75)


def test_the_tab_lists_them_with_checkboxes_for_finance_only(app, world, login):
    page = login("finance").get(f"/partner/{world.partner}/account").get_data(as_text=True)
    assert "Open receivables" in page and "Create invoice" in page
    table = page.split('class="table table-condensed receivables"')[1].split("</table>")[0]
    assert f'value="order_line:{world.line_a}"' in table and "Szerver" in table
    assert f'value="quota:{world.quota}"' in table and "Helyszíni óra" in table
    assert "Még nem szállított" not in table and "Régi szerződés" not in table
    staff = login("staff").get(f"/partner/{world.partner}/account").get_data(as_text=True)
    assert "Open receivables" in staff and "Szerver" in staff
    assert 'name="item"' not in staff and "Create invoice" not in staff
    answer = login("staff").post(
        f"/partner/{world.partner}/receivables/invoice", {"item": f"quota:{world.quota}"}
    )
    assert answer.status_code == 403


def test_create_invoice_bundles_the_chosen_items_into_one_draft(app, world, login):
    finance = login("finance")
    chosen = [f"order_line:{world.line_a}", periods(world)[0], f"quota:{world.quota}"]
    answer = finance.post(f"/partner/{world.partner}/receivables/invoice", {"item": chosen})
    assert answer.status_code == 302
    with app.app_context():
        draft = db.session.scalars(select(Invoice).where(Invoice.status == "draft")).one()
        assert answer.headers["Location"].endswith(f"/invoices/show/{draft.id}")
        lines = [
            (line.order_line_id, line.contract_id, line.period_start, line.quota_id, line.quantity)
            for line in draft.lines
        ]
        assert lines == [
            (world.line_a, None, None, None, 6),
            (None, world.contract, first_of_month(3), None, 1),
            (None, None, None, world.quota, 3),
        ]
        assert draft.currency == "HUF" and draft.partner_id == world.partner
        assert draft.net_total == Decimal("540.00") + 1000 + 75
    left = keys_of(app, world.partner)
    assert not set(chosen) & set(left)
    assert f"order_line:{world.line_b}" in left and periods(world)[1] in left
    shown = finance.get(answer.headers["Location"]).get_data(as_text=True)
    assert "The draft invoice was made from the chosen items." in shown
    tab = finance.get(f"/partner/{world.partner}/account").get_data(as_text=True)
    drafts = tab.split('class="receivable-drafts"')[1].split("</p>")[0]
    assert f"/invoices/show/{draft.id}" in drafts and '<span class="badge">3</span>' in drafts


def test_mixed_currencies_are_refused_and_nothing_is_made(app, world, login):
    eur = f"contract:{world.eur_contract}:{(TODAY - timedelta(days=5)).isoformat()}"
    page = login("finance").post(
        f"/partner/{world.partner}/receivables/invoice",
        {"item": [f"order_line:{world.line_b}", eur]},
        follow_redirects=True,
    )
    assert (
        "The chosen items are in different currencies (EUR, HUF). An invoice has one currency: "
        "make one invoice per currency." in page.get_data(as_text=True)
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Invoice.status == "draft")) == 0
    with app.test_request_context():
        draft = invoice_receivables(world.partner, None, [eur])
        assert (draft.currency, draft.lines[0].vat_rate, draft.gross_total) == ("EUR", 0, 300)


def test_nothing_chosen_or_a_made_up_item_is_refused(app, world, login):
    finance = login("finance")
    for items in ([], ["order_line:x"], ["invoice:1"], [f"order_line:{world.open_order_line}"]):
        page = finance.post(
            f"/partner/{world.partner}/receivables/invoice", {"item": items}, follow_redirects=True
        )
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert (
            "Choose at least one item to invoice." in text
            or "is not a valid choice" in text
            or "no longer open" in text
        ), items
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Invoice.status == "draft")) == 0


def test_an_item_of_another_partner_is_not_billed(app, world):
    with app.test_request_context():
        other = f.company(name="Lambda Kft.").id
        with pytest.raises(Conflict):
            invoice_receivables(other, None, [f"order_line:{world.line_a}"])
        with pytest.raises(Conflict):
            invoice_receivables(other, None, [f"quota:{world.quota}"])


def test_an_item_billed_already_is_refused(app, world):
    with app.test_request_context():
        invoice_receivables(world.partner, None, [f"quota:{world.quota}"])
        with pytest.raises(Conflict):
            invoice_receivables(world.partner, None, [f"quota:{world.quota}", periods(world)[0]])
        assert db.session.scalar(select(func.count(Invoice.id))) == 2  # the earlier one + 1


def test_deleting_the_draft_or_cancelling_the_invoice_opens_the_items_again(app, world, login):
    item = f"order_line:{world.line_b}"
    with app.test_request_context():
        draft = invoice_receivables(world.partner, None, [item, periods(world)[2]])
        draft_id = draft.id
    assert item not in keys_of(app, world.partner)
    with app.app_context():
        db.session.delete(db.session.get(Invoice, draft_id))
        db.session.commit()
    assert {item, periods(world)[2]} <= set(keys_of(app, world.partner))
    with app.test_request_context():
        draft = invoice_receivables(world.partner, None, [item, periods(world)[2]])
        invoicing.issue(draft.id, None)
        assert item not in keys_of(app, world.partner)
        invoicing.cancel(draft.id, None)
    assert {item, periods(world)[2]} <= set(keys_of(app, world.partner))


def test_more_use_of_a_quota_is_billed_as_only_the_new_excess(app, world):
    with app.test_request_context():
        invoice_receivables(world.partner, None, [f"quota:{world.quota}"])
        with acting_as(None):
            db.session.get(Quota, world.quota).used = Decimal(15)
        items = {i.key: i for i in open_receivables(world.partner)}
        assert items[f"quota:{world.quota}"].quantity == 2


def test_a_quota_without_a_price_cannot_be_overused_and_one_with_a_price_can(app, ctx):
    partner = f.company(name="Mü Kft.")
    with acting_as(None):
        contract = Contract(partner_id=partner.id, name="Óradíj", starts_on=TODAY)
        contract.quotas = [Quota(name="Óra", bought=5, used=5)]
        db.session.add(contract)
    contract.quotas[0].used = Decimal(6)
    with pytest.raises(InvalidValue, match="Give a price for units beyond those bought"):
        db.session.commit()
    db.session.rollback()
    quota = db.session.scalar(select(Quota).where(Quota.name == "Óra"))
    with acting_as(None):
        quota.overuse_price = Decimal(40)
        quota.used = Decimal(6)
    assert (quota.left, quota.excess) == (0, 1)
    with pytest.raises(InvalidValue):
        with acting_as(None):
            quota.overuse_price = Decimal(-1)


def test_contract_fee_periods(app, ctx):
    partner = f.company(name="Nü Kft.")

    def made(**kw) -> Contract:
        return Contract(partner_id=partner.id, name="x", price=10, **kw)

    monthly = made(starts_on=date(2026, 1, 31), billing="monthly")
    assert monthly.fee_periods(date(2026, 3, 30)) == [
        (date(2026, 1, 31), date(2026, 2, 27)),
        (date(2026, 2, 28), date(2026, 3, 30)),
    ]
    quarterly = made(starts_on=date(2026, 1, 1), ends_on=date(2026, 5, 15), billing="quarterly")
    assert quarterly.fee_periods(date(2027, 1, 1)) == [
        (date(2026, 1, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 5, 15)),
    ]
    assert made(starts_on=date(2026, 6, 1), billing="yearly").fee_periods(date(2026, 5, 31)) == []
    assert made(starts_on=date(2026, 1, 1), billing="once").fee_periods(date(2026, 9, 1)) == [
        (date(2026, 1, 1), date(2026, 1, 1))
    ]
    assert made(starts_on=date(2026, 1, 1)).fee_periods(date(2026, 9, 1)) == []
    cancelled = made(starts_on=date(2026, 1, 1), billing="monthly", status="cancelled")
    assert cancelled.fee_periods(date(2026, 9, 1)) == []
    with pytest.raises(InvalidValue):
        made(starts_on=date(2026, 1, 1), billing="weekly")


def test_the_api_lists_and_invoices_receivables(app, world, api):
    finance = api("finance")
    listed = finance.get(f"/api/v1/partner/{world.partner}/receivables")
    assert listed.status_code == 200
    result = listed.get_json()["result"]
    assert [r["key"] for r in result] == keys_of(app, world.partner)
    assert result[0]["quantity"] == "6.000" and result[0]["unit_price"] == "90.00"
    made = finance.post(
        f"/api/v1/partner/{world.partner}/receivables/invoice",
        json={"items": [f"order_line:{world.line_b}"]},
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["result"]["status"] == "draft"
    again = finance.post(
        f"/api/v1/partner/{world.partner}/receivables/invoice",
        json={"items": [f"order_line:{world.line_b}"]},
    )
    assert again.status_code == 409
    assert "no longer open" in again.get_json()["message"]
    for payload in ({}, {"items": "quota:1"}, {"items": [1, 2]}, {"items": []}):
        answer = finance.post(f"/api/v1/partner/{world.partner}/receivables/invoice", json=payload)
        assert answer.status_code == 400, payload
    assert finance.get("/api/v1/partner/999999/receivables").status_code == 404
    staff = api("staff")
    assert staff.get(f"/api/v1/partner/{world.partner}/receivables").status_code == 200
    refused = staff.post(
        f"/api/v1/partner/{world.partner}/receivables/invoice",
        json={"items": [f"quota:{world.quota}"]},
    )
    assert refused.status_code == 403


def drafts_billing(app, world: Open) -> dict[str, int]:
    with app.app_context():
        lines = db.session.scalars(
            select(InvoiceLine).join(Invoice).where(Invoice.status == "draft")
        ).all()
        return {
            "order_line": sum(1 for x in lines if x.order_line_id == world.line_b),
            "contract": sum(1 for x in lines if x.contract_id == world.contract),
            "quota": sum(1 for x in lines if x.quota_id == world.quota),
            "drafts": len({x.invoice_id for x in lines}),
        }


def reset(app) -> None:
    with app.app_context():
        for draft in db.session.scalars(select(Invoice).where(Invoice.status == "draft")):
            db.session.delete(draft)
        db.session.commit()


def test_two_users_clicking_create_invoice_at_once_bill_each_item_once(app, world, live_server):
    chosen = [f"order_line:{world.line_b}", periods(world)[0], f"quota:{world.quota}"]
    clients = [live_server.client().login("finance") for _ in range(2)]
    for _round in range(ROUNDS):
        answers = at_once(
            *(
                partial(
                    client.post,
                    f"/partner/{world.partner}/receivables/invoice",
                    {"item": chosen},
                    headers={"Referer": f"{live_server.url}/partner/{world.partner}/account"},
                )
                for client in clients
            )
        )
        made = [a for a in answers if "The draft invoice was made" in a.text]
        refused = [a for a in answers if "no longer open" in a.text]
        assert len(made) == len(refused) == 1, [a.text[-1500:] for a in answers]
        assert drafts_billing(app, world) == {
            "order_line": 1,
            "contract": 1,
            "quota": 1,
            "drafts": 1,
        }
        reset(app)


def test_the_screen_and_the_api_at_once_bill_each_item_once(app, world, live_server):
    chosen = [f"order_line:{world.line_b}", f"quota:{world.quota}"]
    screen = live_server.client().login("finance")
    rest = live_server.client().api_login("finance")
    for _round in range(ROUNDS):
        by_screen, by_api = at_once(
            partial(
                screen.post,
                f"/partner/{world.partner}/receivables/invoice",
                {"item": chosen},
                headers={"Referer": f"{live_server.url}/partner/{world.partner}/account"},
            ),
            partial(
                rest.request,
                "POST",
                f"/api/v1/partner/{world.partner}/receivables/invoice",
                json={"items": chosen},
            ),
        )
        screen_made = "The draft invoice was made" in by_screen.text
        assert screen_made != (by_api.status_code == 201), (by_screen.text[-1500:], by_api.text)
        assert screen_made or by_api.status_code == 201
        if screen_made:
            assert by_api.status_code == 409, by_api.text
        billed = drafts_billing(app, world)
        assert (billed["order_line"], billed["quota"], billed["drafts"]) == (1, 1, 1)
        reset(app)


def test_finance_sets_the_fee_billing_and_the_overuse_price_in_the_forms(app, login):
    with app.app_context():
        partner = f.company(name="Ksi Kft.")
        pid = partner.id
    finance = login("finance")
    answer = finance.post(
        "/contracts/add",
        data={
            "partner": str(pid),
            "name": "Karbantartás",
            "price": "5000",
            "currency": "HUF",
            "billing": "quarterly",
            "vat_rate": "5",
            "starts_on": first_of_month(1).isoformat(),
            "status": "active",
        },
    )
    assert answer.status_code == 302
    with app.app_context():
        contract = db.session.scalar(select(Contract).where(Contract.partner_id == pid))
        assert (contract.billing, contract.vat_rate) == ("quarterly", 5)
        cid = contract.id
    quota = {"name": "Órák", "unit": "hour", "bought": "5", "used": "7"}
    refused = finance.post(f"/quotas/add?_flt_0_contract={cid}", quota)
    assert "Give a price for units beyond those bought" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Quota.id))) == 0
    finance.post(f"/quotas/add?_flt_0_contract={cid}", {**quota, "overuse_price": "800"})
    with app.test_request_context():
        items = {i.kind: i for i in open_receivables(pid)}
        assert (items["quota"].quantity, items["quota"].unit_price) == (2, 800)
        assert (items["contract"].unit_price, items["contract"].vat_rate) == (5000, 5)
    page = finance.get(f"/partner/{pid}/account").get_data(as_text=True)
    assert "Karbantartás" in page and "Órák" in page


def test_a_billed_contract_or_quota_is_not_deleted(app, world, login):
    with app.test_request_context():
        invoice_receivables(world.partner, None, [periods(world)[0], f"quota:{world.quota}"])
    finance = login("finance")
    for url in (f"/quotas/delete/{world.quota}", f"/contracts/delete/{world.contract}"):
        answer = finance.post(url, follow_redirects=True)
        assert answer.status_code in (200, 409), url
        assert "still used by other records" in answer.get_data(as_text=True), url
    with app.app_context():
        assert db.session.get(Contract, world.contract) is not None
        assert db.session.get(Quota, world.quota) is not None


def test_odd_keys_are_refused_with_a_message(app, world, api):
    finance = api("finance")
    for key in ("order_line:²", "quota:", "quota:-1", "contract:1:x", f"quota:{world.quota}:x"):
        answer = finance.post(
            f"/api/v1/partner/{world.partner}/receivables/invoice", json={"items": [key]}
        )
        assert answer.status_code in (400, 409), (key, answer.get_data(as_text=True))


def test_the_account_tab_takes_a_bounded_number_of_queries(app, world, login, queries):
    finance = login("finance")
    url = f"/partner/{world.partner}/account"

    def count() -> int:
        finance.get(url)
        with queries() as q:
            assert finance.get(url).status_code == 200
        return q.count

    few = count()
    with app.test_request_context():
        for n in range(5):
            made = order(
                world.partner,
                "delivered",
                [{"description": f"Tétel {n}", "quantity": 1, "unit_price": 10}] * 3,
                f"O-{TODAY.year}/0001{n:02d}",
            )
            with acting_as(None):
                contract = Contract(
                    partner_id=world.partner,
                    name=f"Szerződés {n}",
                    price=10,
                    starts_on=first_of_month(2),
                    billing="monthly",
                )
                contract.quotas = [Quota(name="Óra", bought=1, used=3, overuse_price=5)]
                db.session.add(contract)
            assert len(made.lines) == 3
    many = count()
    assert many == few, (few, many)
