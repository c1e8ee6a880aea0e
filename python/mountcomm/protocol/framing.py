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

from collections.abc import Callable, Iterable
from typing import TypeVar

from ..exceptions import FrameTooLongError, ProtocolError
from .lines import LineOverflow, LineSplitter

TERMINATOR = b"\r\n"
DEFAULT_MAX_FRAME_BYTES = 64 * 1024

DecodedFrame = list[str] | ProtocolError
"""One item returned by `FrameDecoder.feed`: the fields of a good frame, or the
`ProtocolError` describing a bad one (already skipped)."""

M = TypeVar("M")


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

    Splitting is done by a `LineSplitter`: linear in the bytes fed, however
    they are chunked (a 64 KiB frame fed one byte at a time costs 64 Ki small
    appends, not a copy of the buffer per byte).

    Parameters
    ----------
    max_frame_bytes : `int`
        Largest frame accepted, terminator excluded [bytes]. The decoder never
        holds more than this plus one chunk, whatever the peer sends.
    """

    __slots__ = ("_lines", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        self.max_frame_bytes = max_frame_bytes
        self._lines = LineSplitter(TERMINATOR, max_frame_bytes)

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return self._lines.buffered

    @property
    def mid_frame(self) -> bool:
        """True if part of a frame was received but not its terminator.

        Also true while the rest of an over-long frame is being discarded.
        A connection that ends now ends in the middle of a frame.
        """
        return self._lines.mid_line

    @property
    def scanned_bytes(self) -> int:
        """Bytes searched for a terminator so far (see `LineSplitter.scanned_bytes`)."""
        return self._lines.scanned_bytes

    def partial_frame(self) -> bytes:
        """The bytes held for an incomplete frame (empty while discarding one)."""
        return self._lines.held()

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
        lines = self._lines.feed(data)
        try:  # the common case: every line is a good frame
            n = len(lines)
            if n == 1:  # one frame per read, the usual case at low rates
                return [lines[0].decode().split("\n")]  # type: ignore[union-attr]
            if n > 3:
                return [raw.decode().split("\n") for raw in lines]  # type: ignore[union-attr]
            out: list[DecodedFrame] = []  # a few: a loop costs less than a comprehension
            for raw in lines:
                out.append(raw.decode().split("\n"))  # type: ignore[union-attr]
            return out
        except (UnicodeDecodeError, AttributeError):  # AttributeError: a LineOverflow
            return [self._decode(raw) for raw in lines]

    def feed_messages(
        self, data: bytes, parse: Callable[[list[str]], M]
    ) -> list[M | ProtocolError]:
        """Add received bytes; return the messages of the frames they complete, in order.

        Splits and parses every frame of the chunk in one pass, for a read path
        that hands out all the messages of one read at once. The same as
        ``[parse(f) if isinstance(f, list) else f for f in feed(data)]`` with
        each `ProtocolError` that ``parse`` raises put in its frame's place.

        Parameters
        ----------
        data : `bytes`
            Bytes as received; may hold no frame, part of one, or many.
        parse : callable
            Turns the fields of one frame into a message (e.g. `parse_command`
            or `parse_reply`); must have no side effects, and must raise
            `ProtocolError` for fields that are not a valid message. Any other
            exception it raises propagates, and the frames of this chunk are
            then lost (the decoder itself stays in sync).

        Returns
        -------
        messages : `list` [message or `ProtocolError`]
            One item per completed frame: its message, or the error that made it
            unusable (not UTF-8, too long, not a valid message). A bad frame
            never costs the frames around it: decoding carries on after it, in
            this chunk and the next.

        Notes
        -----
        Pure: no I/O, no clock. The items come out exactly as if the same bytes
        had been fed in any other cut (whole, byte by byte, …).
        """
        lines = self._lines.feed(data)
        try:  # the common case: every line is a good frame of a good message
            return [parse(raw.decode().split("\n")) for raw in lines]  # type: ignore[union-attr]
        except (UnicodeDecodeError, AttributeError, ProtocolError):
            # AttributeError: a LineOverflow. Start again, one frame at a time.
            return [self._message(raw, parse) for raw in lines]

    def _message(
        self, raw: bytes | bytearray | LineOverflow, parse: Callable[[list[str]], M]
    ) -> M | ProtocolError:
        """Decode and parse one line, or the error in its place (the slow path)."""
        fields = self._decode(raw)
        if isinstance(fields, ProtocolError):
            return fields
        try:
            return parse(fields)
        except ProtocolError as e:
            # Kept until read: without its traceback, it holds none of the parser's frames.
            return e.with_traceback(None)

    def _decode(self, raw: bytes | bytearray | LineOverflow) -> DecodedFrame:
        """Decode one line, or describe why it is not a frame (the slow path)."""
        if isinstance(raw, LineOverflow):
            return FrameTooLongError(
                f"frame longer than max_frame_bytes={self.max_frame_bytes}; skipped", raw.prefix
            )
        try:
            return raw.decode().split("\n")
        except UnicodeDecodeError as e:
            return ProtocolError(f"frame is not valid UTF-8: {e.reason}", bytes(raw))
