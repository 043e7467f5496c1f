"""Reasons without model work: the passages a match quotes are encoded with their text and looked
up by the pages; the model runs only for what a user just typed, and a typed query is encoded
once. Floors follow the model unless a setting says otherwise."""

import pytest

from initiatives.models import InitiativeState
from search import vectors
from search.embeddings import DEFAULT_MODEL, E5_MODEL, FLOORS, FakeEmbedder
from search.models import Embedding
from tests.test_matching_portal import _accepted, make_expert

S = InitiativeState

SHRIMP_BIO = ("Works on rice breeding for the delta. "
              "Designs paddle-wheel aerators and dissolved oxygen control for intensive shrimp ponds. "
              "Teaches statistics.")


@pytest.fixture
def settings():
    return {"EMBED_SYNC": True, "DUPLICATE_THRESHOLD": 0.5, "DEMAND_MATCH_THRESHOLD": 0.0,
            "EXPERT_MIN_AFFINITY": -1.0}


@pytest.fixture
def model_calls(monkeypatch):
    """Every text the (fake) model is asked to encode from now on."""
    calls = []
    original = FakeEmbedder.encode

    def counting(self, texts, *args, **kwargs):
        calls.append(list(texts))
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(FakeEmbedder, "encode", counting)
    return calls


@pytest.fixture
def shrimp(people, make_user, make_initiative, make_demand, db):
    expert = make_expert(make_user, "Pond Expert", "Viện Thủy sản", SHRIMP_BIO, "aquaculture")
    initiative = make_initiative(people["proposer"], submitted=True, title="Shrimp pond aerators",
                                 summary="Solar paddle-wheel aerators keep dissolved oxygen up in shrimp ponds.",
                                 description="Dissolved oxygen control for intensive shrimp ponds.",
                                 keywords=["shrimp", "aerators"])
    demand = make_demand(people["owner"], title="Aerators for our shrimp ponds",
                         description="We farm shrimp in Cà Mau. Our ponds lose dissolved oxygen at night. "
                                     "We pay for electricity by the hour.")
    return {"expert": expert, "initiative": initiative, "demand": demand}


def test_passages_are_stored_when_the_text_is_encoded(shrimp):
    row = Embedding.query.filter_by(kind="expert-passages", object_id=shrimp["expert"].id).one()
    assert row.dimension and len(row.vector) == 3 * row.dimension * 4  # three sentences of the bio
    assert Embedding.query.filter_by(kind="initiative-passages", object_id=shrimp["initiative"].id).count() == 1
    assert Embedding.query.filter_by(kind="demand-passages", object_id=shrimp["demand"].id).count() == 1


def test_an_admins_initiative_page_runs_no_model_and_quotes_the_closest_passages(shrimp, people, login, model_calls):
    page = login(people["admin"]).get(f"/initiatives/{shrimp['initiative'].id}").get_data(as_text=True)
    assert model_calls == []
    assert "Pond Expert" in page
    assert "“Designs paddle-wheel aerators and dissolved oxygen control for intensive shrimp ponds.”" in page
    assert "“Our ponds lose dissolved oxygen at night.”" in page  # the demand's closest passage


def test_a_demand_page_runs_no_model(shrimp, people, login, model_calls):
    page = login(people["owner"]).get(f"/demands/{shrimp['demand'].id}")
    assert page.status_code == 200 and model_calls == []


def test_a_stale_passage_row_falls_back_to_the_first_sentence_without_the_model(shrimp, db, model_calls):
    expert = shrimp["expert"]
    Embedding.query.filter_by(kind="expert-passages", object_id=expert.id).update({"text_hash": "old"})
    db.session.commit()
    vector = vectors.vector_of("initiative", shrimp["initiative"].id)
    assert vectors.closest_passages("expert", [expert], vector)[expert.id] == "Works on rice breeding for the delta."
    assert model_calls == []
    assert expert in vectors.stale("expert", [expert])  # 'match embed' brings it up to date


def test_the_near_duplicate_warning_shows_the_score_and_the_closest_passage(people, make_initiative, login, db):
    published = _accepted(make_initiative, people["other"], people["admin"], db,
                          title="Cảm biến độ ẩm đất cho ruộng lúa Cần Thơ")
    draft = make_initiative(people["proposer"])
    page = login(people["proposer"]).get(f"/initiatives/{draft.id}/submit").get_data(as_text=True)
    warning = page.split("These initiatives in the catalogue look very similar to yours.")[1].split("</div>\n")[0]
    assert published.title in warning and "similarity 0." in warning
    assert "Closest passage:" in warning and published.summary in warning


def test_a_typed_query_is_encoded_once(people, make_initiative, login, db, model_calls):
    _accepted(make_initiative, people["other"], people["admin"], db)
    client = login(people["admin"])
    for _ in range(3):
        assert client.get("/catalogue?q=soil+moisture&mode=semantic").status_code == 200
    assert [texts for texts in model_calls if texts == ["soil moisture"]] == [["soil moisture"]]


def test_floors_follow_the_model_unless_a_setting_is_given(app):
    app.config.update(EMBEDDING_MODEL=E5_MODEL, DUPLICATE_THRESHOLD=None)
    assert vectors.floor("DUPLICATE_THRESHOLD") == FLOORS[E5_MODEL]["DUPLICATE_THRESHOLD"]
    app.config["EMBEDDING_MODEL"] = DEFAULT_MODEL
    assert vectors.floor("DUPLICATE_THRESHOLD") == FLOORS[DEFAULT_MODEL]["DUPLICATE_THRESHOLD"]
    app.config["DUPLICATE_THRESHOLD"] = 0.42
    assert vectors.floor("DUPLICATE_THRESHOLD") == 0.42


def test_below_the_expert_floor_an_initiative_has_no_good_match_yet(shrimp, people, login, app):
    app.config["EXPERT_MIN_AFFINITY"] = 0.999
    page = login(people["admin"]).get(f"/initiatives/{shrimp['initiative'].id}").get_data(as_text=True)
    assert "No good match yet" in page and "Pond Expert" not in page.split("Excluded experts")[0]


def test_the_bridge_is_on_only_for_the_english_model(app):
    app.config["EMBEDDING_BRIDGE"] = None
    app.config["EMBEDDING_MODEL"] = E5_MODEL
    assert not vectors.bridge_on()
    app.config["EMBEDDING_MODEL"] = DEFAULT_MODEL
    assert vectors.bridge_on()
    app.config["EMBEDDING_BRIDGE"] = False
    assert not vectors.bridge_on()


def test_a_profile_without_a_bio_quotes_its_keywords(make_user, db):
    expert = make_expert(make_user, "Keyword Expert", "Lab", "", "rice, drought")
    assert vectors.passages("expert", expert) == ["rice, drought"]


def test_during_a_model_switch_the_old_vectors_serve_and_a_save_is_encoded_with_both(
        people, make_initiative, app, db, monkeypatch, login):
    first = make_initiative(people["proposer"], submitted=True)
    monkeypatch.setitem(app.config, "EMBEDDING_MODEL", "fake-new")
    monkeypatch.setattr(vectors, "service", lambda: FakeEmbedder(
        dimension=64 if vectors.model_name() == "fake-new" else 256))
    vectors.forget_serving_model()
    assert vectors.serving_model() == "fake"
    second = make_initiative(people["proposer"], submitted=True, title="Máy sục khí ao tôm")
    models = {row.model for row in Embedding.query.filter_by(kind="initiative", object_id=second.id)}
    assert models == {"fake", "fake-new"}
    # Pages still match with the old vectors meanwhile.
    page = login(people["admin"]).get(f"/initiatives/{first.id}").get_data(as_text=True)
    assert "Not yet matched" not in page
    result = app.test_cli_runner().invoke(args=["match", "embed"])
    assert result.exit_code == 0 and "fake-new now serves" in result.output, result.output
    assert vectors.serving_model() == "fake-new"
    assert {row.model for row in Embedding.query.filter_by(kind="initiative")} == {"fake-new"}
