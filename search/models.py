"""Stored sentence vectors: one per object and model, with the hash of the text it encodes."""

from initiatives.extensions import db
from initiatives.models.user import utcnow


class Embedding(db.Model):
    """The normalised float32 vector of one object's text under one model.

    ``kind`` is initiative, demand, expert (profile: keywords and bio) or publication. A vector is
    current when its ``text_hash`` matches the hash of the object's text now; otherwise the
    object is re-encoded. Objects without a current vector are shown as "not yet matched".
    """

    __tablename__ = "embedding"
    __table_args__ = (db.UniqueConstraint("kind", "object_id", "model"),)

    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(db.String(20), nullable=False)
    object_id = db.Column(db.Integer, nullable=False)
    model = db.Column(db.String(200), nullable=False)
    text_hash = db.Column(db.String(64), nullable=False)
    dimension = db.Column(db.Integer, nullable=False)
    vector = db.Column(db.LargeBinary, nullable=False)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
