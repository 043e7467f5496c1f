"""Work a commit leaves running in this process (encoding, index writes), and the rule that a
command waits for it before it exits.

An area that starts such work registers, in its ``init_app``, a named function that blocks until
the work queued so far is done. When a ``flask`` command (or a test's ``runner.invoke``) ends,
its click context closes in the main thread, before the interpreter begins to shut down: the
waiters run there, in the order they were registered. Waiting later (an ``atexit`` handler,
joining the threads at exit) is too late: a thread that first loads the model during shutdown
cannot, and a daemon thread killed inside the model's native code aborts the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import click
from flask import Flask, appcontext_pushed

_WAITERS = "portal_background_waiters"


def register_waiter(app: Flask, name: str, wait: Callable[[], None]) -> None:
    """Declare background work of ``app``: ``wait()`` blocks until what is queued is done."""
    app.extensions.setdefault(_WAITERS, {})[name] = wait


def wait_for_background_work(app: Flask) -> None:
    """Block until every registered kind of background work of ``app`` has finished its queue."""
    for wait in list(app.extensions.get(_WAITERS, {}).values()):
        wait()


def init_app(app: Flask) -> None:
    """Make every command wait for the background work its commits queued."""

    def wait_when_the_command_ends(sender, **_):
        command = click.get_current_context(silent=True)
        if sender is not app or command is None or threading.current_thread() is not threading.main_thread():
            return
        root = command.find_root()
        key = f"portal_waits_for_background:{id(app)}"
        if not root.meta.get(key):
            root.meta[key] = True
            root.call_on_close(lambda: wait_for_background_work(app))

    # Kept on the app: blinker holds receivers weakly.
    app.extensions["portal_background_receiver"] = wait_when_the_command_ends
    appcontext_pushed.connect(wait_when_the_command_ends, app)
