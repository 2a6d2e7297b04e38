"""History and the change log speak like people: field labels, values formatted in the user's
locale (yes/no, a choice's label, a linked record's name, dates and amounts), "—" for empty."""

from datetime import date

import pytest
from flask_babel import LazyString, force_locale
from sqlalchemy import inspect

from app.extensions import db
from app.models import AUDIT_SKIP, Offer, audited_models
from app.services import acting_as
from app.views.common import audit_label, audit_text
from tests import factories as f
from tests.conftest import user_id


def test_every_audited_field_has_a_translated_label(app):
    from app.views.labels import LABELS

    missing = [
        f"{model.__audited__.entity}.{attr.key}"
        for model in audited_models()
        for attr in inspect(model).column_attrs
        if attr.key not in AUDIT_SKIP and attr.key != "id"
        if not isinstance(
            LABELS.get(attr.key) or LABELS.get(attr.key.removesuffix("_id")), LazyString
        )
    ]
    assert missing == [], missing


def test_no_screen_falls_back_to_fabs_english_column_names(app):
    """FAB makes "Expected Decision" of a column without a label; every screen labels all."""
    from flask_appbuilder import ModelView

    wrong = []
    for view in app.appbuilder.baseviews:
        if not isinstance(view, ModelView):
            continue
        columns = set()
        for kind in ("list", "show", "add", "edit", "search"):
            columns |= set(getattr(view, f"{kind}_columns", None) or [])
        wrong += [
            f"{type(view).__name__}.{c}"
            for c in sorted(columns)
            if not isinstance(view.label_columns.get(c), LazyString)
        ]
    assert wrong == []


@pytest.mark.parametrize(
    "lang, entity, field, raw, shown",
    [
        ("de", "affiliation", "may_collect_mail", "True", "Ja"),
        ("hu", "affiliation", "may_collect_mail", "False", "Nem"),
        ("de", "offer", "status", "won", "Gewonnen"),
        ("hu", "person", "status", "active", "Aktív"),
        ("de", "offer", "payment_frequency", "monthly", "Monatlich"),
        ("de", "offer", "amount", "1234567.50", "1.234.567,50"),
        ("hu", "offer", "amount", "1234567.50", "1 234 567,50"),
        ("de", "offer", "deadline", "2026-03-10", "10.03.2026"),
        ("hu", "offer", "deadline", "2026-03-10", "2026. 03. 10."),
        ("de", "note", "occurred_at", "2026-03-10 08:15:30.123456", "10.03.2026 09:15"),
        ("de", "offer", "deadline", None, "—"),
        ("hu", "note", "body", "", "—"),
        ("de", "note", "body", "Rückruf", "Rückruf"),
    ],
)
def test_logged_values_read_in_the_users_language(app, lang, entity, field, raw, shown):
    with app.test_request_context(), force_locale(lang):
        text = audit_text(entity, field, raw)
    assert text.replace("\u202f", " ").replace("\xa0", " ") == shown


def test_a_linked_record_reads_as_its_name_and_labels_are_translated(app):
    with app.test_request_context():
        company = f.company(name="Duna Kft.")
        db.session.flush()
        assert audit_text("offer", "partner_id", str(company.id)) == "Duna Kft."
        assert audit_text("offer", "owner_id", str(user_id(app, "staff"))) == "Staff User"
        with force_locale("de"):
            assert audit_label("expected_decision") == "Erwartete Entscheidung"
            assert audit_label("partner_id") == "Kontakt"
        with force_locale("hu"):
            assert audit_label("distributor_id") == "Forgalmazó"


@pytest.mark.parametrize(
    "lang, words",
    [
        ("de", ["Erwartete Entscheidung", "Gewonnen", "Offen", "Duna Kft.", "10.03.2026"]),
        ("hu", ["Várható döntés", "Nyert", "Függő", "Duna Kft.", "2026. 03. 10."]),
    ],
)
def test_the_change_log_and_the_history_show_labels_and_formatted_values(app, login, lang, words):
    with app.app_context():
        company = f.company(name="Duna Kft.")
        db.session.flush()
        with acting_as(user_id(app, "manager")):
            offer = Offer(name="CRM", partner_id=company.id, amount=1000)
            db.session.add(offer)
            db.session.flush()
            offer.status = "won"
            offer.expected_decision = date(2026, 3, 10)
        db.session.commit()
        company_id = company.id
    client = login("admin")
    client.lang(lang)
    for url in ("/change-log/list/", f"/partner/{company_id}/history"):
        page = client.get(url).get_data(as_text=True)
        for word in words:
            assert word in page, (lang, url, word)
        for raw in ("expected_decision", "None", "True", ">won<", ">pending<"):
            assert raw not in page, (lang, url, raw)
