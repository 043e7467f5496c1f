"""Calls: programmes or rounds that initiatives are submitted into."""

from datetime import date

from ..extensions import db
from .user import utcnow


class Call(db.Model):
    """A call for initiatives; the standing call is always open."""

    __tablename__ = "call"
    id = db.Column(db.Integer, primary_key=True)
    slug = db.Column(db.String(80), nullable=False, unique=True)
    title = db.Column(db.String(300), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    opens_on = db.Column(db.Date)
    closes_on = db.Column(db.Date)
    is_standing = db.Column(db.Boolean, nullable=False, default=False)
    reviewers_per_initiative = db.Column(db.Integer, nullable=False, default=3)
    default_max_load = db.Column(db.Integer, nullable=False, default=5)
    review_days = db.Column(db.Integer, nullable=False, default=21)
    blind_mode = db.Column(db.String(10), nullable=False, default="single")  # single | double
    reviewers_see_others = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    def is_open(self, today: date | None = None) -> bool:
        """Whether initiatives may be submitted into this call on ``today``."""
        if self.is_standing:
            return True
        today = today or date.today()
        if self.opens_on and today < self.opens_on:
            return False
        return not (self.closes_on and today > self.closes_on)

    @property
    def double_blind(self) -> bool:
        return self.blind_mode == "double"

    def __repr__(self) -> str:
        return f"<Call {self.slug}>"
