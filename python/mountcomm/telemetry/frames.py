"""Frame records: one JSON line per frame that crossed a relay, and back. No I/O.

`mountcomm proxy` writes one record per frame it forwards, in the recording
format of `mountcomm.telemetry.record` extended with the frame itself, so that
``mountcomm plot`` draws a proxied session and ``mountcomm sim --replay``
answers from it. Every frame record has, besides the keys of its ``type``:

``direction``
    ``to_controller`` (a console's command), ``to_console`` (a controller's
    reply, solicited or not) or ``telemetry``.
``role``
    The console role whose port pair carried it (``"CSC"``…), `None` for
    telemetry.
``mono``
    Monotonic time of its arrival [s] (for intervals; ``utc`` is wall time).
``frame``
    The exact bytes, terminator included, as text: UTF-8, with bytes that are
    not UTF-8 kept as lone surrogates (``surrogateescape``), so that
    `FrameRecord.data` gives back the bytes exactly.

``part`` (true) marks each part of a frame longer than the relay holds
back, forwarded as its bytes arrived (the last part ends with the
terminator); ``incomplete`` (true) the bytes left without a terminator when
a connection ended. Both are ``frame`` records, not parsed.

The ``type`` says what the frame parsed as: ``command`` (with ``name``,
``sequence_id``, ``command_code`` and ``fields`` as `Recorder.command`
writes them), ``reply`` (with ``code``, ``name``, ``sequence_id`` for the
replies to a command, ``timeout`` for an ACK and ``explanation`` for a NOACK,
as `Recorder.reply` writes them, plus ``reply`` and ``fields``), ``telemetry``
(with ``sample``) or ``frame`` for a frame that did not parse (with ``error``).
"""

from __future__ import annotations

__all__ = ["FRAME_RECORD_TYPE", "Direction", "FrameRecord", "FrameRecords"]

import dataclasses
import enum
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..exceptions import ProtocolError
from ..protocol.commands import Command, parse_command
from ..protocol.enums import Source
from ..protocol.replies import AckReply, NoAckReply, Reply, parse_reply
from .codec import decode_sample

FRAME_RECORD_TYPE = "frame"
"""The ``type`` of the record of a frame that did not parse."""

MAX_NAMED_COMMANDS = 10_000
"""Commands remembered per `FrameRecords`, to name their replies (oldest forgotten)."""

_TERMINATOR = b"\r\n"


class Direction(enum.StrEnum):
    """Which way a frame went through a relay."""

    TO_CONTROLLER = "to_controller"
    """A console's command, on its way to the controller."""
    TO_CONSOLE = "to_console"
    """A controller's reply (solicited or not), on its way to a console."""
    TELEMETRY = "telemetry"
    """A line of the controller's telemetry stream."""


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _fields_of(message: Command | Reply, skip: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for info in message.field_infos:
        if info.name in skip:
            continue
        value = getattr(message, info.name)
        out[info.name] = list(value) if isinstance(value, tuple) else value
    return out


@dataclasses.dataclass(frozen=True)
class FrameRecord:
    """One frame as recorded: when, where, which way and its exact bytes.

    Attributes
    ----------
    utc : `float`
        Wall time of its arrival [UTC unix s].
    mono : `float`
        Monotonic time of its arrival [s].
    role : `Source` or `None`
        The console role whose port pair carried it; `None` for telemetry.
    direction : `Direction`
    data : `bytes`
        The frame exactly as it went through, terminator included.
    part : `bool`
        A part of an over-long frame (see the module notes).
    incomplete : `bool`
        Bytes left without a terminator when the connection ended.
    """

    utc: float
    mono: float
    role: Source | None
    direction: Direction
    data: bytes
    part: bool = False
    incomplete: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FrameRecord | None:
        """The frame of a recording's record; `None` if it is not a frame record.

        Records written by ``command --record`` and ``monitor --record`` (no
        ``direction``) are not frame records.

        Raises
        ------
        ValueError
            If it claims to be a frame record but a key is missing or wrong.
        """
        if "direction" not in record:
            return None
        try:
            direction = Direction(record["direction"])
            role_name = record.get("role")
            role = None if role_name is None else Source[str(role_name)]
            frame = record["frame"]
            if not isinstance(frame, str):
                raise TypeError(f"frame is {type(frame).__name__}, not str")
            return cls(
                float(record["utc"]),
                float(record["mono"]),
                role,
                direction,
                frame.encode("utf-8", "surrogateescape"),
                bool(record.get("part", False)),
                bool(record.get("incomplete", False)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a valid frame record ({type(e).__name__}: {e})") from None


class FrameRecords:
    """Turn frames into records (JSON-ready dicts), naming replies by their command.

    Pure and stateful: it remembers the last `MAX_NAMED_COMMANDS` commands
    per role, so that the record of a reply carries the ``name`` of the
    command it answers, as `Recorder.reply` does (``mountcomm plot`` places
    its markers by that name).
    """

    def __init__(self) -> None:
        self._names: OrderedDict[tuple[Source | None, int], str] = OrderedDict()

    def record(
        self,
        direction: Direction,
        role: Source | None,
        data: bytes,
        utc: float,
        mono: float,
        error: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The record of one frame (``data``: its exact bytes, terminator included).

        ``error``: record it as a ``frame`` with this error, unparsed (e.g. a
        part of an over-long frame). ``extra`` keys are added as they are
        (e.g. what a fault hook did).
        """
        record: dict[str, Any] = {
            "type": FRAME_RECORD_TYPE,
            "utc": utc,
            "mono": mono,
            "role": None if role is None else role.name,
            "direction": direction.value,
            "frame": _text(data),
        }
        try:
            if error is not None:
                raise ProtocolError(error, data)
            if not data.endswith(_TERMINATOR):
                raise ProtocolError("incomplete frame (no terminator)", data)
            if direction is Direction.TELEMETRY:
                record["type"] = "telemetry"
                record["sample"] = decode_sample(data)
            else:
                fields = data[:-2].decode().split("\n")
                if direction is Direction.TO_CONTROLLER:
                    self._command(record, role, parse_command(fields))
                else:
                    self._reply(record, role, parse_reply(fields))
        except (ProtocolError, UnicodeDecodeError) as e:
            record["type"] = FRAME_RECORD_TYPE
            record["error"] = str(e)
        record.update(extra)
        return record

    def _command(self, record: dict[str, Any], role: Source | None, command: Command) -> None:
        name = type(command).__name__
        record.update(
            type="command",
            name=name,
            sequence_id=command.sequence_id,
            command_code=int(command.command_code),
            fields=_fields_of(command, ("sequence_id", "timestamp")),
        )
        key = (role, command.sequence_id)
        self._names[key] = name
        self._names.move_to_end(key)
        if len(self._names) > MAX_NAMED_COMMANDS:
            self._names.popitem(last=False)

    def _reply(self, record: dict[str, Any], role: Source | None, reply: Reply) -> None:
        record.update(type="reply", code=reply.reply_code.name, reply=type(reply).__name__)
        sequence_id = getattr(reply, "sequence_id", None)
        if sequence_id is not None:
            record["sequence_id"] = sequence_id
            record["name"] = self._names.get((role, sequence_id), type(reply).__name__)
        else:
            record["name"] = type(reply).__name__
        if isinstance(reply, AckReply):
            record["timeout"] = reply.timeout_ms / 1000
        elif isinstance(reply, NoAckReply):
            record["explanation"] = reply.explanation
            record["superseded"] = reply.explanation == "Superseded"
        record["fields"] = _fields_of(reply, ("sequence_id",))
