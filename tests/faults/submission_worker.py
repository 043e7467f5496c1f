"""A portal worker for the kill tests: it signs in as the proposer, saves a draft, attaches a PDF
and submits, each through a real request to the app, and stops at the point it is told to
(printing PAUSED) so that the test can kill it there with SIGKILL.

    python -m tests.faults.submission_worker DATABASE_URL STEP:POINT|none

STEP is create, attach or submit; POINT is file_staged (attach only: the file is on disk, no row
yet), before_commit (rows flushed, transaction open), before_publish (attach only: committed, file
not yet moved into place) or after_commit."""

import os
import sys
import time

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from initiatives import create_app, uploads
from tests.conftest import IsolatedClient, _add_token_route
from tests.faults.story import attach, create_draft, sign_in, submit

PATHS = {"create": "/initiatives/new", "attach": "/attachments", "submit": "/submit"}


def pause(where: str) -> None:
    """Tell the test we are at ``where``, then wait to be killed."""
    print(f"PAUSED {where}", flush=True)
    time.sleep(600)
    sys.exit("not killed")


def in_step(step: str) -> bool:
    return has_request_context() and request.method == "POST" and request.path.endswith(PATHS[step])


def install_pause(step: str, point: str) -> None:
    if point == "before_commit":
        @event.listens_for(Session, "before_commit")
        def _before_commit(session):
            if in_step(step):
                session.flush()  # the rows are written, the transaction still open
                pause(f"{step}:{point}")
    elif point == "after_commit":
        @event.listens_for(Session, "after_commit")
        def _after_commit(session):
            if in_step(step):
                pause(f"{step}:{point}")
    elif point == "file_staged":
        write = uploads._write_file

        def _write_then_pause(path, content):
            write(path, content)
            pause(f"{step}:{point}")
        uploads._write_file = _write_then_pause
    elif point == "before_publish":
        def _pause_before_publish(instance_path, stored_name):
            pause(f"{step}:{point}")
        uploads._publish = _pause_before_publish
    else:
        raise SystemExit(f"unknown point {point}")


def main(database_url: str, where: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if where != "none":
        install_pause(*where.split(":"))
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": False, "EMBEDDING_MODEL": "fake", "MAIL_SERVER": None,
        "SERVER_NAME": "portal.test", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    # CSRF stays on: the client posts its session's token as a browser would.
    app.test_client_class = IsolatedClient
    _add_token_route(app)
    client = sign_in(app.test_client())
    initiative_id = create_draft(client)
    assert attach(client, initiative_id).status_code == 302
    assert submit(client, initiative_id).status_code == 302
    print(f"DONE {initiative_id}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
