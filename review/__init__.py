"""Expert review workflows: calls and rubrics, screening, assignments and invitations, reviews,
results and decisions, and the next round after a revision."""

import logging

log = logging.getLogger(__name__)

DEFAULTS = {
    "REVIEW_REMIND_DAYS": 3,               # remind reviewers this many days before the due date
    "REVIEW_SPREAD_THRESHOLD": 0.25,       # disagreement: spread above this fraction of the scale
    "REVIEW_CALIBRATION_MIN_REVIEWS": 3,   # reviews a reviewer needs before calibration uses them
    "PORTAL_URL": None,                    # links in e-mails sent from the command line
}


def init_app(app) -> None:
    """Plug the review into the portal: pages, commands, menu, and the hooks of the core."""
    from initiatives import signals
    from initiatives.mail import register_email_kind
    from initiatives.models import Initiative
    from initiatives.proposals.controllers import initiative_panels
    from initiatives.templating import extra_nav_items
    from review import (
        assign,
        cli,
        controllers,
        models,  # noqa: F401  (registers the tables)
        operations,
        reviewer_controllers,
    )

    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    controllers.init_app(app)
    cli.init_app(app)
    for hooks, hook in ((extra_nav_items, _nav), (assign.on_confirm, operations.invitations_confirmed),
                        (initiative_panels, reviewer_controllers.review_panel),
                        (Initiative.extra_view_rules, _reviewer_may_view)):
        if hook not in hooks:
            hooks.append(hook)
    for kind, label in operations.EMAIL_KINDS.items():
        register_email_kind(kind, label)

    def next_round(sender, initiative_id: int, round: int = 1, **_payload):
        """After a submission committed, in a transaction of its own: the administrators learn
        that a first round waits in the screening queue; a resubmission goes back to its
        reviewers, or, with none left, the administrators learn it waits for reviewers (a
        failure leaves it on the assignment page, never half-done)."""
        if sender is not app:
            return
        from initiatives.extensions import db

        with app.app_context():
            try:
                initiative = db.session.get(Initiative, initiative_id)
                if initiative is not None:
                    invited = operations.start_next_round(initiative) if round >= 2 else []
                    if not invited:
                        operations.tell_admins_submitted(initiative)
                    db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("re-inviting the reviewers of initiative %s failed", initiative_id)
            finally:
                db.session.remove()

    # Kept on the app: blinker holds receivers by weak reference.
    app.extensions["review_receivers"] = [next_round]
    signals.initiative_submitted.connect(next_round)


def _reviewer_may_view(initiative, user) -> bool:
    """A reviewer opens the initiatives assigned to them (not while the proposer revises)."""
    from initiatives.extensions import db
    from initiatives.models import ExpertProfile, InitiativeState
    from review.models import COUNTED_STATES, Assignment

    if initiative.status in (InitiativeState.DRAFT, InitiativeState.REVISION_REQUESTED):
        return False
    return db.session.query(Assignment.query.join(ExpertProfile, Assignment.expert_id == ExpertProfile.id)
                            .filter(Assignment.initiative_id == initiative.id, ExpertProfile.user_id == user.id,
                                    Assignment.state.in_(COUNTED_STATES)).exists()).scalar()


def _nav(user):
    from flask_babel import lazy_gettext as _l

    from initiatives.models import Role

    items = []
    if user.is_authenticated and user.has_role(Role.EXPERT):
        items.append({"url": "/review/mine", "label": _l("My reviews"), "prefix": "/review/mine"})
    if user.is_authenticated and user.is_admin:
        items.append({"url": "/review/screening", "label": _l("Screening"), "prefix": "/review/screening"})
        items.append({"url": "/review/calls", "label": _l("Calls and review"), "prefix": "/review/calls"})
    return items
