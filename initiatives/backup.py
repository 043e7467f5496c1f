"""Backups: a consistent copy of the database and the attachments, and bringing one back."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app

from .extensions import db

MANIFEST = "manifest.json"
FORMAT = 1
DATABASE_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


class BackupError(Exception):
    """A backup that cannot be written or restored, with the reason."""


@dataclass
class BackupResult:
    """Where a backup was written and what its manifest says."""

    path: Path
    manifest: dict


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def database_kind() -> str:
    """``sqlite`` or ``postgresql``, from the configured engine; BackupError for anything else."""
    kind = db.engine.dialect.name
    if kind not in DATABASE_FILES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {kind}.")
    return kind


# --- SQLite: the online backup API copies a consistent snapshot while the portal runs ---------

def _sqlite_path() -> Path:
    database = db.engine.url.database
    if not database or database == ":memory:":
        raise BackupError("The SQLite database is in memory: there is no file to back up or restore.")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy the database ``source`` onto ``target`` page by page with sqlite3's backup API."""
    source_connection = sqlite3.connect(source)
    target_connection = sqlite3.connect(target)
    try:
        source_connection.backup(target_connection)
    except sqlite3.DatabaseError as error:
        raise BackupError(f"The SQLite copy failed: {error}") from error
    finally:
        target_connection.close()
        source_connection.close()


def _make_self_contained(path: Path) -> None:
    """Switch a copied database out of WAL mode, so that the one file is the whole database."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()


def _sqlite_contents(path: Path) -> tuple[dict, dict]:
    """Row counts per table and ``{stored_name: sha256}`` of the attachments in a database file."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        # table names come from sqlite_master, not from a user
        counts = {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables}  # nosec B608
        files = dict(connection.execute("SELECT stored_name, sha256 FROM attachment")) if "attachment" in tables else {}
    finally:
        connection.close()
    return counts, files


# --- PostgreSQL: pg_dump and pg_restore with the connection's own parameters ------------------

def _pg_tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore`` (from PG_BIN_DIR when set, else from PATH)."""
    bin_dir = current_app.config.get("PG_BIN_DIR")
    path = str(Path(bin_dir) / name) if bin_dir else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise BackupError(f"{name} was not found: install the PostgreSQL client tools of the "
                          "server's version or set PORTAL_PG_BIN_DIR.")
    return path


def _pg_connection() -> tuple[str, dict]:
    """A libpq connection URI for the configured database (without the password, which goes
    in the environment so that it never shows in the process list) and that environment."""
    url = db.engine.url
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = url.password
    libpq = url.set(drivername="postgresql", password=None)
    return libpq.render_as_string(hide_password=False), environment


def _run(command: list[str], environment: dict, what: str) -> None:
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()}")


def _pg_backup(target: Path) -> tuple[dict, dict]:
    """Dump the database in pg_dump's custom format; counts and attachment list come from the
    very snapshot the dump reads, so the manifest and the files match the dump exactly."""
    from sqlalchemy import text

    uri, environment = _pg_connection()
    with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        tables = connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")).scalars().all()
        # table names come from pg_tables, not from a user
        counts = {name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one() for name in tables}  # nosec B608
        files = {}
        if "attachment" in tables:
            files = dict(connection.execute(text("SELECT stored_name, sha256 FROM attachment")).all())
        # The snapshot lives as long as this transaction: pg_dump runs inside it.
        _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
              f"--snapshot={snapshot}", f"--file={target}", f"--dbname={uri}"], environment, "pg_dump")
        connection.rollback()
    return counts, files


def _pg_restore(source: Path) -> None:
    """Replace the configured database's contents with the dump, all or nothing."""
    uri, environment = _pg_connection()
    tool = _pg_tool("pg_restore")
    _run([tool, "--list", str(source)], environment, "Reading the dump")
    db.session.remove()
    db.engine.dispose()  # our own pooled connections would hold locks the restore needs
    _run([tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          f"--dbname={uri}", str(source)], environment, "pg_restore")


# --- Both ------------------------------------------------------------------------------------

def create_backup(out_dir: Path) -> BackupResult:
    """Write ``<out_dir>/portal-backup-<UTC time>/`` with the database, the attachments its
    snapshot refers to and ``manifest.json``. The folder appears only once complete."""
    kind = database_kind()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    final = out_dir / f"portal-backup-{now:%Y%m%dT%H%M%SZ}"
    for number in range(2, 100):
        if not final.exists():
            break
        final = out_dir / f"portal-backup-{now:%Y%m%dT%H%M%SZ}-{number}"
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
    try:
        database_file = partial / DATABASE_FILES[kind]
        if kind == "sqlite":
            db.session.commit()  # the copy waits for no transaction of ours
            _sqlite_copy(_sqlite_path(), database_file)
            _make_self_contained(database_file)
            counts, files = _sqlite_contents(database_file)
        else:
            counts, files = _pg_backup(database_file)
        copied, missing = _copy_attachments(files, partial / "attachments")
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "database": kind,
            "database_file": database_file.name,
            "database_sha256": _sha256(database_file),
            "counts": counts,
            "attachments": copied,
            "missing_attachments": missing,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupResult(final, manifest)


def _copy_attachments(files: dict, target: Path) -> tuple[dict, list]:
    """Copy the attachment files named in the snapshot; returns ``{name: sha256}`` copied and the
    names whose file was gone (removed since the snapshot, or missing already)."""
    from . import uploads

    target.mkdir()
    copied, missing = {}, []
    for stored_name, sha256 in sorted(files.items()):
        source = uploads.attachment_path(stored_name)
        if source is None:
            missing.append(stored_name)
            continue
        shutil.copy2(source, target / stored_name)
        copied[stored_name] = sha256
    return copied, missing


def read_backup(path: Path) -> dict:
    """The manifest of the backup at ``path`` after checking that every file it names is there
    and intact; BackupError says what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise BackupError(f"{path} is not a backup folder.")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BackupError(f"{path} has no {MANIFEST}: it is not a complete backup.") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise BackupError(f"{path / MANIFEST} is damaged: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path / MANIFEST} is not a backup manifest this version reads.")
    if manifest.get("database") not in DATABASE_FILES:
        raise BackupError(f"{path / MANIFEST} names an unknown database kind.")
    database_file = path / DATABASE_FILES[manifest["database"]]
    if not database_file.is_file():
        raise BackupError(f"{database_file} is missing.")
    if _sha256(database_file) != manifest.get("database_sha256"):
        raise BackupError(f"{database_file} is damaged: its checksum does not match the manifest.")
    for stored_name, sha256 in (manifest.get("attachments") or {}).items():
        attachment = path / "attachments" / stored_name
        if not attachment.is_file():
            raise BackupError(f"The attachment {stored_name} is missing from the backup.")
        if _sha256(attachment) != sha256:
            raise BackupError(f"The attachment {stored_name} in the backup is damaged.")
    return manifest


def restore_backup(path: Path) -> dict:
    """Replace the database and the attachments with the backup at ``path``; returns its manifest.
    Everything is checked first: a missing or damaged backup changes nothing."""
    path = Path(path)
    manifest = read_backup(path)
    kind = database_kind()
    if manifest["database"] != kind:
        raise BackupError(f"This backup holds a {manifest['database']} database; "
                          f"the portal is configured for {kind}.")
    database_file = path / DATABASE_FILES[kind]
    if kind == "sqlite":
        try:
            _sqlite_contents(database_file)  # a readable SQLite database with tables
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{database_file} is not a readable SQLite database: {error}") from error
        db.session.remove()
        db.engine.dispose()
        _sqlite_copy(database_file, _sqlite_path())
    else:
        _pg_restore(database_file)
    _replace_attachments(path / "attachments", manifest.get("attachments") or {})
    return manifest


def _replace_attachments(source: Path, files: dict) -> None:
    """Make the attachments folder hold exactly the backup's files (swapped in whole)."""
    from . import uploads

    live = uploads.attachments_dir()
    fresh = Path(tempfile.mkdtemp(prefix=".restoring-", dir=live.parent))
    for stored_name in files:
        shutil.copy2(source / stored_name, fresh / stored_name)
    old = live.with_name(f".attachments-replaced-{os.getpid()}")
    live.rename(old)
    fresh.rename(live)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(uploads.incoming_dir(), ignore_errors=True)  # uploads of the replaced state
