"""Fault-injection settings of the `MockController` (pure; no I/O).

The controller consults a `FaultPlan` for every command it answers and every
reply it sends; the knobs are set through the controller's methods
(`MockController.reject_next`, ``delay_replies``, ``withhold_replies``...).
"""

from __future__ import annotations

__all__ = ["FaultPlan", "ReplyFaults"]

import dataclasses
from collections.abc import Iterable

from ..protocol.enums import ReplyCode, Source
from ..protocol.replies import Reply


@dataclasses.dataclass
class ReplyFaults:
    """What happens to the replies sent to one console.

    Attributes
    ----------
    delay_s : `float`
        Every reply is sent this much later [s] (order is kept).
    withheld : `frozenset` [`ReplyCode`]
        Replies with these codes are dropped.
    """

    delay_s: float = 0.0
    withheld: frozenset[ReplyCode] = frozenset()

    def withholds(self, reply: Reply | bytes) -> bool:
        """Is ``reply`` to be dropped? (Raw bytes are never withheld.)"""
        return isinstance(reply, Reply) and reply.reply_code in self.withheld


class FaultPlan:
    """The fault-injection state of one controller.

    Parameters
    ----------
    roles : iterable of `Source`
        The console roles served.
    """

    def __init__(self, roles: Iterable[Source]) -> None:
        self.replies = {Source(role): ReplyFaults() for role in roles}
        self._reject_count = 0
        self._reject_explanation = ""

    @property
    def rejections_pending(self) -> int:
        """How many of the next commands will be rejected."""
        return self._reject_count

    def reject_next(self, count: int, explanation: str) -> None:
        """Reject the next ``count`` commands with NOACK ``explanation``.

        Raises
        ------
        ValueError
            If ``count`` is negative.
        """
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self._reject_count = count
        self._reject_explanation = explanation

    def take_rejection(self) -> str | None:
        """For a command just received: the NOACK explanation if it is to be rejected."""
        if self._reject_count <= 0:
            return None
        self._reject_count -= 1
        return self._reject_explanation

    def _select(self, role: Source | None) -> list[ReplyFaults]:
        return list(self.replies.values()) if role is None else [self.replies[role]]

    def delay(self, seconds: float, role: Source | None = None) -> None:
        """Delay replies to ``role`` (default: all) by ``seconds``.

        Raises
        ------
        ValueError
            If ``seconds`` is negative.
        """
        if not seconds >= 0:
            raise ValueError(f"a delay must be >= 0 s, got {seconds}")
        for faults in self._select(role):
            faults.delay_s = seconds

    def withhold(self, codes: Iterable[ReplyCode] | None, role: Source | None = None) -> None:
        """Drop replies with ``codes`` (default: every code) to ``role`` (default: all)."""
        withheld = frozenset(ReplyCode) if codes is None else frozenset(ReplyCode(c) for c in codes)
        for faults in self._select(role):
            faults.withheld = withheld

    def resume(self, role: Source | None = None) -> None:
        """Stop delaying and withholding replies to ``role`` (default: all)."""
        for faults in self._select(role):
            faults.delay_s = 0.0
            faults.withheld = frozenset()
