"""Backup and restore: one dated archive holding a snapshot of the database, the files the app
keeps under instance/ and a manifest of checksums; a restore touches nothing before every
checksum agrees."""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import flask_migrate
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from app.extensions import db

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE_FILES = {"sqlite": "database/dossier.sqlite", "postgresql": "database/dossier.sql"}
ARCHIVE_NAME = re.compile(r"^dossier-(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-(\d+))?\.tar\.gz$")
CHUNK = 1 << 20
# What a damaged archive raises while it is read.
DAMAGED = (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error)


class BackupError(Exception):
    """A backup or a restore that cannot be done; the message tells the operator why."""


@dataclass
class Restored:
    kind: str
    revision: str
    head: str
    files: int

    @property
    def migrated(self) -> bool:
        return self.revision != self.head


def default_folder() -> Path:
    return Path(
        current_app.config.get("BACKUP_DIR") or Path(current_app.config["INSTANCE_DIR"]) / "backups"
    )


def areas() -> dict[str, Path]:
    """The folders of files the app keeps, by their name in the archive. Not the secret key:
    it signs sessions and tokens, no data, and a stolen archive must not also let its holder
    forge a login to the running installation. Not the embedded Redis (the outbox table
    holds what waits to be sent), nor the SQLite file (its snapshot travels instead)."""
    from app.services.documents import storage_dir
    from app.services.outbox import attachment_dir
    from app.services.recurring import print_root

    config = current_app.config
    return {
        "documents": storage_dir(),
        "invoice-runs": print_root(),
        "outbox": attachment_dir(),
        "uploads": Path(config["UPLOAD_FOLDER"]),
        "pictures": Path(config["IMG_UPLOAD_FOLDER"]),
    }


def stored_files(roots: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    """(name in the archive, path) of every file of the areas. Pictures sit inside uploads
    by default: a folder that is another area's root belongs to that area alone."""
    tops = {root.resolve() for root in roots.values()}
    for area, root in roots.items():
        root = root.resolve()
        for folder, folders, names in os.walk(root):
            folders[:] = sorted(
                name for name in folders if (Path(folder) / name).resolve() not in tops
            )
            for name in sorted(names):
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink():
                    yield f"files/{area}/{path.relative_to(root).as_posix()}", path


def database_kind() -> str:
    kind = db.engine.dialect.name
    if kind not in DATABASE_FILES:
        raise BackupError(f"Backups cover SQLite and PostgreSQL databases, not {kind}.")
    return kind


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())


def _sqlite_path() -> str:
    path = db.engine.url.database
    if not path or path == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return path


def _pg_tool(name: str) -> str:
    """pg_dump or psql from PATH, else the newest under /usr/lib/postgresql (Debian)."""
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: [int(n) for n in re.findall(r"\d+", path)],
    )
    if not installed:
        raise BackupError(f"{name} was not found (install the PostgreSQL client programs).")
    return installed[-1]


def _pg_command(name: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """A client program's command line for the app's database; the password goes in the
    environment, never on a command line that other users of the machine can read."""
    url = db.engine.url
    address = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return [_pg_tool(name), *args, "--dbname", address.render_as_string(hide_password=False)], env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")


def _snapshot_sqlite(target: Path) -> str | None:
    """SQLite's online backup in one step: a read lock for the length of the copy, no more."""
    source = sqlite3.connect(f"{Path(_sqlite_path()).resolve().as_uri()}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        row = copy.execute("SELECT name FROM sqlite_master WHERE name = 'alembic_version'")
        if row.fetchone() is None:
            return None
        return copy.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        copy.close()
        source.close()


def _snapshot_postgresql(target: Path) -> str | None:
    """pg_dump reads in one repeatable-read transaction and blocks no reader or writer."""
    with db.engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    command, env = _pg_command(
        "pg_dump", "--format=plain", "--no-owner", "--no-privileges", "--file", str(target)
    )
    _run(command, env)
    return revision


class _Hashing:
    """A file read once for the archive and its checksum alike."""

    def __init__(self, stream):
        self.stream, self.digest = stream, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.digest.update(chunk)
        return chunk


def _add(tar: tarfile.TarFile, name: str, path: Path) -> str | None:
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        log.warning("backup: %s was deleted while the archive was written", path)
        return None
    with stream:
        info = tar.gettarinfo(fileobj=stream, arcname=name)
        hashing = _Hashing(stream)
        tar.addfile(info, hashing)
    return hashing.digest.hexdigest()


def _publish(partial: Path, folder: Path, created: datetime) -> Path:
    """Move the finished archive to its dated name, never over another archive (two backups
    in one second get -2, -3 …)."""
    stamp = created.strftime("%Y-%m-%dT%H%M%SZ")
    number = 1
    while True:
        target = folder / (
            f"dossier-{stamp}.tar.gz" if number == 1 else f"dossier-{stamp}-{number}.tar.gz"
        )
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            number += 1
            continue
        os.replace(partial, target)
        return target


def create_backup(folder: Path | str | None = None) -> Path:
    """Write one archive into `folder` (default BACKUP_DIR, else instance/backups) while the
    app keeps serving; returns its path. A half-written archive never carries the name."""
    kind = database_kind()
    folder = Path(folder or default_folder())
    folder.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".dossier-") as work:
        snapshot = Path(work) / PurePosixPath(DATABASE_FILES[kind]).name
        # The database before the files: a file is written before the row naming it is
        # committed, so every file the snapshot names is there to be read (unless it is
        # deleted in between, a moment after its row).
        revision = (_snapshot_sqlite if kind == "sqlite" else _snapshot_postgresql)(snapshot)
        if revision is None:
            raise BackupError("The database has no schema yet (run `flask db upgrade`).")
        partial = Path(work) / "archive.tar.gz"
        checksums = {}
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            checksums[DATABASE_FILES[kind]] = _add(tar, DATABASE_FILES[kind], snapshot)
            snapshot.unlink()
            for name, path in stored_files(areas()):
                digest = _add(tar, name, path)
                if digest:
                    checksums[name] = digest
            manifest = json.dumps(
                {
                    "format": FORMAT,
                    "app": "Dossier",
                    "created_at": created.isoformat().replace("+00:00", "Z"),
                    "database": {"kind": kind, "revision": revision},
                    "files": checksums,
                },
                indent=2,
                sort_keys=True,
            ).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(manifest), int(created.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(manifest))
        partial.chmod(0o600)  # the archive holds every record: for its owner only
        archive = _publish(partial, folder, created)
    log.info("backup written: %s (%d files)", archive, len(checksums))
    return archive


def archives(folder: Path) -> list[Path]:
    """The archives of a folder, oldest first (by the time in their names)."""
    found = []
    for path in Path(folder).iterdir():
        match = ARCHIVE_NAME.match(path.name)
        if match and path.is_file():
            found.append(((match.group(1), int(match.group(2) or 1)), path))
    return [path for _, path in sorted(found)]


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives of the folder (0 keeps them all)."""
    old = archives(folder)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def scheduled_backup() -> Path:
    """The nightly backup into BACKUP_DIR; archives beyond BACKUP_KEEP go once it is written."""
    folder = Path(current_app.config["BACKUP_DIR"])
    archive = create_backup(folder)
    for path in prune(folder, int(current_app.config["BACKUP_KEEP"])):
        log.info("old backup deleted: %s", path)
    return archive


def _parse_manifest(data: bytes, archive: Path) -> dict:
    try:
        manifest = json.loads(data)
    except ValueError as error:
        raise BackupError(f"The {MANIFEST} of {archive} cannot be read: {error}.") from None
    database = manifest.get("database") if isinstance(manifest, dict) else None
    if (
        not isinstance(database, dict)
        or manifest.get("format") != FORMAT
        or database.get("kind") not in DATABASE_FILES
        or not database.get("revision")
        or not isinstance(manifest.get("files"), dict)
        or DATABASE_FILES[database["kind"]] not in manifest["files"]
    ):
        raise BackupError(f"{archive} is not a Dossier backup of a format this version reads.")
    return manifest


def _writable(name: str, area_names) -> bool:
    """A member a restore may write: the database snapshot or a file of a known area."""
    path = PurePosixPath(name)
    return name in DATABASE_FILES.values() or (
        len(path.parts) >= 3
        and path.parts[0] == "files"
        and path.parts[1] in area_names
        and not path.is_absolute()
        and ".." not in path.parts
    )


def _unpack(archive: Path, work: Path, area_names) -> dict:
    """Every member into `work` in one pass, then each checked against the manifest's
    checksum; returns the manifest. Raises naming the first bad file."""
    digests, manifest, reading = {}, None, None
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    manifest = _parse_manifest(tar.extractfile(member).read(), archive)
                    continue
                if not member.isfile() or not _writable(member.name, area_names):
                    raise BackupError(
                        f"The archive holds {member.name}, which a restore does "
                        "not write; nothing was restored."
                    )
                reading, digest = member.name, hashlib.sha256()
                target = work / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                digests[member.name], reading = digest.hexdigest(), None
    except DAMAGED as error:
        where = f" at {reading}" if reading else ""
        raise BackupError(f"{archive} is damaged{where} ({error}); nothing was restored.") from None
    if manifest is None:
        raise BackupError(f"{archive} is not a Dossier backup: it has no {MANIFEST}.")
    for name, expected in sorted(manifest["files"].items()):
        if name not in digests:
            raise BackupError(f"{name} is missing from the archive; nothing was restored.")
        if digests[name] != expected:
            raise BackupError(
                f"{name} in the archive does not match its checksum: the archive "
                "is damaged; nothing was restored."
            )
    unlisted = sorted(set(digests) - set(manifest["files"]))
    if unlisted:
        raise BackupError(
            f"The archive holds {unlisted[0]}, which its manifest does not list; "
            "nothing was restored."
        )
    return manifest


def _refuse_unless_empty() -> None:
    tables = inspect(db.engine).get_table_names()
    if not tables:
        return
    with db.engine.connect() as connection:
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("ab_user", "partner")
            if table in tables
        }
    where = db.engine.url.render_as_string(hide_password=True)
    raise BackupError(
        f"The database {where} is not empty ({len(tables)} tables, {counts.get('ab_user', 0)} "
        f"users, {counts.get('partner', 0)} partners); restoring over it needs --force, which "
        "replaces its data and the stored files."
    )


def _restore_sqlite(snapshot: Path) -> None:
    """Copied in by SQLite's backup API: the target takes all of it in one transaction."""
    db.engine.dispose()
    source, target = sqlite3.connect(snapshot), sqlite3.connect(_sqlite_path())
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _restore_postgresql(dump: Path, force: bool) -> None:
    """psql loads the dump in one transaction, after dropping the old schema when forced
    (tables, and the functions behind the note lock's triggers): a dump that fails half-way
    leaves the database as it was."""
    statements = []
    if force and inspect(db.engine).get_table_names():
        statements = ["--command", "DROP SCHEMA public CASCADE; CREATE SCHEMA public"]
    db.engine.dispose()
    command, env = _pg_command(
        "psql",
        "--no-psqlrc",
        "--quiet",
        "--set",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        *statements,
        "--file",
        str(dump),
    )
    _run(command, env)


def _place_files(work: Path, roots: dict[str, Path], force: bool) -> int:
    """The archive's files into their folders; when forced, files it does not hold go."""
    placed = set()
    for area, root in roots.items():
        staged = work / "files" / area
        for path in sorted(staged.rglob("*")) if staged.is_dir() else []:
            if path.is_file():
                target = root / path.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
                placed.add(target.resolve())
    if force:
        for _, path in list(stored_files(roots)):
            if path.resolve() not in placed:
                path.unlink()
    return len(placed)


def restore_backup(archive: Path | str, force: bool = False) -> Restored:
    """Restore an archive into the app's database and instance folder. Refuses a database
    that holds anything unless `force`; checks every checksum before it changes anything;
    migrates an archive of an older schema forward."""
    archive = Path(archive)
    kind = database_kind()
    if not force:
        _refuse_unless_empty()
    script = _script()
    head = script.get_current_head()
    roots = areas()
    instance = Path(current_app.config["INSTANCE_DIR"])
    with tempfile.TemporaryDirectory(dir=instance, prefix=".restore-") as work:
        manifest = _unpack(archive, Path(work), roots)
        made_on, revision = manifest["database"]["kind"], manifest["database"]["revision"]
        if made_on != kind:
            raise BackupError(
                f"This archive holds a {made_on} database and cannot be restored into the "
                f"{kind} database of DATABASE_URL; restore it into a {made_on} database."
            )
        try:
            script.get_revision(revision)
        except CommandError:
            raise BackupError(
                f"The archive's schema revision {revision} is unknown to this "
                "version of Dossier (a newer one made it)."
            ) from None
        snapshot = Path(work) / DATABASE_FILES[kind]
        if kind == "sqlite":
            _restore_sqlite(snapshot)
        else:
            _restore_postgresql(snapshot, force)
        files = _place_files(Path(work), roots, force)
    if revision != head:
        flask_migrate.upgrade()
    log.info("restored %s: %s database at %s, %d files", archive, kind, revision, files)
    return Restored(kind=kind, revision=revision, head=head, files=files)
