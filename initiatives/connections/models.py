"""Connections: a demand and an initiative brought together, from suggestion to adoption."""

from enum import StrEnum

from ..extensions import db
from ..models.state import StateMachine
from ..models.user import utcnow


class ConnectionState(StrEnum):
    """Where a connection stands (DESIGN section 2)."""

    SUGGESTED = "suggested"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    IN_DISCUSSION = "in_discussion"
    ADOPTED = "adopted"
    CLOSED = "closed"


C = ConnectionState
CONNECTION_MACHINE = StateMachine(
    "connection",
    {
        C.SUGGESTED: {C.REQUESTED, C.CLOSED},
        C.REQUESTED: {C.ACCEPTED, C.DECLINED, C.CLOSED},
        C.ACCEPTED: {C.IN_DISCUSSION, C.ADOPTED, C.CLOSED},
        C.IN_DISCUSSION: {C.ADOPTED, C.CLOSED},
    },
)

# What an adoption turned into.
OUTCOMES = ("pilot", "licence", "contract", "investment")

# The moves people make, the state each leads to, and who makes it: the demand's owner, the
# initiative's proposer, or either side. Closing a suggestion or a pending request is the owner's
# (they dismiss it or take it back); the proposer answers a request by accepting or declining.
MOVES = {
    "accept": (C.ACCEPTED, "proposer"),
    "decline": (C.DECLINED, "proposer"),
    "discuss": (C.IN_DISCUSSION, "either"),
    "adopt": (C.ADOPTED, "either"),
    "close": (C.CLOSED, "either"),
}
OWNER_ONLY_CLOSE = {C.SUGGESTED, C.REQUESTED}


class Connection(db.Model):
    """One demand and one initiative, and how far their adoption has come."""

    __tablename__ = "connection"
    __table_args__ = (db.UniqueConstraint("demand_id", "initiative_id"),)
    id = db.Column(db.Integer, primary_key=True)
    demand_id = db.Column(db.Integer, db.ForeignKey("demand.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    initiative_id = db.Column(db.Integer, db.ForeignKey("initiative.id", ondelete="CASCADE"),
                              nullable=False, index=True)
    state = db.Column(db.String(20), nullable=False, default=C.SUGGESTED.value, index=True)
    score = db.Column(db.Float)  # the matcher's similarity, when it suggested the pair
    message = db.Column(db.Text, nullable=False, default="")  # the demand owner's request
    reply = db.Column(db.Text, nullable=False, default="")  # the proposer's answer
    outcome = db.Column(db.String(20))  # one of OUTCOMES, once adopted
    note = db.Column(db.Text, nullable=False, default="")  # what the last step said
    requested_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    requested_at = db.Column(db.DateTime)
    agreed_at = db.Column(db.DateTime)
    declined_at = db.Column(db.DateTime)
    adopted_at = db.Column(db.DateTime)
    closed_at = db.Column(db.DateTime)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    demand = db.relationship("Demand", lazy="joined")
    initiative = db.relationship("Initiative", lazy="joined")

    @property
    def status(self) -> ConnectionState:
        return ConnectionState(self.state)

    @property
    def contacts_visible(self) -> bool:
        """Both sides agreed (the proposer accepted the owner's request): contacts are shown."""
        return self.agreed_at is not None

    def side_of(self, user) -> str | None:
        """"owner" (of the demand), "proposer" (of the initiative), or None."""
        if not (user and user.is_authenticated):
            return None
        if user.id == self.demand.owner_id:
            return "owner"
        if user.id == self.initiative.proposer_id:
            return "proposer"
        return None

    def can_view(self, user) -> bool:
        """The two sides and admins see a connection; the proposer only once it was requested."""
        if not (user and user.is_authenticated):
            return False
        if user.is_admin:
            return True
        side = self.side_of(user)
        if side == "proposer":
            return self.requested_at is not None
        return side == "owner"

    def moves_for(self, user) -> list[str]:
        """The moves ``user`` may make on this connection now."""
        side = self.side_of(user)
        if side is None:
            return []
        moves = []
        for name, (target, who) in MOVES.items():
            if not CONNECTION_MACHINE.allowed(self.status, target):
                continue
            if name == "close" and self.status in OWNER_ONLY_CLOSE:
                who = "owner"
            if who in (side, "either"):
                moves.append(name)
        if side == "owner" and CONNECTION_MACHINE.allowed(self.status, C.REQUESTED):
            moves.insert(0, "request")
        return moves

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.state}>"
