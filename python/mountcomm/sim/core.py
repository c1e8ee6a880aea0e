"""The answering core of the `MockController`: commands in, replies out.

No sockets, no tasks, no clock: every call takes the time as an argument and
returns the replies to send, in order, as `Output` objects (a reply and the
console role it goes to, or `None` for every connected console). The
controller's asyncio glue (`mountcomm.sim.console_port`) moves them to the
sockets. It puts together `Mount` (the devices), `CommandAuthority` (who may
command) and `FaultPlan` (fault injection).

Every command code of the protocol is either handled (`COMMAND_HANDLERS` here,
then `Mount`) or refused: `UNMODELLED_COMMANDS` have no message class and are
answered NOACK ``"<CODE> is not supported by the simulator"``.
"""

from __future__ import annotations

__all__ = [
    "SHUTDOWN_EXPLANATION",
    "STALE_EXPLANATION",
    "UNMODELLED_COMMANDS",
    "ControllerCore",
    "Executed",
    "Output",
]

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple, TypeVar, assert_never

from ..exceptions import ProtocolError
from ..protocol import replies
from ..protocol.commands import COMMANDS, AskForCommand, Command
from ..protocol.enums import CommandCode, Source
from ..protocol.replies import Reply
from .authority import CommandAuthority
from .clock import SimClock
from .devices import (
    AlarmChanged,
    Event,
    Failed,
    Finished,
    InPositionChanged,
    Mount,
    Rejected,
    Severity,
    Superseded,
)
from .faults import FaultPlan
from .notices import ControllerStatus, alarm_reply, in_position_reply, state_info_replies

SHUTDOWN_EXPLANATION = "Controller shutting down"
"""NOACK explanation of the operations still running when the controller closes."""

STALE_EXPLANATION = "stale"
"""First word of the NOACK explanation of a command older than ``max_command_age``."""

UNMODELLED_COMMANDS = frozenset(code for code in CommandCode if code not in COMMANDS)
"""Command codes of the protocol with no message class: always refused (NOACK)."""

MAX_EXECUTED = 100_000
"""Entries kept in `ControllerCore.executed` (the oldest are dropped)."""


@dataclasses.dataclass(frozen=True)
class Output:
    """One reply to send: to ``role``, or to every connected console (`None`).

    ``reply`` is raw bytes for injected malformed frames.
    """

    role: Source | None
    reply: Reply | bytes


class Executed(NamedTuple):
    """A command the controller accepted (ACK) and so acted upon."""

    role: Source
    sequence_id: int
    command_code: CommandCode


@dataclasses.dataclass(frozen=True)
class _Operation:
    """An accepted command waiting for its DONE / NOACK."""

    role: Source
    sequence_id: int
    source: Source


CommandHandler = Callable[["ControllerCore", Source, Command, float], list[Output]]
"""A controller-level command handler: ``(core, role, command, now) -> outputs``."""


class ControllerCore:
    """Answer commands and turn device events into replies (no I/O).

    Parameters
    ----------
    mount : `Mount`
    authority : `CommandAuthority`
    faults : `FaultPlan`
    clock : `SimClock`
        Only its time scale is used (for the ACKs' ``timeout_ms``).
    max_command_age : `float` or `None`
        Refuse (NOACK ``"stale: ..."``) commands whose ``timestamp`` is older
        than this [s] by the controller host's UTC clock; `None`: off.
    log : structlog logger

    Attributes
    ----------
    received : `collections.deque` [(`Source`, `Command`)]
        The last 1000 commands received, with the role they arrived on.
    executed : `collections.deque` [`Executed`]
        Every command acted upon (ACK sent), in order (the last `MAX_EXECUTED`).
    """

    def __init__(
        self,
        mount: Mount,
        authority: CommandAuthority,
        faults: FaultPlan,
        clock: SimClock,
        *,
        max_command_age: float | None,
        log: Any,
    ) -> None:
        if max_command_age is not None and not max_command_age > 0:
            raise ValueError(f"max_command_age must be > 0 s or None, got {max_command_age!r}")
        self.mount = mount
        self.authority = authority
        self.faults = faults
        self.clock = clock
        self.max_command_age = max_command_age
        self.log = log
        self.received: deque[tuple[Source, Command]] = deque(maxlen=1000)
        self.executed: deque[Executed] = deque(maxlen=MAX_EXECUTED)
        self._ops: dict[int, _Operation] = {}

    # --- commands -------------------------------------------------------------------

    def command(self, role: Source, command: Command, now: float, utc: float) -> list[Output]:
        """Answer one command from ``role``'s console, then announce what changed.

        ``now`` is the simulated time [TAI unix s]; ``utc`` the host's UTC
        clock [unix s], for ``max_command_age``.
        """
        before = self.status()
        out = self._answer(role, command, now, utc)
        return out + self._announce(before)

    def _answer(self, role: Source, command: Command, now: float, utc: float) -> list[Output]:
        self.received.append((role, command))
        self.log.debug(
            "command_received",
            role=role.name,
            command=command.command_code.name,
            sequence_id=command.sequence_id,
        )
        rejection = self.faults.take_rejection()
        if rejection is not None:
            return [_noack(role, command, rejection)]
        if self.max_command_age is not None and utc - command.timestamp > self.max_command_age:
            return [
                _noack(
                    role,
                    command,
                    f"{STALE_EXPLANATION}: sent {utc - command.timestamp:.3f} s ago "
                    f"(max_command_age {self.max_command_age:g} s)",
                )
            ]
        handler = self.COMMAND_HANDLERS.get(command.command_code)
        if handler is not None:
            return handler(self, role, command, now)
        rejected = self.authority.check(role)
        if rejected is not None:
            return [_noack(role, command, rejected.reason)]
        return self._execute(role, command, now)

    def _ask_for_command(self, role: Source, command: Command, now: float) -> list[Output]:
        assert isinstance(command, AskForCommand)
        rejected = self.authority.ask(role, command.commander)
        if rejected is not None:
            return [_noack(role, command, rejected.reason)]
        self.log.info("commander_changed", commander=self.authority.holder.name, by=role.name)
        self.executed.append(Executed(role, command.sequence_id, command.command_code))
        return [
            _ack(role, command, 0),
            Output(role, replies.DoneReply(sequence_id=command.sequence_id, source=command.source)),
        ]

    def _execute(self, role: Source, command: Command, now: float) -> list[Output]:
        outcome = self.mount.handle(command, now)
        events = self.mount.advance(now)
        if isinstance(outcome, Rejected):
            out = [_noack(role, command, outcome.reason)]
        else:
            if outcome.op_id is not None:
                self._ops[outcome.op_id] = _Operation(role, command.sequence_id, command.source)
            self.executed.append(Executed(role, command.sequence_id, command.command_code))
            out = [_ack(role, command, self.clock.timeout_ms(outcome.duration_s))]
        return out + self.events(events)

    COMMAND_HANDLERS: ClassVar[Mapping[CommandCode, CommandHandler]] = {
        CommandCode.ASK_FOR_COMMAND: _ask_for_command,
    }
    """Commands the controller answers itself; every other one goes to `Mount`."""

    def internal_error(self, role: Source, command: Command, error: BaseException) -> Output:
        """The NOACK of a command whose handling raised ``error`` (a simulator bug)."""
        return _noack(role, command, f"Internal error: {type(error).__name__}: {error}")

    def bad_frame(self, role: Source, error: ProtocolError) -> tuple[int | None, list[Output]]:
        """A frame from ``role`` that is not a valid command.

        Returns its sequence id (if one can be read) and the NOACK to send (if
        the id is valid): ``"<CODE> is not supported by the simulator"`` for a
        code in `UNMODELLED_COMMANDS`, else ``"Invalid command: <error>"``.
        """
        frame = error.frame
        if isinstance(frame, bytes):
            fields = frame.decode("utf-8", "replace").split("\n")
        else:
            fields = list(frame or [])
        numbers = [_int_or_none(f) for f in fields[:3]] + [None] * 3
        sequence_id, code, source_number = numbers[:3]
        if sequence_id is None or sequence_id <= 0:
            return sequence_id, []
        source = _member(Source, source_number) or Source.CSC
        explanation = f"Invalid command: {error}"
        if (name := _member(CommandCode, code)) in UNMODELLED_COMMANDS and name is not None:
            explanation = f"{name.name} is not supported by the simulator"
        reply = replies.NoAckReply(sequence_id=sequence_id, source=source, explanation=explanation)
        return sequence_id, [Output(role, reply)]

    # --- events ---------------------------------------------------------------------

    def advance(self, now: float) -> list[Output]:
        """The replies caused by what happened in the devices up to ``now``."""
        return self.events(self.mount.advance(now))

    def events(self, events: list[Event]) -> list[Output]:
        """The replies for device events (DONE, NOACK, IN_POSITION, ERROR, WARNING)."""
        out: list[Output] = []
        for event in events:
            match event:
                case Finished():
                    out += self._end_operation(event.op_id, None)
                case Failed():
                    out += self._end_operation(event.op_id, event.reason)
                case Superseded():
                    out += self._end_operation(event.op_id, "Superseded")
                case InPositionChanged():
                    if (reply := in_position_reply(event)) is not None:
                        out.append(Output(None, reply))
                case AlarmChanged():
                    out.append(Output(None, alarm_reply(event)))
                case _:
                    assert_never(event)
        return out

    def shutdown(self) -> list[Output]:
        """End every operation still running with NOACK `SHUTDOWN_EXPLANATION`."""
        return [
            r for op_id in list(self._ops) for r in self._end_operation(op_id, SHUTDOWN_EXPLANATION)
        ]

    def _end_operation(self, op_id: int, failure: str | None) -> list[Output]:
        op = self._ops.pop(op_id, None)
        if op is None:
            return []
        reply: Reply
        if failure is None:
            reply = replies.DoneReply(sequence_id=op.sequence_id, source=op.source)
        else:
            reply = replies.NoAckReply(
                sequence_id=op.sequence_id, source=op.source, explanation=failure
            )
        return [Output(op.role, reply)]

    # --- state changes --------------------------------------------------------------

    def status(self) -> ControllerStatus:
        """What ON_STATE_INFO reports: commander, enabled, interlock."""
        return ControllerStatus(self.authority.holder, self.mount.enabled, self.mount.interlock)

    def _announce(self, before: ControllerStatus) -> list[Output]:
        out = []
        for reply in state_info_replies(before, self.status()):
            self.log.info("state_info", description=reply.description)
            out.append(Output(None, reply))
        return out

    def inject_alarm(self, device: str, text: str, severity: Severity, now: float) -> list[Output]:
        """Raise an alarm on a device (see `Mount.device`)."""
        self.mount.inject_alarm(device, now, text, severity)
        return self.advance(now)

    def trip_interlock(self, text: str, now: float) -> list[Output]:
        """Trip the safety interlock (everything off until SAFETY_RESET)."""
        before = self.status()
        self.mount.trip_interlock(now, text)
        return self.advance(now) + self._announce(before)

    def release_authority(self, now: float) -> list[Output]:
        """Release command if its holder's grace has ended at ``now`` (monotonic [s])."""
        before = self.status()
        holder = self.authority.holder
        if not self.authority.expire(now):
            return []
        self.log.warning("command_released", holder=holder.name, grace=self.authority.grace)
        return self._announce(before)


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


_E = TypeVar("_E", Source, CommandCode)


def _member(enum_class: type[_E], number: int | None) -> _E | None:
    if number is None:
        return None
    try:
        return enum_class(number)
    except ValueError:
        return None


def _noack(role: Source, command: Command, explanation: str) -> Output:
    return Output(
        role,
        replies.NoAckReply(
            sequence_id=command.sequence_id, source=command.source, explanation=explanation
        ),
    )


def _ack(role: Source, command: Command, timeout_ms: int) -> Output:
    return Output(
        role,
        replies.AckReply(
            sequence_id=command.sequence_id, source=command.source, timeout_ms=timeout_ms
        ),
    )
