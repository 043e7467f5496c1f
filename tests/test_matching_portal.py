"""Matching inside the portal: vectors follow saves, suggestions with reasons, conflicts,
duplicates, demands, the call assignment from the page and the command line, the export."""

import csv

import numpy as np
import pytest

from initiatives.experts import operations as experts
from initiatives.models import AuditEvent, Call, InitiativeState, Role
from review.models import Assignment, AssignmentState
from search import matching, vectors
from search.models import Embedding
from tests.conftest import sign_in

S = InitiativeState


@pytest.fixture
def settings():
    return {"EMBED_SYNC": True, "DUPLICATE_THRESHOLD": 0.8, "DEMAND_MATCH_THRESHOLD": 0.1}


def make_expert(make_user, name, organisation, bio, keywords, publications=(), max_load=3):
    user = make_user(Role.EXPERT, name=name, organisation=organisation)
    profile = experts.profile_for(user)
    experts.update_profile(profile, user, name=name, organisation=organisation, bio=bio,
                           keywords=keywords, max_load=max_load, available=True)
    for title, abstract in publications:
        experts.add_publication(profile, user, title, abstract)
    from initiatives.extensions import db

    db.session.commit()
    return profile


@pytest.fixture
def panel(make_user):
    return {
        "rice": make_expert(make_user, "Rice Expert", "Viện Lúa", "Rice drought irrigation soil moisture.",
                            "rice, irrigation", [("Soil moisture sensors for rice irrigation",
                                                  "Sensors tell rice farmers when to irrigate.")]),
        "chips": make_expert(make_user, "Chip Expert", "Chip Lab", "Semiconductor chip packaging wafers.",
                             "chip, packaging", [("Advanced chip packaging", "Wafer level packaging.")]),
        "same_org": make_expert(make_user, "Đồng Nghiệp", "dai hoc  CAN THO",
                                "Rice irrigation soil moisture sensors.", "rice",
                                [("Rice irrigation sensors", "Soil moisture.")]),
    }


def test_vectors_follow_saves_and_are_not_recomputed(people, make_initiative, db):
    initiative = make_initiative(people["proposer"])
    row = Embedding.query.filter_by(kind="initiative", object_id=initiative.id).one()
    first_hash, first_time = row.text_hash, row.updated_at
    from initiatives.proposals import operations

    operations.update_initiative(initiative, people["proposer"], organisation="Khác")  # not in the text
    db.session.commit()
    db.session.expire_all()
    row = Embedding.query.filter_by(kind="initiative", object_id=initiative.id).one()
    assert (row.text_hash, row.updated_at) == (first_hash, first_time)
    operations.update_initiative(initiative, people["proposer"], title="Một tiêu đề mới hoàn toàn")
    db.session.commit()
    db.session.expire_all()
    row = Embedding.query.filter_by(kind="initiative", object_id=initiative.id).one()
    assert row.text_hash != first_hash
    assert vectors.vector_of("initiative", initiative.id, initiative) is not None


def test_a_failing_encoder_never_loses_the_save(people, make_initiative, db, monkeypatch, app):
    def broken(*args, **kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(vectors, "encode", broken)
    initiative = make_initiative(people["proposer"], submitted=True)
    assert initiative.id and initiative.status == S.SCREENING
    assert Embedding.query.filter_by(kind="initiative").count() == 0
    monkeypatch.undo()
    # Shown as "not yet matched" until the command catches up.
    page = sign_in(app.test_client(), people["admin"]).get(f"/initiatives/{initiative.id}")
    assert "Not yet matched" in page.get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["match", "embed"])
    assert result.exit_code == 0, result.output
    assert "Encoded" in result.output
    assert vectors.vector_of("initiative", initiative.id, initiative) is not None


def test_model_change_means_re_encoding(people, make_initiative, app, db, monkeypatch):
    from search.embeddings import FakeEmbedder

    initiative = make_initiative(people["proposer"], submitted=True)
    make_initiative(people["proposer"], title="Còn nháp")  # drafts get no vector, so none is due
    runner = app.test_cli_runner()
    assert vectors.count_stale(["initiative"]) == {"initiative": 0}
    assert "Encoded 0" in runner.invoke(args=["match", "embed"]).output

    # Another model: every vector is due again, and `match embed` makes them under its name.
    monkeypatch.setitem(app.config, "EMBEDDING_MODEL", "fake-other-model")
    monkeypatch.setattr(vectors, "service", lambda: FakeEmbedder(dimension=64))
    assert vectors.count_stale(["initiative"]) == {"initiative": 1}
    # Until then the old model's vectors serve, and a save is encoded with both.
    assert vectors.serving_model() == "fake"
    assert vectors.vector_of("initiative", initiative.id, initiative).shape == (256,)
    result = runner.invoke(args=["match", "embed"])
    assert result.exit_code == 0 and "Encoded 1" in result.output, result.output
    assert "Switching from fake to fake-other-model" in result.output
    assert "fake-other-model now serves" in result.output  # and the old vectors are gone
    rows = Embedding.query.filter_by(kind="initiative", object_id=initiative.id).all()
    assert sorted(r.model for r in rows) == ["fake-other-model"]
    assert vectors.vector_of("initiative", initiative.id, initiative).shape == (64,)
    assert vectors.count_stale(["initiative"]) == {"initiative": 0}

    # --all re-encodes what is current (for a model whose weights changed under the same name).
    assert vectors.count_stale(["initiative"], force=True) == {"initiative": 2}
    result = runner.invoke(args=["match", "embed", "--all"])
    assert result.exit_code == 0 and "Encoded 2" in result.output, result.output


def test_conflicts_fold_case_spaces_and_diacritics(people, make_initiative, panel, db):
    initiative = make_initiative(people["proposer"], submitted=True, organisation="Đại học Cần Thơ")
    assert "same organisation" in matching.conflict_reason(panel["same_org"], initiative)
    assert matching.conflict_reason(panel["rice"], initiative) == ""
    experts.declare_conflict(panel["rice"], panel["rice"].user, "ĐẠI HỌC CẦN THƠ")
    db.session.commit()
    assert "declared a conflict" in matching.conflict_reason(panel["rice"], initiative)


def test_proposer_and_team_members_are_excluded(people, make_user, make_initiative, db):
    proposer_expert = make_user(Role.PROPOSER, Role.EXPERT, name="Hai Vai")
    profile = experts.profile_for(proposer_expert)
    db.session.commit()
    own = make_initiative(proposer_expert, submitted=True)
    assert matching.conflict_reason(profile, own) == "is the proposer"
    member = make_expert(make_user, "Trần Thị Bình", "Elsewhere", "x", "x")
    other = make_initiative(people["proposer"], submitted=True)  # team: Nguyễn Văn An, Trần Thị Bình
    assert matching.conflict_reason(member, other) == "is a team member"


def test_suggestions_rank_by_affinity_with_reasons(people, make_initiative, panel, db):
    initiative = make_initiative(people["proposer"], submitted=True, organisation="Đại học Cần Thơ")
    suggested, excluded = matching.suggest_experts(initiative)
    names = [s.expert.name for s in suggested]
    assert names[0] == "Rice Expert" and "Chip Expert" in names
    assert suggested[0].score > suggested[-1].score
    assert suggested[0].reason and suggested[0].keywords == ["rice", "irrigation"]
    assert [s.expert.name for s in excluded] == ["Đồng Nghiệp"]
    assert "same organisation" in excluded[0].excluded


@pytest.mark.parametrize("method", ["topk_mean", "max", "mean", "quantile", "centroid"])
def test_ranking_on_ids_gives_what_scoring_each_expert_gives(people, make_user, make_initiative, panel,
                                                             db, app, monkeypatch, method):
    """Suggestions and a typed topic, ranked on ids with only the shown experts loaded, are what
    scoring every reviewer's own texts one by one gives: order, scores, exclusions."""
    from search.affinity import expert_affinity

    monkeypatch.setitem(app.config, "AFFINITY_METHOD", method)
    make_expert(make_user, "Second Rice", "Viện Lúa", "Rice seed drought.", "rice, seed",
                [("Drought tolerant rice", "Seeds."), ("Rice irrigation scheduling", "Water.")])
    make_expert(make_user, "Nguyễn Văn An", "Elsewhere", "Rice soil.", "soil")  # on the team
    initiative = make_initiative(people["proposer"], submitted=True, organisation="Đại học Cần Thơ")
    texts = matching.expert_texts()
    vector = vectors.vector_of("initiative", initiative.id, initiative)

    def one_by_one(query_vector):
        blocks = [block.reshape(-1, query_vector.size) for block in texts.blocks]
        scores = expert_affinity(query_vector[None, :], blocks, method, k=app.config["AFFINITY_TOP_K"],
                                 q=app.config.get("AFFINITY_QUANTILE", 0.75))[0]
        return scores, [i for i in np.argsort(-scores, kind="stable") if len(blocks[i])]

    scores, order = one_by_one(vector)
    reasons = matching.conflict_matrix([initiative], texts.experts)[0]
    suggested, excluded = matching.suggest_experts(initiative, limit=2)
    wanted = [i for i in order if not reasons[i]][:2]
    assert [s.expert.id for s in suggested] == [texts.experts[i].id for i in wanted]
    np.testing.assert_allclose([s.score for s in suggested], scores[wanted], rtol=0, atol=1e-6)
    assert all(s.reason for s in suggested)
    assert [(s.expert.id, s.excluded) for s in excluded] == [
        (texts.experts[i].id, reasons[i]) for i in order if reasons[i]]
    assert {s.excluded for s in excluded} == {"is a team member", "same organisation (dai hoc  CAN THO)"}

    query = "rice irrigation"
    scores, order = one_by_one(vectors.embed([query])[0])
    found = matching.experts_for_query(query, limit=3)
    assert [s.expert.id for s in found] == [texts.experts[i].id for i in order[:3]]
    np.testing.assert_allclose([s.score for s in found], scores[order[:3]], rtol=0, atol=1e-6)


def test_expert_text_matrix_leaves_out_deleted_publications_and_holds_vectors_once(panel, db):
    """A deleted publication's vector (kept until ``prune``) is no expert's text any more, and
    the cached matrices of profiles and publications are views of the one grouped matrix."""
    from initiatives.models import Publication

    rice = panel["rice"]
    matrix = vectors.cached_expert_texts()
    assert matrix.texts_of(int(matrix.group_of([rice.id])[0]))[0].shape[0] == 2
    publication_id = Publication.query.filter_by(expert_id=rice.id).one().id
    db.session.execute(Publication.__table__.delete().where(Publication.id == publication_id))
    db.session.commit()
    assert Embedding.query.filter_by(kind="publication", object_id=publication_id).count() == 1
    matrix = vectors.cached_expert_texts()
    block, publication_ids = matrix.texts_of(int(matrix.group_of([rice.id])[0]))
    assert block.shape[0] == 1 and publication_ids.tolist() == [0]
    np.testing.assert_array_equal(block[0], vectors.vector_of("expert", rice.id))
    for kind in ("expert", "publication"):
        assert np.shares_memory(vectors.cached_matrix(kind)[1], matrix.groups.vectors)
    assert matrix.group_of([10**6]).tolist() == [-1]


def test_admin_sees_experts_and_demands_on_the_initiative(people, make_initiative, make_demand, panel, login):
    initiative = make_initiative(people["proposer"], submitted=True, organisation="Đại học Cần Thơ")
    make_demand(people["owner"], title="Rice irrigation sensors wanted",
                description="Soil moisture sensors for rice farmers to irrigate.")
    page = login(people["admin"]).get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "Suggested reviewers" in page and "Rice Expert" in page
    assert "Excluded experts" in page and "same organisation" in page
    assert "Rice irrigation sensors wanted" in page
    proposer_page = login(people["proposer"]).get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "Rice irrigation sensors wanted" in proposer_page
    assert "Suggested reviewers" not in proposer_page and "Rice Expert" not in proposer_page


def test_demand_page_shows_accepted_initiatives_to_the_owner(people, make_initiative, make_demand, login, db):
    from initiatives.proposals import operations

    accepted = make_initiative(people["proposer"], submitted=True, title="Rice irrigation sensors accepted")
    pending = make_initiative(people["proposer"], submitted=True, title="Rice irrigation sensors pending")
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        operations.transition(accepted, step, actor=people["admin"])
    db.session.commit()
    demand = make_demand(people["owner"], title="Rice irrigation", description="Soil moisture sensors for rice.")
    owner_page = login(people["owner"]).get(f"/demands/{demand.id}").get_data(as_text=True)
    assert accepted.title in owner_page and pending.title not in owner_page
    admin_page = login(people["admin"]).get(f"/demands/{demand.id}").get_data(as_text=True)
    assert accepted.title in admin_page and pending.title in admin_page
    # Each match says why: its sentence closest to the demand.
    listed = admin_page.split('id="matching-initiatives"')[1].split("</ul>")[0]
    assert listed.count('class="small text-muted match-reason"') == 2


def test_a_weak_demand_match_is_hidden(people, make_initiative, make_demand, login, app, db):
    from initiatives.proposals import operations

    initiative = make_initiative(people["proposer"], submitted=True, title="Rice irrigation sensors")
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        operations.transition(initiative, step, actor=people["admin"])
    db.session.commit()
    near = make_demand(people["owner"], title="Rice irrigation", description="Soil moisture sensors for rice.")
    far = make_demand(people["owner"], title="Tourist guides", description="Audio guides for museums in Huế.")
    owner = login(people["owner"])
    assert initiative.title in owner.get(f"/demands/{near.id}").get_data(as_text=True)
    page = owner.get(f"/demands/{far.id}").get_data(as_text=True)
    assert initiative.title not in page and "No initiative is close enough yet." in page
    scores = {m.item.id: m.score for m in matching.initiatives_for_demand(far, only_accepted=True, limit=5)}
    assert scores == {}  # below DEMAND_MATCH_THRESHOLD, not merely lower
    app.config["DEMAND_MATCH_THRESHOLD"] = -1.0
    assert initiative.title in owner.get(f"/demands/{far.id}").get_data(as_text=True)


def test_near_duplicates_are_shown_before_submission(people, make_initiative, login):
    make_initiative(people["other"], submitted=True)  # someone else's, under screening
    draft = make_initiative(people["proposer"])
    page = login(people["proposer"]).get(f"/initiatives/{draft.id}/submit").get_data(as_text=True)
    assert "look very similar" in page
    assert "Submit anyway" in page


def _accepted(make_initiative, proposer, admin, db, **values):
    """A published initiative of the catalogue: submitted, reviewed and accepted."""
    from initiatives.proposals import operations

    initiative = make_initiative(proposer, submitted=True, **values)
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        operations.transition(initiative, step, actor=admin)
    db.session.commit()
    return initiative


def _closeness(draft, other):
    """The cosine the near-duplicate check compares with the threshold."""
    draft_vector = vectors.embed([vectors.initiative_text(draft)], [draft.language])[0]
    return float(draft_vector @ vectors.vector_of("initiative", other.id, other))


def test_near_duplicates_in_the_catalogue_are_named_with_a_link(people, make_initiative, login, db):
    published = _accepted(make_initiative, people["other"], people["admin"], db,
                          title="Cảm biến độ ẩm đất cho ruộng lúa Cần Thơ")
    draft = make_initiative(people["proposer"])
    assert _closeness(draft, published) > 0.8
    page = login(people["proposer"]).get(f"/initiatives/{draft.id}/submit").get_data(as_text=True)
    warning = page.split("These initiatives in the catalogue look very similar to yours.")[1].split("</div>")[0]
    assert f'<a href="/initiatives/{published.id}">{published.title}</a>' in warning
    assert "under review elsewhere" not in page and "Submit anyway" in page


def test_an_initiative_below_the_duplicate_threshold_gives_no_warning(people, make_initiative, login, app, db):
    """Sharing the field and a few words is not a duplicate: the threshold decides, not mere
    closeness."""
    related = _accepted(make_initiative, people["other"], people["admin"], db,
                        title="Cảm biến cho ao nuôi tôm",
                        summary="Low-cost water quality sensors that tell shrimp farmers when to aerate.",
                        description="Dissolved oxygen probes and an app for shrimp ponds in Bạc Liêu.",
                        keywords=["shrimp", "aquaculture", "IoT"], organisation="Công ty Tôm Việt")
    draft = make_initiative(people["proposer"])
    closeness = _closeness(draft, related)
    assert 0.1 < closeness < app.config["DUPLICATE_THRESHOLD"]
    proposer = login(people["proposer"])
    page = proposer.get(f"/initiatives/{draft.id}/submit").get_data(as_text=True)
    assert "look very similar" not in page and related.title not in page
    assert "Submit" in page
    app.config["DUPLICATE_THRESHOLD"] = closeness - 0.01
    page = proposer.get(f"/initiatives/{draft.id}/submit").get_data(as_text=True)
    assert "look very similar" in page and related.title in page


def test_expert_finder(people, panel, login):
    page = login(people["admin"]).get("/matching/experts?q=chip packaging").get_data(as_text=True)
    assert page.index("Chip Expert") < page.index("Rice Expert")
    assert login(people["proposer"]).get("/matching/experts?q=x").status_code == 403


def test_expert_vectors_are_read_once_per_process_and_again_after_a_vector_is_stored(
        people, panel, db):
    """Finding experts reads every profile and publication vector; they are kept per process and
    read again only when a vector was stored since, whoever stored it."""
    from sqlalchemy import event

    from initiatives.models import Publication

    reads = []

    def count(connection, cursor, statement, *args):
        if "embedding.vector" in statement:
            reads.append(statement)

    def expert_texts():
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            return matching.expert_texts()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)

    vectors.forget_matrices()
    first = expert_texts()
    assert len(reads) == 2  # the profiles' vectors and the publications'
    again = expert_texts()
    assert len(reads) == 2
    for a, b in zip(first.blocks, again.blocks, strict=True):
        np.testing.assert_array_equal(a, b)
    chips = [e.id for e in first.experts].index(panel["chips"].id)
    assert first.blocks[chips].shape[0] == 2

    # A publication saved through the profile (encoded after its commit) joins the block.
    experts.add_publication(panel["chips"], panel["chips"].user, "Chiplet interposers", "Silicon bridges.")
    db.session.commit()
    added = expert_texts()
    assert len(reads) == 4
    newest = Publication.query.order_by(Publication.id.desc()).first()
    assert added.blocks[chips].shape[0] == 3 and added.labels[chips][-1] == ("publication", newest.id)
    np.testing.assert_array_equal(added.blocks[chips][-1], vectors.vector_of("publication", newest.id))

    # A vector stored by another process (here: `match embed` without this process's encoder)
    # is seen too: the cache compares a stamp of the stored vectors on every call.
    panel["chips"].bio = "Wire bonding and flip-chip assembly."
    db.session.commit()
    vectors.sync(["expert"])
    changed = expert_texts()
    np.testing.assert_array_equal(changed.blocks[chips][0],
                                  vectors.vector_of("expert", panel["chips"].id, panel["chips"]))
    assert not np.array_equal(changed.blocks[chips][0], first.blocks[chips][0])


@pytest.fixture
def call_with_initiatives(people, make_user, make_initiative, panel, db):
    call = Call(slug="test-call", title="Test call", reviewers_per_initiative=2, default_max_load=3)
    db.session.add(call)
    db.session.commit()
    first = make_initiative(people["proposer"], submitted=True, call_id=call.id, organisation="Đại học Cần Thơ")
    second = make_initiative(people["other"], submitted=True, call_id=call.id, title="Chip packaging line",
                             summary="Wafer level chip packaging", keywords=["chip", "packaging"],
                             organisation="Nhà máy")
    # Only submissions an admin passed at screening wait for reviewers.
    from review import assign, operations

    assert assign.screened(call) == []
    for initiative in (first, second):
        operations.pass_screening(initiative, people["admin"])
    db.session.commit()
    return call, first, second


def test_assignment_from_the_page_is_optimal_conflict_free_and_confirmable(
        call_with_initiatives, people, panel, login, db):
    call, first, second = call_with_initiatives
    client = login(people["admin"])
    assert client.post(f"/review/calls/{call.id}/assignment/run").status_code == 302
    rows = Assignment.query.filter_by(call_id=call.id, state="proposed").all()
    pairs = {(a.initiative_id, a.expert.name) for a in rows}
    # The colleague from Cần Thơ may not review the first; each initiative gets 2 reviewers.
    assert (first.id, "Đồng Nghiệp") not in pairs
    assert sum(1 for i, _ in pairs if i == first.id) == 2
    assert sum(1 for i, _ in pairs if i == second.id) == 2
    page = client.get(f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    assert "Total affinity" in page and first.title in page

    # Edit: remove one, add it back by hand; a conflicted expert is refused.
    removed = rows[0]
    expert_id, initiative_id = removed.expert_id, removed.initiative_id
    assert client.post(f"/review/assignments/{removed.id}/remove").status_code == 302
    assert client.post(f"/review/calls/{call.id}/assignment/add",
                       data={"initiative_id": initiative_id, "expert_id": expert_id}).status_code == 302
    refused = client.post(f"/review/calls/{call.id}/assignment/add",
                          data={"initiative_id": first.id, "expert_id": panel["same_org"].id})
    assert refused.status_code == 303
    assert Assignment.query.filter_by(initiative_id=first.id, expert_id=panel["same_org"].id).count() == 0

    assert client.post(f"/review/calls/{call.id}/assignment/confirm").status_code == 302
    db.session.expire_all()
    states = {a.state for a in Assignment.query.filter_by(call_id=call.id)}
    assert states == {AssignmentState.INVITED.value}
    assert {first.status, second.status} == {S.UNDER_REVIEW}
    assert AuditEvent.query.filter_by(action="assignment.invited").count() == 4


def test_uncovered_initiatives_are_named(call_with_initiatives, people, panel, db):
    from review import assign

    call, first, second = call_with_initiatives
    for profile in panel.values():
        profile.max_load = 1
    db.session.commit()
    proposal = assign.propose(call)
    assert proposal.created == 3
    assert len(proposal.uncovered) == 1
    initiative, missing, reason = proposal.uncovered[0]
    # Three experts of load 1 for 2 x 2 places: enough may review each, but their load runs out.
    assert missing == 1 and reason == "load exhausted"
    assert assign.why_uncovered(initiative, call) == "load exhausted"


def test_the_page_names_why_an_initiative_lacks_reviewers_and_why_each_fits(
        call_with_initiatives, people, panel, login, db):
    call, first, second = call_with_initiatives
    panel["chips"].available = False  # the Cần Thơ colleague is conflicted: only one may review the first
    db.session.commit()
    client = login(people["admin"])
    assert client.post(f"/review/calls/{call.id}/assignment/run").status_code == 302
    page = client.get(f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    uncovered = page.split('id="uncovered"')[1].split("</div>")[0]
    assert first.title in uncovered and "not enough non-conflicted experts" in uncovered
    rice_row = next(row for row in page.split('<tr class="proposed-reviewer">')[1:] if "Rice Expert" in row)
    assert "Publication:" in rice_row and "Soil moisture sensors for rice irrigation" in rice_row.split("</td>")[0]


def test_assignment_from_the_command_line(call_with_initiatives, runner, db):
    call, first, second = call_with_initiatives
    result = runner.invoke(args=["review", "assign", "test-call"])
    assert result.exit_code == 0, result.output
    assert "4 proposed assignments" in result.output
    assert Assignment.query.filter_by(call_id=call.id, state="proposed").count() == 4
    again = runner.invoke(args=["review", "assign", "test-call", "--diverse", "--maximin"])
    assert again.exit_code == 0, again.output
    assert Assignment.query.filter_by(call_id=call.id, state="proposed").count() == 4
    missing = runner.invoke(args=["review", "assign", "no-such-call"])
    assert missing.exit_code != 0 and "No call" in missing.output


def test_export_affinities(call_with_initiatives, panel, runner, tmp_path):
    call, first, second = call_with_initiatives
    first.external_ref = "REG-1"
    out = tmp_path / "aff.csv"
    result = runner.invoke(args=["export", "affinities", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["initiative_ref", "expert_ref", "score"]
    assert len(rows) == 1 + 2 * 3
    assert {r[0] for r in rows[1:]} == {"REG-1", str(second.id)}
    top = tmp_path / "top.csv"
    runner.invoke(args=["export", "affinities", "--out", str(top), "--top", "1"])
    with open(top, encoding="utf-8") as f:
        top_rows = list(csv.reader(f))[1:]
    assert len(top_rows) == 2
    best_for_second = [r for r in top_rows if r[0] == str(second.id)][0]
    assert best_for_second[1] == str(panel["chips"].id)


def test_export_names_initiatives_it_cannot_score(call_with_initiatives, panel, runner, tmp_path,
                                                 db, monkeypatch):
    """An initiative whose encoding keeps failing is named on stderr, not silently left out."""
    call, first, second = call_with_initiatives
    monkeypatch.setattr(vectors, "sync", lambda kinds: None)  # as if encoding failed again
    Embedding.query.filter_by(kind="initiative", object_id=second.id).delete()
    db.session.commit()
    out = tmp_path / "aff.csv"
    result = runner.invoke(args=["export", "affinities", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Left out 1 initiative(s) without a vector (run 'match embed'): {second.id}" in result.stderr
    with open(out, encoding="utf-8") as f:
        assert {r[0] for r in list(csv.reader(f))[1:]} == {str(first.id)}


def test_an_expert_who_declined_is_not_proposed_again(call_with_initiatives, db):
    """A decline for any reason (here: travelling) takes the pair out of later proposals."""
    from review import assign

    call, first, second = call_with_initiatives
    assign.propose(call)
    chosen = {a.expert_id for a in Assignment.query.filter_by(initiative_id=second.id, state="proposed")}
    decliner = next(iter(chosen))
    db.session.add(Assignment(initiative_id=second.id, expert_id=decliner, call_id=call.id, round=1,
                              state=AssignmentState.DECLINED.value, decline_reason="Travelling."))
    db.session.commit()
    assign.propose(call)
    again = {a.expert_id for a in Assignment.query.filter_by(initiative_id=second.id, state="proposed")}
    assert decliner not in again


def test_diversity_counts_the_reviewers_an_initiative_already_has(call_with_initiatives, make_user, panel, db):
    """Round 2 keeps its reviewers; a diverse proposal adds nobody from their organisations."""
    from review import assign

    call, first, second = call_with_initiatives
    colleague = make_expert(make_user, "Chip Colleague", "CHIP  lab", "Semiconductor chip packaging wafers.",
                            "chip, packaging", [("Wafer level chip packaging", "Packaging chips on wafers.")])
    db.session.add(Assignment(initiative_id=second.id, expert_id=panel["chips"].id, call_id=call.id,
                              round=1, state=AssignmentState.INVITED.value))
    db.session.commit()

    def proposed_for_second(**options):
        assign.propose(call, **options)
        return {a.expert_id for a in Assignment.query.filter_by(initiative_id=second.id, state="proposed")}

    assert proposed_for_second() == {colleague.id}  # the closest free expert, same lab as the held one
    diverse = proposed_for_second(diverse=True)
    assert len(diverse) == 1 and colleague.id not in diverse and panel["chips"].id not in diverse


# The proposal page: a card per waiting initiative, totals, the uncovered -------------------

def _card(page, initiative):
    """The part of the proposal page that is ``initiative``'s card."""
    return page.split(f'id="proposal-{initiative.id}"')[1].split('class="card mb-2 proposal-initiative"')[0]


def test_an_initiative_without_proposed_reviewers_gets_a_card_and_one_by_hand(
        call_with_initiatives, people, panel, login, db):
    """Nobody may be proposed (every expert is away): each initiative still has its card with the
    add form, and the uncovered are named with the reason, although nothing was proposed."""
    call, first, second = call_with_initiatives
    for profile in panel.values():
        profile.available = False
    db.session.commit()
    client = login(people["admin"])
    assert client.post(f"/review/calls/{call.id}/assignment/run").status_code == 302
    assert Assignment.query.filter_by(call_id=call.id, state="proposed").count() == 0
    page = client.get(f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    uncovered = page.split('id="uncovered"')[1].split("</div>")[0]
    for initiative in (first, second):
        assert f"{initiative.title}: 2 missing (not enough non-conflicted experts)" in uncovered
        card = _card(page, initiative)
        assert "none yet" in card and "Reviewers: 0 of 2" in card
        assert f'name="initiative_id" value="{initiative.id}"' in card and "Add reviewer" in card

    assert client.post(f"/review/calls/{call.id}/assignment/add",
                       data={"initiative_id": first.id, "expert_id": panel["rice"].id}).status_code == 302
    added = Assignment.query.filter_by(initiative_id=first.id, state="proposed").one()
    page = client.get(f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    card = _card(page, first)
    assert "Rice Expert" in card and "Reviewers: 1 of 2" in card and "none yet" not in card
    assert f'class="initiative-total">{added.affinity:.3f}<' in card
    assert "none yet" in _card(page, second)
    assert "Confirm and invite the reviewers" in page


def test_before_any_proposal_the_uncovered_are_listed_as_not_yet_proposed(
        call_with_initiatives, people, panel, login):
    call, first, second = call_with_initiatives
    page = login(people["admin"]).get(f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    uncovered = page.split('id="uncovered"')[1].split("</div>")[0]
    for initiative in (first, second):
        assert f"{initiative.title}: 2 missing (eligible experts still have load" in uncovered
        assert "Add reviewer" in _card(page, initiative)
    assert "Confirm and invite the reviewers" not in page


def test_each_card_shows_its_total_and_counts_reviewers_already_held(
        call_with_initiatives, people, panel, login, db):
    """Round 2 keeps a reviewer: the initiative wants one more, and with it is covered."""
    call, first, second = call_with_initiatives
    db.session.add(Assignment(initiative_id=second.id, expert_id=panel["chips"].id, call_id=call.id,
                              round=1, state=AssignmentState.INVITED.value))
    db.session.commit()
    client = login(people["admin"])
    assert client.post(f"/review/calls/{call.id}/assignment/run").status_code == 302
    rows = Assignment.query.filter_by(call_id=call.id, state="proposed").all()
    page = client.get(f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    for initiative, proposed in ((first, 2), (second, 1)):
        mine = [a for a in rows if a.initiative_id == initiative.id]
        assert len(mine) == proposed
        card = _card(page, initiative)
        assert "Reviewers: 2 of 2" in card
        assert f'class="initiative-total">{sum(a.affinity for a in mine):.3f}<' in card
    assert "1 already reviewing" in _card(page, second)
    assert 'id="uncovered"' not in page
    assert f"{sum(a.affinity for a in rows):.3f}" in page.split("Total affinity:")[1]


# The fairness and diversity options, from the page and from the command line --------------

def _about(word):
    """An English initiative whose embedded text is ``word`` only (the fake embedder then gives
    it one word's vector, so each expert's affinity follows the words of their bio)."""
    return {"title": word.title(), "summary": word, "description": word, "keywords": [word],
            "language": "en"}


def _screened_call(people, make_initiative, db, slug, k, words):
    from review import operations

    call = Call(slug=slug, title=slug, reviewers_per_initiative=k, default_max_load=1)
    db.session.add(call)
    db.session.commit()
    initiatives = [make_initiative(people["proposer"], submitted=True, call_id=call.id, **_about(word))
                   for word in words]
    for initiative in initiatives:
        operations.pass_screening(initiative, people["admin"])
    db.session.commit()
    return call, initiatives


@pytest.fixture
def fairness_call(people, make_user, make_initiative, db):
    """Two initiatives wanting one reviewer each, two experts of load 1. The best total gives
    Alpha the generalist (0.95) and Beta the weak specialist (0.22); the fairest gives Alpha the
    specialist (0.44) and Beta the generalist (0.32)."""
    call, (alpha, beta) = _screened_call(people, make_initiative, db, "fair-call", 1, ["alpha", "beta"])
    generalist = make_expert(make_user, "Generalist", "Lab One", "alpha alpha alpha beta", "", max_load=1)
    specialist = make_expert(make_user, "Specialist", "Lab Two", "alpha alpha beta gamma gamma gamma gamma",
                             "", max_load=1)
    return call, alpha, beta, generalist, specialist


@pytest.fixture
def diversity_call(people, make_user, make_initiative, db):
    """One initiative wanting two reviewers; its two best experts work at the same institute
    (spelt two ways), a third elsewhere fits less."""
    call, (alpha,) = _screened_call(people, make_initiative, db, "diverse-call", 2, ["alpha"])
    twins = [make_expert(make_user, "First Twin", "Viện Alpha", "alpha alpha alpha beta", ""),
             make_expert(make_user, "Second Twin", "VIEN  alpha", "alpha alpha alpha gamma", "")]
    outsider = make_expert(make_user, "Outsider", "Lab Three", "alpha beta gamma", "")
    return call, alpha, twins, outsider


def _propose_via(how, app, call, admin, options):
    """Compute the call's proposal from the page (the checkboxes) or the command line (the
    flags); returns the proposed pairs as {(initiative id, expert id): affinity}."""
    from initiatives.extensions import db

    if how == "page":
        client = sign_in(app.test_client(), admin)
        response = client.post(f"/review/calls/{call.id}/assignment/run",
                               data={option: "1" for option in options})
        assert response.status_code == 302
    else:
        result = app.test_cli_runner().invoke(
            args=["review", "assign", call.slug, *(f"--{option}" for option in options)])
        assert result.exit_code == 0, result.output
    db.session.expire_all()
    event = AuditEvent.query.filter_by(action="call.assignment_proposed").order_by(AuditEvent.id.desc()).first()
    assert {option: event.detail[option] for option in ("maximin", "diverse")} == \
        {option: option in options for option in ("maximin", "diverse")}
    return {(a.initiative_id, a.expert_id): a.affinity
            for a in Assignment.query.filter_by(call_id=call.id, state="proposed")}


@pytest.mark.parametrize("how", ["page", "command line"])
def test_the_fairness_option_raises_the_weakest_initiative(fairness_call, people, app, how):
    call, alpha, beta, generalist, specialist = fairness_call
    plain = _propose_via(how, app, call, people["admin"], [])
    assert set(plain) == {(alpha.id, generalist.id), (beta.id, specialist.id)}
    for options in (["maximin"], ["maximin", "diverse"]):
        fair = _propose_via(how, app, call, people["admin"], options)
        assert set(fair) == {(alpha.id, specialist.id), (beta.id, generalist.id)}
        # The trade the option makes: a lower total for a better weakest initiative.
        assert sum(fair.values()) < sum(plain.values())
        assert min(fair.values()) > min(plain.values())


@pytest.mark.parametrize("how", ["page", "command line"])
def test_the_diversity_option_takes_one_reviewer_per_organisation(diversity_call, people, app, how):
    call, alpha, twins, outsider = diversity_call
    plain = _propose_via(how, app, call, people["admin"], [])
    assert set(plain) == {(alpha.id, twin.id) for twin in twins}
    for options in (["diverse"], ["diverse", "maximin"]):
        diverse = _propose_via(how, app, call, people["admin"], options)
        chosen = {expert_id for _initiative, expert_id in diverse}
        assert len(chosen) == 2 and outsider.id in chosen and len(chosen & {t.id for t in twins}) == 1
