"""The interface in a real browser: Vietnamese at one click, the catalogue found without
diacritics, and the submission form used with the keyboard alone."""

import re

import pytest

from initiatives.models import InitiativeState, Role
from initiatives.proposals import operations as proposals
from search.catalogue import catalogue
from tests.conftest import PASSWORD
from tests.e2e.conftest import badge, expect, flash

pytestmark = pytest.mark.e2e


def test_the_interface_speaks_vietnamese(stage, make_user):
    visitor = stage.window()
    visitor.goto("/")
    expect(visitor.locator("nav").get_by_role("link", name="Sign in")).to_be_visible()
    visitor.get_by_role("link", name="Tiếng Việt").click()
    expect(visitor.locator("html")).to_have_attribute("lang", "vi")
    nav = visitor.locator("nav")
    expect(nav.get_by_role("link", name="Đăng nhập")).to_be_visible()
    expect(nav.get_by_role("link", name="Đăng ký")).to_be_visible()
    nav.get_by_role("link", name="Đăng ký").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Tạo tài khoản")
    expect(visitor.get_by_label("Họ và tên")).to_be_visible()
    stage.shot(visitor, "register-vi")
    visitor.get_by_role("link", name="English").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Create an account")

    # A signed-in proposer's choice is kept on the account.
    user = make_user(Role.PROPOSER, email="lan@example.org", name="Hoàng Lan")
    proposer = stage.signed_in(user.email)
    proposer.get_by_role("link", name="Tiếng Việt").click()
    proposer.locator("nav").get_by_role("link", name="Sáng kiến của tôi").click()
    expect(proposer.get_by_role("button", name="Đăng xuất")).to_be_visible()
    proposer.get_by_role("link", name="Sáng kiến mới").click()
    expect(proposer.get_by_role("heading", level=1)).to_have_text("Sáng kiến mới")
    expect(proposer.get_by_label("Tiêu đề", exact=True)).to_be_editable()
    expect(proposer.get_by_role("button", name="Lưu bản nháp")).to_be_visible()
    stage.shot(proposer, "new-initiative-vi")
    again = stage.signed_in(user.email)  # another browser, in English until the account speaks
    expect(again.locator("html")).to_have_attribute("lang", "vi")
    expect(again.locator("nav").get_by_role("link", name="Sáng kiến của tôi")).to_be_visible()


def accept(initiative, admin):
    """Walk a submitted initiative to ``accepted`` as the review would."""
    for step in (InitiativeState.UNDER_REVIEW, InitiativeState.REVIEWED, InitiativeState.ACCEPTED):
        proposals.transition(initiative, step, actor=admin)


def test_the_catalogue_finds_vietnamese_titles_without_diacritics(stage, app, people, make_initiative, db):
    rice = make_initiative(people["proposer"], submitted=True, title="Cảm biến độ ẩm đất cho ruộng lúa",
                           province="can-tho")
    flood = make_initiative(people["other"], submitted=True, title="Bản đồ ngập lụt Đà Nẵng",
                            summary="Cảnh báo ngập cho khu dân cư ven sông Hàn.", keywords=["ngập lụt"],
                            field="environment", province="da-nang")
    for initiative in (rice, flood):
        accept(initiative, people["admin"])
    db.session.commit()
    catalogue(app).flush()

    visitor = stage.window()
    visitor.goto("/")
    visitor.get_by_role("link", name="Catalogue").click()
    results = visitor.locator("article.search-result")
    search = visitor.get_by_role("searchbox", name="Search")
    # The placeholder's quotes once ended the attribute and took the box's label with them.
    expect(search).to_have_attribute("placeholder", re.compile(r'^Words, "phrases", .* trl:>=6'))
    for query, found in [("cam bien do am", rice), ("ruong lua", rice), ("da nang", flood),
                         ("Đà Nẵng", flood), ("ngap lut", flood)]:
        search.fill(query)
        search.press("Enter")
        expect(visitor).to_have_url(re.compile(r"/catalogue\?"))
        expect(search).to_have_value(query)
        expect(results.first.get_by_role("link")).to_have_text(found.title)
        if query == "cam bien do am":
            stage.shot(visitor, "catalogue-without-diacritics")
    visitor.get_by_label("Mode").select_option("text")
    search.fill("ruong lua")
    search.press("Enter")
    expect(visitor.locator("#result-count")).to_contain_text("1 results")
    expect(results).to_have_count(1)
    expect(results.first.get_by_role("link")).to_have_text(rice.title)


def focused(page) -> str:
    """The id (or, failing that, the text) of the element that has the keyboard focus."""
    return page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")


def tab_to(page, target: str, limit: int = 60) -> None:
    """Press Tab until the element with id or text ``target`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == target:
            return
    raise AssertionError(f"{target!r} cannot be reached with the Tab key")


# The submission form in the order the Tab key must visit it, with what the proposer types.
KEYBOARD_FORM = [
    ("title", "Máy sấy nông sản bằng năng lượng mặt trời", None),
    ("summary", "A solar dryer for coffee and pepper growers.", None),
    ("description", "Dries **coffee** in two days instead of five.", None),
    ("expected_impact", "Less mould, better prices.", None),
    ("field", "Agric", "agriculture"),
    ("province", "Can", "can-tho"),
    ("keywords", "solar, drying, coffee", None),
    ("trl", "6", None),
    ("ip_status", "Filed", "filed"),
    ("language", "English", "en"),
    ("organisation", "Hợp tác xã Cà phê Cầu Đất", None),
    ("team_members", "Võ Thị Hạnh", None),
    ("budget_vnd", "800000000", None),
]


def test_an_initiative_is_written_and_submitted_with_the_keyboard_alone(stage, make_user):
    user = make_user(Role.PROPOSER, email="hanh@example.org", name="Võ Thị Hạnh")
    page = stage.window()
    page.goto("/login")
    tab_to(page, "email")
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    tab_to(page, "My initiatives")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/initiatives/mine$"))
    tab_to(page, "New initiative")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("New initiative")

    tab_to(page, "title")
    for position, (name, typed, value) in enumerate(KEYBOARD_FORM):
        if position:
            page.keyboard.press("Tab")
        assert focused(page) == name, f"after {KEYBOARD_FORM[position - 1][0]}, Tab goes to {focused(page)!r}, not {name!r}"
        page.keyboard.type(typed)
        expect(page.locator(f"#{name}")).to_have_value(value or typed)
    stage.shot(page, "keyboard-form")
    tab_to(page, "submit")
    page.keyboard.press("Enter")
    flash(page, "Your draft is saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text(KEYBOARD_FORM[0][1])

    tab_to(page, "Submit")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Submit the initiative")).to_be_visible()
    tab_to(page, "Confirm and submit")
    page.keyboard.press("Enter")
    flash(page, "Your initiative is submitted. It now goes through screening.")
    badge(page, "In screening")
    expect(page.locator("main")).to_contain_text("Hợp tác xã Cà phê Cầu Đất")
