"""The review's cast: a panel of experts who know rice irrigation, a call, a screened initiative
whose matcher proposal is confirmed, and helpers that act through the same services as the pages."""

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from initiatives.experts import operations as experts  # noqa: E402
from initiatives.extensions import db as _db  # noqa: E402
from initiatives.models import Role  # noqa: E402

# Names and organisations that must never leak where blind rules hide them.
PROPOSER_NAME = "Nguyễn Văn An"
PROPOSER_ORGANISATION = "Đại học Cần Thơ"
TEAM_MEMBER = "Trần Thị Bình"

PANEL = (
    ("Đỗ Thanh Hải", "Viện Lúa Đồng bằng", "Rice irrigation soil moisture sensors for rice farmers.",
     "rice, irrigation, soil moisture", ("Soil moisture sensors for rice irrigation", "Sensors tell rice farmers when to irrigate.")),
    ("Vũ Ngọc Mai", "Viện Thủy lợi Miền Nam", "Irrigation scheduling and water saving for rice paddies.",
     "irrigation, rice, water", ("Water saving irrigation of rice", "Alternate wetting and drying of rice fields.")),
    ("Phan Quốc Bảo", "Trường Nông Lâm", "IoT sensors networks and SMS services for farmers in the Mekong delta.",
     "IoT, sensors, Mekong", ("Solar sensor networks in the Mekong delta", "Low-cost IoT sensors for farmers.")),
    ("Lý Thu Hà", "Viện Môi trường Nông nghiệp", "Soil and water for rice agriculture, drought and salinity.",
     "soil, rice, drought", ("Drought and salinity in rice", "Soil moisture under drought.")),
    ("Tạ Minh Khôi", "Công ty Cảm biến Việt", "Low-cost sensors, solar power and SMS alerts for irrigation.",
     "sensors, solar, irrigation", ("Solar powered irrigation sensors", "SMS alerts tell farmers to irrigate.")),
)
SCORES = {"novelty": 4, "feasibility": 4, "impact": 5, "commercial_potential": 3, "team_capacity": 4}


def make_expert(make_user, name, organisation, bio, keywords, publications=(), max_load=5):
    """An expert account with a profile and publications, made through the profile operations."""
    user = make_user(Role.EXPERT, name=name, organisation=organisation)
    profile = experts.profile_for(user)
    experts.update_profile(profile, user, name=name, organisation=organisation, bio=bio,
                           keywords=keywords, max_load=max_load, available=True)
    for title, abstract in publications:
        experts.add_publication(profile, user, title, abstract)
    _db.session.commit()
    return profile


@pytest.fixture
def settings():
    return {"EMBED_SYNC": True}


@pytest.fixture
def panel(make_user):
    """Five experts in the order the matcher ranks them for the rice sensor initiative."""
    return [make_expert(make_user, name, org, bio, keywords, [publication])
            for name, org, bio, keywords, publication in PANEL]


@dataclass
class World:
    call: object
    initiative: object
    panel: list
    people: dict
    assignments: list = field(default_factory=list)

    def experts_of(self):
        return [a.expert for a in self.assignments]


@pytest.fixture
def make_world(people, panel, make_initiative, db):
    """``make_world(blind="double", reviewers=3, see_others=False)``: a call, a screened
    initiative of the proposer, and its confirmed (invited) reviewers."""
    from review import assign, operations
    from review.models import Assignment

    def make(blind="single", reviewers=3, see_others=False, confirm=True, **initiative_values):
        admin = people["admin"]
        call = operations.create_call(admin, title=f"Review call {blind}", reviewers_per_initiative=reviewers,
                                      default_max_load=5, review_days=14, blind_mode=blind,
                                      reviewers_see_others=see_others)
        db.session.commit()
        initiative = make_initiative(people["proposer"], submitted=True, call_id=call.id, **initiative_values)
        operations.pass_screening(initiative, admin)
        db.session.commit()
        world = World(call, initiative, panel, people)
        if confirm:
            proposal = assign.propose(call, actor=admin)
            assert proposal.created == reviewers, proposal.uncovered
            assign.confirm(call, admin)
            db.session.commit()
            world.assignments = (Assignment.query.filter_by(initiative_id=initiative.id)
                                 .order_by(Assignment.id).all())
        return world

    return make


@pytest.fixture
def world(make_world):
    return make_world()


def fresh(row):
    """``row`` as the database holds it now (another request may have changed it)."""
    _db.session.refresh(row)
    return row


def accept(assignment):
    from review import operations

    operations.accept_assignment(assignment, assignment.expert.user)
    _db.session.commit()


def submit_review(assignment, scores=None, confidence=4, recommendation="accept", to_proposer="Good work.",
                  confidential="Solid team.", submit=True):
    """Accept when needed, then submit (or save) a review through the service."""
    from review import reviewing
    from review.models import AssignmentState

    if assignment.status == AssignmentState.INVITED:
        accept(assignment)
    scores = dict(SCORES if scores is None else scores)
    review = reviewing.review_for(assignment, create=True)
    by_key = {c.key: c.id for c in review.rubric.criteria}
    review = reviewing.save_review(assignment, assignment.expert.user,
                                   scores={by_key[k]: v for k, v in scores.items() if k in by_key},
                                   confidence=confidence, recommendation=recommendation,
                                   comments_to_proposer=to_proposer, confidential_comments=confidential,
                                   submit=submit)
    _db.session.commit()
    return review


def form_for(review_or_rubric, scores=None, confidence=4, recommendation="accept", to_proposer="",
             confidential="", action="save"):
    """The posted fields of the review form."""
    rubric = getattr(review_or_rubric, "rubric", review_or_rubric)
    scores = SCORES if scores is None else scores
    data = {f"score_{c.id}": str(scores[c.key]) for c in rubric.criteria if c.key in scores}
    data.update(confidence=str(confidence) if confidence else "", comments_to_proposer=to_proposer,
                confidential_comments=confidential)
    if recommendation:
        data["recommendation"] = recommendation
    data[action] = "1"
    return data
