"""Documents: what may be attached, where it is kept, and who sees it."""

import io
import os

from sqlalchemy import select

from app.extensions import db
from app.models import Document
from tests import factories as f
from tests.conftest import user_id

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _partner(app):
    with app.app_context():
        return f.company(name="Balaton Szoftver Kft.").id


def upload(client, pid, name="szerződés.pdf", content=PDF, **data):
    return client.post(
        f"/documents/upload/{pid}",
        data={"file": (io.BytesIO(content), name), "visibility": "all", **data},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def stored_files(app):
    folder = os.path.join(app.config["INSTANCE_DIR"], "documents")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_attach_and_download_as_an_attachment(app, login):
    pid = _partner(app)
    staff = login("staff")
    page = upload(staff, pid, description="Keretszerződés 2026")
    assert "Keretszerződés 2026" in page.get_data(as_text=True)
    with app.app_context():
        doc = db.session.scalar(select(Document))
        assert (doc.filename, doc.content_type, doc.size) == (
            "szerződés.pdf",
            "application/pdf",
            len(PDF),
        )
        assert doc.stored_name in stored_files(app)
        did = doc.id
    download = staff.get(f"/documents/{did}/download")
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]


def test_bad_files_get_a_message_and_nothing_is_stored(app, login, monkeypatch):
    pid = _partner(app)
    staff = login("staff")
    before = stored_files(app)
    cases = [
        ("empty.pdf", b"", "The file is empty."),
        ("tool.exe", b"MZ\x90\x00", "Files of this type cannot be attached"),
        ("fake.pdf", b"MZ\x90\x00 not a pdf", "does not match its type"),
    ]
    for name, content, message in cases:
        assert message in upload(staff, pid, name, content).get_data(as_text=True), name
    monkeypatch.setitem(app.config, "MAX_UPLOAD_MB", 1)
    big = upload(staff, pid, "big.pdf", b"%PDF" + b"0" * (1024 * 1024 + 10))
    assert "The file is larger than 1 MB." in big.get_data(as_text=True)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    huge = upload(staff, pid, "huge.pdf", b"%PDF" + b"0" * (3 * 1024 * 1024))
    assert "The file is larger than 1 MB." in huge.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Document.id)) is None
    assert stored_files(app) == before


def test_a_crafted_name_cannot_escape_the_storage(app, login):
    pid = _partner(app)
    upload(login("staff"), pid, "../../../etc/passwd.pdf")
    with app.app_context():
        doc = db.session.scalar(select(Document))
        assert doc.filename == "passwd.pdf" and "/" not in doc.stored_name
    assert doc.stored_name in stored_files(app)


def test_visibility_decides_lists_counts_and_downloads(app, login):
    pid = _partner(app)
    staff, manager, readonly = login("staff"), login("manager"), login("readonly")
    upload(staff, pid, "everyone.pdf")
    upload(staff, pid, "mine.pdf", visibility="uploader")
    with app.app_context():
        from flask_appbuilder.security.sqla.models import Role

        manager_role = db.session.scalar(select(Role.id).where(Role.name == "Manager"))
    upload(staff, pid, "managers.pdf", visibility="roles", roles=[manager_role])
    upload(staff, pid, "for-readonly.pdf", visibility="users", users=[user_id(app, "readonly")])
    with app.app_context():
        ids = {d.filename: d.id for d in db.session.scalars(select(Document))}

    def seen(client):
        page = client.get(f"/partner/{pid}/documents").get_data(as_text=True)
        return {name for name in ids if name in page}

    assert seen(staff) == set(ids)
    assert seen(manager) == {"everyone.pdf", "managers.pdf"}
    assert seen(readonly) == {"everyone.pdf", "for-readonly.pdf"}
    assert "2 records" in readonly.get(f"/partner/{pid}/documents").get_data(as_text=True)
    assert manager.get(f"/documents/{ids['mine.pdf']}/download").status_code == 404
    assert readonly.get(f"/documents/{ids['managers.pdf']}/download").status_code == 404
    assert readonly.get(f"/documents/{ids['for-readonly.pdf']}/download").status_code == 200
    assert login("client").get(f"/documents/{ids['everyone.pdf']}/download").status_code in (
        403,
        404,
    )


def test_only_the_uploader_or_a_manager_deletes(app, login):
    pid = _partner(app)
    staff = login("staff")
    upload(staff, pid, "a.pdf")
    with app.app_context():
        did = db.session.scalar(select(Document.id))
        stored = db.session.get(Document, did).stored_name
    assert login("readonly").post(f"/documents/{did}/delete").status_code == 403
    assert staff.post(f"/documents/{did}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Document, did) is None
    assert stored not in stored_files(app)


POWER_OF_ATTORNEY = """<h1>Pełnomocnictwo</h1>
<p>{{ partner.name }} ({{ partner.address }}) upoważnia {{ representative.name }},
{{ representative.role }}, do reprezentacji. {{ today }}</p>"""


def _template(app, body=POWER_OF_ATTORNEY, name="Pełnomocnictwo"):
    from app.models import DocumentTemplate
    from app.services import acting_as

    with app.app_context(), acting_as(None):
        template = DocumentTemplate(name=name, body=body)
        db.session.add(template)
        db.session.flush()
        return template.id


def test_generate_a_power_of_attorney_naming_the_representative(app, login):
    from pypdf import PdfReader

    with app.app_context():
        company = f.company(name="Wisła Transport Sp. z o.o.")
        f.address(company, type="seat", street="ul. Marszałkowska 1", city="Warszawa")
        f.affiliation(
            f.person(first_name="Łukasz", last_name="Nowak"),
            company,
            role="prezes zarządu",
            may_represent=True,
        )
        f.affiliation(
            f.person(first_name="Anna", last_name="Zielińska"), company, may_collect_mail=True
        )
        pid = company.id
    tid = _template(app)
    staff = login("staff")
    assert "Pełnomocnictwo" in staff.get(f"/partner/{pid}/documents").get_data(as_text=True)
    pdf = staff.post(f"/documents/generate/{pid}", data={"template": tid})
    assert pdf.mimetype == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert "Łukasz Nowak" in text and "Anna" not in text and "Marszałkowska" in text
    staff.post(f"/documents/generate/{pid}", data={"template": tid, "save": "y"})
    with app.app_context():
        saved = db.session.scalar(select(Document))
        assert saved.content_type == "application/pdf" and "Pełnomocnictwo" in saved.filename


def test_a_template_with_a_missing_value_gets_a_clear_message(app, login):
    with app.app_context():
        pid = f.company(name="Bez Reprezentanta Sp. z o.o.").id
    tid = _template(app)
    missing = login("staff").post(
        f"/documents/generate/{pid}", data={"template": tid}, follow_redirects=True
    )
    assert "does not have" in missing.get_data(as_text=True)
    tid2 = _template(app, body="{{ partner.nickname }}", name="Typo")
    typo = login("staff").post(
        f"/documents/generate/{pid}", data={"template": tid2}, follow_redirects=True
    )
    assert "nickname" in typo.get_data(as_text=True)


def test_the_admin_keeps_templates_and_a_broken_one_is_refused(app, login):
    admin = login("admin")
    broken = admin.post(
        "/document-templates/add",
        data={"name": "Broken", "body": "{{ partner.name "},
        follow_redirects=True,
    )
    assert "The template has an error on line 1" in broken.get_data(as_text=True)
    assert (
        admin.post(
            "/document-templates/add", data={"name": "Ok", "body": "<p>{{ partner.name }}</p>"}
        ).status_code
        == 302
    )
    assert login("staff").get("/document-templates/add").status_code == 403
