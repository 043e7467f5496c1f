"""The portal's whole story in a real browser: a proposer registers and submits an initiative with
a PDF; the admin screens it and confirms the matcher's reviewers; three experts accept and score
(one declines and is replaced in one click); the admin asks for a revision; the proposer revises;
the round-2 reviewers see what changed; the admin accepts; a demand owner asks to connect, the
proposer accepts, and the adoption is recorded. Each step checks what the person sees."""

import re

import pytest

from initiatives.models import Role
from review import operations as review_operations
from tests.e2e.conftest import badge, expect, flash, tiny_pdf
from tests.review.conftest import PANEL, make_expert

pytestmark = pytest.mark.e2e

CALL_TITLE = "Green agriculture 2027"
TITLE = "Cảm biến độ ẩm đất cho ruộng lúa"
DESCRIPTION = "A network of **solar** sensors and an SMS service for the Mekong delta."
PILOT = "Field pilot: 20 ha in Sóc Trăng, 2027."


@pytest.fixture
def cast(make_user, make_demand, db):
    """Who is already on the portal: an admin with an open call, five experts who know rice
    irrigation, and a demand owner with an open demand."""
    admin = make_user(Role.ADMIN, email="admin@example.org", name="Admin Hoa")
    call = review_operations.create_call(admin, title=CALL_TITLE, reviewers_per_initiative=3,
                                         default_max_load=5, review_days=14, blind_mode="single",
                                         reviewers_see_others=False)
    db.session.commit()
    experts = {name: make_expert(make_user, name, org, bio, keywords, [publication]).user.email
               for name, org, bio, keywords, publication in PANEL}
    owner = make_user(Role.DEMAND_OWNER, email="owner@example.org", name="Phạm Dung",
                      organisation="Công ty Nông sản Lào Cai")
    demand = make_demand(owner)
    return {"admin": admin.email, "experts": experts, "owner": owner.email,
            "demand": demand.title, "call": call.id}


def reviewer_names(admin, initiative_id):
    """The experts the admin sees as active reviewers of the current round."""
    admin.goto(f"/review/initiatives/{initiative_id}")
    rows = admin.locator("#reviewers tr.assignment-row").filter(has_not_text="Declined")
    expect(rows.first).to_be_visible()
    return [row.locator("td").nth(1).inner_text().splitlines()[0].strip() for row in rows.all()]


def write_review(page, score, recommendation, comment):
    """Score every criterion and submit, through the form as the expert sees it."""
    form = page.locator("#review-form")
    scores = form.locator("select[name^=score_]")
    expect(scores).to_have_count(5)
    for select in scores.all():
        select.select_option(str(score))
    form.get_by_label("Your confidence").select_option("4")
    form.get_by_label(recommendation, exact=True).check()
    form.get_by_label("Comments to the proposer").fill(comment)
    form.get_by_label("Confidential comments to the committee").fill("For the committee only.")
    form.get_by_role("button", name="Submit the review").click()
    expect(page.locator("#my-review")).to_contain_text(comment)


def open_invitation(page, title, round_number):
    """From "My reviews", the invitation to ``title`` in ``round_number``."""
    page.goto("/review/mine")
    row = page.locator("tr", has=page.get_by_role("link", name=title)).filter(
        has=page.locator("td:nth-child(2)", has_text=re.compile(f"^{round_number}$")))
    row.get_by_role("link", name="Answer the invitation").click()
    expect(page.locator("#invitation")).to_contain_text("Will you review this initiative?")


def test_from_registration_to_adoption(stage, cast):
    # 1. A proposer registers, in English.
    proposer = stage.window()
    proposer.goto("/")
    proposer.get_by_role("link", name="Register").first.click()
    proposer.get_by_label("Full name").fill("Nguyễn Văn An")
    proposer.get_by_label("E-mail").fill("an@example.org")
    proposer.get_by_label("Organisation", exact=True).fill("Đại học Cần Thơ")
    proposer.get_by_label("Password", exact=True).fill("a long pass phrase")
    proposer.get_by_label("Repeat the password").fill("a long pass phrase")
    proposer.get_by_label("Proposer: I submit initiatives").check()
    proposer.get_by_label("Language").select_option("en")
    proposer.get_by_role("button", name="Create account").click()
    flash(proposer, "Welcome, Nguyễn Văn An. Your account is ready.")

    # 2. They write the initiative, attach a PDF and submit it.
    proposer.get_by_role("link", name="My initiatives").click()
    proposer.get_by_role("link", name="New initiative").click()
    proposer.get_by_label("Title", exact=True).fill(TITLE)
    proposer.get_by_label("Summary").fill("Low-cost soil moisture sensors that tell rice farmers when to irrigate.")
    proposer.get_by_label("Description", exact=True).fill(DESCRIPTION)
    proposer.get_by_label("Expected impact").fill("Saves 30% of irrigation water.")
    proposer.get_by_label("Field", exact=True).select_option("agriculture")
    proposer.get_by_label("Province or city").select_option("can-tho")
    proposer.get_by_label("Keywords").fill("rice, irrigation, IoT")
    proposer.get_by_label("Technology readiness level (1-9)").fill("5")
    proposer.get_by_label("Intellectual property status").select_option("filed")
    proposer.get_by_label("Language of the initiative").select_option("vi")
    proposer.get_by_label("Organisation", exact=True).fill("Đại học Cần Thơ")
    proposer.get_by_label("Team members").fill("Nguyễn Văn An\nTrần Thị Bình")
    proposer.get_by_label("Requested budget (VND)").fill("1500000000")
    proposer.get_by_label("Call").select_option(label=CALL_TITLE)
    stage.shot(proposer, "01-new-initiative")
    proposer.get_by_role("button", name="Save draft").click()
    flash(proposer, "Your draft is saved.")
    expect(proposer.get_by_role("heading", level=1)).to_have_text(TITLE)
    initiative_id = int(re.search(r"/initiatives/(\d+)$", proposer.url).group(1))

    proposer.get_by_label(re.compile("^File")).set_input_files(
        files=[{"name": "pilot-plan.pdf", "mimeType": "application/pdf", "buffer": tiny_pdf()}])
    proposer.get_by_role("button", name="Attach").click()
    flash(proposer, "“pilot-plan.pdf” is attached.")
    expect(proposer.get_by_role("link", name="pilot-plan.pdf")).to_be_visible()

    proposer.locator("#initiative-actions").get_by_role("link", name="Submit").click()
    expect(proposer.get_by_role("heading", name="Submit the initiative")).to_be_visible()
    proposer.get_by_role("button", name=re.compile("Confirm and submit|Submit anyway")).click()
    flash(proposer, "Your initiative is submitted. It now goes through screening.")
    badge(proposer, "In screening")
    stage.shot(proposer, "02-submitted")

    # 3. The admin screens it, runs the matcher for the call and confirms its proposal.
    admin = stage.signed_in(cast["admin"])
    admin.goto("/review/screening")
    item = admin.locator(f"#screen-{initiative_id}")
    expect(item).to_contain_text(TITLE)
    expect(item).to_contain_text("Nguyễn Văn An")
    item.get_by_role("button", name="Pass screening").click()
    flash(admin, f"“{TITLE}” passed screening and waits for its reviewers.")
    expect(admin.locator("#screening-empty")).to_be_visible()

    admin.goto("/review/calls")
    admin.locator(f"#call-{cast['call']}").get_by_role("link", name="Assignment").click()
    admin.get_by_role("button", name="Compute the proposal").click()
    flash(admin, "Proposed 3 assignments for 1 initiatives")
    proposal = admin.locator(".proposal-initiative", has_text=TITLE)
    expect(proposal.locator("tbody tr")).to_have_count(3)
    stage.shot(admin, "03-assignment-proposal")
    admin.get_by_role("button", name="Confirm and invite the reviewers").click()
    flash(admin, "3 invitations are sent; the initiatives are now under review.")

    # 4. One invited expert declines; the admin invites the next best in one click.
    invited = reviewer_names(admin, initiative_id)
    assert len(invited) == 3 and set(invited) <= set(cast["experts"])
    experts = {}
    decliner = stage.signed_in(cast["experts"][invited[2]])
    open_invitation(decliner, TITLE, 1)
    decliner.get_by_label("Why do you decline?").fill("Travelling all month.")
    decliner.get_by_role("button", name="Decline").click()
    flash(decliner, "You declined this review. Thank you for telling us.")

    admin.goto(f"/review/initiatives/{initiative_id}")
    expect(admin.locator("#reviewers")).to_contain_text("Travelling all month.")
    next_best = admin.locator("#next-best")
    expect(next_best).to_contain_text("This round lacks 1 reviewer(s).")
    stage.shot(admin, "04-next-best")
    next_best.get_by_role("button", name=re.compile("^Invite ")).click()
    flash(admin, "is invited.")
    reviewers = reviewer_names(admin, initiative_id)
    assert len(reviewers) == 3 and invited[2] not in reviewers and set(invited[:2]) <= set(reviewers)

    # 5. The three accept and score through the rubric.
    for n, name in enumerate(reviewers):
        expert = experts[name] = stage.signed_in(cast["experts"][name])
        open_invitation(expert, TITLE, 1)
        expert.get_by_role("button", name="Accept").click()
        flash(expert, "Thank you: the review is yours.")
        expect(expert.get_by_role("link", name="pilot-plan.pdf")).to_be_visible()
        if n == 0:
            stage.shot(expert, "05-review-form")
        write_review(expert, 3 + n % 2, "Revise", f"Please add a field pilot ({n}).")

    # 6. The admin reads the call's ranking (sorted by the calibrated total), then the
    # initiative's results, and asks for a revision.
    admin.goto(f"/review/calls/{cast['call']}/ranking")
    ranking = admin.locator("#ranking")
    expect(ranking).to_contain_text("Calibrated")
    ranking.get_by_role("link", name="Calibrated").click()
    expect(admin).to_have_url(re.compile(r"sort=calibrated"))
    expect(admin.locator("#ranking tbody")).to_contain_text(TITLE)
    stage.shot(admin, "06-ranking")
    admin.goto(f"/review/initiatives/{initiative_id}")
    badge(admin, "Reviewed")
    expect(admin.locator("#totals")).to_contain_text("Confidence-weighted total")
    decision = admin.locator("#decision")
    decision.get_by_label("Decision").select_option("revision_requested")
    decision.get_by_label("Rationale (the proposer reads it)").fill("Promising; a field pilot plan is needed.")
    stage.shot(admin, "06-results")
    decision.get_by_role("button", name="Record the decision").click()
    flash(admin, "The decision is recorded and the proposer is told.")

    # 7. The proposer reads the lettered comments (never the names) and revises.
    proposer.goto(f"/initiatives/{initiative_id}")
    main = proposer.locator("main")
    expect(main).to_contain_text("Promising; a field pilot plan is needed.")
    expect(main).to_contain_text("Reviewer A")
    expect(main).to_contain_text("Please add a field pilot (0).")
    expect(main).not_to_contain_text("For the committee only.")
    for name in reviewers:
        expect(main).not_to_contain_text(name)
    stage.shot(proposer, "07-revision-requested")
    proposer.locator("#initiative-actions").get_by_role("link", name="Edit").click()
    description = proposer.get_by_label("Description", exact=True)
    expect(description).to_have_value(DESCRIPTION)
    description.fill(f"{DESCRIPTION}\n\n{PILOT}")
    proposer.get_by_role("button", name="Save draft").click()
    flash(proposer, "Your changes are saved.")
    proposer.locator("#initiative-actions").get_by_role("link", name="Resubmit").click()
    proposer.get_by_role("button", name=re.compile("Confirm and submit|Submit anyway")).click()
    badge(proposer, "Under review")
    expect(main).to_contain_text("Round 2")

    # 8. The same reviewers are asked again and see what changed.
    for n, name in enumerate(reviewers):
        expert = experts[name]
        open_invitation(expert, TITLE, 2)
        expert.get_by_role("button", name="Accept").click()
        expect(expert.locator("#changes")).to_contain_text("What changed since round 1")
        expect(expert.locator("#changes")).to_contain_text("Field pilot: 20 ha in Sóc Trăng")
        if n == 0:
            stage.shot(expert, "08-what-changed")
        write_review(expert, 5, "Accept", "The pilot convinces.")

    # 9. The admin accepts; the proposer is told, and the initiative is public.
    admin.goto(f"/review/initiatives/{initiative_id}")
    badge(admin, "Reviewed")
    decision.get_by_label("Decision").select_option("accepted")
    decision.get_by_label("Rationale (the proposer reads it)").fill("Accepted with the pilot plan.")
    decision.get_by_role("button", name="Record the decision").click()
    flash(admin, "The decision is recorded and the proposer is told.")
    proposer.goto(f"/initiatives/{initiative_id}")
    badge(proposer, "Accepted")
    expect(main).to_contain_text("Accepted with the pilot plan.")
    expect(main).to_contain_text("The pilot convinces.")
    proposer.goto("/notifications")
    expect(main).to_contain_text("A decision on")
    visitor = stage.window()
    visitor.goto(f"/initiatives/{initiative_id}")
    expect(visitor.get_by_role("heading", level=1)).to_have_text(TITLE)

    # 10. A demand owner asks to connect; the proposer accepts; the adoption is recorded.
    owner = stage.signed_in(cast["owner"])
    owner.goto(f"/initiatives/{initiative_id}")
    request = owner.locator("#request-connection")
    request.get_by_label("Your demand").select_option(label=cast["demand"])
    request.get_by_label("Message to the proposer").fill("We grow oranges in Lào Cai and need this.")
    request.get_by_role("button", name="Request a connection").click()
    flash(owner, "Your request is sent.")
    badge(owner, "Requested")
    expect(owner.locator("#contacts")).to_contain_text("Contact details are shown")
    expect(owner.locator("main")).not_to_contain_text("an@example.org")

    proposer.goto("/connections/mine")
    proposer.get_by_role("link", name=cast["demand"]).first.click()
    expect(proposer.locator("#request-message")).to_have_text("We grow oranges in Lào Cai and need this.")
    expect(proposer.locator("main")).not_to_contain_text("owner@example.org")
    stage.shot(proposer, "09-connection-request")
    proposer.get_by_label("Message to the other side (optional)").fill("Happy to talk.")
    proposer.get_by_role("button", name="Accept").click()
    flash(proposer, "The connection is now: Accepted.")
    expect(proposer.locator("#contacts")).to_contain_text("owner@example.org")

    owner.reload()
    expect(owner.locator("#contacts")).to_contain_text("an@example.org")
    owner.get_by_role("button", name="Start the discussion").click()
    flash(owner, "The connection is now: In discussion.")
    proposer.reload()
    proposer.get_by_label("What the adoption is").select_option("pilot")
    proposer.get_by_role("button", name="Mark as adopted").click()
    flash(proposer, "The connection is now: Adopted.")
    owner.reload()
    expect(owner.locator("#connection-state")).to_contain_text("Adopted")
    expect(owner.locator("#connection-state")).to_contain_text("Pilot")
    stage.shot(owner, "10-adopted")
    visitor.reload()
    expect(visitor.locator("#adoption-history")).to_contain_text("Pilot")

    assert stage.dialogs == []
