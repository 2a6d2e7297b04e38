"""Query counts of the main pages: bounded, and not growing with the data."""

from datetime import timedelta

from tests import factories as f

MAX_QUERIES = 10


def _fill(app, partners: int, notes_each: int) -> int:
    from app.extensions import db
    from app.models import Code, Note, Offer, Task, utcnow
    from app.services import acting_as

    with app.app_context():
        with acting_as(None):
            code = Code(name=f"c{partners}", category="category")
            db.session.add(code)
        target = None
        for i in range(partners):
            p = f.person(first_name=f"N{i}", owner_id=1, codes=[code])
            c = f.company(name=f"Firma {partners}-{i}")
            f.affiliation(p, c, may_collect_mail=True)
            f.address(p)
            target = target or c
        with acting_as(None):
            for i in range(notes_each):
                db.session.add(Note(partner_id=target.id, body=f"note {i}", pinned=i < 2))
            # Some overdue, some coming (the sheet reads coming tasks only when there are).
            start = utcnow() - timedelta(hours=2)
            for i in range(notes_each):
                db.session.add(
                    Task(
                        title=f"task {i}",
                        partner_id=target.id,
                        responsible_id=3,
                        starts_at=start + timedelta(hours=i),
                        due_at=start + timedelta(hours=i + 1),
                    )
                )
                db.session.add(
                    Offer(
                        name=f"offer {i}",
                        partner_id=target.id,
                        amount=i,
                        currency="EUR",
                        owner_id=1,
                    )
                )
        return target.id


def _count(login, queries, urls):
    client = login("staff")
    counts = {}
    for url in urls:
        client.get(url)
        with queries() as q:
            response = client.get(url)
        assert response.status_code == 200, url
        counts[url] = q.count
    return counts


def test_main_pages_use_few_queries_whatever_the_data_size(app, login, api, queries):
    def urls(pid):
        return [
            "/people/list/",
            "/companies/list/",
            "/contact-persons/list/",
            f"/partner/{pid}",
            f"/partner/{pid}/people",
            f"/partner/{pid}/history",
            f"/partner/{pid}/addresses",
            "/people/list/?_flt_0_display_name=N1",
            f"/partner/{pid}/tasks",
            f"/partner/{pid}/offers",
            "/tasks/list/",
            "/tasks/list/?quick=mine",
            "/offers/list/",
            "/calendar/",
            "/calendar/week",
            "/forecast/",
        ]

    small_id = _fill(app, 3, 5)
    small = _count(login, queries, urls(small_id))
    big_id = _fill(app, 30, 60)
    big = _count(login, queries, urls(big_id))
    for (url, a), b in zip(small.items(), big.values(), strict=True):
        assert b <= MAX_QUERIES, (url, b)
        assert b == a, (url, a, b)


def test_rest_list_uses_few_queries(app, api, queries):
    _fill(app, 5, 0)
    client = api("staff")
    client.get("/api/v1/person/")
    with queries() as q:
        assert client.get("/api/v1/person/").status_code == 200
    assert q.count <= MAX_QUERIES


def test_unfiltered_lists_of_huge_tables_count_by_estimate_on_postgresql(app, login, monkeypatch):
    import re

    import pytest
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        if db.engine.name != "postgresql":
            pytest.skip("the planner's estimate exists on PostgreSQL only")
        for i in range(3):
            f.person(first_name=f"Est{i}")
        db.session.execute(text("ANALYZE person"))
        db.session.commit()
        for i in range(3, 5):
            f.person(first_name=f"Est{i}")
    client = login("staff")

    def record_count(url):
        html = client.get(url).get_data(as_text=True)
        return int(re.search(r"Record Count:</strong>\s*(\d+)", html).group(1))

    assert record_count("/people/list/") == 5
    monkeypatch.setitem(app.config, "COUNT_ESTIMATE_THRESHOLD", 0)
    assert record_count("/people/list/") == 3
    assert record_count("/people/list/?_flt_0_display_name=Est") == 5


def test_the_data_sheet_reads_its_partner_codes_products_and_addresses_in_one_statement(
    app, login, queries
):
    """The header's codes, supplied products and addresses come with the partner, each in its
    order and none twice, in one statement (flat joins, not a nested join per relation)."""
    from app.extensions import db
    from app.models import Product
    from app.services import acting_as

    with app.app_context():
        with acting_as(None):
            products = [
                Product(code=f"P-{n}", name=name, price=1)
                for n, name in enumerate(("Zeta", "Alfa"))
            ]
            db.session.add_all(products)
            db.session.commit()
        codes = [f.code("zulu"), f.code("bravo")]
        company = f.company(name="Tisza Kft", codes=codes, supplied_products=products)
        f.address(company, city="Szeged")
        f.address(company, type="postal", city="Makó")
        db.session.commit()
        partner_id = company.id
    client = login("staff")
    client.get(f"/partner/{partner_id}")
    with queries() as q:
        html = client.get(f"/partner/{partner_id}").get_data(as_text=True)
    partner_reads = [s for s in q.statements if "FROM partner" in s and "partner_code" in s]
    assert len(partner_reads) == 1 and "(partner_code" not in partner_reads[0]
    assert html.index("bravo") < html.index("zulu") and html.count(">zulu<") == 1
    assert html.index("Alfa") < html.index("Zeta") and html.count(">Zeta <") == 1
    assert "Szeged" in html  # the main address of the two
