#!/usr/bin/env python
"""Benchmark of Dossier's partner screens on a large database.

Builds (once) a database with N partners and M notes, then measures with the Flask test
client, logged in as the admin:

* the People and Companies lists, unfiltered and with a name search (starts with, the
  folded "contains"),
* the data sheet of the partner that has 5,000 notes,
* the REST list /api/v1/person/ (JWT),
* the global search (screen and REST),

and, right after each page in the same run, its floor: the index-friendly raw SQL of the same
rows (`type = 'person'` …, same order, the same 25 rows with their owner, and the count)
rendered by a minimal Jinja template (JSON for the REST list) on a tiny separate Flask app on
the same engine. Every page prints its ratio to its own floor. Optionally (without
--skip-plain) a plain Flask-AppBuilder ModelView of Person with FAB's defaults.

For each page: median wall time over --runs requests after --warmup requests, and the
number of SQL statements per request (a `before_cursor_execute` listener on the engine).

    .venv/bin/python bench/bench_partners.py                       # 100k partners, 1M notes
    .venv/bin/python bench/bench_partners.py --partners 2000 --notes 20000
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/dossier_bench \
        .venv/bin/python bench/bench_partners.py

See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter as Tally
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "bench-admin-password"
HEAVY_NOTES = 5_000
CHUNK = 10_000
SEED = 20240601

# Targets of issue 13: every page within 6x its own floor, with at most 10 statements.
TARGET_FLOOR_RATIO = 6.0
TARGET_QUERIES = 10


# --------------------------------------------------------------------------------------------
# command line and environment
# --------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--partners",
        type=int,
        default=100_000,
        help="number of partners, half people, half companies (default 100000)",
    )
    p.add_argument(
        "--notes",
        type=int,
        default=1_000_000,
        help="notes spread over the partners (default 1000000); the heavy partner "
        f"gets {HEAVY_NOTES} more",
    )
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="drop and rebuild the database even when it is already filled",
    )
    p.add_argument("--runs", type=int, default=15, help="measured requests per page (15)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up requests per page (2)")
    p.add_argument(
        "--page-budget",
        type=float,
        default=120.0,
        help="seconds allowed per page: a very slow page gets fewer runs (min 3)",
    )
    p.add_argument(
        "--instance",
        default=str(BENCH / "instance"),
        help="DOSSIER_INSTANCE dir (SQLite file, secret key); default bench/instance",
    )
    p.add_argument(
        "--show-sql",
        nargs="?",
        const="all",
        default=None,
        metavar="PAGE",
        help="print the SQL of one request of every page (or of the page whose "
        "key contains PAGE, e.g. --show-sql sheet)",
    )
    p.add_argument(
        "--skip-plain", action="store_true", help="do not measure the plain FAB ModelView reference"
    )
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    args = p.parse_args(argv)
    if args.partners < 4:
        p.error("--partners must be at least 4")
    return args


def configure_environment(args, sqlite_name: str | None = None) -> str:
    """Environment read by config.py at import time; returns the database URL (DATABASE_URL,
    else a SQLite file `sqlite_name` under --instance)."""
    instance = Path(args.instance).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("DATABASE_URL")
    if not url:
        name = sqlite_name or f"bench_p{args.partners}_n{args.notes}.sqlite"
        url = f"sqlite:///{instance / name}"
    os.environ["DATABASE_URL"] = url
    os.environ["DOSSIER_INSTANCE"] = str(instance)
    os.environ["DOSSIER_ADMIN_USER"] = ADMIN_USER
    os.environ["DOSSIER_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return url


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# database state: reuse, reset
# --------------------------------------------------------------------------------------------


def heavy_partner_id(n_partners: int) -> int:
    """The person with 5,000 notes: the first person id at or after the middle."""
    pid = n_partners // 2 + 1
    return pid if is_person(pid) else pid + 1


def is_person(pid: int) -> bool:
    return pid % 2 == 1  # people and companies interleave, as they would be created


def db_state(url: str, args) -> str:
    """'empty', 'filled' (the requested sizes) or 'other' (partial or other sizes)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if "partner" not in inspect(conn).get_table_names():
                return "empty"
            partners = conn.execute(text("SELECT count(*) FROM partner")).scalar()
            if not partners:
                return "empty"
            notes = conn.execute(text("SELECT count(*) FROM note")).scalar()
            heavy = conn.execute(
                text("SELECT count(*) FROM note WHERE partner_id = :p"),
                {"p": heavy_partner_id(args.partners)},
            ).scalar()
            if (partners, notes, heavy) == (args.partners, args.notes + HEAVY_NOTES, HEAVY_NOTES):
                return "filled"
            log(
                f"database holds {partners} partners / {notes} notes "
                f"(heavy partner: {heavy}); wanted {args.partners} / "
                f"{args.notes + HEAVY_NOTES} ({HEAVY_NOTES}) — rebuilding"
            )
            return "other"
    except Exception as error:  # a database that does not exist yet, etc.
        if url.startswith("postgresql"):
            return "missing"
        log(f"cannot read the database ({error.__class__.__name__}); rebuilding")
        return "other"
    finally:
        engine.dispose()


def reset_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = Path(u.database)
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    if u.get_backend_name() != "postgresql":
        raise SystemExit(f"unsupported database for --rebuild: {u.get_backend_name()}")
    name = u.database
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    log(f"PostgreSQL database {name!r} (re)created")


def move_sequences(conn, tables) -> None:
    """After rows were inserted with their ids, PostgreSQL's id sequences move past them."""
    from sqlalchemy import text

    if conn.dialect.name == "postgresql":
        for table in tables:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )


def vacuum_analyze(engine) -> None:
    """What autovacuum would do shortly after a bulk load: fresh planner statistics."""
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def ensure_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{u.database}"'))
                log(f"PostgreSQL database {u.database!r} created")
    finally:
        admin.dispose()


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------

FIRST = [
    "Anna",
    "Katalin",
    "Éva",
    "Zsófia",
    "Eszter",
    "Judit",
    "Ágnes",
    "Mária",
    "Erzsébet",
    "Ilona",
    "Réka",
    "Dóra",
    "Péter",
    "László",
    "István",
    "József",
    "Zoltán",
    "Gábor",
    "Tamás",
    "Attila",
    "Balázs",
    "Ádám",
    "Bence",
    "Márton",
    "Piotr",
    "Tomasz",
    "Katarzyna",
    "Agnieszka",
    "Hans",
    "Klaus",
    "Greta",
    "Sabine",
    "Ivan",
    "Olga",
    "Dmitri",
    "Natalia",
    "John",
    "Emma",
    "Oliver",
    "Sophie",
]
LAST = [
    "Nagy",
    "Kovács",
    "Tóth",
    "Szabó",
    "Horváth",
    "Varga",
    "Kiss",
    "Molnár",
    "Németh",
    "Farkas",
    "Balogh",
    "Papp",
    "Takács",
    "Juhász",
    "Lakatos",
    "Mészáros",
    "Oláh",
    "Simon",
    "Rácz",
    "Fekete",
    "Kowalski",
    "Nowak",
    "Wiśniewski",
    "Wójcik",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Ivanov",
    "Petrov",
    "Kovalenko",
    "Smirnov",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
]
TITLES = [None] * 12 + ["Dr.", "Prof.", "ifj.", "id."]
ORG_WORDS = [
    "Alfa",
    "Duna",
    "Tisza",
    "Mátra",
    "Balaton",
    "Pannon",
    "Hungária",
    "Globus",
    "Nova",
    "Terra",
    "Vertex",
    "Delta",
    "Horizont",
    "Kristály",
    "Aranyhíd",
    "Sas",
    "Korona",
    "Zenit",
    "Orion",
    "Kárpát",
]
ORG_KINDS = ["Kft.", "Zrt.", "Bt.", "Nyrt.", "Sp. z o.o.", "GmbH", "Ltd.", "Egyesület"]
ORG_TRADES = [
    "Kereskedelmi",
    "Építőipari",
    "Informatikai",
    "Logisztikai",
    "Szolgáltató",
    "Mezőgazdasági",
    "Tanácsadó",
    "Gépipari",
    "Pénzügyi",
    "Vendéglátó",
]
SENTENCES = [
    "Called about the renewal of the annual contract.",
    "Sent the updated price list and the terms of delivery.",
    "Met at the trade fair; interested in the premium package.",
    "Asked for a callback next week regarding the open invoice.",
    "Visited the site, the installation went without problems.",
    "Complained about a late delivery; we offered a discount.",
    "Wants the quarterly report in Hungarian and in English.",
    "New contact person in purchasing, details updated.",
    "Discussed payment by direct debit from next month.",
    "Requested a meeting with the managing director.",
    "Letter sent with the signed agreement.",
    "Left a voice message, no answer yet.",
]
KINDS = ["note", "call", "email", "meeting", "visit", "letter"]
STATUSES = ["active"] * 6 + ["lead"] * 3 + ["inactive"]
ASCII = str.maketrans("áéíóöőúüűÁÉÍÓÖŐÚÜŰśŚńł", "aeiooouuuAEIOOOUUUsSnl")


def fill_database(db, n_partners: int, n_notes: int) -> dict:
    """Bulk-insert partners, people, companies, codes and notes with SQLAlchemy Core."""
    from flask import current_app
    from sqlalchemy import func, insert, select, update

    from app.models import (
        Address,
        Code,
        Counter,
        Note,
        Organization,
        Partner,
        PartnerAddress,
        Person,
        partner_code,
    )

    sm = current_app.appbuilder.sm
    rng = random.Random(SEED)
    timings = {}

    # A few staff users to own partners and write notes (ORM: only 6 rows, audit-free tables).
    owners = []
    staff = sm.find_role("Staff")
    for first, last in [
        ("Kata", "Kovács"),
        ("Gábor", "Nagy"),
        ("Éva", "Szabó"),
        ("Péter", "Tóth"),
        ("Zsófia", "Varga"),
        ("Bence", "Kiss"),
    ]:
        username = f"{first}.{last}".lower().translate(ASCII)
        user = sm.find_user(username=username) or sm.add_user(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@example.hu",
            role=staff,
            password="bench-staff-password",
        )
        owners.append(user.id)
    admin_id = sm.find_user(username=ADMIN_USER).id
    authors = owners + [admin_id]
    owner_choices = owners * 3 + [admin_id, None]
    db.session.remove()

    engine = db.engine
    t0 = time.perf_counter()
    base = datetime(2020, 1, 1)
    span = (datetime(2025, 6, 1) - base).total_seconds()
    heavy = heavy_partner_id(n_partners)

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-200000")

        code_rows = [
            {"id": i, "category": cat, "name": f"{cat[:3].upper()}-{i:02d}", "description": None}
            for i, cat in enumerate(
                ["category"] * 15 + ["industry"] * 10 + ["function"] * 5, start=1
            )
        ]
        conn.execute(insert(Code.__table__), code_rows)

        partners, people, orgs, codes = [], [], [], []
        from app.text import search_text

        def flush_partners():
            if partners:
                conn.execute(insert(Partner.__table__), partners)
            if people:
                conn.execute(insert(Person.__table__), people)
            if orgs:
                conn.execute(insert(Organization.__table__), orgs)
            if codes:
                conn.execute(insert(partner_code), codes)
            partners.clear(), people.clear(), orgs.clear(), codes.clear()

        for pid in range(1, n_partners + 1):
            created = base + timedelta(seconds=span * (pid - 1) / n_partners)
            email = phone = None
            if is_person(pid):
                if pid == heavy:
                    title, first, last = None, "Katalin", "Kovács-Sokjegyzet"
                else:
                    title, first, last = (rng.choice(TITLES), rng.choice(FIRST), rng.choice(LAST))
                name = " ".join(p for p in (title, first, last) if p)
                if rng.random() < 0.8:
                    email = f"{first}.{last}.{pid}@example.hu".lower().translate(ASCII)
                people.append(
                    {
                        "id": pid,
                        "title": title,
                        "first_name": first,
                        "last_name": last,
                        "birthday": (
                            datetime(1950, 1, 1) + timedelta(days=rng.randrange(20000))
                        ).date()
                        if rng.random() < 0.6
                        else None,
                        "bank_account": None,
                        "payment_method": rng.choice([None, "transfer", "card", "cash"]),
                    }
                )
            else:
                name = f"{rng.choice(ORG_WORDS)} {rng.choice(ORG_TRADES)} {rng.choice(ORG_KINDS)}"
                if rng.random() < 0.8:
                    email = f"info.{pid}@example.hu"
                tax_number = f"{10_000_000 + pid:08d}-2-{pid % 90 + 10:02d}"
                orgs.append(
                    {
                        "id": pid,
                        "name": name,
                        "tax_number": tax_number,
                        "registration_number": f"01-09-{pid:06d}",
                        "industry_code": None,
                    }
                )
            tax = tax_number if not is_person(pid) else None
            if rng.random() < 0.7:
                phone = (
                    f"+36 {rng.choice((20, 30, 70, 1))} {rng.randrange(100, 999)} "
                    f"{rng.randrange(1000, 9999)}"
                )
            partners.append(
                {
                    "id": pid,
                    "type": "person" if is_person(pid) else "organization",
                    "customer_number": f"{pid:06d}",
                    "display_name": name,
                    "status": rng.choice(STATUSES),
                    "owner_id": rng.choice(owner_choices),
                    "email": email,
                    "phone": phone,
                    "mobile": None,
                    "website": None,
                    "language": rng.choice([None, None, "hu", "en", "de"]),
                    "picture": None,
                    "description": None,
                    "created_at": created,
                    "updated_at": created,
                    "created_by_id": admin_id,
                    "updated_by_id": admin_id,
                    # What the models keep on flush (app/models/search.py), made here at once.
                    "search_text": search_text([name, f"{pid:06d}", email, tax], [phone]),
                    "name_text": search_text([name]),
                }
            )
            if rng.random() < 0.2:
                codes.append({"partner_id": pid, "code_id": rng.randrange(1, 31)})
            if len(partners) >= CHUNK:
                flush_partners()
        flush_partners()
        conn.execute(
            update(Counter.__table__)
            .where(Counter.__table__.c.name == "customer_number")
            .values(value=n_partners)
        )

        # Two central addresses for the heavy partner (its sheet shows the main address).
        conn.execute(
            insert(Address.__table__),
            [
                {
                    "id": 1,
                    "street": "Váci utca 12.",
                    "postal_code": "1052",
                    "city": "Budapest",
                    "country": "HU",
                    "latitude": 47.4925,
                    "longitude": 19.0513,
                },
                {
                    "id": 2,
                    "street": "Fő tér 1.",
                    "postal_code": "9021",
                    "city": "Győr",
                    "country": "HU",
                    "latitude": None,
                    "longitude": None,
                },
            ],
        )
        conn.execute(
            insert(PartnerAddress.__table__),
            [
                {"id": 1, "partner_id": heavy, "address_id": 1, "type": "residence"},
                {"id": 2, "partner_id": heavy, "address_id": 2, "type": "billing"},
            ],
        )
        timings["partners_s"] = round(time.perf_counter() - t0, 1)
        log(f"{n_partners} partners inserted in {timings['partners_s']} s")

        # Notes: spread uniformly over the other partners, plus HEAVY_NOTES for the heavy one.
        t1 = time.perf_counter()
        rows = []
        total = n_notes + HEAVY_NOTES
        bodies = [" ".join(rng.sample(SENTENCES, k)) for k in (1, 2, 3) for _ in range(40)]
        for nid in range(1, total + 1):
            if nid <= n_notes:
                pid = rng.randrange(1, n_partners)  # 1 .. n-1, skipping the heavy one
                pid = pid + 1 if pid >= heavy else pid
                pinned = rng.random() < 0.005
            else:
                pid = heavy
                pinned = nid - n_notes <= 8
            created = base + timedelta(seconds=rng.random() * span)
            rows.append(
                {
                    "id": nid,
                    "partner_id": pid,
                    "author_id": rng.choice(authors),
                    "kind": rng.choice(KINDS),
                    "body": f"{rng.choice(bodies)} (#{nid})",
                    "occurred_at": created if rng.random() < 0.3 else None,
                    "pinned": pinned,
                    "created_at": created,
                    "updated_at": created,
                    "locked_after": created + timedelta(minutes=30),
                }
            )
            if len(rows) >= CHUNK:
                conn.execute(insert(Note.__table__), rows)
                rows.clear()
                if nid % 200_000 == 0:
                    log(f"  {nid} notes")
        if rows:
            conn.execute(insert(Note.__table__), rows)
        timings["notes_s"] = round(time.perf_counter() - t1, 1)
        log(f"{total} notes inserted in {timings['notes_s']} s")

        move_sequences(conn, ("partner", "note", "code", "address", "partner_address"))
    vacuum_analyze(engine)
    with engine.connect() as conn:
        check = conn.execute(select(func.count()).select_from(Partner.__table__)).scalar()
    assert check == n_partners, check
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    return timings


# --------------------------------------------------------------------------------------------
# app, references
# --------------------------------------------------------------------------------------------


def build_app(args, url: str):
    state = db_state(url, args)
    if url.startswith("postgresql") and state == "missing":
        ensure_pg_database(url)
        state = db_state(url, args)
    rebuild = args.rebuild or state == "other"
    if rebuild:
        reset_database(url)
        state = "empty"

    from flask_migrate import upgrade

    from app import create_app
    from app.cli import initialise
    from app.extensions import db

    app = create_app({"WTF_CSRF_ENABLED": False})
    build = {"reused": state == "filled"}
    with app.app_context():
        upgrade()
        initialise()
        if state != "filled":
            log(f"filling: {args.partners} partners, {args.notes} + {HEAVY_NOTES} notes")
            build.update(fill_database(db, args.partners, args.notes))
        else:
            log("database already filled (use --rebuild to start over)")
        if not args.skip_plain:
            add_plain_view(app)
        db.session.remove()
    return app, build


def add_plain_view(app) -> None:
    """FAB's defaults on the same model: no list/search columns, the default SQLAInterface."""
    from flask_appbuilder import ModelView
    from flask_appbuilder.models.sqla.interface import SQLAInterface

    from app.models import Person

    class PlainPersonView(ModelView):
        datamodel = SQLAInterface(Person)

    appbuilder = app.appbuilder
    appbuilder.add_view_no_menu(PlainPersonView)
    appbuilder.add_permissions(update_perms=True)
    sm = appbuilder.sm
    admin = sm.find_role(sm.auth_role_admin)
    for pv in sm.find_permissions_view_menu(sm.find_view_menu("PlainPersonView")):
        if pv not in admin.permissions:
            sm.add_permission_role(admin, pv)
    sm.session.commit()


RAW_LIST = """<!doctype html>
<html><head><title>{{ title }}</title></head><body>
<h1>{{ title }}</h1>
<p>{{ total }} records</p>
<table>
<thead><tr><th>Customer number</th><th>Name</th><th>E-mail</th><th>Phone</th>
<th>Status</th><th>Owner</th></tr></thead>
<tbody>
{% for r in rows %}
<tr><td>{{ r.customer_number }}</td>
<td><a href="/partner/{{ r.id }}">{{ r.display_name }}</a></td>
<td>{{ r.email or "" }}</td><td>{{ r.phone or "" }}</td>
<td>{{ statuses.get(r.status, r.status) }}</td>
<td>{% if r.owner_first is not none %}{{ r.owner_first }} {{ r.owner_last }}{% endif %}</td></tr>
{% endfor %}
</tbody></table>
<p>Page {{ page }} of {{ pages }}</p>
</body></html>
"""

RAW_SHEET = """<!doctype html>
<html><head><title>{{ p.display_name }}</title></head><body>
<h1>{{ p.display_name }}</h1>
<dl><dt>Customer number</dt><dd>{{ p.customer_number }}</dd>
<dt>E-mail</dt><dd>{{ p.email or "" }}</dd><dt>Phone</dt><dd>{{ p.phone or "" }}</dd>
<dt>Status</dt><dd>{{ p.status }}</dd>
<dt>Owner</dt>
<dd>{% if p.owner_first is not none %}{{ p.owner_first }} {{ p.owner_last }}{% endif %}</dd></dl>
<h2>Notes ({{ total }})</h2>
<ul>
{% for n in notes %}
<li><b>{{ n.kind }}</b> {{ n.created_at }}
{% if n.author_first is not none %} — {{ n.author_first }} {{ n.author_last }}{% endif %}
<br>{{ n.body }}</li>
{% endfor %}
</ul>
<p>Page 1 of {{ pages }}</p>
</body></html>
"""


def raw_reference_app(engine):
    """A tiny Flask app: each measured page's floor, in index-friendly raw SQL with a minimal
    template on the same engine.

    Lists (`/raw/<person|organization>`): the 25 rows the list shows (the partner row with
    `type = '<kind>'`, which lets the database walk ix_partner_type_name_text in name order,
    and the owner) and the count, optionally with the list's name search on the folded name:
    starts with (a range of that index), contains (that range merged with the names that
    hold the word further on, through ix_partner_name_inside or the walk, as the planner
    chooses); a search counts up to 1,001 as the lists do. `?json=1` answers the rows and the
    count as JSON (the REST list's floor). `/raw/sheet/<id>`: the partner with its owner, its
    25 latest notes with their authors and the number of its notes.
    """
    from flask import Flask, jsonify, request
    from sqlalchemy import text

    from app.text import query_terms

    columns = (
        "p.id, p.customer_number, p.display_name, p.email, p.phone, p.status, "
        "u.first_name AS owner_first, u.last_name AS owner_last"
    )
    statuses = {"lead": "Lead", "active": "Active", "inactive": "Inactive"}
    postgresql = engine.dialect.name == "postgresql"
    # The folded name without the start of its forms, as its trigram index holds it.
    inside = (
        "strpos(name_text, :w) > 0 AND regexp_replace(name_text, '(^|\\|).', '\\1|', 'g') LIKE :q"
        if postgresql
        else "instr(name_text, :w) > 0 AND substr(name_text, 2) LIKE :q"
    )
    ordered = "ORDER BY name_text, id LIMIT :reach"
    cache = {}

    def statements(kind: str, mode: str | None):
        key = (kind, mode)
        if key not in cache:
            kinds = f"type = '{kind}'"
            starting = f"{kinds} AND name_text >= :lo AND name_text < :hi"
            if mode == "ct":
                where = (
                    "p.id IN (SELECT id FROM ("
                    f"SELECT * FROM (SELECT id, name_text FROM partner WHERE {starting} {ordered})"
                    " AS a UNION "
                    f"SELECT * FROM (SELECT id, name_text FROM partner WHERE {kinds} AND {inside}"
                    f" {ordered}) AS b) AS m {ordered})"
                )
                counted = f"{kinds} AND (name_text >= :lo AND name_text < :hi OR {inside})"
            elif mode == "sw":
                where = counted = starting
            else:
                where = f"p.{kinds}"
            count = (
                f"SELECT count(*) FROM (SELECT 1 FROM partner WHERE {counted} LIMIT 1001) AS c"
                if mode
                else f"SELECT count(*) FROM {kind}"
            )
            cache[key] = (
                text(count),
                text(
                    f"SELECT {columns} FROM partner p LEFT JOIN ab_user u ON u.id = p.owner_id"
                    f" WHERE {where} ORDER BY p.name_text, p.id LIMIT 25 OFFSET :off"
                ),
            )
        return cache[key]

    raw = Flask("dossier_raw_reference")
    list_template = raw.jinja_env.from_string(RAW_LIST)
    sheet_template = raw.jinja_env.from_string(RAW_SHEET)

    @raw.route("/raw/<kind>")
    def partners(kind):
        page = max(1, request.args.get("page", 1, type=int))
        mode = request.args.get("mode")  # None, "sw" (starts with) or "ct" (folded contains)
        q = request.args.get("q", "")
        params = {"off": (page - 1) * 25, "reach": page * 25}
        if mode:  # the folded word: at the start of the name (sw), or anywhere in it (ct)
            word = query_terms(q)[0][0]
            params.update(lo=word, hi=word[:-1] + chr(ord(word[-1]) + 1), w=word, q=f"%{word}%")
        count_sql, rows_sql = statements(kind, mode)
        with engine.begin() as conn:  # COMMIT: psycopg keeps its prepared statements
            total = conn.execute(count_sql, params).scalar()
            rows = conn.execute(rows_sql, params).all()
        if request.args.get("json"):
            return jsonify(count=total, result=[dict(r._mapping) for r in rows])
        return list_template.render(
            title=kind,
            rows=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // 25)),
            statuses=statuses,
        )

    @raw.route("/raw/sheet/<int:pid>")
    def sheet(pid):
        with engine.begin() as conn:
            partner = conn.execute(
                text(
                    f"SELECT {columns} FROM partner p LEFT JOIN ab_user u ON u.id = p.owner_id"
                    " WHERE p.id = :id"
                ),
                {"id": pid},
            ).one()
            total = conn.execute(
                text("SELECT count(*) FROM note WHERE partner_id = :id"), {"id": pid}
            ).scalar()
            notes = conn.execute(
                text(
                    "SELECT n.id, n.kind, n.body, n.created_at, u.first_name AS author_first,"
                    " u.last_name AS author_last FROM note n"
                    " LEFT JOIN ab_user u ON u.id = n.author_id WHERE n.partner_id = :id"
                    " ORDER BY n.created_at DESC, n.id DESC LIMIT 25"
                ),
                {"id": pid},
            ).all()
        return sheet_template.render(
            p=partner, notes=notes, total=total, pages=max(1, -(-total // 25))
        )

    return raw


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------


class QueryCounter:
    """Counts statements (and their time) on the engine while `active`."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.active = False
        self.statements: list[str] = []
        self.parameters: list = []
        self.sql_seconds = 0.0
        self._start = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.active:
            self.statements.append(statement)
            self.parameters.append(parameters)
            self._start.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        if self.active and self._start:
            self.sql_seconds += time.perf_counter() - self._start.pop()

    def reset(self):
        self.statements, self.parameters, self.sql_seconds, self._start = [], [], 0.0, []


def normalise(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+\b", "N", sql)
    sql = re.sub(r"\(\s*(\?|%\(\w+\)s|\$\d+|N)(\s*,\s*(\?|%\(\w+\)s|\$\d+|N))*\s*\)", "(…)", sql)
    return sql


def measure(name, key, client, url, counter, args, headers=None, expect=200, check=None):
    """Warm up, then time `runs` GETs; count the statements of each request."""

    def one():
        counter.reset()
        counter.active = True
        t = time.perf_counter()
        response = client.get(url, headers=headers)
        body = response.get_data()
        elapsed = time.perf_counter() - t
        counter.active = False
        if response.status_code != expect:
            raise SystemExit(
                f"{name}: GET {url} answered {response.status_code}, "
                f"expected {expect}:\n{body[:2000].decode(errors='replace')}"
            )
        statements = [
            s if not p else f"{s}\n-- parameters: {p!r}"[:5000]
            for s, p in zip(counter.statements, counter.parameters, strict=True)
        ]
        return elapsed, len(statements), counter.sql_seconds, statements, body

    first = one()
    if check:
        check(first[4].decode("utf-8", errors="replace"))
    warm_time = first[0]
    if warm_time * (args.warmup - 1 + args.runs) <= args.page_budget:
        for _ in range(max(0, args.warmup - 1)):
            warm_time = one()[0]
    runs = args.runs
    if warm_time * runs > args.page_budget:
        runs = max(3, min(runs, int(args.page_budget / max(warm_time, 1e-9))))
        log(f"  {name}: {warm_time * 1000:.0f} ms per request — only {runs} runs")
    times, queries, sql_times, statements, size = [], [], [], first[3], len(first[4])
    for _ in range(runs):
        elapsed, n, sql_s, stmts, body = one()
        times.append(elapsed)
        queries.append(n)
        sql_times.append(sql_s)
        statements = stmts
        size = len(body)
    times.sort()
    result = {
        "page": name,
        "key": key,
        "url": url,
        "runs": runs,
        "median_ms": round(statistics.median(times) * 1000, 2),
        "min_ms": round(times[0] * 1000, 2),
        "p90_ms": round(times[min(len(times) - 1, int(len(times) * 0.9))] * 1000, 2),
        "sql_ms": round(statistics.median(sql_times) * 1000, 2),
        "queries": statistics.median_high(queries),
        "queries_min": min(queries),
        "queries_max": max(queries),
        "bytes": size,
        "statements": statements,
    }
    log(f"  {name:<36} {result['median_ms']:>9.1f} ms  {result['queries']:>4} queries")
    return result


def login(client) -> None:
    response = client.post(
        "/login/", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}, follow_redirects=False
    )
    me = client.get("/people/list/")
    if response.status_code not in (200, 302) or me.status_code != 200:
        raise SystemExit(
            f"login as {ADMIN_USER!r} failed ({response.status_code}, "
            f"{me.status_code}); an old database with another admin password? "
            "Try --rebuild."
        )


def jwt_token(client) -> str:
    response = client.post(
        "/api/v1/security/login",
        json={
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "provider": "db",
            "refresh": False,
        },
    )
    if response.status_code != 200:
        raise SystemExit(f"API login failed: {response.status_code} {response.get_data()[:300]}")
    return response.get_json()["access_token"]


def filter_index(html: str, column: str, filter_name: str) -> int:
    """The index of `filter_name` among the filters FAB offers for `column`.

    FAB's search widget passes `{"<column>": ["Starts with", "Ends with", ...], ...}` to its
    AdminFilters script, which builds the URL argument `_flt_<index>_<column>=<value>`.
    """
    m = re.search(rf'"{re.escape(column)}"\s*:\s*(\[[^\]]*\])', html)
    if m:
        labels = json.loads(m.group(1))
        if filter_name in labels:
            return labels.index(filter_name)
    raise SystemExit(
        f"no {filter_name!r} filter for {column!r} in the search form of the "
        "People list; FAB's search widget changed?"
    )


def expect_rows(n_min: int):
    def check(html: str):
        rows = html.count('class="sheet-link"')
        if rows < n_min:
            raise SystemExit(f"expected at least {n_min} rows, page shows {rows}")

    return check


def expect_text(needle: str):
    def check(html: str):
        if needle not in html:
            raise SystemExit(f"expected {needle!r} on the page")

    return check


def run_measurements(app, args) -> tuple[list[dict], dict]:
    """Every page and, in the same run, its floor (raw_reference_app); a floor is measured
    right after its page so that both see the same load."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    counter = QueryCounter(engine)
    heavy = heavy_partner_id(args.partners)
    results = []
    client = app.test_client()
    login(client)
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {jwt_token(api)}"}
    raw = raw_reference_app(engine).test_client()

    # FAB's filter argument format, read from the rendered search form.
    html = client.get("/people/list/").get_data(as_text=True)
    sw = filter_index(html, "display_name", "Starts with")
    ct = filter_index(html, "display_name", "Contains")
    info = {
        "filter_args": {
            "starts_with": f"_flt_{sw}_display_name",
            "contains": f"_flt_{ct}_display_name",
        }
    }
    log(f"FAB filter args: {info['filter_args']}")

    # (name, key, client, url, headers, check, floor url or None)
    pages = [
        ("People list", "people", client, "/people/list/", None, expect_rows(25), "/raw/person"),
        (
            "People list, name starts with 'Kat'",
            "people_sw",
            client,
            f"/people/list/?_flt_{sw}_display_name=Kat",
            None,
            expect_rows(1),
            "/raw/person?mode=sw&q=Kat",
        ),
        (
            "People list, name contains 'Kov' (folded)",
            "people_ct",
            client,
            f"/people/list/?_flt_{ct}_display_name=Kov",
            None,
            expect_rows(1),
            "/raw/person?mode=ct&q=Kov",
        ),
        (
            "Companies list",
            "companies",
            client,
            "/companies/list/",
            None,
            expect_rows(25),
            "/raw/organization",
        ),
        (
            "Companies list, name contains 'tisza' (folded)",
            "companies_ct",
            client,
            f"/companies/list/?_flt_{ct}_display_name=tisza",
            None,
            expect_rows(1),
            "/raw/organization?mode=ct&q=tisza",
        ),
        (
            f"Data sheet /partner/{heavy} ({HEAVY_NOTES} notes)",
            "sheet",
            client,
            f"/partner/{heavy}",
            None,
            expect_text("Kovács-Sokjegyzet"),
            f"/raw/sheet/{heavy}",
        ),
        (
            "REST /api/v1/person/ (JWT)",
            "api",
            api,
            "/api/v1/person/",
            bearer,
            expect_text('"count"'),
            "/raw/person?json=1",
        ),
    ]
    pages += [
        (
            f"Global search '{query}'",
            f"search_{query}",
            client,
            f"/search/?q={query}",
            None,
            expect_text("search-result"),
            None,
        )
        for query in ("kovacs", "tisza")
    ]
    pages.append(
        (
            "REST /api/v1/search/?q=kovacs (JWT)",
            "api_search",
            api,
            "/api/v1/search/?q=kovacs",
            bearer,
            expect_text('"partners"'),
            None,
        )
    )

    log("measuring")
    for name, key, page_client, url, headers, check, floor in pages:
        result = measure(name, key, page_client, url, counter, args, headers=headers, check=check)
        if floor:
            base = measure(f"  floor of {name}", f"{key}_floor", raw, floor, counter, args)
            result["floor_ms"] = base["median_ms"]
            result["floor_queries"] = base["queries"]
            result["ratio"] = round(result["median_ms"] / base["median_ms"], 2)
        results.append(result)
    if not args.skip_plain:
        results.append(
            measure(
                "Reference: plain FAB ModelView",
                "plain",
                client,
                "/plainpersonview/list/",
                counter,
                args,
            )
        )
    return results, info


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def report(results: list[dict], args, url: str, build: dict, info: dict) -> dict:
    by_key = {r["key"]: r for r in results}
    print()
    print("| Page | Floor ms | Page ms | Ratio | Statements (floor) | SQL ms | KB | Runs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        q = (
            str(r["queries"])
            if r["queries_min"] == r["queries_max"]
            else f"{r['queries_min']}–{r['queries_max']}"
        )
        floor = f"{r['floor_ms']:.1f}" if "floor_ms" in r else "—"
        ratio = f"{r['ratio']:.1f}×" if "ratio" in r else "—"
        floor_q = f" ({r['floor_queries']})" if "floor_queries" in r else ""
        print(
            f"| {r['page']} | {floor} | {r['median_ms']:.1f} | {ratio} | {q}{floor_q} "
            f"| {r['sql_ms']:.1f} | {r['bytes'] / 1024:.0f} | {r['runs']} |"
        )

    ratios = {}
    print()
    for r in results:
        if "ratio" not in r:
            continue
        ok = r["ratio"] <= TARGET_FLOOR_RATIO and r["queries_max"] <= TARGET_QUERIES
        ratios[r["key"]] = {
            "ratio": r["ratio"],
            "queries": r["queries_max"],
            "target": f"<= {TARGET_FLOOR_RATIO}x floor, <= {TARGET_QUERIES} statements",
            "ok": ok,
        }
        print(
            f"- {r['page']}: **{r['ratio']:.2f}×** its floor, {r['queries_max']} statements "
            f"(targets ≤ {TARGET_FLOOR_RATIO}×, ≤ {TARGET_QUERIES}) {'OK' if ok else 'MISSED'}"
        )
    if "plain" in by_key:
        ratio = by_key["plain"]["median_ms"] / by_key["people"]["median_ms"]
        ratios["plain_vs_people"] = {"ratio": round(ratio, 2), "target": None}
        print(f"- (info) plain FAB ModelView / People list: {ratio:.2f}×")

    # Repeated statements: where a page goes over the query budget, say what repeats.
    for r in results:
        if r["queries_max"] > TARGET_QUERIES:
            tally = Tally(normalise(s.split("\n-- parameters:")[0]) for s in r["statements"])
            repeated = [(sql, n) for sql, n in tally.most_common() if n > 1]
            print(
                f"\n{r['page']}: {len(r['statements'])} statements, {len(tally)} distinct"
                + ("; repeated:" if repeated else "; none repeats:")
            )
            for sql, n in repeated or tally.most_common():
                print(f"  {n:>4} × {sql[:200]}")

    if args.show_sql:
        for r in results:
            if args.show_sql != "all" and args.show_sql not in r["key"]:
                continue
            print(
                f"\n-- SQL of one request: {r['page']} ({r['url']}), "
                f"{len(r['statements'])} statements"
            )
            for i, statement in enumerate(r["statements"], 1):
                statement = re.sub(r"[ \t]+", " ", statement.strip())
                print(f"-- [{i}]\n{statement};")

    import flask_appbuilder
    import sqlalchemy
    from sqlalchemy.engine import make_url

    return {
        "benchmark": "partners",
        "when": datetime.now().isoformat(timespec="seconds"),
        "database": make_url(url).render_as_string(hide_password=True),
        "backend": make_url(url).get_backend_name(),
        "partners": args.partners,
        "notes": args.notes,
        "heavy_partner_notes": HEAVY_NOTES,
        "heavy_partner_id": heavy_partner_id(args.partners),
        "runs": args.runs,
        "warmup": args.warmup,
        "build": build,
        **info,
        "versions": {
            "python": platform.python_version(),
            "flask_appbuilder": flask_appbuilder.__version__,
            "sqlalchemy": sqlalchemy.__version__,
        },
        "results": results,
        "ratios": ratios,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    url = configure_environment(args)
    log(f"database: {url}")
    app, build = build_app(args, url)
    results, info = run_measurements(app, args)
    data = report(results, args, url, build, info)
    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = (
            f"partners-{data['backend']}-p{args.partners}-n{args.notes}-"
            f"{time.strftime('%Y%m%d-%H%M%S')}.json"
        )
        (RESULTS / name).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        print(f"\nresults: {(RESULTS / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
