"""The bell: its badge counts the signed-in user's unread notifications only; the list shows
them newest first; posting marks them all read, for that user only, and the badge goes away."""

import re

from initiatives.extensions import db
from initiatives.mail import notify
from initiatives.models import Notification, Role

BADGE = re.compile(r'id="unread-count">(\d+)<')


def badge(client) -> int | None:
    match = BADGE.search(client.get("/").get_data(as_text=True))
    return int(match.group(1)) if match else None


def test_the_badge_counts_unread_notifications_and_marking_read_clears_them(make_user, login):
    reader = make_user(Role.PROPOSER)
    someone_else = make_user(Role.EXPERT)
    for text in ("First: your initiative was screened", "Second: a decision was made"):
        notify(reader, text, link="/initiatives/mine")
    notify(someone_else, "Not yours: an invitation")
    db.session.commit()
    client = login(reader)

    assert badge(client) == 2
    page = client.get("/notifications").get_data(as_text=True)
    assert page.index("Second: a decision") < page.index("First: your initiative")
    assert "Not yours" not in page
    assert "Mark all as read" in page

    response = client.post("/notifications")
    assert response.status_code == 302
    assert badge(client) is None
    page = client.get("/notifications").get_data(as_text=True)
    assert "Mark all as read" not in page and "Second: a decision" in page
    assert Notification.query.filter_by(user_id=reader.id, read_at=None).count() == 0
    assert Notification.query.filter_by(user_id=someone_else.id, read_at=None).count() == 1

    notify(reader, "Third: an invitation to review")
    db.session.commit()
    assert badge(client) == 1


def test_marking_read_needs_a_session_and_a_csrf_token(app, make_user, login):
    reader = make_user(Role.PROPOSER)
    notify(reader, "Waiting")
    db.session.commit()
    anonymous = app.test_client()
    assert anonymous.post("/notifications").status_code in (302, 401)
    client = login(reader)
    client.auto_csrf = False
    assert client.post("/notifications").status_code == 400
    assert Notification.query.filter_by(user_id=reader.id, read_at=None).count() == 1
