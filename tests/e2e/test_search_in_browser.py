"""Issue 5's story in a real browser, on the demo data with the real model: a visitor types
"tuoi tieu thong minh" and finds the Vietnamese smart-irrigation initiatives, filters by province
with the right counts, switches to semantic mode (typed with accents) and finds the English ones too; an admin's
search still answers with the index directory deleted, and the index is whole a moment later."""

import shutil
from pathlib import Path

import pytest

from initiatives.config import DefaultConfig
from initiatives.demo import DEMO_PASSWORD
from initiatives.models import Initiative, User
from search.catalogue import catalogue
from tests.e2e.conftest import expect

pytestmark = [pytest.mark.e2e, pytest.mark.model]
QUERY = "tuoi tieu thong minh"
VIETNAMESE = {"DEMO-INI-073": "vinh-long", "DEMO-INI-074": "dong-thap"}
ENGLISH = {"DEMO-INI-075", "DEMO-INI-076"}


@pytest.fixture
def settings(_server):
    return {"EMBED_SYNC": True, "SERVER_NAME": f"127.0.0.1:{_server.port}",
            "EMBEDDING_MODEL": DefaultConfig.EMBEDDING_MODEL, "EMBED_ON_SAVE": False}


def titles(page) -> list[str]:
    return [link.inner_text().strip() for link in page.locator("article.search-result h2 a").all()]


def search(page, query: str, mode: str) -> None:
    """Type ``query`` in the search box in ``mode`` and press Enter (by the fields' names: the
    demo admin reads the portal in Vietnamese)."""
    form = page.get_by_role("search")
    form.locator("select[name=mode]").select_option(mode)
    box = form.locator("input[name=q]")
    box.fill(query)
    box.press("Enter")
    expect(box).to_have_value(query)
    expect(form.locator("select[name=mode]")).to_have_value(mode)


def test_smart_irrigation_in_the_browser(stage, runner, app, db):
    for command in (["demo"], ["match", "embed"], ["search", "reindex"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    catalogue(app).flush()
    title = {i.external_ref: i.title for i in Initiative.query.filter(
        Initiative.external_ref.in_([*VIETNAMESE, *ENGLISH]))}
    vietnamese = {title[ref] for ref in VIETNAMESE}

    visitor = stage.window()
    visitor.goto("/")
    visitor.get_by_role("link", name="Catalogue").click()
    search(visitor, QUERY, "hybrid")
    expect(visitor.locator("article.search-result").first).to_be_visible()
    assert set(titles(visitor)[:2]) == vietnamese, titles(visitor)
    stage.shot(visitor, "hybrid")

    # Full text: exactly the two, one per province, and a province keeps only its own.
    search(visitor, QUERY, "text")
    expect(visitor.locator("#result-count")).to_contain_text("2 results")
    for province in VIETNAMESE.values():
        facet = visitor.locator(f".facet-province a[href*='province={province}']")
        expect(facet.locator(".badge")).to_have_text("1")
    visitor.locator(".facet-province a[href*='province=vinh-long']").click()
    expect(visitor.locator("article.search-result")).to_have_count(1)
    assert titles(visitor) == [title["DEMO-INI-073"]]
    visitor.locator(".facet-province a.active").click()  # the same link again lifts the filter
    expect(visitor.locator("article.search-result")).to_have_count(2)

    # Semantic, typed with its accents: the English smart-irrigation initiatives join the
    # Vietnamese ones at the top (without accents the models stay under the relevance floor).
    search(visitor, "tưới tiêu thông minh", "semantic")
    expect(visitor.locator("article.search-result").nth(4)).to_be_visible()
    top = set(titles(visitor)[:5])
    assert {title[ref] for ref in ENGLISH} | vietnamese <= top, top
    stage.shot(visitor, "semantic")

    # The admin deletes the index directory: answers keep coming, with a notice, then it heals.
    admin_user = User.query.filter_by(email="admin@demo.vn").one()
    assert admin_user.is_admin
    admin = stage.signed_in(admin_user.email, DEMO_PASSWORD)
    catalogue(app).close()
    shutil.rmtree(Path(app.config["SEARCH_INDEX_PATH"]))
    admin.goto("/catalogue")
    search(admin, QUERY, "text")
    expect(admin.locator("#search-notice")).to_be_visible()
    assert vietnamese <= set(titles(admin))
    catalogue(app).wait_healed()
    admin.reload()
    expect(admin.locator("#search-notice")).to_have_count(0)
    assert vietnamese <= set(titles(admin))
    assert catalogue(app).index.check().state == "ok"
