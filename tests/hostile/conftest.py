"""The hostile tests' world: one object of each kind, made through the services the pages use,
and one person for each role and ownership an attacker could hold."""

import io

import pytest
from werkzeug.datastructures import FileStorage

from initiatives.extensions import db as _db
from initiatives.models import Role

ANONYMOUS = "anonymous"
# The columns of every access table: who asks.
#   proposer   owns the initiatives and their attachments
#   other      another proposer
#   reviewer   the expert assigned to the initiative (owns the assignment, the review, the
#              publication and the declared conflicts)
#   expert     an expert not assigned to it
#   owner      owns the demand that asked for the connection
#   admin
WHO = (ANONYMOUS, "proposer", "other", "reviewer", "expert", "owner", "admin")

# The smallest file each checker accepts as a PDF.
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def pdf(name="plan.pdf", content=PDF):
    return FileStorage(io.BytesIO(content), filename=name, content_type="application/pdf")


@pytest.fixture
def settings():
    return {"EMBED_SYNC": True}


@pytest.fixture
def cast(people, make_user):
    """``people`` with the expert assigned in the world called ``reviewer`` and a second,
    unassigned expert called ``expert``."""
    from initiatives.experts import operations as experts

    reviewer = people["expert"]
    other_expert = make_user(Role.EXPERT, email="expert2@example.org", name="Hoàng Văn Em",
                             organisation="Viện Vật liệu")
    for user, keywords in ((reviewer, "rice, irrigation"), (other_expert, "materials")):
        experts.update_profile(experts.profile_for(user), user, name=user.name,
                               organisation=user.organisation, bio="Rice irrigation research.",
                               keywords=keywords, max_load=5, available=True)
    _db.session.commit()
    return {**{k: v for k, v in people.items() if k != "expert"}, "reviewer": reviewer, "expert": other_expert}


@pytest.fixture
def world(cast, make_initiative, make_demand, db):
    """One of each: a call with its rubric, a draft with an attachment, an initiative that went the
    whole way (attachment, assignment, submitted review, decision: accepted) and was then asked for
    by the demand owner (a connection), the reviewer's publication and declared conflicts, the
    proposer's API token and a password-reset token, and a submission still in screening. Returns the ids by name."""
    from initiatives.accounts import operations as accounts
    from initiatives.api import tokens
    from initiatives.connections import operations as connections
    from initiatives.experts import operations as experts
    from initiatives.proposals import operations as proposals
    from review import operations as review
    from review import reviewing, rubrics

    admin, proposer, reviewer = cast["admin"], cast["proposer"], cast["reviewer"]
    call = review.create_call(admin, title="Hostile call", reviewers_per_initiative=1, default_max_load=5,
                              review_days=14, blind_mode="single", reviewers_see_others=False)
    db.session.commit()

    draft = make_initiative(proposer, title="Bản nháp")
    draft_attachment = proposals.add_attachment(draft, proposer, pdf("draft.pdf"))
    submitted = make_initiative(proposer, submitted=True, title="Đã nộp")
    initiative = make_initiative(proposer, call_id=call.id)
    attachment = proposals.add_attachment(initiative, proposer, pdf())
    proposals.submit(initiative, proposer)
    db.session.commit()

    review.pass_screening(initiative, admin)
    assignment = review.invite_expert(initiative, experts.profile_for(reviewer), admin)
    review.accept_assignment(assignment, reviewer)
    db.session.commit()
    scores = {c.id: 4 for c in reviewing.review_for(assignment).rubric.criteria}
    row = reviewing.save_review(assignment, reviewer, scores=scores, confidence=4, recommendation="accept",
                                comments_to_proposer="Good work.", confidential_comments="Solid team.",
                                submit=True)
    db.session.commit()
    review.complete_round(initiative, admin)
    decision = review.record_decision(initiative, "accepted", "Strong reviews.", admin)
    db.session.commit()

    demand = make_demand(cast["owner"])
    connection = connections.request_connection(demand, initiative, cast["owner"], "We need this.")
    profile = experts.profile_for(reviewer)
    publication = experts.add_publication(profile, reviewer, "Rice sensors", "Soil moisture.")
    conflict = experts.declare_conflict(profile, reviewer, "Công ty Đối thủ", "competitor")
    person_conflict = experts.declare_person_conflict(profile, reviewer, "Trần Văn Đối", "", "relative")
    token_row, _token = tokens.create_token(proposer, "mine")
    db.session.commit()
    return {
        "call": call.id, "rubric": rubrics.rubric_for(call).id,
        "draft": draft.id, "draft_attachment": draft_attachment.id, "submitted": submitted.id,
        "initiative": initiative.id, "attachment": attachment.id,
        "assignment": assignment.id, "review": row.id, "decision": decision.id,
        "demand": demand.id, "connection": connection.id,
        "expert": profile.id, "publication": publication.id, "conflict": conflict.id,
        "person_conflict": person_conflict.id,
        "token": token_row.id, "user": proposer.id,
        "reset_token": accounts.reset_token(proposer),
    }


@pytest.fixture
def api_tokens(cast, db):
    """A bearer token for every signed-in column."""
    from initiatives.api import tokens

    headers = {}
    for who in WHO[1:]:
        _row, token = tokens.create_token(cast[who], "hostile")
        headers[who] = {"Authorization": f"Bearer {token}"}
    db.session.commit()
    return headers
