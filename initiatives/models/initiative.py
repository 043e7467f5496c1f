"""Initiatives, their states and the snapshot kept for each submission round."""

from enum import StrEnum

from ..extensions import db
from .state import StateMachine
from .user import Role, utcnow


class InitiativeState(StrEnum):
    """Where an initiative stands (DESIGN section 2)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCREENING = "screening"
    UNDER_REVIEW = "under_review"
    REVIEWED = "reviewed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REVISION_REQUESTED = "revision_requested"
    WITHDRAWN = "withdrawn"


S = InitiativeState
INITIATIVE_MACHINE = StateMachine(
    "initiative",
    {
        S.DRAFT: {S.SUBMITTED, S.WITHDRAWN},
        # round 1 goes on to screening; a resubmission goes straight back to its reviewers
        S.SUBMITTED: {S.SCREENING, S.UNDER_REVIEW, S.WITHDRAWN},
        S.SCREENING: {S.UNDER_REVIEW, S.REJECTED, S.WITHDRAWN},
        S.UNDER_REVIEW: {S.REVIEWED, S.WITHDRAWN},
        S.REVIEWED: {S.ACCEPTED, S.REJECTED, S.REVISION_REQUESTED, S.WITHDRAWN},
        S.REVISION_REQUESTED: {S.SUBMITTED, S.WITHDRAWN},
    },
)

EDITABLE_STATES = {S.DRAFT, S.REVISION_REQUESTED}
DECIDED_STATES = {S.ACCEPTED, S.REJECTED}
IP_STATUSES = ("none", "filed", "granted", "trade_secret", "open_licence")
LANGUAGES = ("vi", "en")


class Initiative(db.Model):
    """An innovation initiative, from draft to decision."""

    __tablename__ = "initiative"
    id = db.Column(db.Integer, primary_key=True)
    external_ref = db.Column(db.String(100), unique=True)
    proposer_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False, index=True)
    call_id = db.Column(db.Integer, db.ForeignKey("call.id"), index=True)
    title = db.Column(db.String(300), nullable=False)
    summary = db.Column(db.Text, nullable=False, default="")
    description = db.Column(db.Text, nullable=False, default="")
    field = db.Column(db.String(40), index=True)
    keywords = db.Column(db.JSON, nullable=False, default=list)
    trl = db.Column(db.Integer)
    ip_status = db.Column(db.String(20))
    province = db.Column(db.String(40), index=True)
    organisation = db.Column(db.String(300), nullable=False, default="")
    team_members = db.Column(db.JSON, nullable=False, default=list)
    budget_vnd = db.Column(db.BigInteger)
    expected_impact = db.Column(db.Text, nullable=False, default="")
    language = db.Column(db.String(2), nullable=False, default="vi")
    state = db.Column(db.String(20), nullable=False, default=S.DRAFT.value, index=True)
    round = db.Column(db.Integer, nullable=False, default=0)
    screened_at = db.Column(db.DateTime)
    screening_note = db.Column(db.Text)
    submitted_at = db.Column(db.DateTime)
    decided_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # The title, summary and keywords, folded (search.textfold), so that the database search answering while
    # the index is rebuilt matches one column; search.catalogue keeps it before each flush.
    search_text = db.Column(db.Text)

    proposer = db.relationship("User", lazy="joined")
    call = db.relationship("Call", lazy="joined")
    attachments = db.relationship(
        "Attachment", back_populates="initiative", cascade="all, delete-orphan",
        order_by="Attachment.id",
    )
    versions = db.relationship(
        "InitiativeVersion", back_populates="initiative", cascade="all, delete-orphan",
        order_by="InitiativeVersion.round",
    )

    # Other areas (review) add rules here: callables (initiative, user) -> bool.
    extra_view_rules: list = []

    @property
    def status(self) -> InitiativeState:
        return InitiativeState(self.state)

    @property
    def is_public(self) -> bool:
        return self.status == S.ACCEPTED

    def is_proposer(self, user) -> bool:
        """Whether ``user`` is this initiative's proposer."""
        return bool(user and user.is_authenticated and user.id == self.proposer_id)

    def can_view(self, user) -> bool:
        """Whether ``user`` may open this initiative's page and attachments."""
        if self.is_public:
            return True
        if not (user and user.is_authenticated):
            return False
        if user.has_role(Role.ADMIN) or self.is_proposer(user):
            return True
        return any(rule(self, user) for rule in self.extra_view_rules)

    def identity_visible_to(self, user) -> bool:
        """Whether ``user`` may learn who proposed this initiative: the proposer's name, e-mail,
        organisation and team members are contact details (DESIGN section 2), not catalogue text.
        The proposer and admins; its reviewers unless the call is double-blind; and a demand owner
        once both sides agreed on a connection between one of their demands and this initiative.
        Never the anonymous or signed-in public of the catalogue."""
        if not (user and user.is_authenticated):
            return False
        if user.has_role(Role.ADMIN) or self.is_proposer(user):
            return True
        double_blind = bool(self.call and self.call.double_blind)
        if not double_blind and any(rule(self, user) for rule in self.extra_view_rules):
            return True
        return self._agreed_with_owner(user)

    def _agreed_with_owner(self, user) -> bool:
        """Whether ``user`` owns a demand whose connection with this initiative both sides agreed."""
        try:
            from ..connections.models import Connection
        except ImportError:  # the portal without its connections package
            return False
        from .demand import Demand

        return db.session.query(
            db.session.query(Connection.id).join(Demand, Connection.demand_id == Demand.id)
            .filter(Connection.initiative_id == self.id, Demand.owner_id == user.id,
                    Connection.agreed_at.isnot(None)).exists()).scalar()

    def organisation_for(self, user) -> str:
        """The organisation as ``user`` may read it: empty unless the identity is visible to them."""
        return self.organisation if self.organisation and self.identity_visible_to(user) else ""

    def can_see_rounds(self, user) -> bool:
        """Whether ``user`` may open what was submitted in each round, files included: the
        proposer, admins and its reviewers; not the public of a published initiative."""
        if not (user and user.is_authenticated):
            return False
        if user.has_role(Role.ADMIN) or self.is_proposer(user):
            return True
        return any(rule(self, user) for rule in self.extra_view_rules)

    def can_edit(self, user) -> bool:
        """Whether ``user`` may change the initiative's fields and attachments now."""
        return self.is_proposer(user) and self.status in EDITABLE_STATES

    def can_withdraw(self, user) -> bool:
        """Whether ``user`` may withdraw the initiative now (before any decision)."""
        return self.is_proposer(user) and INITIATIVE_MACHINE.allowed(self.status, S.WITHDRAWN)

    def snapshot(self) -> dict:
        """What a reviewer reads, frozen as it was submitted in this round."""
        return {
            "title": self.title, "summary": self.summary, "description": self.description,
            "field": self.field, "keywords": list(self.keywords or []), "trl": self.trl,
            "ip_status": self.ip_status, "province": self.province,
            "organisation": self.organisation, "team_members": list(self.team_members or []),
            "budget_vnd": self.budget_vnd, "expected_impact": self.expected_impact,
            "language": self.language,
            "attachments": [a.original_name for a in self.attachments],
            # The files themselves: kept on disk while a round refers to them, even once removed.
            "files": [{"name": a.original_name, "stored_name": a.stored_name, "content_type": a.content_type,
                       "size": a.size, "sha256": a.sha256} for a in self.attachments],
        }

    def __repr__(self) -> str:
        return f"<Initiative {self.id} {self.state}>"


class InitiativeVersion(db.Model):
    """What was submitted in one round, kept unchanged."""

    __tablename__ = "initiative_version"
    __table_args__ = (db.UniqueConstraint("initiative_id", "round"),)
    id = db.Column(db.Integer, primary_key=True)
    initiative_id = db.Column(
        db.Integer, db.ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
    )
    round = db.Column(db.Integer, nullable=False)
    snapshot = db.Column(db.JSON, nullable=False)
    submitted_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    initiative = db.relationship("Initiative", back_populates="versions")
