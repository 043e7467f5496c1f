"""Files attached to initiatives, stored outside any public path."""

from ..extensions import db
from .user import utcnow


class Attachment(db.Model):
    """One uploaded file; the bytes live under a random name in the instance folder."""

    __tablename__ = "attachment"
    id = db.Column(db.Integer, primary_key=True)
    initiative_id = db.Column(
        db.Integer, db.ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
    )
    original_name = db.Column(db.String(255), nullable=False)
    stored_name = db.Column(db.String(64), nullable=False, unique=True)
    content_type = db.Column(db.String(120), nullable=False)
    size = db.Column(db.Integer, nullable=False)
    sha256 = db.Column(db.String(64), nullable=False)
    uploaded_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    initiative = db.relationship("Initiative", back_populates="attachments")
