"""The catalogue search in the portal: the index follows commits, each role sees what it may,
Vietnamese with or without diacritics, the three modes, exports, and an index that heals."""

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from initiatives.models import InitiativeState
from initiatives.proposals import operations
from search.catalogue import catalogue

S = InitiativeState


@pytest.fixture
def settings():
    return {"EMBED_SYNC": True}


def accept(initiative, admin):
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        operations.transition(initiative, step, actor=admin)


@pytest.fixture
def shelf(people, make_initiative, db, app):
    """Accepted, screening and draft initiatives in several provinces."""
    items = {
        "irrigation": make_initiative(people["proposer"], submitted=True, title="Tưới tiêu thông minh cho lúa",
                                      summary="Hệ thống tưới nhỏ giọt tự động ở Đà Nẵng.", province="da-nang",
                                      keywords=["tưới tiêu", "IoT"]),
        "factory": make_initiative(people["proposer"], submitted=True, title="Nhà máy thông minh",
                                   summary="Robot hàn cho khu công nghiệp.", province="ho-chi-minh",
                                   field="manufacturing", keywords=["robot"], trl=7),
        "pending": make_initiative(people["other"], submitted=True, title="Tưới tiêu bằng cảm biến",
                                   summary="Cảm biến đất ở Đà Nẵng.", province="da-nang", trl=3),
        "draft": make_initiative(people["other"], title="Bản nháp tưới tiêu", province="da-nang"),
    }
    accept(items["irrigation"], people["admin"])
    accept(items["factory"], people["admin"])
    db.session.commit()
    catalogue(app).flush()
    return items


def titles(page: str, shelf) -> set[str]:
    """Which of the shelf's initiatives a results page links to."""
    return {key for key, item in shelf.items() if f'href="/initiatives/{item.id}"' in page}


def test_public_sees_accepted_only_and_admins_everything_but_drafts(shelf, client, people, login):
    public = client.get("/catalogue?q=tưới tiêu&mode=text").get_data(as_text=True)
    assert titles(public, shelf) == {"irrigation"}
    assert "1 results" in public
    admin = login(people["admin"]).get("/catalogue?q=tưới tiêu&mode=text").get_data(as_text=True)
    assert titles(admin, shelf) == {"irrigation", "pending"}
    # Asking for a state one may not see gives nothing rather than leaking it.
    asked = client.get("/catalogue?q=tưới&mode=text&state=screening").get_data(as_text=True)
    assert "0 results" in asked and "Tưới tiêu bằng cảm biến" not in asked


@pytest.mark.parametrize("query", ["Đà Nẵng", "da nang", "Da Nang", "ĐÀ NẴNG", "tuoi tieu thong minh"])
def test_diacritics_do_not_matter(shelf, client, query):
    page = client.get("/catalogue", query_string={"q": query, "mode": "text"}).get_data(as_text=True)
    assert "irrigation" in titles(page, shelf)


def test_old_province_names_find_the_merged_province(shelf, client):
    page = client.get("/catalogue", query_string={"q": "Bình Dương", "mode": "text"}).get_data(as_text=True)
    assert titles(page, shelf) == {"factory"}


def test_facets_count_what_the_user_may_see(shelf, people, login):
    catalogue_search = catalogue()
    public = catalogue_search.search("", None, mode="text")
    assert public.total == 2 and public.facets["province"] == {"da-nang": 1, "ho-chi-minh": 1}
    admin = catalogue_search.search("", people["admin"], mode="text")
    assert admin.total == 3 and admin.facets["province"]["da-nang"] == 2
    filtered = catalogue_search.search("", people["admin"], mode="text", filters={"province": "da-nang"})
    assert filtered.total == 2


@pytest.mark.parametrize("query", ['"unbalanced', "AND", "OR NOT", "province:", "nofield:x", "*", "((((",
                                   "trl:>=6", "a" * 1000])
def test_malformed_queries_never_fail(shelf, client, query):
    response = client.get("/catalogue", query_string={"q": query, "mode": "text"})
    assert response.status_code == 200


def test_field_filters_in_the_query_language(shelf, people):
    found = catalogue().search("province:ho-chi-minh", people["admin"], mode="text")
    assert [r.id for r in found.results] == [shelf["factory"].id]
    found = catalogue().search("trl:>=6", people["admin"], mode="text")
    assert shelf["factory"].id in [r.id for r in found.results]
    assert shelf["pending"].id not in [r.id for r in found.results]


def test_semantic_and_hybrid_modes(shelf, client):
    for mode in ("semantic", "hybrid"):
        page = client.get("/catalogue", query_string={"q": "tưới tiêu lúa", "mode": mode}).get_data(as_text=True)
        assert "irrigation" in titles(page, shelf), mode
        assert "pending" not in titles(page, shelf)


def test_the_index_follows_edits_and_withdrawals(shelf, people, app, db):
    found = catalogue().search("cảm biến", people["admin"], mode="text")
    assert shelf["pending"].id in [r.id for r in found.results]
    shelf["pending"].title = "Đổi tên hoàn toàn"
    operations.withdraw(shelf["pending"], people["other"])
    db.session.commit()
    catalogue(app).flush()
    renamed = catalogue().search("doi ten hoan toan", people["admin"], mode="text")
    assert [r.id for r in renamed.results] == [shelf["pending"].id]
    withdrawn = catalogue().search("", people["admin"], mode="text", filters={"state": "withdrawn"})
    assert [r.id for r in withdrawn.results] == [shelf["pending"].id]
    # A rolled-back change never reaches the index.
    shelf["irrigation"].title = "Không bao giờ lưu"
    db.session.rollback()
    catalogue(app).flush()
    assert catalogue().search("khong bao gio luu", people["admin"], mode="text").total == 0


def test_a_deleted_index_is_answered_from_the_database_and_rebuilt(shelf, app, client):
    path = Path(app.config["SEARCH_INDEX_PATH"])
    catalogue(app).close()
    shutil.rmtree(path)
    page = client.get("/catalogue?q=tưới&mode=text").get_data(as_text=True)
    assert "being rebuilt" in page and "irrigation" in titles(page, shelf)
    catalogue(app).wait_healed()
    assert catalogue(app).index.check().state == "ok"
    page = client.get("/catalogue?q=tưới&mode=text").get_data(as_text=True)
    assert "being rebuilt" not in page and "irrigation" in titles(page, shelf)


def test_a_corrupt_index_is_answered_from_the_database_and_rebuilt(shelf, app, client):
    path = Path(app.config["SEARCH_INDEX_PATH"])
    catalogue(app).close()
    for file in path.rglob("*"):
        if file.is_file() and file.suffix in (".seg", ".toc", ".pst", ".trm"):
            file.write_bytes(b"\x00garbage" * 10)
    page = client.get("/catalogue?q=tưới&mode=text").get_data(as_text=True)
    assert "being rebuilt" in page and "irrigation" in titles(page, shelf)
    catalogue(app).wait_healed()
    assert catalogue(app).index.check().state == "ok"


def test_an_index_emptied_by_mistake_is_rebuilt(shelf, app, client):
    catalogue(app).index.rebuild([])
    page = client.get("/catalogue?q=tưới&mode=text").get_data(as_text=True)
    assert "irrigation" in titles(page, shelf)
    catalogue(app).wait_healed()
    assert catalogue(app).index.check().doc_count >= 3


def test_admin_exports_the_result_set(shelf, people, login, client):
    response = login(people["admin"]).get("/catalogue/export.csv?q=tưới&mode=text")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["kind", "id", "external_ref", "title"]
    assert {r[3] for r in rows[1:]} == {shelf["irrigation"].title, shelf["pending"].title}
    assert client.get("/catalogue/export.csv").status_code == 403


def test_commands_reindex_check_and_query(shelf, runner):
    result = runner.invoke(args=["search", "reindex"])
    assert result.exit_code == 0 and "Indexed 3 documents" in result.output, result.output
    assert runner.invoke(args=["search", "check"]).exit_code == 0
    result = runner.invoke(args=["search", "query", "tuoi tieu", "--mode", "text", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["total"] == 2
    assert {r["title"] for r in document["results"]} == {shelf["irrigation"].title, shelf["pending"].title}
    assert set(document["results"][0]) >= {"id", "external_ref", "title", "score", "highlights"}


def test_more_like_this_on_an_initiative(shelf, people, make_initiative, login, db, app):
    similar = make_initiative(people["other"], submitted=True, title="Tưới tiêu thông minh cho lúa ở Huế",
                              summary="Hệ thống tưới nhỏ giọt tự động.", keywords=["tưới tiêu"])
    accept(similar, people["admin"])
    db.session.commit()
    page = login(people["admin"]).get(f"/initiatives/{shelf['irrigation'].id}").get_data(as_text=True)
    assert "More like this" in page and similar.title in page


def test_api_search_public_and_admin(shelf, people, client, db, app):
    from initiatives.api.tokens import create_token

    public = client.get("/api/v1/search?q=tưới tiêu&mode=text")
    assert public.status_code == 200
    document = public.get_json()
    assert document["total"] == 1 and document["results"][0]["id"] == shelf["irrigation"].id
    assert set(document["results"][0]) >= {"id", "external_ref", "title", "score", "highlights"}
    assert "state" in document["facets"]

    _, token = create_token(people["admin"], "tests")
    db.session.commit()
    admin = client.get("/api/v1/search?q=tưới tiêu&mode=hybrid&limit=5",
                       headers={"Authorization": f"Bearer {token}"}).get_json()
    assert {r["id"] for r in admin["results"]} == {shelf["irrigation"].id, shelf["pending"].id}
    assert client.get("/api/v1/search?limit=1000").status_code == 422
    assert client.get("/api/v1/search?mode=magic").status_code == 422
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/search" in spec["paths"]


@pytest.mark.parametrize("mode", ["text", "semantic", "hybrid"])
def test_comparisons_on_trl_in_every_mode(shelf, people, mode):
    found = catalogue().search("trl:>=6 robot", people["admin"], mode=mode)
    assert [r.id for r in found.results] == [shelf["factory"].id]
    found = catalogue().search("trl:<4", people["admin"], mode="text")
    assert [r.id for r in found.results] == [shelf["pending"].id]
    assert catalogue().search("trl:>9", people["admin"], mode="text").total == 0


def test_semantic_search_sees_a_vector_committed_after_its_matrix_was_cached(shelf, people, make_initiative,
                                                                              db, app):
    from initiatives.models import Initiative
    from search import vectors

    before = catalogue().search("robot hàn khu công nghiệp", None, mode="semantic")
    assert [r.id for r in before.results][:1] == [shelf["factory"].id]  # the matrix is now cached
    welding = make_initiative(people["other"], submitted=True, title="Robot hàn khu công nghiệp",
                              summary="Robot hàn khu công nghiệp.", keywords=["robot hàn"])
    accept(welding, people["admin"])
    db.session.commit()  # encoded after the commit (EMBED_SYNC), which drops the cached matrices
    after = catalogue().search("robot hàn khu công nghiệp", None, mode="semantic")
    assert welding.id in [r.id for r in after.results]
    # Another process changing a vector is seen too: the cache compares a stamp of the table.
    ids, _ = vectors.cached_matrix("initiative")
    assert welding.id in ids.tolist()
    factory = db.session.get(Initiative, shelf["factory"].id)
    factory.summary = "Phân bón hữu cơ cho cà phê."
    vectors.encode("initiative", [factory])
    db.session.commit()  # straight to the table: no signal, no forgetting
    ids, matrix = vectors.cached_matrix("initiative")
    row = matrix[ids.tolist().index(factory.id)]
    assert row.tolist() == vectors.vector_of("initiative", factory.id).tolist()


def test_semantic_visibility_and_filters_hold_with_the_cached_matrix(shelf, people):
    for _ in range(2):  # filled, then served from the cache
        public = catalogue().search("tưới tiêu cảm biến", None, mode="semantic")
        assert shelf["pending"].id not in [r.id for r in public.results]
        admin = catalogue().search("tưới tiêu cảm biến", people["admin"], mode="semantic",
                                   filters={"state": "screening"})
        assert [r.id for r in admin.results] == [shelf["pending"].id]
        assert admin.facets["state"] == {"screening": 1}


def test_hybrid_adds_the_any_word_ranking_when_all_words_find_little(shelf, people, app):
    app.config["SEMANTIC_MIN_SCORE"] = 0.999  # the semantic side finds nothing here
    text = catalogue().search("robot nhỏ giọt", people["admin"], mode="text")
    assert text.total == 0  # no initiative has both words
    assert catalogue().search("robot nhỏ giọt", people["admin"], mode="hybrid").total == 0  # off by default
    app.config["HYBRID_ANY_WORD_BELOW"] = 10
    hybrid = catalogue().search("robot nhỏ giọt", people["admin"], mode="hybrid")
    assert {r.id for r in hybrid.results} == {shelf["factory"].id, shelf["irrigation"].id}
    assert all("<mark>" in r.snippet or "<mark>" in r.title_html for r in hybrid.results)
    # A query written with syntax says what it wants: no any-word ranking.
    assert catalogue().search('"robot nhỏ giọt"', people["admin"], mode="hybrid").total == 0


def test_more_like_this_leaves_out_what_the_visitor_may_not_see(shelf, people, client):
    similar = catalogue().more_like_this(shelf["irrigation"], None)
    assert shelf["pending"].id not in [i.id for i in similar]
    assert shelf["irrigation"].id not in [i.id for i in similar]
    assert shelf["factory"].id in [i.id for i in similar]
    admin = catalogue().more_like_this(shelf["irrigation"], people["admin"])
    assert shelf["pending"].id in [i.id for i in admin]


def test_status_is_another_name_for_the_state_filter(shelf, people, client, login, db):
    from initiatives.api.tokens import create_token

    _, token = create_token(people["admin"], "tests")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    for name in ("status", "state"):
        document = client.get(f"/api/v1/search?mode=text&{name}=screening", headers=headers).get_json()
        assert [r["id"] for r in document["results"]] == [shelf["pending"].id], name
        assert document["facets"]["state"] == {"screening": 1}
    # Anonymous callers asking for a state they may not see get nothing, under either name.
    assert client.get("/api/v1/search?mode=text&status=screening").get_json()["total"] == 0
    page = login(people["admin"]).get("/catalogue?mode=text&status=accepted").get_data(as_text=True)
    assert titles(page, shelf) == {"irrigation", "factory"}
    found = catalogue().search("status:screening", people["admin"], mode="text")
    assert [r.id for r in found.results] == [shelf["pending"].id]


@pytest.mark.parametrize("query, found", [('"tưới tiêu', "irrigation"), ("tưới tiêu AND", "irrigation"),
                                          ("OR robot", "factory"), ("NOT", None), ("((robot", "factory"),
                                          ("robot:hàn", "factory")])
def test_malformed_queries_are_answered_as_plain_words(shelf, client, query, found):
    response = client.get("/catalogue", query_string={"q": query, "mode": "text"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Traceback" not in page
    assert titles(page, shelf) == ({found} if found else set()), query


def test_semantic_results_sorted_by_date_are_the_same_results_newest_first(shelf, people, db, app):
    relevance = catalogue().search("tưới tiêu lúa", people["admin"], mode="semantic")
    assert relevance.total >= 2
    shelf[next(k for k, v in shelf.items() if v.id == relevance.results[-1].id)].title += " (cập nhật)"
    db.session.commit()
    catalogue(app).flush()
    by_date = catalogue().search("tưới tiêu lúa", people["admin"], mode="semantic", sort="date")
    assert {r.id for r in by_date.results} == {r.id for r in relevance.results}
    stamps = [r.item.updated_at for r in by_date.results]
    assert stamps == sorted(stamps, reverse=True)
    assert by_date.results[0].id == relevance.results[-1].id  # the one just edited


def test_admins_search_demands_and_experts_and_no_one_else_does(shelf, people, make_demand, client, login, db):
    from initiatives.api.tokens import create_token
    from initiatives.experts import operations as experts

    demand = make_demand(people["owner"], title="Cần hệ thống tưới tiêu cho vườn cam")
    profile = experts.profile_for(people["expert"])
    experts.update_profile(profile, people["expert"], name="Lê Minh Chí", organisation="Viện Công nghệ",
                           bio="Chuyên gia tưới tiêu và cảm biến độ ẩm.", keywords="tưới tiêu", max_load=3,
                           available=True)
    _, token = create_token(people["admin"], "tests")
    db.session.commit()
    catalogue().flush()
    admin = login(people["admin"])
    page = admin.get("/catalogue?q=tuoi tieu&mode=text&kind=demand").get_data(as_text=True)
    assert f'href="/demands/{demand.id}"' in page and "/initiatives/" not in page.split("results")[-1]
    page = admin.get("/catalogue?q=tuoi tieu&mode=text&kind=expert").get_data(as_text=True)
    assert f'href="/expert/{profile.id}"' in page
    api = client.get("/api/v1/search?q=tuoi tieu&mode=text&kind=demand",
                     headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [(r["kind"], r["id"]) for r in api["results"]] == [("demand", demand.id)]
    # Everyone else asking for demands or experts is shown the public initiatives only.
    for who in (None, people["owner"], people["expert"]):
        asker = login(who) if who else client
        page = asker.get("/catalogue?q=tuoi tieu&mode=text&kind=expert").get_data(as_text=True)
        assert f'href="/expert/{profile.id}"' not in page and titles(page, shelf) == {"irrigation"}
    anonymous = client.get("/api/v1/search?q=tuoi tieu&mode=text&kind=demand").get_json()
    assert [(r["kind"], r["id"]) for r in anonymous["results"]] == [("initiative", shelf["irrigation"].id)]


def test_a_demand_owner_searches_the_catalogue_from_the_demand_page(shelf, people, make_demand, login):
    demand = make_demand(people["owner"], title="Tưới tiêu thông minh cho vườn cam")
    owner = login(people["owner"])
    page = owner.get(f"/demands/{demand.id}").get_data(as_text=True)
    assert 'action="/catalogue"' in page and f'value="{demand.title}"' in page
    found = owner.get("/catalogue", query_string={"q": demand.title, "mode": "hybrid"}).get_data(as_text=True)
    assert "irrigation" in titles(found, shelf) and "pending" not in titles(found, shelf)


@pytest.mark.parametrize("query", ["tuoi tieu", "TƯỚI TIÊU", "tưới tiêu", "nho giot"])
def test_the_database_search_ignores_diacritics_and_case(shelf, people, query):
    from search.catalogue import database_search

    answer = database_search(query, ["initiative"], {}, 1, 20)
    assert {r.id for r in answer.results} == {shelf["irrigation"].id, shelf["pending"].id} - (
        {shelf["pending"].id} if query == "nho giot" else set())
    assert answer.notice
    # Keywords are searched too, and LIKE's wildcards in a query are plain characters.
    assert [r.id for r in database_search("RICE", ["initiative"], {}, 1, 20).results] == [shelf["pending"].id]
    assert database_search("%", ["initiative"], {}, 1, 20).total == 0


def test_a_change_another_process_writes_during_a_rebuild_survives_the_swap(shelf, people, make_demand, app, db,
                                                                             monkeypatch):
    from search import catalogue as catalogue_module
    from search.catalogue import FACETS, initiative_doc
    from search.textindex import TextIndex

    demand = make_demand(people["owner"], title="Cần máy sấy cà phê")
    demand_id = demand.id
    catalogue(app).flush()
    read_everything = catalogue_module.all_docs

    def read_while_a_worker_writes(progress=None):
        documents = list(read_everything(progress))  # the rebuild has read the database
        # A web worker (another process: its own index object) commits an edit and a deletion
        # and writes them to the generation still live. Plain ORM changes: no signal here.
        shelf["factory"].title = "Robot hàn đổi tên giữa chừng"
        db.session.delete(demand)
        db.session.commit()
        with TextIndex(app.config["SEARCH_INDEX_PATH"], FACETS) as worker:
            worker.upsert([initiative_doc(shelf["factory"])])
            worker.delete("demand", demand_id)
            worker.flush()
        yield from documents

    monkeypatch.setattr(catalogue_module, "all_docs", read_while_a_worker_writes)
    assert catalogue(app).rebuild() == 4  # three initiatives and the demand, read before its deletion
    found = catalogue().search("đổi tên giữa chừng", people["admin"], mode="text")
    assert [r.id for r in found.results] == [shelf["factory"].id]
    assert catalogue(app).index.search("", kinds=["demand"]).total == 0


def test_index_writes_that_keep_failing_are_healed_from_the_database(shelf, people, app, db, monkeypatch):
    from whoosh.index import LockError

    from search.textindex import IndexWriteError

    monkeypatch.setattr("search.textindex.WRITE_RETRY_DELAYS", (0.01,))
    index = catalogue(app).index
    locked = index._current_dir()
    commit = index._commit

    def write(target, ops):
        if Path(target.storage.folder) == locked:  # another process holds this generation's lock
            raise LockError("the write lock stayed taken")
        commit(target, ops)

    monkeypatch.setattr(index, "_commit", write)
    shelf["pending"].title = "Đổi tên khi chỉ mục bị khóa"
    operations.withdraw(shelf["pending"], people["other"])
    db.session.commit()
    with pytest.raises(IndexWriteError):
        index.flush()
    # Nobody calls Catalogue.flush in the portal: the failure alone starts the rebuild.
    catalogue(app).wait_healed()
    assert not index.needs_rebuild
    found = catalogue().search("doi ten khi chi muc bi khoa", people["admin"], mode="text")
    assert [r.id for r in found.results] == [shelf["pending"].id]


def test_hybrid_sorted_by_date_keeps_what_hybrid_found(shelf, people):
    text = catalogue().search("robot nhỏ giọt", people["admin"], mode="text")
    assert text.total == 0  # no initiative has both words: only the semantic side finds any
    relevance = catalogue().search("robot nhỏ giọt", people["admin"], mode="hybrid")
    assert relevance.total >= 2
    by_date = catalogue().search("robot nhỏ giọt", people["admin"], mode="hybrid", sort="date")
    assert by_date.mode == "hybrid"
    assert {r.id for r in by_date.results} == {r.id for r in relevance.results}
    stamps = [r.item.updated_at for r in by_date.results]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_counts_cut_at_the_ranking_depth_are_lower_bounds(shelf, client, monkeypatch, mode):
    query = {"q": "tưới tiêu thông minh", "mode": mode}
    whole = catalogue().search(query["q"], None, mode=mode)
    assert whole.exact and whole.total == 2
    assert client.get("/api/v1/search", query_string=query).get_json()["total_exact"] is True
    monkeypatch.setattr("search.catalogue.SEMANTIC_DEPTH", 1)
    monkeypatch.setattr("search.catalogue.FUSION_DEPTH", 1)
    cut = catalogue().search(query["q"], None, mode=mode)
    assert not cut.exact and cut.total >= 1
    page = client.get("/catalogue", query_string=query).get_data(as_text=True)
    assert f"{cut.total}+ results" in page
    assert re.search(r'<span class="badge text-bg-light">\d+\+</span>', page)  # facet counts too
    document = client.get("/api/v1/search", query_string=query).get_json()
    assert document["total_exact"] is False and document["total"] == cut.total


def facet_count(page: str, name: str, value) -> int | None:
    """The count a catalogue page shows beside a facet value (None: the value is not listed)."""
    match = re.search(rf'href="[^"]*[?;]{name}={value}(?:&amp;[^"]*)?"[^>]*>\s*<span>[^<]*</span>'
                      rf'<span class="badge[^"]*">(\d+)', page)
    return int(match.group(1)) if match else None


@pytest.fixture
def themed(shelf, people, make_initiative, db):
    """A second call with one accepted initiative in it, TRL 7 like the factory."""
    from initiatives.models import Call

    call = Call(slug="green-farming", title="Chương trình nông nghiệp xanh")
    db.session.add(call)
    db.session.commit()
    compost = make_initiative(people["other"], submitted=True, title="Phân bón hữu cơ từ rơm",
                              summary="Ủ rơm thành phân bón.", call_id=call.id, trl=7)
    accept(compost, people["admin"])
    db.session.commit()
    catalogue().flush()
    return call, compost


def test_call_trl_and_year_facets_count_and_filter(shelf, themed, client):
    call, compost = themed
    standing = shelf["irrigation"].call_id
    year = shelf["irrigation"].submitted_at.year
    page = client.get("/catalogue?mode=text").get_data(as_text=True)
    assert facet_count(page, "call", standing) == 2 and facet_count(page, "call", call.id) == 1
    assert call.title in page  # the call is shown by its title
    assert facet_count(page, "trl", 7) == 2 and facet_count(page, "trl", 5) == 1
    assert facet_count(page, "trl", 3) is None  # the screening initiative is not public
    assert facet_count(page, "year", year) == 3

    document = client.get("/api/v1/search?mode=text").get_json()
    assert document["facets"]["call"] == {str(standing): 2, str(call.id): 1}
    assert document["facets"]["trl"] == {"7": 2, "5": 1}
    assert document["facets"]["year"] == {str(year): 3}

    only_call = client.get(f"/catalogue?mode=text&call={call.id}").get_data(as_text=True)
    assert f'href="/initiatives/{compost.id}"' in only_call and titles(only_call, shelf) == set()
    document = client.get(f"/api/v1/search?mode=text&call={call.id}").get_json()
    assert [r["id"] for r in document["results"]] == [compost.id]
    assert document["facets"]["call"] == {str(call.id): 1}
    trl = client.get("/api/v1/search?mode=text&trl=7").get_json()
    assert {r["id"] for r in trl["results"]} == {compost.id, shelf["factory"].id}
    assert trl["facets"]["trl"] == {"7": 2}
    page = client.get("/catalogue?mode=text&trl=7").get_data(as_text=True)
    assert titles(page, shelf) == {"factory"} and "2 results" in page
    page = client.get(f"/catalogue?mode=text&year={year}").get_data(as_text=True)
    assert titles(page, shelf) == {"irrigation", "factory"} and "3 results" in page
    assert "0 results" in client.get("/catalogue?mode=text&year=1999").get_data(as_text=True)


@pytest.mark.parametrize("query, found", [
    ("province:da-nang", {"irrigation", "pending"}),
    ("province:da-nang tưới", {"irrigation", "pending"}),
    ("province:lao-cai", set()),
    ('"tưới tiêu"', {"irrigation", "pending"}),
    ('"tưới tiêu', {"irrigation", "pending"}),
    ("status:screening", {"pending"}),
    ("state:accepted province:ho-chi-minh", {"factory"}),
    ("field:manufacturing", {"factory"}),
    ("trl:7", {"factory"}),
    ("robot OR nhỏ", {"factory", "irrigation"}),
    ("tưới NOT cảm", {"irrigation"}),
    ("(tưới AND tiêu)", {"irrigation", "pending"}),
    ("title:robot", {"factory"}),
    ("robot OR province:da-nang", {"factory"}),  # a filter as an alternative is not a filter
    ("*", {"irrigation", "pending", "factory"}),
])
def test_the_database_search_follows_field_filters_and_operators(shelf, query, found):
    from search.catalogue import database_search

    answer = database_search(query, ["initiative"], {}, 1, 20)
    assert {key for key, item in shelf.items() if item.id in {r.id for r in answer.results}} == found


def test_the_database_search_keeps_the_filters_it_was_given(shelf):
    from search.catalogue import database_search

    year = shelf["irrigation"].submitted_at.year
    public = {"state": "accepted"}
    assert database_search("status:screening", ["initiative"], public, 1, 20).total == 0
    assert [r.id for r in database_search(f"year:{year} robot", ["initiative"], public, 1, 20).results] == [
        shelf["factory"].id]
    at_least_six = {"trl": ["6", "7", "8", "9"]}  # trl:>=6, as take_comparisons gives it
    assert [r.id for r in database_search("trl:7", ["initiative"], at_least_six, 1, 20).results] == [
        shelf["factory"].id]
    assert database_search("trl:5", ["initiative"], at_least_six, 1, 20).total == 0


@pytest.mark.parametrize("query, rest, ranges", [
    ("trl:>=6 robot", "robot", {"trl": ["6", "7", "8", "9"]}),
    ("robot AND trl:>7", "robot", {"trl": ["8", "9"]}),
    ("robot OR hàn trl:<3", "robot OR hàn", {"trl": ["1", "2"]}),  # (robot OR hàn) AND trl:<3
    ("robot OR trl:>=6", "robot OR trl:>=6", {}),
    ("trl:>=6 OR robot", "trl:>=6 OR robot", {}),
    ("trl:>=6 AND robot OR hàn", "trl:>=6 AND robot OR hàn", {}),  # (trl AND robot) OR hàn
    ("NOT trl:>=6 robot", "NOT trl:>=6 robot", {}),
    ("robot ANDNOT trl:>=6", "robot ANDNOT trl:>=6", {}),
    ('"robot trl:>=6"', '"robot trl:>=6"', {}),
    ('"robot trl:>=6', '"robot trl:>=6', {}),
    ("(robot trl:>=6) OR hàn", "(robot trl:>=6) OR hàn", {}),
])
def test_only_comparisons_every_result_must_pass_become_filters(query, rest, ranges):
    from search.catalogue import take_comparisons

    assert take_comparisons(query) == (rest, ranges)


def test_comparisons_under_or_and_not_are_searched_as_ranges(shelf, people):
    found = catalogue().search("tưới OR trl:>=6", people["admin"], mode="text")
    assert {r.id for r in found.results} == {shelf["irrigation"].id, shelf["pending"].id, shelf["factory"].id}
    found = catalogue().search("NOT trl:>=6", people["admin"], mode="text")
    assert {r.id for r in found.results} == {shelf["irrigation"].id, shelf["pending"].id}


def test_the_query_command_says_when_it_can_only_show_the_public_view(make_user, make_initiative, runner):
    from initiatives.models import Role

    proposer = make_user(Role.PROPOSER)
    make_initiative(proposer, submitted=True, title="Tưới tiêu chờ duyệt")  # only an admin would see it
    catalogue().flush()
    result = runner.invoke(args=["search", "query", "tưới tiêu", "--mode", "text", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == 0
    assert "no administrator" in result.stderr
    make_user(Role.ADMIN)
    result = runner.invoke(args=["search", "query", "tưới tiêu", "--mode", "text", "--json"])
    assert json.loads(result.stdout)["total"] == 1 and result.stderr == ""


# Who proposed an initiative is a contact detail (Initiative.identity_visible_to): its
# organisation ("Đại học Cần Thơ" for every initiative of the shelf) must not find it for anyone
# who may not see it. Admins look it up with org:"...". Semantic ranking may still list an
# initiative whose text happens to be close to the words (the vectors are made without the
# organisation): in hybrid mode the index must then add nothing to what semantic mode finds. ----

ORGANISATION_QUERIES = ["Đại học Cần Thơ", "dai hoc can tho", "ĐẠI HỌC", 'org:"Đại học Cần Thơ"',
                        'org:"dai hoc can tho"', 'organisation:"Đại học"', "organization:(dai hoc)"]


def found_ids(client, query: str, mode: str, headers=None) -> tuple[set[int], set[int]]:
    """The initiatives the catalogue page and the API list for ``query``."""
    page = client.get("/catalogue", query_string={"q": query, "mode": mode}).get_data(as_text=True)
    listed = {int(i) for i in re.findall(r'href="/initiatives/(\d+)"', page)}
    document = client.get("/api/v1/search", query_string={"q": query, "mode": mode}, headers=headers or {})
    assert document.status_code == 200
    return listed, {r["id"] for r in document.get_json()["results"]}


@pytest.mark.parametrize("mode", ["text", "hybrid"])
@pytest.mark.parametrize("who", ["anonymous", "owner"])
def test_no_one_but_admins_finds_initiatives_by_their_organisation(shelf, people, client, login, db, who, mode):
    from initiatives.api.tokens import create_token

    _, token = create_token(people["owner"], "tests")
    db.session.commit()
    asker, headers = (client, {}) if who == "anonymous" else (login(people["owner"]), {"Authorization": f"Bearer {token}"})
    assert found_ids(asker, "tưới tiêu", mode, headers) == ({shelf["irrigation"].id},) * 2  # the shelf is there
    for query in ORGANISATION_QUERIES:
        by_meaning = (set(), set()) if mode == "text" else found_ids(asker, query, "semantic", headers)
        assert found_ids(asker, query, mode, headers) == by_meaning, query


def test_the_vectors_are_made_without_the_organisation(shelf):
    from search import vectors

    for item in shelf.values():
        assert item.organisation == "Đại học Cần Thơ"
        assert "Cần Thơ" not in vectors.embedded_text("initiative", item)


@pytest.mark.parametrize("mode", ["text", "hybrid"])
def test_admins_find_an_organisation_with_org_only(shelf, people, client, login, db, mode):
    from initiatives.api.tokens import create_token

    _, token = create_token(people["admin"], "tests")
    db.session.commit()
    admin, headers = login(people["admin"]), {"Authorization": f"Bearer {token}"}
    everyone = {shelf[key].id for key in ("irrigation", "factory", "pending")}  # drafts are never indexed
    for query in ('org:"Đại học Cần Thơ"', 'organisation:"dai hoc can tho"', "organization:(đại học)"):
        assert found_ids(admin, query, mode, headers) == (everyone, everyone), query
    assert found_ids(admin, 'org:"Viện Công nghệ"', mode, headers) == (set(), set())
    # Plain words look in the catalogue's text only, for admins too (docs/search.md).
    assert catalogue().search("Đại học", people["admin"], mode="text").total == 0


def test_the_query_command_finds_an_organisation_only_for_an_administrator(make_user, make_initiative, runner, db):
    from initiatives.models import Role

    initiative = make_initiative(make_user(Role.PROPOSER), submitted=True)
    accept(initiative, None)  # by no one: an administrator's account would change what the command shows
    db.session.commit()
    catalogue().flush()

    def titles_found(query, mode):
        result = runner.invoke(args=["search", "query", query, "--mode", mode, "--json"])
        assert result.exit_code == 0, result.output
        return [r["title"] for r in json.loads(result.stdout)["results"]]

    assert titles_found("cảm biến", "text") == [initiative.title]
    for query in ('org:"Đại học Cần Thơ"', "dai hoc can tho"):  # no administrator: the public view
        assert titles_found(query, "text") == [], query
        assert titles_found(query, "hybrid") == titles_found(query, "semantic"), query
    make_user(Role.ADMIN)
    for mode in ("text", "hybrid"):
        assert titles_found('org:"dai hoc can tho"', mode)[:1] == [initiative.title]


def test_the_database_search_finds_an_organisation_only_for_admins(shelf):
    from search.catalogue import database_search

    accepted = {shelf["irrigation"].id, shelf["factory"].id}
    for query in ('org:"Đại học Cần Thơ"', "organisation:dai", "dai hoc can tho", "Đại học"):
        assert database_search(query, ["initiative"], {"state": "accepted"}, 1, 20).total == 0, query
        assert database_search(query, ["initiative"], {}, 1, 20, hidden=("organisation",)).total == 0, query
    assert {r.id for r in database_search('org:"Đại học Cần Thơ"', ["initiative"], {}, 1, 20, hidden=()).results} == (
        accepted | {shelf["pending"].id})
    assert {r.id for r in database_search("tưới NOT org:dai", ["initiative"], {}, 1, 20, hidden=()).results} == set()
    assert database_search("Đại học", ["initiative"], {}, 1, 20, hidden=()).total == 0


def test_an_index_of_the_previous_schema_is_rebuilt_without_the_organisation_in_its_words(shelf, people, app, client):
    from search.textindex import META_FILE, SCHEMA_VERSION

    path = Path(app.config["SEARCH_INDEX_PATH"])
    catalogue(app).close()
    generation = path / (path / "CURRENT").read_text().strip()
    meta = json.loads((generation / META_FILE).read_text())
    (generation / META_FILE).write_text(json.dumps({**meta, "schema_version": SCHEMA_VERSION - 1}))
    assert catalogue(app).index.check().state == "corrupt"
    page = client.get("/catalogue", query_string={"q": 'org:"Đại học Cần Thơ"', "mode": "text"}).get_data(as_text=True)
    assert "being rebuilt" in page and titles(page, shelf) == set()
    catalogue(app).wait_healed()
    health = catalogue(app).index.check()
    assert health.state == "ok" and health.doc_count == 3
    live = path / (path / "CURRENT").read_text().strip()
    assert json.loads((live / META_FILE).read_text())["schema_version"] == SCHEMA_VERSION
    page = client.get("/catalogue", query_string={"q": "dai hoc can tho", "mode": "text"}).get_data(as_text=True)
    assert "being rebuilt" not in page and titles(page, shelf) == set()
    assert {r.id for r in catalogue().search('org:"dai hoc can tho"', people["admin"], mode="text").results} == {
        shelf[key].id for key in ("irrigation", "factory", "pending")}


# Accents: a word typed with them matches only those accents, in every mode and in the fallback.

@pytest.fixture
def accented(people, make_initiative, db, app):
    """Accepted initiatives whose words differ by their accents, or stand together or apart."""
    def make(title, summary, keywords):
        item = make_initiative(people["proposer"], submitted=True, title=title, summary=summary, keywords=keywords,
                               description="Thử nghiệm ở ba xã.", expected_impact="Giảm chi phí.", province="lao-cai")
        accept(item, people["admin"])
        return item

    items = {
        "rice": make("Giống lúa chịu mặn", "Lúa cho đồng bằng sông Cửu Long.", ["nông nghiệp"]),
        "fraud": make("Cảnh báo cuộc gọi giả mạo", "Phát hiện lừa đảo qua điện thoại.", ["an ninh mạng"]),
        "da_nang": make("Bản đồ du lịch số", "Cho khách đến Đà Nẵng.", ["du lịch"]),
        "yield": make("Máy gặt mới", "Đa dạng cây trồng, tăng năng suất.", ["cơ khí"]),
        "together": make("Xử lý nước thải làng nghề", "Bể lắng sinh học.", ["môi trường"]),
        "apart": make("Nước sạch và rác thải làng nghề", "Nước mưa, nước giếng; thải bỏ rác đúng chỗ.", ["môi trường"]),
    }
    db.session.commit()
    catalogue(app).flush()
    return items


def in_order(page: str, items) -> list[str]:
    """The keys of ``items`` a results page links to, in the order it lists them."""
    found = [(page.find(f'href="/initiatives/{item.id}"'), key) for key, item in items.items()]
    return [key for position, key in sorted(found) if position >= 0]


def test_a_word_typed_with_accents_finds_only_those_accents_on_the_page(accented, client):
    def page(query, mode="text"):
        return client.get("/catalogue", query_string={"q": query, "mode": mode}).get_data(as_text=True)

    found = page("lúa")
    assert in_order(found, accented) == ["rice"] and "<mark>lúa</mark>" in found.lower()
    assert in_order(page("lua"), accented) == ["rice", "fraud"]
    assert in_order(page("Đà Nẵng"), accented) == ["da_nang"]
    assert in_order(page("da nang"), accented) == ["da_nang", "yield"]
    assert in_order(page("lúa chiu man"), accented) == ["rice"]
    # Hybrid adds what is close in meaning, but marks only the words typed with their accents.
    assert "<mark>lừa</mark>" not in page("lúa", "hybrid").lower()


def test_words_typed_side_by_side_rank_what_holds_them_side_by_side_first(accented, client):
    for query in ("nước thải", "nuoc thai"):
        page = client.get("/catalogue", query_string={"q": query, "mode": "text"}).get_data(as_text=True)
        assert in_order(page, accented) == ["together", "apart"], query


def test_the_database_answers_with_the_accent_rule_while_the_index_is_rebuilt(accented, app, client):
    catalogue(app).close()
    shutil.rmtree(Path(app.config["SEARCH_INDEX_PATH"]))
    page = client.get("/catalogue", query_string={"q": "lúa", "mode": "text"}).get_data(as_text=True)
    assert "being rebuilt" in page and in_order(page, accented) == ["rice"]
    page = client.get("/catalogue", query_string={"q": "Đà Nẵng", "mode": "text"}).get_data(as_text=True)
    assert in_order(page, accented) == ["da_nang"]
    page = client.get("/catalogue", query_string={"q": "lua", "mode": "text"}).get_data(as_text=True)
    assert set(in_order(page, accented)) == {"rice", "fraud"}
    catalogue(app).wait_healed()
