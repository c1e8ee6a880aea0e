"""Split a byte stream at a terminator, in linear time. No I/O.

The one line splitter of mountcomm, in two forms over the same search:

* `LineSplitter` is pushed bytes and returns every line they complete: the
  mount protocol's `FrameDecoder` (terminator ``b"\\r\\n"``), the port
  registry's request reader (``b"\\n"``, an optional ``"\\r"`` before it
  dropped) and the stream of etcd's watch messages (``b"\\n"``) use it.
* `LineReader` is pulled one line at a time, between blocks of sized data
  that are not lines: the HTTP/1.1 response reader of the etcd link (heads,
  chunk-size and trailer lines between bodies and chunks) uses it.

`first_line` is the first line of a complete message.

Two properties matter, whatever the peer sends:

* **Linear time.** Incomplete data is kept in one `bytearray` that grows in
  place, and the search for the terminator resumes where the previous one
  stopped; a short incomplete line is joined to the next chunk only when that
  chunk is at least as long. Each byte received is searched at most three
  times (plus the bytes of a split terminator once per chunk), however the
  stream is cut into chunks; a 64 KiB line fed one byte at
  a time costs 64 Ki small appends, not 2 Gi bytes of copying.
* **Bounded memory.** A line longer than ``max_line_bytes`` comes out as a
  `LineOverflow` in its place; the splitter then discards bytes up to the next
  terminator and carries on with the following line (it stays in sync).
"""

from __future__ import annotations

__all__ = ["OVERFLOW_SAMPLE_BYTES", "LineOverflow", "LineReader", "LineSplitter", "first_line"]

from typing import overload

OVERFLOW_SAMPLE_BYTES = 80
"""How many leading bytes of an over-long line a `LineOverflow` keeps."""


class LineOverflow:
    """Returned by `LineSplitter.feed` in place of a line longer than the limit.

    Parameters
    ----------
    prefix : `bytes`
        The first bytes of the line (at most `OVERFLOW_SAMPLE_BYTES`).
    limit : `int`
        The limit it exceeded [bytes].
    """

    __slots__ = ("limit", "prefix")

    def __init__(self, prefix: bytes, limit: int) -> None:
        self.prefix = prefix
        self.limit = limit

    def __eq__(self, other: object) -> bool:
        if type(other) is not LineOverflow:
            return NotImplemented
        return (self.prefix, self.limit) == (other.prefix, other.limit)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LineOverflow(prefix={self.prefix!r}, limit={self.limit})"


def _partial_terminator(buf: bytearray, terminator: bytes) -> int:
    """Length of the longest proper prefix of ``terminator`` that ends ``buf``."""
    for k in range(len(terminator) - 1, 0, -1):
        if buf.endswith(terminator[:k]):
            return k
    return 0


class LineSplitter:
    """Split a byte stream into lines at ``terminator``; linear time, bounded memory.

    Parameters
    ----------
    terminator : `bytes`
        What ends a line (not included in the lines returned), e.g. ``b"\\r\\n"``.
    max_line_bytes : `int`
        Longest line accepted, terminator excluded [bytes]. The splitter never
        holds more than this plus the terminator plus one chunk.
    strip_cr : `bool`
        Drop a ``"\\r"`` that ends a line (for a ``b"\\n"`` terminator that
        may come as ``"\\r\\n"``); ``max_line_bytes`` counts the line without it.

    Attributes
    ----------
    terminator : `bytes`
        As given.
    max_line_bytes : `int`
        As given.
    strip_cr : `bool`
        As given.

    Raises
    ------
    ValueError
        If ``terminator`` is empty or ``max_line_bytes`` is not positive.
    """

    __slots__ = (
        "_buf",
        "_limit",
        "_overflows",
        "_scan",
        "_scanned",
        "_skipping",
        "_tail",
        "max_line_bytes",
        "strip_cr",
        "terminator",
    )

    def __init__(self, terminator: bytes, max_line_bytes: int, *, strip_cr: bool = False) -> None:
        if not terminator:
            raise ValueError("terminator must not be empty")
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.terminator = bytes(terminator)
        self.max_line_bytes = max_line_bytes
        self.strip_cr = strip_cr
        self._limit = max_line_bytes + 1 if strip_cr else max_line_bytes  # with its "\r"
        self._buf = bytearray()
        self._scan = 0  # no terminator starts before this offset of _buf
        self._tail = len(terminator) - 1  # bytes of a terminator split across feeds
        self._scanned = 0
        self._overflows = 0
        self._skipping = False

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete line (0 while discarding an over-long one)."""
        return len(self._buf) if not self._skipping else 0

    @property
    def mid_line(self) -> bool:
        """True if bytes of an unfinished line were received (held or being discarded)."""
        return self._skipping or bool(self._buf)

    @property
    def overflows(self) -> int:
        """How many `LineOverflow` items `feed` has returned so far."""
        return self._overflows

    def held(self) -> bytes:
        """A copy of the bytes held for an incomplete line (empty while discarding)."""
        return bytes(self._buf) if not self._skipping else b""

    @property
    def scanned_bytes(self) -> int:
        """Total bytes searched for a terminator so far (a diagnostic counter).

        At most three times the bytes fed plus ``len(terminator) - 1`` per
        call of `feed`, however the stream was chunked: that is what makes the
        splitter linear.
        """
        return self._scanned

    @overload
    def feed(self, data: bytes) -> list[bytes | LineOverflow]: ...

    @overload
    def feed(self, data: bytearray) -> list[bytes | bytearray | LineOverflow]: ...

    def feed(
        self, data: bytes | bytearray
    ) -> list[bytes | LineOverflow] | list[bytes | bytearray | LineOverflow]:
        """Add received bytes; return the lines they complete, in order.

        Parameters
        ----------
        data : `bytes` or `bytearray`
            Bytes as received; may hold no line, part of one, or many.

        Returns
        -------
        lines : `list` [`bytes` or `bytearray` or `LineOverflow`]
            Each completed line without its terminator (`bytes`; `bytearray` if
            ``data`` was one), or a `LineOverflow` in place of a line longer
            than ``max_line_bytes``.
        """
        term = self.terminator
        buf = self._buf
        if self._skipping:
            data = self._skip(data)
            if self._skipping:
                return []
        if buf:
            if len(buf) > len(data):
                # A long line is building up: append in place and search only the
                # new bytes (and a split terminator), never the held ones again.
                buf += data
                scan = self._scan
                self._scanned += len(buf) - scan
                if buf.find(term, scan) < 0:
                    return self._held_grew()
                data = bytes(buf)
            else:
                # Joining costs no more than twice this chunk: still linear.
                data = b"".join((buf, data))
            buf.clear()
        # Split as bytes: a bytes line costs one allocation, a bytearray line two.
        size = len(data)
        self._scanned += size
        parts = data.split(term)
        if len(parts) == 1:
            buf += data
            return self._held_grew()
        rest = parts.pop()
        if rest:
            buf += rest
            n = len(buf) - self._tail
            self._scan = n if n > 0 else 0
        else:
            self._scan = 0
        limit = self._limit
        if size > limit and (len(buf) > limit or max(map(len, parts)) > limit):
            return self._without_cr(self._overflowed(parts))  # type: ignore[arg-type]
        if self.strip_cr:
            return self._without_cr(parts)  # type: ignore[arg-type]
        return parts  # type: ignore[return-value]

    def _without_cr(
        self, lines: list[bytes | bytearray | LineOverflow]
    ) -> list[bytes | bytearray | LineOverflow]:
        """With ``strip_cr``: drop each line's final ``"\\r"``, then apply the exact limit."""
        if not self.strip_cr:
            return lines
        limit = self.max_line_bytes
        out: list[bytes | bytearray | LineOverflow] = []
        for item in lines:
            if isinstance(item, LineOverflow):
                out.append(item)
                continue
            line = item[:-1] if item.endswith(b"\r") else item
            if len(line) > limit:
                self._overflows += 1
                out.append(LineOverflow(bytes(line[:OVERFLOW_SAMPLE_BYTES]), limit))
            else:
                out.append(line)
        return out

    def _skip(self, data: bytes | bytearray) -> bytes:
        """Discard bytes up to the end of an over-long line; return what follows it."""
        term = self.terminator
        buf = self._buf  # holds at most a partial terminator
        buf += data
        end = buf.find(term)
        if end < 0:
            self._scanned += len(buf)
            del buf[: len(buf) - _partial_terminator(buf, term)]
            return b""
        self._scanned += end + len(term)
        self._skipping = False
        rest = bytes(buf[end + len(term) :])
        buf.clear()
        return rest

    def _held_grew(self) -> list[bytes | bytearray | LineOverflow]:
        """No line completed: remember where to search next; bound what is held."""
        n = len(self._buf) - self._tail
        self._scan = n if n > 0 else 0
        if len(self._buf) > self._limit:
            return self._overflowed([])
        return []

    def _overflowed(
        self, parts: list[bytes | bytearray | LineOverflow]
    ) -> list[bytes | bytearray | LineOverflow]:
        """The slow path: replace over-long lines, complete or not, by `LineOverflow`."""
        limit, shown = self._limit, self.max_line_bytes
        out: list[bytes | bytearray | LineOverflow] = []
        for line in parts:
            if not isinstance(line, LineOverflow) and len(line) > limit:
                self._overflows += 1
                out.append(LineOverflow(bytes(line[:OVERFLOW_SAMPLE_BYTES]), shown))
            else:
                out.append(line)
        buf = self._buf
        partial = _partial_terminator(buf, self.terminator)
        if len(buf) - partial > limit:
            # Incomplete and already too long: report it now, discard the rest of it.
            self._overflows += 1
            out.append(LineOverflow(bytes(buf[:OVERFLOW_SAMPLE_BYTES]), shown))
            self._skipping = True
            del buf[: len(buf) - partial]
            self._scan = 0
        return out


class LineReader:
    """Pull lines, and blocks of sized data between them, from a byte stream.

    For protocols whose lines alternate with data that is not split into
    lines (an HTTP head, then a body of ``Content-Length`` bytes). Bytes are
    added with `feed`; `line` returns the next line once it has arrived,
    `block` the lines up to an empty line (an HTTP head), `take` the next
    ``n`` bytes. The search for a line's end resumes where the previous one
    stopped, so each byte is searched at most as many times as the end mark
    is long (two for a ``b"\\r\\n"`` line, four for a ``b"\\r\\n"`` block),
    however the stream is cut (`scanned_bytes` counts it); the memory held is
    what the caller has not taken yet (`buffered`), bounded by the limits
    the caller passes.

    Parameters
    ----------
    terminator : `bytes`
        What ends a line (not included in the lines returned).

    Raises
    ------
    ValueError
        If ``terminator`` is empty.
    """

    __slots__ = ("_buf", "_scan", "_scanned", "terminator")

    def __init__(self, terminator: bytes) -> None:
        if not terminator:
            raise ValueError("terminator must not be empty")
        self.terminator = bytes(terminator)
        self._buf = bytearray()
        self._scan = 0  # no terminator starts before this offset of _buf
        self._scanned = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned."""
        return len(self._buf)

    @property
    def scanned_bytes(self) -> int:
        """Total bytes searched for a terminator so far (a diagnostic counter)."""
        return self._scanned

    def feed(self, data: bytes | bytearray) -> None:
        """Add received bytes (`line` and `take` return them)."""
        self._buf += data

    def line(self, max_line_bytes: int) -> bytes | LineOverflow | None:
        """Return the next line without its terminator, if it has arrived.

        Parameters
        ----------
        max_line_bytes : `int`
            Longest line accepted, terminator excluded [bytes].

        Returns
        -------
        line : `bytes`, `LineOverflow` or `None`
            The line; `None` if its end has not arrived yet; a `LineOverflow`
            once it is known to be longer than ``max_line_bytes``, complete or
            not (its bytes stay held: a caller that cannot go on closes the
            stream).
        """
        # (_until inlined: this is the hot path of a chunked body)
        buf, term = self._buf, self.terminator
        start = self._scan
        end = buf.find(term, start, max_line_bytes + len(term))
        if end < 0:
            return self._until(term, max_line_bytes)  # not there yet, or too long
        self._scanned += end + len(term) - start
        line = bytes(buf[:end])
        del buf[: end + len(term)]
        self._scan = 0
        return line

    def block(self, max_bytes: int) -> list[bytes] | LineOverflow | None:
        """Return the lines up to the next empty line (which ends them), if all arrived.

        For a block of lines ended by an empty line, e.g. an HTTP head; the
        empty line is not returned.

        Parameters
        ----------
        max_bytes : `int`
            Longest block, its lines' terminators included and the ending
            empty line excluded [bytes].

        Returns
        -------
        lines : `list` [`bytes`], `LineOverflow` or `None`
            As for `line`.
        """
        term = self.terminator
        found = self._until(term + term, max_bytes - len(term))
        if found is None or isinstance(found, LineOverflow):
            return found
        return found.split(term)

    def _until(self, end_mark: bytes, limit: int) -> bytes | LineOverflow | None:
        """The bytes before the next ``end_mark`` (which is consumed), at most ``limit``."""
        buf = self._buf
        start = self._scan
        window = limit + len(end_mark)  # all but one byte of the mark may be here already
        end = buf.find(end_mark, start, window)
        if end >= 0:
            self._scanned += end + len(end_mark) - start
            found = bytes(buf[:end])
            del buf[: end + len(end_mark)]
            self._scan = 0
            return found
        searched = min(len(buf), window)
        self._scanned += max(0, searched - start)
        if len(buf) >= window:  # no mark starts in the first limit + 1 bytes: all the line's
            return LineOverflow(bytes(buf[: min(OVERFLOW_SAMPLE_BYTES, limit + 1)]), limit)
        self._scan = max(0, searched - len(end_mark) + 1)
        return None

    def take(self, n: int) -> bytes | None:
        """Return the next ``n`` bytes, taken as they are, once they have all arrived."""
        buf = self._buf
        if len(buf) < n:
            return None
        data = bytes(buf[:n])
        del buf[:n]
        self._scan = 0
        return data


def first_line(data: bytes, terminator: bytes = b"\n") -> bytes:
    """The bytes of a complete message before its first ``terminator`` (all if none)."""
    end = data.find(terminator)
    return data if end < 0 else data[:end]
