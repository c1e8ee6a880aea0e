"""The shared line splitter: chunking-invariant, bounded, and linear in the bytes fed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mountcomm.protocol.framing import FrameDecoder
from mountcomm.protocol.lines import (
    OVERFLOW_SAMPLE_BYTES,
    LineOverflow,
    LineReader,
    LineSplitter,
    first_line,
)

TERMINATORS = [b"\r\n", b"\n"]


def feed_bytewise(splitter: LineSplitter, data: bytes) -> list[object]:
    out: list[object] = []
    for i in range(len(data)):
        out += splitter.feed(data[i : i + 1])
    return out


def reference(data: bytes, terminator: bytes, limit: int) -> list[object]:
    """What a splitter must return for ``data`` fed from the start of a stream in one piece."""
    *lines, rest = data.split(terminator)
    out: list[object] = [
        line if len(line) <= limit else LineOverflow(line[:OVERFLOW_SAMPLE_BYTES], limit)
        for line in lines
    ]
    partial = len(terminator) > 1 and rest.endswith(terminator[:1])
    if len(rest) - partial > limit:  # an incomplete line already too long
        out.append(LineOverflow(rest[:OVERFLOW_SAMPLE_BYTES], limit))
    return out


@pytest.mark.parametrize("terminator", TERMINATORS)
def test_whole_bytewise_and_trailing_data(terminator: bytes) -> None:
    data = terminator.join([b"one", b"two", b"", b"three"])
    assert LineSplitter(terminator, 64).feed(data) == [b"one", b"two", b""]
    splitter = LineSplitter(terminator, 64)
    assert feed_bytewise(splitter, data) == [b"one", b"two", b""]
    assert splitter.buffered == len(b"three") and splitter.mid_line
    assert splitter.held() == b"three"
    assert splitter.feed(terminator) == [b"three"]
    assert splitter.buffered == 0 and not splitter.mid_line


def test_lone_newline_is_not_a_crlf_terminator() -> None:
    splitter = LineSplitter(b"\r\n", 64)
    assert splitter.feed(b"a\nb\rc\r") == []
    assert splitter.feed(b"\n") == [b"a\nb\rc"]


def test_overflow_in_a_complete_line_is_reported_in_place() -> None:
    splitter = LineSplitter(b"\r\n", 8)
    out = splitter.feed(b"12345678\r\n123456789\r\nok\r\n")
    assert out == [b"12345678", LineOverflow(b"123456789", 8), b"ok"]


def test_overflow_without_terminator_is_reported_at_once_then_skipped() -> None:
    splitter = LineSplitter(b"\r\n", 8)
    out = splitter.feed(b"x" * 200)
    assert out == [LineOverflow(b"x" * OVERFLOW_SAMPLE_BYTES, 8)]
    assert splitter.overflows == 1
    assert splitter.buffered == 0 and splitter.mid_line and splitter.held() == b""
    assert splitter.feed(b"y" * 10_000) == []
    assert splitter.feed(b"zz\r") == []
    assert splitter.feed(b"\nnext\r\nmore") == [b"next"]
    assert splitter.held() == b"more"


def test_terminator_split_across_feeds_at_the_limit() -> None:
    splitter = LineSplitter(b"\r\n", 4)
    assert splitter.feed(b"abcd\r") == []  # the CR may start the terminator
    assert splitter.feed(b"\n") == [b"abcd"]
    assert splitter.feed(b"abcde") == [LineOverflow(b"abcde", 4)]
    assert splitter.feed(b"\r") == []  # skipping: half a terminator
    assert splitter.feed(b"\nok\r\n") == [b"ok"]


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        LineSplitter(b"\n", 0)
    with pytest.raises(ValueError, match="empty"):
        LineSplitter(b"", 10)
    assert repr(LineOverflow(b"ab", 3)) == "LineOverflow(prefix=b'ab', limit=3)"
    assert LineOverflow(b"ab", 3) != b"ab"


chunks = st.lists(st.sampled_from([b"a", b"bc", b"\r", b"\n", b"\r\n", b"xyz" * 5]), max_size=60)


@given(st.sampled_from(TERMINATORS), chunks, st.integers(1, 20), st.data())
def test_any_chunking_gives_the_same_lines(
    terminator: bytes, pieces: list[bytes], limit: int, data: st.DataObject
) -> None:
    stream = b"".join(pieces)
    # Cut the same stream at random places.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    whole = LineSplitter(terminator, limit)
    chunked = LineSplitter(terminator, limit)
    out_whole = whole.feed(stream)
    assert out_whole == reference(stream, terminator, limit)
    out_chunked: list[object] = []
    bounds = list(zip([0, *cuts], [*cuts, len(stream)], strict=True))
    for a, b in bounds:
        out_chunked += chunked.feed(stream[a:b])
        assert chunked.buffered <= limit + len(terminator) - 1
    # Linear whatever the chunking: each byte searched at most three times, plus
    # the bytes of a split terminator once per feed.
    assert chunked.scanned_bytes <= 3 * len(stream) + (len(terminator) - 1) * len(bounds)
    assert chunked.overflows == sum(isinstance(x, LineOverflow) for x in out_chunked)
    # The prefix an overflow reports depends on where the chunk ended; nothing else does.
    assert normalise(out_chunked) == normalise(out_whole)
    assert whole.held() == chunked.held()


def normalise(lines: list[object]) -> list[object]:
    return ["overflow" if isinstance(item, LineOverflow) else bytes(item) for item in lines]  # type: ignore[call-overload]


@given(st.sampled_from(TERMINATORS), st.lists(st.binary(max_size=30), max_size=20))
def test_lines_round_trip_when_within_limit(terminator: bytes, lines: list[bytes]) -> None:
    lines = [line.replace(terminator[:1], b"") for line in lines]
    stream = b"".join(line + terminator for line in lines)
    assert LineSplitter(terminator, 30).feed(stream) == lines
    assert feed_bytewise(LineSplitter(terminator, 30), stream) == lines


def test_matches_a_reference_split() -> None:
    data = b"short\r\n" + b"L" * 100 + b"\r\nend\r\n"
    assert LineSplitter(b"\r\n", 50).feed(data) == reference(data, b"\r\n", 50)


# ---- linear time, checked by counting the bytes searched (no clock) -----------------

SIZE = 64 * 1024


@pytest.mark.parametrize("terminator", TERMINATORS)
def test_a_64k_line_fed_byte_by_byte_is_searched_a_bounded_number_of_times(
    terminator: bytes,
) -> None:
    splitter = LineSplitter(terminator, SIZE)
    line = b"x" * SIZE
    for i in range(SIZE):
        assert splitter.feed(line[i : i + 1]) == []
    assert splitter.feed(terminator) == [line]
    fed = SIZE + len(terminator)
    feeds = SIZE + 1
    # Linear: each byte is searched at most three times, plus a partial terminator
    # per feed. A splitter that rescans its buffer on every feed searches about
    # SIZE**2 / 2 bytes here.
    assert splitter.scanned_bytes <= 3 * fed + (len(terminator) - 1) * feeds


def test_frame_decoder_is_linear_byte_by_byte() -> None:
    decoder = FrameDecoder()
    frame = b"1\n" + b"7" * (SIZE - 2) + b"\r\n"
    frames = []
    for i in range(len(frame)):
        frames += decoder.feed(frame[i : i + 1])
    assert frames == [["1", "7" * (SIZE - 2)]]
    assert decoder.scanned_bytes <= 3 * len(frame) + len(frame)  # + a split "\r" per feed


def test_frame_decoder_skipping_is_linear_byte_by_byte() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    flood = b"z" * SIZE
    errors = []
    for i in range(SIZE):
        errors += decoder.feed(flood[i : i + 1])
        assert decoder.buffered <= 1024 + 1
    assert len(errors) == 1
    assert decoder.feed(b"\r\n1\r\n") == [["1"]]
    assert decoder.scanned_bytes <= 4 * (SIZE + 5)


def test_registry_splitter_is_linear_byte_by_byte() -> None:
    splitter = LineSplitter(b"\n", SIZE, strip_cr=True)
    line = b"{" + b"a" * (SIZE - 1)
    for i in range(SIZE):
        assert splitter.feed(line[i : i + 1]) == []
    assert splitter.feed(b"\r\n") == [line]
    assert splitter.scanned_bytes <= 3 * (SIZE + 2)


# ---- the registry's use: b"\n", a "\r" before it dropped (strip_cr) ------------------


def test_strip_cr_lines_whole_bytewise_and_with_trailing_data() -> None:
    data = b"one\ntwo\r\nthree"
    assert LineSplitter(b"\n", 4096, strip_cr=True).feed(data) == [b"one", b"two"]
    splitter = LineSplitter(b"\n", 4096, strip_cr=True)
    out = []
    for i in range(len(data)):
        out += splitter.feed(data[i : i + 1])
    assert out == [b"one", b"two"]
    assert splitter.buffered == len(b"three")
    assert splitter.feed(b"\n") == [b"three"]


def test_strip_cr_line_too_long_is_reported_and_skipped() -> None:
    splitter = LineSplitter(b"\n", 8, strip_cr=True)
    out = splitter.feed(b"12345678\n123456789\nok\n")
    assert out[0] == b"12345678"
    assert out[1] == LineOverflow(b"123456789", 8)
    assert out[2] == b"ok"
    # without a newline: reported as soon as it is too long, then skipped to the next one
    out = splitter.feed(b"x" * 20)
    assert len(out) == 1 and isinstance(out[0], LineOverflow)
    assert out[0].prefix == b"x" * 20
    assert splitter.buffered == 0
    assert splitter.feed(b"y" * 1000) == []
    assert splitter.feed(b"zz\nnext\n") == [b"next"]


def test_strip_cr_crlf_split_across_feeds_at_the_limit() -> None:
    splitter = LineSplitter(b"\n", 4, strip_cr=True)
    assert splitter.feed(b"abcd\r") == []
    assert splitter.feed(b"\n") == [b"abcd"]
    with pytest.raises(ValueError, match="positive"):
        LineSplitter(b"\n", 0, strip_cr=True)


@given(st.lists(st.binary(max_size=200), max_size=30), st.integers(1, 64))
def test_strip_cr_splitter_memory_is_bounded(chunks: list[bytes], limit: int) -> None:
    splitter = LineSplitter(b"\n", limit, strip_cr=True)
    for chunk in chunks:
        for line in splitter.feed(chunk):
            assert isinstance(line, LineOverflow) or len(line) <= limit
        assert splitter.buffered <= limit + 1


@given(st.lists(st.binary(max_size=50).filter(lambda b: b"\n" not in b), max_size=20))
def test_strip_cr_splitter_round_trip(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    out = LineSplitter(b"\n", 64, strip_cr=True).feed(data)
    expected = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    assert out == expected


# ---- LineReader: lines pulled between blocks of sized data -------------------------


def pull_all(reader: LineReader, sizes: list[int | None], limit: int = 64) -> list[object]:
    """Pull, in order, a line (None) or a block of n bytes (an int) for each of ``sizes``."""
    out: list[object] = []
    for size in sizes:
        item = reader.line(limit) if size is None else reader.take(size)
        if item is None:
            break
        out.append(item)
    return out


def test_reader_lines_and_sized_data_whole_and_byte_by_byte() -> None:
    data = b"one\r\n5\r\nab\r\ncd\r\ntwo\r\nrest"
    plan: list[int | None] = [None, None, 5, None, None]
    whole = LineReader(b"\r\n")
    whole.feed(data)
    got = pull_all(whole, plan)
    assert got == [b"one", b"5", b"ab\r\nc", b"d", b"two"]
    assert whole.buffered == len(b"rest") and whole.line(64) is None
    bytewise = LineReader(b"\r\n")
    out: list[object] = []
    pending = list(plan)
    for i in range(len(data)):
        bytewise.feed(data[i : i + 1])
        while pending:
            size = pending[0]
            item = bytewise.line(64) if size is None else bytewise.take(size)
            if item is None:
                break
            out.append(item)
            pending.pop(0)
    assert out == got


def test_reader_crlf_split_at_the_limit_and_overflow() -> None:
    reader = LineReader(b"\r\n")
    reader.feed(b"abcd\r")
    assert reader.line(4) is None  # its LF may still come
    reader.feed(b"\n")
    assert reader.line(4) == b"abcd"
    reader.feed(b"abcde")
    assert reader.line(4) is None  # known too long one byte later: still bounded
    reader.feed(b"f")
    assert reader.line(4) == LineOverflow(b"abcde", 4)  # incomplete and already too long
    long = LineReader(b"\r\n")
    long.feed(b"123456789\r\n")
    assert long.line(8) == LineOverflow(b"123456789", 8)


def test_reader_block_of_lines_up_to_an_empty_line() -> None:
    head = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\nbody"
    reader = LineReader(b"\r\n")
    for i in range(len(head)):
        reader.feed(head[i : i + 1])
        lines = reader.block(64)
        if lines is not None:
            break
    assert lines == [b"HTTP/1.1 200 OK", b"A: 1", b"B: 2"]
    reader.feed(head[i + 1 :])
    assert reader.take(4) == b"body" and reader.buffered == 0
    exact = LineReader(b"\r\n")
    exact.feed(b"ab\r\ncd\r\n\r\n")
    assert exact.block(8) == [b"ab", b"cd"]  # 8 bytes: the lines and their CRLFs
    over = LineReader(b"\r\n")
    over.feed(b"ab\r\ncde\r\n\r\n")
    assert isinstance(over.block(8), LineOverflow)


def test_reader_is_linear_byte_by_byte() -> None:
    line = b"x" * SIZE + b"\r\n"
    reader = LineReader(b"\r\n")
    for i in range(len(line)):
        reader.feed(line[i : i + 1])
        found = reader.line(SIZE)
    assert found == b"x" * SIZE
    assert reader.scanned_bytes <= 2 * len(line)


@given(st.lists(st.binary(max_size=20).filter(lambda b: b"\n" not in b), max_size=10), st.data())
def test_reader_any_cut_gives_the_same_lines(lines: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = LineReader(b"\n")
    out: list[object] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        reader.feed(stream[lo:hi])
        while (line := reader.line(64)) is not None:
            out.append(line)
    assert out == lines and reader.buffered == 0
    assert reader.scanned_bytes <= len(stream)


def test_first_line() -> None:
    assert first_line(b'{"a":1}\n{"b":2}\n') == b'{"a":1}'
    assert first_line(b"no end") == b"no end"
    assert first_line(b"a\r\nb", b"\r\n") == b"a"
