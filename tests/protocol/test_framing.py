"""`FrameDecoder` and `encode_frame`: bytes in, fields out, never out of sync."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountcomm.exceptions import FrameTooLongError, ProtocolError
from mountcomm.protocol import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encode_frame
from mountcomm.protocol.framing import DecodedFrame

from .support import frame_fields

LIMIT = 300
"""max_frame_bytes of the decoders fed generated streams: every good frame fits."""


def feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[DecodedFrame]:
    out: list[DecodedFrame] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (any order, repeats allowed)."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# --- encode_frame ---------------------------------------------------------------


def test_encode_frame() -> None:
    assert encode_frame(["1", "405", "1"]) == b"1\n405\n1\r\n"
    assert encode_frame(iter(["a", "", "b"])) == b"a\n\nb\r\n"
    assert encode_frame(("é", "✓")) == "é\n✓\r\n".encode()
    assert encode_frame([""]) == b"\r\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "\r\n", "end\r", "\nstart"])
def test_encode_frame_refuses_newline_and_carriage_return(bad: str) -> None:
    with pytest.raises(ValueError, match="newline or carriage return"):
        encode_frame(["1", bad, "2"])


# --- whole, byte by byte, any chunking ------------------------------------------

FRAMES = [["1", "405", "1", "2020-05-13T12:19:44.123"], ["0", "12", "", ""], ["x"], ["é", "✓✓"]]
STREAM = b"".join(encode_frame(f) for f in FRAMES)


def test_decoder_fed_whole() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(STREAM) == FRAMES
    assert decoder.buffered == 0


def test_decoder_fed_byte_by_byte() -> None:
    decoder = FrameDecoder()
    out = feed_all(decoder, [STREAM[i : i + 1] for i in range(len(STREAM))])
    assert out == FRAMES
    assert decoder.buffered == 0


def test_decoder_returns_nothing_for_empty_or_partial_input() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"1\n2") == []
    assert decoder.feed(b"") == []
    assert decoder.buffered == 3
    assert decoder.feed(b"\r") == []
    assert decoder.feed(b"\n") == [["1", "2"]]
    assert decoder.buffered == 0


def test_decoder_keeps_trailing_partial_frame() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(STREAM + b"3\n4") == FRAMES
    assert decoder.buffered == 3
    assert decoder.feed(b"\r\n5\n") == [["3", "4"]]
    assert decoder.buffered == 2
    assert decoder.feed(b"6\r\n") == [["5", "6"]]
    assert decoder.buffered == 0


def test_decoder_splits_only_on_crlf() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"a\rb\r\n") == [["a\rb"]]
    assert decoder.feed(b"a\n\nb\r\n") == [["a", "", "b"]]
    assert decoder.feed(b"\r\r\n") == [["\r"]]
    assert decoder.feed(b"\n\r\n") == [["", ""]]


def test_empty_frame_is_one_empty_field() -> None:
    assert FrameDecoder().feed(b"\r\n\r\n") == [[""], [""]]


@given(st.lists(frame_fields, max_size=8), st.data())
@settings(max_examples=150, deadline=None)
def test_decoder_any_chunking(frames: list[list[str]], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(f) for f in frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    decoder = FrameDecoder()
    assert feed_all(decoder, split_at(stream, cuts)) == frames
    assert decoder.buffered == 0


# --- garbage between good frames ------------------------------------------------

INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82", b"\xc0\xaf", b"\x80"]


@st.composite
def bad_utf8_frames(draw: st.DrawFn) -> tuple[str, bytes]:
    # ASCII around the bad bytes, so that they cannot complete a valid sequence.
    head = draw(st.text("ab\n", max_size=10)).encode()
    tail = draw(st.text("ab\n", max_size=10)).encode()
    return ("bad_utf8", head + draw(st.sampled_from(INVALID_UTF8)) + tail)


@st.composite
def too_long_frames(draw: st.DrawFn) -> tuple[str, bytes]:
    size = draw(st.integers(LIMIT + 1, 3 * LIMIT))
    body = bytearray(b"y" * size)
    for i in draw(st.lists(st.integers(0, size - 2), max_size=3)):
        body[i] = draw(st.sampled_from(b"\r\n\xff"))  # lone CR, LF or bad bytes inside
    return ("too_long", bytes(body).replace(b"\r\n", b"\r\r"))


good_frames = frame_fields.map(lambda f: ("good", encode_frame(f)[:-2]))


@given(
    st.lists(st.one_of(good_frames, bad_utf8_frames(), too_long_frames()), max_size=10),
    st.data(),
)
@settings(max_examples=150, deadline=None)
def test_garbage_between_good_frames(items: list[tuple[str, bytes]], data: st.DataObject) -> None:
    stream = b"".join(raw + b"\r\n" for _, raw in items)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    decoder = FrameDecoder(max_frame_bytes=LIMIT)
    out = feed_all(decoder, split_at(stream, cuts))
    assert len(out) == len(items)
    for (what, raw), got in zip(items, out, strict=True):
        if what == "good":
            assert got == raw.decode().split("\n")
        elif what == "too_long":
            assert isinstance(got, FrameTooLongError)
        else:
            assert isinstance(got, ProtocolError)
            assert not isinstance(got, FrameTooLongError)
            assert got.frame == raw
            assert "UTF-8" in str(got)
    assert decoder.buffered == 0


def test_errors_are_returned_in_place() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    out = decoder.feed(b"1\r\n\xff\xfe\r\n2\r\n" + b"z" * 11 + b"\r\n3\r\n")
    assert out[0] == ["1"]
    assert type(out[1]) is ProtocolError
    assert isinstance(out[1], ValueError)
    assert out[1].frame == b"\xff\xfe"
    assert out[2] == ["2"]
    assert isinstance(out[3], FrameTooLongError)
    assert out[3].frame == b"z" * 11
    assert "max_frame_bytes=10" in str(out[3])
    assert out[4] == ["3"]


# --- the frame size limit -------------------------------------------------------


def test_default_limit() -> None:
    assert FrameDecoder().max_frame_bytes == DEFAULT_MAX_FRAME_BYTES == 64 * 1024


@pytest.mark.parametrize("bad", [0, -1])
def test_limit_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="max_frame_bytes"):
        FrameDecoder(max_frame_bytes=bad)


@pytest.mark.parametrize(
    "chunks",
    [
        [b"a" * 10 + b"\r\n"],
        [b"a" * 10, b"\r\n"],
        [b"a" * 10 + b"\r", b"\n"],  # terminator split across two chunks
        [b"a" * 5, b"a" * 5 + b"\r", b"\n"],
        [b"a"] * 10 + [b"\r", b"\n"],
    ],
)
def test_frame_of_exactly_the_limit_is_accepted(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    assert feed_all(decoder, [*chunks, b"b\r\n"]) == [["a" * 10], ["b"]]


@pytest.mark.parametrize(
    "chunks",
    [
        [b"a" * 11 + b"\r\n"],
        [b"a" * 11, b"\r\n"],
        [b"a" * 11 + b"\r", b"\n"],
        [b"a" * 10 + b"\r", b"x\r\n"],  # a lone CR is part of the frame
        [b"a"] * 11 + [b"\r", b"\n"],
    ],
)
def test_frame_one_byte_over_the_limit_is_refused(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    out = feed_all(decoder, [*chunks, b"b\r\n"])
    assert len(out) == 2
    assert isinstance(out[0], FrameTooLongError)
    assert out[1] == ["b"]


def test_too_long_frame_is_reported_before_its_terminator_arrives() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    assert decoder.feed(b"a" * 10) == []
    (error,) = decoder.feed(b"a")
    assert isinstance(error, FrameTooLongError)
    assert error.frame == b"a" * 11
    assert decoder.buffered <= 1
    # The rest of that frame is skipped silently, the next one comes out.
    assert decoder.feed(b"a" * 100) == []
    assert decoder.feed(b"\r\nok\r\n") == [["ok"]]


@pytest.mark.parametrize(
    "tail",
    [
        [b"zz\r\n1\n2\r\n"],
        [b"zz\r", b"\n1\n2\r\n"],  # terminator split across chunks
        [b"\r", b"\n1\n2\r\n"],
        [b"\r", b"\n", b"1\n2\r", b"\n"],
        [b"zz\r", b"zz\r", b"z", b"\r\n1\n2\r\n"],  # lone CRs do not end the skip
        [b"\r", b"\r", b"\n1\n2\r\n"],
    ],
)
def test_endless_unterminated_stream_stays_bounded_then_resumes(tail: list[bytes]) -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    chunk = b"z" * 300
    errors: list[Any] = []
    for _ in range(500):  # 150 kB with no terminator
        errors += decoder.feed(chunk)
        assert decoder.buffered <= decoder.max_frame_bytes + len(chunk)
    assert len(errors) == 1
    assert isinstance(errors[0], FrameTooLongError)
    assert len(errors[0].frame) <= 100  # a sample of the frame, not all of it
    out = feed_all(decoder, tail)
    assert out == [["1", "2"]]
    assert decoder.buffered == 0


def test_one_huge_chunk_without_terminator() -> None:
    decoder = FrameDecoder(max_frame_bytes=100)
    (error,) = decoder.feed(b"q" * 1_000_000)
    assert isinstance(error, FrameTooLongError)
    assert decoder.buffered <= 1
    assert decoder.feed(b"q\r\nnext\r\n") == [["next"]]


@given(st.lists(st.integers(1, 700), min_size=1, max_size=30), st.booleans())
@settings(max_examples=100, deadline=None)
def test_memory_bound_for_any_chunk_sizes(sizes: list[int], split_terminator: bool) -> None:
    decoder = FrameDecoder(max_frame_bytes=LIMIT)
    errors: list[DecodedFrame] = []
    for size in sizes:
        errors += decoder.feed(b"w" * size)
        assert decoder.buffered <= LIMIT + size
    assert len(errors) == (1 if sum(sizes) > LIMIT else 0)
    tail = [b"\r", b"\nok\r\n"] if split_terminator else [b"\r\nok\r\n"]
    out = feed_all(decoder, tail)
    expected_first = ["w" * sum(sizes)] if sum(sizes) <= LIMIT else None
    assert out == ([expected_first] if expected_first else []) + [["ok"]]
    assert decoder.buffered == 0
