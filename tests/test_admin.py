"""The admin's overview, outbox and audit log."""

from initiatives.mail import queue_mail
from initiatives.models import OutboxMessage


def test_outbox_lists_messages_written_without_smtp(people, login, db):
    queue_mail("someone@example.org", "Xin chào", "Nội dung thư")
    db.session.commit()
    page = login(people["admin"]).get("/admin/outbox").get_data(as_text=True)
    assert "someone@example.org" in page and "Xin chào" in page
    assert OutboxMessage.query.one().sent_at is None


def test_audit_log_shows_who_did_what(people, make_initiative, login):
    make_initiative(people["proposer"], submitted=True)
    client = login(people["admin"])
    page = client.get("/admin/audit?type=initiative").get_data(as_text=True)
    assert "initiative.submitted" in page and "Nguyễn Văn An" in page
    assert "user.registered" not in page


def test_admin_overview_counts(people, make_initiative, login):
    make_initiative(people["proposer"], submitted=True)
    response = login(people["admin"]).get("/admin/")
    assert response.status_code == 200
