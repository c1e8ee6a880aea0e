"""The fault-injection methods of `MockController` (a mixin; the settings live in `faults`).

Each method changes a `FaultPlan` setting, closes sockets, or injects an event
into the devices; see the table in doc/simulator.md.
"""

from __future__ import annotations

__all__ = ["FaultInjection"]

import asyncio
from collections.abc import Iterable
from typing import Any

from ..protocol.enums import ReplyCode, Source
from .clock import SimClock
from .console_port import ConsolePorts
from .core import ControllerCore, Output
from .devices import Severity
from .faults import FaultPlan


class FaultInjection(ConsolePorts):
    """Fault injection for client tests (mixed into `MockController`)."""

    faults: FaultPlan
    core: ControllerCore
    clock: SimClock
    log: Any
    running: asyncio.Event

    def _route(self, outputs: list[Output]) -> None:
        raise NotImplementedError

    def _wake_clock(self) -> None:
        raise NotImplementedError

    def _started_or_raise(self) -> None:
        if not hasattr(self, "running"):
            raise RuntimeError("the controller is not started: call start() first")

    def _maybe_role(self, role: Source | str | None) -> Source | None:
        return None if role is None else self._console(role).role

    def reject_next(self, count: int = 1, explanation: str = "Rejected by fault injection") -> None:
        """Answer the next ``count`` commands (from any console) with NOACK ``explanation``."""
        self.faults.reject_next(count, explanation)

    def delay_replies(self, seconds: float, role: Source | str | None = None) -> None:
        """Delay every later reply to ``role`` (default: every role) by ``seconds`` (wall time)."""
        self.faults.delay(seconds, self._maybe_role(role))

    def withhold_replies(
        self, codes: Iterable[ReplyCode] | None = None, role: Source | str | None = None
    ) -> None:
        """Drop later replies with these codes (default: all) to ``role`` (default: all).

        E.g. ``withhold_replies([ReplyCode.DONE])`` makes every command time out
        after its ACK. `resume_replies` undoes it.
        """
        self.faults.withhold(codes, self._maybe_role(role))

    def resume_replies(self, role: Source | str | None = None) -> None:
        """Stop withholding and delaying replies to ``role`` (default: all)."""
        self.faults.resume(self._maybe_role(role))

    async def drop_connection(self, role: Source | str) -> None:
        """Close both connections of ``role``'s console, as if the network failed.

        The controller keeps listening and reconnects its reply client as soon as
        it can; the console must reconnect its command client.
        """
        port = self._console(role)
        self.log.info("fault_drop_connection", role=port.role.name)
        await port.comm.close_client()
        await port.comm.server.close_client()
        port.connection_lost_by_fault()

    def send_malformed(
        self, data: bytes = b"\xff\xfenot a reply\r\n", role: Source | str | None = None
    ) -> None:
        """Send raw bytes (a malformed frame by default) to ``role`` (default: all).

        They go through the reply queue and the connection's write buffer, so they
        arrive in order with the replies sent before and after.
        """
        self._route([Output(self._maybe_role(role), data)])

    def stall(self) -> None:
        """Freeze: stop handling commands, sending replies and telemetry (see `resume`).

        The devices keep moving; what happens meanwhile is sent on `resume`.

        Raises
        ------
        RuntimeError
            If the controller is not started.
        """
        self._started_or_raise()
        self.running.clear()

    def resume(self) -> None:
        """Undo `stall`.

        Raises
        ------
        RuntimeError
            If the controller is not started.
        """
        self._started_or_raise()
        self.running.set()

    def inject_alarm(self, device: str, text: str, severity: Severity = Severity.ERROR) -> None:
        """Raise an alarm on a device (see `Mount.device`); consoles get ERROR/WARNING."""
        self._route(self.core.inject_alarm(device, text, severity, self.clock.now()))
        self._wake_clock()

    def trip_interlock(self, text: str = "emergency stop") -> None:
        """Trip the safety interlock (everything off until SAFETY_RESET)."""
        self._route(self.core.trip_interlock(text, self.clock.now()))
        self._wake_clock()
