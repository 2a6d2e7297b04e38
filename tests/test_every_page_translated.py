"""Every word in the user's language: every GET page of the app (routes from `app.url_map`, with
real ids from demo data) rendered in hu, pl, de and ru shows no visible text that is still the
English source, and no page in any language shows a raw `None`, `True` or `False`."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.pofile import read_po
from flask import url_for
from sqlalchemy import String, Text, inspect, select

from app.extensions import db
from app.models import CURRENCIES, LANGUAGE_NAMES
from app.services import acting_as
from tests.conftest import user_id
from tests.test_zone import comment, contact, invite, token_of

ROOT = Path(__file__).resolve().parent.parent
LANGS = ["hu", "pl", "de", "ru"]
WORD = re.compile(r"[^\W\d_]{3,}")
RAW_VALUES = re.compile(r"\b(None|True|False)\b")

# Routes that are not pages, by endpoint (a regular expression on it): they answer files, JSON
# or redirects, or their GET changes something. The test prints them.
NOT_PAGES = {
    r"^static$|^appbuilder\.static$": "static files",
    r"Api\.|^SwaggerView\.": "REST API and its documentation",
    r"\.download$|\.print_file$|^InvoicePdfView\.pdf$|^DataSheetView\.picture$": "files",
    r"^PortalMoneyView\.pdf$": "files",
    r"^OurCompanyView\.logo$": "files",
    r"^OrderPdfView\.pdf$|^PortalOrdersView\.pdf$": "files",
    r"^QuotePdfView\.pdf$|^PortalView\.quote_pdf$": "files",
    r"^CalendarFeedView\.feed$": "ICS feed",
    r"^PickerView\.pick$|^AutomaticInvoicingView\.progress$|^health\.": "JSON",
    r"\.action$|\.delete$": "FAB's GET changes data (actions, delete)",
    r"^LocaleView\.index$|^UtilView\.back$|\.logout$": "redirects",
}
# Pages for visitors who are not logged in, and the portal's, by path.
ANONYMOUS = ("/login/", "/forgot-password/", "/reset-password/", "/portal/welcome/")
PORTAL = "/portal/"
# Brand, currency codes, a web address's beginning (a placeholder), and language names (each
# language by its own name).
ALLOWED = ["Dossier", *CURRENCIES, "https://", *LANGUAGE_NAMES.values()]
# FAB's security screens list permission and view names: keys of the permission system (as
# the role names are), data on those screens only.
SECURITY_SCREENS = ("/roles/", "/permissions/", "/viewmenus/", "/permissionviews/", "/users/")
SECURITY_TABLES = ("ab_permission", "ab_view_menu")


class Visible(HTMLParser):
    """Text a user reads on a page: text nodes outside script and style, the texts of
    placeholders, titles, alts, aria labels and confirmation questions, and button values."""

    ATTRIBUTES = ("placeholder", "title", "alt", "aria-label", "data-confirm")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.segments: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        values = dict(attrs)
        for name in self.ATTRIBUTES:
            self.add(values.get(name))
        if (tag == "input" and values.get("type") in ("submit", "button", "reset")) or (
            tag == "button" and values.get("value")
        ):
            self.add(values.get("value"))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.add(data)

    def add(self, text):
        text = " ".join((text or "").split())
        if text:
            self.segments.append(text)


def visible_text(html: str) -> list[str]:
    parser = Visible()
    parser.feed(html)
    return parser.segments


def kept_as_english(lang: str) -> set[str]:
    """Strings the translators deliberately kept as they are (msgstr equal to the msgid:
    "Status", "Partner" and "Name" are German too)."""
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return {m.id for m in read_po(fh, locale=lang) if m.id and m.string == m.id}


def choice_keys() -> set[str]:
    """The stored keys of choice columns ("active", "monthly" …): shown raw, they are a bug."""
    import app.models as models

    keys = set()
    for name in dir(models):
        value = getattr(models, name)
        if name.endswith(("_LABELS", "_NAMES")) and isinstance(value, dict):
            keys.update(str(k) for k in value)
    return keys


def database_strings(tables=None) -> list[str]:
    """Every string value in the database (or in `tables`) but choice keys and role names
    (they are shown translated), longest first."""
    from flask_appbuilder import Model

    skip = choice_keys()
    found = set()
    for table in Model.metadata.sorted_tables:
        if table.name in ("ab_role", "alembic_version"):
            continue
        if (tables is None) == (table.name in SECURITY_TABLES):
            continue
        if tables is not None and table.name not in tables:
            continue
        columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
        if not columns:
            continue
        keys = set() if table.name.startswith("ab_") else skip  # users "client", "partner"
        for row in db.session.execute(select(*columns)):
            for value in row:
                if isinstance(value, str) and value and value not in keys:
                    found.update({value, *value.splitlines(), " ".join(value.split())})
    # Permission names as FAB's security screens print them ("can read" for can_read).
    found.update(v.replace("_", " ") for v in list(found) if "_" in v)
    return sorted((v.strip() for v in found if v.strip()), key=len, reverse=True)


def any_of(values: list[str]) -> re.Pattern:
    """One pattern for many values, the longest tried first."""
    return re.compile("|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True)))


def build_world(app) -> dict:
    """Demo data and a few records of every kind, so that every page has real rows."""
    from flask_appbuilder.security.sqla.models import Group

    from app.models import DocumentTemplate, Note, Offer, Organization, Outbox, Person, Task
    from app.services import auth, demo, documents, invoicing, recurring, zone

    with app.test_request_context():
        demo.load_demo(force=True)
        db.session.commit()
        admin = user_id(app, "admin")
        company = db.session.scalars(select(Organization).order_by(Organization.id)).first()
        person = db.session.scalars(select(Person).order_by(Person.id)).first()
        with acting_as(admin):
            db.session.add(
                DocumentTemplate(name="Meghatalmazás", body="<p>{{ partner.name }} {{ today }}</p>")
            )
        documents.attach(
            company.id, admin, "szerződés.pdf", io.BytesIO(b"%PDF-1.4\n%%EOF\n"), description="Ü"
        )
        invoice = invoicing.new_draft(company.id, admin, currency="HUF")
        invoicing.add_line(invoice.id, admin, description="Tanácsadás", quantity=2, unit_price=100)
        invoicing.issue(invoice.id, admin)
        invoicing.record_payment(invoice.id, admin, 100, paid_on=date.today())
        run = recurring.start(admin, date.today() + timedelta(days=40), queue_job=False)
        db.session.commit()
        recurring.run(run.id)
        db.session.commit()
        with acting_as(admin):
            note = Note(partner_id=company.id, author_id=admin, body="Friss jegyzet", kind="call")
            db.session.add_all([note, Group(name="Értékesítők", label="Értékesítők")])
        db.session.commit()
        company_id, person_id, run_id, note_id = company.id, person.id, run.id, note.id
    zone_person = contact(app, company_id, "Zsófia", "Zónás", "zsofia@zona.example")
    invite(app, zone_person, company_id, "client", "zsofia-password-1")
    waiting = contact(app, company_id, "Várakozó", "Vendel", "vendel@zona.example")
    with app.test_request_context():
        zone.invite(waiting, company_id, "partner", user_id(app, "staff"))
        db.session.commit()
        welcome = token_of(app, "vendel@zona.example")
        auth.request_reset("finance@example.com")
        db.session.commit()
    with app.app_context():
        body = db.session.scalar(
            select(Outbox.body)
            .where(Outbox.recipient == "finance@example.com")
            .order_by(Outbox.id.desc())
        )
        reset = re.search(r"/reset-password/([\w-]+)", body).group(1)
        task = db.session.scalars(select(Task).where(Task.partner_id == company_id)).first()
        offer = db.session.scalars(select(Offer).where(Offer.partner_id == company_id)).first()
        zone_user = user_id(app, "zsofia@zona.example")
        staff = user_id(app, "staff")
        zone.share("task", task.id, zone_user, "performer", staff)
        zone.share("offer", offer.id, zone_user, "watcher", staff)
        db.session.commit()
        task_id, offer_id = task.id, offer.id
    comment(app, "task", task_id, visible=True, body="Kérjük a számlákat.")
    comment(app, "task", task_id, "file", True, filename="lista.pdf")
    return {
        "partners": [company_id, person_id],
        "record": [("task", task_id), ("offer", offer_id)],
        "token": {"PortalView.welcome": welcome, "PasswordResetView.reset": reset},
        "run_id": run_id,
        "note": {"partner_id": company_id, "note_id": note_id},
        "task_id": task_id,
    }


def not_a_page(endpoint: str) -> str | None:
    for pattern, reason in NOT_PAGES.items():
        if re.search(pattern, endpoint):
            return reason
    return None


def first_id(app, endpoint: str):
    """The smallest id of the records a FAB view's `<pk>` stands for."""
    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == endpoint.split(".")[0])
    model = view.datamodel.obj
    first = db.session.scalars(select(model).order_by(inspect(model).primary_key[0])).first()
    return None if first is None else inspect(first).identity[0]


def page_urls(app, world) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """Every page's route and URL with real ids; the routes skipped (with why); the routes
    without data to fill them."""
    today = date.today()
    urls, skipped, missing = [], [], []
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods:
                skipped.append((rule.rule, "POST only"))
                continue
            reason = not_a_page(rule.endpoint)
            if reason:
                skipped.append((rule.rule, reason))
                continue
            choices = [{}]
            for arg in sorted(rule.arguments):
                if arg == "pk":
                    values = [first_id(app, rule.endpoint)]
                elif arg == "partner_id":
                    values = world["partners"]
                elif arg == "key":
                    values = world["tabs"]
                elif arg in ("year", "month", "week"):
                    values = [{"year": today.year, "month": today.month}.get(arg)]
                    values = values if values[0] else [today.isocalendar()[1]]
                elif arg == "token":
                    values = [world["token"].get(rule.endpoint)]
                elif arg in ("run_id", "task_id"):
                    values = [world[arg]]
                elif arg == "note_id":
                    choices = [world["note"]]
                    break
                elif arg in ("record", "record_id"):
                    choices = [
                        {**c, "record": r, "record_id": i}
                        for c in choices
                        for r, i in world["record"]
                    ]
                    continue
                elif arg == "group_by":
                    values = [0]
                else:
                    values = [None]
                if None in values:
                    missing.append(f"{rule.rule} <{arg}>")
                    choices = []
                    break
                choices = [{**c, arg: v} for c in choices for v in values]
            for values in choices:
                url = url_for(rule.endpoint, **values)
                if (rule.rule, url) not in urls:
                    urls.append((rule.rule, url))
    return urls, skipped, missing


def tabs_of(client, partner_ids) -> list[str]:
    keys = []
    for pid in partner_ids:
        html = client.get(f"/partner/{pid}").get_data(as_text=True)
        for key in re.findall(r'data-tab="([\w-]+)"', html):
            if key not in keys:
                keys.append(key)
    return keys


def render_all(clients, urls, lang) -> dict[str, tuple[int, list[str]]]:
    pages = {}
    for client in clients.values():
        client.lang(lang)
    for url in urls:
        who = (
            "anonymous"
            if url.startswith(ANONYMOUS)
            else "zone"
            if url.startswith(PORTAL)
            else "staff"
        )
        response = clients[who].get(url, follow_redirects=True)
        pages[url] = (response.status_code, visible_text(response.get_data(as_text=True)))
    return pages


def english_pages(clients, urls) -> tuple[dict, list[str], list[str]]:
    """The pages in English; a route's URL that answers 404 where another of the same route
    answers (a company's tab on a person's sheet) is no page; a route nobody may open (403
    for the admin: a read-only log's add form) is not offered."""
    english = render_all(clients, [url for _rule, url in urls], "en")
    by_rule: dict[str, list[str]] = {}
    for rule, url in urls:
        by_rule.setdefault(rule, []).append(url)
    problems, not_offered = [], []
    for rule, found in by_rule.items():
        statuses = {english[url][0] for url in found}
        if statuses == {403}:
            not_offered.append(rule)
            for url in found:
                del english[url]
        elif 200 in statuses:
            for url in found:
                if english[url][0] == 404:
                    del english[url]
        for url in found:
            if url in english and english[url][0] != 200:
                problems.append(f"en {url}: answered {english[url][0]}")
    return english, problems, not_offered


def english_in(segments, source, known) -> list[str]:
    """Segments of a translated page that are still the English page's text: the same in
    both, with a word of three letters or more once the known texts (the database's values,
    the words the language shares with English: "[Administrator]" in Polish) are taken out."""
    found = []
    for segment in dict.fromkeys(segments):
        if segment in source and WORD.search(known.sub(" ", segment)):
            found.append(segment)
    return found


def raw_values(segments) -> list[str]:
    return [s for s in dict.fromkeys(segments) if RAW_VALUES.search(s)]


def test_every_page_speaks_the_users_language(app, login, mailbox):
    world = build_world(app)
    clients = {
        "staff": login("admin"),
        "zone": login("zsofia@zona.example", "zsofia-password-1"),
        "anonymous": login(),
    }
    world["tabs"] = tabs_of(clients["staff"], world["partners"])
    urls, skipped, missing = page_urls(app, world)
    assert not missing, f"no data to fill these routes: {missing}"
    with app.app_context():
        data = database_strings() + ALLOWED
        security_data = database_strings(SECURITY_TABLES) + data
    english, findings, not_offered = english_pages(clients, urls)
    print(f"\n{len(english)} pages in five languages; routes that are not pages:")
    for reason in dict.fromkeys(reason for _rule, reason in skipped):
        rules = [rule for rule, why in skipped if why == reason]
        print(f"  {reason}: {len(rules)} routes, e.g. {', '.join(rules[:3])}")
    print(f"  offered to nobody (403 for the admin): {', '.join(not_offered)}")
    for url, (_status, segments) in english.items():
        findings += [f"en {url}: {s!r}" for s in raw_values(segments)]
    for lang in LANGS:
        same_in_both = list(kept_as_english(lang))
        known = any_of(data + same_in_both)
        known_on_security_screens = any_of(security_data + same_in_both)
        for url, (status, segments) in render_all(clients, list(english), lang).items():
            if status != 200:
                findings.append(f"{lang} {url}: answered {status}")
            source = set(english[url][1])
            findings += [f"{lang} {url}: {s!r}" for s in raw_values(segments)]
            findings += [
                f"{lang} {url}: still English: {s!r}"
                for s in english_in(
                    segments,
                    source,
                    known_on_security_screens if url.startswith(SECURITY_SCREENS) else known,
                )
            ]
    assert not findings, f"{len(findings)} texts in English or raw values:\n" + "\n".join(findings)
