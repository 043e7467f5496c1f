"""The audit trail: who changed what, when, from which state to which."""

from ..extensions import db
from .user import utcnow


class AuditEvent(db.Model):
    """One recorded change; written in the same transaction as the change itself."""

    __tablename__ = "audit_event"
    __table_args__ = (db.Index("ix_audit_event_object", "object_type", "object_id"),)
    id = db.Column(db.Integer, primary_key=True)
    actor_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    action = db.Column(db.String(80), nullable=False)
    object_type = db.Column(db.String(40), nullable=False)
    object_id = db.Column(db.Integer, nullable=False)
    before_state = db.Column(db.String(30))
    after_state = db.Column(db.String(30))
    detail = db.Column(db.JSON, nullable=False, default=dict)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    actor = db.relationship("User", lazy="joined")
