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
    from initiatives.mail import EMAIL_KINDS

    assert story["proposer"].email_opt_out == sorted(EMAIL_KINDS)
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


# The review's e-mails --------------------------------------------------------------------------

PROPOSER_IDENTITY = ("Nguyễn Văn An", "proposer@example.org", "Đại học Cần Thơ", "Trần Thị Bình")
REVIEWER_IDENTITY = ("Lê Minh Chí", "expert@example.org", "Viện Công nghệ")


@pytest.fixture
def review_story(people, make_initiative, db):
    """A screened initiative in a double-blind call, and the expert who will review it (in Vietnamese)."""
    from initiatives.experts import operations as experts
    from review import operations as review

    call = review.create_call(people["admin"], title="Đợt thẩm định ẩn danh hai chiều", reviewers_per_initiative=1,
                              default_max_load=5, review_days=14, blind_mode="double", reviewers_see_others=False)
    db.session.commit()
    initiative = make_initiative(people["proposer"], submitted=True, call_id=call.id)
    review.pass_screening(initiative, people["admin"])
    people["expert"].locale = "vi"
    profile = experts.profile_for(people["expert"])
    db.session.commit()
    return {"initiative": initiative, "profile": profile, **people}


def invite(review_story, db):
    from review import operations as review

    assignment = review.invite_expert(review_story["initiative"], review_story["profile"], review_story["admin"])
    db.session.commit()
    return assignment


def mail_text(message) -> str:
    return subject_of(message) + "\n" + body_of(message)


def test_a_review_invitation_goes_by_smtp_in_the_reviewers_language_without_the_proposer(review_story, inbox, db):
    handler, _port = inbox
    invite(review_story, db)
    [message] = handler.to("expert@example.org")
    title = review_story["initiative"].title
    assert subject_of(message) == f"Lời mời thẩm định: {title}"
    assert message["To"] == "expert@example.org" and message["Content-Language"] == "vi"
    assert "/review/assignments/" in body_of(message)
    for hidden in PROPOSER_IDENTITY:  # double-blind: not who proposed it
        assert hidden not in mail_text(message), hidden


def test_a_decision_reaches_the_proposer_by_smtp_without_reviewer_names(review_story, inbox, db):
    from review import operations as review
    from review import reviewing

    handler, _port = inbox
    review_story["proposer"].locale = "vi"
    db.session.commit()
    assignment = invite(review_story, db)
    expert = review_story["expert"]
    review.accept_assignment(assignment, expert)
    db.session.commit()
    scores = {c.id: 4 for c in reviewing.review_for(assignment).rubric.criteria}
    reviewing.save_review(assignment, expert, scores=scores, confidence=4, recommendation="accept",
                          comments_to_proposer="A useful sensor.", confidential_comments="Strong team.",
                          submit=True)
    db.session.commit()
    review.complete_round(review_story["initiative"], review_story["admin"])
    review.record_decision(review_story["initiative"], "accepted", "Đáng được triển khai.", review_story["admin"])
    db.session.commit()
    [message] = handler.to("proposer@example.org")
    title = review_story["initiative"].title
    assert subject_of(message) == f"Quyết định về sáng kiến của ông/bà: {title}"
    assert message["To"] == "proposer@example.org" and message["Content-Language"] == "vi"
    assert "Đáng được triển khai." in body_of(message)
    for hidden in (*REVIEWER_IDENTITY, "Strong team."):  # nor the confidential comment
        assert hidden not in mail_text(message), hidden


def test_opting_out_of_one_review_kind_stops_that_e_mail_only(review_story, login, inbox, db):
    from review import operations as review

    handler, _port = inbox
    expert = login(review_story["expert"])
    page = expert.get("/account").get_data(as_text=True)
    assert "Lời mời thẩm định sáng kiến" in page  # the review's kinds, in the expert's language
    for kind in ("connection", *review.EMAIL_KINDS):
        [box] = re.findall(rf'<input[^>]*value="{kind}"[^>]*>', page)
        assert "checked" in box, kind
    wanted = [kind for kind in ("connection", *review.EMAIL_KINDS) if kind != "review_invitation"]
    response = expert.post("/account", data={"name": "Lê Minh Chí", "organisation": "Viện Công nghệ",
                                             "locale": "vi", "email_notifications": "y", "email_kinds": wanted})
    assert response.status_code == 302
    db.session.expire_all()
    assert review_story["expert"].email_opt_out == ["review_invitation"]

    assignment = invite(review_story, db)
    assert handler.to("expert@example.org") == []  # no invitation by e-mail ...
    [note] = Notification.query.filter_by(user_id=review_story["expert"].id).all()
    assert review_story["initiative"].title in note.message  # ... but in the bell
    review.cancel_assignment(assignment, review_story["admin"], "Wrong panel.")
    db.session.commit()
    [cancelled] = handler.to("expert@example.org")  # another kind still comes
    assert subject_of(cancelled).startswith("Đã hủy thẩm định")


class TestServerDown:
    @pytest.fixture
    def settings(self):
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": _free_port()}  # nobody listens there

    def test_the_request_still_succeeds_and_the_message_waits(self, story, login):
        assert request(login(story["owner"]), story).status_code == 302
        message = OutboxMessage.query.one()
        assert message.status == "failed" and message.error
