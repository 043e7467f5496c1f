"""A small state machine: the allowed transitions of one kind of object, written down once."""

from enum import StrEnum

from flask_babel import lazy_gettext as _l

# The refusal is read by the person who asked, in their language.
OBJECT_NAMES = {"initiative": _l("An initiative"), "demand": _l("A demand"),
                "connection": _l("A connection"), "assignment": _l("An assignment")}


def _state(state: StrEnum) -> str:
    from ..labels import STATE_LABELS

    value = getattr(state, "value", state)
    return str(STATE_LABELS.get(value, value))


class TransitionError(ValueError):
    """Raised when an object is asked to move to a state its machine does not allow."""


class StateMachine:
    """Allowed transitions of one object type: {from_state: {to_state, ...}}."""

    def __init__(self, name: str, transitions: dict[StrEnum, set[StrEnum]]):
        self.name = name
        self.transitions = transitions

    def allowed(self, current: StrEnum, target: StrEnum) -> bool:
        """Whether ``current -> target`` is a transition of this machine."""
        return target in self.transitions.get(current, set())

    def check(self, current: StrEnum, target: StrEnum) -> None:
        """Raise TransitionError with a readable message unless ``current -> target`` is allowed."""
        if not self.allowed(current, target):
            raise TransitionError(str(_l(
                "%(object)s cannot go from “%(current)s” to “%(target)s”.",
                object=OBJECT_NAMES.get(self.name, self.name), current=_state(current),
                target=_state(target))))

    def targets(self, current: StrEnum) -> set[StrEnum]:
        """The states reachable from ``current`` in one step."""
        return set(self.transitions.get(current, set()))
