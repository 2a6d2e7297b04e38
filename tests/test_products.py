"""The products and services catalogue, and which products a partner supplies."""

from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Organization, Product


def add_product(client, follow=False, **data):
    return client.post(
        "/products/add",
        data={
            "code": "SRV-01",
            "name": "Könyvelés",
            "unit": "hó",
            "price": "45000",
            "currency": "HUF",
            "vat_rate": "27",
            "active": "y",
            **data,
        },
        follow_redirects=follow,
    )


def test_finance_keeps_the_catalogue_and_staff_reads_it(app, login):
    finance = login("finance")
    assert add_product(finance).status_code == 302
    with app.app_context():
        product = db.session.scalar(select(Product))
        assert (product.price, product.vat_rate, product.unit) == (
            Decimal("45000"),
            Decimal("27"),
            "hó",
        )
    staff = login("staff")
    assert "Könyvelés" in staff.get("/products/list/").get_data(as_text=True)
    assert staff.get("/products/add").status_code == 403


def test_bad_product_input_changes_nothing(app, login):
    finance = login("finance")
    add_product(finance)
    cases = [
        ({"code": "SRV-01", "name": "Duplicate"}, "Already exists"),
        ({"code": "X2", "vat_rate": "120"}, "The VAT rate must be between 0 and 100"),
        ({"code": "X3", "price": "-5"}, "cannot be negative"),
        ({"code": "", "name": "No code"}, "This field is required"),
    ]
    for data, message in cases:
        response = add_product(finance, follow=True, **data)
        assert message in response.get_data(as_text=True), data
    with app.app_context():
        assert len(db.session.scalars(select(Product)).all()) == 1


def test_a_partner_supplies_products_shown_on_its_data_sheet(app, login):
    finance = login("finance")
    add_product(finance)
    add_product(finance, code="OLD-1", name="Régi termék", active="")
    with app.app_context():
        active_id = db.session.scalar(select(Product.id).where(Product.code == "SRV-01"))
    staff = login("staff")
    form = staff.get("/companies/add").get_data(as_text=True)
    assert "Könyvelés" not in form and 'name="supplied_products"' in form  # asked as typed
    offered = [row["text"] for row in staff.get("/pick/product/?q=").get_json()]
    assert "Könyvelés" in offered and "Régi termék" not in offered
    response = staff.post(
        "/companies/add",
        data={
            "name": "Pannon Tanácsadó Kft.",
            "status": "active",
            "supplied_products": [str(active_id)],
        },
    )
    assert response.status_code == 302
    with app.app_context():
        company = db.session.scalar(select(Organization))
        assert [p.code for p in company.supplied_products] == ["SRV-01"]
        pid = company.id
    sheet = staff.get(f"/partner/{pid}").get_data(as_text=True)
    assert "supplied-products" in sheet and "Könyvelés" in sheet
