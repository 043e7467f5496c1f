"""Blind review holds everywhere: every page, e-mail and export a reviewer or a proposer can reach
is rendered through a whole review (invitation, reviewing, decision, revision, round 2), and the
names they must not learn are absent, even from the HTML source."""

import json

from initiatives.models import InitiativeState, Notification, OutboxMessage
from review import operations
from review.models import Assignment
from tests.review.conftest import (
    PROPOSER_NAME,
    PROPOSER_ORGANISATION,
    TEAM_MEMBER,
    accept,
    submit_review,
)

S = InitiativeState


def _pages(client, paths):
    seen = []
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        seen.append((path, response.get_data(as_text=True)))
    return seen


def _mails_to(user):
    return [(f"mail: {m.subject}", m.subject + "\n" + m.body) for m in OutboxMessage.query.filter_by(recipient=user.email)]


def app_client(login):
    """A client without a session: the API authenticates by token only."""
    from flask import current_app

    return current_app.test_client()


def _api_answers(client, user, initiative):
    """What the JSON API answers ``user`` about the initiative (when the API area is installed)."""
    try:
        from initiatives.api.tokens import create_token
    except ImportError:
        return []
    from initiatives.extensions import db

    _row, token = create_token(user, "blind test")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    answers = []
    for path in (f"/api/v1/initiatives/{initiative.id}", "/api/v1/initiatives"):
        response = client.get(path, headers=headers)
        assert response.status_code in (200, 403), (path, response.status_code)
        # Decoded, so that names are compared as text and not as \u escapes.
        answers.append((f"api {path}", json.dumps(response.get_json(), ensure_ascii=False)))
    return answers


def _assert_absent(seen, hidden):
    for where, text in seen:
        for name in hidden:
            assert name not in text, f"{name!r} leaks in {where}"


def _walk_a_whole_review(world, people, login, db):
    """Invite, accept (one reviewer declines and is replaced), review, ask for a revision,
    revise identity fields too, resubmit, and reach round 2. Returns what each person saw."""
    initiative = world.initiative
    seen = {"reviewers": [], "proposer": []}
    first, second, third = world.assignments
    reviewer_client = login(first.expert.user)
    seen["reviewers"] += _pages(reviewer_client, ["/review/mine", f"/review/assignments/{first.id}",
                                                  f"/initiatives/{initiative.id}", "/notifications", "/"])
    operations.decline_assignment(third, third.expert.user, "On leave")
    db.session.commit()
    replacement = operations.invite_next_best(initiative, people["admin"])
    db.session.commit()
    reviewers = [first, second, replacement]
    accept(first)
    seen["reviewers"] += _pages(reviewer_client, [f"/review/assignments/{first.id}"])
    for n, assignment in enumerate(reviewers):
        submit_review(assignment, to_proposer=f"Comment {n}", confidential=f"Confidential {n}",
                      recommendation="revise")
    for assignment in reviewers:
        client = login(assignment.expert.user)
        review = assignment.review
        others = [a.review.id for a in reviewers if a.id != assignment.id]
        seen["reviewers"] += _pages(client, ["/review/mine", f"/review/assignments/{assignment.id}",
                                             f"/review/reviews/{review.id}", f"/initiatives/{initiative.id}",
                                             "/notifications"])
        if world.call.reviewers_see_others:
            seen["reviewers"] += _pages(client, [f"/review/reviews/{i}" for i in others])
    # A reminder and a reopening reach the reviewer by mail too.
    operations.send_reminders(days=400)
    db.session.commit()
    db.session.refresh(initiative)
    assert initiative.status == S.REVIEWED
    proposer = login(people["proposer"])
    seen["proposer"] += _pages(proposer, [f"/initiatives/{initiative.id}", "/initiatives/mine", "/notifications", "/"])
    operations.record_decision(initiative, "revision_requested", "Please revise.", people["admin"])
    db.session.commit()
    seen["proposer"] += _pages(proposer, [f"/initiatives/{initiative.id}", f"/initiatives/{initiative.id}/edit",
                                          "/notifications", f"/review/initiatives/{initiative.id}/reviews.csv"])
    # The revision changes the identity fields too: the diff must not show them in double-blind.
    from initiatives.proposals import operations as proposals

    proposals.update_initiative(initiative, people["proposer"], organisation="Viện Bí Mật Mới",
                                team_members=[*initiative.team_members, "Thành Viên Mới"],
                                summary=initiative.summary + " Now with a pilot.")
    db.session.commit()
    seen["proposer"] += _pages(proposer, [f"/initiatives/{initiative.id}/submit"])
    assert proposer.post(f"/initiatives/{initiative.id}/submit").status_code == 302
    db.session.expire_all()
    assert initiative.status == S.UNDER_REVIEW and initiative.round == 2
    round_two = Assignment.query.filter_by(initiative_id=initiative.id, round=2).all()
    assert len(round_two) == 3
    for assignment in round_two:
        client = login(assignment.expert.user)
        seen["reviewers"] += _pages(client, [f"/review/assignments/{assignment.id}", "/review/mine",
                                             f"/initiatives/{initiative.id}", "/notifications"])
        text = client.get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
        assert "What changed since round 1" in text and "Now with a pilot." in text
    reopened = round_two[0]
    submit_review(reopened)
    from review import reviewing

    reviewing.reopen_review(reopened.review, people["admin"], "Please check")
    db.session.commit()
    seen["proposer"] += _pages(proposer, [f"/initiatives/{initiative.id}", "/notifications"])
    for assignment in [*reviewers, third]:
        seen["reviewers"] += _mails_to(assignment.expert.user)
        seen["reviewers"] += _api_answers(app_client(login), assignment.expert.user, initiative)
    seen["proposer"] += _api_answers(app_client(login), people["proposer"], initiative)
    seen["proposer"] += _mails_to(people["proposer"])
    seen["proposer"] += [(f"notification {n.id}", n.message) for n in
                         Notification.query.filter_by(user_id=people["proposer"].id)]
    return seen, [*reviewers, third]


def test_double_blind_reviewers_never_learn_who_proposed(make_world, people, login, db):
    world = make_world(blind="double", see_others=True)
    seen, reviewers = _walk_a_whole_review(world, people, login, db)
    assert len(seen["reviewers"]) > 40
    hidden_from_reviewers = [PROPOSER_NAME, people["proposer"].email, PROPOSER_ORGANISATION, TEAM_MEMBER,
                             "Viện Bí Mật Mới", "Thành Viên Mới"]
    _assert_absent(seen["reviewers"], hidden_from_reviewers)
    # Nor the names of the other reviewers (they read "Reviewer A, B").
    for assignment in reviewers:
        others = [a.expert.name for a in reviewers if a.expert_id != assignment.expert_id]
        own_pages = [(w, t) for w, t in seen["reviewers"] if assignment.expert.name in t]
        _assert_absent(own_pages, others)


def test_proposers_never_learn_who_reviewed_them(make_world, people, login, db):
    world = make_world(blind="single", see_others=False)
    seen, reviewers = _walk_a_whole_review(world, people, login, db)
    assert len(seen["proposer"]) > 10
    hidden = []
    for assignment in reviewers:
        hidden += [assignment.expert.name, assignment.expert.user.email, assignment.expert.organisation]
    hidden += [f"Confidential {n}" for n in range(3)]
    _assert_absent(seen["proposer"], hidden)
    # The proposer did read the comments addressed to them, lettered.
    page = dict(seen["proposer"])[f"/initiatives/{world.initiative.id}"]
    assert "Reviewer A" in page and "Comment 0" in page


def test_single_blind_reviewers_see_the_proposer(world, login):
    assignment = world.assignments[0]
    page = login(assignment.expert.user).get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
    assert PROPOSER_ORGANISATION in page and TEAM_MEMBER in page


def test_an_accepted_initiative_still_follows_the_blind_mode(make_world, people, login, db):
    """Acceptance publishes the initiative, not who proposed it: on its page a double-blind
    reviewer still does not learn it, a single-blind reviewer and the admin do."""
    from initiatives.proposals import operations as proposals

    for blind, visible in (("double", False), ("single", True)):
        world = make_world(blind=blind)
        submit_review(world.assignments[0])
        for step in (S.REVIEWED, S.ACCEPTED):
            proposals.transition(world.initiative, step, actor=people["admin"])
        db.session.commit()
        path = f"/initiatives/{world.initiative.id}"
        page = login(world.assignments[0].expert.user).get(path).get_data(as_text=True)
        assert world.initiative.title in page
        for detail in (PROPOSER_NAME, PROPOSER_ORGANISATION, TEAM_MEMBER):
            assert (detail in page) is visible, (blind, detail)
        assert PROPOSER_ORGANISATION in login(people["admin"]).get(path).get_data(as_text=True)
