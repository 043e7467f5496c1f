"""Relevance in Vietnamese on the demo data, with the portal's default model (issue 17's story):
the right reviewers for a Vietnamese shrimp-pond initiative and a maternal telehealth one, an
English translation of a catalogue initiative flagged as its near-duplicate, and a nonsense
query answered with nothing in every mode."""

import json
from pathlib import Path

import pytest

from initiatives.config import DefaultConfig
from initiatives.models import Initiative, User
from search import matching
from search.catalogue import catalogue

pytestmark = pytest.mark.model
ROOT = Path(__file__).parent.parent
SHRIMP_POND = "Giám sát chất lượng nước ao nuôi tôm bằng IoT và cảnh báo qua điện thoại"
MATERNAL = "Theo dõi thai kỳ từ xa cho phụ nữ dân tộc thiểu số bằng thiết bị đeo và điện thoại"
POND_AERATION_AUTHOR = "pieter.vandijk@wur.example"
PLANT_GENETICIST = "nguyen.hong.van@demo.vn"


@pytest.fixture
def settings():
    return {"EMBEDDING_MODEL": DefaultConfig.EMBEDDING_MODEL, "EMBED_ON_SAVE": False}


@pytest.fixture
def demo(encoded_demo):
    experts = json.loads((ROOT / "initiatives/data/demo/experts.json").read_text(encoding="utf-8"))
    return {e["email"]: set(e["topics"]) for e in experts}


def top_experts(title: str, limit: int = 3) -> list[str]:
    initiative = Initiative.query.filter_by(title=title).one()
    suggested, _excluded = matching.suggest_experts(initiative, limit=limit)
    return [s.expert.email for s in suggested]


def test_relevance_in_vietnamese_on_the_demo(demo, db):
    """One story on one demo load (the real model encodes it once): reviewers, a translation
    flagged as a near-duplicate, and nonsense answered with nothing."""
    # The Vietnamese shrimp-pond initiative gets the author of "Pond aeration and energy use in
    # intensive shrimp farming" among its three reviewers, and no plant geneticist.
    top = top_experts(SHRIMP_POND)
    assert POND_AERATION_AUTHOR in top and PLANT_GENETICIST not in top, top
    # The maternal telehealth initiative gets health experts.
    top = top_experts(MATERNAL)
    assert len(top) == 3 and all("telemedicine" in demo[email] for email in top), top

    # An English translation of a catalogue initiative is flagged as its near-duplicate, with
    # the score and the closest passage.
    from initiatives.proposals import operations

    original = Initiative.query.filter_by(title=SHRIMP_POND).one()
    translation = operations.create_draft(
        User.query.filter_by(email="owner@demo.vn").one(),
        title="IoT water-quality monitoring for shrimp ponds with phone alerts",
        summary="Sensors measure dissolved oxygen, pH, temperature and salinity in shrimp ponds "
                "and warn farmers by phone before oxygen runs low at night.",
        description="Low-cost probes float in each pond and report every ten minutes. When "
                    "dissolved oxygen falls, farmers get a call and an SMS so they can start "
                    "the aerators in time.",
        keywords=["shrimp farming", "water quality", "IoT", "dissolved oxygen", "alerts", "ponds"],
        field="agriculture", language="en")
    db.session.commit()
    found = {m.item.id: m for m in matching.near_duplicates(translation)}
    assert original.id in found, [(m.item.title, m.score) for m in found.values()]
    assert found[original.id].score > 0 and found[original.id].reason

    # A nonsense query finds nothing in any mode; a real one still finds its initiatives.
    admin = User.query.filter_by(email="admin@demo.vn").one()
    for mode in ("text", "semantic", "hybrid"):
        answer = catalogue().search("xyzzy qwerty", admin, mode=mode)
        assert answer.total == 0 and answer.results == [], mode
    answer = catalogue().search("nuôi tôm", admin, mode="semantic")
    assert SHRIMP_POND in [r.item.title for r in answer.results][:5]
