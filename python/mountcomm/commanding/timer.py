"""`DeadlineTimer`: one event-loop timer, armed at the earliest of many deadlines."""

from __future__ import annotations

__all__ = ["DeadlineTimer"]

import asyncio
from collections.abc import Callable


class DeadlineTimer:
    """One ``loop.call_at`` handle that fires ``callback`` at the earliest deadline asked.

    The owner calls `arm` with every new deadline; the timer moves only when a
    deadline is earlier than the one it is set for, so arming costs O(1) and at
    most one handle exists. When it fires, the owner handles what is due and
    arms it again with its next deadline. A deadline that has meanwhile gone
    away only costs one spurious call.

    Parameters
    ----------
    callback : callable
        Called with no argument when the timer fires (on the event loop).
    """

    __slots__ = ("_callback", "_handle", "_loop")

    def __init__(self, callback: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    @property
    def when(self) -> float | None:
        """When the timer fires [s, loop clock], or `None` if it is not armed."""
        return None if self._handle is None else self._handle.when()

    def arm(self, when: float | None) -> None:
        """Fire at ``when`` [s, loop clock] if that is earlier than now set; `None`: no-op."""
        if when is None:
            return
        handle = self._handle
        if handle is not None:
            if handle.when() <= when:
                return
            handle.cancel()
        self._handle = self._loop.call_at(when, self._fire)

    def cancel(self) -> None:
        """Disarm. Idempotent."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()
