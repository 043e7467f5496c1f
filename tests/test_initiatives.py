"""Initiatives from draft to submission: pages, the state machine, versions, attachments."""

import io
import os
import zipfile

import pytest

from initiatives.models import (
    AuditEvent,
    Initiative,
    InitiativeState,
    InitiativeVersion,
    Role,
    TransitionError,
)
from initiatives.models.initiative import INITIATIVE_MACHINE
from initiatives.proposals import operations
from tests.conftest import COMPLETE_INITIATIVE

S = InitiativeState

# Every transition DESIGN section 2 allows; all other pairs must be refused.
ALLOWED = {
    (S.DRAFT, S.SUBMITTED), (S.DRAFT, S.WITHDRAWN),
    (S.SUBMITTED, S.SCREENING), (S.SUBMITTED, S.UNDER_REVIEW), (S.SUBMITTED, S.WITHDRAWN),
    (S.SCREENING, S.UNDER_REVIEW), (S.SCREENING, S.REJECTED), (S.SCREENING, S.WITHDRAWN),
    (S.UNDER_REVIEW, S.REVIEWED), (S.UNDER_REVIEW, S.WITHDRAWN),
    (S.REVIEWED, S.ACCEPTED), (S.REVIEWED, S.REJECTED), (S.REVIEWED, S.REVISION_REQUESTED),
    (S.REVIEWED, S.WITHDRAWN),
    (S.REVISION_REQUESTED, S.SUBMITTED), (S.REVISION_REQUESTED, S.WITHDRAWN),
}
PAIRS = [(a, b) for a in S for b in S]


@pytest.mark.parametrize("current, target", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_state_machine_allows_exactly_the_designed_transitions(current, target):
    expected = (current, target) in ALLOWED
    assert INITIATIVE_MACHINE.allowed(current, target) is expected
    if not expected:
        with pytest.raises(TransitionError):
            INITIATIVE_MACHINE.check(current, target)


def test_refused_transition_changes_nothing(people, make_initiative, db):
    initiative = make_initiative(people["proposer"])
    with pytest.raises(operations.InitiativeError):
        operations.transition(initiative, S.ACCEPTED, actor=people["admin"])
    assert initiative.status == S.DRAFT
    assert AuditEvent.query.filter_by(action="initiative.accepted").count() == 0


def _form(**overrides):
    data = {**COMPLETE_INITIATIVE, "keywords": "rice, irrigation, IoT",
            "team_members": "Nguyễn Văn An\nTrần Thị Bình"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_proposer_creates_edits_and_submits_through_the_pages(people, login, db):
    client = login(people["proposer"])
    response = client.post("/initiatives/new", data={"title": "Chỉ có tiêu đề", "language": "vi"})
    assert response.status_code == 302
    initiative = Initiative.query.one()
    assert initiative.status == S.DRAFT and initiative.title == "Chỉ có tiêu đề"

    confirm = client.get(f"/initiatives/{initiative.id}/submit").get_data(as_text=True)
    assert "Summary" in confirm and "Province or city" in confirm  # what is still missing
    refused = client.post(f"/initiatives/{initiative.id}/submit")
    assert refused.status_code == 303
    db.session.expire_all()
    assert db.session.get(Initiative, initiative.id).status == S.DRAFT

    saved = client.post(f"/initiatives/{initiative.id}/edit", data=_form())
    assert saved.status_code == 302
    db.session.expire_all()
    initiative = db.session.get(Initiative, initiative.id)
    assert initiative.keywords == ["rice", "irrigation", "IoT"]
    assert initiative.team_members == ["Nguyễn Văn An", "Trần Thị Bình"]

    done = client.post(f"/initiatives/{initiative.id}/submit")
    assert done.status_code == 302
    db.session.expire_all()
    initiative = db.session.get(Initiative, initiative.id)
    assert initiative.status == S.SCREENING and initiative.round == 1
    version = InitiativeVersion.query.filter_by(initiative_id=initiative.id).one()
    assert version.round == 1 and version.snapshot["title"] == COMPLETE_INITIATIVE["title"]
    actions = [e.action for e in AuditEvent.query.filter_by(object_type="initiative").order_by(AuditEvent.id)]
    assert actions == ["initiative.created", "initiative.edited", "initiative.submitted",
                       "initiative.entered_screening"]

    # Once submitted, the proposer can no longer edit.
    assert client.get(f"/initiatives/{initiative.id}/edit").status_code == 403
    page = client.get("/initiatives/mine").get_data(as_text=True)
    assert COMPLETE_INITIATIVE["title"] in page


def test_invalid_values_are_refused_without_losing_the_text(people, login, db):
    client = login(people["proposer"])
    response = client.post("/initiatives/new", data=_form(trl="12", title="Giữ lại tiêu đề này"))
    assert response.status_code == 400
    assert "Giữ lại tiêu đề này" in response.get_data(as_text=True)
    assert Initiative.query.count() == 0
    unknown = client.post("/initiatives/new", data=_form(province="atlantis"))
    assert unknown.status_code == 400
    assert Initiative.query.count() == 0


def test_other_proposers_cannot_see_or_edit(people, make_initiative, login):
    initiative = make_initiative(people["proposer"])
    client = login(people["other"])
    assert client.get(f"/initiatives/{initiative.id}").status_code == 403
    assert client.post(f"/initiatives/{initiative.id}/edit", data=_form(title="hijack")).status_code == 403
    assert client.post(f"/initiatives/{initiative.id}/withdraw").status_code == 403
    assert initiative.title == COMPLETE_INITIATIVE["title"]


def test_withdraw_before_a_decision(people, make_initiative, login, db):
    initiative = make_initiative(people["proposer"], submitted=True)
    client = login(people["proposer"])
    response = client.post(f"/initiatives/{initiative.id}/withdraw", data={"reason": "found funding"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Initiative, initiative.id).status == S.WITHDRAWN
    event = AuditEvent.query.filter_by(action="initiative.withdrawn").one()
    assert event.detail["reason"] == "found funding"


def test_no_withdrawal_after_a_decision(people, make_initiative, db):
    initiative = make_initiative(people["proposer"], submitted=True)
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        operations.transition(initiative, step, actor=people["admin"])
    db.session.commit()
    with pytest.raises(operations.InitiativeError):
        operations.withdraw(initiative, people["proposer"])


def test_resubmission_after_revision_keeps_both_versions(people, make_initiative, db):
    initiative = make_initiative(people["proposer"], submitted=True)
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.REVISION_REQUESTED):
        operations.transition(initiative, step, actor=people["admin"])
    operations.update_initiative(initiative, people["proposer"], title="Phiên bản hai")
    operations.submit(initiative, people["proposer"])
    db.session.commit()
    assert initiative.status == S.SUBMITTED and initiative.round == 2
    versions = InitiativeVersion.query.filter_by(initiative_id=initiative.id).order_by(InitiativeVersion.round).all()
    assert [v.snapshot["title"] for v in versions] == [COMPLETE_INITIATIVE["title"], "Phiên bản hai"]


def test_accepted_initiatives_are_public(people, make_initiative, client, db):
    initiative = make_initiative(people["proposer"], submitted=True)
    assert client.get(f"/initiatives/{initiative.id}").status_code == 302
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        operations.transition(initiative, step, actor=people["admin"])
    db.session.commit()
    page = client.get(f"/initiatives/{initiative.id}")
    assert page.status_code == 200
    assert COMPLETE_INITIATIVE["title"] in page.get_data(as_text=True)


def test_markdown_is_rendered_and_sanitised(people, make_initiative, login):
    initiative = make_initiative(people["proposer"], description="**đậm** <script>alert(1)</script>")
    page = login(people["proposer"]).get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "<strong>đậm</strong>" in page
    assert "<script>alert(1)</script>" not in page


def test_admin_list_filters(people, make_initiative, login):
    make_initiative(people["proposer"], submitted=True, title="Lúa chịu hạn", province="can-tho")
    make_initiative(people["proposer"], title="Giao thông thông minh", field="transport-logistics",
                    province="ha-noi")
    client = login(people["admin"])
    page = client.get("/initiatives/all?state=screening").get_data(as_text=True)
    assert "Lúa chịu hạn" in page and "Giao thông thông minh" not in page
    page = client.get("/initiatives/all?province=ha-noi").get_data(as_text=True)
    assert "Giao thông thông minh" in page and "Lúa chịu hạn" not in page
    page = client.get("/initiatives/all?q=giao").get_data(as_text=True)
    assert "Giao thông thông minh" in page
    page = client.get("/initiatives/all?field=transport-logistics").get_data(as_text=True)
    assert "Giao thông thông minh" in page and "Lúa chịu hạn" not in page


def test_admin_list_filters_by_call_and_pages_keep_the_filters(app, people, make_initiative, login):
    from review import operations as review

    admin = people["admin"]
    call = review.create_call(admin, title="Nông nghiệp xanh", reviewers_per_initiative=3,
                              default_max_load=5, review_days=14)
    app.config["ITEMS_PER_PAGE"] = 1
    for title in ("Cảm biến độ mặn", "Tưới nhỏ giọt"):
        make_initiative(people["proposer"], title=title, call_id=call.id)
    make_initiative(people["proposer"], title="Chợ số vùng cao")
    client = login(admin)
    first = client.get(f"/initiatives/all?call={call.id}").get_data(as_text=True)
    second = client.get(f"/initiatives/all?call={call.id}&page=2").get_data(as_text=True)
    shown = [t for t in ("Cảm biến độ mặn", "Tưới nhỏ giọt", "Chợ số vùng cao") if t in first + second]
    assert sorted(shown) == ["Cảm biến độ mặn", "Tưới nhỏ giọt"]
    assert ("Cảm biến độ mặn" in first) != ("Cảm biến độ mặn" in second)
    # The link to the next page keeps the call filter.
    assert f"call={call.id}" in first and "page=2" in first
    unfiltered = "".join(client.get(f"/initiatives/all?page={n}").get_data(as_text=True) for n in (1, 2, 3))
    assert all(t in unfiltered for t in ("Cảm biến độ mặn", "Tưới nhỏ giọt", "Chợ số vùng cao"))


# Attachments: real files of each allowed kind, and files that only pretend to be one.

def _pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>"
            b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def _office(part: str, xml: str) -> bytes:
    """A minimal Office Open XML package: the content types and the one ``part`` that names it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        stamp = (2026, 1, 1, 0, 0, 0)
        archive.writestr(zipfile.ZipInfo("[Content_Types].xml", stamp), '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        archive.writestr(zipfile.ZipInfo(part, stamp), f'<?xml version="1.0"?>{xml}')
    return buffer.getvalue()


def _docx() -> bytes:
    return _office("word/document.xml", '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>')


def _xlsx() -> bytes:
    return _office("xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>')


def _jpeg() -> bytes:
    """The start of a JFIF file: what the type check reads."""
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + b"\x00" * 64 + b"\xff\xd9")


def _upload(client, initiative, content, name):
    return client.post(f"/initiatives/{initiative.id}/attachments",
                       data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


@pytest.mark.parametrize("maker, name, expected_name", [
    (_pdf, "đề xuất.pdf", "đề xuất.pdf"), (_png, "sơ đồ.png", "sơ đồ.png"),
    (_docx, "plan.docx", "plan.docx"), (_pdf, "report.txt", "report.pdf"),
    (_xlsx, "ngân sách.xlsx", "ngân sách.xlsx"), (_jpeg, "ảnh hiện trường.jpeg", "ảnh hiện trường.jpg"),
    (_xlsx, "budget.pdf", "budget.xlsx"),
])
def test_attachments_of_allowed_kinds_are_kept_and_downloaded(people, make_initiative, login, app,
                                                             maker, name, expected_name):
    initiative = make_initiative(people["proposer"])
    client = login(people["proposer"])
    response = _upload(client, initiative, maker(), name)
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    attachment = initiative.attachments[0]
    assert attachment.original_name == expected_name
    assert os.listdir(os.path.join(app.instance_path, "attachments")) == [attachment.stored_name]
    assert name not in attachment.stored_name
    download = client.get(f"/initiatives/{initiative.id}/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == maker()
    assert login(people["other"]).get(f"/initiatives/{initiative.id}/attachments/{attachment.id}").status_code == 403


def _written_docx() -> bytes:
    """A Word document as python-docx writes it (from Word's own template)."""
    import docx

    document = docx.Document()
    document.add_heading("Tưới tiêu thông minh cho Đồng bằng sông Cửu Long", level=1)
    document.add_paragraph("Cảm biến độ ẩm đất và tin nhắn SMS cho nông dân.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _written_xlsx() -> bytes:
    """A workbook as openpyxl writes it, with several sheets and a formula."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Ngân sách"
    sheet.append(["Hạng mục", "VND"])
    sheet.append(["Cảm biến", 450_000_000])
    sheet.append(["Tổng", "=SUM(B2:B2)"])
    workbook.create_sheet("Tiến độ").append(["Quý", "Việc"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _written_image(kind: str) -> bytes:
    """A photo-sized image as Pillow writes it (JPEG with EXIF-free JFIF, PNG, or a one-page PDF)."""
    from PIL import Image

    image = Image.new("RGB", (320, 200), (40, 120, 60))
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


@pytest.mark.parametrize("maker, name", [
    (_written_docx, "thuyết minh.docx"), (_written_xlsx, "dự toán.xlsx"),
    (lambda: _written_image("JPEG"), "hiện trường.jpg"), (lambda: _written_image("PNG"), "bản đồ.png"),
    (lambda: _written_image("PDF"), "sơ đồ.pdf"),
])
def test_files_written_by_real_tools_are_accepted_intact(people, make_initiative, login, maker, name):
    initiative = make_initiative(people["proposer"])
    client = login(people["proposer"])
    content = maker()
    response = _upload(client, initiative, content, name)
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    attachment = initiative.attachments[0]
    assert attachment.original_name == name
    assert client.get(f"/initiatives/{initiative.id}/attachments/{attachment.id}").data == content


@pytest.mark.parametrize("content, name", [
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "invoice.pdf"),
    (b"#!/bin/sh\nrm -rf /\n", "script.png"),
    (b"", "empty.pdf"),
])
def test_disguised_or_empty_files_are_refused(people, make_initiative, login, app, content, name):
    initiative = make_initiative(people["proposer"])
    response = _upload(login(people["proposer"]), initiative, content, name)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "was not attached" in page
    assert initiative.attachments == []
    folder = os.path.join(app.instance_path, "attachments")
    assert not os.path.exists(folder) or os.listdir(folder) == []


def test_a_file_over_the_attachment_limit_is_refused(people, make_initiative, login, app):
    app.config["MAX_ATTACHMENT_BYTES"] = 1000
    initiative = make_initiative(people["proposer"])
    response = _upload(login(people["proposer"]), initiative, _pdf() + b"0" * 2000, "big.pdf")
    assert response.status_code == 400
    assert "The file is larger than 1 KB." in response.get_data(as_text=True)  # never "0 MB"
    assert initiative.attachments == []


@pytest.mark.parametrize("settings", [{"MAX_ATTACHMENT_BYTES": 2 * 1024 * 1024}])
def test_the_request_limit_follows_the_attachment_limit(app, people, make_initiative, login):
    """The request cap is derived from the attachment limit (plus 1 MB for the form): a file
    just over the limit reaches the form, which names the limit, instead of a generic 413."""
    from initiatives.uploads import readable_size

    assert app.config["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024
    initiative = make_initiative(people["proposer"])
    response = _upload(login(people["proposer"]), initiative, _pdf() + b"0" * (2 * 1024 * 1024), "big.pdf")
    assert response.status_code == 400
    assert "The file is larger than 2 MB." in response.get_data(as_text=True)
    assert readable_size(10 * 1024 * 1024) == "10 MB" and readable_size(1536 * 1024) == "1.5 MB"


def test_attachments_are_frozen_after_submission(people, make_initiative, login):
    initiative = make_initiative(people["proposer"], submitted=True)
    response = _upload(login(people["proposer"]), initiative, _pdf(), "late.pdf")
    assert response.status_code == 403


def test_removing_an_attachment_deletes_its_file(people, make_initiative, login, app, db):
    initiative = make_initiative(people["proposer"])
    client = login(people["proposer"])
    _upload(client, initiative, _pdf(), "a.pdf")
    attachment = initiative.attachments[0]
    path = os.path.join(app.instance_path, "attachments", attachment.stored_name)
    assert os.path.exists(path)
    response = client.post(f"/initiatives/{initiative.id}/attachments/{attachment.id}/delete")
    assert response.status_code == 302
    assert not os.path.exists(path)


def test_each_round_keeps_the_files_it_submitted(people, make_initiative, login, client, app, db):
    """Round 1's PDF stays downloadable, for those who may see the rounds, after the proposer
    replaced it during the revision; the current page lists only the new file."""
    from initiatives.uploads import check_files

    initiative = make_initiative(people["proposer"])
    proposer = login(people["proposer"])
    first = _pdf() + b"% round one\n"
    _upload(proposer, initiative, first, "kế hoạch v1.pdf")
    operations.submit(initiative, people["proposer"])
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.REVISION_REQUESTED):
        operations.transition(initiative, step, actor=people["admin"])
    db.session.commit()
    old_id, old_name = initiative.attachments[0].id, initiative.attachments[0].stored_name
    old_path = os.path.join(app.instance_path, "attachments", old_name)
    assert proposer.post(f"/initiatives/{initiative.id}/attachments/{old_id}/delete").status_code == 302
    _upload(proposer, initiative, _pdf(), "kế hoạch v2.pdf")
    assert proposer.post(f"/initiatives/{initiative.id}/submit").status_code == 302
    db.session.expire_all()
    assert initiative.round == 2 and [a.original_name for a in initiative.attachments] == ["kế hoạch v2.pdf"]
    assert os.path.exists(old_path)

    for reader in (proposer, login(people["admin"])):
        response = reader.get(f"/initiatives/{initiative.id}/rounds/1/files/0")
        assert response.status_code == 200 and response.data == first
        assert "v1.pdf" in response.headers["Content-Disposition"]
        assert reader.get(f"/initiatives/{initiative.id}/rounds/2/files/0").data == _pdf()
        assert reader.get(f"/initiatives/{initiative.id}/rounds/1/files/1").status_code == 404
        assert reader.get(f"/initiatives/{initiative.id}/rounds/3/files/0").status_code == 404
    page = proposer.get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert page.count("kế hoạch v1.pdf") == 1  # only under "Submission rounds"
    assert login(people["other"]).get(f"/initiatives/{initiative.id}/rounds/1/files/0").status_code == 403
    assert client.get(f"/initiatives/{initiative.id}/rounds/1/files/0").status_code in (302, 401)
    with app.test_request_context():
        report = check_files()
    assert old_name not in report.orphans and report.missing == []


def test_proposer_role_is_needed_to_start_a_draft(people, login):
    assert login(people["expert"]).post("/initiatives/new", data=_form()).status_code == 403
    assert Role.PROPOSER in people["proposer"].roles
