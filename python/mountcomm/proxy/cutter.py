"""`FrameCutter`: cut a byte stream into frames without losing or changing a byte. No I/O.

The relay's splitter. Unlike `mountcomm.protocol.lines.LineSplitter`, which
the readers use and which discards an over-long line, a relay must pass on
every byte: the pieces `feed` returns, joined, are exactly the bytes fed (and
`rest` gives what is held at the end of the stream).

* A **whole** piece is one frame, terminator included.
* A line longer than ``max_frame_bytes`` comes out in **partial** pieces as
  its bytes arrive, the last one ending with the terminator; memory stays
  bounded by ``max_frame_bytes`` plus one chunk.
"""

from __future__ import annotations

__all__ = ["FrameCutter", "Piece"]

from typing import NamedTuple

from ..protocol.framing import DEFAULT_MAX_FRAME_BYTES, TERMINATOR


class Piece(NamedTuple):
    """Bytes to forward: a whole frame, or part of an over-long one."""

    data: bytes
    whole: bool


class FrameCutter:
    """Cut a stream into frames at a terminator, keeping every byte.

    Parameters
    ----------
    max_frame_bytes : `int`
        Longest frame held back until its terminator arrives [bytes]; a longer
        one is passed on in parts.
    terminator : `bytes`
        ``b"\\r\\n"`` for the mount protocol and for telemetry.
    """

    __slots__ = ("_buf", "_long", "_scanned", "max_frame_bytes", "terminator")

    def __init__(
        self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, terminator: bytes = TERMINATOR
    ) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        if not terminator:
            raise ValueError("the terminator must not be empty")
        self.max_frame_bytes = max_frame_bytes
        self.terminator = terminator
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for the terminator
        self._long = False  # inside an over-long frame

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Piece]:
        """Add received bytes; return the pieces they complete, in order."""
        term = self.terminator
        if not self._buf and not self._long and data.endswith(term):
            # The common case: whole frames, nothing held.
            if data.find(term) == len(data) - len(term):
                return [Piece(data, True)]
            cut = data.split(term)
            cut.pop()
            return [Piece(frame + term, True) for frame in cut]
        buf = self._buf
        buf += data
        out: list[Piece] = []
        start = 0
        pos = max(self._scanned - len(term) + 1, 0)
        while (end := buf.find(term, pos)) >= 0:
            stop = end + len(term)
            out.append(Piece(bytes(buf[start:stop]), not self._long))
            self._long = False
            start = pos = stop
        if start:
            del buf[:start]
        self._scanned = len(buf)
        if len(buf) > self.max_frame_bytes:
            # Keep a possible partial terminator for the next chunk.
            keep = _partial_terminator(buf, term)
            out.append(Piece(bytes(buf[: len(buf) - keep]), False))
            del buf[: len(buf) - keep]
            self._scanned = len(buf)
            self._long = True
        return out

    def rest(self) -> bytes:
        """Take the bytes held (an incomplete frame at the end of the stream)."""
        data = bytes(self._buf)
        self._buf.clear()
        self._scanned = 0
        self._long = False
        return data


def _partial_terminator(buf: bytearray, terminator: bytes) -> int:
    """Length of the longest proper prefix of ``terminator`` that ends ``buf``."""
    for k in range(len(terminator) - 1, 0, -1):
        if buf.endswith(terminator[:k]):
            return k
    return 0
