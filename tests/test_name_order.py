"""People and companies in the order of their folded names, the same on both databases, and
name searches that read their page in that order (issue 13, target 3): a word at the start of
many names, one inside many names and one of few names give the same rows as the plain search,
page by page, on the screens and through the REST API."""

import re

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import Organization, Person
from app.services.search import name_page, starts
from app.text import search_text
from tests import factories as f


def _names(html: str) -> list[str]:
    return re.findall(r'class="sheet-link">([^<]+)<', html)


def _in_name_order(rows) -> list[str]:
    """Names as the lists order them: folded name, then id."""
    return [name for _key, _id, name in sorted((search_text([n]), i, n) for i, n in rows)]


def test_lists_order_names_whatever_their_case_and_accents(app, login, api):
    names = [("Zoltán", "Kiss"), ("ágnes", "Szabó"), ("Agata", "Nowak"), ("Édua", "Balogh")]
    with app.app_context():
        for first, last in names:
            f.person(first_name=first, last_name=last)
        db.session.commit()
    expected = ["Agata Nowak", "ágnes Szabó", "Édua Balogh", "Zoltán Kiss"]
    assert _names(login("staff").get("/people/list/").get_data(as_text=True)) == expected
    desc = "/people/list/?_oc_PersonView=display_name&_od_PersonView=desc"
    assert _names(login("staff").get(desc).get_data(as_text=True)) == expected[::-1]
    rest = api("staff").get("/api/v1/person/?q=(order_column:display_name,order_direction:asc)")
    assert [p["display_name"] for p in rest.get_json()["result"]] == expected


@pytest.fixture
def tisza(app):
    """Companies named by a word at the start (many), inside (few), in a German form only,
    and others."""
    names = [f"Tisza {i:02d} Kft." for i in range(12)]
    names += ["Alsó-Tisza Bt.", "Felső Tisza Zrt.", "Über Tiszai Kft.", "Duna Kft.", "Ábel Bt."]
    with app.app_context():
        rows = [(f.company(name=name), name) for name in names]
        db.session.commit()
        return [(company.id, name) for company, name in rows]


def _rest_pages(api, word: str, size: int, direction: str = "asc") -> list[str]:
    client, found, page = api("staff"), [], 0
    while True:
        url = (
            f"/api/v1/organization/?q=(filters:!((col:name,opr:fct,value:{word})),"
            f"order_column:name,order_direction:{direction},page_size:{size},page:{page})"
        )
        rows = client.get(url).get_json()["result"]
        found += [row["name"] for row in rows]
        if len(rows) < size:
            return found
        page += 1


@pytest.mark.parametrize("limit", [1000, 1], ids=["few inside", "many inside"])
def test_a_name_search_pages_through_its_matches_in_name_order(
    app, login, api, tisza, monkeypatch, limit
):
    # A limit of 1: more names hold the word inside than the limit, which walks the order.
    monkeypatch.setitem(app.config, "FILTERED_COUNT_LIMIT", limit)
    expected = _in_name_order((i, n) for i, n in tisza if "tisza" in search_text([n]))
    assert expected[0] == "Alsó-Tisza Bt." and expected[-1] == "Über Tiszai Kft."
    assert _rest_pages(api, "tisza", 4) == expected
    assert _rest_pages(api, "tisza", 5, "desc") == expected[::-1]
    page = login("staff").get("/companies/list/?_flt_0_display_name=tisza")
    assert _names(page.get_data(as_text=True)) == expected
    # A German form that starts the name, where the plain form does not ("uber tiszai kft.").
    assert _rest_pages(api, "uebe", 3) == ["Über Tiszai Kft."]
    assert _rest_pages(api, "iszai", 3) == ["Über Tiszai Kft."]


def test_a_word_shorter_than_a_trigram_is_walked_without_counting_it_first(
    app, login, api, tisza, queries
):
    expected = _in_name_order((i, n) for i, n in tisza if "sz" in search_text([n]))
    assert len(expected) == 15
    assert _rest_pages(api, "sz", 4) == expected
    client = login("staff")

    def sent(word):
        url = f"/companies/list/?_flt_0_display_name={word}"
        client.get(url)
        with queries() as q:
            page = client.get(url)
        return q.count, _names(page.get_data(as_text=True))

    # The trigram index would read every name for "sz": no count of the names that hold it
    # further on, which says whether to walk them. SQLite, without a trigram index, walks
    # them for any word and never counts them first.
    (short, found), (long, _found) = sent("sz"), sent("szai")
    with app.app_context():
        counted = 1 if db.engine.name == "postgresql" else 0
    assert found == expected and short == long - counted


def test_a_name_search_with_another_filter_gives_the_same_rows(app, api, tisza):
    expected = _in_name_order((i, n) for i, n in tisza if "tisza" in search_text([n]))
    rows = api("staff").get(
        "/api/v1/organization/?q=(filters:!((col:name,opr:fct,value:tisza),"
        "(col:status,opr:eq,value:active)),order_column:name,order_direction:asc,page_size:50)"
    )
    assert [row["name"] for row in rows.get_json()["result"]] == expected


def _plan(sql) -> str:
    connection = db.session.connection()
    compiled = sql.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars())


# 20,000 more companies, all named "... Kovács", none "Tisza", for the planner's statistics.
MANY = """
INSERT INTO partner (type, customer_number, display_name, status, created_at, updated_at,
                     search_text, name_text)
SELECT 'organization', 'P' || i, 'Firm ' || i || ' Kovács', 'active', now(), now(),
       'firm ' || i || ' kovacs', 'firm ' || i || ' kovacs'
FROM generate_series(1, 20000) AS i
"""


def test_name_searches_read_the_name_indexes_on_postgresql(app, tisza):
    with app.app_context():
        if db.engine.name != "postgresql":
            pytest.skip("the plans of PostgreSQL")
        db.session.execute(text(MANY))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE partner"))

        def plan(where):
            return _plan(select(Organization.id).where(where))

        walked = plan(name_page(Organization, "kovacs", 25, dense=True))
        found = plan(name_page(Organization, "tisza", 25, dense=False))
        ranged = _plan(
            select(Person.id)
            .where(Person.type == "person", starts(Person, "kat"))
            .order_by(Person.name_text, Person.id)
            .limit(25)
        )
        db.session.rollback()
    # The start: a range of the name order; many inside: the names walked in that order;
    # few inside: the trigram index of the name without the start of its forms.
    assert "ix_partner_name_inside" not in walked
    assert re.search(
        r"Scan using ix_partner_type_name_text .*\n.*Index Cond: .*name_text >=", walked
    )
    walk = r"Filter: .*regexp_replace.*\n.*Index Only Scan using ix_partner_type_name_text"
    assert re.search(walk, walked) and "Sort Key: partner_2" not in walked
    assert "Bitmap Index Scan on ix_partner_name_inside" in found
    assert re.search(r"Scan using ix_partner_type_name_text", ranged)
    assert "name_text >= 'kat'" in ranged and "Sort" not in ranged
