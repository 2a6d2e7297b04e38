"""Backup and restore: one dated archive of the database and the stored files, taken while the
app serves, restored only when every checksum agrees, into an empty database unless forced,
and migrated forward when it is older than the code."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import flask_migrate
import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.jobs.backup import nightly_backup
from app.jobs.schedule import register
from app.models import Document, Invoice, Partner
from app.services import documents, invoicing
from app.services.backup import (
    DATABASE_FILES,
    BackupError,
    archives,
    create_backup,
    restore_backup,
    stored_files,
)
from tests import factories as f
from tests.conftest import DB_URL, Client, run_jobs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def spare(tmp_path):
    """Empty databases of the suite's kind beside the suite's own (which the `app` fixture
    owns): SQLite files, or PostgreSQL databases named after DOSSIER_TEST_DB's."""
    made = []

    def server():
        return create_engine(DB_URL, isolation_level="AUTOCOMMIT")

    def make(name: str) -> str:
        if not DB_URL:
            return f"sqlite:///{tmp_path / name}.sqlite"
        url = make_url(DB_URL)
        database = f"{url.database}_{name}"
        engine = server()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        engine.dispose()
        made.append(database)
        return url.set(database=database).render_as_string(hide_password=False)

    yield make
    if made:
        engine = server()
        with engine.connect() as conn:
            for database in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()


def app_on(url: str, instance: Path):
    """A second installation: its own database and instance folder."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_DIR": str(instance),
            "UPLOAD_FOLDER": f"{instance}/uploads/",
            "IMG_UPLOAD_FOLDER": f"{instance}/uploads/pictures/",
            "TESTING": True,
            "WTF_CSRF_TIME_LIMIT": None,
        }
    )


def files_of(instance: Path) -> list[str]:
    return sorted(str(p.relative_to(instance)) for p in instance.rglob("*") if p.is_file())


def partner_with_document(app, content: bytes, name: str = "Mentés Kft.") -> tuple[int, str]:
    with app.app_context():
        partner = f.company(name=name)
        document = documents.attach(partner.id, None, "contract.pdf", io.BytesIO(content))
        return partner.id, document.stored_name


def rewrite(archive: Path, target: Path, change, renamed: dict[str, str] | None = None) -> Path:
    """A copy of the archive with `change(name, bytes)` applied to each member's content and
    members renamed as `renamed` says."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as out:
        for member in source:
            data = change(member.name, source.extractfile(member).read())
            member.size = len(data)
            member.name = (renamed or {}).get(member.name, member.name)
            out.addfile(member, io.BytesIO(data))
    return target


def test_a_backup_taken_while_serving_restores_rows_invoice_numbers_and_files(
    app, live_server, spare, tmp_path
):
    content = b"%PDF-1.4\n" + os.urandom(8 * 1024 * 1024)
    partner_id, stored = partner_with_document(app, content)
    with app.app_context():
        f.address(db.session.get(Partner, partner_id), type="billing")
        draft = invoicing.create_draft(
            partner_id,
            None,
            [
                {
                    "description": "Könyvvizsgálat",
                    "quantity": 1,
                    "unit_price": Decimal("100"),
                    "vat_rate": 27,
                }
            ],
            currency="HUF",
        )
        invoice_id = draft.id
        number = invoicing.issue(invoice_id, None, today=date(2026, 3, 1)).number

    staff = live_server.client().api_login("staff")
    answered, backing_up, finished = [], threading.Event(), threading.Event()

    def keep_serving():
        while not finished.is_set():
            started = backing_up.is_set()
            wrote = staff.request(
                "POST",
                "/api/v1/note/",
                json={"partner": partner_id, "kind": "call", "body": "Called during the backup."},
            )
            read = staff.get("/api/v1/organization/")
            answered.append(
                (started and not finished.is_set(), wrote.status_code, read.status_code)
            )

    serving = threading.Thread(target=keep_serving)
    serving.start()
    while not answered:
        time.sleep(0.01)
    backing_up.set()
    result = app.test_cli_runner().invoke(args=["dossier", "backup", str(tmp_path / "out")])
    finished.set()
    serving.join(60)
    assert result.exit_code == 0, result.output
    assert all(wrote == 201 and read == 200 for _, wrote, read in answered), answered
    assert any(during for during, _, _ in answered), "no request was answered during the backup"
    [archive] = archives(tmp_path / "out")
    assert re.fullmatch(r"dossier-\d{4}-\d\d-\d\dT\d{6}Z\.tar\.gz", archive.name)
    assert f"Backup written: {archive}" in result.output
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        names = tar.getnames()
    assert manifest["database"]["kind"] == ("postgresql" if DB_URL else "sqlite")
    assert f"files/documents/{stored}" in manifest["files"]
    assert sorted(manifest["files"]) == sorted(n for n in names if n != "manifest.json")
    assert not any("secret_key" in name for name in names)

    target, instance = spare("restore"), tmp_path / "restored"
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "dossier", "restore", str(archive)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "DATABASE_URL": target,
            "DOSSIER_INSTANCE": str(instance),
            "PYTHONPATH": str(ROOT),
        },
    )
    assert done.returncode == 0, done.stderr
    assert "Restored" in done.stdout

    restored = app_on(target, instance)
    with restored.app_context():
        assert db.session.get(Partner, partner_id).display_name == "Mentés Kft."
        invoice = db.session.get(Invoice, invoice_id)
        assert (invoice.number, invoice.status) == (number, "issued")
        document_id = db.session.scalar(select(Document.id).where(Document.stored_name == stored))
        following = invoicing.create_draft(
            partner_id,
            None,
            [
                {
                    "description": "Tanácsadás",
                    "quantity": 1,
                    "unit_price": Decimal("50"),
                    "vat_rate": 27,
                }
            ],
            currency="HUF",
        )
        # The counter came along: the restored installation numbers on without a gap.
        assert (
            invoicing.issue(following.id, None, today=date(2026, 3, 2)).number == number[:-1] + "2"
        )
    download = Client(restored, "staff").get(f"/documents/{document_id}/download")
    assert download.status_code == 200 and download.data == content
    with restored.app_context():
        db.engine.dispose()
    with app.app_context():
        documents.path_of_stored(stored).unlink()  # later backups need not carry 8 MB


def test_a_database_that_holds_data_is_refused_unless_forced(app, spare, tmp_path):
    partner_with_document(app, b"%PDF-1.4 archived", name="Archived Kft.")
    with app.app_context():
        archive = create_backup(tmp_path / "out")
    instance = tmp_path / "busy"
    busy = app_on(spare("busy"), instance)
    with busy.app_context():
        flask_migrate.upgrade()
        f.company(name="Local Kft.")
    stray = instance / "documents" / "local-file"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"local")
    runner = busy.test_cli_runner()

    refused = runner.invoke(args=["dossier", "restore", str(archive)])
    assert refused.exit_code == 1
    assert "is not empty" in refused.output and "--force" in refused.output
    with busy.app_context():
        assert list(db.session.scalars(select(Partner.display_name))) == ["Local Kft."]
    assert stray.exists()

    forced = runner.invoke(args=["dossier", "restore", "--force", str(archive)])
    assert forced.exit_code == 0, forced.output
    with busy.app_context():
        names = list(db.session.scalars(select(Partner.display_name)))
        assert "Archived Kft." in names and "Local Kft." not in names
        # The archive's files replace the folder's: what the old data named is gone.
        assert not stray.exists()
        kept = {path.name for _, path in stored_files({"documents": instance / "documents"})}
        assert kept == {name.rsplit("/", 1)[1] for name in _listed(archive, "files/documents/")}
        db.engine.dispose()


def _listed(archive: Path, prefix: str) -> list[str]:
    with tarfile.open(archive) as tar:
        files = json.load(tar.extractfile("manifest.json"))["files"]
    return [name for name in files if name.startswith(prefix)]


@pytest.mark.parametrize("damage", ["changed file", "truncated archive"])
def test_a_damaged_archive_changes_nothing_and_says_what_is_bad(app, spare, tmp_path, damage):
    _, stored = partner_with_document(app, b"%PDF-1.4\n" + os.urandom(256 * 1024))
    with app.app_context():
        archive = create_backup(tmp_path / "out")
    member = f"files/documents/{stored}"
    if damage == "changed file":
        bad = rewrite(
            archive,
            tmp_path / "bad.tar.gz",
            lambda name, data: data[:-1] + b"!" if name == member else data,
        )
        expected = f"{member} in the archive does not match its checksum"
    else:
        bad = tmp_path / "bad.tar.gz"
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
        expected = "is damaged"
    instance = tmp_path / "target"
    target = app_on(spare("target"), instance)
    with target.app_context():
        flask_migrate.upgrade()
        f.company(name="Local Kft.")
        local = documents.storage_dir() / "local-file"
        local.write_bytes(b"local")
        with pytest.raises(BackupError, match=re.escape(expected)) as refused:
            restore_backup(bad, force=True)
        assert "nothing was restored" in str(refused.value)
        assert list(db.session.scalars(select(Partner.display_name))) == ["Local Kft."]
        db.engine.dispose()
    assert files_of(instance) == ["documents/local-file"]


def test_an_archive_of_another_database_kind_is_refused_naming_both(app, spare, tmp_path):
    with app.app_context():
        archive = create_backup(tmp_path / "out")
    kind, other = ("postgresql", "sqlite") if DB_URL else ("sqlite", "postgresql")
    own, foreign = DATABASE_FILES[kind], DATABASE_FILES[other]

    def claim_the_other_kind(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["database"]["kind"] = other
        manifest["files"][foreign] = manifest["files"].pop(own)
        return json.dumps(manifest).encode()

    relabelled = rewrite(
        archive, tmp_path / "other.tar.gz", claim_the_other_kind, renamed={own: foreign}
    )
    target = app_on(spare("target"), tmp_path / "target")
    with target.app_context():
        with pytest.raises(BackupError) as refused:
            restore_backup(relabelled)
        assert inspect(db.engine).get_table_names() == []
        db.engine.dispose()
    assert f"holds a {other} database" in str(refused.value)
    assert f"the {kind} database of DATABASE_URL" in str(refused.value)


def test_an_archive_of_an_older_schema_is_migrated_forward(app, spare, tmp_path):
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    old = app_on(spare("old"), tmp_path / "old")
    with old.app_context():
        flask_migrate.upgrade(revision=previous)
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO partner (id, type, customer_number, display_name, status, "
                    "created_at, updated_at) VALUES (1, 'organization', '000001', 'Régi Kft.', "
                    "'active', '2026-01-01', '2026-01-01')"
                )
            )
            conn.execute(text("INSERT INTO organization (id, name) VALUES (1, 'Régi Kft.')"))
        archive = create_backup(tmp_path / "out")
        db.engine.dispose()
    with tarfile.open(archive) as tar:
        assert json.load(tar.extractfile("manifest.json"))["database"]["revision"] == previous

    target = app_on(spare("new"), tmp_path / "new")
    result = target.test_cli_runner().invoke(args=["dossier", "restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert f"revision {previous}, migrated to {head}" in result.output
    with target.app_context():
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head
        assert db.session.get(Partner, 1).display_name == "Régi Kft."
        db.engine.dispose()


def test_the_nightly_backup_keeps_the_newest_archives(app, mailbox, tmp_path, monkeypatch):
    folder = tmp_path / "nightly"
    folder.mkdir()
    (folder / "README.txt").write_text("not an archive: never deleted")
    monkeypatch.setitem(app.config, "BACKUP_DIR", str(folder))
    monkeypatch.setitem(app.config, "BACKUP_KEEP", 2)
    made = []
    with app.app_context():
        from app.queue import queue

        for _ in range(3):
            job = queue().enqueue(nightly_backup)
            run_jobs(app)
            made.append(Path(job.return_value()))
    assert len(set(made)) == 3
    assert archives(folder) == made[1:]
    assert (folder / "README.txt").exists()
    assert not list(folder.glob(".dossier-*"))


def test_the_scheduler_backs_up_nightly_only_where_backup_dir_is_set(
    app, mailbox, monkeypatch, tmp_path
):
    with app.app_context():
        from app.queue import queue

        connection = queue().connection
        assert "dossier-backup" not in {job.id for job in register(connection).get_jobs()}
        monkeypatch.setitem(app.config, "BACKUP_DIR", str(tmp_path))
        jobs = {job.id: job for job in register(connection).get_jobs()}
        assert jobs["dossier-backup"].meta["cron_string"] == "15 3 * * *"
        assert jobs["dossier-backup"].func is nightly_backup
        assert jobs["dossier-backup"].timeout > 180
        monkeypatch.setitem(app.config, "BACKUP_DIR", None)
        assert "dossier-backup" not in {job.id for job in register(connection).get_jobs()}
