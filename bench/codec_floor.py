"""The hand-written floor of `bench/codec.py`: four frames coded by hand.

What a careful programmer would write for just these four messages, with no
framework: one ``__slots__`` class per message with a positional ``__init__``
and an f-string ``encode``; a parser that splits the frame and converts each
field with ``int`` / ``float`` / a dict look-up. It validates as much as is fair
to ask of hand-written code: the field count, the code (by dispatch), the
source (a known value), integers and floats (``int`` / ``float`` refuse bad
text) and the timestamp's shape (``YYYY-MM-DDTHH:MM:SS.sss``, a real date).
The seconds part of a timestamp is cached in both directions, as a careful
programmer would do once a profile showed ``strftime`` / ``strptime``.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

_SOURCES = {"0": 0, "1": 1, "2": 2, "3": 3, "100": 100}
_prefix_of: dict[int, str] = {}
_second_of: dict[str, int] = {}


def format_timestamp(t: float) -> str:
    """UTC unix seconds as ``YYYY-MM-DDTHH:MM:SS.sss``."""
    sec, ms = divmod(round(t * 1000), 1000)
    prefix = _prefix_of.get(sec)
    if prefix is None:
        prefix = _prefix_of[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{prefix}.{ms:03d}"


def parse_timestamp(text: str) -> float:
    """``YYYY-MM-DDTHH:MM:SS.sss`` as UTC unix seconds."""
    prefix = text[:19]
    sec = _second_of.get(prefix)
    if sec is None:
        sec = _second_of[prefix] = calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S"))
    if len(text) != 23 or text[19] != "." or not text[20:].isdigit():
        raise ValueError(f"bad timestamp {text!r}")
    return sec + int(text[20:]) / 1000


class ElevationAxisTrack:
    __slots__ = ("position", "sequence_id", "source", "tai", "timestamp", "velocity")

    def __init__(
        self,
        sequence_id: int,
        source: int,
        timestamp: float,
        position: float,
        velocity: float,
        tai: float,
    ) -> None:
        self.sequence_id = sequence_id
        self.source = source
        self.timestamp = timestamp
        self.position = position
        self.velocity = velocity
        self.tai = tai

    def encode(self) -> bytes:
        return (
            f"{self.sequence_id}\n405\n{self.source}\n{format_timestamp(self.timestamp)}\n"
            f"{self.position!r}\n{self.velocity!r}\n{self.tai!r}\r\n"
        ).encode()


class AzimuthAxisMove:
    __slots__ = (
        "acceleration",
        "jerk",
        "position",
        "sequence_id",
        "source",
        "timestamp",
        "velocity",
    )

    def __init__(
        self,
        sequence_id: int,
        source: int,
        timestamp: float,
        position: float,
        velocity: float,
        acceleration: float,
        jerk: float,
    ) -> None:
        self.sequence_id = sequence_id
        self.source = source
        self.timestamp = timestamp
        self.position = position
        self.velocity = velocity
        self.acceleration = acceleration
        self.jerk = jerk

    def encode(self) -> bytes:
        return (
            f"{self.sequence_id}\n103\n{self.source}\n{format_timestamp(self.timestamp)}\n"
            f"{self.position!r}\n{self.velocity!r}\n{self.acceleration!r}\n{self.jerk!r}\r\n"
        ).encode()


class AckReply:
    __slots__ = ("sequence_id", "source", "timeout_ms", "timestamp")

    def __init__(self, sequence_id: int, source: int, timestamp: float, timeout_ms: int) -> None:
        self.sequence_id = sequence_id
        self.source = source
        self.timestamp = timestamp
        self.timeout_ms = timeout_ms

    def encode(self) -> bytes:
        return (
            f"0\n{self.sequence_id}\n{self.source}\n{format_timestamp(self.timestamp)}\n"
            f"{self.timeout_ms}\r\n"
        ).encode()


class DoneReply:
    __slots__ = ("sequence_id", "source", "timestamp")

    def __init__(self, sequence_id: int, source: int, timestamp: float) -> None:
        self.sequence_id = sequence_id
        self.source = source
        self.timestamp = timestamp

    def encode(self) -> bytes:
        return (
            f"2\n{self.sequence_id}\n{self.source}\n{format_timestamp(self.timestamp)}\r\n"
        ).encode()


def _track(f: list[str]) -> ElevationAxisTrack:
    if len(f) != 7:
        raise ValueError(f"ElevationAxisTrack: expected 7 fields, got {len(f)}")
    return ElevationAxisTrack(
        int(f[0]), _SOURCES[f[2]], parse_timestamp(f[3]), float(f[4]), float(f[5]), float(f[6])
    )


def _move(f: list[str]) -> AzimuthAxisMove:
    if len(f) != 8:
        raise ValueError(f"AzimuthAxisMove: expected 8 fields, got {len(f)}")
    return AzimuthAxisMove(
        int(f[0]),
        _SOURCES[f[2]],
        parse_timestamp(f[3]),
        float(f[4]),
        float(f[5]),
        float(f[6]),
        float(f[7]),
    )


def _ack(f: list[str]) -> AckReply:
    if len(f) != 5:
        raise ValueError(f"AckReply: expected 5 fields, got {len(f)}")
    return AckReply(int(f[1]), _SOURCES[f[2]], parse_timestamp(f[3]), int(f[4]) if f[4] else 0)


def _done(f: list[str]) -> DoneReply:
    if len(f) != 4:
        raise ValueError(f"DoneReply: expected 4 fields, got {len(f)}")
    return DoneReply(int(f[1]), _SOURCES[f[2]], parse_timestamp(f[3]))


_COMMANDS: dict[str, Callable[[list[str]], Any]] = {"405": _track, "103": _move}
_REPLIES: dict[str, Callable[[list[str]], Any]] = {"0": _ack, "2": _done}


def parse_fields_command(f: list[str]) -> Any:
    """One command from its fields."""
    return _COMMANDS[f[1]](f)


def parse_fields_reply(f: list[str]) -> Any:
    """One reply from its fields."""
    return _REPLIES[f[0]](f)


def parse_command(frame: bytes) -> Any:
    """One command from its frame (terminator included)."""
    f = frame[:-2].decode().split("\n")
    return _COMMANDS[f[1]](f)


def parse_reply(frame: bytes) -> Any:
    """One reply from its frame (terminator included)."""
    f = frame[:-2].decode().split("\n")
    return _REPLIES[f[0]](f)


def parse_chunk(chunk: bytes, parse_fields: Callable[[list[str]], Any]) -> list[Any]:
    """Every complete frame of a chunk as received (an incomplete tail is dropped)."""
    lines = chunk.split(b"\r\n")
    lines.pop()
    return [parse_fields(line.decode().split("\n")) for line in lines]
