"""Registration, sign-in, roles, passwords and their reset by e-mail."""

import re

import pytest

from initiatives.accounts import operations
from initiatives.models import OutboxMessage, Role, User
from tests.conftest import PASSWORD, sign_in


def register(client, **overrides):
    data = {"name": "Hoàng Thu Hà", "email": "ha@example.org", "password": "mật khẩu dài",
            "confirm": "mật khẩu dài", "roles": ["proposer", "expert"], "locale": "vi"}
    data.update(overrides)
    return client.post("/register", data=data)


def test_register_picks_self_service_roles_and_signs_in(client, db):
    response = register(client)
    assert response.status_code == 302
    user = User.query.filter_by(email="ha@example.org").one()
    assert user.roles == {Role.PROPOSER, Role.EXPERT}
    assert user.password_hash != "mật khẩu dài" and user.check_password("mật khẩu dài")
    assert client.get("/account").status_code == 200


def test_register_cannot_take_the_admin_role(client, db):
    response = register(client, roles=["admin"])
    assert response.status_code == 400
    assert User.query.count() == 0


def test_register_keeps_what_was_typed_on_error(client, db):
    response = register(client, confirm="something else")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Hoàng Thu Hà" in page and "The passwords differ." in page


def test_register_refuses_a_taken_address(client, make_user):
    make_user(email="ha@example.org")
    response = register(client, email="HA@example.org")
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_login_logout_and_wrong_password(client, make_user):
    user = make_user(Role.PROPOSER)
    wrong = client.post("/login", data={"email": user.email, "password": "nope-nope"})
    assert wrong.status_code == 401
    assert client.get("/account").status_code == 302
    sign_in(client, user)
    assert client.get("/account").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/account").status_code == 302


def test_login_redirect_never_leaves_the_site(client, make_user):
    user = make_user()
    response = client.post("/login?next=https://evil.example/x",
                           data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_deactivated_account_cannot_sign_in(client, make_user, db):
    user = make_user()
    user.active = False
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401


def test_deactivation_ends_an_open_session(make_user, login, db):
    admin = make_user(Role.ADMIN)
    user = make_user()
    client = login(user)
    operations.set_active(user, False, actor=admin)
    db.session.commit()
    assert client.get("/account").status_code == 302


def test_change_password(make_user, login):
    user = make_user()
    client = login(user)
    bad = client.post("/account/password", data={"current": "wrong-one", "password": "new password 1",
                                                 "confirm": "new password 1"})
    assert bad.status_code == 400
    good = client.post("/account/password", data={"current": PASSWORD, "password": "new password 1",
                                                  "confirm": "new password 1"})
    assert good.status_code == 302
    client.post("/logout")
    sign_in(client, user, "new password 1")


def _reset_link(message: OutboxMessage) -> str:
    match = re.search(r"https?://\S+/account/reset/(\S+)", message.body)
    assert match, message.body
    return "/account/reset/" + match.group(1)


def test_password_reset_by_mailed_link(client, make_user, db):
    user = make_user(email="forgetful@example.org")
    response = client.post("/account/forgot", data={"email": "forgetful@example.org"})
    assert response.status_code == 302
    message = OutboxMessage.query.filter_by(recipient="forgetful@example.org").one()
    link = _reset_link(message)
    assert client.get(link).status_code == 200
    done = client.post(link, data={"password": "brand new secret", "confirm": "brand new secret"})
    assert done.status_code == 302
    sign_in(client, user, "brand new secret")
    client.post("/logout")
    # The link worked once: the new password hash invalidates it.
    reused = client.post(link, data={"password": "another secret 2", "confirm": "another secret 2"})
    assert reused.status_code == 302 and "/account/forgot" in reused.headers["Location"]
    assert db.session.get(User, user.id).check_password("brand new secret")


def test_password_reset_link_expires(client, make_user, app, monkeypatch):
    user = make_user()
    token = operations.reset_token(user)
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    with pytest.raises(operations.AccountError):
        operations.user_for_reset_token(token)
    response = client.get(f"/account/reset/{token}")
    assert response.status_code == 302


def test_forgot_password_does_not_reveal_unknown_addresses(client, db):
    response = client.post("/account/forgot", data={"email": "nobody@example.org"})
    assert response.status_code == 302
    assert OutboxMessage.query.count() == 0


def test_admin_changes_roles_and_deactivates(make_user, login, db):
    admin = make_user(Role.ADMIN)
    person = make_user(Role.PROPOSER)
    client = login(admin)
    response = client.post(f"/admin/users/{person.id}", data={"roles": ["expert", "admin"]})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, person.id).roles == {Role.EXPERT, Role.ADMIN}
    response = client.post(f"/admin/users/{person.id}/activation")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, person.id).active is False


def test_admin_reactivates_and_cannot_lock_themselves_out(make_user, login, db):
    admin = make_user(Role.ADMIN, email="root@example.org")
    person = make_user(Role.PROPOSER, email="back@example.org")
    client = login(admin)
    client.post(f"/admin/users/{person.id}/activation")
    client.post(f"/admin/users/{person.id}/activation")
    db.session.expire_all()
    assert db.session.get(User, person.id).active is True
    assert login(db.session.get(User, person.id)).get("/account").status_code == 200

    page = client.post(f"/admin/users/{admin.id}", data={"roles": ["proposer"]}, follow_redirects=True)
    assert "You cannot remove your own admin role." in page.get_data(as_text=True)
    page = client.post(f"/admin/users/{admin.id}", data={}, follow_redirects=True)
    assert "Choose at least one role." in page.get_data(as_text=True)
    page = client.post(f"/admin/users/{admin.id}/activation", follow_redirects=True)
    assert "You cannot deactivate your own account." in page.get_data(as_text=True)
    db.session.expire_all()
    me = db.session.get(User, admin.id)
    assert me.active is True and me.roles == {Role.ADMIN}


def test_admin_user_list_filters(make_user, login):
    admin = make_user(Role.ADMIN, name="Root")
    make_user(Role.EXPERT, name="Quyên Expert", email="quyen@example.org")
    make_user(Role.PROPOSER, name="Sơn Proposer", email="son@example.org")
    client = login(admin)
    page = client.get("/admin/users?role=expert").get_data(as_text=True)
    assert "quyen@example.org" in page and "son@example.org" not in page
    page = client.get("/admin/users?q=son").get_data(as_text=True)
    assert "son@example.org" in page and "quyen@example.org" not in page


def test_cli_creates_an_admin_from_stdin(runner, db):
    result = runner.invoke(args=["users", "create", "--email", "Boss@Example.org", "--role", "admin",
                                 "--password-stdin"], input="a long secret\n")
    assert result.exit_code == 0, result.output
    user = User.query.filter_by(email="boss@example.org").one()
    assert user.is_admin and user.check_password("a long secret")
    again = runner.invoke(args=["users", "create", "--email", "boss@example.org", "--role", "admin",
                                "--password-stdin"], input="a long secret\n")
    assert again.exit_code != 0 and "already exists" in again.output


def test_cli_refuses_a_short_password(runner, db):
    result = runner.invoke(args=["users", "create", "--email", "x@example.org", "--role", "proposer",
                                 "--password-stdin"], input="short\n")
    assert result.exit_code != 0
    assert User.query.count() == 0


def test_language_switch_is_remembered(make_user, login, db):
    user = make_user(locale="en")
    client = login(user)
    client.get("/lang/vi")
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "vi"
    page = client.get("/account").get_data(as_text=True)
    assert 'lang="vi"' in page
