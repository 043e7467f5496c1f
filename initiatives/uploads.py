"""Attachment files: type checked from the bytes, size limited, stored under random names."""

import hashlib
import os
import secrets
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
        raise UploadError(_l("The file is larger than %(mb)s MB.", mb=limit // (1024 * 1024)))
    if not content:
        raise UploadError(_l("The file is empty."))
    kind = filetype.guess(content)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise UploadError(_l("Only PDF, DOCX, XLSX, PNG and JPEG files are accepted."))
    name = os.path.basename((storage.filename or "").replace("\\", "/")).strip() or "file"
    stem = name.rsplit(".", 1)[0] if "." in name else name
    original = f"{stem[:200]}.{ALLOWED_TYPES[kind.mime]}"
    return CheckedFile(original, content, kind.mime, hashlib.sha256(content).hexdigest())


def store(checked: CheckedFile) -> str:
    """Write the file under a fresh random name; returns that name."""
    stored_name = secrets.token_hex(24)
    target = attachments_dir() / stored_name
    with open(target, "xb") as f:
        f.write(checked.content)
    return stored_name


def remove(stored_name: str) -> None:
    """Delete a stored file if it is there."""
    try:
        (attachments_dir() / stored_name).unlink()
    except FileNotFoundError:
        pass


_NEW_FILES = "portal_new_files"
_DOOMED_FILES = "portal_doomed_files"


def store_in_transaction(session, checked: CheckedFile) -> str:
    """Store the file now and delete it again if ``session`` rolls back: no orphan files."""
    stored_name = store(checked)
    session.info.setdefault(_NEW_FILES, []).append((current_app.instance_path, stored_name))
    return stored_name


def remove_after_commit(session, stored_name: str) -> None:
    """Delete the stored file once ``session`` commits the removal of its row."""
    session.info.setdefault(_DOOMED_FILES, []).append((current_app.instance_path, stored_name))


def _unlink(instance_path: str, stored_name: str) -> None:
    try:
        (Path(instance_path) / "attachments" / stored_name).unlink()
    except FileNotFoundError:
        pass


def _register_session_hooks() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    @event.listens_for(Session, "after_commit")
    def _files_after_commit(session):
        session.info.pop(_NEW_FILES, None)
        for instance_path, stored_name in session.info.pop(_DOOMED_FILES, []):
            _unlink(instance_path, stored_name)

    @event.listens_for(Session, "after_rollback")
    def _files_after_rollback(session):
        session.info.pop(_DOOMED_FILES, None)
        for instance_path, stored_name in session.info.pop(_NEW_FILES, []):
            _unlink(instance_path, stored_name)


_register_session_hooks()
