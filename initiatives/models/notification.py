"""In-app notifications: the bell shows what a user must act on."""

from ..extensions import db
from .user import utcnow


class Notification(db.Model):
    """A message for one user, with a link to where they act on it."""

    __tablename__ = "notification"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    message = db.Column(db.String(500), nullable=False)
    link = db.Column(db.String(300), nullable=False, default="")
    read_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
