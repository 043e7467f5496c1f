"""Accounts and the roles they hold."""

from datetime import UTC, datetime
from enum import StrEnum

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db


def utcnow() -> datetime:
    """The current time in UTC, timezone-naive as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


class Role(StrEnum):
    """What a person may do in the portal (DESIGN section 1)."""

    PROPOSER = "proposer"
    EXPERT = "expert"
    DEMAND_OWNER = "demand_owner"
    ADMIN = "admin"


SELF_SERVICE_ROLES = (Role.PROPOSER, Role.EXPERT, Role.DEMAND_OWNER)


class UserRole(db.Model):
    """One role held by one user."""

    __tablename__ = "user_role"
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    role = db.Column(db.String(20), primary_key=True)


class User(UserMixin, db.Model):
    """A person with an account: proposer, expert, demand owner and/or admin."""

    __tablename__ = "user"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(254), nullable=False, unique=True, index=True)
    name = db.Column(db.String(200), nullable=False)
    organisation = db.Column(db.String(300), nullable=False, default="")
    password_hash = db.Column(db.String(300), nullable=False)
    locale = db.Column(db.String(5), nullable=False, default="en")
    active = db.Column(db.Boolean, nullable=False, default=True)
    email_notifications = db.Column(db.Boolean, nullable=False, default=True)
    # Kinds of notification (see initiatives.mail.EMAIL_KINDS) this user does not want by e-mail.
    email_opt_out = db.Column(db.JSON, nullable=False, default=list)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_login_at = db.Column(db.DateTime)
    role_rows = db.relationship(
        "UserRole", cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses deactivated accounts through this
        return bool(self.active)

    @property
    def roles(self) -> set[Role]:
        """The roles this user holds."""
        return {Role(row.role) for row in self.role_rows}

    def set_roles(self, roles) -> None:
        """Replace the user's roles with ``roles``."""
        wanted = {Role(r) for r in roles}
        self.role_rows = [row for row in self.role_rows if Role(row.role) in wanted]
        held = {Role(row.role) for row in self.role_rows}
        for role in sorted(wanted - held):
            self.role_rows.append(UserRole(role=role.value))

    def has_role(self, role: Role | str) -> bool:
        """Whether the user holds ``role``."""
        return Role(role) in self.roles

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)

    def wants_email(self, kind: str | None) -> bool:
        """Whether a notification of ``kind`` goes to this user by e-mail too (None: always)."""
        if kind is None:
            return True
        return bool(self.email_notifications) and kind not in (self.email_opt_out or [])

    def set_password(self, password: str) -> None:
        """Store a salted hash of ``password``; the password itself is never kept."""
        from flask import current_app

        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if current_app else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        """Whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email}>"
