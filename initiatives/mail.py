"""E-mail: every message goes to the outbox in the caller's transaction, then out by SMTP if set."""

import smtplib
from email.message import EmailMessage

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, object_session

from .extensions import db
from .models import Notification, OutboxMessage
from .models.user import utcnow
from .signals import announce_after_commit, portal_signals

mail_queued = portal_signals.signal("mail-queued")

# The kinds of notification a user may choose to receive by e-mail or not (in-app ones always
# arrive), with the label shown on the account page. Areas add theirs with ``register_email_kind``.
# A message sent without a kind (a password reset) is always sent.
EMAIL_KINDS: dict[str, object] = {
    "connection": _l("Connections between demands and initiatives: requests, answers, adoption"),
}


def register_email_kind(kind: str, label) -> None:
    """Let users opt out of e-mails of ``kind`` on their account page (``label`` says what they are)."""
    EMAIL_KINDS.setdefault(kind, label)


def queue_mail(recipient: str, subject: str, body: str) -> OutboxMessage:
    """Put a message in the outbox (same transaction as the caller); it is sent after commit."""
    message = OutboxMessage(recipient=recipient, subject=subject, body=body)
    db.session.add(message)
    db.session.flush()
    announce_after_commit(db.session, mail_queued, message_id=message.id)
    return message


def mail_user(user, subject: str, template: str, *, kind: str | None = None,
              **context) -> OutboxMessage | None:
    """Render ``template`` in the user's own language and queue it for them.

    ``kind`` (a key of EMAIL_KINDS) lets the user opt out of such e-mails; None always sends.
    Returns None when nothing is queued (no address, or the user opted out)."""
    if user is None or not user.email:
        return None
    if not user.wants_email(kind):
        return None
    with force_locale(user.locale or "en"):
        body = render_template(template, user=user, **context)
        subject_text = str(subject() if callable(subject) else subject)
    return queue_mail(user.email, subject_text, body)


def notify(user, message: str, link: str = "") -> Notification:
    """Add an in-app notification for ``user`` (the bell); in the caller's transaction."""
    notification = Notification(user_id=user.id, message=str(message)[:500], link=link)
    db.session.add(notification)
    return notification


def deliver(message: OutboxMessage) -> bool:
    """Send one queued message through the configured SMTP server; record the outcome."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        return False
    email = EmailMessage()
    email["From"] = config["MAIL_SENDER"]
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email.set_content(message.body)
    language = _recipient_language(message)
    if language:  # after set_content, which resets the Content-* headers
        email["Content-Language"] = language
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10) as smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(email)
    except (OSError, smtplib.SMTPException) as error:
        message.status, message.error = "failed", str(error)[:1000]
        return False
    message.status, message.sent_at, message.error = "sent", utcnow(), None
    return True


def _recipient_language(message: OutboxMessage) -> str | None:
    """The interface language of the account the message goes to, if there is one."""
    from .models import User

    session = object_session(message) or db.session
    user = session.query(User).filter_by(email=message.recipient).first()
    return user.locale if user is not None else None


def deliver_pending() -> tuple[int, int]:
    """Try every queued or failed message once; returns (sent, failed)."""
    sent = failed = 0
    for message in OutboxMessage.query.filter(OutboxMessage.status != "sent").all():
        if deliver(message):
            sent += 1
        else:
            failed += 1
    db.session.commit()
    return sent, failed


@mail_queued.connect
def _deliver_after_commit(app, message_id: int) -> None:
    """Send a freshly committed message at once when SMTP is configured (errors stay queued)."""
    if not app.config.get("MAIL_SERVER"):
        return
    # The committed session may emit no more SQL inside its after_commit event: use a fresh one.
    with Session(db.engine) as session:
        message = session.get(OutboxMessage, message_id)
        if message is not None and message.status != "sent":
            deliver(message)
            session.commit()
