"""FrameCutter (pure): frames out, every byte kept, memory bounded."""

from __future__ import annotations

import random

import pytest

from mountcomm.proxy.cutter import FrameCutter, Piece


def test_whole_frames_in_one_chunk() -> None:
    assert FrameCutter().feed(b"a\nb\r\n") == [Piece(b"a\nb\r\n", True)]
    assert FrameCutter().feed(b"1\r\n2\r\n") == [Piece(b"1\r\n", True), Piece(b"2\r\n", True)]


def test_a_frame_fed_byte_by_byte_and_a_split_terminator() -> None:
    cutter = FrameCutter()
    out = []
    for byte in b"12\n34\r\n5\r":
        out += cutter.feed(bytes([byte]))
    assert out == [Piece(b"12\n34\r\n", True)]
    assert cutter.feed(b"\n") == [Piece(b"5\r\n", True)]
    assert cutter.buffered == 0


def test_trailing_bytes_are_held_then_taken() -> None:
    cutter = FrameCutter()
    assert cutter.feed(b"1\r\n2\n") == [Piece(b"1\r\n", True)]
    assert cutter.buffered == 2
    assert cutter.rest() == b"2\n"
    assert cutter.rest() == b""


def test_an_over_long_frame_goes_in_parts_and_the_next_is_whole() -> None:
    cutter = FrameCutter(max_frame_bytes=8)
    out = cutter.feed(b"0123456789")
    assert out == [Piece(b"0123456789", False)]
    assert cutter.buffered == 0
    out = cutter.feed(b"abc\r")  # a partial terminator is kept back
    assert out == []
    out = cutter.feed(b"\nok\r\n")
    assert out == [Piece(b"abc\r\n", False), Piece(b"ok\r\n", True)]


def test_a_partial_terminator_at_the_limit_is_kept() -> None:
    cutter = FrameCutter(max_frame_bytes=4)
    assert cutter.feed(b"abcde\r") == [Piece(b"abcde", False)]
    assert cutter.feed(b"\n") == [Piece(b"\r\n", False)]


@pytest.mark.parametrize("seed", range(20))
def test_the_pieces_joined_are_the_stream_whatever_the_chunks(seed: int) -> None:
    rng = random.Random(seed)
    frames = [
        bytes(rng.choice(b"ab\n\r") for _ in range(rng.randrange(0, 40))) + b"\r\n"
        for _ in range(50)
    ]
    stream = b"".join(frames) + b"tail\r"
    cutter = FrameCutter(max_frame_bytes=16)
    out: list[Piece] = []
    i = 0
    while i < len(stream):
        n = rng.randrange(1, 30)
        out += cutter.feed(stream[i : i + n])
        i += n
        assert cutter.buffered <= 16 + 30
    assert b"".join(p.data for p in out) + cutter.rest() == stream
    assert all(p.data.endswith(b"\r\n") for p in out if p.whole)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameCutter(max_frame_bytes=0)
    with pytest.raises(ValueError, match="empty"):
        FrameCutter(terminator=b"")
