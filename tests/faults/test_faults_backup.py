"""``flask backup`` and ``flask restore``: a round trip brings back exactly the database and the
attachments of the moment of the backup, on SQLite and on PostgreSQL; a missing or damaged backup
is refused and changes nothing."""

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from initiatives import uploads
from initiatives.extensions import db
from initiatives.models import Attachment, Initiative

from .story import PDF, actions, attach, counts, create_draft, make_proposer, sign_in, submit

PDF_2 = PDF.replace(b"%%EOF", b"% second file\n%%EOF")


@pytest.fixture(params=["suite database", "postgresql"])
def portal(request):
    """A portal on the suite's database (SQLite, or PostgreSQL in CI's second leg) and, in every
    leg, on a PostgreSQL database of its own; the app context is pushed."""
    if request.param == "suite database":
        return request.getfixturevalue("app")
    application = request.getfixturevalue("make_portal")(request.getfixturevalue("postgres_url"))
    context = application.app_context()
    context.push()
    request.addfinalizer(context.pop)
    return application


def _backup(portal, out: Path) -> Path:
    result = portal.test_cli_runner().invoke(args=["backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (path,) = [p for p in out.iterdir() if p.name.startswith("portal-backup-")]
    assert str(path) in result.output
    return path


def _restore(portal, path, *extra):
    return portal.test_cli_runner().invoke(args=["restore", str(path), "--yes", *extra])


def _live_files(portal) -> set[str]:
    folder = Path(portal.instance_path) / "attachments"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_a_backup_restores_the_database_and_the_attachments_of_its_moment(portal, tmp_path):
    make_proposer()
    client = sign_in(portal.test_client())
    kept = create_draft(client, title="Cảm biến độ ẩm đất")
    assert attach(client, kept).status_code == 302
    assert submit(client, kept).status_code == 302
    before = counts()
    kept_trail = actions(kept)
    kept_file = Attachment.query.one().stored_name

    path = _backup(portal, tmp_path / "backups")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["database"] == db.engine.dialect.name
    assert manifest["counts"]["initiative"] == 1 and manifest["counts"]["attachment"] == 1
    assert manifest["counts"]["audit_event"] == before["audit_events"]
    assert manifest["attachments"] == {kept_file: hashlib.sha256(PDF).hexdigest()}
    assert (path / "attachments" / kept_file).read_bytes() == PDF
    assert manifest["missing_attachments"] == []

    # Life goes on after the backup: a second initiative with its own file.
    later = create_draft(client, title="Later idea")
    assert attach(client, later, PDF_2, "later.pdf").status_code == 302
    later_file = Attachment.query.filter_by(initiative_id=later).one().stored_name
    assert _live_files(portal) == {kept_file, later_file}

    result = _restore(portal, path)
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert counts() == before
    assert [i.title for i in Initiative.query.all()] == ["Cảm biến độ ẩm đất"]
    assert actions(kept) == kept_trail
    assert _live_files(portal) == {kept_file}  # the later file went with its row
    assert uploads.check_files().consistent

    # The restored portal works: the same account signs in, downloads the file, starts anew.
    client = sign_in(portal.test_client())
    attachment = Attachment.query.one()
    download = client.get(f"/initiatives/{kept}/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == PDF
    fresh = create_draft(client, title="After the restore")
    assert fresh != kept and actions(fresh) == ["initiative.created"]


def _break_database_file(path: Path, manifest: dict) -> None:
    target = path / manifest["database_file"]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))


def _replace_database_file_and_checksum(path: Path, manifest: dict) -> None:
    """A damaged file whose manifest was rewritten to match: the database tools must notice."""
    target = path / manifest["database_file"]
    target.write_bytes(b"this is not a database" * 100)
    manifest["database_sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def _break_attachment(path: Path, manifest: dict) -> None:
    (path / "attachments" / next(iter(manifest["attachments"]))).write_bytes(b"%PDF-1.4 tampered")


def _drop_manifest(path: Path, manifest: dict) -> None:
    (path / "manifest.json").unlink()


def _garble_manifest(path: Path, manifest: dict) -> None:
    (path / "manifest.json").write_text("{not json")


@pytest.mark.parametrize("damage, message", [
    (_break_database_file, "damaged"),
    (_replace_database_file_and_checksum, "not"),
    (_break_attachment, "damaged"),
    (_drop_manifest, "not a complete backup"),
    (_garble_manifest, "damaged"),
])
def test_a_damaged_backup_is_refused_and_changes_nothing(portal, tmp_path, damage, message):
    make_proposer()
    client = sign_in(portal.test_client())
    first = create_draft(client, title="Before the backup")
    assert attach(client, first).status_code == 302
    path = _backup(portal, tmp_path / "backups")
    second = create_draft(client, title="After the backup")
    before, files = counts(), _live_files(portal)

    damage(path, json.loads((path / "manifest.json").read_text()))
    result = _restore(portal, path)
    assert result.exit_code != 0
    assert "nothing restored" in result.output and message in result.output
    db.session.remove()
    assert counts() == before and _live_files(portal) == files
    assert db.session.get(Initiative, second).title == "After the backup"


def test_restoring_from_a_missing_folder_is_refused(app, tmp_path):
    result = _restore(app, tmp_path / "no-such-backup")
    assert result.exit_code != 0
    assert "nothing restored" in result.output and "not a backup folder" in result.output


def test_restore_asks_before_replacing_anything(app, tmp_path):
    make_proposer()
    path = _backup(app, tmp_path / "backups")
    result = app.test_cli_runner().invoke(args=["restore", str(path)], input="n\n")
    assert result.exit_code != 0 and "Replace this portal's database" in result.output


def test_the_postgresql_client_tools_match_the_server(postgres_server):
    """pg_dump refuses a newer server, and a dump is best read by the same major version."""
    from sqlalchemy import text

    with postgres_server.connect() as connection:
        server = int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    for tool in ("pg_dump", "pg_restore"):
        version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
        assert int(re.search(r"\(PostgreSQL\) (\d+)", version).group(1)) >= server, version
