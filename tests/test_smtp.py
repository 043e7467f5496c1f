"""E-mail through a real SMTP conversation: a local aiosmtpd server on the loopback receives what
the portal sends after each commit, in the recipient's language, as the recipient chose."""

import email
import re
import socket
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller

from initiatives.models import InitiativeState, Notification, OutboxMessage
from initiatives.proposals import operations as proposals

S = InitiativeState


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content)
        message.envelope_to = list(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address):
        return [m for m in self.messages if address in m.envelope_to]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def settings(inbox):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": inbox[1]}


def subject_of(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def body_of(message) -> str:
    return message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")


@pytest.fixture
def story(people, make_initiative, make_demand, db):
    initiative = make_initiative(people["proposer"], submitted=True)
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        proposals.transition(initiative, step, actor=people["admin"])
    db.session.commit()
    return {"initiative": initiative, "demand": make_demand(people["owner"]), **people}


def request(client, story):
    return client.post("/connections/request", data={"demand_id": story["demand"].id,
                                                      "initiative_id": story["initiative"].id,
                                                      "message": "Chúng tôi cần giải pháp này."})


def test_a_request_reaches_the_proposer_by_smtp_without_hidden_names(story, login, inbox):
    handler, _port = inbox
    assert request(login(story["owner"]), story).status_code == 302
    [message] = handler.to("proposer@example.org")
    assert subject_of(message) == "A demand owner asks to connect with your initiative"
    assert message["To"] == "proposer@example.org" and message["Content-Language"] == "en"
    body = body_of(message)
    assert story["initiative"].title in body and "/connections/" in body
    for hidden in ("Phạm Dung", "owner@example.org", "Công ty Nông sản Lào Cai"):
        assert hidden not in body and hidden not in subject_of(message)
    assert OutboxMessage.query.one().status == "sent"

    assert login(story["proposer"]).post("/connections/1/accept").status_code == 302
    [accepted] = handler.to("owner@example.org")
    assert "proposer@example.org" in body_of(accepted)  # both agreed: the contact is given


def test_each_recipient_reads_their_own_language(story, login, inbox, db):
    handler, _port = inbox
    story["proposer"].locale = "vi"
    db.session.commit()
    request(login(story["owner"]), story)  # the owner writes in English
    [message] = handler.to("proposer@example.org")
    assert message["Content-Language"] == "vi"
    assert subject_of(message) == "Một bên có nhu cầu muốn kết nối với sáng kiến của bạn"
    assert "Xin chào" in body_of(message)
    note = Notification.query.filter_by(user_id=story["proposer"].id).one()
    assert "muốn kết nối" in note.message


def test_users_choose_what_comes_by_e_mail(story, login, inbox, db):
    handler, _port = inbox
    proposer = login(story["proposer"])
    page = proposer.get("/account").get_data(as_text=True)
    [box] = re.findall(r'<input[^>]*value="connection"[^>]*>', page)
    assert "checked" in box
    response = proposer.post("/account", data={"name": "Nguyễn Văn An", "organisation": "", "locale": "en",
                                               "email_notifications": "y"})  # every kind unticked
    assert response.status_code == 302
    db.session.expire_all()
    assert story["proposer"].email_opt_out == ["connection"]
    request(login(story["owner"]), story)
    assert handler.to("proposer@example.org") == []
    assert Notification.query.filter_by(user_id=story["proposer"].id).count() == 1  # in-app always

    # A password reset is no notification: it always comes.
    login(story["other"])  # unrelated traffic does not matter
    from initiatives.accounts import operations as accounts

    accounts.request_password_reset("proposer@example.org")
    db.session.commit()
    assert [subject_of(m) for m in handler.to("proposer@example.org")] == ["Reset your Initiative Portal password"]


def test_the_master_switch_stops_every_notification_e_mail(story, login, inbox, db):
    handler, _port = inbox
    story["proposer"].email_notifications = False
    db.session.commit()
    request(login(story["owner"]), story)
    assert handler.to("proposer@example.org") == [] and OutboxMessage.query.count() == 0


class TestServerDown:
    @pytest.fixture
    def settings(self):
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": _free_port()}  # nobody listens there

    def test_the_request_still_succeeds_and_the_message_waits(self, story, login):
        assert request(login(story["owner"]), story).status_code == 302
        message = OutboxMessage.query.one()
        assert message.status == "failed" and message.error
