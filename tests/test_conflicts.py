"""Conflicts of interest that catch people: the proposer's and the team's own organisations,
organisations however they are written, conflicts declared with people on the expert's page,
the reasons admins read, and the demo's case (docs/matching.md, "Conflicts of interest")."""

import html

import pytest
from sqlalchemy import event

from initiatives.experts import operations as experts
from initiatives.models import AuditEvent, ExpertProfile, Initiative, Role
from initiatives.models.expert import PersonConflict
from search import matching
from tests.conftest import sign_in


@pytest.fixture
def settings():
    return {"EMBED_SYNC": True}


def make_expert(make_user, name, organisation, email=None):
    """An expert account whose profile has a short text, so the matcher encodes it."""
    user = make_user(Role.EXPERT, name=name, organisation=organisation, email=email)
    profile = experts.profile_for(user)
    experts.update_profile(profile, user, name=name, organisation=organisation, bio="Rice irrigation sensors.",
                           keywords="rice, irrigation", max_load=3, available=True)
    from initiatives.extensions import db

    db.session.commit()
    return profile


def excluded_on_page(client, initiative) -> str:
    """The admin's list of excluded experts on the initiative's page, as text."""
    page = client.get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert 'id="excluded-experts"' in page, page[:500]
    return html.unescape(page.split('id="excluded-experts"')[1].split("</ul>")[0])


def test_the_proposers_account_organisation_counts_beside_the_initiatives(make_user, make_initiative, db):
    proposer = make_user(Role.PROPOSER, name="Phạm Văn Đề", organisation="Trường Đại học Cần Thơ")
    initiative = make_initiative(proposer, submitted=True, organisation="Trung tâm Khuyến nông Cà Mau",
                                 team_members=[])
    same = make_expert(make_user, "Lê Văn Thành", "ĐH Cần Thơ")
    apart = make_expert(make_user, "Hoàng Minh Tuấn", "Đại học Bách khoa Hà Nội")
    generic = make_expert(make_user, "Vô Danh", "Trường Đại học")
    assert matching.conflict_reason(same, initiative) == \
        "same organisation as the proposer (Trường Đại học Cần Thơ ≈ ĐH Cần Thơ)"
    assert matching.conflict_reason(apart, initiative) == ""
    assert matching.conflict_reason(generic, initiative) == ""  # only generic words: no organisation


def test_the_proposers_expert_profile_organisation_counts(make_user, make_initiative, db):
    proposer = make_user(Role.PROPOSER, Role.EXPERT, name="Hai Vai")  # no organisation on the account
    profile = experts.profile_for(proposer)
    experts.update_profile(profile, proposer, organisation="Can Tho University")
    db.session.commit()
    initiative = make_initiative(proposer, submitted=True, organisation="", team_members=[])
    colleague = make_expert(make_user, "Đồng Nghiệp", "Đại học Cần Thơ")
    assert matching.conflict_reason(colleague, initiative) == \
        "same organisation as the proposer (Can Tho University ≈ Đại học Cần Thơ)"
    assert matching.conflict_reason(profile, initiative) == "is the proposer"


def test_a_team_members_organisation_counts(people, make_user, make_initiative, db):
    make_user(Role.PROPOSER, name="Lê Thị Cúc", organisation="Học viện Nông nghiệp Việt Nam")
    initiative = make_initiative(people["proposer"], submitted=True, organisation="Sở Nông nghiệp Cà Mau",
                                 team_members=["Lê Thị Cúc", "Hồ Văn Đạt (Đại học Huế)", "Mai Anh - Viện Hóa học"])
    by_account = make_expert(make_user, "Expert One", "HV Nông nghiệp Việt Nam")
    in_brackets = make_expert(make_user, "Expert Two", "Trường Đại học Huế")
    after_dash = make_expert(make_user, "Expert Three", "Viện Hóa học")
    member = make_expert(make_user, "Hồ Văn Đạt", "Elsewhere")
    other = make_expert(make_user, "Expert Four", "Đại học Y Hà Nội")
    reasons = matching.conflict_matrix([initiative], [by_account, in_brackets, after_dash, member, other])[0]
    assert reasons == [
        "same organisation as team member Lê Thị Cúc (Học viện Nông nghiệp Việt Nam ≈ HV Nông nghiệp Việt Nam)",
        "same organisation as team member Hồ Văn Đạt (Đại học Huế ≈ Trường Đại học Huế)",
        "same organisation as team member Mai Anh (Viện Hóa học)",
        "is a team member",  # the name without the organisation written after it
        "",
    ]


def test_a_declared_organisation_conflict_reaches_the_proposers_organisation(make_user, make_initiative, db):
    proposer = make_user(Role.PROPOSER, name="Võ Thanh Tâm", organisation="HTX Nông nghiệp số Đồng Tháp")
    initiative = make_initiative(proposer, submitted=True, organisation="Viện Cây ăn quả miền Nam", team_members=[])
    adviser = make_expert(make_user, "Bùi Văn Quang", "Đại học Kinh tế Quốc dân")
    assert matching.conflict_reason(adviser, initiative) == ""
    experts.declare_conflict(adviser, adviser.user, "Hợp tác xã Nông nghiệp số Đồng Tháp", "adviser")
    db.session.commit()
    assert matching.conflict_reason(adviser, initiative) == (
        "declared a conflict with HTX Nông nghiệp số Đồng Tháp ≈ Hợp tác xã Nông nghiệp số Đồng Tháp, "
        "the proposer's organisation")


def test_a_person_conflict_catches_the_proposer_by_email_or_name_and_team_members_by_name(
        people, make_user, make_initiative, db):
    # The proposer is Nguyễn Văn An (proposer@example.org); the team Nguyễn Văn An and Trần Thị
    # Bình, who has an account (other@example.org).
    initiative = make_initiative(people["proposer"], submitted=True, organisation="Đại học Cần Thơ")
    declared = [
        ("One", {"email": " PROPOSER@Example.org ", "relation": "co_author"}),
        ("Two", {"name": "PGS.TS. nguyen van  an", "relation": "relative"}),
        ("Three", {"name": "Trần Thị Bình", "relation": "supervisor_student"}),
        ("Four", {"email": "other@example.org", "relation": "colleague"}),
        ("Five", {"name": "Lê Văn Khác", "email": "khac@example.org", "relation": "other"}),
        ("Six", {"name": "Nguyễn Văn Anh", "relation": "co_author"}),  # one letter more: another person
    ]
    panel = []
    for name, conflict in declared:
        expert = make_expert(make_user, f"Expert {name}", f"Viện {name}")
        experts.declare_person_conflict(expert, expert.user, **conflict)
        panel.append(expert)
    db.session.commit()
    assert matching.conflict_matrix([initiative], panel)[0] == [
        "declared a conflict with PROPOSER@Example.org (co-author), the proposer",
        "declared a conflict with PGS.TS. nguyen van  an (relative), the proposer",
        "declared a conflict with Trần Thị Bình (supervisor or student), a team member",
        "declared a conflict with other@example.org (colleague), a team member",
        "",
        "",
    ]
    # An initiative the person has no part in stays open to the expert; one where they are only on
    # the team (found by name, with the e-mail of their account) does not.
    assert matching.conflict_reason(panel[0], make_initiative(people["other"], submitted=True, team_members=[])) == ""
    assert matching.conflict_reason(panel[0], make_initiative(people["other"], submitted=True)) == \
        "declared a conflict with PROPOSER@Example.org (co-author), a team member"


def test_an_expert_declares_and_removes_a_person_conflict_on_the_profile_page(
        people, make_user, make_initiative, login, db, app):
    initiative = make_initiative(people["other"], submitted=True, organisation="Viện Lúa",
                                 team_members=["Trần Thị Bình", "Trần Văn B (Đại học Huế)"])
    client = login(people["expert"])
    page = client.get("/expert/profile").get_data(as_text=True)
    assert 'id="person-conflicts"' in page and 'name="person-relation"' in page

    response = client.post("/expert/person-conflicts", data={
        "person-name": "Trần Văn B", "person-email": "b@example.org", "person-relation": "co_author",
        "person-reason": "joint paper 2024"})
    assert response.status_code == 302
    conflict = PersonConflict.query.one()
    profile = ExpertProfile.query.filter_by(user_id=people["expert"].id).one()
    assert (conflict.expert_id, conflict.name, conflict.email, conflict.relation, conflict.reason) == \
        (profile.id, "Trần Văn B", "b@example.org", "co_author", "joint paper 2024")
    assert AuditEvent.query.filter_by(action="expert.person_conflict_declared", object_id=profile.id).count() == 1
    page = html.unescape(client.get("/expert/profile").get_data(as_text=True))
    section = page.split('id="person-conflicts"')[1]
    assert "Trần Văn B" in section and "b@example.org" in section and "co-author" in section
    assert matching.conflict_reason(profile, initiative) == \
        "declared a conflict with Trần Văn B (co-author), a team member"
    admin_view = html.unescape(login(people["admin"]).get(f"/expert/{profile.id}").get_data(as_text=True))
    assert "Trần Văn B" in admin_view.split('id="person-conflicts"')[1]

    # Neither a name nor an e-mail, or a relation the form does not offer: nothing is recorded.
    for data in ({"person-relation": "co_author"}, {"person-name": "X", "person-relation": "enemy"},
                 {"person-email": "not an address", "person-relation": "other"}):
        assert client.post("/expert/person-conflicts", data=data).status_code == 302
    assert PersonConflict.query.count() == 1
    # Another expert may not remove it.
    stranger = make_user(Role.EXPERT, name="Someone Else")
    assert login(stranger).post(f"/expert/person-conflicts/{conflict.id}/delete").status_code == 403
    assert PersonConflict.query.count() == 1

    assert client.post(f"/expert/person-conflicts/{conflict.id}/delete").status_code == 302
    assert PersonConflict.query.count() == 0
    assert AuditEvent.query.filter_by(action="expert.person_conflict_removed", object_id=profile.id).count() == 1
    db.session.expire_all()
    assert matching.conflict_reason(db.session.get(ExpertProfile, profile.id), initiative) == ""


def test_a_form_without_csrf_token_records_nothing(people, app, db):
    client = sign_in(app.test_client(), people["expert"])
    client.auto_csrf = False
    response = client.post("/expert/person-conflicts", data={"person-name": "Trần Văn B",
                                                              "person-relation": "co_author"})
    assert response.status_code in (302, 400)
    assert PersonConflict.query.count() == 0


def test_the_admin_reads_why_each_expert_is_excluded(make_user, make_initiative, login, people, db):
    proposer = make_user(Role.PROPOSER, name="Phạm Văn Đề", organisation="Đại học Cần Thơ")
    initiative = make_initiative(proposer, submitted=True, organisation="Trung tâm Khuyến nông Cà Mau",
                                 team_members=["Trần Văn B"])
    make_expert(make_user, "Lê Văn Thành", "ĐẠI HỌC CẦN THƠ")
    coauthor = make_expert(make_user, "Đỗ Văn Khánh", "Đại học Y Hà Nội")
    experts.declare_person_conflict(coauthor, coauthor.user, name="Trần Văn B", relation="co_author")
    db.session.commit()
    admin = login(people["admin"])
    listed = excluded_on_page(admin, initiative)
    assert "Lê Văn Thành" in listed and "same organisation as the proposer (Đại học Cần Thơ)" in listed
    assert "Đỗ Văn Khánh" in listed and "declared a conflict with Trần Văn B (co-author), a team member" in listed
    admin.get("/lang/vi")
    listed = excluded_on_page(admin, initiative)
    assert "cùng tổ chức với người đề xuất (Đại học Cần Thơ)" in listed
    assert "đã khai báo xung đột lợi ích với Trần Văn B (đồng tác giả), thành viên nhóm" in listed


def test_people_and_conflicts_are_read_with_a_fixed_number_of_queries(people, make_user, make_initiative, db):
    """A call's thousands of pairs cost what one pair costs: no query per initiative, member or expert."""
    panel = [make_expert(make_user, f"Expert {n}", f"Viện {n}") for n in range(6)]
    experts.declare_conflict(panel[0], panel[0].user, "Đại học Huế")
    experts.declare_person_conflict(panel[1], panel[1].user, name="Trần Thị Bình", relation="colleague")
    db.session.commit()
    initiatives = [make_initiative(people["proposer"], submitted=True, team_members=[f"Member {n}", "Trần Thị Bình"])
                   for n in range(5)] + [make_initiative(people["other"], submitted=True)]
    # Loaded afresh, so that counting sees the rules' queries, not the reloading of expired objects.
    initiatives = Initiative.query.filter(Initiative.id.in_([i.id for i in initiatives])).order_by(Initiative.id).all()
    panel = ExpertProfile.query.filter(ExpertProfile.id.in_([e.id for e in panel])).order_by(ExpertProfile.id).all()
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        matching.conflict_matrix(initiatives[:1], panel[:1])
        one = len(statements)
        statements.clear()
        matrix = matching.conflict_matrix(initiatives, panel)
        assert len(statements) == one
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert matrix[0][1] == "declared a conflict with Trần Thị Bình (colleague), a team member"


# The demo data ---------------------------------------------------------------------------

@pytest.fixture
def demo(runner, db, app):
    """The demo, encoded by the fake embedder, and the demo admin's client reading English."""
    from initiatives.demo import DEMO_PASSWORD

    for args in (["demo"], ["match", "embed"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    client = app.test_client()
    assert client.post("/login", data={"email": "admin@demo.vn", "password": DEMO_PASSWORD}).status_code == 302
    return client


def _demo_expert(email) -> ExpertProfile:
    return ExpertProfile.query.filter_by(email=email).one()


def test_demo_an_expert_of_the_proposers_university_is_excluded_whatever_the_initiative_says(demo, db):
    """The demo proposer Phạm Ngọc Anh's account is at Đại học Y Hà Nội; her initiative
    DEMO-INI-018 names Bệnh viện Trung ương Huế. Đỗ Văn Khánh, an expert of Đại học Y Hà Nội,
    was suggested for it; now he is excluded, with the reason on the admin's page."""
    initiative = Initiative.query.filter_by(external_ref="DEMO-INI-018").one()
    assert (initiative.proposer.organisation, initiative.organisation) == \
        ("Đại học Y Hà Nội", "Bệnh viện Trung ương Huế")
    colleague = _demo_expert("do.van.khanh@demo.vn")
    assert matching.conflict_reason(colleague, initiative) == "same organisation as the proposer (Đại học Y Hà Nội)"
    listed = excluded_on_page(demo, initiative)  # the demo admin reads Vietnamese
    assert "Đỗ Văn Khánh" in listed and "cùng tổ chức với người đề xuất (Đại học Y Hà Nội)" in listed
    demo.get("/lang/en")
    assert "same organisation as the proposer (Đại học Y Hà Nội)" in excluded_on_page(demo, initiative)


def test_demo_the_can_tho_expert_is_excluded_from_the_can_tho_proposers_initiatives(demo, db):
    """Lê Văn Thành (ĐẠI HỌC CẦN THƠ) and the demo proposer (account at Đại học Cần Thơ): excluded
    from every initiative of hers, also when its organisation field names another organisation."""
    expert = _demo_expert("le.van.thanh@demo.vn")
    mine = Initiative.query.join(Initiative.proposer).filter_by(email="proposer@demo.vn").all()
    assert mine and all(matching.conflict_reason(expert, initiative) for initiative in mine)
    initiative = Initiative.query.filter_by(external_ref="DEMO-INI-002").one()
    initiative.organisation = "Trung tâm Khuyến nông Cà Mau"  # the field now names someone else
    db.session.commit()
    assert matching.conflict_reason(expert, initiative) == "same organisation as the proposer (Đại học Cần Thơ)"
    demo.get("/lang/en")
    listed = excluded_on_page(demo, initiative)
    assert "Lê Văn Thành" in listed and "same organisation as the proposer (Đại học Cần Thơ)" in listed


def test_demo_a_declared_conflict_with_the_proposers_cooperative_counts(demo, db):
    """Bùi Văn Quang declared a conflict with Hợp tác xã Nông nghiệp số Đồng Tháp, Võ Thanh Tâm's
    cooperative; her initiative DEMO-INI-073 names Viện Cây ăn quả miền Nam."""
    initiative = Initiative.query.filter_by(external_ref="DEMO-INI-073").one()
    adviser = _demo_expert("bui.van.quang@demo.vn")
    assert matching.conflict_reason(adviser, initiative) == \
        "declared a conflict with Hợp tác xã Nông nghiệp số Đồng Tháp, the proposer's organisation"
