"""Life cycles as data: a (state, event) → next-state table and the object it drives.

As h11's ``_state.py`` and `mountcomm.commanding.lifecycle`: the states and the
events are enums, ``table[state][event]`` is the next state, and a machine's
`StateMachine.handle` is the only writer of its state. The glue sends the
events it observes and acts on the state it gets back. Pure: no I/O, no loop.
"""

from __future__ import annotations

__all__ = ["StateMachine", "transition"]

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


def transition(table: Mapping[S, Mapping[E, S]], state: S, event: E, owner: str) -> S:
    """Return ``table[state][event]``, the state after ``event`` in ``state``.

    Raises
    ------
    RuntimeError
        If the table has no such transition: the caller's bug (``owner`` names it).
    """
    try:
        return table[state][event]
    except KeyError:
        raise RuntimeError(
            f"{owner}: event {event.name} is not allowed in state {state.name}"
        ) from None


class StateMachine(Generic[S, E]):
    """The current state of one life cycle, changed only by `handle`.

    A subclass gives the first state and `next_state` (its table's function).

    Attributes
    ----------
    state : `enum.Enum`
        The current state.
    """

    __slots__ = ("state",)

    def __init__(self, state: S) -> None:
        self.state = state

    def next_state(self, state: S, event: E) -> S:
        """The state after ``event`` in ``state`` (see `transition`)."""
        raise NotImplementedError

    def handle(self, event: E) -> S:
        """Apply ``event``; return the new state.

        Raises
        ------
        RuntimeError
            If ``event`` cannot happen in the current state.
        """
        self.state = self.next_state(self.state, event)
        return self.state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.state.name})"
