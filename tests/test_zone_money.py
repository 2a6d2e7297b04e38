"""Money in the Client Zone: a zone user sees their company's issued invoices and credit notes
(with the PDF staff print), the balance and the overdue sums, and the documents visible in the
zone — never a draft, never anything of another partner."""

import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.errors import InvalidValue
from app.extensions import db
from app.formatting import money_text
from app.models import Document, Invoice, Offer
from app.services import acting_as, documents, invoicing, zone
from tests import factories as f
from tests.conftest import user_id
from tests.pdf_text import page_text
from tests.test_zone import World, contact, invite, zone_login
from tests.test_zone import world as zone_world  # noqa: F401  (the zone users' fixture)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Money:
    zone: World
    alfa_issued: int  # 1270 HUF, overdue, 500 paid
    alfa_eur: int  # 254 EUR, not due yet
    alfa_draft: int
    alfa_cancelled: int
    alfa_credit_note: int
    beta_issued: int
    partner_issued: int  # the distributor's own invoice
    alfa_zone_doc: int
    alfa_all_doc: int
    alfa_role_doc: int
    beta_zone_doc: int


def invoice(app, partner_id: int, amount, currency="HUF", issue=True, days_ago=0, text="Audit"):
    with app.test_request_context():
        draft = invoicing.create_draft(
            partner_id,
            None,
            [{"description": text, "quantity": 1, "unit_price": amount, "vat_rate": 27}],
            currency=currency,
            issue_date=date.today() - timedelta(days=days_ago),
        )
        if issue:
            invoicing.issue(draft.id, None)
        return draft.id


def document(app, partner_id: int, name: str, visibility: str, **kw) -> int:
    with app.test_request_context():
        return documents.attach(
            partner_id,
            user_id(app, "staff"),
            name,
            io.BytesIO(PDF),
            visibility=visibility,
            description=kw.pop("description", None),
            **kw,
        ).id


@pytest.fixture
def money(app, zone_world) -> Money:  # noqa: F811
    w = zone_world
    alfa_issued = invoice(app, w.alfa, 1000, days_ago=30, text="Könyvvizsgálat")
    with app.test_request_context():
        invoicing.record_payment(alfa_issued, None, 500)
    alfa_eur = invoice(app, w.alfa, 200, "EUR", text="Beratung")
    alfa_draft = invoice(app, w.alfa, 999, issue=False, text="Piszkozat tétel")
    alfa_cancelled = invoice(app, w.alfa, 300, text="Visszavont tétel")
    with app.test_request_context():
        credit_note = invoicing.cancel(alfa_cancelled, None).id
    with app.app_context():
        role = db.session.scalar(
            select(app.appbuilder.sm.role_model).where(
                app.appbuilder.sm.role_model.name == "Finance"
            )
        )
        finance_role = role.id
    return Money(
        zone=w,
        alfa_issued=alfa_issued,
        alfa_eur=alfa_eur,
        alfa_draft=alfa_draft,
        alfa_cancelled=alfa_cancelled,
        alfa_credit_note=credit_note,
        beta_issued=invoice(app, w.beta, 4000, days_ago=40, text="Béta munka"),
        partner_issued=invoice(app, w.partner_co, 700, "PLN", text="Prowizja"),
        alfa_zone_doc=document(app, w.alfa, "szerződés-alfa.pdf", "zone", description="Aláírt"),
        alfa_all_doc=document(app, w.alfa, "belső-alfa.pdf", "all"),
        alfa_role_doc=document(app, w.alfa, "pénzügy-alfa.pdf", "roles", role_ids=[finance_role]),
        beta_zone_doc=document(app, w.beta, "szerződés-béta.pdf", "zone"),
    )


def shown(app, amount, currency: str) -> str:
    """An amount as the page in English shows it."""
    with app.test_request_context():
        return money_text(Decimal(amount), currency, locale="en")


def number_of(app, invoice_id: int) -> str:
    with app.app_context():
        return db.session.get(Invoice, invoice_id).number


def test_a_client_sees_the_companys_issued_invoices_balance_and_overdue_sums(app, money, login):
    anna = zone_login(login, "anna")
    anna.lang("en")
    page = anna.get("/portal/account/").get_data(as_text=True)
    for iid in (money.alfa_issued, money.alfa_eur, money.alfa_cancelled, money.alfa_credit_note):
        assert number_of(app, iid) in page
        assert f"/portal/invoices/{iid}/pdf" in page
    assert f"/portal/invoices/{money.alfa_draft}/pdf" not in page
    assert "Piszkozat" not in page
    assert number_of(app, money.beta_issued) not in page
    assert number_of(app, money.partner_issued) not in page
    balance = page.split('class="table table-condensed portal-balance"')[1].split("</table>")[0]
    huf = balance.split('data-currency="HUF"')[1].split("</tr>")[0]
    # 1270 invoiced and 500 paid: 770 outstanding, all overdue (due eight days after 30 days ago).
    assert shown(app, 770, "HUF") in huf.split('class="text-right balance"')[1].split("</td>")[0]
    assert shown(app, 770, "HUF") in huf.split("overdue")[1].split("</td>")[0]
    eur = balance.split('data-currency="EUR"')[1].split("</tr>")[0]
    assert shown(app, 254, "EUR") in eur.split('class="text-right balance"')[1].split("</td>")[0]
    assert shown(app, 0, "EUR") in eur.split("overdue")[1].split("</td>")[0]
    assert "Credit note" in page and "Overdue" in page
    assert 'href="/portal/account/"' in anna.get("/portal/").get_data(as_text=True)


def test_the_zone_figures_are_the_staff_current_account(app, money):
    with app.test_request_context():
        seen = zone.account(money.zone.anna)
        staff = invoicing.current_account(money.zone.alfa)
        assert seen["totals"] == staff["totals"]
        assert [r["invoice"].id for r in seen["rows"]] == [r["invoice"].id for r in staff["rows"]]
        assert seen["totals"]["HUF"]["overdue"] == Decimal("770.00")
        assert zone.account(money.zone.bela)["totals"]["HUF"]["outstanding"] == Decimal("5080.00")


def test_a_client_downloads_the_invoice_pdf_staff_print(app, money, login):
    anna = zone_login(login, "anna")
    answer = anna.get(f"/portal/invoices/{money.alfa_issued}/pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert "attachment" in answer.headers["Content-Disposition"]
    staff = login("finance").get(f"/invoice/{money.alfa_issued}/pdf")
    assert page_text(answer.data) == page_text(staff.data)
    assert "Könyvvizsgálat" in page_text(answer.data)
    note = anna.get(f"/portal/invoices/{money.alfa_credit_note}/pdf")
    assert note.status_code == 200 and note.mimetype == "application/pdf"


def test_no_draft_and_nothing_of_another_partner_is_downloaded(app, money, login):
    anna, bela, piotr = (zone_login(login, who) for who in ("anna", "bela", "piotr"))
    assert anna.get(f"/portal/invoices/{money.alfa_draft}/pdf").status_code == 404
    assert anna.get(f"/portal/invoices/{money.beta_issued}/pdf").status_code == 404
    assert bela.get(f"/portal/invoices/{money.alfa_issued}/pdf").status_code == 404
    assert bela.get(f"/portal/invoices/{money.beta_issued}/pdf").status_code == 200
    assert anna.get(f"/portal/documents/{money.beta_zone_doc}/file").status_code == 404
    assert bela.get(f"/portal/documents/{money.alfa_zone_doc}/file").status_code == 404
    assert anna.get("/portal/invoices/999999/pdf").status_code == 404
    for iid in (money.alfa_issued, money.beta_issued):
        assert piotr.get(f"/portal/invoices/{iid}/pdf").status_code == 404


def test_a_partner_zone_user_sees_only_the_distributors_own_invoices(app, money, login):
    """A distributor's zone user sees none of the invoices of the clients it brings, even of
    an offer it is the distributor of."""
    with app.app_context(), acting_as(None):
        db.session.add(
            Offer(
                name="Alfa – via partner",
                partner_id=money.zone.alfa,
                distributor_id=money.zone.partner_co,
                amount=100,
            )
        )
    piotr = zone_login(login, "piotr")
    page = piotr.get("/portal/account/").get_data(as_text=True)
    assert number_of(app, money.partner_issued) in page
    for iid in (money.alfa_issued, money.alfa_eur, money.beta_issued, money.alfa_credit_note):
        assert number_of(app, iid) not in page
    with app.test_request_context():
        seen = zone.account(money.zone.piotr)
        assert [r["invoice"].id for r in seen["rows"]] == [money.partner_issued]
        assert set(seen["totals"]) == {"PLN"}


def test_a_client_sees_and_downloads_only_documents_visible_in_the_zone(app, money, login):
    anna = zone_login(login, "anna")
    page = anna.get("/portal/documents/").get_data(as_text=True)
    assert "szerződés-alfa.pdf" in page and "Aláírt" in page
    for name in ("belső-alfa.pdf", "pénzügy-alfa.pdf", "szerződés-béta.pdf"):
        assert name not in page
    download = anna.get(f"/portal/documents/{money.alfa_zone_doc}/file")
    assert download.status_code == 200 and download.data == PDF
    assert "attachment" in download.headers["Content-Disposition"]
    for doc in (money.alfa_all_doc, money.alfa_role_doc, money.beta_zone_doc):
        assert anna.get(f"/portal/documents/{doc}/file").status_code == 404
    assert "szerződés-alfa.pdf" not in zone_login(login, "piotr").get(
        "/portal/documents/"
    ).get_data(as_text=True)


def test_staff_see_a_zone_document_as_one_for_everyone_who_sees_the_partner(app, money, login):
    page = login("readonly").get(f"/partner/{money.zone.alfa}/documents").get_data(as_text=True)
    assert "szerződés-alfa.pdf" in page and "Visible in the zone" in page
    assert login("readonly").get(f"/documents/{money.alfa_zone_doc}/download").status_code == 200
    with app.app_context():
        sm = app.appbuilder.sm
        for username in ("staff", "readonly", "manager"):
            user = sm.find_user(username=username)
            assert documents.find_visible(user, money.alfa_zone_doc) is not None


def test_zone_users_reach_no_document_through_the_staff_routes(app, money, login, api):
    anna = zone_login(login, "anna")
    assert anna.get(f"/documents/{money.alfa_zone_doc}/download").status_code in (403, 404)
    rest = api("anna@alfa.example", "anna-password")
    assert rest.get(f"/api/v1/document/{money.alfa_zone_doc}/download").status_code in (403, 404)
    assert rest.get(f"/api/v1/invoice/{money.alfa_issued}").status_code in (401, 403, 404)


def test_the_portal_money_pages_only_for_zone_users(app, money, login):
    urls = [
        ("/portal/account/", "anna bela piotr"),
        ("/portal/documents/", "anna bela piotr"),
        (f"/portal/invoices/{money.alfa_issued}/pdf", "anna"),
        (f"/portal/invoices/{money.alfa_credit_note}/pdf", "anna"),
        (f"/portal/invoices/{money.alfa_draft}/pdf", ""),
        (f"/portal/invoices/{money.beta_issued}/pdf", "bela"),
        (f"/portal/invoices/{money.partner_issued}/pdf", "piotr"),
        (f"/portal/documents/{money.alfa_zone_doc}/file", "anna"),
        (f"/portal/documents/{money.alfa_all_doc}/file", ""),
        (f"/portal/documents/{money.beta_zone_doc}/file", "bela"),
    ]
    clients = {who: zone_login(login, who) for who in ("anna", "bela", "piotr")}
    clients["staff"], clients["admin"] = login("staff"), login("admin")
    anonymous = login()
    for url, allowed in urls:
        for who, client in clients.items():
            status = client.get(url).status_code
            if who in allowed.split():
                assert status == 200, (url, who, status)
            else:
                assert status in (403, 404), (url, who, status)
        assert anonymous.get(url).status_code == 302, url


def test_a_suspended_zone_user_sees_no_money(app, money):
    with app.test_request_context():
        zone.set_suspended(money.zone.anna, True, None)
        assert zone.account(money.zone.anna) is None
        assert zone.find_invoice(money.zone.anna, money.alfa_issued) is None
        user = app.appbuilder.sm.get_user_by_id(money.zone.anna)
        assert zone.documents(user) == []


def test_staff_set_a_document_visible_in_the_zone_on_the_data_sheet(app, money, login):
    staff = login("staff")
    form = staff.get(f"/partner/{money.zone.alfa}/documents").get_data(as_text=True)
    assert '<option value="zone">Visible in the zone</option>' in form
    answer = staff.post(
        f"/documents/upload/{money.zone.alfa}",
        data={
            "file": (io.BytesIO(PDF), "jegyzőkönyv.pdf"),
            "visibility": "zone",
            "description": "Átadás-átvétel",
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    page = zone_login(login, "anna").get("/portal/documents/").get_data(as_text=True)
    assert "jegyzőkönyv.pdf" in page
    assert "jegyzőkönyv.pdf" not in zone_login(login, "bela").get("/portal/documents/").get_data(
        as_text=True
    )


def test_the_api_attaches_a_document_visible_in_the_zone(app, money, api, login):
    http = app.test_client()
    token = http.post(
        "/api/v1/security/login",
        json={"username": "staff", "password": "staff-pw", "provider": "db"},
    ).get_json()["access_token"]
    answer = http.post(
        "/api/v1/document/",
        data={
            "file": (io.BytesIO(PDF), "api-zóna.pdf"),
            "partner": money.zone.alfa,
            "visibility": "zone",
        },
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json()["result"]["visibility"] == "zone"
    assert "api-zóna.pdf" in zone_login(login, "anna").get("/portal/documents/").get_data(
        as_text=True
    )


def test_an_unknown_visibility_is_refused_and_the_database_knows_zone(app, ctx):
    partner = f.company(name="Gamma Zrt.")
    with pytest.raises(InvalidValue):
        Document(visibility="clients")
    with acting_as(None):
        db.session.add(
            Document(
                partner_id=partner.id,
                filename="a.pdf",
                stored_name="0" * 32,
                content_type="application/pdf",
                size=3,
                visibility="zone",
            )
        )
    assert db.session.scalar(select(Document.visibility)) == "zone"


def test_the_zone_pages_take_a_bounded_number_of_queries(app, money, login, queries):
    anna = zone_login(login, "anna")

    def count(url):
        anna.get(url)
        with queries() as q:
            assert anna.get(url).status_code == 200
        return q.count

    few = {url: count(url) for url in ("/portal/account/", "/portal/documents/")}
    for i in range(6):
        invoice(app, money.zone.alfa, 100 + i, text=f"Tétel {i}")
        document(app, money.zone.alfa, f"irat-{i}.pdf", "zone")
    many = {url: count(url) for url in few}
    assert many == few, (few, many)


def test_the_portal_speaks_the_zone_users_language(app, money, login):
    person = contact(app, money.zone.partner_co, "Jan", "Kowalski", "jan@partner.example", "pl")
    invite(app, person, money.zone.partner_co, "partner", "jan-password-1")
    jan = login("jan@partner.example", "jan-password-1")
    jan.lang("pl")
    page = jan.get("/portal/account/").get_data(as_text=True)
    assert "Faktury i saldo" in page
    assert "Dokumenty" in jan.get("/portal/documents/").get_data(as_text=True)


def test_a_zone_user_with_a_staff_role_too_still_sees_only_the_own_partners_zone(app, money):
    with app.test_request_context():
        sm = app.appbuilder.sm
        user = sm.get_user_by_id(money.zone.anna)
        user.roles.append(sm.find_role("Read-only"))
        db.session.commit()
        user = sm.get_user_by_id(money.zone.anna)
        assert [d.id for d in zone.documents(user)] == [money.alfa_zone_doc]
        assert zone.find_document(user, money.beta_zone_doc) is None
        assert zone.find_document(user, money.alfa_all_doc) is None
        assert zone.find_invoice(money.zone.anna, money.beta_issued) is None
