"""Personal API tokens: created on the account page, shown once, kept only as a SHA-256 hash."""

import hashlib
import secrets

from flask_babel import lazy_gettext as _l

from .. import audit
from ..extensions import db
from ..models.user import utcnow

TOKEN_PREFIX = "ipt_"  # lets people (and secret scanners) recognise a portal token  # nosec B105
MAX_TOKENS = 20


class TokenError(ValueError):
    """A token operation refused, with a message for the user."""


class ApiToken(db.Model):
    """One personal token; the token itself is never stored, only its hash."""

    __tablename__ = "api_token"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False)
    token_hash = db.Column(db.String(64), nullable=False, unique=True)
    hint = db.Column(db.String(12), nullable=False)  # the first characters, to tell tokens apart
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(db.DateTime)
    revoked_at = db.Column(db.DateTime)
    user = db.relationship("User")

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(token: str) -> str:
    """The stored form of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token, which is shown this once."""
    name = (name or "").strip()
    if not name:
        raise TokenError(_l("Give the token a name, such as the script that will use it."))
    if len(name) > 100:
        raise TokenError(_l("The name is too long (at most %(n)d characters).", n=100))
    active = ApiToken.query.filter_by(user_id=user.id, revoked_at=None).count()
    if active >= MAX_TOKENS:
        raise TokenError(_l("You have %(n)d active tokens: revoke one first.", n=active))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(token), hint=token[:10])
    db.session.add(row)
    db.session.flush()
    audit.record("api_token.created", row, actor=user, name=name)
    return row, token


def revoke_token(row: ApiToken, user) -> None:
    """Revoke ``row``; only its owner (or an admin) may."""
    if row.user_id != user.id and not user.is_admin:
        raise TokenError(_l("This token is not yours."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record("api_token.revoked", row, actor=user, name=row.name)


def user_for(token: str):
    """The active user holding the active ``token``, or None; notes when the token was used."""
    if not token or len(token) > 200:
        return None
    row = ApiToken.query.filter_by(token_hash=hash_token(token), revoked_at=None).first()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now  # at most once a minute, so reads rarely write
        db.session.commit()
    return row.user
