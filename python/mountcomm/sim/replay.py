"""`ReplayScript`: answer commands as a recorded controller did. Pure, no I/O.

A recording made by ``mountcomm proxy`` (see `mountcomm.telemetry.frames`)
holds every frame both ways. This module turns it into a script and answers
each live command from it:

* **Matching.** The recorded commands of each role form a queue. A live
  command matches the next one of its role when the command code is the same
  and so is every parameter as encoded on the wire (the header fields
  ``sequence_id``, ``source`` and ``timestamp`` are not compared, nor a
  ``tai``, a time that differs from run to run). A malformed frame matches a
  recorded malformed frame whose second field (the code) is the same text
  (the parts of an over-long frame are one frame; bytes left without a
  terminator when a connection ended are no command). A match takes the
  recorded command off the queue.
* **A mismatch** takes nothing off the queue and is answered with one NOACK
  that names the recorded command expected (and, when the queue is empty,
  says so).
* **Replies.** The ACK, NOACK and DONE frames the controller sent to the
  role with the recorded command's sequence id (for a malformed frame: its
  first field, when that is a number), after it, are its replies: they are sent with their
  recorded delay after the command, divided by the time scale, carrying the
  live command's sequence id and a fresh timestamp (an ACK's ``timeout_ms``
  is divided by the time scale too, as the simulator does).
* **Everything else the controller sent** (unsolicited replies, frames that
  did not parse, telemetry) is sent relative to the last command recorded
  before it (from any role), once that command is matched, with a fresh
  timestamp; what came before the first command is sent relative to the
  start of the replay.
"""

from __future__ import annotations

__all__ = [
    "UNCOMPARED_FIELDS",
    "Plan",
    "RecordedCommand",
    "ReplayScript",
    "code_text",
    "mismatch_reply",
    "restamp",
]

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import ProtocolError
from ..protocol.commands import Command, parse_command
from ..protocol.enums import Source
from ..protocol.replies import AckReply, NoAckReply, Reply, parse_reply
from ..telemetry.codec import decode_sample, encode_sample
from ..telemetry.frames import Direction, FrameRecord
from ..telemetry.record import read_record

UNCOMPARED_FIELDS = frozenset({"sequence_id", "source", "timestamp", "tai"})
"""Command fields that are not compared when matching."""


def _fields(data: bytes) -> list[str] | None:
    if not data.endswith(b"\r\n"):
        return None
    try:
        return data[:-2].decode().split("\n")
    except UnicodeDecodeError:
        return None


def _command(data: bytes) -> Command | None:
    fields = _fields(data)
    if fields is None:
        return None
    try:
        return parse_command(fields)
    except ProtocolError:
        return None


def _sequence_id(data: bytes, command: Command | None) -> int | None:
    """A command's sequence id; for a malformed one, its first field if it is a number."""
    if command is not None:
        return command.sequence_id
    first = data.split(b"\n", 1)[0]
    try:
        return int(first)
    except ValueError:
        return None


def _params(command: Command) -> list[tuple[str, str]]:
    """The compared parameters, as encoded on the wire."""
    wire = command.fields()
    del wire[1]  # the command code, which has no field info
    return [
        (info.name, text)
        for info, text in zip(command.field_infos, wire, strict=False)
        if info.name not in UNCOMPARED_FIELDS
    ]


def _describe(command: Command | None, data: bytes) -> str:
    if command is None:
        fields = data.decode("utf-8", "replace").rstrip("\r\n").split("\n")
        code = fields[1] if len(fields) > 1 else "?"
        return f"a malformed frame with code {code!r}"
    params = ", ".join(f"{name}={value}" for name, value in _params(command))
    return f"{type(command).__name__}({params})"


def code_text(data: bytes | Sequence[str] | None) -> str | None:
    """The second field (a command's code) of a frame, as text; `None` if it has none."""
    if data is None:
        return None
    if isinstance(data, bytes):
        fields = data.decode("utf-8", "replace").rstrip("\r\n").split("\n")
    else:
        fields = list(data)
    return fields[1] if len(fields) > 1 else None


@dataclasses.dataclass(frozen=True)
class Plan:
    """A recorded frame to send: when, to whom, and what.

    Attributes
    ----------
    delay : `float`
        Recorded delay after the command (or the start) that triggers it [s].
    role : `Source` or `None`
        The console role it goes to; `None`: telemetry.
    data : `bytes`
        The frame as recorded.
    answers : `bool`
        A reply to the triggering command (it takes the live sequence id).
    """

    delay: float
    role: Source | None
    data: bytes
    answers: bool = False


@dataclasses.dataclass
class RecordedCommand:
    """A command of the recording, with what the controller sent after it.

    Attributes
    ----------
    role : `Source`
    number : `int`
        Its position among ``role``'s recorded commands (from 1).
    data : `bytes`
        The frame as recorded.
    command : `Command` or `None`
        The parsed command; `None` for a malformed frame.
    mono : `float`
        When it was recorded (its last part, for an over-long frame) [s].
    plans : `list` [`Plan`]
        Its replies and the frames anchored to it, delays from it.
    """

    role: Source
    number: int
    data: bytes
    command: Command | None
    mono: float
    plans: list[Plan] = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        """``ElevationAxisMove(position=60.0, …)`` or the malformed frame's code."""
        return _describe(self.command, self.data)

    def matches(self, command: Command | None, code: str | None) -> bool:
        """Does a live command (or a malformed frame with ``code``) match this one?"""
        if command is None or self.command is None:
            return command is None and self.command is None and code == code_text(self.data)
        return command.command_code == self.command.command_code and _params(command) == _params(
            self.command
        )


class ReplayScript:
    """The answers of a recording, command by command (see the module notes).

    Parameters
    ----------
    frames : iterable of `FrameRecord`
        The recording's frames, in the order recorded.

    Attributes
    ----------
    roles : `tuple` [`Source`]
        The console roles that appear in the recording.
    opening : `list` [`Plan`]
        What the controller sent before the first command (delays from the
        first frame).
    matched : `int`
    mismatched : `int`
    """

    def __init__(self, frames: Iterable[FrameRecord]) -> None:
        self.opening: list[Plan] = []
        self._queues: dict[Source, deque[RecordedCommand]] = {}
        self._recorded: dict[Source, int] = {}
        # Replies wait for their command by (role, sequence id); the last one wins.
        by_id: dict[tuple[Source, int], RecordedCommand] = {}
        anchor: RecordedCommand | None = None
        start: float | None = None
        for frame in frames:
            start = frame.mono if start is None else start
            if frame.direction is Direction.TO_CONTROLLER:
                if frame.role is None or frame.incomplete:
                    continue  # never a command: the connection ended mid-frame
                last = self._last(frame.role)
                if frame.part and last is not None and not last.data.endswith(b"\r\n"):
                    last.data += frame.data  # the next part of an over-long frame
                    last.mono = frame.mono  # complete when its last part came
                    continue
                anchor = self._add_command(frame)
                sequence_id = _sequence_id(frame.data, anchor.command)
                if sequence_id is not None:
                    by_id[frame.role, sequence_id] = anchor
                continue
            owner = self._owner(frame, by_id)
            if owner is not None:
                owner.plans.append(Plan(frame.mono - owner.mono, frame.role, frame.data, True))
            elif anchor is not None:
                anchor.plans.append(Plan(frame.mono - anchor.mono, frame.role, frame.data))
            else:
                self.opening.append(Plan(frame.mono - (start or 0.0), frame.role, frame.data))
        self.roles = tuple(self._queues)
        self.matched = 0
        self.mismatched = 0

    def _last(self, role: Source) -> RecordedCommand | None:
        queue = self._queues.get(role)
        return queue[-1] if queue else None

    def _add_command(self, frame: FrameRecord) -> RecordedCommand:
        assert frame.role is not None
        number = self._recorded.get(frame.role, 0) + 1
        self._recorded[frame.role] = number
        recorded = RecordedCommand(frame.role, number, frame.data, _command(frame.data), frame.mono)
        self._queues.setdefault(frame.role, deque()).append(recorded)
        return recorded

    @staticmethod
    def _owner(
        frame: FrameRecord, by_id: dict[tuple[Source, int], RecordedCommand]
    ) -> RecordedCommand | None:
        """The recorded command a controller frame answers, if any."""
        if frame.direction is not Direction.TO_CONSOLE or frame.role is None:
            return None
        fields = _fields(frame.data)
        if fields is None or len(fields) < 2 or fields[0] not in ("0", "1", "2"):
            return None  # ACK, NOACK, DONE carry a sequence id; the others do not
        try:
            sequence_id = int(fields[1])
        except ValueError:
            return None
        return by_id.get((frame.role, sequence_id))

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayScript:
        """The script of a recording file.

        Raises
        ------
        OSError
            If the file cannot be read.
        ValueError
            If it is not a recording, or holds no frame records (a recording
            of ``command --record`` or ``monitor --record`` cannot be replayed).
        """
        frames = []
        for record in read_record(path):
            frame = FrameRecord.from_record(record)
            if frame is not None:
                frames.append(frame)
        if not frames:
            raise ValueError(f"{path}: no frame records (record with `mountcomm proxy --record`)")
        return cls(frames)

    def remaining(self, role: Source) -> int:
        """Recorded commands of ``role`` not matched yet."""
        return len(self._queues.get(role, ()))

    def answer(
        self, role: Source, command: Command | None, code: str | None = None
    ) -> RecordedCommand | str:
        """Match a live command (or a malformed frame with ``code``) of ``role``.

        Returns
        -------
        recorded : `RecordedCommand` or `str`
            The recorded command matched (taken off the queue; send its
            ``plans``), or the explanation of the NOACK that answers a mismatch.
        """
        queue = self._queues.get(role)
        if not queue:
            self.mismatched += 1
            total = self._recorded.get(role, 0)
            return (
                f"replay: the recording has no further command from {role.name} "
                f"(it has {total}); got {_describe(command, b'') if command else 'a frame'}"
            )
        expected = queue[0]
        if not expected.matches(command, code):
            self.mismatched += 1
            got = _describe(command, b"") if command is not None else f"a malformed frame ({code})"
            return (
                f"replay: expected {expected.describe()} (command {expected.number} "
                f"of {role.name} in the recording), got {got}"
            )
        self.matched += 1
        return queue.popleft()


def restamp(
    plan: Plan, sequence_id: int | None, utc: float, tai: float, time_scale: float = 1.0
) -> bytes:
    """The bytes to send for ``plan`` now: a fresh timestamp and the live sequence id.

    ``utc`` stamps replies, ``tai`` telemetry samples; an ACK's ``timeout_ms``
    is divided by ``time_scale``. A frame that does not parse is sent as
    recorded.
    """
    if plan.role is None:
        try:
            sample = decode_sample(plan.data)
        except ProtocolError:
            return plan.data
        if "timestamp" in sample:
            sample["timestamp"] = tai
        return encode_sample(sample)
    fields = _fields(plan.data)
    if fields is None:
        return plan.data
    try:
        reply = parse_reply(fields)
    except ProtocolError:
        return plan.data
    values: dict[str, Any] = {info.name: getattr(reply, info.name) for info in reply.field_infos}
    values["timestamp"] = utc
    if plan.answers and sequence_id is not None and "sequence_id" in values:
        values["sequence_id"] = sequence_id
    if isinstance(reply, AckReply) and time_scale != 1:
        values["timeout_ms"] = math.ceil(reply.timeout_ms / time_scale)
    fresh: Reply = type(reply)(**values)
    return fresh.encode()


def mismatch_reply(command_source: Source, sequence_id: int, explanation: str) -> bytes:
    """The NOACK that answers a command the recording does not match."""
    return NoAckReply(
        sequence_id=sequence_id, source=command_source, explanation=explanation
    ).encode()
