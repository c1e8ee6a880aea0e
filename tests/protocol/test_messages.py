"""Every message class: round trips, constructor contract, repr and equality."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountcomm.protocol import (
    MAX_SEQUENCE_ID,
    Command,
    FrameDecoder,
    Message,
    Reply,
    Source,
    commands,
    encode_frame,
    fields,
    replies,
)
from mountcomm.protocol.fields import format_timestamp

from .support import each_class, kwargs_for, parser_for, required_kwargs

TS = 1589372384.123


def same_value(kind: fields.FieldKind, a: Any, b: Any) -> bool:
    """Equal as the wire sees them (timestamps to the ms, NaN equal to NaN)."""
    if isinstance(kind, fields.TimestampKind):
        return format_timestamp(a) == format_timestamp(b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return bool(a == b) and type(a) is type(b)


# --- round trips ----------------------------------------------------------------


@each_class
@given(data=st.data())
@settings(max_examples=20, deadline=None)
def test_round_trip(cls: type[Message], data: st.DataObject) -> None:
    kwargs = data.draw(kwargs_for(cls), label="kwargs")
    msg = cls(**kwargs)
    frame = msg.encode()
    assert frame == encode_frame(msg.fields())  # generated encoder = generic framing

    (wire_fields,) = FrameDecoder().feed(frame)
    assert wire_fields == msg.fields()
    parsed = parser_for(cls)(wire_fields)
    assert type(parsed) is cls
    assert parsed == msg
    assert parsed.encode() == frame
    assert cls.from_fields(wire_fields) == msg
    for info in cls.field_infos:
        assert same_value(info.kind, getattr(parsed, info.name), getattr(msg, info.name)), info.name
        if info.name in kwargs and not isinstance(info.kind, fields.TimestampKind):
            assert same_value(
                info.kind, getattr(msg, info.name), info.kind.coerce(kwargs[info.name])
            )


@each_class
def test_round_trip_with_defaults(cls: type[Message]) -> None:
    msg = cls(**required_kwargs(cls))
    assert cls.from_fields(msg.fields()) == msg
    assert parser_for(cls)(msg.fields()) == msg


@each_class
def test_code_is_in_its_wire_position(cls: type[Message]) -> None:
    msg = cls(**required_kwargs(cls))
    if issubclass(cls, Command):
        assert msg.fields()[1] == str(int(cls.command_code))
        assert len(msg.fields()) == 1 + len(cls.field_infos)
    else:
        assert issubclass(cls, Reply)
        assert msg.fields()[0] == str(int(cls.reply_code))


# --- constructor ----------------------------------------------------------------


@each_class
def test_positional_arguments_are_refused(cls: type[Message]) -> None:
    values = list(required_kwargs(cls).values()) or [1]
    with pytest.raises(TypeError):
        cls(*values)


@each_class
def test_unknown_keyword_is_refused(cls: type[Message]) -> None:
    with pytest.raises(TypeError, match="bogus"):
        cls(**required_kwargs(cls), bogus=1)


@each_class
def test_missing_required_field_is_refused(cls: type[Message]) -> None:
    kwargs = required_kwargs(cls)
    for name in kwargs:
        with pytest.raises(TypeError, match=name):
            cls(**{k: v for k, v in kwargs.items() if k != name})


BAD_VALUES: dict[type[fields.FieldKind], list[Any]] = {
    fields.BoolKind: ["1", 1.0, None, b"0"],
    fields.IntKind: ["1", 1.5, 2.0, None, True],
    fields.IntEmptyIsDefaultKind: ["", "1", 1.5, None],
    fields.FloatKind: ["1.5", None, True, b"1"],
    fields.TimestampKind: ["2020-05-13T12:19:44.123", True, float("nan"), float("inf"), 1e300],
    fields.EnumKind: [9999, "CSC", 1.0, True, None],
    fields.StrKind: [1, None, b"text", "a\nb", "a\rb", "end\r\n"],
    fields.ExtraStrKind: ["abc", 1, None, ["a\nb"], ("ok", "\r"), ["ok", 5]],
}


@each_class
def test_wrong_values_raise_value_error_at_construction(cls: type[Message]) -> None:
    base = required_kwargs(cls)
    for info in cls.field_infos:
        bad_values = BAD_VALUES[type(info.kind)]
        if info.default_factory is not None:
            bad_values = [v for v in bad_values if v is not None]  # None: "use the factory"
        for bad in bad_values:
            with pytest.raises(ValueError, match=rf"{cls.__name__}\.{info.name}: "):
                cls(**{**base, info.name: bad})


def test_text_fields_refuse_newline_and_carriage_return() -> None:
    for bad in ("a\nb", "a\rb", "\r\n"):
        with pytest.raises(ValueError, match="newline"):
            replies.NoAckReply(sequence_id=1, explanation=bad)
        with pytest.raises(ValueError, match="newline"):
            replies.OnStateInfoReply(description=bad)
        with pytest.raises(ValueError, match="newline"):
            replies.ErrorReply(on=True, active=True, code=1, subsystem=bad)
        with pytest.raises(ValueError, match="newline"):
            replies.WarningReply(active=True, code=1, subsystem="ok", extra_data=("ok", bad))


def test_values_are_normalised() -> None:
    cmd = commands.MirrorCoverLocksMoveAll(drive=2, deploy=1, source=3, timestamp=TS)
    assert cmd.deploy is True
    assert cmd.source is Source.HHD
    move = commands.ElevationAxisMove(position=45, velocity=1)
    assert type(move.position) is float
    assert type(move.velocity) is float
    err = replies.ErrorReply(on=0, active=5, code=401, subsystem="400. x", extra_data=["a", "b"])
    assert (err.on, err.active, err.extra_data) == (False, True, ("a", "b"))


def test_defaults() -> None:
    before = time.time()
    cmd = commands.AskForCommand()
    after = time.time()
    assert 1 <= cmd.sequence_id <= MAX_SEQUENCE_ID  # from the process-wide generator
    assert cmd.source is Source.CSC
    assert cmd.commander is Source.CSC
    assert before <= cmd.timestamp <= after
    assert commands.AzimuthAxisDriveReset().drive == -1
    assert commands.BothAxesMove(azimuth=1, elevation=2).negate_azimuth == 0
    ack = replies.AckReply(sequence_id=4)
    assert (ack.source, ack.timeout_ms) == (Source.CSC, 0)
    assert replies.ErrorReply(on=True, active=True, code=1, subsystem="x").extra_data == ()


def test_timestamp_none_means_now() -> None:
    before = time.time()
    cmd = commands.Enable(timestamp=None)
    assert before <= cmd.timestamp <= time.time()


# --- repr -----------------------------------------------------------------------


@each_class
def test_repr_names_class_and_every_field(cls: type[Message]) -> None:
    msg = cls(**required_kwargs(cls))
    text = repr(msg)
    assert text.startswith(f"{cls.__name__}(")
    assert text.endswith(")")
    for info in cls.field_infos:
        assert f"{info.name}={getattr(msg, info.name)!r}" in text


def test_repr_example() -> None:
    cmd = commands.ElevationAxisTrack(
        sequence_id=1, position=12, velocity=0.3, tai=TS, timestamp=TS
    )
    assert repr(cmd) == (
        "ElevationAxisTrack(sequence_id=1, source=<Source.CSC: 1>, timestamp=1589372384.123, "
        "position=12.0, velocity=0.3, tai=1589372384.123)"
    )


# --- equality -------------------------------------------------------------------


@each_class
@given(data=st.data())
@settings(max_examples=10, deadline=None)
def test_equal_iff_encoded_fields_equal(cls: type[Message], data: st.DataObject) -> None:
    a = cls(**data.draw(kwargs_for(cls), label="a"))
    b = cls(**data.draw(kwargs_for(cls), label="b"))
    assert (a == b) == (a.fields() == b.fields())
    assert (a != b) == (a.fields() != b.fields())
    assert a == cls.from_fields(a.fields())


def test_equality_follows_the_wire() -> None:
    a = commands.AzimuthAxisPower(on=True, timestamp=TS, sequence_id=1)
    assert a == commands.AzimuthAxisPower(on=1, timestamp=TS, sequence_id=1)
    # same millisecond
    assert a == commands.AzimuthAxisPower(on=True, timestamp=TS + 0.0002, sequence_id=1)
    assert a != commands.AzimuthAxisPower(on=True, timestamp=TS + 0.001, sequence_id=1)
    assert a != commands.AzimuthAxisPower(on=False, timestamp=TS, sequence_id=1)
    assert a != commands.AzimuthAxisPower(on=True, timestamp=TS, sequence_id=2)
    # Built without an id, two commands draw different ids: they differ on the wire.
    assert commands.Enable(timestamp=TS) != commands.Enable(timestamp=TS)
    nan = float("nan")
    assert commands.ElevationAxisMove(
        position=nan, timestamp=TS, sequence_id=1
    ) == commands.ElevationAxisMove(position=nan, timestamp=TS, sequence_id=1)


def test_messages_of_different_classes_are_never_equal() -> None:
    az = commands.AzimuthAxisStop(timestamp=TS)
    el = commands.ElevationAxisStop(timestamp=TS)
    assert az != el
    assert az != az.fields()
    assert az != az.encode()


def test_messages_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(commands.Enable())
