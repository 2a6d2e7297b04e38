"""In a real browser: a form refused by a rule of the model keeps what was typed with the message
beside the field, and a form opened from a data sheet's tab comes back to that tab."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import Offer, Person
from tests import factories as f
from tests.e2e.conftest import log_in


def test_a_person_form_with_a_bad_email_keeps_its_input(app, server, page):
    log_in(page, server, "staff")
    page.goto(f"{server}/people/add")
    page.fill("#first_name", "Szilvia")
    page.fill("#last_name", "Őrsi")
    page.fill("#email", "szilvia@")
    page.fill("#phone", "+36 30 123 4567")
    with page.expect_navigation():
        page.click("#model_form button[type=submit]")
    # The same form again, with everything typed, and the reason in the e-mail field's row.
    assert page.input_value("#first_name") == "Szilvia"
    assert page.input_value("#last_name") == "Őrsi"
    assert page.input_value("#phone") == "+36 30 123 4567"
    assert page.input_value("#email") == "szilvia@"
    beside = page.locator("tr:has(#email) .alert-danger")
    assert beside.inner_text().strip() == "szilvia@ is not a valid e-mail address."
    with app.app_context():
        assert db.session.scalar(select(func.count(Person.id))) == 0


def test_saving_an_offer_opened_from_the_offers_tab_returns_to_that_tab(app, server, page):
    with app.app_context():
        company = f.company(name="Visztula Sp. z o.o.")
        pk = company.id
    log_in(page, server, "staff")
    page.goto(f"{server}/partner/{pk}/offers")
    with page.expect_navigation():
        page.click("a.btn-primary[href^='/offers/add']")
    page.fill("#name", "Nowa strona WWW")
    page.fill("#amount", "25000")
    with page.expect_navigation():
        page.click("#model_form button[type=submit]")
    assert page.url == f"{server}/partner/{pk}/offers"
    assert "Nowa strona WWW" in page.content()
    with app.app_context():
        assert db.session.scalar(select(Offer.partner_id)) == pk


def test_a_refused_payment_in_german_keeps_the_date_and_the_reference(app, server, page):
    from app.models import Invoice, Payment
    from app.services import invoicing

    with app.app_context():
        company = f.company(name="Donau GmbH")
        db.session.flush()
        invoice = invoicing.create_draft(
            company.id, None, [{"description": "Beratung", "quantity": 1, "unit_price": 100}]
        )
        invoicing.issue(invoice.id, None)
        db.session.commit()
        pk, invoice_id, due = company.id, invoice.id, str(invoice.gross_total)
    log_in(page, server, "finance")
    page.goto(f"{server}/lang/de")
    page.goto(f"{server}/partner/{pk}/account")
    page.fill(f"#amount-{invoice_id}", "zehn")
    page.fill(f"#paid_on-{invoice_id}", "30.11.2026")
    page.fill(f"#reference-{invoice_id}", "Überweisung 42/2026")
    with page.expect_navigation():
        page.click(f"#payment-{invoice_id} button")
    # The account tab again: the date and the reference as typed, the reason beside the amount.
    assert page.input_value(f"#paid_on-{invoice_id}") == "30.11.2026"
    assert page.input_value(f"#reference-{invoice_id}") == "Überweisung 42/2026"
    assert page.input_value(f"#amount-{invoice_id}") == "zehn"
    beside = page.locator(f".form-group:has(#amount-{invoice_id}) .help-block")
    assert beside.count() == 1
    reason = beside.inner_text().strip()
    assert reason and reason != "Not a valid decimal value."
    assert page.locator(".alert-danger").count() == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 0
    # Corrected, it is recorded and the tab comes back.
    page.fill(f"#amount-{invoice_id}", due)
    with page.expect_navigation():
        page.click(f"#payment-{invoice_id} button")
    assert page.url == f"{server}/partner/{pk}/account"
    with app.app_context():
        assert db.session.scalar(select(Payment.reference)) == "Überweisung 42/2026"
        assert db.session.get(Invoice, invoice_id).status == "paid"
