"""Script payloads typed into the fields an attacker controls come back as text, in a real
browser: no dialog opens and no injected element exists on any page that shows them."""

import re

import pytest

from initiatives.models import Initiative, Role
from review import assign
from review import operations as review_operations
from search.catalogue import catalogue
from tests.e2e.conftest import expect, flash, tiny_pdf
from tests.review.conftest import PANEL, make_expert

pytestmark = pytest.mark.e2e


def payload(where: str) -> str:
    return f"<img src=x onerror=alert('{where}')>"


NAME = f"Lan {payload('name')}"
ORGANISATION = 'Viện">' + payload("organisation")
TITLE = f"Lúa {payload('title')}"
FILE_NAME = "plan<img src=x onerror=alert('file')>.pdf"
# Whatever a payload managed to inject: an element or attribute the portal never writes itself.
INJECTED = ("img[src='x'], svg, iframe, script:not([src]), [onerror], [onload], "
            "a[href^='javascript'], [href^='javascript']")


def assert_inert(page, *texts):
    """Each ``text`` shown literally, and nothing injected on the page (call it once the page
    you mean has loaded: the count is true at once)."""
    for text in texts:
        expect(page.locator("main")).to_contain_text(text)
    expect(page.locator(INJECTED)).to_have_count(0)


def test_script_payloads_stay_text(stage, app, make_user, db):
    admin_user = make_user(Role.ADMIN, email="admin@example.org", name="Admin Hoa")
    call = review_operations.create_call(admin_user, title="Payload call", reviewers_per_initiative=1,
                                         default_max_load=5, review_days=14, blind_mode="single",
                                         reviewers_see_others=False)
    db.session.commit()
    name, org, bio, keywords, publication = PANEL[0]
    expert_user = make_expert(make_user, name, org, bio, keywords, [publication]).user

    # The proposer types payloads into their name, organisation and every field of the initiative.
    proposer = stage.window()
    proposer.goto("/register")
    proposer.get_by_label("Full name").fill(NAME)
    proposer.get_by_label("E-mail").fill("lan@example.org")
    proposer.get_by_label("Organisation", exact=True).fill(ORGANISATION)
    proposer.get_by_label("Password", exact=True).fill("a long pass phrase")
    proposer.get_by_label("Repeat the password").fill("a long pass phrase")
    proposer.get_by_label("Proposer: I submit initiatives").check()
    proposer.get_by_label("Language").select_option("en")
    proposer.get_by_role("button", name="Create account").click()
    flash(proposer, f"Welcome, {NAME}.")
    assert_inert(proposer)

    proposer.goto("/initiatives/new")
    proposer.get_by_label("Title", exact=True).fill(TITLE)
    proposer.get_by_label("Summary").fill(f"<script>alert('summary')</script>Soil sensors. {payload('summary')}")
    proposer.get_by_label("Description", exact=True).fill(
        f"{payload('description')}\n\n[a link](javascript:alert('link')) <svg onload=alert('svg')>")
    proposer.get_by_label("Expected impact").fill("<iframe src=javascript:alert('impact')></iframe>Less water.")
    proposer.get_by_label("Field", exact=True).select_option("agriculture")
    proposer.get_by_label("Province or city").select_option("can-tho")
    proposer.get_by_label("Keywords").fill(f"rice, {payload('keyword')}")
    proposer.get_by_label("Technology readiness level (1-9)").fill("5")
    proposer.get_by_label("Intellectual property status").select_option("none")
    proposer.get_by_label("Organisation", exact=True).fill(ORGANISATION)
    proposer.get_by_label("Team members").fill(f"Trần Bình\n{payload('team')}")
    proposer.get_by_label("Requested budget (VND)").fill("1000000")
    proposer.get_by_label("Call").select_option(label="Payload call")
    proposer.get_by_role("button", name="Save draft").click()
    flash(proposer, "Your draft is saved.")
    expect(proposer.get_by_role("heading", level=1)).to_have_text(TITLE)
    assert_inert(proposer, payload("keyword"), payload("team"), ORGANISATION, "Soil sensors.", "Less water.")
    initiative_id = int(re.search(r"/initiatives/(\d+)$", proposer.url).group(1))

    proposer.get_by_label(re.compile("^File")).set_input_files(
        files=[{"name": FILE_NAME, "mimeType": "application/pdf", "buffer": tiny_pdf()}])
    proposer.get_by_role("button", name="Attach").click()
    expect(proposer.locator("main").get_by_role("alert")).to_contain_text("is attached")
    assert_inert(proposer)
    proposer.locator("#initiative-actions").get_by_role("link", name="Submit").click()
    expect(proposer.get_by_role("heading", name="Submit the initiative")).to_be_visible()
    assert_inert(proposer, TITLE)
    proposer.get_by_role("button", name=re.compile("Confirm and submit|Submit anyway")).click()
    flash(proposer, "Your initiative is submitted.")
    assert_inert(proposer)
    stage.shot(proposer, "initiative")

    # The admin's screening queue, lists and catalogue show the same text, inert.
    admin = stage.signed_in(admin_user.email)
    for url in ("/review/screening", "/initiatives/all", "/admin/users", f"/initiatives/{initiative_id}",
                "/admin/audit"):
        admin.goto(url)
        assert_inert(admin)
    admin.goto("/review/screening")
    assert_inert(admin, TITLE, NAME, ORGANISATION)
    catalogue(app).flush()
    admin.goto("/catalogue?q=L%C3%BAa&mode=text")
    expect(admin.locator("article.search-result")).to_have_count(1)
    assert_inert(admin, TITLE)
    stage.shot(admin, "catalogue")

    # An expert reviews it with payloads in the comments; the admin decides with one too.
    db.session.rollback()
    initiative = db.session.get(Initiative, initiative_id)
    review_operations.pass_screening(initiative, admin_user)
    db.session.commit()
    assign.propose(call, actor=admin_user)
    assign.confirm(call, admin_user)
    db.session.commit()

    expert = stage.signed_in(expert_user.email)
    expert.goto("/review/mine")
    assert_inert(expert, TITLE)
    expert.get_by_role("link", name="Answer the invitation").click()
    expect(expert.locator("#invitation")).to_be_visible()
    assert_inert(expert, TITLE)
    expert.get_by_role("button", name="Accept").click()
    flash(expert, "Thank you: the review is yours.")
    assert_inert(expert, TITLE, FILE_NAME)
    form = expert.locator("#review-form")
    for select in form.locator("select[name^=score_]").all():
        select.select_option("4")
    form.get_by_label("Your confidence").select_option("3")
    form.get_by_label("Revise", exact=True).check()
    form.get_by_label("Comments to the proposer").fill(f"Good. {payload('comment')}")
    form.get_by_label("Confidential comments to the committee").fill("<script>alert('confidential')</script>")
    form.get_by_role("button", name="Submit the review").click()
    expect(expert.locator("#my-review")).to_be_visible()
    assert_inert(expert, payload("comment"), "<script>alert('confidential')</script>")

    admin.goto(f"/review/initiatives/{initiative_id}")
    assert_inert(admin, TITLE)
    admin.locator("#reviewers").get_by_role("link", name="Review").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Reviewer A")
    assert_inert(admin, payload("comment"), "<script>alert('confidential')</script>")
    admin.goto(f"/review/initiatives/{initiative_id}")
    admin.get_by_label("Decision").select_option("revision_requested")
    admin.get_by_label("Rationale (the proposer reads it)").fill(f"Revise. {payload('rationale')}")
    admin.get_by_role("button", name="Record the decision").click()
    flash(admin, "The decision is recorded")
    assert_inert(admin, payload("rationale"))

    # The proposer reads the decision and the comment, and the notifications about them.
    proposer.goto(f"/initiatives/{initiative_id}")
    assert_inert(proposer, payload("rationale"), payload("comment"))
    stage.shot(proposer, "decision")
    proposer.goto("/notifications")
    assert_inert(proposer, TITLE)

    assert stage.dialogs == []
