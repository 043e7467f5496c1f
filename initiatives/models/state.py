"""A small state machine: the allowed transitions of one kind of object, written down once."""

from enum import StrEnum


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
            raise TransitionError(
                f"A {self.name} cannot go from '{current}' to '{target}'."
            )

    def targets(self, current: StrEnum) -> set[StrEnum]:
        """The states reachable from ``current`` in one step."""
        return set(self.transitions.get(current, set()))
