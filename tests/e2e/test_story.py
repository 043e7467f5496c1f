"""The portal's whole story in a real browser, on the demo data: a newcomer registers as a
proposer, writes an initiative for the demo call, attaches a PDF, submits it and reads the portal in
Vietnamese; the demo admin sees it with its audit trail, screens it and confirms the matcher's
proposal for the call; three demo experts accept and score (one declines and is replaced in one
click); the admin reads the calibrated ranking and asks for a revision; the proposer revises; the
round-2 reviewers see what changed; the admin accepts; the demo demand owner asks to connect, the
proposer accepts, and the adoption is recorded. Each step checks what the person sees."""

import re

import pytest

from initiatives.demo import DEMO_PASSWORD
from initiatives.models import Call, Demand, DemandState, ExpertProfile, User
from initiatives.taxonomy import provinces
from tests.e2e.conftest import badge, expect, flash, tiny_pdf

pytestmark = pytest.mark.e2e

TITLE = "Cảm biến độ ẩm đất cho ruộng lúa"
DESCRIPTION = "A network of **solar** sensors and an SMS service for the Mekong delta."
PILOT = "Field pilot: 20 ha in Sóc Trăng, 2027."
ADMIN, OWNER = "admin@demo.vn", "owner@demo.vn"


@pytest.fixture
def demo(runner, db):
    """The demo portal (`flask demo`, then `flask match embed`): its call besides the standing
    one, its experts by the name the admin sees, and the demo demand owner's open demand."""
    for command in (["demo"], ["match", "embed"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    call = Call.query.filter_by(slug="green-agriculture-2027").one()
    owner = User.query.filter_by(email=OWNER).one()
    demand = Demand.query.filter_by(owner_id=owner.id, state=DemandState.OPEN).order_by(Demand.id).first()
    experts = {p.name: p.user.email for p in ExpertProfile.query if p.user is not None}
    assert len(experts) >= 40 and demand is not None
    return {"call": call.id, "call_title": call.title, "experts": experts, "demand": demand.title,
            "demand_province": provinces()[demand.province].name_en, "can_tho": provinces()["can-tho"].name_en}


def in_english(stage, email):
    """A window in which a demo account (they read the portal in Vietnamese) has signed in and
    switched the interface to English with the language switch."""
    page = stage.signed_in(email, DEMO_PASSWORD)
    page.locator("nav").get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    return page


def dashboard(admin, demo):
    """What the admin's dashboard shows, read off its charts' tooltips once they are drawn:
    initiatives in Cần Thơ and adoptions in the demand's province (the grid of the 34 units),
    initiatives that reached a decision (the review funnel), adopted connections (the matches)."""
    admin.locator("nav").get_by_role("button", name="Administration").click()
    admin.locator("nav .dropdown-menu").get_by_role("link", name="Dashboard").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Dashboard")

    def tooltip(card, pattern):
        expect(admin.locator(f"#card-{card} .chart-loading")).to_have_count(0)  # drawn from its JSON
        found = [re.search(pattern, text) for text in admin.locator(f"#card-{card} title").all_text_contents()]
        return next((int(match.group(1)) for match in found if match), 0)

    return {
        "initiatives in can-tho": tooltip("provinces", rf"^{re.escape(demo['can_tho'])} — Initiatives: (\d+)"),
        "adoptions": tooltip("provinces", rf"^{re.escape(demo['demand_province'])} — .*Adoptions: (\d+)"),
        "decided": tooltip("funnel", r"^Decided: (\d+)$"),
        "adopted": tooltip("matches", r"^Adopted · Connections: (\d+)$"),
    }


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


def test_from_registration_to_adoption(stage, demo):
    # 0. The demo admin glances at the dashboard (the story ends by reading it again).
    admin = in_english(stage, ADMIN)
    before = dashboard(admin, demo)

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
    proposer.get_by_label("Call").select_option(label=demo["call_title"])
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

    # 2b. They switch the interface to Vietnamese (and back: the story goes on in English).
    proposer.locator("nav").get_by_role("link", name="Tiếng Việt").click()
    expect(proposer.locator("html")).to_have_attribute("lang", "vi")
    expect(proposer.locator("nav").get_by_role("link", name="Sáng kiến của tôi")).to_be_visible()
    expect(proposer.get_by_role("heading", level=1)).to_have_text(TITLE)
    stage.shot(proposer, "02-submitted-vi")
    proposer.locator("nav").get_by_role("link", name="English").click()
    expect(proposer.locator("html")).to_have_attribute("lang", "en")

    # 3. The demo admin sees it with its audit trail, screens it, runs the matcher for the
    # demo call (the new initiative and the call's others waiting for reviewers) and confirms.
    admin.goto(f"/initiatives/{initiative_id}")
    history = admin.locator("#history")
    for action in ("initiative.created", "initiative.attachment_added", "initiative.submitted",
                   "initiative.entered_screening"):
        expect(history).to_contain_text(action)
    expect(history).to_contain_text("Nguyễn Văn An")
    stage.shot(admin, "03-audit-trail")
    admin.goto("/review/screening")
    item = admin.locator(f"#screen-{initiative_id}")
    expect(item).to_contain_text(TITLE)
    expect(item).to_contain_text("Nguyễn Văn An")
    item.get_by_role("button", name="Pass screening").click()
    flash(admin, f"“{TITLE}” passed screening and waits for its reviewers.")
    expect(item).to_have_count(0)

    admin.goto("/review/calls")
    admin.locator(f"#call-{demo['call']}").get_by_role("link", name="Assignment").click()
    admin.get_by_role("button", name="Compute the proposal").click()
    flash(admin, "Proposed ")
    expect(admin.locator("#uncovered")).to_have_count(0)
    proposal = admin.locator(".proposal-initiative", has_text=TITLE)
    expect(proposal.locator("tbody tr")).to_have_count(3)
    stage.shot(admin, "03-assignment-proposal")
    admin.get_by_role("button", name="Confirm and invite the reviewers").click()
    flash(admin, "invitations are sent; the initiatives are now under review.")

    # 4. One invited expert declines; the admin invites the next best in one click.
    invited = reviewer_names(admin, initiative_id)
    assert len(invited) == 3 and set(invited) <= set(demo["experts"])
    experts = {}
    decliner = in_english(stage, demo["experts"][invited[2]])
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
        expert = experts[name] = in_english(stage, demo["experts"][name])
        open_invitation(expert, TITLE, 1)
        expert.get_by_role("button", name="Accept").click()
        flash(expert, "Thank you: the review is yours.")
        expect(expert.get_by_role("link", name="pilot-plan.pdf")).to_be_visible()
        if n == 0:
            stage.shot(expert, "05-review-form")
        write_review(expert, 3 + n % 2, "Revise", f"Please add a field pilot ({n}).")

    # 6. The admin reads the call's ranking (sorted by the calibrated total), then the
    # initiative's results, and asks for a revision.
    admin.goto(f"/review/calls/{demo['call']}/ranking")
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
    owner = in_english(stage, OWNER)
    owner.goto(f"/initiatives/{initiative_id}")
    request = owner.locator("#request-connection")
    request.get_by_label("Your demand").select_option(label=demo["demand"])
    request.get_by_label("Message to the proposer").fill("We grow oranges in Lào Cai and need this.")
    request.get_by_role("button", name="Request a connection").click()
    flash(owner, "Your request is sent.")
    badge(owner, "Requested")
    expect(owner.locator("#contacts")).to_contain_text("Contact details are shown")
    expect(owner.locator("main")).not_to_contain_text("an@example.org")

    proposer.goto("/connections/mine")
    proposer.get_by_role("link", name=demo["demand"]).first.click()
    expect(proposer.locator("#request-message")).to_have_text("We grow oranges in Lào Cai and need this.")
    expect(proposer.locator("main")).not_to_contain_text(OWNER)
    stage.shot(proposer, "09-connection-request")
    proposer.get_by_label("Message to the other side (optional)").fill("Happy to talk.")
    proposer.get_by_role("button", name="Accept").click()
    flash(proposer, "The connection is now: Accepted.")
    expect(proposer.locator("#contacts")).to_contain_text(OWNER)

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

    # 11. The admin's dashboard counts it: in the grid of provinces, the funnel and the matches.
    after = dashboard(admin, demo)
    stage.shot(admin, "11-dashboard")
    assert after == {key: value + 1 for key, value in before.items()}, (before, after)

    assert stage.dialogs == []
