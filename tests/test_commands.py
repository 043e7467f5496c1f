"""Every command the README lists, run as a user runs it: ``flask --app wsgi ...`` in a process of
its own, on a fresh instance with the real model, on this leg's database (a new SQLite file, or a
new database on the PostgreSQL server of the PostgreSQL leg). Each must exit 0 with its one-line
summary when it did its work, and non-zero with a one-line reason when it did not; none may be
torn down by work its commits left running (``flask demo`` once died with SIGABRT on PostgreSQL
while the encoder thread was inside the model)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL
from tests.faults.conftest import postgres_server, postgres_url  # noqa: F401 (fixtures)
from tests.test_smtp import Inbox, _free_port

ROOT = Path(__file__).resolve().parents[1]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
DEATH_MARKS = ("terminate called", "Traceback (most recent call last)", "Segmentation fault")

pytestmark = pytest.mark.model

GOOD_IMPORT = [{
    "external_ref": "CLI-001",
    "title": "Máy sục khí năng lượng mặt trời cho ao nuôi tôm",
    "summary": "Solar-powered aerators that keep dissolved oxygen up in shrimp ponds at night.",
    "description": "Paddle-wheel aerators driven by solar panels and a small battery.",
    "keywords": ["tôm", "sục khí", "năng lượng mặt trời"],
    "field": "agriculture",
    "province": "Cà Mau",
}]
BAD_IMPORT = [{"external_ref": "CLI-002", "title": "", "field": "no-such-field"}]


@pytest.fixture
def database_url(request, tmp_path):
    """A new, empty database of this leg's kind."""
    if PG_URL:
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def portal(tmp_path, database_url):
    """``portal("users", "list", input=...)`` runs one command; returns (exit status, stdout, stderr)."""
    environment = {
        **os.environ,
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": secrets.token_hex(32),
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    for name in ("PORTAL_MAIL_SERVER", "PORTAL_MAIL_PORT", "PORTAL_EMBEDDING_MODEL"):
        environment.pop(name, None)

    def run(*arguments, input=None, extra_env=None):
        finished = subprocess.run(
            [*FLASK, *arguments], cwd=ROOT, input=input, capture_output=True, text=True,
            env={**environment, **(extra_env or {})}, timeout=600,
        )
        for mark in DEATH_MARKS:
            assert mark not in finished.stderr, f"flask {' '.join(arguments)}:\n{finished.stderr}"
        return finished.returncode, finished.stdout, finished.stderr

    return run


def succeeds(portal, *arguments, says, **options):
    """Run a command that must do its work: exit 0 and print ``says``; returns its output."""
    status, out, err = portal(*arguments, **options)
    assert status == 0, f"flask {' '.join(arguments)} exited {status}:\n{out}\n{err}"
    assert says in out, f"flask {' '.join(arguments)} did not say {says!r}:\n{out}"
    return out


def refuses(portal, *arguments, says, **options):
    """Run a command that cannot do its work: a non-zero exit and a one-line reason on stderr."""
    status, out, err = portal(*arguments, **options)
    assert status != 0, f"flask {' '.join(arguments)} exited 0:\n{out}\n{err}"
    reason = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(reason) == 1 and says in reason[0], f"flask {' '.join(arguments)}:\n{err}"
    return err


def test_every_readme_command_exits_cleanly_on_a_fresh_instance(portal, tmp_path):
    succeeds(portal, "db", "upgrade", says="")

    succeeds(portal, "users", "create", "--email", "admin@example.org", "--role", "admin",
             "--password-stdin", input="a long admin password\n",
             says="Created admin@example.org with roles admin.")
    refuses(portal, "users", "create", "--email", "admin@example.org", "--role", "admin",
            "--password-stdin", input="another password\n", says="already")
    assert "admin@example.org\tadmin\tactive" in succeeds(portal, "users", "list", says="admin@example.org")

    # The demo's commits queue encoding and index work; the command waits for it and exits 0,
    # so nothing is left for 'match embed', the second run changes nothing and also exits 0.
    succeeds(portal, "demo", says="Demo data: 64 users, 76 initiatives, 40 experts, 22 demands")
    succeeds(portal, "demo", says="Demo data: 0 users, 0 initiatives")
    succeeds(portal, "match", "embed", says="Encoded 0 texts")
    experts = succeeds(portal, "match", "experts", "nuôi tôm", "--limit", "3", says="\t")
    assert len(experts.strip().splitlines()) == 3

    succeeds(portal, "connections", "suggest", says="new suggestion(s) for")
    succeeds(portal, "search", "reindex", says="Indexed ")
    succeeds(portal, "search", "check", says="ok (")
    answer = json.loads(succeeds(portal, "search", "query", "lúa", "--json", says="{"))
    assert answer["total"] > 0

    succeeds(portal, "review", "assign", "green-agriculture-2027", says="proposed assignments")
    refuses(portal, "review", "assign", "no-such-call", says="No call 'no-such-call'")
    succeeds(portal, "review", "remind", says="Reminded ")

    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD_IMPORT, ensure_ascii=False), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(BAD_IMPORT), encoding="utf-8")
    succeeds(portal, "import", "initiatives", str(good), says="Imported initiatives from")
    status, out, err = portal("import", "initiatives", str(bad))
    assert status != 0 and "Error: nothing imported from" in err, err
    succeeds(portal, "match", "embed", says="Encoded 0 texts")  # the import waited too

    affinities = tmp_path / "affinities.csv"
    succeeds(portal, "export", "affinities", "--out", str(affinities), "--top", "2", says="Wrote ")
    assert affinities.read_text(encoding="utf-8").startswith("initiative_ref,expert_ref,score")

    refuses(portal, "mail", "send", says="No PORTAL_MAIL_SERVER configured")
    inbox, port = Inbox(), _free_port()
    from aiosmtpd.controller import Controller

    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sent = succeeds(portal, "mail", "send", says="Sent ", extra_env={
            "PORTAL_MAIL_SERVER": "127.0.0.1", "PORTAL_MAIL_PORT": str(port)})
    finally:
        controller.stop()
    assert sent.strip() == f"Sent {len(inbox.messages)}, failed 0." and inbox.messages

    backups = tmp_path / "backups"
    succeeds(portal, "backup", "--out", str(backups), says="Backup written to")
    (backup,) = backups.iterdir()
    succeeds(portal, "restore", str(backup), "--yes", says="Restored the backup of")
    refuses(portal, "restore", str(tmp_path / "nowhere"), "--yes", says="nothing restored")
    succeeds(portal, "uploads", "check", says="Attachments are consistent.")

    document = json.loads(succeeds(portal, "openapi", "print", says="openapi"))
    assert document["paths"]
