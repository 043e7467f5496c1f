"""Review models: assignments of experts, rubrics and their criteria, reviews and their scores,
decisions (DESIGN section 2); states as enums with their transitions written down once."""

from datetime import date
from enum import StrEnum

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from initiatives.extensions import db
from initiatives.models.state import StateMachine
from initiatives.models.user import utcnow


class AssignmentState(StrEnum):
    PROPOSED = "proposed"
    INVITED = "invited"
    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    DECLINED = "declined"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


A = AssignmentState
ASSIGNMENT_MACHINE = StateMachine(
    "assignment",
    {
        A.PROPOSED: {A.INVITED, A.CANCELLED},
        A.INVITED: {A.ACCEPTED, A.DECLINED, A.OVERDUE, A.CANCELLED},
        A.ACCEPTED: {A.SUBMITTED, A.OVERDUE, A.CANCELLED},
        A.OVERDUE: {A.SUBMITTED, A.DECLINED, A.CANCELLED},
        A.SUBMITTED: {A.ACCEPTED},  # an admin reopens a submitted review
    },
)
# Assignments that count against an expert's load.
ACTIVE_STATES = (A.INVITED.value, A.ACCEPTED.value, A.OVERDUE.value)
# Assignments whose reviewer still counts for the round (waiting, working or done).
COUNTED_STATES = (*ACTIVE_STATES, A.SUBMITTED.value)
# An assignment whose reviewer may write the review now.
REVIEWABLE_STATES = (A.ACCEPTED.value, A.OVERDUE.value)

ASSIGNMENT_LABELS = {
    "proposed": _l("Proposed"), "invited": _l("Invited"), "accepted": _l("Accepted"),
    "submitted": _l("Review submitted"), "declined": _l("Declined"), "overdue": _l("Overdue"),
    "cancelled": _l("Cancelled"),
}
ASSIGNMENT_STYLES = {
    "proposed": "secondary", "invited": "info", "accepted": "primary", "submitted": "success",
    "declined": "secondary", "overdue": "danger", "cancelled": "secondary",
}


class Assignment(db.Model):
    """One expert asked to review one initiative in one round."""

    __tablename__ = "assignment"
    id = db.Column(db.Integer, primary_key=True)
    initiative_id = db.Column(db.Integer, db.ForeignKey("initiative.id", ondelete="CASCADE"),
                              nullable=False, index=True)
    expert_id = db.Column(db.Integer, db.ForeignKey("expert_profile.id", ondelete="CASCADE"),
                          nullable=False, index=True)
    call_id = db.Column(db.Integer, db.ForeignKey("call.id"), index=True)
    round = db.Column(db.Integer, nullable=False, default=1)
    affinity = db.Column(db.Float)
    method = db.Column(db.String(10), nullable=False, default="auto")  # auto | manual | rerun
    state = db.Column(db.String(20), nullable=False, default=A.PROPOSED.value, index=True)
    due_on = db.Column(db.Date)
    decline_reason = db.Column(db.String(500))
    declined_for_conflict = db.Column(db.Boolean, nullable=False, default=False, server_default=db.false())
    cancel_reason = db.Column(db.String(500))
    invited_at = db.Column(db.DateTime)
    accepted_at = db.Column(db.DateTime)
    reminded_on = db.Column(db.Date)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    initiative = db.relationship("Initiative")
    expert = db.relationship("ExpertProfile")
    call = db.relationship("Call")
    review = db.relationship("Review", back_populates="assignment", uselist=False)

    @property
    def status(self) -> AssignmentState:
        return AssignmentState(self.state)

    @property
    def label(self) -> str:
        return str(ASSIGNMENT_LABELS.get(self.state, self.state))

    @property
    def style(self) -> str:
        return ASSIGNMENT_STYLES.get(self.state, "secondary")

    def is_reviewer(self, user) -> bool:
        """Whether ``user`` is the expert asked in this assignment."""
        return bool(user and user.is_authenticated and self.expert is not None
                    and self.expert.user_id is not None and self.expert.user_id == user.id)

    def can_view(self, user) -> bool:
        """The expert sees their own assignments (not the proposed ones); admins see all."""
        if not (user and user.is_authenticated):
            return False
        if user.is_admin:
            return True
        return self.is_reviewer(user) and self.status != A.PROPOSED

    def can_respond(self, user) -> bool:
        """Whether ``user`` may accept or decline the invitation now."""
        return self.is_reviewer(user) and self.status == A.INVITED

    def can_decline(self, user) -> bool:
        return self.is_reviewer(user) and ASSIGNMENT_MACHINE.allowed(self.status, A.DECLINED)

    def can_review(self, user) -> bool:
        """Whether ``user`` may write (save or submit) the review now."""
        return self.is_reviewer(user) and self.state in REVIEWABLE_STATES

    @property
    def is_late(self) -> bool:
        """Past the due date without a submitted review (before ``review remind`` flags it)."""
        return self.state in ACTIVE_STATES and self.due_on is not None and self.due_on < date.today()


class Rubric(db.Model):
    """The criteria reviewers score; a call's rubric is its newest version, else the default one."""

    __tablename__ = "rubric"
    __table_args__ = (db.UniqueConstraint("call_id", "version"),)
    id = db.Column(db.Integer, primary_key=True)
    call_id = db.Column(db.Integer, db.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    version = db.Column(db.Integer, nullable=False, default=1)
    title = db.Column(db.String(200), nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    call = db.relationship("Call")
    criteria = db.relationship("Criterion", back_populates="rubric", cascade="all, delete-orphan",
                               order_by="Criterion.position, Criterion.id")

    @property
    def is_default(self) -> bool:
        return self.call_id is None


class Criterion(db.Model):
    """One scored criterion: name and guidance in both languages, weight and scale."""

    __tablename__ = "criterion"
    id = db.Column(db.Integer, primary_key=True)
    rubric_id = db.Column(db.Integer, db.ForeignKey("rubric.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    # Stable across copies of a rubric, so results compare criteria of different versions.
    key = db.Column(db.String(60), nullable=False)
    position = db.Column(db.Integer, nullable=False, default=0)
    name_en = db.Column(db.String(200), nullable=False)
    name_vi = db.Column(db.String(200), nullable=False, default="")
    guidance_en = db.Column(db.Text, nullable=False, default="")
    guidance_vi = db.Column(db.Text, nullable=False, default="")
    weight = db.Column(db.Float, nullable=False, default=1.0)
    scale_min = db.Column(db.Integer, nullable=False, default=1)
    scale_max = db.Column(db.Integer, nullable=False, default=5)

    rubric = db.relationship("Rubric", back_populates="criteria")

    @property
    def name(self) -> str:
        """The name in the interface language (English when no Vietnamese one is given)."""
        return self.name_vi if _vietnamese() and self.name_vi else self.name_en

    @property
    def guidance(self) -> str:
        return self.guidance_vi if _vietnamese() and self.guidance_vi else self.guidance_en


def _vietnamese() -> bool:
    try:
        return str(get_locale()) == "vi"
    except (RuntimeError, AttributeError):  # no app or request: English
        return False


class Recommendation(StrEnum):
    ACCEPT = "accept"
    REVISE = "revise"
    REJECT = "reject"


RECOMMENDATION_LABELS = {"accept": _l("Accept"), "revise": _l("Revise"), "reject": _l("Reject")}
# The steps between recommendations, for the disagreement flag.
RECOMMENDATION_STEP = {"accept": 0, "revise": 1, "reject": 2}


class Review(db.Model):
    """One reviewer's review of one assignment: editable until submitted, then only reopened."""

    __tablename__ = "review"
    id = db.Column(db.Integer, primary_key=True)
    # One review per assignment: a second insert (two tabs, two threads) fails here.
    assignment_id = db.Column(db.Integer, db.ForeignKey("assignment.id", ondelete="CASCADE"),
                              nullable=False, unique=True)
    rubric_id = db.Column(db.Integer, db.ForeignKey("rubric.id"), nullable=False, index=True)
    confidence = db.Column(db.Integer)
    recommendation = db.Column(db.String(10))
    comments_to_proposer = db.Column(db.Text, nullable=False, default="")
    confidential_comments = db.Column(db.Text, nullable=False, default="")
    submitted_at = db.Column(db.DateTime)
    reopened_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    assignment = db.relationship("Assignment", back_populates="review")
    rubric = db.relationship("Rubric")
    score_rows = db.relationship("ReviewScore", back_populates="review", cascade="all, delete-orphan")

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None

    def score_of(self, criterion) -> int | None:
        """The value given to ``criterion`` (matched by id, else by key), or None."""
        for score in self.score_rows:
            if score.criterion_id == criterion.id:
                return score.value
        for score in self.score_rows:
            if score.criterion is not None and score.criterion.key == criterion.key:
                return score.value
        return None

    def scores_by_key(self) -> dict[str, int]:
        """{criterion key: value} of the scores given."""
        return {s.criterion.key: s.value for s in self.score_rows if s.criterion is not None and s.value is not None}

    @property
    def scores(self) -> dict[str, int]:
        """The scores by criterion key (what the dashboard and exports read)."""
        return self.scores_by_key()

    @property
    def recommendation_label(self) -> str:
        return str(RECOMMENDATION_LABELS.get(self.recommendation or "", "")) if self.recommendation else ""


class ReviewScore(db.Model):
    """The value a review gives one criterion."""

    __tablename__ = "review_score"
    __table_args__ = (db.UniqueConstraint("review_id", "criterion_id"),)
    id = db.Column(db.Integer, primary_key=True)
    review_id = db.Column(db.Integer, db.ForeignKey("review.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    criterion_id = db.Column(db.Integer, db.ForeignKey("criterion.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    value = db.Column(db.Integer, nullable=False)

    review = db.relationship("Review", back_populates="score_rows")
    criterion = db.relationship("Criterion")


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REVISION_REQUESTED = "revision_requested"


class Decision(db.Model):
    """The committee's decision on one round of an initiative, with its rationale."""

    __tablename__ = "decision"
    __table_args__ = (db.UniqueConstraint("initiative_id", "round"),)
    id = db.Column(db.Integer, primary_key=True)
    initiative_id = db.Column(db.Integer, db.ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False,
                              index=True)
    round = db.Column(db.Integer, nullable=False)
    outcome = db.Column(db.String(20), nullable=False)
    rationale = db.Column(db.Text, nullable=False, default="")
    decided_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    initiative = db.relationship("Initiative")
    decided_by = db.relationship("User")
