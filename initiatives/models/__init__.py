"""The portal's core models, one file each; importing this package registers them all."""

from .attachment import Attachment
from .audit import AuditEvent
from .call import Call
from .demand import Demand, DemandState
from .expert import ExpertProfile, InitiativeConflict, OrganisationConflict, Publication
from .initiative import Initiative, InitiativeState, InitiativeVersion
from .notification import Notification
from .outbox import OutboxMessage
from .state import StateMachine, TransitionError
from .user import Role, User, UserRole

__all__ = [
    "Attachment", "AuditEvent", "Call", "Demand", "DemandState", "ExpertProfile",
    "InitiativeConflict", "OrganisationConflict", "Publication", "Initiative", "InitiativeState",
    "InitiativeVersion", "Notification", "OutboxMessage", "StateMachine", "TransitionError",
    "Role", "User", "UserRole",
]
