"""A worker killed (SIGKILL) anywhere in a submission with an attachment leaves the whole step or
nothing: no file without its row, no row without its file, no initiative or state change without
its audit event. Runs on the suite's database (a SQLite file, or PostgreSQL in CI's second leg)."""

import hashlib
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from initiatives import uploads
from initiatives.extensions import db
from initiatives.models import Attachment, Initiative, InitiativeVersion

from .story import PDF, actions, attach, make_proposer, sign_in

ROOT = Path(__file__).resolve().parents[2]

# (where the worker is killed, the initiative's state afterwards or None, attachments afterwards)
CASES = [
    ("create:before_commit", None, 0),
    ("attach:file_staged", "draft", 0),
    ("attach:before_commit", "draft", 0),
    ("attach:before_publish", "draft", 1),
    ("submit:before_commit", "draft", 1),
    ("submit:after_commit", "screening", 1),
    ("none", "screening", 1),  # not killed: the whole story
]


def run_worker(database_url: str, where: str, log: Path, timeout: float = 120) -> str:
    """Start the worker, wait until it pauses at ``where`` (or finishes), SIGKILL it; returns
    the line it printed last."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.submission_worker", database_url, where],
        cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in worker.stdout], daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=timeout)
            if line.startswith(("PAUSED", "DONE")):
                return line
    except queue.Empty:
        pytest.fail(f"the worker never reached {where}:\n{log.read_text()[-3000:]}")
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        worker.stdout.close()


def assert_consistent(app):
    """Every initiative has the audit events of its state, every attachment its file and event,
    and no file in the attachments folder lacks a row."""
    for initiative in Initiative.query.all():
        trail = actions(initiative.id)
        assert trail[0] == "initiative.created"
        submitted = initiative.state != "draft"
        assert ("initiative.submitted" in trail) == submitted
        assert ("initiative.entered_screening" in trail) == submitted
        assert InitiativeVersion.query.filter_by(initiative_id=initiative.id).count() == int(submitted)
        assert trail.count("initiative.attachment_added") == len(initiative.attachments)
    for attachment in Attachment.query.all():
        path = uploads.attachment_path(attachment.stored_name)
        assert path is not None, "an attachment row without its file"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == attachment.sha256
    known = {a.stored_name for a in Attachment.query.all()}
    published = {p.name for p in (Path(app.instance_path) / "attachments").glob("*")}
    assert published <= known, "a file in the attachments folder without its row"


@pytest.mark.parametrize("where, state, attachments", CASES)
def test_a_killed_worker_leaves_the_whole_step_or_nothing(app, tmp_path, where, state, attachments):
    make_proposer()
    db.session.remove()
    url = db.engine.url.render_as_string(hide_password=False)

    last = run_worker(url, where, tmp_path / "worker.log")
    assert last == (f"PAUSED {where}" if where != "none" else "DONE 1")

    db.session.remove()
    initiatives = Initiative.query.all()
    assert [i.state for i in initiatives] == ([state] if state else [])
    assert Attachment.query.count() == attachments
    assert_consistent(app)

    # What an interrupted upload may leave is in the incoming folder only, and the check removes it.
    runner = app.test_cli_runner()
    result = runner.invoke(args=["uploads", "check", "--fix", "--min-age", "0"])
    assert result.exit_code == 0 and "Attachments are consistent." in result.output, result.output
    assert list((Path(app.instance_path) / uploads.INCOMING).glob("*")) == []
    assert_consistent(app)
    if attachments:
        stored = Attachment.query.one().stored_name
        assert (Path(app.instance_path) / "attachments" / stored).read_bytes() == PDF

    # The portal carries on: the proposer attaches again where the worker died.
    if initiatives and state == "draft":
        client = sign_in(app.test_client())
        assert attach(client, initiatives[0].id, name="again.pdf").status_code == 302
        db.session.remove()
        assert Attachment.query.count() == attachments + 1
        assert_consistent(app)
