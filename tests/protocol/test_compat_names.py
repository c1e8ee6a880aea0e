"""Names and behaviour that code written for the original mount classes relies on.

Pure tests (no I/O): trailing text fields named ``extra_data``, ids of commands
built without one, the catalogue names, astropy-like timestamps, leap seconds.
"""

from __future__ import annotations

import pytest

from mountcomm.protocol import (
    ACK_ONLY_COMMANDS,
    CommandCode,
    ReplyCode,
    commands,
    parse_command,
    replies,
)
from mountcomm.protocol.fields import format_timestamp, parse_timestamp
from mountcomm.protocol.messages import FieldInfo

from .support import required_kwargs

TS = 1_600_000_000.25


# ---- extra_data ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (replies.ErrorReply, {"on": True, "active": True, "code": 101, "subsystem": "100. x"}),
        (replies.WarningReply, {"active": True, "code": 101, "subsystem": "100. x"}),
    ],
)
def test_trailing_text_fields_are_named_extra_data(cls: type, kwargs: dict[str, object]) -> None:
    reply = cls(**kwargs, timestamp=TS, extra_data=("a", "b"))
    assert reply.extra_data == ("a", "b")
    assert reply.extra == ("a", "b")  # read-only alias
    assert reply.str_fields()[-2:] == ["a", "b"]
    parsed = replies.parse_reply(reply.str_fields())
    assert parsed.extra_data == ("a", "b")
    assert cls(**kwargs).extra_data == ()
    assert cls.field_infos[-1].name == "extra_data"
    with pytest.raises(TypeError):
        cls(**kwargs, extra=("a",))  # the alias is not a constructor argument
    with pytest.raises(AttributeError):
        reply.extra = ("c",)


# ---- commands built without an id ------------------------------------------------------


def test_commands_built_without_an_id_get_distinct_nonzero_ids() -> None:
    built = [cls(**required_kwargs(cls)) for cls in commands.Commands]
    ids = [cmd.sequence_id for cmd in built]
    assert 0 not in ids
    assert len(set(ids)) == len(ids)
    # An explicit id is kept as given.
    assert commands.AskForCommand(sequence_id=7).sequence_id == 7


# ---- the catalogue ---------------------------------------------------------------------


def test_command_catalogue() -> None:
    assert isinstance(commands.Commands, tuple)
    assert set(commands.Commands) == set(commands.COMMANDS.values())
    assert len(commands.Commands) == 52
    for cls in commands.Commands:
        assert commands.CommandDict[cls.command_code] is cls
        assert commands.CommandDict[int(cls.command_code)] is cls  # plain ints work too
    assert commands.AckOnlyCommandCodes == ACK_ONLY_COMMANDS
    assert CommandCode.ELEVATION_AXIS_TRACK in commands.AckOnlyCommandCodes
    assert CommandCode.ELEVATION_AXIS_MOVE not in commands.AckOnlyCommandCodes


def test_reply_catalogue() -> None:
    assert isinstance(replies.Replies, tuple)
    assert [cls.reply_code for cls in replies.Replies] == list(ReplyCode)
    for cls in replies.Replies:
        assert replies.ReplyDict[cls.reply_code] is cls
    done = replies.DoneReply(sequence_id=5, timestamp=TS)
    assert replies.parse_reply(done.str_fields()) == done


@pytest.mark.parametrize("cls", [*commands.Commands, *replies.Replies], ids=lambda c: c.__name__)
def test_str_fields_and_from_str_fields_round_trip(cls: type) -> None:
    if issubclass(cls, commands.Command):
        message = cls(**required_kwargs(cls), timestamp=TS)
        base: type = commands.Command
    else:
        message = cls(**required_kwargs(cls), timestamp=TS)
        base = replies.Reply
    fields = message.str_fields()
    assert isinstance(fields, list) and all(isinstance(f, str) for f in fields)
    assert "\n".join(fields).encode() + b"\r\n" == message.encode()
    assert cls.from_str_fields(fields) == message
    assert cls.from_str_fields(tuple(fields)) == message  # any sequence of str
    assert base.from_str_fields(fields) == message  # the base class picks the class
    assert all(isinstance(info, FieldInfo) for info in cls.field_infos)


def test_from_str_fields_refuses_fields_of_another_class() -> None:
    fields = commands.Enable(timestamp=TS).str_fields()
    with pytest.raises(ValueError, match="expected code"):
        commands.Disable.from_str_fields(fields)
    assert parse_command(fields) == commands.Command.from_str_fields(fields)


# ---- timestamps ------------------------------------------------------------------------


class FakeTime:
    """What mountcomm may rely on of an astropy Time: a ``unix`` attribute (UTC)."""

    def __init__(self, unix: object) -> None:
        self.unix = unix


class FakeFloat64:
    """A numpy-like scalar: not a float, but convertible to one."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __float__(self) -> float:
        return self.value


@pytest.mark.parametrize("unix", [TS, FakeFloat64(TS)])
def test_timestamp_accepts_an_astropy_like_time(unix: object) -> None:
    cmd = commands.AzimuthAxisStop(sequence_id=1, timestamp=FakeTime(unix))
    assert type(cmd.timestamp) is float  # read back as float unix seconds
    assert cmd.timestamp == TS
    assert cmd == commands.AzimuthAxisStop(sequence_id=1, timestamp=TS)
    reply = replies.InPositionReply(timestamp=FakeTime(unix), what=0, in_position=True)
    assert reply.timestamp == TS
    track = commands.ElevationAxisTrack(position=1, velocity=0, tai=TS, timestamp=FakeTime(TS))
    assert track.timestamp == TS


@pytest.mark.parametrize("unix", [[TS, TS], "soon", None, float("nan")])
def test_timestamp_refuses_a_time_that_is_not_one_scalar(unix: object) -> None:
    with pytest.raises(ValueError, match=r"timestamp|time|float"):
        commands.AzimuthAxisStop(timestamp=FakeTime(unix))


def test_leap_second_is_parsed_as_the_next_second() -> None:
    assert parse_timestamp("2016-12-31T23:59:60.500") == 1483228800.5
    assert parse_timestamp("2016-12-31T23:59:60") == parse_timestamp("2017-01-01T00:00:00")
    assert parse_timestamp("2015-06-30T23:59:60.999") == 1435708800.999
    # Encoding the value read gives the POSIX reading of the same instant.
    assert format_timestamp(parse_timestamp("2016-12-31T23:59:60.500")) == (
        "2017-01-01T00:00:00.500"
    )


def test_a_reply_with_a_leap_second_is_read() -> None:
    fields = replies.InPositionReply(timestamp=TS, what=1, in_position=False).str_fields()
    fields[1] = "2016-12-31T23:59:60.250"
    reply = replies.parse_reply(fields)
    assert reply.timestamp == 1483228800.25


@pytest.mark.parametrize(
    "text",
    ["2016-12-31T23:58:60.000", "2016-12-31T22:59:60.000", "9999-12-31T23:59:60.000"],
)
def test_second_60_other_than_a_leap_second_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)
