"""`Relay`: move the frames of one connection one way, with faults and a record.

Thin glue: the bytes read from the source connection are cut into frames
(`FrameCutter`), each frame is recorded (`FrameLog`) and, unless a fault
(`ProxyFaults`) says otherwise, written to the `Sink` unchanged. With no
fault planned, the frames of one read go out in one write.
"""

from __future__ import annotations

__all__ = ["READ_CHUNK", "WRITE_HIGH_WATER", "Ending", "Relay", "Sink", "WriterSink"]

import asyncio
import contextlib
import enum
import time
from typing import Protocol

from ..net.streams import Link
from ..protocol.enums import Source
from ..protocol.framing import DEFAULT_MAX_FRAME_BYTES
from ..telemetry.frames import Direction
from .cutter import FrameCutter, Piece
from .faults import ActionKind, ProxyFaults
from .recording import FrameLog

READ_CHUNK = 1 << 16
"""Most bytes taken from the source per read."""

WRITE_HIGH_WATER = 1 << 18
"""Bytes queued on the target beyond which the relay waits for them to drain."""

_INCOMPLETE = "incomplete frame at the end of the connection"


class Ending(enum.Enum):
    """Why `Relay.run` returned."""

    EOF = "eof"
    """The source closed its connection (or it was closed under the relay)."""
    LOST = "lost"
    """The source connection failed (reset, timeout)."""
    CUT = "cut"
    """A fault cut the source connection."""


class Sink(Protocol):
    """Where a relay writes."""

    def write(self, data: bytes) -> bool:
        """Send ``data`` now; False if it could not be (the target is gone)."""

    async def drain(self) -> None:
        """Wait while too much is queued (never raises on a lost target)."""


class WriterSink:
    """A `Sink` on a stream writer, looked up at each write (it may change)."""

    __slots__ = ("_writer",)

    def __init__(self, writer: asyncio.StreamWriter | None) -> None:
        self._writer = writer

    def write(self, data: bytes) -> bool:
        """Write ``data``; False if the connection is closing or gone."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        writer.write(data)
        return True

    async def drain(self) -> None:
        """Wait until the queued bytes fall below `WRITE_HIGH_WATER`."""
        writer = self._writer
        if writer is None or writer.transport.get_write_buffer_size() <= WRITE_HIGH_WATER:
            return
        with contextlib.suppress(ConnectionError):  # gone: its owner sees the loss
            await writer.drain()


class Relay:
    """Relay the frames of one connection one way.

    Parameters
    ----------
    direction : `Direction`
    role : `Source` or `None`
        The console role of the route (`None` for telemetry).
    faults : `ProxyFaults`
        Consulted for every frame while it has a rule or a hook.
    log : `FrameLog` or `None`
        Where each frame is recorded.
    max_frame_bytes : `int`
        A longer frame is forwarded (and recorded) in parts as it arrives.

    Attributes
    ----------
    frames : `int`
        Frames (and parts of over-long frames) relayed or faulted so far.
    undelivered : `int`
        Frames that could not be written (the target was gone).
    """

    def __init__(
        self,
        direction: Direction,
        role: Source | None,
        faults: ProxyFaults,
        log: FrameLog | None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.direction = direction
        self.role = role
        self.faults = faults
        self.log = log
        self.max_frame_bytes = max_frame_bytes
        self.frames = 0
        self.undelivered = 0

    async def run(self, source: Link, sink: Sink) -> Ending:
        """Relay from ``source`` to ``sink`` until the source ends; say how it ended.

        Cancel-safe (frames already read and not yet written are lost, as on
        a cut cable).
        """
        cutter = FrameCutter(self.max_frame_bytes)
        reader = source.reader
        while True:
            try:
                data = await reader.read(READ_CHUNK)
            except (ConnectionError, OSError):
                data = b""
                ending = Ending.LOST
            else:
                ending = Ending.EOF
            utc = time.time()
            mono = time.monotonic()
            if not data:
                rest = cutter.rest()
                if rest:
                    await self._one(Piece(rest, False), sink, utc, mono, incomplete=True)
                return ending
            pieces = cutter.feed(data)
            if not pieces:
                continue
            self.frames += len(pieces)
            if not self.faults.active:
                delivered = sink.write(
                    data
                    if len(pieces) == 1 and pieces[0].data is data
                    else b"".join(p.data for p in pieces)
                )
                if not delivered:
                    self.undelivered += len(pieces)
                if self.log is not None:
                    self._record(pieces, utc, mono, delivered)
            else:
                for piece in pieces:
                    if not await self._one(piece, sink, utc, mono):
                        source.abort()
                        return Ending.CUT
            await sink.drain()

    def _record(self, pieces: list[Piece], utc: float, mono: float, delivered: bool) -> None:
        log = self.log
        assert log is not None
        undelivered = {} if delivered else {"undelivered": True}
        for piece in pieces:
            error, extra = self._marks(piece, False)
            log.frame(
                self.direction, self.role, piece.data, utc, mono, error, **extra, **undelivered
            )

    def _marks(self, piece: Piece, incomplete: bool) -> tuple[str | None, dict[str, object]]:
        """The error and keys that mark a piece that is not a whole frame in the record."""
        if incomplete:
            return _INCOMPLETE, {"incomplete": True}
        if not piece.whole:
            return f"part of a frame longer than {self.max_frame_bytes} bytes", {"part": True}
        return None, {}

    async def _one(
        self, piece: Piece, sink: Sink, utc: float, mono: float, incomplete: bool = False
    ) -> bool:
        """Apply the faults to one piece, record and forward it; False: cut."""
        error, extra = self._marks(piece, incomplete)
        action = self.faults.decide(self.direction, self.role, piece.data)
        if action.kind is not ActionKind.FORWARD:
            extra["fault"] = action.label
        data = piece.data
        if action.kind is ActionKind.REPLACE:
            data = action.data
            extra["forwarded"] = data.decode("utf-8", "surrogateescape")
        if action.kind in (ActionKind.FORWARD, ActionKind.DELAY, ActionKind.REPLACE):
            if action.kind is ActionKind.DELAY:
                await asyncio.sleep(action.delay)
            if not sink.write(data):
                self.undelivered += 1
                extra["undelivered"] = True
        if self.log is not None:
            self.log.frame(self.direction, self.role, piece.data, utc, mono, error, **extra)
        return action.kind is not ActionKind.CUT
