"""`Replayer`: the part of a `MockController` that answers from a recording.

`MockController.from_recording` gives its controller one. The sockets, ports,
consoles and shutdown stay the controller's; the answers come from a
`ReplayScript` (see `mountcomm.sim.replay` for the matching rules) instead of
the simulated devices, and the telemetry served is the recorded one. The
replayer knows its controller only through `ReplayOwner`.
"""

from __future__ import annotations

__all__ = ["ReplayOwner", "Replayer"]

import asyncio
import itertools
import time
from collections.abc import Iterable
from typing import Any, Protocol

from ..exceptions import ProtocolError
from ..protocol.commands import Command
from ..protocol.enums import Source
from ..telemetry.timescales import utc_to_tai
from .clock import SimClock
from .replay import Plan, RecordedCommand, ReplayScript, code_text, mismatch_reply, restamp


class ReplayOwner(Protocol):
    """What a `Replayer` needs from its controller."""

    clock: SimClock
    log: Any

    def send_frame(self, role: Source, data: bytes, *, answer: bool = True) -> None:
        """Queue ``data`` (whole frames) to ``role``'s console.

        Unless ``answer``, only while its reply connection is up.
        """

    def publish_telemetry(self, data: bytes) -> None:
        """Send ``data`` (whole lines) to every telemetry client."""


class Replayer:
    """Answer a controller's consoles as the controller of a recording did.

    Every frame is sent at its recorded delay (divided by the owner's
    ``clock.time_scale``) on the running event loop, restamped (see `restamp`).

    Parameters
    ----------
    script : `ReplayScript`
        The recording's answers.
    owner : `ReplayOwner`
        Sends the frames (a `MockController`).

    Attributes
    ----------
    script : `ReplayScript`
        Its ``matched`` and ``mismatched`` counts tell how the replay went.
    """

    def __init__(self, script: ReplayScript, owner: ReplayOwner) -> None:
        self.script = script
        self.owner = owner
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()
        self._stopped = False

    def start(self) -> None:
        """Send what the controller sent before the first command, as recorded."""
        self._schedule(self.script.opening, None)

    def stop(self) -> None:
        """Cancel the frames not yet sent; nothing is sent afterwards. Idempotent."""
        self._stopped = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def command(self, role: Source, command: Command) -> None:
        """Answer ``command`` from ``role`` from the recording (NOACK if it does not match)."""
        self._answer(role, self.script.answer(role, command), command.sequence_id, command.source)

    def bad_frame(self, role: Source, error: ProtocolError, sequence_id: int | None) -> None:
        """Match a malformed frame (its ``sequence_id``, if one was read) by its code."""
        outcome = self.script.answer(role, None, code_text(error.frame))
        if isinstance(outcome, str) and (sequence_id is None or sequence_id <= 0):
            return  # nobody to tell
        self._answer(role, outcome, sequence_id, Source.CSC)

    def _answer(
        self,
        role: Source,
        outcome: RecordedCommand | str,
        sequence_id: int | None,
        source: Source,
    ) -> None:
        if isinstance(outcome, str):
            self.owner.log.warning("replay_mismatch", role=role.name, explanation=outcome)
            if sequence_id is not None:
                self.owner.send_frame(role, mismatch_reply(source, sequence_id, outcome))
            return
        self._schedule(outcome.plans, sequence_id)

    def _schedule(self, plans: Iterable[Plan], sequence_id: int | None) -> None:
        if self._stopped:
            return
        loop = asyncio.get_running_loop()
        scale = self.owner.clock.time_scale
        for plan in plans:
            key = next(self._keys)
            self._timers[key] = loop.call_later(
                max(plan.delay, 0.0) / scale, self._send, key, plan, sequence_id
            )

    def _send(self, key: int, plan: Plan, sequence_id: int | None) -> None:
        self._timers.pop(key, None)
        utc = time.time()
        data = restamp(plan, sequence_id, utc, utc_to_tai(utc), self.owner.clock.time_scale)
        if plan.role is None:
            self.owner.publish_telemetry(data)
        else:
            self.owner.send_frame(plan.role, data, answer=plan.answers)
