"""The partner data sheet's parts, shared by every screen that answers with the sheet (a
refused note, document, payment or address comes back on its tab): its tabs and what each
loads, the partner as its header shows it, and the rendering. The sheet's own screens are in
views/datasheet.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from flask import (
    abort,
    current_app,
    g,
    request,
    url_for,
)
from flask_appbuilder import BaseView
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import bindparam, exists, literal, or_, select, true
from sqlalchemy.orm import contains_eager, lazyload, selectinload, with_polymorphic
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields import FloatField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.extensions import db
from app.formatting import datetime_texts
from app.models import (
    ADDRESS_TYPE_LABELS,
    AUDIT_ACTION_LABELS,
    CONTRACT_STATUS_LABELS,
    ENTITY_LABELS,
    NOTE_KIND_LABELS,
    OFFER_STATUS_LABELS,
    ORDER_STATUS_LABELS,
    Affiliation,
    AuditLog,
    Code,
    Contract,
    Document,
    DocumentTemplate,
    Note,
    Offer,
    Order,
    Organization,
    Partner,
    PartnerAddress,
    Person,
    Product,
    Task,
    partner_code,
    partner_product,
    utcnow,
)
from app.services import quotes
from app.services.documents import audit_visible
from app.services.partners import birthday_soon
from app.services.sales import totals_by_status
from app.views.base import date_arg, page_of, shown
from app.views.common import DocumentForm, NoteForm, audit_label, audit_text, can
from app.views.labels import LABELS


class ContactPersonForm(FlaskForm):
    title = StringField(LABELS["title"], validators=[Optional(), Length(max=40)])
    first_name = StringField(LABELS["first_name"], validators=[DataRequired(), Length(max=100)])
    last_name = StringField(LABELS["last_name"], validators=[DataRequired(), Length(max=100)])
    email = StringField(LABELS["email"], validators=[Optional(), Length(max=254)])
    phone = StringField(LABELS["phone"], validators=[Optional(), Length(max=40)])
    role = StringField(LABELS["role"], validators=[Optional(), Length(max=100)])
    department = StringField(LABELS["department"], validators=[Optional(), Length(max=100)])
    is_contact_person = BooleanField(LABELS["is_contact_person"], default=True)
    may_collect_mail = BooleanField(LABELS["may_collect_mail"])
    may_represent = BooleanField(LABELS["may_represent"])
    additional_info = TextAreaField(LABELS["additional_info"], validators=[Optional()])


class AddressForm(FlaskForm):
    type = SelectField(LABELS["type"], choices=list(ADDRESS_TYPE_LABELS.items()))
    street = StringField(LABELS["street"], validators=[DataRequired(), Length(max=200)])
    postal_code = StringField(LABELS["postal_code"], validators=[Optional(), Length(max=20)])
    city = StringField(LABELS["city"], validators=[DataRequired(), Length(max=100)])
    country = StringField(LABELS["country"], validators=[Optional(), Length(min=2, max=2)])
    latitude = FloatField(LABELS["latitude"], validators=[Optional(), NumberRange(-90, 90)])
    longitude = FloatField(LABELS["longitude"], validators=[Optional(), NumberRange(-180, 180)])


@dataclass(frozen=True)
class Tab:
    """A dossier of the data sheet. Later areas append theirs to TABS."""

    key: str
    label: object
    template: str
    load: Callable[[Partner, int], dict]
    applies: Callable[[Partner], bool] = lambda partner: True
    resource: str = "Partner"


@cache
def _notes_statement(of_kind: bool):
    """The notes tab's statement (of one kind or all), built once: building it again on every
    visit cost more than running it."""
    query = select(Note).where(Note.partner_id == bindparam("partner_id"))
    if of_kind:
        query = query.where(Note.kind == bindparam("kind"))
    return query.order_by(Note.created_at.desc(), Note.id.desc())


def load_notes(partner: Partner, page: int) -> dict:
    kind = request.args.get("kind") or None
    kind = kind if kind in NOTE_KIND_LABELS else None
    params = {"partner_id": partner.id, "kind": kind} if kind else {"partner_id": partner.id}
    return {
        "notes": page_of(_notes_statement(bool(kind)), page, params=params),
        "kind": kind,
        "form": NoteForm(),
        "note_items": note_items,
    }


def note_items(notes, texts: dict, links: dict, can_write_tasks, can_write_notes, user_id):
    """The notes tab's list items, written once per page in Python (a Jinja loop over 25
    notes with their dates, links and forms was a third of the sheet): the same HTML as the
    template wrote. `texts` are the template's translations (t_at, t_pinned, t_fixed, t_task,
    t_edit, t_delete, t_confirm), `links` its URLs made once (task_url, back_query,
    edit_head/tail, delete_head/tail) and the CSRF token (csrf). The task link names the
    note; the task form takes its title from it."""
    t = {key: escape(value) for key, value in texts.items()}
    task_url, back_query = escape(links["task_url"]), escape(links["back_query"])
    edit_head, edit_tail = escape(links["edit_head"]), escape(links["edit_tail"])
    delete_head, delete_tail = escape(links["delete_head"]), escape(links["delete_tail"])
    csrf = escape(shown(links["csrf"]))
    kinds = {key: escape(str(label)) for key, label in NOTE_KIND_LABELS.items()}
    # The request's locale and time zone looked up once, not twice per note.
    moment = datetime_texts()

    out = []
    for note in notes:
        nid = escape(note.id)
        kind = kinds.get(note.kind) or escape(shown(note.kind))
        meta = [f"<strong>{kind}</strong> · {escape(moment(note.created_at))}"]
        if note.author:
            name = escape(shown(note.author.get_full_name()))
            meta.append(f'· <span class="note-author">{name}</span>')
        if note.occurred_at:
            meta.append("· " + escape(texts["t_at"].replace("__time__", moment(note.occurred_at))))
        if note.pinned:
            meta.append(f'<i class="fa fa-thumb-tack" title="{t["t_pinned"]}"></i>')
        if note.is_locked():
            meta.append(f'<i class="fa fa-lock" title="{t["t_fixed"]}"></i>')
        actions = []
        if can_write_tasks:
            # The task form titles the task with the beginning of the note's text.
            actions.append(
                f'<a class="btn btn-xs btn-default" href="{task_url}&amp;note={nid}">'
                f"{t['t_task']}</a>"
            )
        if can_write_notes and note.may_be_changed_by(user_id):
            actions.append(
                f'<a class="btn btn-xs btn-default" href="{edit_head}/{nid}/{edit_tail}'
                f'{back_query}">{t["t_edit"]}</a>'
                f'<form method="post" action="{delete_head}/{nid}/{delete_tail}" '
                'style="display:inline">'
                f'<input type="hidden" name="csrf_token" value="{csrf}">'
                f'<button class="btn btn-xs btn-danger" data-confirm="{t["t_confirm"]}">'
                f"{t['t_delete']}</button></form>"
            )
        out.append(
            f'<li class="list-group-item note" data-note="{nid}">'
            f'<div class="note-meta text-muted small">{" ".join(meta)}</div>'
            f'<div class="note-body">{escape(shown(note.body))}</div>'
            f'<div class="note-actions">{"".join(actions)}</div></li>\n'
        )
    return Markup("".join(out))


def load_people(partner: Partner, page: int) -> dict:
    flag = request.args.get("flag")
    query = select(Affiliation).where(Affiliation.organization_id == partner.id)
    if flag in ("is_contact_person", "may_collect_mail", "may_represent"):
        query = query.where(getattr(Affiliation, flag).is_(True))
    query = query.join(Person, Affiliation.person_id == Person.id).order_by(
        Person.last_name, Person.first_name
    )
    return {"affiliations": page_of(query, page), "flag": flag}


def load_organizations(partner: Partner, page: int) -> dict:
    query = (
        select(Affiliation)
        .where(Affiliation.person_id == partner.id)
        .join(Organization, Affiliation.organization_id == Organization.id)
        .order_by(Organization.name)
    )
    return {"affiliations": page_of(query, page)}


def load_addresses(partner: Partner, page: int) -> dict:
    query = (
        select(PartnerAddress)
        .where(PartnerAddress.partner_id == partner.id)
        .order_by(PartnerAddress.type, PartnerAddress.id)
    )
    return {"links": page_of(query, page), "form": AddressForm()}


def load_history(partner: Partner, page: int) -> dict:
    address_ids = select(PartnerAddress.address_id).where(PartnerAddress.partner_id == partner.id)
    query = (
        select(AuditLog)
        .where(
            or_(
                AuditLog.partner_id == partner.id,
                (AuditLog.entity == "address") & AuditLog.entity_id.in_(address_ids),
            ),
            audit_visible(g.user),
        )
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
    )
    return {
        "entries": page_of(query, page),
        "audit_label": audit_label,
        "audit_text": audit_text,
        "entities": ENTITY_LABELS,
        "actions": AUDIT_ACTION_LABELS,
    }


def load_offers(partner: Partner, page: int) -> dict:
    status = request.args.get("status")
    query = select(Offer).where(Offer.partner_id == partner.id)
    if status in OFFER_STATUS_LABELS:
        query = query.where(Offer.status == status)
    query = query.order_by(Offer.deadline.desc().nulls_last(), Offer.id.desc())
    offers = page_of(quotes.with_overview(query), page)
    # Who a quote may go to, asked only when an offer on the page can send one.
    sendable = can("write", "Offer") and any(
        offer.status == "pending" and offer.line_count for offer in offers["rows"]
    )
    recipients = quotes.contacts_of(partner) if sendable else []
    chosen = quotes.default_contact(recipients)
    return {
        "offers": offers,
        "status": status,
        "totals": totals_by_status(partner.id),
        "statuses": OFFER_STATUS_LABELS,
        "latest_quotes": quotes.latest_quotes(offers["rows"]),
        "recipients": [r for r in recipients if r.email],
        "default_contact": chosen.person.id if chosen else None,
        "valid_until": date.today() + timedelta(days=quotes.valid_days() if sendable else 30),
    }


def load_orders(partner: Partner, page: int) -> dict:
    status = request.args.get("status")
    query = select(Order).where(Order.partner_id == partner.id)
    if status in ORDER_STATUS_LABELS:
        query = query.where(Order.status == status)
    query = query.order_by(Order.order_date.desc(), Order.id.desc())
    return {"orders": page_of(query, page), "status": status, "statuses": ORDER_STATUS_LABELS}


def load_tasks(partner: Partner, page: int) -> dict:
    show = request.args.get("show", "open")
    query = select(Task).where(Task.partner_id == partner.id)
    if show == "open":
        query = query.where(Task.done.is_(False))
    elif show == "overdue":
        query = query.where(Task.done.is_(False), Task.due_at < utcnow())
    elif show == "done":
        query = query.where(Task.done.is_(True))
    query = query.order_by(Task.due_at.desc() if show == "done" else Task.due_at)
    return {"tasks": page_of(query, page), "show": show, "now": utcnow()}


def load_documents(partner: Partner, page: int) -> dict:
    from app.services.documents import visible

    query = (
        visible(g.user)
        .where(Document.partner_id == partner.id)
        .order_by(Document.created_at.desc(), Document.id.desc())
    )
    form = DocumentForm()
    form.fill_choices()
    templates = db.session.scalars(select(DocumentTemplate).order_by(DocumentTemplate.name))
    return {
        "documents": page_of(query, page),
        "form": form,
        "templates": list(templates),
        "max_mb": current_app.config["MAX_UPLOAD_MB"],
    }


def load_account(partner: Partner, page: int) -> dict:
    from app.services.invoicing import current_account
    from app.services.receivables import drafts_billing, open_receivables
    from app.services.recurring import settings_of

    account = current_account(partner.id)
    return {
        "account": account,
        "receivables": open_receivables(partner.id),
        "receivable_drafts": drafts_billing(partner.id),
        "today": date.today(),
        "recurring": settings_of(partner.id) if can("read", "RecurringInvoice") else None,
        "can_read_recurring": can("read", "RecurringInvoice"),
        "can_write_recurring": can("write", "RecurringInvoice"),
        "has_first_invoice": any(row["invoice"].state != "cancelled" for row in account["rows"]),
    }


def load_contracts(partner: Partner, page: int) -> dict:
    name = (request.args.get("name") or "").strip()
    status = request.args.get("status") or ""
    since = date_arg("since")
    until = date_arg("until")
    query = select(Contract).where(Contract.partner_id == partner.id)
    if name:
        query = query.where(Contract.name.ilike(f"%{name}%"))
    if status in CONTRACT_STATUS_LABELS:
        query = query.where(Contract.status == status)
    if since:
        query = query.where(or_(Contract.ends_on.is_(None), Contract.ends_on >= since))
    if until:
        query = query.where(Contract.starts_on <= until)
    query = query.options(selectinload(Contract.quotas)).order_by(
        Contract.starts_on.desc(), Contract.id.desc()
    )
    return {
        "contracts": page_of(query, page),
        "filters": {
            "name": name,
            "status": status,
            "since": since,
            "until": until,
        },
        "contract_statuses": CONTRACT_STATUS_LABELS,
        "today": date.today(),
    }


def load_zone(partner: Partner, page: int) -> dict:
    """A company's zone users with their last login, and whom it can still invite."""
    from app.models import ZONE_LABELS
    from app.services.zone import members_of

    members = members_of(partner.id)
    taken = {m.person_id for m in members}
    people = db.session.scalars(
        select(Person)
        .join(Affiliation, Affiliation.person_id == Person.id)
        .where(Affiliation.organization_id == partner.id)
        .order_by(Person.last_name, Person.first_name)
    ).all()
    return {
        "members": members,
        "invitable": [p for p in people if p.id not in taken],
        "zones": ZONE_LABELS,
    }


TABS: list[Tab] = [
    Tab("notes", _l("Notes"), "datasheet/tab_notes.html", load_notes, resource="Note"),
    Tab("offers", _l("Offers"), "datasheet/tab_offers.html", load_offers, resource="Offer"),
    Tab("orders", _l("Orders"), "datasheet/tab_orders.html", load_orders, resource="Order"),
    Tab("tasks", _l("Tasks"), "datasheet/tab_tasks.html", load_tasks, resource="Task"),
    Tab(
        "documents",
        _l("Documents"),
        "datasheet/tab_documents.html",
        load_documents,
        resource="Document",
    ),
    Tab(
        "people",
        _l("People"),
        "datasheet/tab_people.html",
        load_people,
        applies=lambda p: isinstance(p, Organization),
        resource="Affiliation",
    ),
    Tab(
        "organizations",
        _l("Organizations"),
        "datasheet/tab_organizations.html",
        load_organizations,
        applies=lambda p: isinstance(p, Person),
        resource="Affiliation",
    ),
    Tab(
        "addresses",
        _l("Addresses"),
        "datasheet/tab_addresses.html",
        load_addresses,
        resource="Address",
    ),
    Tab(
        "contracts",
        _l("Contracts"),
        "datasheet/tab_contracts.html",
        load_contracts,
        resource="Contract",
    ),
    Tab(
        "zone",
        _l("Zone users"),
        "datasheet/tab_zone.html",
        load_zone,
        applies=lambda p: isinstance(p, Organization),
    ),
    Tab(
        "account",
        _l("Current account"),
        "datasheet/tab_account.html",
        load_account,
        resource="Invoice",
    ),
    Tab("history", _l("History"), "datasheet/tab_history.html", load_history),
]


@cache
def _partner_statement():
    """find_partner's select, built once (its joins and eager options cost more to build than
    the query takes)."""
    p = with_polymorphic(Partner, [Person, Organization])
    codes, products, links = p.codes, p.supplied_products, p.address_links
    # Whether the overview has pinned notes, active contracts and coming tasks to read
    # (render_sheet): most partners have none of some, and each empty read cost as much as
    # the partner's.
    overview = _overview_statements()
    has = [
        exists(overview[key].with_only_columns(literal(1)).limit(None).order_by(None))
        for key in OVERVIEW
    ]
    return (
        select(p, *has)
        .where(p.id == bindparam("partner_id"))
        .outerjoin(partner_code, partner_code.c.partner_id == p.id)
        .outerjoin(Code, Code.id == partner_code.c.code_id)
        .outerjoin(partner_product, partner_product.c.partner_id == p.id)
        .outerjoin(Product, Product.id == partner_product.c.product_id)
        .outerjoin(links)
        .outerjoin(PartnerAddress.address)
        .options(
            contains_eager(codes),
            contains_eager(products),
            contains_eager(links).contains_eager(PartnerAddress.address),
        )
        .order_by(Code.name, Product.name)
    )


def find_partner(partner_id: int) -> Partner:
    """The partner of the sheet with what its header shows, loaded at once. Flat outer joins
    (not the nested `LEFT JOIN (partner_code JOIN code)` of joinedload, which SQLite
    materialises by reading every partner's codes: 17 ms at 100,000 partners)."""
    since = utcnow() - UPCOMING
    row = (
        db.session.execute(_partner_statement(), {"partner_id": partner_id, "since": since})
        .unique()
        .first()
    )
    if row is None:
        abort(404)
    partner, *has = row
    partner.overview = Overview(since, dict(zip(OVERVIEW, has, strict=True)))
    return partner


# The overview's parts (_overview_statements), and how far back a task still counts as
# coming: a day.
OVERVIEW = ("pinned", "contracts", "tasks")
UPCOMING = timedelta(days=1)


@dataclass(frozen=True)
class Overview:
    """What find_partner learnt of the overview with the partner: the moment tasks count
    from and which parts have something to read."""

    since: datetime
    has: dict


def tab_of(partner: Partner, key: str) -> Tab:
    for tab in TABS:
        if tab.key == key and tab.applies(partner) and can("read", tab.resource):
            return tab
    abort(404)


@cache
def _overview_statements() -> dict:
    """The overview's pinned notes, active contracts and coming tasks of a partner, built
    once (the statements cost more to build than to run)."""
    partner_id = bindparam("partner_id")
    return {
        "pinned": select(Note)
        # `= true`, not `IS true`: an index answers only the former on PostgreSQL.
        .where(Note.partner_id == partner_id, Note.pinned == true())
        .order_by(Note.created_at.desc())
        .limit(5)
        .options(lazyload(Note.author)),  # the overview shows no author
        "contracts": select(Contract)
        .where(Contract.partner_id == partner_id, Contract.status == "active")
        .options(selectinload(Contract.quotas))
        .order_by(Contract.starts_on)
        .limit(10),
        "tasks": select(Task)
        .where(
            Task.partner_id == partner_id,
            Task.done.is_(False),
            Task.due_at >= bindparam("since"),
        )
        .order_by(Task.due_at)
        .limit(5),
    }


def render_sheet(view: BaseView, partner: Partner, tab: Tab, **extra):
    today = date.today()
    page = max(1, request.args.get("page", 1, type=int))
    known = getattr(partner, "overview", None) or Overview(
        utcnow() - UPCOMING, dict.fromkeys(OVERVIEW, True)
    )
    mine = {"partner_id": partner.id, "since": known.since}

    def read(key: str) -> list:
        if not known.has[key]:
            return []
        return db.session.scalars(_overview_statements()[key], mine).all()

    pinned = read("pinned")
    tabs = [t for t in TABS if t.applies(partner) and can("read", t.resource)]
    contracts = (
        [c for c in read("contracts") if c.is_active(today)] if can("read", "Contract") else []
    )
    upcoming = read("tasks") if can("read", "Task") else []
    kept = {k: v for k, v in request.args.items() if k not in ("partner_id", "key")}
    here = url_for("DataSheetView.tab", partner_id=partner.id, key=tab.key, **kept)
    context = tab.load(partner, page)
    context.update(extra)
    main = partner.main_address
    return view.render_template(
        "datasheet/sheet.html",
        partner=partner,
        tabs=tabs,
        tab=tab,
        pinned=pinned,
        birthday_in=birthday_soon(partner, today),
        main_address=main,
        map_tiles=current_app.config["MAP_TILE_URL"],
        show_map=bool(current_app.config["MAP_TILE_URL"] and main and main.has_coordinates),
        can_write_notes=can("write", "Note"),
        can_write=can("write", "Partner"),
        can_write_people=can("write", "Affiliation"),
        can_write_addresses=can("write", "Address"),
        note_kinds=NOTE_KIND_LABELS,
        user_id=g.user.id,
        upcoming=upcoming,
        active_contracts=contracts,
        can_write_contracts=can("write", "Contract"),
        can_write_tasks=can("write", "Task"),
        can_write_offers=can("write", "Offer"),
        can_write_documents=can("write", "Document"),
        can_write_invoices=can("write", "Invoice"),
        is_manager=current_app.appbuilder.sm.has_role(g.user, "Admin", "Manager"),
        is_person=isinstance(partner, Person),
        # Forms opened from the sheet come back to this tab (with its filters and page).
        here_url=here,
        # The tabs' links: one built, the others the same with their key.
        tab_url=url_for("DataSheetView.tab", partner_id=partner.id, key="__key__"),
        edit_url=url_for(
            ("PersonView" if isinstance(partner, Person) else "OrganizationView") + ".edit",
            pk=partner.id,
            next=here,
        ),
        **context,
    )
