"""`FrameDecoder.feed_messages`: every frame of a chunk split and parsed at once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountcomm.exceptions import FrameTooLongError, ProtocolError
from mountcomm.protocol import FrameDecoder, commands, parse_command, parse_reply, replies
from mountcomm.protocol.messages import Message

from .support import ALL_CLASSES, kwargs_for, parser_for
from .test_framing import split_at

TS = 1_600_000_000.25

MESSAGES: list[Message] = [
    replies.AckReply(sequence_id=1, timeout_ms=3, timestamp=TS),
    replies.DoneReply(sequence_id=1, timestamp=TS),
    replies.ErrorReply(on=True, active=False, code=3, subsystem="1. x", extra_data=("a", "")),
    replies.InPositionReply(what=1, in_position=True, timestamp=TS),
]
STREAM = b"".join(m.encode() for m in MESSAGES)


def feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        out += decoder.feed_messages(chunk, parse_reply)
    return out


def same(got: list[Any], want: list[Any]) -> bool:
    """Equal item by item: messages by value, errors by type and message."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if isinstance(w, ProtocolError):
            if type(g) is not type(w) or str(g) != str(w):
                return False
        elif g != w:
            return False
    return True


def test_fed_whole() -> None:
    decoder = FrameDecoder()
    assert decoder.feed_messages(STREAM, parse_reply) == MESSAGES
    assert decoder.buffered == 0
    assert not decoder.mid_frame


def test_fed_byte_by_byte() -> None:
    decoder = FrameDecoder()
    out = feed_all(decoder, [STREAM[i : i + 1] for i in range(len(STREAM))])
    assert out == MESSAGES


def test_trailing_partial_frame_is_kept() -> None:
    tail = MESSAGES[0].encode()
    decoder = FrameDecoder()
    assert decoder.feed_messages(STREAM + tail[:-1], parse_reply) == MESSAGES
    assert decoder.mid_frame
    assert decoder.partial_frame() == tail[:-1]
    assert decoder.feed_messages(tail[-1:], parse_reply) == [MESSAGES[0]]
    assert not decoder.mid_frame


def test_nothing_for_empty_or_partial_input() -> None:
    decoder = FrameDecoder()
    assert decoder.feed_messages(b"", parse_reply) == []
    assert decoder.feed_messages(STREAM[:5], parse_reply) == []
    assert decoder.feed_messages(STREAM[5:], parse_reply) == MESSAGES


def test_commands_with_parse_command() -> None:
    cmds = [
        commands.ElevationAxisMove(sequence_id=7, position=45.0, timestamp=TS),
        commands.Enable(sequence_id=8, timestamp=TS),
    ]
    data = b"".join(c.encode() for c in cmds)
    assert FrameDecoder().feed_messages(data, parse_command) == cmds


def test_errors_are_returned_in_place_and_keep_sync() -> None:
    good = MESSAGES[1].encode()
    bad_value = b"2\nnot a number\n1\n2020-01-01T00:00:00.000\r\n"
    unknown = b"99\r\n"
    not_utf8 = b"2\n\xff\r\n"
    too_long = b"2\n" + b"7" * 200 + b"\r\n"
    decoder = FrameDecoder(max_frame_bytes=100)
    out = decoder.feed_messages(
        good + bad_value + good + unknown + not_utf8 + too_long + good, parse_reply
    )
    assert [type(x) for x in out] == [
        replies.DoneReply,
        ProtocolError,
        replies.DoneReply,
        ProtocolError,
        ProtocolError,
        FrameTooLongError,
        replies.DoneReply,
    ]
    assert "DoneReply.sequence_id" in str(out[1])
    assert "unknown reply code" in str(out[3])
    assert "UTF-8" in str(out[4])
    assert out[0] == out[2] == out[6] == MESSAGES[1]
    # and the next chunk carries on in sync
    assert decoder.feed_messages(good, parse_reply) == [MESSAGES[1]]


def test_is_feed_then_parse() -> None:
    """The contract: the same items as feed() followed by parse of each good frame."""
    data = STREAM + b"0\nx\r\n" + b"\xfe\r\n" + STREAM
    reference: list[Any] = []
    for item in FrameDecoder().feed(data):
        if isinstance(item, ProtocolError):
            reference.append(item)
            continue
        try:
            reference.append(parse_reply(item))
        except ProtocolError as e:
            reference.append(e)
    assert same(FrameDecoder().feed_messages(data, parse_reply), reference)


def test_other_exceptions_of_parse_propagate() -> None:
    def parse(fields: list[str]) -> Any:
        raise RuntimeError("a bug in the parser")

    decoder = FrameDecoder()
    with pytest.raises(RuntimeError, match="a bug"):
        decoder.feed_messages(STREAM, parse)
    # the decoder itself is still in sync
    assert decoder.feed_messages(STREAM, parse_reply) == MESSAGES


@st.composite
def _stream(draw: st.DrawFn) -> tuple[list[bytes], list[Any]]:
    """Frames of messages of one direction, with bad frames mixed in; and their items."""
    is_command = draw(st.booleans())
    classes = [c for c in ALL_CLASSES if issubclass(c, commands.Command) == is_command]
    parse = parse_command if is_command else parse_reply
    frames: list[bytes] = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 4)) == 0:
            frames.append(draw(st.sampled_from([b"x\r\n", b"\xff\xfe\r\n", b"\r\n", b"1\n2\r\n"])))
        else:
            cls = draw(st.sampled_from(classes))
            frames.append(cls(**draw(kwargs_for(cls))).encode())
    return frames, [parse]


@settings(max_examples=150, deadline=None)
@given(stream=_stream(), data=st.data())
def test_any_chunking_gives_the_same_items(
    stream: tuple[list[bytes], list[Any]], data: st.DataObject
) -> None:
    frames, (parse,) = stream
    whole = b"".join(frames)
    want = FrameDecoder().feed_messages(whole, parse)
    assert len(want) == len(frames)
    cuts = data.draw(st.lists(st.integers(0, len(whole)), max_size=8))
    decoder = FrameDecoder()
    got: list[Any] = []
    for chunk in split_at(whole, cuts):
        got += decoder.feed_messages(chunk, parse)
    assert same(got, want)
    assert not decoder.mid_frame
    for frame, item in zip(frames, want, strict=True):
        if not isinstance(item, ProtocolError):
            assert item.encode() == frame
            assert parser_for(type(item)) is parse
