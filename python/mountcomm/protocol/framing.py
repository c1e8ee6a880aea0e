"""Frame codec: bytes in, lists of text fields out (and back). No I/O.

A frame is UTF-8 text: fields joined by ``"\\n"``, terminated by ``"\\r\\n"``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "TERMINATOR",
    "DecodedFrame",
    "FrameDecoder",
    "encode_frame",
]

from collections.abc import Iterable

from ..exceptions import FrameTooLongError, ProtocolError

TERMINATOR = b"\r\n"
DEFAULT_MAX_FRAME_BYTES = 64 * 1024
_ERROR_SAMPLE_BYTES = 80

DecodedFrame = list[str] | ProtocolError
"""One item returned by `FrameDecoder.feed`: the fields of a good frame, or the
`ProtocolError` describing a bad one (already skipped)."""


def encode_frame(fields: Iterable[str]) -> bytes:
    """Encode fields as one frame, terminator included.

    Raises
    ------
    ValueError
        If a field contains ``"\\n"`` or ``"\\r"`` (it would desynchronise the stream).
    """
    items = list(fields)
    for item in items:
        if "\n" in item or "\r" in item:
            raise ValueError(f"a field may not contain a newline or carriage return: {item!r}")
    return ("\n".join(items) + "\r\n").encode()


class FrameDecoder:
    """Incremental frame decoder with a bounded buffer.

    Feed it bytes as they arrive, in chunks of any size; it returns each complete
    frame as a list of fields. A bad frame never desynchronises the stream: it is
    returned in place as a `ProtocolError` (`FrameTooLongError` if it exceeded
    ``max_frame_bytes``), and decoding carries on with the next frame.

    Parameters
    ----------
    max_frame_bytes : `int`
        Largest frame accepted, terminator excluded [bytes]. The decoder never
        holds more than this plus one chunk, whatever the peer sends.
    """

    __slots__ = ("_buffer", "_skipping", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = b""
        self._skipping = False

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[DecodedFrame]:
        """Add received bytes; return the frames they complete, in order.

        Parameters
        ----------
        data : `bytes`
            Bytes as received; may hold no frame, part of one, or many.

        Returns
        -------
        frames : `list` [`list` [`str`] or `ProtocolError`]
            One item per completed frame: its fields, or the error that made it
            unusable (not UTF-8, too long).
        """
        buf = self._buffer + data if self._buffer else data
        if self._skipping:
            end = buf.find(TERMINATOR)
            if end < 0:
                self._buffer = b"\r" if buf.endswith(b"\r") else b""
                return []
            self._skipping = False
            buf = buf[end + 2 :]
        parts = buf.split(TERMINATOR)
        rest = parts.pop()
        out: list[DecodedFrame] = []
        limit = self.max_frame_bytes
        for raw in parts:
            if len(raw) > limit:
                out.append(self._too_long(raw))
                continue
            try:
                out.append(raw.decode().split("\n"))
            except UnicodeDecodeError as e:
                out.append(ProtocolError(f"frame is not valid UTF-8: {e.reason}", raw))
        # A trailing CR may be the first half of the terminator: not frame content yet.
        if len(rest) - rest.endswith(b"\r") > limit:
            out.append(self._too_long(rest))
            self._skipping = True
            rest = b"\r" if rest.endswith(b"\r") else b""
        self._buffer = rest
        return out

    def _too_long(self, raw: bytes) -> FrameTooLongError:
        return FrameTooLongError(
            f"frame longer than max_frame_bytes={self.max_frame_bytes}; skipped",
            raw[:_ERROR_SAMPLE_BYTES],
        )
