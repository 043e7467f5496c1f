"""Hostile uploads: a program dressed as a PDF, a zip bomb dressed as a DOCX, a 1 GB stream and a
file name that climbs out of the upload folder. Each is refused or defused, and nothing of a
refused file stays on disk."""

import io
import zipfile
from pathlib import Path

import pytest

from initiatives.models import Attachment, Role
from tests.hostile.conftest import PDF

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00" + b"\x00" * 200


@pytest.fixture
def draft(make_user, make_initiative):
    proposer = make_user(Role.PROPOSER)
    return proposer, make_initiative(proposer)


def attach(client, initiative, content, name):
    return client.post(f"/initiatives/{initiative.id}/attachments",
                       data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def stored_files(app):
    folder = Path(app.instance_path) / "attachments"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_renamed_executable_is_refused(draft, login, app):
    proposer, initiative = draft
    client = login(proposer)
    for content, name in ((ELF, "business-plan.pdf"), (MZ, "budget.docx"), (MZ, "photo.png")):
        response = attach(client, initiative, content, name)
        assert response.status_code == 400, name
        assert "Only PDF, DOCX, XLSX, PNG and JPEG" in response.get_data(as_text=True)
    assert Attachment.query.count() == 0 and stored_files(app) == []


def zip_bomb(unpacked_mb=120) -> bytes:
    """A valid DOCX-looking archive whose one member unpacks to ``unpacked_mb`` MB of zeros
    (about 1,000 times its packed size), written in chunks so the test never holds it whole."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(unpacked_mb):
                member.write(chunk)
        archive.writestr("[Content_Types].xml", "<Types/>")
    return buffer.getvalue()


def small_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document>" + "Cảm biến độ ẩm đất. " * 200 + "</w:document>")
        archive.writestr("[Content_Types].xml", "<Types/>")
    return buffer.getvalue()


def test_a_zip_bomb_named_docx_is_refused_without_unpacking_it(draft, login, app, monkeypatch):
    proposer, initiative = draft
    bomb = zip_bomb()
    assert len(bomb) < app.config["MAX_ATTACHMENT_BYTES"]  # small enough to pass the size check

    def no_unpacking(*args, **kwargs):
        raise AssertionError("the upload check unpacked a member of the archive")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_unpacking)
    monkeypatch.setattr(zipfile.ZipFile, "read", no_unpacking)
    response = attach(login(proposer), initiative, bomb, "report.docx")
    assert response.status_code == 400
    assert "unpacks to far more" in response.get_data(as_text=True)
    assert Attachment.query.count() == 0 and stored_files(app) == []


def test_a_broken_archive_is_refused(draft, login, app):
    proposer, initiative = draft
    client = login(proposer)
    for content in (b"PK\x03\x04word/" + b"\0" * 200, small_docx()[:-30]):  # no central directory
        assert attach(client, initiative, content, "report.docx").status_code == 400
    assert Attachment.query.count() == 0


def test_an_honest_docx_still_passes(draft, login, app):
    proposer, initiative = draft
    response = attach(login(proposer), initiative, small_docx(), "report.docx")
    assert response.status_code == 302
    assert Attachment.query.one().original_name == "report.docx"


class HugeStream:
    """A request body that claims to be ``size`` bytes (1 GB), makes its bytes up on demand and
    counts how many the server read: nothing is allocated beyond one read."""

    def __init__(self, size=1024 ** 3):
        self.size, self.position, self.read_bytes = size, 0, 0

    def tell(self):
        return self.position

    def seek(self, offset, whence=0):
        self.position = self.size + offset if whence == 2 else offset
        return self.position

    def read(self, size=-1):
        size = 65536 if size is None or size < 0 else min(size, 65536, self.size - self.position)
        self.position += size
        self.read_bytes += size
        return b"x" * size

    def readline(self, size=-1):
        return self.read(size)


def test_a_1_gb_stream_is_refused_before_it_is_read(draft, login, app):
    proposer, initiative = draft
    client = login(proposer)
    client.auto_csrf = False  # the token would be inside the body the server must not read
    body = HugeStream()
    response = client.post(f"/initiatives/{initiative.id}/attachments", input_stream=body,
                           content_type="multipart/form-data; boundary=hostile")
    assert response.request.environ["CONTENT_LENGTH"] == str(1024 ** 3)
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert body.read_bytes == 0, "the body of an oversized request was read"
    assert Attachment.query.count() == 0 and stored_files(app) == []


def test_a_path_traversal_name_is_stored_inside_the_folder_and_shown_escaped(draft, login, app, tmp_path):
    proposer, initiative = draft
    client = login(proposer)
    folder = (Path(app.instance_path) / "attachments")
    names = ("../../etc/passwd.pdf", "..\\..\\windows\\win.ini.pdf", "/etc/shadow.pdf", "....//....//x.pdf")
    for name in names:
        assert attach(client, initiative, PDF, name).status_code == 302, name
    attachments = Attachment.query.order_by(Attachment.id).all()
    assert [a.original_name for a in attachments][::2] == ["passwd.pdf", "shadow.pdf"]
    assert all("/" not in a.original_name and "\\" not in a.original_name for a in attachments)
    assert sorted(p.name for p in stored_files(app)) == sorted(a.stored_name for a in attachments)
    assert all((folder / a.stored_name).resolve().parent == folder.resolve() for a in attachments)
    assert not (tmp_path / "etc").exists() and not (Path(app.instance_path) / "etc").exists()
    page = client.get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "../" not in page.split("<main", 1)[-1]
    for attachment in attachments:
        download = client.get(f"/initiatives/{initiative.id}/attachments/{attachment.id}")
        assert download.status_code == 200 and download.data == PDF
        disposition = download.headers["Content-Disposition"]
        assert disposition == f"attachment; filename={attachment.original_name}"


def test_a_script_in_a_file_name_is_shown_escaped(draft, login):
    proposer, initiative = draft
    client = login(proposer)
    # (a double quote cannot travel in a multipart file name: browsers send it as %22)
    assert attach(client, initiative, PDF, "<img src=x onerror=alert(1)>.pdf").status_code == 302
    page = client.get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "<img src=x onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
