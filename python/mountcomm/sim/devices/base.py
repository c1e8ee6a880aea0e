"""Outcomes, events and the base class of the simulated devices.

A device is a small pure state machine driven by a simulated clock: every method
takes the time ``now`` [TAI unix s] as an argument; nothing reads a clock or
awaits. The controller drives it with two calls:

* ``handle(command, now)`` answers at once with an outcome: `Rejected` (and
  why) or `Accepted` (with the expected duration, and an ``op_id`` to match the
  later events, unless the command is ack-only).
* ``advance(now)`` returns the `Event` objects that happened up to ``now``, in
  time order: `Finished`, `Failed` and `Superseded` for accepted operations,
  `InPositionChanged` for axes, `AlarmChanged` for alarms. Call it after every
  ``handle`` (to collect the immediate consequences, such as a superseded
  operation or an instant operation's completion) and whenever
  ``next_event_time()`` has passed.

Each accepted operation ends with exactly one of `Finished`, `Failed` or
`Superseded`, except ack-only commands (tracking), which have no ``op_id`` and
no end event.
"""

from __future__ import annotations

__all__ = [
    "Accepted",
    "AlarmChanged",
    "Device",
    "Event",
    "Failed",
    "Finished",
    "Handler",
    "InPositionChanged",
    "OpIds",
    "Outcome",
    "RejectCode",
    "Rejected",
    "Severity",
    "Superseded",
    "Timings",
]

import dataclasses
import enum
import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from ...protocol.commands import Command
from ...protocol.enums import CommandCode, SubsystemId

OpIds = Iterator[int]
"""A shared source of operation ids (``itertools.count(1)``)."""


class RejectCode(enum.Enum):
    """Why a command was rejected (the category of `Rejected`)."""

    OFF = "off"
    ALARM = "alarm"
    DRIVE_DISABLED = "drive disabled"
    OUT_OF_LIMITS = "out of limits"
    TRACKING_NOT_ENABLED = "tracking not enabled"
    TRACKING_ENABLED = "tracking enabled"
    UNSUPPORTED = "unsupported"
    BAD_ARGUMENT = "bad argument"
    INTERLOCK = "interlock"
    DISABLED = "disabled"
    NOT_COMMANDER = "not commander"


class Severity(enum.Enum):
    """How an alarm is reported: an ERROR or a WARNING reply."""

    ERROR = "error"
    WARNING = "warning"


@dataclasses.dataclass(frozen=True)
class Rejected:
    """The command is rejected; the controller answers NOACK with ``reason``.

    Attributes
    ----------
    code : `RejectCode`
        The category.
    reason : `str`
        Human-readable explanation, e.g. ``"Elevation axis is off"``.
    """

    code: RejectCode
    reason: str


@dataclasses.dataclass(frozen=True)
class Accepted:
    """The command is accepted; the controller answers ACK.

    Attributes
    ----------
    duration_s : `float`
        Expected duration [s] (the ACK's ``timeout_ms`` / 1000); 0 if instant.
    done_at : `float`
        When it is expected to finish [TAI unix s].
    op_id : `int` or `None`
        Identifies the operation in later `Finished` / `Failed` / `Superseded`
        events; `None` for ack-only commands, which have no later events.
    """

    duration_s: float
    done_at: float
    op_id: int | None

    @property
    def ack_only(self) -> bool:
        """True if nothing follows the ACK."""
        return self.op_id is None

    def is_done(self, now: float) -> bool:
        """Is the operation expected to be finished at ``now`` [TAI unix s]?"""
        return now >= self.done_at


Outcome = Rejected | Accepted
"""What ``handle`` returns."""


@dataclasses.dataclass(frozen=True)
class Finished:
    """Operation ``op_id`` finished successfully at ``at`` (DONE)."""

    op_id: int
    at: float


@dataclasses.dataclass(frozen=True)
class Failed:
    """Operation ``op_id`` failed at ``at`` (NOACK with ``reason``)."""

    op_id: int
    at: float
    reason: str


@dataclasses.dataclass(frozen=True)
class Superseded:
    """Operation ``op_id`` was replaced by a newer command at ``at`` (NOACK "Superseded")."""

    op_id: int
    at: float


@dataclasses.dataclass(frozen=True)
class InPositionChanged:
    """An axis entered or left position at ``at`` (IN_POSITION).

    Attributes
    ----------
    axis : `str`
        ``"azimuth"``, ``"elevation"`` or ``"camera_cable_wrap"``.
    in_position : `bool`
    at : `float`
    """

    axis: str
    in_position: bool
    at: float


@dataclasses.dataclass(frozen=True)
class AlarmChanged:
    """An alarm was raised, cleared or reset (ERROR or WARNING).

    Attributes
    ----------
    subsystem : `SubsystemId`
    code : `int`
        The subsystem id plus a condition number.
    text : `str`
        Details.
    severity : `Severity`
    active : `bool`
        Is the condition present?
    latched : `bool`
        Is the alarm latched (cleared only by a reset command)?
    at : `float`
    """

    subsystem: SubsystemId
    code: int
    text: str
    severity: Severity
    active: bool
    latched: bool
    at: float


Event = Finished | Failed | Superseded | InPositionChanged | AlarmChanged
"""What ``advance`` returns."""


@dataclasses.dataclass(frozen=True)
class Timings:
    """How long the simulated devices take [s].

    The defaults are realistic but short; tests pass smaller values
    (`Timings.fast`).

    Attributes
    ----------
    track_timeout_s : `float`
        An axis in tracking mode that receives no new TRACK target for this
        long brakes to a halt and raises a WARNING [s]; ``math.inf`` disables
        the timeout.
    """

    axis_power_s: float = 1.0
    drive_enable_s: float = 0.5
    main_power_s: float = 1.0
    oil_step_s: float = 1.0
    mirror_cover_travel_s: float = 10.0
    mirror_cover_lock_travel_s: float = 3.0
    chiller_power_s: float = 0.5
    track_timeout_s: float = 5.0

    @classmethod
    def fast(cls, scale: float = 0.01) -> Timings:
        """Every device duration times ``scale`` (for tests).

        ``track_timeout_s`` is a tolerance of the client's pace, not a device
        duration, and keeps its default: a test that sends tracking targets at
        an ordinary rate must not see the axis give up between two of them.
        """
        scaled = {
            f.name: getattr(cls(), f.name) * scale
            for f in dataclasses.fields(cls)
            if f.name != "track_timeout_s"
        }
        return cls(**scaled)


@dataclasses.dataclass(eq=False)
class _Timer:
    at: float
    action: Callable[[float], None]
    cancelled: bool = False


@dataclasses.dataclass(eq=False)
class _Op:
    op_id: int
    timer: _Timer


Handler = Callable[[Any, Command, float], "Rejected | Accepted"]
"""A command handler: an unbound device method ``(self, command, now) -> Outcome``."""


class Device:
    """Base class of the simulated devices.

    Subclasses declare ``HANDLERS``, a table from command code to handler (an
    unbound method taking ``(self, command, now)`` and returning an `Outcome`,
    named in the class body so that a typo fails at import and under mypy);
    it is copied to the ``handlers`` attribute, which an instance may change.
    They use the helpers to run
    operations: `_begin` starts one in a *slot* (a newer operation in the same
    slot supersedes the older one), `_fail` ends one with an error, `_schedule`
    runs an action at a later time, `_emit` queues an event.

    Parameters
    ----------
    name : `str`
        Human-readable name used in explanations, e.g. ``"Elevation axis"``.
    subsystem : `SubsystemId`
        Used in alarms.
    ids : iterator of `int`, optional
        Source of operation ids, shared by all the devices of one mount.
    """

    HANDLERS: ClassVar[Mapping[CommandCode, Handler]] = {}

    def __init__(self, name: str, subsystem: SubsystemId, ids: OpIds | None = None) -> None:
        self.name = name
        self.subsystem = subsystem
        self.handlers: dict[CommandCode, Handler] = dict(type(self).HANDLERS)
        self._ids: OpIds = ids if ids is not None else itertools.count(1)
        self._timers: list[tuple[float, int, _Timer]] = []
        self._timer_seq = itertools.count()
        self._ops: dict[str, _Op] = {}
        self._outbox: list[tuple[float, int, Event]] = []
        self._now = -float("inf")
        self.alarm: AlarmChanged | None = None

    # --- driving the state machine ------------------------------------------------

    def command_codes(self) -> frozenset[CommandCode]:
        """The command codes this device handles."""
        return frozenset(self.handlers)

    def handle(self, command: Command, now: float) -> Outcome:
        """Handle one command at time ``now`` [TAI unix s].

        Time is first brought up to ``now`` (due operations finish). Then call
        `advance` to collect the events (a superseded operation, the completion
        of an instant one).
        """
        self._run_until(now)
        handler = self.handlers.get(command.command_code)
        if handler is None:
            return Rejected(
                RejectCode.UNSUPPORTED, f"{self.name} does not support {command.command_code.name}"
            )
        return handler(self, command, now)

    def advance(self, now: float) -> list[Event]:
        """Bring time up to ``now`` and return what happened, in time order."""
        self._run_until(now)
        events = [e for _, _, e in sorted(self._outbox, key=lambda x: (x[0], x[1]))]
        self._outbox.clear()
        return events

    def sync(self, now: float) -> None:
        """Bring time up to ``now`` without collecting the events (`advance` will)."""
        self._run_until(now)

    def clear_alarm(self, now: float) -> None:
        """Clear the latched alarm, if any (reported as an inactive `AlarmChanged`)."""
        self._run_until(now)
        if self.alarm is not None:
            self._emit(dataclasses.replace(self.alarm, active=False, latched=False, at=now))
            self.alarm = None

    def next_event_time(self) -> float | None:
        """When the next scheduled change happens [TAI unix s], or `None`."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if self._outbox:
            return self._now
        return self._timers[0][0] if self._timers else None

    def busy(self) -> bool:
        """Is any operation in progress?"""
        return bool(self._ops)

    def inject_alarm(
        self, now: float, text: str, code: int = 1, severity: Severity = Severity.ERROR
    ) -> None:
        """Raise a latched alarm (fault injection); subclasses also stop motion."""
        self._run_until(now)
        self._raise_alarm(now, text, code, severity)

    # --- helpers for subclasses ---------------------------------------------------

    def _run_until(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            at, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._now = max(self._now, at)
                timer.action(at)
        self._now = max(self._now, now)

    def _emit(self, event: Event) -> None:
        self._outbox.append((event.at, next(self._timer_seq), event))

    def _schedule(self, at: float, action: Callable[[float], None]) -> _Timer:
        timer = _Timer(at, action)
        heapq.heappush(self._timers, (at, next(self._timer_seq), timer))
        return timer

    def _begin(
        self,
        slot: str,
        now: float,
        duration: float,
        on_done: Callable[[float], None] | None = None,
    ) -> Accepted:
        """Start an operation in ``slot``; supersede the one already there."""
        self._end(slot, lambda op: Superseded(op.op_id, now))
        op_id = next(self._ids)
        done_at = now + max(0.0, duration)

        def finish(at: float) -> None:
            del self._ops[slot]
            if on_done is not None:
                on_done(at)
            self._emit(Finished(op_id, at))

        self._ops[slot] = _Op(op_id, self._schedule(done_at, finish))
        return Accepted(duration_s=done_at - now, done_at=done_at, op_id=op_id)

    def _fail(self, slot: str, now: float, reason: str) -> None:
        """End the operation in ``slot`` (if any) with a failure."""
        self._end(slot, lambda op: Failed(op.op_id, now, reason))

    def _supersede(self, slot: str, now: float) -> None:
        """End the operation in ``slot`` (if any) as superseded."""
        self._end(slot, lambda op: Superseded(op.op_id, now))

    def _end(self, slot: str, make: Callable[[_Op], Event]) -> None:
        op = self._ops.pop(slot, None)
        if op is not None:
            op.timer.cancelled = True
            self._emit(make(op))

    def _instant(self, now: float) -> Accepted:
        """An operation that is done at once (ACK then DONE)."""
        op_id = next(self._ids)
        self._emit(Finished(op_id, now))
        return Accepted(duration_s=0.0, done_at=now, op_id=op_id)

    def _raise_alarm(
        self, now: float, text: str, code: int = 1, severity: Severity = Severity.ERROR
    ) -> AlarmChanged:
        """Report an alarm (an ERROR is also latched in ``alarm``); return the event."""
        alarm = AlarmChanged(
            subsystem=self.subsystem,
            code=int(self.subsystem) + code,
            text=text,
            severity=severity,
            active=True,
            latched=severity is Severity.ERROR,
            at=now,
        )
        if severity is Severity.ERROR:
            self.alarm = alarm
        self._emit(alarm)
        return alarm

    def _check_alarm(self) -> Rejected | None:
        if self.alarm is not None:
            return Rejected(RejectCode.ALARM, f"{self.name} has an active alarm: {self.alarm.text}")
        return None

    def handle_reset_alarm(self, command: Command, now: float) -> Outcome:
        """RESET_ALARM: clear a latched alarm (always accepted, instant).

        The handler the subclasses' ``HANDLERS`` tables name for that command.
        """
        self.clear_alarm(now)
        return self._instant(now)
