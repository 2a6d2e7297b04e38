#!/usr/bin/env python
"""Benchmark of automatic invoicing: one run of N invoices.

Builds a fresh database with N companies, each with a first invoice made by hand (two lines)
and automatic invoicing set up from it — a share of them by e-mail, the rest by post — then
runs `app.services.recurring.run()` in this process, as an rq worker would, and reports:

* making the invoices (numbered, billing data frozen, next dates moved on): invoices/s;
* the e-mail invoices: one PDF each, queued in the outbox: PDF pages/s, beside the same
  invoices' HTML turned into PDFs by xhtml2pdf alone (the floor; `mail_vs_bare`);
* the print files of INVOICE_PRINT_BATCH invoices: PDF pages/s;
* the whole run: wall time, SQL statements, peak memory (the process's maximum RSS);
* optionally, sending the queued mails to a real SMTP server on loopback (--send).

    .venv/bin/python bench/bench_invoicing.py                     # 10,000 invoices
    .venv/bin/python bench/bench_invoicing.py --invoices 600 --send
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/dossier_bench_invoicing \\
        .venv/bin/python bench/bench_invoicing.py

See bench/README.md.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import resource
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_partners import (  # noqa: E402
    RESULTS,
    ROOT,
    QueryCounter,
    ensure_pg_database,
    log,
    move_sequences,
    reset_database,
    vacuum_analyze,
)
from bench_partners import (  # noqa: E402
    configure_environment as configure_partner_bench_environment,
)
from bench_tasks import RedisServer, SmtpSink  # noqa: E402

LANGUAGES = ["hu", "pl", "de", "ru", "en"]
NAMES = {
    "hu": "Építő Kft.",
    "pl": "Łódź Sp. z o.o.",
    "de": "Größe GmbH",
    "ru": "ООО «Иван»",
    "en": "Thames Ltd",
}
CHUNK = 5_000


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--invoices", type=int, default=10_000, help="invoices of the run (10000)")
    p.add_argument(
        "--email-share",
        type=float,
        default=0.3,
        help="share of partners invoiced by e-mail, the rest by post (0.3)",
    )
    p.add_argument("--batch", type=int, default=500, help="INVOICE_PRINT_BATCH (500)")
    p.add_argument(
        "--send",
        action="store_true",
        help="also send the queued mails to an SMTP server on loopback",
    )
    p.add_argument(
        "--instance",
        default=str(ROOT / "bench" / "instance"),
        help="DOSSIER_INSTANCE dir; default bench/instance",
    )
    p.add_argument(
        "--bare-sample",
        type=int,
        default=300,
        help="e-mail invoices rendered again by xhtml2pdf alone, the phase's floor (300)",
    )
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    args = p.parse_args(argv)
    args.partners, args.notes = args.invoices, 0
    return args


def wall() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(db, args) -> float:
    """N companies, each with an issued first invoice and its automatic invoicing, with
    SQLAlchemy Core (no audit rows); the counters are set past the numbers used."""
    from sqlalchemy import insert, update

    from app.models import (
        Counter,
        Invoice,
        InvoiceLine,
        Organization,
        Partner,
        RecurringInvoice,
    )

    started = wall()
    n, now = args.invoices, datetime(2026, 10, 1, 9)
    emails = int(n * args.email_share)
    partners, orgs, invoices, lines, settings = [], [], [], [], []
    for i in range(1, n + 1):
        lang = LANGUAGES[i % len(LANGUAGES)]
        name = f"{i:05d} {NAMES[lang]}"
        by_mail = i <= emails
        partners.append(
            dict(
                id=i,
                type="organization",
                customer_number=f"B{i:07d}",
                display_name=name,
                status="active",
                language=lang,
                email=f"billing{i}@bench.example" if by_mail else None,
                created_at=now,
                updated_at=now,
            )
        )
        orgs.append(dict(id=i, name=name))
        invoices.append(
            dict(
                id=i,
                number=f"2026/{i:06d}",
                year=2026,
                partner_id=i,
                status="issued",
                currency="HUF",
                language=lang,
                issue_date=date(2026, 10, 1),
                due_date=date(2026, 10, 9),
                billing_name=name,
                billing_address=f"Fő utca {i}, 1011 Budapest, HU",
                net_total=Decimal("54900.00"),
                vat_total=Decimal("14823.00"),
                gross_total=Decimal("69723.00"),
                created_at=now,
            )
        )
        lines += [
            dict(
                invoice_id=i,
                position=1,
                description="Könyvelés / Accounting",
                quantity=1,
                unit="month",
                unit_price=Decimal("45000"),
                vat_rate=27,
            ),
            dict(
                invoice_id=i,
                position=2,
                description="Dossier licence",
                quantity=1,
                unit="user",
                unit_price=Decimal("9900"),
                vat_rate=27,
            ),
        ]
        settings.append(
            dict(
                partner_id=i,
                template_id=i,
                frequency="monthly",
                next_date=date(2026, 11, 1),
                anchor_day=1,
                delivery="email" if by_mail else "post",
                active=True,
                created_at=now,
                updated_at=now,
            )
        )
    with db.engine.begin() as conn:
        for model, rows in (
            (Partner, partners),
            (Organization, orgs),
            (Invoice, invoices),
            (InvoiceLine, lines),
            (RecurringInvoice, settings),
        ):
            for k in range(0, len(rows), CHUNK):
                conn.execute(insert(model.__table__), rows[k : k + CHUNK])
        conn.execute(
            update(Counter.__table__).where(Counter.name == "customer_number").values(value=n)
        )
        conn.execute(insert(Counter.__table__).values(name="invoice:2026", value=n))
        move_sequences(conn, ("partner", "invoice", "invoice_line", "recurring_invoice"))
    from app.services.demo import load_our_company

    load_our_company(None)  # the seller every invoice carries
    vacuum_analyze(db.engine)
    return wall() - started


def build_app(args, url: str, overrides: dict):
    if url.startswith("postgresql"):
        ensure_pg_database(url)
    reset_database(url)

    from flask_migrate import upgrade

    from app import create_app
    from app.cli import initialise
    from app.extensions import db

    app = create_app({"WTF_CSRF_ENABLED": False, "INVOICE_PRINT_BATCH": args.batch, **overrides})
    with app.app_context():
        upgrade()
        initialise()
        log(
            f"filling: {args.invoices} companies with a first invoice and automatic "
            f"invoicing ({args.email_share:.0%} by e-mail)"
        )
        fill_s = fill(db, args)
        log(f"filled in {fill_s:.1f} s")
        db.session.remove()
    return app, fill_s


def timed_phases():
    """Wall time of each step of the run, by wrapping the service's own step functions."""
    from app.services import recurring

    phases = {"make": 0.0, "mail": 0.0, "print": 0.0, "mail_cpu": 0.0}
    for key, name in (("make", "_make_invoices"), ("mail", "_mail_invoices"), ("print", "_print")):
        original = getattr(recurring, name)

        def wrapper(*a, _original=original, _key=key, **kw):
            started, cpu = wall(), time.process_time()
            try:
                return _original(*a, **kw)
            finally:
                phases[_key] += wall() - started
                if _key == "mail":
                    phases["mail_cpu"] += time.process_time() - cpu

        setattr(recurring, name, wrapper)
    return phases


def bare_reference(run_id: int, sample: int) -> dict:
    """The floor of the e-mail phase: the same invoices' HTML (the shared layout, rendered
    beforehand) turned into PDFs by xhtml2pdf alone, one PDF per invoice as the run makes
    them — no database, no mail, no outbox."""
    from flask import current_app, render_template
    from flask_babel import force_locale
    from markupsafe import Markup
    from pypdf import PdfReader
    from sqlalchemy import select
    from xhtml2pdf import pisa

    from app.extensions import db
    from app.models import Invoice
    from app.services import invoicing
    from app.services.company import our_company

    invoices = db.session.scalars(
        select(Invoice)
        .where(Invoice.run_id == run_id, Invoice.delivery == "email")
        .order_by(Invoice.id)
        .limit(sample)
    ).all()
    if not invoices:
        return {}
    company, default = our_company(), current_app.config["DEFAULT_LOCALE"]
    pages_html = []
    for invoice in invoices:
        with force_locale(invoice.language or default):
            body = Markup(
                render_template(
                    "pdf/_document.html", doc=invoicing.invoice_document(invoice, company)
                )
            )
            pages_html.append(
                render_template(
                    "pdf/invoices.html",
                    bodies=[body],
                    font=str(invoicing.FONTS / "DejaVuSans.ttf"),
                    bold=str(invoicing.FONTS / "DejaVuSans-Bold.ttf"),
                )
            )
    started, cpu = wall(), time.process_time()
    outputs = []
    for html in pages_html:
        out = io.BytesIO()
        pisa.CreatePDF(html, dest=out, encoding="utf-8")
        outputs.append(out)
    seconds, cpu_seconds = wall() - started, time.process_time() - cpu
    pages = sum(len(PdfReader(out).pages) for out in outputs)
    return {
        "bare_pdfs": len(outputs),
        "bare_pdf_pages_per_s": round(pages / seconds, 1),
        "bare_pdf_pages_per_cpu_s": round(pages / cpu_seconds, 1),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    url = configure_partner_bench_environment(args, f"bench_invoicing_{args.invoices}.sqlite")
    log(f"database: {url}")
    smtp, redis = SmtpSink(), RedisServer()
    smtp.start()
    redis.start()
    try:
        app, fill_s = build_app(
            args, url, {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port, "REDIS_URL": redis.url}
        )
        from pypdf import PdfReader

        from app.extensions import db
        from app.services import recurring

        phases = timed_phases()
        with app.app_context():
            counter = QueryCounter(db.engine)
            rss_before = peak_rss_mb()
            run_id = recurring.start(None, date(2026, 11, 30), queue_job=False).id
            log(f"run {run_id}: {args.invoices} invoices due")
            counter.active = True
            started = wall()
            run = recurring.run(run_id, today=date(2026, 12, 1))
            total_s = wall() - started
            counter.active = False
            print_pages = sum(len(PdfReader(recurring.batch_path(b)).pages) for b in run.batches)
            result = {
                "invoices": run.made,
                "emailed": run.emailed,
                "printed": run.printed,
                "print_files": len(run.batches),
                "print_pages": print_pages,
                "run_s": round(total_s, 1),
                "statements": len(counter.statements),
                "make_s": round(phases["make"], 1),
                "mail_s": round(phases["mail"], 1),
                "print_s": round(phases["print"], 1),
                "invoices_per_s": round(run.made / phases["make"], 1),
                "mail_pdf_pages_per_s": round(run.emailed / phases["mail"], 1)
                if phases["mail"]
                else None,
                "print_pdf_pages_per_s": round(print_pages / phases["print"], 1)
                if phases["print"]
                else None,
                "run_invoices_per_s": round(run.made / total_s, 1),
                "peak_rss_mb": round(peak_rss_mb(), 0),
                "rss_before_run_mb": round(rss_before),
            }
            result.update(bare_reference(run.id, args.bare_sample))
            if result.get("bare_pdf_pages_per_s") and result.get("mail_pdf_pages_per_s"):
                result["mail_vs_bare"] = round(
                    result["mail_pdf_pages_per_s"] / result["bare_pdf_pages_per_s"], 2
                )
            if result.get("bare_pdf_pages_per_cpu_s") and phases["mail_cpu"]:
                # CPU seconds of this process: what other work on the machine does not move.
                result["mail_pdf_pages_per_cpu_s"] = round(run.emailed / phases["mail_cpu"], 1)
                result["mail_vs_bare_cpu"] = round(
                    result["mail_pdf_pages_per_cpu_s"] / result["bare_pdf_pages_per_cpu_s"], 2
                )
            if args.send:
                from rq import SimpleWorker

                from app.queue import MAIL_QUEUE, queue

                q = queue(MAIL_QUEUE)
                smtp.reset()
                started = wall()
                SimpleWorker([q], connection=q.connection).work(burst=True)
                result.update(
                    send_s=round(wall() - started, 1),
                    smtp_messages=smtp.messages,
                    smtp_connections=smtp.connections,
                )
    finally:
        smtp.stop()
        redis.stop()
    data = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "backend": url.split(":")[0],
        "python": platform.python_version(),
        "batch": args.batch,
        "fill_s": round(fill_s),
        **result,
    }
    width = max(len(k) for k in data)
    print()
    for key, value in data.items():
        print(f"  {key:<{width}}  {value}")
    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = f"invoicing-{data['backend']}-{args.invoices}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        (RESULTS / name).write_text(json.dumps(data, indent=2, default=str))
        print(f"\nresults: {(RESULTS / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
