"""The real model on the demo data: sensible experts and demands, a full conflict-free proposal."""

import json
from pathlib import Path

import pytest

from initiatives.models import Call, Demand, ExpertProfile, Initiative
from review import assign
from review.models import Assignment
from search import matching

pytestmark = pytest.mark.model
ROOT = Path(__file__).parent.parent


@pytest.fixture
def settings():
    return {"EMBEDDING_MODEL": "all-MiniLM-L6-v2", "EMBED_ON_SAVE": False}


@pytest.fixture
def demo(runner, db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["match", "embed"])
    assert result.exit_code == 0, result.output
    experts = json.loads((ROOT / "initiatives/data/demo/experts.json").read_text(encoding="utf-8"))
    initiatives = json.loads((ROOT / "initiatives/data/demo/initiatives.json").read_text(encoding="utf-8"))
    return {"expert_topics": {e["email"]: set(e.get("topics", [])) for e in experts},
            "topic": {i["title"]: i["topic"] for i in initiatives}}


def test_on_topic_experts_rank_above_unrelated_ones(demo):
    hits, total, chance = 0, 0, []
    n_experts = ExpertProfile.query.count()
    for initiative in Initiative.query.filter(Initiative.state != "draft").limit(30):
        topic = demo["topic"][initiative.title]
        chance.append(sum(topic in t for t in demo["expert_topics"].values()) / n_experts)
        suggested, _ = matching.suggest_experts(initiative, limit=5)
        on_topic = [topic in demo["expert_topics"].get(s.expert.email, set()) for s in suggested]
        hits += sum(on_topic)
        total += len(on_topic)
        assert all(s.reason for s in suggested)
    # A random pick is on topic about 1 time in 10; the matcher must do several times better.
    baseline = sum(chance) / len(chance)
    assert hits / total > 3 * baseline, (hits / total, baseline)


def test_mandarin_e_commerce_demand_prefers_agricultural_e_commerce(demo):
    demand = next(d for d in Demand.query if d.province == "lao-cai" and "cam" in d.title.lower())
    matches = matching.initiatives_for_demand(demand, only_accepted=False, limit=100)
    rank = {m.item.id: n for n, m in enumerate(matches)}
    ecommerce = [i for i in Initiative.query if demo["topic"].get(i.title) == "agri-ecommerce" and i.id in rank]
    chips = [i for i in Initiative.query if demo["topic"].get(i.title) == "riscv-chip" and i.id in rank]
    assert ecommerce
    best_ecommerce = min(rank[i.id] for i in ecommerce)
    assert all(best_ecommerce < rank[i.id] for i in chips)
    assert best_ecommerce < 5


def test_demo_call_gets_a_full_conflict_free_proposal(demo, db):
    call = Call.query.filter_by(slug="green-agriculture-2027").one()
    waiting = assign.screened(call)
    assert waiting
    # Only what passed screening waits for reviewers; the demo keeps one submission to screen.
    assert all(i.screened_at is not None for i in waiting)
    unscreened = Initiative.query.filter_by(call_id=call.id, state="screening", screened_at=None).all()
    assert unscreened and not set(unscreened) & set(waiting)
    proposal = assign.propose(call)
    assert proposal.uncovered == [] and proposal.not_matched == []
    rows = Assignment.query.filter_by(call_id=call.id, state="proposed").all()
    assert len(rows) == len(waiting) * call.reviewers_per_initiative
    experts = ExpertProfile.query.all()
    for row in rows:
        assert matching.conflict_matrix([row.initiative], [row.expert])[0][0] == ""
    loads = {}
    for row in rows:
        loads[row.expert_id] = loads.get(row.expert_id, 0) + 1
    assert all(loads.get(e.id, 0) <= e.max_load for e in experts)
