"""Automatic invoicing: each partner's settings, and the run that makes the invoices due,
mails the e-mail partners theirs and binds the rest into print files of INVOICE_PRINT_BATCH.

A run is safe to repeat and to restart. Each invoice records its setting and period under a
unique constraint, and the setting's next date moves on in the same transaction as the
invoice is numbered, so a period is invoiced once whatever happens. The mails and the print
files are made from what the run has already committed, so a run that stopped half-way
is started again and does only what is left."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.orm import selectinload

from app.errors import InvalidValue
from app.extensions import db
from app.formatting import date_text
from app.models import (
    RECURRING_MONTHS,
    Invoice,
    InvoiceLine,
    InvoicePrintBatch,
    InvoiceRun,
    InvoiceRunRefusal,
    Outbox,
    Partner,
    PartnerAddress,
    RecurringInvoice,
    add_months,
    utcnow,
)
from app.queue import enqueue
from app.services import acting_as, fetch, invoicing
from app.services.company import our_company

CHUNK = 50  # invoices per transaction: the number counter stays locked only this long
STALE_AFTER = timedelta(minutes=5)  # a running run without a heartbeat this long was killed
UNFINISHED = ("queued", "running", "failed")
# Invoicing up to a far date would make an invoice for every period until then.
MAX_AHEAD = timedelta(days=366)


def template_choices(partner_id: int) -> list[Invoice]:
    """Invoices of the partner that can serve as the template: issued, not cancelled, not
    credit notes."""
    return list(
        db.session.scalars(
            select(Invoice)
            .where(
                Invoice.partner_id == partner_id,
                Invoice.status != "draft",
                Invoice.kind == "invoice",
                ~Invoice.is_cancelled,
            )
            .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
            .limit(100)
        )
    )


def first_of_next_month(today: date) -> date:
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def settings_of(partner_id: int) -> RecurringInvoice | None:
    return db.session.scalar(
        select(RecurringInvoice).where(RecurringInvoice.partner_id == partner_id)
    )


def save_settings(
    partner_id: int,
    actor_id: int | None,
    *,
    template_id: int,
    frequency: str,
    next_date: date,
    delivery: str,
    active: bool = True,
) -> RecurringInvoice:
    """Set up (or change) a partner's automatic invoicing."""
    with acting_as(actor_id):
        partner = fetch(Partner, partner_id)
        if delivery == "email" and not partner.email:
            raise InvalidValue(
                "delivery",
                _l("The partner has no e-mail address: add one or choose delivery by post."),
            )
        settings = settings_of(partner_id) or RecurringInvoice(partner_id=partner_id)
        settings.template_id, settings.frequency, settings.delivery = (
            template_id,
            frequency,
            delivery,
        )
        settings.next_date, settings.anchor_day, settings.active = (
            next_date,
            next_date.day,
            active,
        )
        db.session.add(settings)
    return settings


def _due(as_of: date):
    return select(RecurringInvoice).where(
        RecurringInvoice.active.is_(True), RecurringInvoice.next_date <= as_of
    )


def check_as_of(as_of: date, today: date | None = None) -> date:
    """A run's date: at most a year ahead."""
    latest = (today or date.today()) + MAX_AHEAD
    if as_of > latest:
        raise InvalidValue(
            "as_of",
            _l("Automatic invoicing looks ahead at most a year: up to %(date)s.")
            % {"date": date_text(latest)},
        )
    return as_of


def periods_due(as_of: date) -> int:
    """How many invoices a run up to `as_of` makes: a setting behind by several periods
    gets one invoice for each."""
    rows = db.session.execute(
        _due(as_of).with_only_columns(
            RecurringInvoice.next_date, RecurringInvoice.frequency, RecurringInvoice.anchor_day
        )
    )
    total = 0
    for start, frequency, anchor in rows:
        while start <= as_of:
            total += 1
            start = add_months(start, RECURRING_MONTHS[frequency], anchor)
    return total


def due_list(as_of: date, limit: int = 50) -> tuple[int, list[RecurringInvoice]]:
    """The settings due by `as_of` (how many, and the first few) for the Finance page."""
    count = db.session.scalar(select(func.count()).select_from(_due(as_of).subquery()))
    rows = db.session.scalars(
        _due(as_of)
        .options(selectinload(RecurringInvoice.template), selectinload(RecurringInvoice.partner))
        .order_by(RecurringInvoice.next_date, RecurringInvoice.id)
        .limit(limit)
    )
    return count, list(rows)


def unfinished_run() -> InvoiceRun | None:
    return db.session.scalar(
        select(InvoiceRun).where(InvoiceRun.status.in_(UNFINISHED)).order_by(InvoiceRun.id).limit(1)
    )


def start(actor_id: int | None, as_of: date, queue_job: bool = True) -> InvoiceRun:
    """A new run up to `as_of`, queued for a worker (or run by the caller). While a run is
    unfinished it is the one to start again: two runs side by side would only wait on each
    other."""
    if unfinished_run() is not None:
        raise InvalidValue("run", _l("A run has not finished yet: start that one again."))
    with acting_as(actor_id):
        run_ = InvoiceRun(
            as_of=check_as_of(as_of),
            started_by_id=actor_id,
            status="queued",
            total=periods_due(as_of),
        )
        db.session.add(run_)
    if queue_job:
        _enqueue(run_.id)
    return run_


def restart(run_id: int) -> InvoiceRun:
    """Queue an unfinished run again; a run whose worker is still alive is left to it."""
    run_ = fetch(InvoiceRun, run_id)
    if run_.status == "done":
        raise InvalidValue("run", _l("This run has finished."))
    if run_.status == "running" and not is_stale(run_):
        raise InvalidValue("run", _l("This run is still working."))
    if run_.status == "failed":
        # Waiting again: should the queue be out of reach, the scheduler starts it later.
        run_.status, run_.error = "queued", None
        db.session.commit()
    _enqueue(run_.id)
    return run_


def is_stale(run_: InvoiceRun, now=None) -> bool:
    beat = run_.heartbeat_at or run_.created_at
    return beat < (now or utcnow()) - STALE_AFTER


def _enqueue(run_id: int) -> bool:
    return enqueue("app.jobs.invoicing.run_invoicing", run_id, job_timeout=24 * 3600)


def restart_stalled() -> int:
    """For the scheduler: runs that never reached a worker, or whose worker died."""
    now = utcnow()
    count = 0
    for run_ in db.session.scalars(
        select(InvoiceRun).where(InvoiceRun.status.in_(("queued", "running")))
    ):
        if is_stale(run_, now) or (
            run_.status == "queued" and run_.created_at < now - timedelta(minutes=1)
        ):
            count += _enqueue(run_.id)
    return count


def _claim(run_id: int) -> bool:
    """Take the run for this worker: a second worker given the same run leaves it alone."""
    now = utcnow()
    claimed = db.session.execute(
        update(InvoiceRun)
        .where(
            InvoiceRun.id == run_id,
            InvoiceRun.status.in_(("queued", "failed"))
            | ((InvoiceRun.status == "running") & (InvoiceRun.heartbeat_at < now - STALE_AFTER)),
        )
        .values(status="running", heartbeat_at=now, error=None)
        .returning(InvoiceRun.id)
    ).first()
    db.session.commit()
    return claimed is not None


def run(run_id: int, today: date | None = None) -> InvoiceRun:
    """The job: make the invoices, mail them, make the print files — each step from where
    the last attempt stopped. A failure is recorded on the run, which can be started again."""
    if not _claim(run_id):
        return db.session.get(InvoiceRun, run_id)
    run_ = db.session.get(InvoiceRun, run_id)
    try:
        with acting_as(run_.started_by_id):
            run_.total = run_.made + periods_due(run_.as_of)
        while _make_invoices(run_, today or date.today()):
            pass
        while _mail_invoices(run_):
            pass
        _print(run_)
        with acting_as(run_.started_by_id):
            run_.status, run_.finished_at, run_.heartbeat_at = "done", utcnow(), utcnow()
    except Exception as error:
        db.session.rollback()
        db.session.execute(
            update(InvoiceRun)
            .where(InvoiceRun.id == run_id)
            .values(status="failed", error=f"{type(error).__name__}: {error}"[:2000])
        )
        db.session.commit()
        raise
    return run_


def _make_invoices(run_: InvoiceRun, today: date) -> int:
    """One transaction: the next CHUNK due periods become numbered invoices. A partner whose
    invoice our company's data cannot carry yet (no tax number, no bank account in its
    currency …) is recorded as refused in this run and keeps its next date."""
    refused = select(InvoiceRunRefusal.id).where(
        InvoiceRunRefusal.run_id == run_.id,
        InvoiceRunRefusal.recurring_id == RecurringInvoice.id,
    )
    with acting_as(run_.started_by_id):
        company = our_company()
        due = (
            _due(run_.as_of)
            .where(~refused.exists())
            .order_by(RecurringInvoice.next_date, RecurringInvoice.id)
        )
        if db.session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True, of=RecurringInvoice)
        settings = list(
            db.session.scalars(
                due.limit(CHUNK).options(
                    selectinload(RecurringInvoice.template).selectinload(Invoice.lines),
                    selectinload(RecurringInvoice.partner)
                    .selectinload(Partner.address_links)
                    .joinedload(PartnerAddress.address),
                )
            )
        )
        done = set(
            db.session.execute(
                select(Invoice.recurring_id, Invoice.period_start).where(
                    Invoice.recurring_id.in_([s.id for s in settings])
                )
            ).all()
        )
        made = []
        for setting in settings:
            missing = _seller_missing(company, setting)
            if missing:
                db.session.add(
                    InvoiceRunRefusal(
                        run_id=run_.id,
                        recurring_id=setting.id,
                        partner_id=setting.partner_id,
                        currency=setting.template.currency,
                        missing=",".join(missing),
                    )
                )
                continue
            start, setting.next_date = setting.next_date, setting.period_after(setting.next_date)
            if (setting.id, start) not in done:
                made.append(_invoice_for(setting, start, run_))
        db.session.flush()
        for invoice in made:
            invoicing.number(invoice, today)
        run_.made += len(made)
        run_.heartbeat_at = utcnow()
    return len(settings)


def _seller_missing(company, setting: RecurringInvoice) -> list[str]:
    """What our company lacks for this setting's invoice (the rule `invoicing.number`
    applies), asked before the invoice is made so that the rest of the chunk goes on."""
    method = invoicing.payment_method_of(setting.partner, company)
    return invoicing.seller_missing(company, setting.template.currency, method)


def _invoice_for(setting: RecurringInvoice, start: date, run_: InvoiceRun) -> Invoice:
    template, partner = setting.template, setting.partner
    delivery = "email" if setting.delivery == "email" and partner.email else "post"
    invoice = Invoice(
        partner=partner,
        currency=template.currency,
        notes=template.notes,
        language=partner.language,
        recurring_id=setting.id,
        period_start=start,
        period_end=setting.period_after(start) - timedelta(days=1),
        run_id=run_.id,
        delivery=delivery,
    )
    invoice.lines = [
        InvoiceLine(
            position=line.position,
            product_id=line.product_id,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            vat_rate=line.vat_rate,
        )
        for line in template.lines
    ]
    db.session.add(invoice)
    return invoice


def _mail_key(invoice_id) -> str:
    return f"invoice:{invoice_id}:1"


def _mail_invoices(run_: InvoiceRun) -> int:
    """One transaction: the next CHUNK e-mail invoices of the run without a mail get theirs
    (with the PDF, in the partner's language); they become sent."""
    from app.services.outbox import queue_mail
    from app.services.tasks import render_mail

    key = literal("invoice:") + cast(Invoice.id, String) + literal(":1")
    waiting = list(
        db.session.scalars(
            select(Invoice)
            .outerjoin(Outbox, Outbox.key == key)
            .where(Invoice.run_id == run_.id, Invoice.delivery == "email", Outbox.id.is_(None))
            .options(selectinload(Invoice.lines))
            .order_by(Invoice.id)
            .limit(CHUNK)
        )
    )
    default = current_app.config["DEFAULT_LOCALE"]
    company = our_company()
    with acting_as(run_.started_by_id):
        for invoice in waiting:
            subject, body = render_mail("invoice", invoice.language or default, invoice=invoice)
            name = f"invoice-{invoice.number.replace('/', '-')}.pdf"
            queue_mail(
                db.session,
                _mail_key(invoice.id),
                invoice.partner.email,
                subject,
                body,
                check=False,
                attachments=[(name, "application/pdf", invoicing.render_pdf(invoice, company))],
            )
            if invoice.status == "issued":
                invoice.status = "sent"
        run_.emailed += len(waiting)
        run_.heartbeat_at = utcnow()
    return len(waiting)


def print_root() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / "invoice-runs"


def print_dir(run_id: int) -> Path:
    path = print_root() / str(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _print(run_: InvoiceRun) -> None:
    """The run's post invoices in number order, INVOICE_PRINT_BATCH to a PDF. A print file
    already made for exactly its invoices is kept; a missing or outdated one is made."""
    size = max(1, int(current_app.config["INVOICE_PRINT_BATCH"]))
    ids = list(
        db.session.scalars(
            select(Invoice.id)
            .where(Invoice.run_id == run_.id, Invoice.delivery == "post")
            .order_by(Invoice.id)
        )
    )
    existing = {batch.position: batch for batch in run_.batches}
    positions = range(1, -(-len(ids) // size) + 1)
    for position in positions:
        chunk = ids[(position - 1) * size : position * size]
        invoices = list(
            db.session.scalars(
                select(Invoice)
                .where(Invoice.id.in_(chunk))
                .options(selectinload(Invoice.lines))
                .order_by(Invoice.id)
            )
        )
        first, last = invoices[0].number, invoices[-1].number
        batch = existing.get(position)
        if (
            batch is not None
            and (batch.invoices, batch.first_number, batch.last_number)
            == (len(invoices), first, last)
            and (print_dir(run_.id) / batch.stored_name).exists()
        ):
            continue
        pdf = invoicing.render_pdf_of(invoices)
        stored = uuid.uuid4().hex
        (print_dir(run_.id) / stored).write_bytes(pdf)
        with acting_as(run_.started_by_id):
            if batch is None:
                batch = InvoicePrintBatch(run_id=run_.id, position=position)
                db.session.add(batch)
            else:
                (print_dir(run_.id) / batch.stored_name).unlink(missing_ok=True)
            batch.invoices, batch.first_number, batch.last_number = len(invoices), first, last
            batch.stored_name, batch.size = stored, len(pdf)
            run_.printed = min(len(ids), position * size)
            run_.heartbeat_at = utcnow()
    with acting_as(run_.started_by_id):
        for position, batch in existing.items():
            if position not in positions:
                (print_dir(run_.id) / batch.stored_name).unlink(missing_ok=True)
                db.session.delete(batch)
        run_.printed = len(ids)


def batch_path(batch: InvoicePrintBatch) -> Path:
    return print_dir(batch.run_id) / batch.stored_name


__all__ = [
    "save_settings",
    "settings_of",
    "template_choices",
    "due_list",
    "periods_due",
    "start",
    "restart",
    "restart_stalled",
    "run",
    "unfinished_run",
    "batch_path",
]
