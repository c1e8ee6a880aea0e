"""Every bad frame is a `ProtocolError` (a `ValueError` carrying the frame), never a crash."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mountcomm.exceptions import ProtocolError
from mountcomm.protocol import (
    Command,
    CommandCode,
    FrameDecoder,
    Message,
    commands,
    fields,
    parse_command,
    parse_reply,
    replies,
)
from mountcomm.protocol.commands import COMMANDS, command_class

from .support import each_class, parser_for, required_kwargs

T1 = "2020-02-27T14:48:27.469"

Parser = Callable[[list[str]], Message]


def sample(cls: type[Message]) -> Message:
    return cls(**required_kwargs(cls))


def check(parse: Parser, frame: list[str], match: str | None = None) -> ProtocolError:
    with pytest.raises(ProtocolError, match=match) as excinfo:
        parse(frame)
    error = excinfo.value
    assert isinstance(error, ValueError)
    assert error.frame == frame
    return error


# --- codes ----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["9999", "0", "-2", "17", "2102"])
def test_unknown_command_code(code: str) -> None:
    check(parse_command, ["1", code, "1", T1], f"unknown command code {int(code)}")


@pytest.mark.parametrize("code", ["", "x", "4.0", "ELEVATION_AXIS_MOVE"])
def test_command_code_not_an_integer(code: str) -> None:
    check(parse_command, ["1", code, "1", T1], "integer command code")


UNMODELLED = sorted(set(CommandCode) - set(COMMANDS))


def test_some_codes_have_no_class() -> None:
    assert CommandCode.MOVE_TO_TARGET in UNMODELLED
    assert len(UNMODELLED) > 40


@pytest.mark.parametrize("code", UNMODELLED, ids=lambda c: c.name)
def test_command_code_without_class_is_a_protocol_error(code: CommandCode) -> None:
    error = check(parse_command, ["1", str(int(code)), "1", T1], "has no message class")
    assert code.name in str(error)
    assert not isinstance(error, KeyError)


def test_move_to_target_with_parameters() -> None:
    check(parse_command, ["1", "1", "1", T1, "10.0", "20.0"], "MOVE_TO_TARGET")


@pytest.mark.parametrize("code", ["7", "-1", "", "x", "0.0"])
def test_unknown_reply_code(code: str) -> None:
    check(parse_reply, [code, "1", "1", T1], "unknown reply code")


def test_from_fields_checks_the_code() -> None:
    frame = commands.ElevationAxisStop().fields()
    with pytest.raises(ProtocolError, match="expected code 102"):
        commands.AzimuthAxisStop.from_fields(frame)
    frame = replies.DoneReply(sequence_id=1).fields()
    frame[0] = "x"
    with pytest.raises(ProtocolError):
        replies.DoneReply.from_fields(frame)


def test_command_class_lookup() -> None:
    assert command_class(403) is commands.ElevationAxisMove
    assert command_class("403") is commands.ElevationAxisMove
    assert command_class("ELEVATION_AXIS_MOVE") is commands.ElevationAxisMove
    assert command_class("ElevationAxisMove") is commands.ElevationAxisMove
    with pytest.raises(KeyError, match="MOVE_TO_TARGET"):
        command_class(CommandCode.MOVE_TO_TARGET)
    with pytest.raises(KeyError, match="nothing"):
        command_class("nothing")


# --- empty frames and field counts ----------------------------------------------


@pytest.mark.parametrize("parse", [parse_command, parse_reply])
@pytest.mark.parametrize("frame", [b"\r\n", b"\n\r\n"])
def test_empty_frame(parse: Parser, frame: bytes) -> None:
    (decoded,) = FrameDecoder().feed(frame)
    assert isinstance(decoded, list)
    check(parse, decoded)


@pytest.mark.parametrize("parse", [parse_command, parse_reply])
def test_no_fields_at_all(parse: Parser) -> None:
    check(parse, [])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_command_shorter_than_its_header(n: int) -> None:
    check(parse_command, ["1", "405", "1", T1][:n], rf"fields.*, got {n}$")


@each_class
def test_too_few_fields(cls: type[Message]) -> None:
    good = sample(cls).fields()
    variadic = cls.field_infos[-1].kind.variadic
    minimal = good[: len(cls.field_infos)] if variadic else good  # variadic tail empty
    for n in range(1, len(minimal)):
        check(parser_for(cls), minimal[:n])


@each_class
def test_wrong_field_count_message(cls: type[Message]) -> None:
    good = sample(cls).fields()
    if cls.field_infos[-1].kind.variadic:
        check(
            parser_for(cls),
            good[:-1],
            rf"{cls.__name__}: expected at least {len(good)} fields, got {len(good) - 1}",
        )
    else:
        check(
            parser_for(cls),
            [*good, "0"],
            rf"{cls.__name__}: expected {len(good)} fields, got {len(good) + 1}",
        )
        check(
            parser_for(cls),
            good[:-1],
            rf"{cls.__name__}: expected {len(good)} fields, got {len(good) - 1}",
        )


# --- unparsable values ----------------------------------------------------------

BAD_TEXT: dict[type[fields.FieldKind], list[str]] = {
    fields.BoolKind: ["", "yes", "1.0"],
    fields.IntKind: ["", "1.5", "x"],
    fields.IntEmptyIsDefaultKind: ["x", "1.5"],
    fields.FloatKind: ["", "x", "1,5"],
    fields.TimestampKind: [
        "",
        "yesterday",
        "2020-13-01T00:00:00",
        "2020-02-27T14:48:27Z",
        "1582814907.469",
    ],
    fields.EnumKind: ["", "9999", "CSC"],
    fields.StrKind: [],  # any text is a valid str
}


@each_class
def test_unparsable_value_names_the_field(cls: type[Message]) -> None:
    good = sample(cls).fields()
    code_index = 1 if issubclass(cls, Command) else 0
    checked = 0
    for i, info in enumerate(cls.field_infos):
        if info.kind.variadic:
            continue
        wire_index = i if i < code_index else i + 1
        for bad in BAD_TEXT[type(info.kind)]:
            frame = list(good)
            frame[wire_index] = bad
            error = check(parser_for(cls), frame, rf"{cls.__name__}\.{info.name}: ")
            assert repr(bad) in str(error)
            checked += 1
    assert checked > 0


def test_bad_frame_leaves_the_stream_in_sync() -> None:
    decoder = FrameDecoder()
    good = commands.Enable(sequence_id=1).encode()
    frames = decoder.feed(good + b"1\n1\n1\n" + T1.encode() + b"\r\n" + b"\xff\r\n" + good)
    assert len(frames) == 4
    first, unmodelled, not_utf8, last = frames
    assert isinstance(first, list)
    assert isinstance(last, list)
    assert parse_command(first) == parse_command(last)
    assert isinstance(unmodelled, list)
    with pytest.raises(ProtocolError):
        parse_command(unmodelled)
    assert isinstance(not_utf8, ProtocolError)
