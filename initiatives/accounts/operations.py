"""Account operations: register, authenticate, passwords, roles. They never commit."""

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .. import audit
from ..extensions import db
from ..mail import mail_user
from ..models import Role, User
from ..models.user import utcnow

RESET_SALT = "password-reset"
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    """An account operation refused, with a message for the user."""


def normalise_email(email: str) -> str:
    """E-mail addresses compare without case or surrounding spaces."""
    return (email or "").strip().lower()


def find_user(email: str) -> User | None:
    """The user with ``email``, if any."""
    return User.query.filter_by(email=normalise_email(email)).first()


def register_user(email, name, password, roles, organisation="", locale="en", *, actor=None,
                  allow_admin=False) -> User:
    """Create an account holding ``roles``; admin only when ``allow_admin`` (admins and the CLI)."""
    email = normalise_email(email)
    if find_user(email):
        raise AccountError(_l("An account with this e-mail address already exists."))
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    roles = {Role(r) for r in roles}
    if Role.ADMIN in roles and not allow_admin:
        raise AccountError(_l("The admin role is granted only by an administrator."))
    if not roles:
        raise AccountError(_l("Choose at least one role."))
    user = User(email=email, name=name.strip(), organisation=(organisation or "").strip(), locale=locale)
    user.set_password(password)
    user.set_roles(roles)
    db.session.add(user)
    db.session.flush()
    audit.record("user.registered", user, actor=actor or user, after="active",
                 roles=sorted(r.value for r in roles))
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (the same answer for every failure)."""
    user = find_user(email)
    if user is None or not user.active or not user.check_password(password or ""):
        return None
    user.last_login_at = utcnow()
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Replace the password after checking the current one."""
    if not user.check_password(current or ""):
        raise AccountError(_l("The current password is not correct."))
    if len(new or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    user.set_password(new)
    audit.record("user.password_changed", user, actor=user)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def reset_token(user: User) -> str:
    """A signed token for ``user``; it names the current password hash, so it works only once."""
    return _serializer().dumps({"id": user.id, "pw": user.password_hash[-12:]})


def request_password_reset(email: str) -> None:
    """E-mail a reset link when the address has an active account; silent otherwise."""
    user = find_user(email)
    if user is None or not user.active:
        return
    link = url_for("accounts.reset_password", token=reset_token(user), _external=True)
    mail_user(user, _l("Reset your Initiative Portal password"), "mail/password_reset.txt", link=link)


def user_for_reset_token(token: str) -> User:
    """The user a valid, unexpired, unused token belongs to; raises AccountError otherwise."""
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as error:
        raise AccountError(_l("This link has expired. Ask for a new one.")) from error
    except BadSignature as error:
        raise AccountError(_l("This link is not valid.")) from error
    user = db.session.get(User, payload.get("id")) if isinstance(payload, dict) else None
    if user is None or not user.active or user.password_hash[-12:] != payload.get("pw"):
        raise AccountError(_l("This link is not valid."))
    return user


def reset_password(token: str, new: str) -> User:
    """Set a new password through a reset token."""
    user = user_for_reset_token(token)
    if len(new or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    user.set_password(new)
    audit.record("user.password_reset", user, actor=user)
    return user


def set_roles(user: User, roles, *, actor: User) -> None:
    """An admin replaces the roles of ``user``; an admin cannot drop their own admin role."""
    roles = {Role(r) for r in roles}
    if not roles:
        raise AccountError(_l("Choose at least one role."))
    if user.id == actor.id and Role.ADMIN not in roles:
        raise AccountError(_l("You cannot remove your own admin role."))
    before = ",".join(sorted(r.value for r in user.roles))
    user.set_roles(roles)
    audit.record("user.roles_changed", user, actor=actor, before=before,
                 after=",".join(sorted(r.value for r in roles)))


def set_active(user: User, active: bool, *, actor: User) -> None:
    """An admin deactivates or reactivates an account; nobody deactivates themselves."""
    if user.id == actor.id and not active:
        raise AccountError(_l("You cannot deactivate your own account."))
    before = "active" if user.active else "inactive"
    user.active = bool(active)
    audit.record("user.activation_changed", user, actor=actor, before=before,
                 after="active" if active else "inactive")
