"""`ReplayController`: a `MockController` that answers from a recording.

Made by `MockController.from_recording`. The sockets, ports, consoles and
shutdown are the simulator's; the answers come from a `ReplayScript` (see
`mountcomm.sim.replay` for the matching rules) instead of the simulated
devices, and the telemetry served is the recorded one.
"""

from __future__ import annotations

__all__ = ["ReplayController"]

import asyncio
import itertools
import os
import time
from collections.abc import Iterable
from typing import Any

from ..exceptions import ProtocolError
from ..protocol.commands import Command
from ..protocol.enums import Source
from ..telemetry.timescales import utc_to_tai
from .console_port import ConsolePort
from .controller import MockController
from .replay import Plan, RecordedCommand, ReplayScript, code_text, mismatch_reply, restamp


class ReplayController(MockController):
    """Answer consoles as the controller of a recording did.

    Parameters
    ----------
    script : `ReplayScript`
        The recording's answers.
    roles : iterable of `Source` or `str`, optional
        Console roles served; default: the roles of the recording.
    **kwargs
        Any other `MockController` argument (ports, hosts, ``time_scale``…).

    Attributes
    ----------
    script : `ReplayScript`
        Its ``matched`` and ``mismatched`` counts tell how the replay went.
    """

    def __init__(
        self,
        script: ReplayScript,
        roles: Iterable[Source | str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            tuple(roles) if roles is not None else script.roles or (Source.CSC,), **kwargs
        )
        self.script = script
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        roles: Iterable[Source | str] | None = None,
        **kwargs: Any,
    ) -> ReplayController:
        """A controller replaying the recording at ``path`` (see `ReplayScript.from_file`)."""
        return cls(ReplayScript.from_file(os.fspath(path)), roles, **kwargs)

    # --- answers ----------------------------------------------------------------------

    def handle_command(self, port: ConsolePort, command: Command) -> None:
        """Answer from the recording (or NOACK a command it does not match)."""
        self.core.received.append((port.role, command))
        self._answer(
            port, self.script.answer(port.role, command), command.sequence_id, command.source
        )

    def bad_frame(self, port: ConsolePort, error: ProtocolError) -> int | None:
        """Match a malformed frame against a recorded one, by its code."""
        self.bad_frames += 1
        sequence_id, _ = self.core.bad_frame(port.role, error)
        port.log_bad_frame(error, sequence_id)
        code = code_text(error.frame)
        outcome = self.script.answer(port.role, None, code)
        if isinstance(outcome, str) and (sequence_id is None or sequence_id <= 0):
            return sequence_id  # nobody to tell
        self._answer(port, outcome, sequence_id, Source.CSC)
        return sequence_id

    def _answer(
        self,
        port: ConsolePort,
        outcome: RecordedCommand | str,
        sequence_id: int | None,
        source: Source,
    ) -> None:
        if isinstance(outcome, str):
            self.log.warning("replay_mismatch", role=port.role.name, explanation=outcome)
            if sequence_id is not None:
                port.reply(mismatch_reply(source, sequence_id, outcome))
            return
        self._schedule(outcome.plans, sequence_id)

    def _schedule(self, plans: Iterable[Plan], sequence_id: int | None) -> None:
        loop = asyncio.get_running_loop()
        scale = self.clock.time_scale
        for plan in plans:
            key = next(self._keys)
            self._timers[key] = loop.call_later(
                max(plan.delay, 0.0) / scale, self._send, key, plan, sequence_id
            )

    def _send(self, key: int, plan: Plan, sequence_id: int | None) -> None:
        self._timers.pop(key, None)
        if self.closing:
            return
        utc = time.time()
        data = restamp(plan, sequence_id, utc, utc_to_tai(utc), self.clock.time_scale)
        if plan.role is None:
            self._telemetry.publish_bytes(data)
            return
        port = self._consoles.get(plan.role)
        if port is not None and (plan.answers or port.comm.client_connected):
            port.reply(data)

    # --- no devices -------------------------------------------------------------------

    async def _clock_loop(self) -> None:
        """Nothing to advance: the recording says what happens."""

    async def _telemetry_loop(self) -> None:
        """Send what the controller sent before the first command, as recorded."""
        self._schedule(self.script.opening, None)

    async def close(self) -> None:
        """Cancel the frames not yet sent, then close as `MockController` does."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await super().close()
