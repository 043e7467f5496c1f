"""The call's assignment and the invitation by hand respect the conflicts that catch people: the
proposer's own organisation and a conflict an expert declared with a team member."""

import pytest

from initiatives.experts import operations as experts
from review import assign, operations
from review.models import Assignment
from tests.review.conftest import TEAM_MEMBER


def test_the_assignment_never_proposes_a_pair_in_conflict(make_world, people, panel, db):
    # The panel is ranked Đỗ Thanh Hải, Vũ Ngọc Mai, Phan Quốc Bảo... for the rice sensors: with
    # no conflict the first three would be proposed.
    world = make_world(confirm=False, reviewers=3)
    people["proposer"].organisation = "VIỆN LÚA ĐỒNG BẰNG"  # Đỗ Thanh Hải's institute, not the initiative's
    experts.declare_person_conflict(panel[1], panel[1].user, name=TEAM_MEMBER, relation="co_author")
    db.session.commit()
    assert world.initiative.organisation == "Đại học Cần Thơ"

    proposal = assign.propose(world.call, actor=people["admin"])
    assert proposal.created == 3 and proposal.uncovered == []
    proposed = {a.expert_id for a in Assignment.query.filter_by(initiative_id=world.initiative.id, state="proposed")}
    assert proposed == {panel[2].id, panel[3].id, panel[4].id}

    # Taken off the panel, the call cannot be covered, and says why.
    experts.update_profile(panel[4], panel[4].user, available=False)
    db.session.commit()
    proposal = assign.propose(world.call, actor=people["admin"])
    assert [(i.id, missing) for i, missing, _reason in proposal.uncovered] == [(world.initiative.id, 1)]
    assert panel[0].id not in {a.expert_id for a in Assignment.query.filter_by(state="proposed")}


@pytest.mark.parametrize("expert_index, reason", [
    (0, "same organisation as the proposer (Viện Lúa Đồng bằng)"),
    (1, f"declared a conflict with {TEAM_MEMBER} (co-author), a team member"),
])
def test_an_admin_cannot_invite_a_conflicted_expert_by_hand(make_world, people, panel, db, expert_index, reason):
    world = make_world(confirm=False)
    people["proposer"].organisation = "Viện Lúa Đồng bằng"
    experts.declare_person_conflict(panel[1], panel[1].user, name=TEAM_MEMBER, relation="co_author")
    db.session.commit()
    with pytest.raises(operations.ReviewError) as refused:
        operations.invite_expert(world.initiative, panel[expert_index], people["admin"])
    assert reason in str(refused.value)
