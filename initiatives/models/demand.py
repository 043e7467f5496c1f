"""Demands: real problems posted by enterprises, cooperatives and local authorities."""

from enum import StrEnum

from ..extensions import db
from .state import StateMachine
from .user import Role, utcnow


class DemandState(StrEnum):
    """Whether a demand is looking for solutions."""

    OPEN = "open"
    CLOSED = "closed"
    FULFILLED = "fulfilled"


DEMAND_MACHINE = StateMachine(
    "demand",
    {
        DemandState.OPEN: {DemandState.CLOSED, DemandState.FULFILLED},
        DemandState.CLOSED: {DemandState.OPEN, DemandState.FULFILLED},
    },
)


class Demand(db.Model):
    """A problem statement from a demand owner."""

    __tablename__ = "demand"
    id = db.Column(db.Integer, primary_key=True)
    external_ref = db.Column(db.String(100), unique=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False, index=True)
    organisation = db.Column(db.String(300), nullable=False, default="")
    title = db.Column(db.String(300), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    field = db.Column(db.String(40), index=True)
    province = db.Column(db.String(40), index=True)
    budget_min_vnd = db.Column(db.BigInteger)
    budget_max_vnd = db.Column(db.BigInteger)
    deadline = db.Column(db.Date)
    language = db.Column(db.String(2), nullable=False, default="vi")
    state = db.Column(db.String(20), nullable=False, default=DemandState.OPEN.value, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # The title and description, folded (search.textfold), so that the database search answering while
    # the index is rebuilt matches one column; search.catalogue keeps it before each flush.
    search_text = db.Column(db.Text)
    owner = db.relationship("User", lazy="joined")

    @property
    def status(self) -> DemandState:
        return DemandState(self.state)

    def is_owner(self, user) -> bool:
        """Whether ``user`` owns this demand."""
        return bool(user and user.is_authenticated and user.id == self.owner_id)

    def can_view(self, user) -> bool:
        """Open demands are visible to signed-in users; closed ones to their owner and admins."""
        if not (user and user.is_authenticated):
            return False
        if self.is_owner(user) or user.has_role(Role.ADMIN):
            return True
        return self.status == DemandState.OPEN

    def organisation_for(self, user) -> str:
        """The owner's organisation is one of the contact details (DESIGN section 2): the owner and
        admins see it, and a proposer once both sides agreed on a connection to this demand; for
        anyone else the demand speaks without it (as the API does)."""
        if not self.organisation or self.can_edit(user):
            return self.organisation
        if not (user and user.is_authenticated):
            return ""
        try:
            from ..connections.models import Connection
        except ImportError:  # the portal without its connections package
            return ""
        from .initiative import Initiative

        agreed = (db.session.query(Connection.id).join(Initiative, Connection.initiative_id == Initiative.id)
                  .filter(Connection.demand_id == self.id, Initiative.proposer_id == user.id,
                          Connection.agreed_at.isnot(None)).first())
        return self.organisation if agreed else ""

    def can_edit(self, user) -> bool:
        """Whether ``user`` may change or move this demand."""
        return self.is_owner(user) or bool(user and user.is_authenticated and user.has_role(Role.ADMIN))
