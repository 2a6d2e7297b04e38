"""The lines editor of a draft invoice and of an offer: lines added, changed and removed on
their page through `POST /invoice|offer/<id>/lines…` (JSON from dossier/lines.js, or a plain
form), numbers typed in the user's locale, the model's refusals beside the field in the
user's language, and totals as the server computes them."""

from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import select

from app.errors import OfferLocked, ZoneForbidden
from app.extensions import db
from app.formatting import money_text, parse_number
from app.models import Invoice, InvoiceLine, Offer, OfferLine, Product
from app.services import acting_as, invoicing
from app.services import lines as service
from tests import factories as f
from tests.conftest import at_once, user_id
from tests.test_zone import contact, invite


def make_product(app, **kw) -> int:
    with app.app_context(), acting_as(None):
        fields = {
            "code": "KONYV",
            "name": "Könyvelés",
            "unit": "month",
            "price": Decimal("45000"),
            "vat_rate": Decimal("27"),
            **kw,
        }
        product = Product(**fields)
        db.session.add(product)
        db.session.flush()
        return product.id


def make_draft(app, currency="HUF") -> int:
    with app.app_context():
        partner = f.company(name="Duna Építő Kft.", language="hu")
        return invoicing.new_draft(partner.id, None, currency=currency).id


def make_offer(app, currency="EUR", status=None) -> int:
    with app.app_context(), acting_as(None):
        partner = f.company(name="Tisza Zrt.", language="hu")
        offer = Offer(name="CRM bevezetés", partner=partner, currency=currency)
        db.session.add(offer)
        db.session.flush()
        offer_id = offer.id
    if status:
        with app.app_context(), acting_as(None):
            db.session.get(Offer, offer_id).status = status
    return offer_id


def post_json(client, url, payload):
    return client.http.post(url, json=payload, headers={"X-CSRFToken": client.csrf})


def stored_lines(app, model, link, owner_id):
    with app.app_context():
        return db.session.scalars(
            select(model).where(getattr(model, link) == owner_id).order_by(model.position)
        ).all()


# --- numbers as typed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "typed", "number"),
    [
        ("hu", "12,5", "12.5"),
        ("hu", "1 234,50", "1234.50"),
        ("hu", "2\u00a0500", "2500"),
        ("pl", "0,75", "0.75"),
        ("de", "1.000,5", "1000.5"),
        ("de", "1.000", "1000"),
        ("de", "2,5", "2.5"),
        ("ru", "3,125", "3.125"),
        ("en", "1,000", "1000"),
        ("en", "1.5", "1.5"),
        ("en", "-4", "-4"),
        ("hu", "", None),
    ],
)
def test_numbers_are_read_as_the_users_locale_writes_them(app, locale, typed, number):
    with app.app_context():
        found = parse_number(typed, locale)
    assert found == (None if number is None else Decimal(number))


@pytest.mark.parametrize("typed", ["abc", "1,2,3", "1e5", "12,5 Ft", "--1"])
def test_what_is_not_a_number_is_refused(app, typed):
    with app.app_context(), pytest.raises(ValueError):
        parse_number(typed, "hu")


# --- a draft invoice ----------------------------------------------------------------------


def test_a_draft_invoice_page_shows_the_editor_and_its_totals_before_it_is_issued(app, login):
    invoice_id = make_draft(app)
    with app.app_context():
        invoicing.add_line(
            invoice_id, None, description="Tanácsadás", quantity=2, unit_price=1000, vat_rate=27
        )
        invoicing.add_line(
            invoice_id, None, description="Könyv", quantity=1, unit_price=500, vat_rate=5
        )
    finance = login("finance")
    finance.lang("hu")
    page = finance.get(f"/invoices/show/{invoice_id}").get_data(as_text=True)
    assert 'class="panel panel-default lines-editor lines-editable"' in page
    assert f'action="/invoice/{invoice_id}/lines"' in page  # the new line's row
    assert "Tanácsadás" in page and "dossier/lines.js" in page
    with app.test_request_context():
        for amount in ("2000", "500", "2500", "540", "25", "565", "3065"):
            assert money_text(Decimal(amount), "HUF", "hu") in page, amount
    assert "Nettó összesen" in page  # translated headings


def test_choosing_a_product_fills_the_line_and_the_totals_follow(app, login):
    invoice_id = make_draft(app)
    product = make_product(app)
    finance = login("finance")
    finance.lang("hu")
    # The picker's answer carries what choosing the product fills, as the user types numbers.
    choices = finance.get("/pick/product/?q=könyv").get_json()
    assert choices[0]["id"] == product
    assert (choices[0]["description"], choices[0]["unit"]) == ("Könyvelés", "month")
    assert (choices[0]["unit_price"], choices[0]["vat_rate"]) == ("45000", "27")
    # Left empty, the line takes them from the product; the quantity with a decimal comma.
    answer = post_json(
        finance, f"/invoice/{invoice_id}/lines", {"product": product, "quantity": "1,5"}
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    line = body["line"]
    assert (line["description"], line["unit"], line["quantity"]) == ("Könyvelés", "month", "1,5")
    assert (line["unit_price"], line["vat_rate"]) == ("45000", "27")
    with app.test_request_context():
        assert line["net"] == money_text(Decimal("67500"), "HUF", "hu")
        assert body["totals"]["vat"] == money_text(Decimal("18225"), "HUF", "hu")
        assert body["totals"]["gross"] == money_text(Decimal("85725"), "HUF", "hu")
    assert body["totals"]["summary"] == [
        {"rate": "27", "net": line["net"], "vat": body["totals"]["vat"]}
    ]
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert (invoice.net_total, invoice.vat_total) == (Decimal("67500"), Decimal("18225"))


def test_a_line_is_changed_and_removed_without_leaving_the_page(app, login):
    invoice_id = make_draft(app, currency="EUR")
    finance = login("finance")
    finance.lang("de")
    added = post_json(
        finance,
        f"/invoice/{invoice_id}/lines",
        {
            "description": "Beratung",
            "quantity": "2",
            "unit": "hour",
            "unit_price": "80,5",
            "vat_rate": "19",
        },
    ).get_json()["line"]
    second = post_json(
        finance,
        f"/invoice/{invoice_id}/lines",
        {"description": "Buch", "quantity": "1", "unit_price": "20", "vat_rate": "7"},
    ).get_json()
    assert [r["description"] for r in second["lines"]] == ["Beratung", "Buch"]
    changed = post_json(finance, f"/invoice/{invoice_id}/lines/{added['id']}", {"quantity": "3,25"})
    assert changed.status_code == 200
    body = changed.get_json()
    assert body["line"]["quantity"] == "3,25" and body["line"]["description"] == "Beratung"
    # 3.25 × 80.50 = 261.625 → 261.62 (half to even, as Decimal.quantize); VAT 19 %: 49.71
    with app.test_request_context():
        assert body["line"]["net"] == money_text(Decimal("261.62"), "EUR", "de")
        assert body["totals"]["net"] == money_text(Decimal("281.62"), "EUR", "de")
        assert body["totals"]["vat"] == money_text(Decimal("49.71") + Decimal("1.40"), "EUR", "de")
    assert [r["rate"] for r in body["totals"]["summary"]] == ["7", "19"]
    removed = post_json(finance, f"/invoice/{invoice_id}/lines/{added['id']}/delete", {})
    assert removed.status_code == 200
    assert [r["description"] for r in removed.get_json()["lines"]] == ["Buch"]
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert (invoice.net_total, invoice.gross_total) == (Decimal("20.00"), Decimal("21.40"))
        assert [line.description for line in invoice.lines] == ["Buch"]


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "Not a number."),
        ("hu", "Nem szám."),
        ("de", "Keine Zahl."),
        ("pl", "To nie jest liczba."),
        ("ru", "Это не число."),
    ],
)
def test_a_bad_number_is_refused_beside_its_field_in_the_users_language(app, login, lang, message):
    invoice_id = make_draft(app)
    finance = login("finance")
    finance.lang(lang)
    answer = post_json(
        finance, f"/invoice/{invoice_id}/lines", {"description": "X", "quantity": "két"}
    )
    assert answer.status_code == 400
    assert answer.get_json()["errors"] == {"quantity": message}
    assert stored_lines(app, InvoiceLine, "invoice_id", invoice_id) == []


def test_the_models_refusals_come_back_by_field(app, login):
    invoice_id = make_draft(app)
    finance = login("finance")
    finance.lang("hu")
    for payload, field in [
        ({"description": "X", "quantity": "0"}, "quantity"),
        ({"description": "X", "quantity": "1", "vat_rate": "120"}, "vat_rate"),
        ({"description": "", "quantity": "1"}, "description"),
        ({"description": "X", "quantity": "1,2345"}, "quantity"),
        ({"description": "X", "quantity": ""}, "quantity"),
        ({"product": "999999", "quantity": "1"}, "product"),
        ({"description": "X", "quantity": "1 000 000 000"}, "quantity"),
        ({"description": "X", "quantity": "1", "unit_price": "1000000000000"}, "unit_price"),
    ]:
        answer = post_json(finance, f"/invoice/{invoice_id}/lines", payload)
        assert answer.status_code == 400, payload
        errors = answer.get_json()["errors"]
        assert list(errors) == [field], (payload, errors)
        assert errors[field] and "must" not in errors[field]  # Hungarian, not the source
    assert stored_lines(app, InvoiceLine, "invoice_id", invoice_id) == []


def test_the_lines_of_an_issued_invoice_are_refused_and_shown_read_only(app, login):
    with app.app_context():
        f.our_company()
    invoice_id = make_draft(app)
    with app.app_context():
        line = invoicing.add_line(invoice_id, None, description="Díj", quantity=1, unit_price=100)
        line_id = line.id
        invoicing.issue(invoice_id, None)
    finance = login("finance")
    finance.lang("hu")
    for url, payload in [
        (f"/invoice/{invoice_id}/lines", {"description": "Új", "quantity": "1"}),
        (f"/invoice/{invoice_id}/lines/{line_id}", {"quantity": "5"}),
        (f"/invoice/{invoice_id}/lines/{line_id}/delete", {}),
    ]:
        answer = post_json(finance, url, payload)
        assert answer.status_code == 409, url
        assert "nem módosítható" in answer.get_json()["message"]
    assert [
        (x.description, x.quantity)
        for x in stored_lines(app, InvoiceLine, "invoice_id", invoice_id)
    ] == [("Díj", Decimal("1.000"))]
    page = finance.get(f"/invoices/show/{invoice_id}").get_data(as_text=True)
    assert "lines-editable" not in page and 'name="quantity"' not in page
    assert "Díj" in page


def test_a_line_of_another_invoice_is_not_found(app, login):
    first, second = make_draft(app), make_draft(app)
    with app.app_context():
        line_id = invoicing.add_line(first, None, description="Díj", quantity=1).id
    finance = login("finance")
    assert (
        post_json(finance, f"/invoice/{second}/lines/{line_id}", {"quantity": "2"}).status_code
        == 404
    )
    assert post_json(finance, f"/invoice/{second}/lines/{line_id}/delete", {}).status_code == 404
    assert post_json(finance, "/invoice/999999/lines", {"description": "X"}).status_code == 404


def test_who_may_not_write_invoices_changes_no_line(app, login):
    invoice_id = make_draft(app)
    staff = login("staff")  # reads invoices, writes none
    assert post_json(staff, f"/invoice/{invoice_id}/lines", {"description": "X"}).status_code == 403
    page = staff.get(f"/invoices/show/{invoice_id}").get_data(as_text=True)
    assert "lines-editable" not in page
    assert stored_lines(app, InvoiceLine, "invoice_id", invoice_id) == []


def test_a_change_needs_the_pages_csrf_token(app, login):
    invoice_id = make_draft(app)
    finance = login("finance")
    answer = finance.http.post(f"/invoice/{invoice_id}/lines", json={"description": "X"})
    assert answer.status_code == 400
    assert stored_lines(app, InvoiceLine, "invoice_id", invoice_id) == []


def test_without_javascript_each_row_is_a_form_that_comes_back_to_the_page(app, login):
    invoice_id = make_draft(app)
    product = make_product(app)
    finance = login("finance")
    finance.lang("pl")
    answer = finance.post(
        f"/invoice/{invoice_id}/lines",
        {
            "product": str(product),
            "description": "",
            "quantity": "2,5",
            "unit": "",
            "unit_price": "",
            "vat_rate": "",
        },
    )
    assert answer.status_code == 302 and answer.location.endswith(f"/invoices/show/{invoice_id}")
    [line] = stored_lines(app, InvoiceLine, "invoice_id", invoice_id)
    assert (line.description, line.quantity, line.unit_price) == (
        "Könyvelés",
        Decimal("2.500"),
        Decimal("45000.00"),
    )
    refused = finance.post(f"/invoice/{invoice_id}/lines/{line.id}", {"quantity": "zero"})
    page = finance.get(refused.location).get_data(as_text=True)
    assert "To nie jest liczba." in page  # the refusal, in Polish, on the page
    finance.post(f"/invoice/{invoice_id}/lines/{line.id}/delete", {})
    assert stored_lines(app, InvoiceLine, "invoice_id", invoice_id) == []


# --- an offer -----------------------------------------------------------------------------


def test_an_offers_lines_carry_a_discount_and_round_as_the_model_does(app, login):
    offer_id = make_offer(app, currency="EUR")
    staff = login("staff")
    staff.lang("hu")
    page = staff.get(f"/offers/show/{offer_id}").get_data(as_text=True)
    assert 'name="discount"' in page and f'action="/offer/{offer_id}/lines"' in page
    # 3 × 10.05 − 12.5 % = 26.38125 → 26.38; VAT 27 % of it 7.1226 → 7.12
    answer = post_json(
        staff,
        f"/offer/{offer_id}/lines",
        {
            "description": "Licenc",
            "quantity": "3",
            "unit": "licence",
            "unit_price": "10,05",
            "discount": "12,5",
            "vat_rate": "27",
        },
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["line"]["discount"] == "12,5"
    with app.test_request_context():
        assert body["line"]["net"] == money_text(Decimal("26.38"), "EUR", "hu")
        assert body["totals"]["vat"] == money_text(Decimal("7.12"), "EUR", "hu")
        assert body["totals"]["gross"] == money_text(Decimal("33.50"), "EUR", "hu")
    line_id = body["line"]["id"]
    changed = post_json(staff, f"/offer/{offer_id}/lines/{line_id}", {"discount": "101"})
    assert changed.status_code == 400 and list(changed.get_json()["errors"]) == ["discount"]
    post_json(staff, f"/offer/{offer_id}/lines/{line_id}", {"discount": ""})
    [line] = stored_lines(app, OfferLine, "offer_id", offer_id)
    assert (line.discount, line.net) == (Decimal("0.00"), Decimal("30.15"))
    assert post_json(staff, f"/offer/{offer_id}/lines/{line_id}/delete", {}).status_code == 200
    assert stored_lines(app, OfferLine, "offer_id", offer_id) == []


def test_a_product_fills_an_offer_line_left_empty(app, login):
    offer_id = make_offer(app, currency="HUF")
    product = make_product(
        app, code="AUDIT", name="Audit", unit="day", price=Decimal("120000"), vat_rate=Decimal("5")
    )
    staff = login("staff")
    answer = post_json(staff, f"/offer/{offer_id}/lines", {"product": product, "quantity": "2"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    [line] = stored_lines(app, OfferLine, "offer_id", offer_id)
    assert (line.description, line.unit, line.unit_price, line.vat_rate) == (
        "Audit",
        "day",
        Decimal("120000.00"),
        Decimal("5.00"),
    )


@pytest.mark.parametrize("status", ["won", "lost"])
def test_the_lines_of_a_decided_offer_are_refused(app, login, status):
    offer_id = make_offer(app)
    with app.app_context(), acting_as(None):
        offer = db.session.get(Offer, offer_id)
        offer.lines.append(
            OfferLine(description="Licenc", quantity=1, unit="pc", unit_price=10, vat_rate=27)
        )
    line_id = stored_lines(app, OfferLine, "offer_id", offer_id)[0].id
    with app.app_context(), acting_as(None):
        db.session.get(Offer, offer_id).status = status
    staff = login("staff")
    staff.lang("de")
    for url, payload in [
        (f"/offer/{offer_id}/lines", {"description": "Neu", "quantity": "1"}),
        (f"/offer/{offer_id}/lines/{line_id}", {"quantity": "5"}),
        (f"/offer/{offer_id}/lines/{line_id}/delete", {}),
    ]:
        answer = post_json(staff, url, payload)
        assert answer.status_code == 409, url
        assert "Angebot" in answer.get_json()["message"]
    assert [x.quantity for x in stored_lines(app, OfferLine, "offer_id", offer_id)] == [
        Decimal("1.000")
    ]
    page = staff.get(f"/offers/show/{offer_id}").get_data(as_text=True)
    assert "lines-editable" not in page and "Licenc" in page
    # The same rule below every entry point.
    with app.app_context(), pytest.raises(OfferLocked):
        service.change_line("offer", offer_id, line_id, None, {"quantity": Decimal(2)})


def test_zone_users_change_no_line(app, login, mailbox):
    offer_id = make_offer(app)
    with app.app_context():
        company = db.session.get(Offer, offer_id).partner_id
    person = contact(app, company, "Zsófia", "Zónás", "zsofia@zona.example")
    zone_user = invite(app, person, company, "client", "zsofia-password-1")
    zoned = login("zsofia@zona.example", "zsofia-password-1")
    assert post_json(zoned, f"/offer/{offer_id}/lines", {"description": "X"}).status_code == 403
    from app import _request_user_roles
    from app.models import set_actor_roles_provider

    with app.app_context():
        set_actor_roles_provider(lambda: {"Client"})
        try:
            with pytest.raises(ZoneForbidden):
                service.add_line("offer", offer_id, zone_user, {"description": "X"})
        finally:
            set_actor_roles_provider(_request_user_roles)
    assert stored_lines(app, OfferLine, "offer_id", offer_id) == []
    assert user_id(app, "zsofia@zona.example") == zone_user


def test_the_editor_takes_the_same_queries_for_few_lines_and_many(app, login, queries):
    products = [make_product(app, code=f"P{i}", name=f"Termék {i}") for i in range(12)]
    few, many = make_draft(app), make_draft(app)
    with app.app_context():
        for invoice_id, count in ((few, 2), (many, 12)):
            for product in products[:count]:
                invoicing.add_line(invoice_id, None, product_id=product, quantity=1)
    finance = login("finance")
    counts = []
    for invoice_id in (few, many):
        finance.get(f"/invoices/show/{invoice_id}")  # warm: the menu, the permissions
        with queries() as counted:
            page = finance.get(f"/invoices/show/{invoice_id}").get_data(as_text=True)
        assert page.count('class="line-row"') == (2 if invoice_id == few else 12)
        counts.append(counted.count)
    assert counts[0] == counts[1], counts


# --- at once ------------------------------------------------------------------------------


def add_over_http(client, url: str, n: int):
    return client.request(
        "POST",
        url,
        json={"description": f"Tétel {n}", "quantity": "1", "unit_price": f"{100 + n},5"},
        headers={"X-CSRFToken": client.csrf},
    )


def test_lines_saved_at_once_on_one_draft_add_up(app, live_server):
    invoice_id = make_draft(app)
    clients = [live_server.client().login("finance") for _ in range(3)]
    url = f"/invoice/{invoice_id}/lines"
    for round_ in range(5):
        answers = at_once(
            *(partial(add_over_http, c, url, round_ * 10 + i) for i, c in enumerate(clients))
        )
        assert [a.status_code for a in answers] == [201] * 3, [a.text[:300] for a in answers]
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert sorted(line.position for line in invoice.lines) == list(range(1, 16))
        net = sum((line.net for line in invoice.lines), Decimal(0))
        vat = sum((line.vat for line in invoice.lines), Decimal(0))
        assert (invoice.net_total, invoice.vat_total) == (net, vat)
        assert net == sum(Decimal(f"{100 + r * 10 + i}.5") for r in range(5) for i in range(3))


def test_a_line_saved_while_the_draft_is_issued_is_on_it_or_refused(app, live_server):
    with app.app_context():
        f.our_company()
    finance = live_server.client().login("finance")
    adder = live_server.client().login("finance")
    for round_ in range(5):
        invoice_id = make_draft(app)
        with app.app_context():
            invoicing.add_line(invoice_id, None, description="Díj", quantity=1, unit_price=100)
        page = f"/invoices/show/{invoice_id}"
        added, _ = at_once(
            partial(add_over_http, adder, f"/invoice/{invoice_id}/lines", round_),
            partial(
                finance.post,
                f"/invoices/{invoice_id}/issue",
                headers={"Referer": live_server.url + page},
            ),
        )
        assert added.status_code in (201, 409), added.text[:300]
        with app.app_context():
            invoice = db.session.get(Invoice, invoice_id)
            assert invoice.status == "issued"
            assert len(invoice.lines) == (2 if added.status_code == 201 else 1)
            assert invoice.gross_total == sum((x.net + x.vat for x in invoice.lines), Decimal(0))


def test_totals_beyond_what_an_invoice_stores_are_refused_not_a_failure(app, login):
    invoice_id = make_draft(app)
    finance = login("finance")
    finance.lang("hu")
    answer = post_json(
        finance,
        f"/invoice/{invoice_id}/lines",
        {"description": "X", "quantity": "999999999", "unit_price": "999999999999"},
    )
    assert answer.status_code == 400
    assert answer.get_json()["message"].endswith("túl nagy.")
    assert stored_lines(app, InvoiceLine, "invoice_id", invoice_id) == []


def test_a_json_number_is_a_number_whatever_the_users_locale(app, login):
    invoice_id = make_draft(app, currency="EUR")
    finance = login("finance")
    finance.lang("de")
    url = f"/invoice/{invoice_id}/lines"
    as_number = post_json(finance, url, {"description": "A", "quantity": 1.125, "unit_price": 8})
    as_text = post_json(finance, url, {"description": "B", "quantity": "1.125", "unit_price": "8"})
    assert (as_number.status_code, as_text.status_code) == (201, 201)
    assert [x.quantity for x in stored_lines(app, InvoiceLine, "invoice_id", invoice_id)] == [
        Decimal("1.125"),
        Decimal("1125"),  # typed in German: a thousand one hundred and twenty-five
    ]
