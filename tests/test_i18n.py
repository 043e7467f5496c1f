"""Every user-facing string speaks Vietnamese too; the switch and the browser's language work."""

from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from initiatives.models import Role

CATALOGUE = Path(__file__).parent.parent / "initiatives/translations/vi/LC_MESSAGES/messages.po"


def test_the_vietnamese_catalogue_is_complete():
    with open(CATALOGUE, "rb") as f:
        catalog = read_po(f, locale="vi")
    untranslated = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []
    assert len(catalog) > 300


def test_every_string_in_the_code_is_in_the_catalogue(tmp_path):
    """A string added to the code without `make messages` would show in English to everyone."""
    root = CATALOGUE.parents[4]
    template = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(root / "babel.cfg"), "-k", "_l",
                                "-k", "lazy_gettext", "-k", "ngettext", "-k", "_mark",
                                "-o", str(template), str(root)])
    with open(template, "rb") as f:
        in_code = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with open(CATALOGUE, "rb") as f:
        translated = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f, locale="vi") if m.id}
    assert len(in_code) > 300
    assert sorted(in_code - translated) == []


def test_switching_the_interface_to_vietnamese(client, db):
    assert "Sign in" in client.get("/login").get_data(as_text=True)
    client.get("/lang/vi")
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="vi"' in page and "Đăng nhập" in page
    client.get("/lang/en")
    assert "Sign in" in client.get("/login").get_data(as_text=True)


def test_the_browser_language_is_followed(client, db):
    page = client.get("/register", headers={"Accept-Language": "vi-VN,vi;q=0.9"}).get_data(as_text=True)
    assert "Tạo tài khoản" in page or "Đăng ký" in page
    assert 'lang="vi"' in client.get("/?lang=vi").get_data(as_text=True)


def test_validation_messages_are_translated(client, db):
    client.get("/lang/vi")
    response = client.post("/register", data={"email": "not-an-address", "password": "x"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Trường này là bắt buộc." in page and "Địa chỉ e-mail không hợp lệ." in page
    assert "This field is required." not in page


def test_state_labels_follow_the_language(people, make_initiative, login):
    make_initiative(people["proposer"], submitted=True)
    client = login(people["proposer"])
    english = client.get("/initiatives/mine").get_data(as_text=True)
    client.get("/lang/vi")
    vietnamese = client.get("/initiatives/mine").get_data(as_text=True)
    assert "Screening" in english or "screening" in english.lower()
    assert vietnamese != english and 'lang="vi"' in vietnamese
    assert Role.PROPOSER in people["proposer"].roles
