"""Sessions under attack: fixation, replayed cookies, brute force across accounts, forged and
missing CSRF tokens on every kind of form. (The basic CSRF and login rate-limit cases are in
tests/test_security.py.)"""

import pytest

from initiatives.models import Role, User
from tests.conftest import PASSWORD, sign_in


def session_cookie(client):
    cookie = client.get_cookie("session", domain="portal.test")
    return cookie.value if cookie else None


def csrf_token(client):
    return client._csrf_token()


def session_contents(app, cookie):
    """What a session cookie holds, read with the app's own key."""
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def test_the_session_changes_at_sign_in(app, make_user):
    user = make_user()
    client = app.test_client()
    csrf_token(client)
    before = session_cookie(client)
    assert before, "an anonymous visitor with a form has a session"
    raw_token = session_contents(app, before)["csrf_token"]
    sign_in(client, user)
    after = session_cookie(client)
    assert after and after != before
    assert session_contents(app, after).get("csrf_token") != raw_token, \
        "the CSRF secret of the anonymous session survived sign-in"


def test_a_session_planted_before_sign_in_grants_nothing(app, make_user):
    """The attacker obtains a session cookie, plants it in the victim's browser and waits for the
    victim to sign in: the attacker's copy of the cookie is still anonymous."""
    victim = make_user(email="victim@example.org")
    attacker = app.test_client()
    attacker.get("/login")
    csrf_token(attacker)
    planted = session_cookie(attacker)

    browser = app.test_client()
    browser.set_cookie("session", planted, domain="portal.test")
    sign_in(browser, victim)
    assert browser.get("/account").status_code == 200

    assert session_cookie(attacker) == planted
    answer = attacker.get("/account")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    # and the planted CSRF token is no longer the victim's
    browser.auto_csrf = False
    refused = browser.post("/account/password", data={"current": PASSWORD, "password": "hijacked 123",
                                                      "confirm": "hijacked 123",
                                                      "csrf_token": csrf_token(attacker)})
    assert refused.status_code == 400
    assert User.query.filter_by(email="victim@example.org").one().check_password(PASSWORD)


def test_a_session_cookie_from_another_secret_is_ignored(app, make_user):
    """A cookie signed with another key (a forged one) is not a session."""
    user = make_user()
    signed_in = sign_in(app.test_client(), user)
    good = session_cookie(signed_in)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    stranger = app.test_client()
    stranger.set_cookie("session", forged, domain="portal.test")
    assert stranger.get("/account").status_code == 302


def test_signing_out_ends_the_session(app, make_user):
    user = make_user()
    client = sign_in(app.test_client(), user)
    assert client.post("/logout").status_code == 302
    assert client.get("/account").status_code == 302


@pytest.mark.parametrize("token", [None, "", "forged", "IjEyMyI.Zz9abc.forged-signature"],
                         ids=["missing", "empty", "forged", "forged-signed"])
def test_every_kind_of_form_refuses_a_missing_or_wrong_csrf_token(token, people, make_initiative, login, db):
    """A page form, an action button and the sign-in form itself: 400 and nothing changes."""
    initiative = make_initiative(people["proposer"])
    proposer = login(people["proposer"])
    proposer.auto_csrf = False
    extra = {} if token is None else {"csrf_token": token}
    posts = [
        (f"/initiatives/{initiative.id}/edit", {"title": "Hijacked"}),
        (f"/initiatives/{initiative.id}/withdraw", {}),
        ("/logout", {}),
        ("/account", {"name": "Hijacked", "locale": "en"}),
    ]
    for path, data in posts:
        response = proposer.post(path, data={**data, **extra})
        assert response.status_code == 400, path
        assert "Traceback" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert initiative.title != "Hijacked" and initiative.status.value == "draft"
    assert people["proposer"].name != "Hijacked"
    assert proposer.get("/account").status_code == 200, "the refused logout did not sign out"
    anonymous = proposer.application.test_client()
    anonymous.auto_csrf = False
    answer = anonymous.post("/login", data={"email": people["proposer"].email, "password": PASSWORD, **extra})
    assert answer.status_code == 400


class TestBruteForce:
    @pytest.fixture
    def settings(self):
        return {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "5 per minute"}

    def test_guessing_across_many_accounts_is_limited_too(self, client, make_user):
        """Credential stuffing: one address trying a password on many accounts gets 429, and the
        right password does not get through once the limit is reached."""
        victims = [make_user(Role.PROPOSER) for _ in range(3)]
        codes = [client.post("/login", data={"email": victims[i % 3].email, "password": f"guess {i}"}).status_code
                 for i in range(6)]
        assert codes == [401] * 5 + [429]
        assert client.post("/login", data={"email": victims[0].email, "password": PASSWORD}).status_code == 429
        assert client.get("/account").status_code == 302

    def test_the_reset_form_is_limited(self, client, make_user):
        user = make_user()
        codes = {client.post("/account/forgot", data={"email": user.email}).status_code for _ in range(6)}
        assert 429 in codes
