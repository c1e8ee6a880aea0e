"""Helpers for the pure simulator tests: a device plus a simulated clock."""

from __future__ import annotations

from typing import Any

from mountcomm.protocol.commands import Command
from mountcomm.sim.devices import Accepted, Event, Outcome, RejectCode, Rejected
from mountcomm.sim.motion import AxisLimits


class Bench:
    """Drive a device (or a Mount) with a simulated clock, collecting events."""

    def __init__(self, device: Any, now: float = 1000.0) -> None:
        self.device = device
        self.now = now
        self.events: list[Event] = []

    def send(self, command: Command) -> Outcome:
        outcome: Outcome = self.device.handle(command, self.now)
        self.events.extend(self.device.advance(self.now))
        return outcome

    def accept(self, command: Command) -> Accepted:
        outcome = self.send(command)
        assert isinstance(outcome, Accepted), outcome
        return outcome

    def reject(self, command: Command, code: RejectCode, match: str = "") -> Rejected:
        outcome = self.send(command)
        assert isinstance(outcome, Rejected), outcome
        assert outcome.code is code, outcome
        assert match.lower() in outcome.reason.lower(), outcome
        return outcome

    def wait(self, dt: float) -> list[Event]:
        self.now += dt
        new = self.device.advance(self.now)
        self.events.extend(new)
        return new

    def wait_until(self, t: float) -> list[Event]:
        return self.wait(max(0.0, t - self.now))

    def run(self, command: Command) -> Accepted:
        """Accept and wait until done; asserts it finished."""
        accepted = self.accept(command)
        self.wait_until(accepted.done_at)
        self.assert_finished(accepted)
        return accepted

    def ends(self, op_id: int | None) -> list[Event]:
        return [e for e in self.events if getattr(e, "op_id", None) == op_id]

    def assert_finished(self, accepted: Accepted) -> None:
        ends = self.ends(accepted.op_id)
        assert len(ends) == 1, ends
        assert type(ends[0]).__name__ == "Finished", ends

    def of_type(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


EL_LIMITS = AxisLimits(20.0, 86.5, 3.5, 3.5)
"""Elevation limits used by the device and kinematics tests [deg, deg, deg/s, deg/s²]."""
