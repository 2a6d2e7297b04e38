"""Automatic invoicing: settings after the first invoice, runs that invoice each period once,
mail the e-mail partners, bind the rest into print files, and finish after being killed."""

import io
import multiprocessing
import os
import shutil
import signal
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time
from pypdf import PdfReader
from sqlalchemy import func, select

from app.errors import InvalidValue
from app.extensions import db
from app.models import (
    Invoice,
    InvoiceLine,
    InvoicePrintBatch,
    InvoiceRun,
    Organization,
    Outbox,
    RecurringInvoice,
    utcnow,
)
from app.services import acting_as, invoicing, recurring
from tests import factories as f
from tests.conftest import run_jobs

FIRST = date(2026, 11, 1)


def partners_with_settings(
    app, count, delivery="post", language="hu", frequency="monthly", next_date=FIRST, email=True
):
    """`count` companies, each with a first invoice made by hand and automatic invoicing set
    up from it — in one transaction, so that hundreds are quick."""
    with app.app_context(), acting_as(None):
        companies = [
            Organization(
                name=f"Ügyfél {i:04d} Kft.",
                status="active",
                language=language,
                email=f"szamla{i}@ugyfel.example" if email else None,
            )
            for i in range(count)
        ]
        db.session.add_all(companies)
        db.session.flush()
        templates = []
        for company in companies:
            invoice = Invoice(partner=company, currency="HUF", language=language)
            invoice.lines = [
                InvoiceLine(
                    description="Könyvelés havidíj",
                    quantity=1,
                    unit="hó",
                    unit_price=Decimal("45000"),
                    vat_rate=27,
                )
            ]
            db.session.add(invoice)
            templates.append(invoice)
        db.session.flush()
        for invoice in templates:
            invoicing.number(invoice, date(2026, 10, 1))
        db.session.flush()
        db.session.add_all(
            RecurringInvoice(
                partner_id=c.id,
                template_id=t.id,
                frequency=frequency,
                next_date=next_date,
                anchor_day=next_date.day,
                delivery=delivery,
            )
            for c, t in zip(companies, templates, strict=True)
        )
        ids = [c.id for c in companies]
    return ids


def made_invoices(app):
    with app.app_context():
        return list(
            db.session.execute(
                select(Invoice.recurring_id, Invoice.period_start, Invoice.number)
                .where(Invoice.recurring_id.is_not(None))
                .order_by(Invoice.number)
            ).all()
        )


def pages(path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


@pytest.fixture
def print_batch(app):
    """INVOICE_PRINT_BATCH for one test (small ones keep the suite quick)."""
    before = app.config["INVOICE_PRINT_BATCH"]

    def set_size(size):
        app.config["INVOICE_PRINT_BATCH"] = size

    yield set_size
    app.config["INVOICE_PRINT_BATCH"] = before


def test_settings_are_offered_once_the_partner_has_a_first_invoice(app, login):
    with app.app_context():
        company = f.company(name="Pannon Kft.", email="penzugy@pannon.example")
        pid = company.id
    finance = login("finance")
    tab = finance.get(f"/partner/{pid}/account").get_data(as_text=True)
    assert "automatic-invoicing" in tab and "recurring-settings-link" not in tab
    assert finance.get(f"/automatic-invoicing/partner/{pid}").status_code == 302
    with app.app_context():
        draft = invoicing.new_draft(pid, None)
        invoicing.add_line(draft.id, None, description="Support", quantity=1, unit_price=100)
        template_id = invoicing.issue(draft.id, None, today=date(2026, 10, 5)).id
    tab = finance.get(f"/partner/{pid}/account").get_data(as_text=True)
    assert "recurring-settings-link" in tab
    form = finance.get(f"/automatic-invoicing/partner/{pid}").get_data(as_text=True)
    assert "2026/000001" in form
    saved = finance.post(
        f"/automatic-invoicing/partner/{pid}",
        data={
            "template": template_id,
            "frequency": "quarterly",
            "next_date": "2027-01-01",
            "delivery": "email",
            "active": "y",
        },
    )
    assert saved.status_code == 302
    with app.app_context():
        settings = recurring.settings_of(pid)
        assert (settings.frequency, settings.next_date, settings.delivery) == (
            "quarterly",
            date(2027, 1, 1),
            "email",
        )
    staff = login("staff")
    tab = staff.get(f"/partner/{pid}/account").get_data(as_text=True)
    assert "recurring-summary" in tab and "recurring-settings-link" not in tab
    assert staff.get(f"/automatic-invoicing/partner/{pid}").status_code == 403
    assert (
        staff.post(
            f"/automatic-invoicing/partner/{pid}",
            data={
                "template": template_id,
                "frequency": "monthly",
                "next_date": "2027-01-01",
                "delivery": "post",
            },
        ).status_code
        == 403
    )
    with app.app_context():
        assert recurring.settings_of(pid).frequency == "quarterly"


def test_bad_settings_get_a_clear_message_and_change_nothing(app, login):
    [pid] = partners_with_settings(app, 1, email=False, delivery="post")
    [other] = partners_with_settings(app, 1)
    with app.app_context():
        template = recurring.settings_of(pid).template_id
        foreign = recurring.settings_of(other).template_id
    finance = login("finance")
    finance.lang("de")
    page = finance.post(
        f"/automatic-invoicing/partner/{pid}",
        data={
            "template": template,
            "frequency": "monthly",
            "next_date": "2027-01-01",
            "delivery": "email",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "keine E-Mail-Adresse" in page
    with app.app_context(), pytest.raises(InvalidValue):
        recurring.save_settings(
            pid,
            None,
            template_id=foreign,
            frequency="monthly",
            next_date=date(2027, 1, 1),
            delivery="post",
        )
    with app.app_context():
        settings = recurring.settings_of(pid)
        assert (settings.delivery, settings.template_id, settings.next_date) == (
            "post",
            template,
            FIRST,
        )


def test_a_run_mails_the_email_partners_and_prints_the_rest(app, login, mailbox, print_batch):
    print_batch(2)
    by_mail = partners_with_settings(app, 2, delivery="email", language="de")
    by_post = partners_with_settings(app, 3, delivery="post", language="pl")
    [no_address] = partners_with_settings(app, 1, delivery="email", email=False)
    finance = login("finance")
    index = finance.get("/automatic-invoicing/?date=2026-11-30").get_data(as_text=True)
    assert "6 partners" in index and "6 invoices are due" in index
    started = finance.post("/automatic-invoicing/start", data={"as_of": "2026-11-30"})
    assert started.status_code == 302
    run_jobs(app)
    with app.app_context():
        run = db.session.scalar(select(InvoiceRun))
        assert (run.status, run.total, run.made, run.emailed, run.printed) == ("done", 6, 6, 2, 4)
        invoices = db.session.scalars(
            select(Invoice).where(Invoice.run_id == run.id).order_by(Invoice.id)
        ).all()
        assert [i.number for i in invoices] == [f"2026/{n:06d}" for n in range(7, 13)]
        assert {i.period_start for i in invoices} == {FIRST}
        assert {i.period_end for i in invoices} == {date(2026, 11, 30)}
        assert {i.partner_id for i in invoices if i.delivery == "email"} == set(by_mail)
        assert {i.partner_id for i in invoices if i.delivery == "post"} == set(
            by_post + [no_address]
        )
        assert {i.status for i in invoices if i.delivery == "email"} == {"sent"}
        assert {s.next_date for s in db.session.scalars(select(RecurringInvoice))} == {
            date(2026, 12, 1)
        }
        batches = [(b.position, b.invoices, b.first_number, b.last_number) for b in run.batches]
        run_id = run.id
    assert batches == [(1, 2, "2026/000009", "2026/000010"), (2, 2, "2026/000011", "2026/000012")]
    for address in ("szamla0@ugyfel.example", "szamla1@ugyfel.example"):
        [message] = mailbox.to(address)
        assert message["Subject"].startswith("Rechnung 2026/0000")
        [attachment] = list(message.iter_attachments())
        text = PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
        assert "Rechnung" in text and "Abrechnungszeitraum" in text
    page = finance.get(f"/automatic-invoicing/run/{run_id}").get_data(as_text=True)
    assert "print-files" in page and "2026/000009" in page
    download = finance.get(f"/automatic-invoicing/run/{run_id}/print/1.pdf")
    assert download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    printed = pages(io.BytesIO(download.data))
    assert len(printed) == 2 and "Faktura" in printed[0] and "2026/000009" in printed[0]
    progress = finance.get(f"/automatic-invoicing/run/{run_id}/progress").get_json()
    assert progress["percent"] == 100 and len(progress["files"]) == 2
    assert (
        login("staff").post("/automatic-invoicing/start", data={"as_of": "2026-11-30"}).status_code
        == 403
    )
    assert login("staff").get(f"/automatic-invoicing/run/{run_id}/print/1.pdf").status_code == 200


def test_running_the_same_period_again_makes_no_second_invoice(app, mailbox):
    ids = partners_with_settings(app, 3, delivery="email")
    with app.app_context():
        recurring.run(recurring.start(None, date(2026, 11, 15), queue_job=False).id)
        again = recurring.run(recurring.start(None, date(2026, 11, 15), queue_job=False).id)
        assert (again.total, again.made, again.status) == (0, 0, "done")
        # Someone sets a partner's next date back to a period that is already invoiced.
        settings = recurring.settings_of(ids[0])
        settings.next_date = FIRST
        db.session.commit()
        third = recurring.run(recurring.start(None, date(2026, 11, 15), queue_job=False).id)
        assert third.made == 0 and recurring.settings_of(ids[0]).next_date == date(2026, 12, 1)
        assert db.session.scalar(select(func.count(Outbox.id))) == 3
    assert len(made_invoices(app)) == 3


def test_a_partner_behind_by_several_periods_gets_one_invoice_for_each(app):
    [pid] = partners_with_settings(app, 1, frequency="monthly", next_date=date(2026, 1, 31))
    with app.app_context():
        run = recurring.run(recurring.start(None, date(2026, 4, 30), queue_job=False).id)
        assert run.total == run.made == 4
        periods = [
            (i.period_start, i.period_end)
            for i in db.session.scalars(
                select(Invoice).where(Invoice.run_id == run.id).order_by(Invoice.id)
            )
        ]
        assert periods == [
            (date(2026, 1, 31), date(2026, 2, 27)),
            (date(2026, 2, 28), date(2026, 3, 30)),
            (date(2026, 3, 31), date(2026, 4, 29)),
            (date(2026, 4, 30), date(2026, 5, 30)),
        ]
        assert recurring.settings_of(pid).next_date == date(2026, 5, 31)


def test_a_paused_setting_is_not_invoiced(app):
    [pid] = partners_with_settings(app, 1)
    with app.app_context():
        settings = recurring.settings_of(pid)
        recurring.save_settings(
            pid,
            None,
            template_id=settings.template_id,
            frequency="monthly",
            next_date=FIRST,
            delivery="post",
            active=False,
        )
        assert recurring.run(recurring.start(None, FIRST, queue_job=False).id).made == 0


def test_print_files_hold_exactly_the_batch_size(app, print_batch):
    print_batch(3)
    partners_with_settings(app, 7)
    with app.app_context():
        run = recurring.run(recurring.start(None, FIRST, queue_job=False).id)
        sizes = [b.invoices for b in run.batches]
        files = [recurring.batch_path(b) for b in run.batches]
    assert sizes == [3, 3, 1]
    assert [len(pages(path)) for path in files] == [3, 3, 1]


def test_500_invoices_make_one_print_file_and_the_501st_a_second(app):
    assert app.config["INVOICE_PRINT_BATCH"] == 500
    partners_with_settings(app, 501)
    with app.app_context():
        run = recurring.run(recurring.start(None, FIRST, queue_job=False).id)
        files = [(b.invoices, recurring.batch_path(b)) for b in run.batches]
    assert [count for count, _ in files] == [500, 1]
    reader = PdfReader(files[0][1])
    assert len(reader.pages) == 500
    assert "Ügyfél 0499 Kft." in reader.pages[499].extract_text()


def _run_in_child(app, run_id):
    with app.app_context():
        db.engine.dispose(close=False)
        recurring.run(run_id)


def test_a_killed_run_is_started_again_and_finishes_the_rest(app, mailbox, print_batch):
    print_batch(40)
    partners_with_settings(app, 3 * recurring.CHUNK, delivery="post")
    partners_with_settings(app, 20, delivery="email", language="ru")
    with app.app_context():
        run_id = recurring.start(None, FIRST, queue_job=False).id
    child = multiprocessing.get_context("fork").Process(target=_run_in_child, args=(app, run_id))
    child.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with app.app_context():
                made = db.session.scalar(select(InvoiceRun.made).where(InvoiceRun.id == run_id))
            if made:
                break
            time.sleep(0.005)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    with app.app_context():
        run = db.session.get(InvoiceRun, run_id)
        assert run.status == "running" and 0 < run.made < run.total == 170
        # What was committed is whole: numbered invoices without gaps, next dates moved on.
        committed = db.session.scalars(
            select(Invoice.number).where(Invoice.run_id == run_id).order_by(Invoice.number)
        ).all()
        assert len(committed) == run.made
        advanced = db.session.scalar(
            select(func.count(RecurringInvoice.id)).where(RecurringInvoice.next_date > FIRST)
        )
        assert advanced == run.made
        with pytest.raises(InvalidValue):  # a run that may still be working is left alone
            recurring.restart(run_id)
    with freeze_time(utcnow() + recurring.STALE_AFTER + timedelta(seconds=1)):
        with app.app_context():
            recurring.restart(run_id)
        run_jobs(app)
    with app.app_context():
        run = db.session.get(InvoiceRun, run_id)
        assert (run.status, run.made, run.emailed, run.printed) == ("done", 170, 20, 150)
        assert [b.invoices for b in run.batches] == [40, 40, 40, 30]
        assert db.session.scalar(select(func.count(Outbox.id))) == 20
    numbers = [number for _, _, number in made_invoices(app)]
    assert numbers == [f"2026/{n:06d}" for n in range(171, 341)]
    assert len({(setting, period) for setting, period, _ in made_invoices(app)}) == 170


def test_a_run_that_fails_records_why_and_finishes_when_started_again(app, login, print_batch):
    print_batch(5)
    partners_with_settings(app, 6)
    with app.app_context():
        run_id = recurring.start(None, FIRST, queue_job=False).id
        folder = recurring.print_dir(run_id)
    shutil.rmtree(folder)
    folder.write_text("not a folder")  # the disk refuses the print files
    with app.app_context():
        with pytest.raises(OSError):
            recurring.run(run_id)
        run = db.session.get(InvoiceRun, run_id)
        assert (run.status, run.made) == ("failed", 6) and "Error" in run.error
    page = login("finance").get(f"/automatic-invoicing/run/{run_id}").get_data(as_text=True)
    assert "restart-run" in page
    folder.unlink()
    assert login("finance").post(f"/automatic-invoicing/run/{run_id}/restart").status_code == 302
    run_jobs(app)
    with app.app_context():
        run = db.session.get(InvoiceRun, run_id)
        assert (run.status, run.made, [b.invoices for b in run.batches]) == ("done", 6, [5, 1])
    assert len(made_invoices(app)) == 6


def test_a_run_queued_while_redis_was_down_is_started_by_the_scheduler(app, redis_server, mailbox):
    partners_with_settings(app, 2)
    redis_server.stop()
    try:
        with app.app_context():
            run_id = recurring.start(None, FIRST).id
    finally:
        redis_server.start()
    with app.app_context():
        assert db.session.get(InvoiceRun, run_id).status == "queued"
        assert recurring.unfinished_run().id == run_id
        with pytest.raises(InvalidValue):
            recurring.start(None, FIRST)
    with freeze_time(utcnow() + timedelta(minutes=2)):
        from app.jobs.invoicing import restart_stalled_runs

        with app.app_context():
            assert restart_stalled_runs() == 1
        run_jobs(app)
    with app.app_context():
        assert db.session.get(InvoiceRun, run_id).status == "done"
        assert db.session.scalar(select(func.count(InvoicePrintBatch.id))) == 1


def test_a_template_cancelled_later_still_serves_as_the_pattern(app):
    [pid] = partners_with_settings(app, 1)
    with app.app_context():
        invoicing.set_status(recurring.settings_of(pid).template_id, None, "cancelled")
        run = recurring.run(recurring.start(None, FIRST, queue_job=False).id)
        assert (run.status, run.made) == ("done", 1)
