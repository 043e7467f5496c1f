"""CSRF, rate limits, headers and error pages that never show a stack trace."""

import pytest

from initiatives.models import Role, User
from tests.conftest import PASSWORD


def test_security_headers_allow_only_own_scripts_and_styles(client, db):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_carry_no_inline_scripts_or_styles(make_user, login, db):
    client = login(make_user(Role.PROPOSER))
    for path in ("/", "/initiatives/new", "/account", "/login"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>" not in page and " style=" not in page, path


class TestCsrf:
    def test_a_form_without_its_token_is_refused(self, client, db):
        client.auto_csrf = False
        response = client.post("/register", data={"name": "X", "email": "x@example.org",
                                                  "password": "12345678", "confirm": "12345678",
                                                  "roles": ["proposer"]})
        assert response.status_code == 400
        assert "Traceback" not in response.get_data(as_text=True)
        assert User.query.count() == 0

    def test_a_forged_token_is_refused(self, make_user, login, db):
        user = make_user()
        client = login(user)
        response = client.post("/account/password", data={
            "current": PASSWORD, "password": "new password 1", "confirm": "new password 1",
            "csrf_token": "forged"})
        assert response.status_code == 400
        assert db.session.get(User, user.id).check_password(PASSWORD)

    def test_the_login_form_works_with_its_token(self, client, make_user):
        import re

        client.auto_csrf = False
        user = make_user()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
            re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, "the login form carries a CSRF token"
        response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                               "csrf_token": token.group(1)})
        assert response.status_code == 302


class TestRateLimit:
    @pytest.fixture
    def settings(self):
        return {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}

    def test_login_attempts_are_limited(self, client, make_user):
        user = make_user()
        codes = [client.post("/login", data={"email": user.email, "password": "wrong password"}).status_code
                 for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        page = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert page.status_code == 429
        assert "Too many attempts" in page.get_data(as_text=True)


def test_cookies_are_http_only_and_secure_in_production(app, make_user):
    app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    client = app.test_client()
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name] and "Secure" in cookies[name], cookies[name]
    assert "SameSite=Lax" in cookies["session"]


@pytest.mark.parametrize("path, status", [("/no/such/page", 404), ("/admin/users", 403)])
def test_error_pages(make_user, login, path, status):
    client = login(make_user(Role.PROPOSER))
    response = client.get(path)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert "Traceback" not in page and "<html" in page


def test_a_wrong_method_is_a_405_page_that_says_what_is_allowed(client, db):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    page = response.get_data(as_text=True)
    assert "Traceback" not in page and "<html" in page


def test_unexpected_errors_show_a_plain_500(app, client, db):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "secret internals" not in page and "Traceback" not in page
    assert "Something went wrong" in page


def test_an_oversized_request_gets_413(app, make_user, login, make_initiative):
    user = make_user(Role.PROPOSER)
    initiative = make_initiative(user)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    client = login(user)
    import io

    response = client.post(f"/initiatives/{initiative.id}/attachments",
                           data={"file": (io.BytesIO(b"%PDF-1.4" + b"0" * 4096), "big.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
