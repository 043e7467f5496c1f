"""E-mail messages: every message is kept here, and sent when an SMTP server is configured."""

from ..extensions import db
from .user import utcnow


class OutboxMessage(db.Model):
    """One e-mail, queued or sent."""

    __tablename__ = "outbox_message"
    id = db.Column(db.Integer, primary_key=True)
    recipient = db.Column(db.String(254), nullable=False, index=True)
    subject = db.Column(db.String(300), nullable=False)
    body = db.Column(db.Text, nullable=False)
    status = db.Column(db.String(10), nullable=False, default="queued")  # queued | sent | failed
    error = db.Column(db.Text)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    sent_at = db.Column(db.DateTime)
