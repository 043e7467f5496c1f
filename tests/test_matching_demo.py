"""The real model on the demo data: sensible experts and demands, a full conflict-free proposal."""

import json
import re
from pathlib import Path

import pytest

from initiatives.config import DefaultConfig
from initiatives.connections.models import Connection
from initiatives.demo import DEMO_PASSWORD
from initiatives.models import Call, Demand, ExpertProfile, Initiative
from review import assign
from review.models import Assignment
from search import matching

pytestmark = pytest.mark.model
ROOT = Path(__file__).parent.parent


@pytest.fixture
def settings():
    return {"EMBEDDING_MODEL": DefaultConfig.EMBEDDING_MODEL, "EMBED_ON_SAVE": False}


@pytest.fixture
def demo(encoded_demo):
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


@pytest.mark.parametrize("how", ["service", "command line"])
def test_demo_call_gets_a_full_conflict_free_proposal(demo, db, runner, how):
    call = Call.query.filter_by(slug="green-agriculture-2027").one()
    waiting = assign.screened(call)
    assert waiting
    # Only what passed screening waits for reviewers; the demo keeps one submission to screen.
    assert all(i.screened_at is not None for i in waiting)
    unscreened = Initiative.query.filter_by(call_id=call.id, state="screening", screened_at=None).all()
    assert unscreened and not set(unscreened) & set(waiting)
    held = matching.current_loads()  # the demo's own reviews under way count against the load
    assert sum(held.values()) > 0
    if how == "service":
        proposal = assign.propose(call)
        assert proposal.uncovered == [] and proposal.not_matched == []
    else:
        result = runner.invoke(args=["review", "assign", "green-agriculture-2027"])
        assert result.exit_code == 0, result.output
        assert f"{len(waiting)} initiatives, {len(waiting) * call.reviewers_per_initiative} proposed" in result.output
        assert "UNCOVERED" not in result.output and "NOT MATCHED" not in result.output
        db.session.expire_all()
    rows = Assignment.query.filter_by(call_id=call.id, state="proposed").all()
    assert len(rows) == len(waiting) * call.reviewers_per_initiative
    experts = ExpertProfile.query.all()
    for row in rows:
        assert matching.conflict_matrix([row.initiative], [row.expert])[0][0] == ""
    loads = dict(held)
    for row in rows:
        loads[row.expert_id] = loads.get(row.expert_id, 0) + 1
        assert row.expert.is_available() and row.affinity is not None
    assert all(loads.get(e.id, 0) <= e.max_load for e in experts)


def test_the_demo_owner_finds_connects_and_sees_the_adoption_counted(demo, app, db):
    """Issue 6's story on the demo accounts, through the web client and the API: the demo demand
    owner finds the demo proposer's accepted initiative on their mandarin demand's page, asks to
    connect; the proposer accepts; both see each other's contacts and record the adoption; the
    admin's dashboard counts it in Lào Cai and the API lists it for an admin token."""

    def signed_in(email):
        client = app.test_client()
        assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302
        client.get("/lang/en")
        return client

    demand = Demand.query.filter_by(external_ref="DEMO-DEM-001").one()
    initiative = Initiative.query.filter_by(external_ref="DEMO-INI-022").one()
    assert (demand.owner.email, initiative.proposer.email, initiative.state) == \
        ("owner@demo.vn", "proposer@demo.vn", "accepted")
    owner, proposer, admin = signed_in("owner@demo.vn"), signed_in("proposer@demo.vn"), signed_in("admin@demo.vn")

    page = owner.get(f"/demands/{demand.id}").get_data(as_text=True)
    listed = page.split('id="matching-initiatives"')[1].split("</ul>")[0]
    found = re.findall(r'<a href="/initiatives/(\d+)">', listed)
    assert str(initiative.id) in found[:3], found
    assert listed.count('class="small text-muted match-reason"') == len(found)  # each says why
    response = owner.post("/connections/request", data={
        "demand_id": demand.id, "initiative_id": initiative.id, "message": "Bảo Yên growers need this."})
    assert response.status_code == 302
    row = Connection.query.filter_by(demand_id=demand.id, initiative_id=initiative.id).one()
    connection = f"/connections/{row.id}"
    assert "owner@demo.vn" not in proposer.get(connection).get_data(as_text=True)
    assert "proposer@demo.vn" not in owner.get(connection).get_data(as_text=True)

    assert proposer.post(f"{connection}/accept", data={"note": "Gladly."}).status_code == 302
    assert "owner@demo.vn" in proposer.get(connection).get_data(as_text=True)
    assert "proposer@demo.vn" in owner.get(connection).get_data(as_text=True)
    assert owner.post(f"{connection}/discuss").status_code == 302
    assert proposer.post(f"{connection}/adopt", data={"outcome": "pilot"}).status_code == 302

    provinces = admin.get("/admin/dashboard/provinces.json").get_json()
    columns = provinces["columns"]
    lao_cai = next(dict(zip(columns, r, strict=True)) for r in provinces["rows"] if r[0] == "lao-cai")
    assert lao_cai["adoptions"] == 1
    matches = admin.get("/admin/dashboard/matches.json").get_json()
    assert {r[0]: r[2] for r in matches["rows"]}["adopted"] == 1

    created = admin.post("/account/tokens", data={"name": "curl"})
    assert created.status_code == 201
    token = re.search(r'id="new-token"[^>]*>([^<]+)<', created.get_data(as_text=True)).group(1)
    listing = app.test_client().get("/api/v1/connections?state=adopted",
                                    headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200
    assert [item["id"] for item in listing.get_json()["items"]] == [row.id]
