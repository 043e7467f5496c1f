"""The browser tests' stage: the test app served live by werkzeug in a thread, Debian's Chromium
driven by Playwright, one browser context per person, and screenshots for people to look at."""

import os
import re
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.conftest import PASSWORD  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 20_000  # generous: a slow CI machine must not turn into a flaky test

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # a failure below says how to get it, rather than a silent skip
    expect = sync_playwright = None


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, launched headless once per run; a missing browser fails, never skips."""
    if sync_playwright is None:
        pytest.fail("Playwright is missing: install the dev extra (make install, or "
                    "pip install -e '.[dev]').", pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"The browser tests need Debian's Chromium at {CHROMIUM}: run `make browser` "
                    "(apt-get install chromium).", pytrace=False)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class _LateApp:
    """A WSGI app that forwards to the test app once it exists (the server is bound first, so
    that the app can be configured with the server's real address)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture
def _server():
    server = make_server("127.0.0.1", 0, _LateApp(), threaded=True)
    yield server
    server.server_close()


@pytest.fixture
def settings(_server):
    """Matching runs in the request (no background encoder), and links point at the live server."""
    return {"EMBED_SYNC": True, "SERVER_NAME": f"127.0.0.1:{_server.port}"}


@pytest.fixture
def live_server(app, _server):
    """The test app (its SQLite file or PostgreSQL database) served on 127.0.0.1; its base URL."""
    _server.app.app = app
    thread = threading.Thread(target=_server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{_server.port}"
    _server.shutdown()
    thread.join(timeout=10)


class Stage:
    """Browser windows for the people of a test. Each has its own cookies; every dialog any page
    opens is recorded (none should: a dialog means a script payload ran)."""

    def __init__(self, browser, base_url, test_name):
        self.browser = browser
        self.base_url = base_url
        self.test_name = re.sub(r"\W+", "_", test_name).removeprefix("test_")
        self.contexts = []
        self.dialogs = []

    def window(self, locale="en-US"):
        """A fresh browser window (a new context: no cookies), in English unless told."""
        context = self.browser.new_context(base_url=self.base_url, locale=locale,
                                           viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("dialog", self._record_dialog)
        return page

    def _record_dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def signed_in(self, email, password=PASSWORD):
        """A window in which ``email`` has signed in through the sign-in page."""
        page = self.window()
        sign_in(page, email, password)
        return page

    def shot(self, page, name):
        """Save a full-page screenshot under tests/e2e/artifacts/ for a person to look at."""
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{self.test_name}-{name}.png"), full_page=True)

    def close(self):
        for context in self.contexts:
            context.close()


def sign_in(page, email, password=PASSWORD):
    """Sign in through the page, as a person would, and wait for the portal to greet them."""
    page.goto("/login")
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("nav form[action='/logout'] button")).to_be_visible()  # in any language


@pytest.fixture
def stage(chromium, live_server, request):
    """The people's browser windows on the live server; closed before the server stops."""
    stage = Stage(chromium, live_server, request.node.name)
    yield stage
    stage.close()


def flash(page, text):
    """The message the portal flashes after an action."""
    expect(page.get_by_role("alert").filter(has_text=text)).to_be_visible()


def badge(page, text):
    """A state badge reading exactly ``text``."""
    expect(page.locator(".badge", has_text=re.compile(f"^{re.escape(text)}$")).first).to_be_visible()


def tiny_pdf() -> bytes:
    """A small valid one-page PDF (with a correct cross-reference table)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        None,  # the content stream, below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    stream = b"BT /F1 12 Tf 20 50 Td (Field pilot plan) Tj ET"
    objects[3] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
