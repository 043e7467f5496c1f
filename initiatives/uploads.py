"""Attachment files: type checked from the bytes, size limited, stored under random names."""

import errno
import hashlib
import io
import logging
import os
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import lazy_gettext as _l

# What each allowed kind of file must look like inside, and the name it is offered under.
ALLOWED_TYPES = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "image/png": "png",
    "image/jpeg": "jpg",
}


class UploadError(ValueError):
    """A file the portal refuses, with a message for the form."""


@dataclass
class CheckedFile:
    """An upload that passed the checks, still in memory."""

    original_name: str
    content: bytes
    content_type: str
    sha256: str


def attachments_dir() -> Path:
    """The folder holding attachment files, inside the instance folder (never served directly)."""
    path = Path(current_app.instance_path) / "attachments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_upload(storage) -> CheckedFile:
    """Read an uploaded FileStorage and check its size and its real type; raises UploadError."""
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    content = storage.read(limit + 1)
    if len(content) > limit:
        raise UploadError(_l("The file is larger than %(size)s.", size=readable_size(limit)))
    if not content:
        raise UploadError(_l("The file is empty."))
    kind = filetype.guess(content)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise UploadError(_l("Only PDF, DOCX, XLSX, PNG and JPEG files are accepted."))
    if kind.extension in ("docx", "xlsx"):
        check_archive(content)
    name = os.path.basename((storage.filename or "").replace("\\", "/")).strip() or "file"
    stem = name.rsplit(".", 1)[0] if "." in name else name
    original = f"{stem[:200]}.{ALLOWED_TYPES[kind.mime]}"
    return CheckedFile(original, content, kind.mime, hashlib.sha256(content).hexdigest())


# DOCX and XLSX are zip archives. What they unpack to is read from the archive's central
# directory, never by unpacking: a zip bomb is refused at the cost of reading its table of contents.
def readable_size(size: int) -> str:
    """1 MB and more in MB (one decimal when needed), smaller sizes in KB: never "0 MB"."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB" if size % (1024 * 1024) == 0 else f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_MEMBERS = 5000
MAX_RATIO = 200  # Office XML packs 5-20 times; deflate cannot go beyond about 1,032


def check_archive(content: bytes) -> None:
    """Refuse a DOCX or XLSX whose archive is broken or would unpack to far more than it weighs
    (a zip bomb), judging by the declared sizes only; raises UploadError."""
    refused = UploadError(_l("This document is damaged or unpacks to far more than its size, "
                             "and is refused."))
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise refused from None
    unpacked = sum(member.file_size for member in members)
    if len(members) > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
        raise refused
    for member in members:
        if member.file_size > MAX_RATIO * max(member.compress_size, 1024):
            raise refused


class StorageUnavailable(UploadError):
    """The upload folder cannot take the file now (full, read-only, gone); ``status`` is the HTTP
    answer (507 when out of space, 503 otherwise)."""

    def __init__(self, message, status: int):
        super().__init__(message)
        self.status = status


# Files wait here, under their final random name, until the transaction that records them commits;
# only then do they move into the attachments folder. A worker killed in between leaves at most a
# file here, never one in the attachments folder that no row knows (``uploads check`` tidies up).
INCOMING = "attachments-incoming"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def incoming_dir() -> Path:
    """The folder where files wait for their transaction to commit."""
    path = Path(current_app.instance_path) / INCOMING
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_file(path: Path, content: bytes) -> None:
    """Write ``content`` to a new file at ``path`` and make sure it reached the disk."""
    with open(path, "xb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def _storage_error(error: OSError) -> StorageUnavailable:
    """The user's message for a folder that refused a file."""
    current_app.logger.error("Attachment storage failed: %s", error)
    if error.errno in NO_SPACE:
        return StorageUnavailable(_l("The portal has no room for files right now. Your text is saved; "
                                     "please try to attach the file again later."), 507)
    return StorageUnavailable(_l("The portal cannot store files right now. Your text is saved; "
                                 "please try to attach the file again later."), 503)


def store(checked: CheckedFile) -> str:
    """Write the file under a fresh random name in the incoming folder; returns that name.

    Raises StorageUnavailable when the folder cannot take it (nothing is left behind)."""
    stored_name = secrets.token_hex(24)
    try:
        target = incoming_dir() / stored_name
        try:
            _write_file(target, checked.content)
        except OSError:
            target.unlink(missing_ok=True)
            raise
    except OSError as error:
        raise _storage_error(error) from error
    return stored_name


def attachment_path(stored_name: str) -> Path | None:
    """Where the file of a committed attachment is, or None when it is missing.

    A file still in the incoming folder belongs to a transaction that committed but whose worker
    stopped before moving it: it is moved into place now."""
    path = attachments_dir() / stored_name
    if path.exists():
        return path
    if (Path(current_app.instance_path) / INCOMING / stored_name).exists():
        _publish(current_app.instance_path, stored_name)
        return path if path.exists() else None
    return None


def remove(stored_name: str) -> None:
    """Delete a stored file if it is there."""
    _unlink(current_app.instance_path, stored_name)


_NEW_FILES = "portal_new_files"
_DOOMED_FILES = "portal_doomed_files"


def store_in_transaction(session, checked: CheckedFile) -> str:
    """Store the file in the incoming folder; it moves into place when ``session`` commits and is
    deleted if it rolls back. Raises StorageUnavailable."""
    stored_name = store(checked)
    session.info.setdefault(_NEW_FILES, []).append((current_app.instance_path, stored_name))
    return stored_name


def remove_after_commit(session, stored_name: str) -> None:
    """Delete the stored file once ``session`` commits the removal of its row."""
    session.info.setdefault(_DOOMED_FILES, []).append((current_app.instance_path, stored_name))


def _publish(instance_path: str, stored_name: str) -> None:
    """Move a committed file from the incoming folder into the attachments folder."""
    source = Path(instance_path) / INCOMING / stored_name
    target_dir = Path(instance_path) / "attachments"
    target_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target_dir / stored_name)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        shutil.copy2(source, target_dir / stored_name)  # folders on two file systems
        source.unlink()


def _unlink(instance_path: str, stored_name: str) -> None:
    for folder in ("attachments", INCOMING):
        try:
            (Path(instance_path) / folder / stored_name).unlink()
        except FileNotFoundError:
            pass


def _register_session_hooks() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    @event.listens_for(Session, "after_commit")
    def _files_after_commit(session):
        for instance_path, stored_name in session.info.pop(_NEW_FILES, []):
            try:
                _publish(instance_path, stored_name)
            except OSError:
                # The row is committed and the file safe in the incoming folder, where
                # attachment_path() and ``uploads check --fix`` still find it.
                logging.getLogger(__name__).exception("Could not move attachment %s into place", stored_name)
        for instance_path, stored_name in session.info.pop(_DOOMED_FILES, []):
            _unlink(instance_path, stored_name)

    @event.listens_for(Session, "after_rollback")
    def _files_after_rollback(session):
        session.info.pop(_DOOMED_FILES, None)
        for instance_path, stored_name in session.info.pop(_NEW_FILES, []):
            _unlink(instance_path, stored_name)


_register_session_hooks()


@dataclass
class FilesReport:
    """What ``check_files`` found: lists of stored names."""

    orphans: list  # in the attachments folder, no attachment row
    unpublished: list  # committed rows whose file still waits in the incoming folder
    leftovers: list  # in the incoming folder, no row, older than the grace period
    in_progress: list  # in the incoming folder, no row yet, recent: probably an upload under way
    missing: list  # attachment rows without any file
    fixed: bool = False

    @property
    def consistent(self) -> bool:
        """Every row has its file and no file is without a row (after fixing, if asked)."""
        if self.missing:
            return False
        return self.fixed or not (self.orphans or self.unpublished or self.leftovers)


def check_files(fix: bool = False, min_age: float = 3600) -> FilesReport:
    """Compare the attachment rows with the files on disk; with ``fix``, move committed files
    into place and delete files that no row knows (incoming ones only once older than
    ``min_age`` seconds, so that uploads under way are left alone)."""
    import time

    from .models import Attachment, InitiativeVersion

    known = {name for (name,) in Attachment.query.with_entities(Attachment.stored_name)}
    # A file removed from an initiative after a submission round stays for that round's snapshot.
    known |= {f["stored_name"] for (snapshot,) in InitiativeVersion.query.with_entities(InitiativeVersion.snapshot)
              for f in (snapshot or {}).get("files", []) if f.get("stored_name")}
    published = {p.name for p in attachments_dir().iterdir() if p.is_file()}
    incoming = {p.name: p for p in incoming_dir().iterdir() if p.is_file()}
    now = time.time()
    report = FilesReport(
        orphans=sorted(published - known),
        unpublished=sorted((set(incoming) & known) - published),
        leftovers=sorted(n for n, p in incoming.items() if n not in known and now - p.stat().st_mtime >= min_age),
        in_progress=sorted(n for n, p in incoming.items() if n not in known and now - p.stat().st_mtime < min_age),
        missing=sorted(known - published - set(incoming)),
    )
    if fix:
        instance_path = current_app.instance_path
        for name in report.unpublished:
            _publish(instance_path, name)
        for name in report.orphans:
            (attachments_dir() / name).unlink(missing_ok=True)
        for name in report.leftovers:
            (incoming_dir() / name).unlink(missing_ok=True)
        report.fixed = True
    return report
