"""Golden frames written by hand from PROTOCOL.md: what goes on the wire, byte for byte."""

from __future__ import annotations

import datetime

import pytest

from mountcomm.protocol import (
    FrameDecoder,
    Message,
    Source,
    commands,
    parse_command,
    parse_reply,
    replies,
)

T0 = "2020-05-13T12:19:44.123"
TS = datetime.datetime(2020, 5, 13, 12, 19, 44, 123000, tzinfo=datetime.UTC).timestamp()
T1 = "2020-02-27T14:48:27.469"
TS1 = datetime.datetime(2020, 2, 27, 14, 48, 27, 469000, tzinfo=datetime.UTC).timestamp()


def decode_one(frame: bytes) -> list[str]:
    (fields,) = FrameDecoder().feed(frame)
    assert isinstance(fields, list)
    return fields


GOLDEN_COMMANDS: list[tuple[bytes, Message]] = [
    (
        b"1\n405\n1\n" + T0.encode() + b"\n12.0\n0.3\n1589372384.123\r\n",
        commands.ElevationAxisTrack(
            sequence_id=1, timestamp=TS, position=12, velocity=0.3, tai=1589372384.123
        ),
    ),
    (
        b"7\n403\n2\n" + T1.encode() + b"\n45.0\n0.0\n0.0\n0.0\r\n",
        commands.ElevationAxisMove(sequence_id=7, source=Source.EUI, timestamp=TS1, position=45),
    ),
    (
        b"8\n103\n1\n" + T1.encode() + b"\n-12.5\n1.5\n0.25\n2.0\r\n",
        commands.AzimuthAxisMove(
            sequence_id=8, timestamp=TS1, position=-12.5, velocity=1.5, acceleration=0.25, jerk=2
        ),
    ),
    (
        b"2147483647\n10\n1\n" + T1.encode() + b"\r\n",
        commands.Enable(sequence_id=2**31 - 1, timestamp=TS1),
    ),
    (
        b"3\n2101\n3\n" + T1.encode() + b"\n3\r\n",
        commands.AskForCommand(
            sequence_id=3, source=Source.HHD, timestamp=TS1, commander=Source.HHD
        ),
    ),
    (
        b"4\n401\n1\n" + T1.encode() + b"\n1\r\n",
        commands.ElevationAxisPower(sequence_id=4, timestamp=TS1, on=True),
    ),
    (
        b"5\n202\n1\n" + T1.encode() + b"\n-1\n0\r\n",
        commands.AzimuthAxisDriveEnable(sequence_id=5, timestamp=TS1, on=False),
    ),
    (
        b"6\n1006\n1\n" + T1.encode() + b"\n2\n1\r\n",
        commands.CameraCableWrapDriveEnable(sequence_id=6, timestamp=TS1, drive=2, on=True),
    ),
    (
        b"9\n1506\n1\n" + T1.encode() + b"\n-1\n1\r\n",
        commands.MirrorCoverLocksMoveAll(sequence_id=9, timestamp=TS1, deploy=True),
    ),
    (
        b"10\n30\n1\n" + T1.encode() + b"\n180.0\n60.0\n0.0\n0.0\n0\r\n",
        commands.BothAxesMove(sequence_id=10, timestamp=TS1, azimuth=180, elevation=60),
    ),
    (
        b"11\n31\n1\n" + T1.encode() + b"\n-10.0\n45.5\n0.01\n-0.02\n1\n1582814907.5\r\n",
        commands.BothAxesTrack(
            sequence_id=11,
            timestamp=TS1,
            azimuth=-10,
            elevation=45.5,
            azimuth_velocity=0.01,
            elevation_velocity=-0.02,
            negate_azimuth=1,
            tai=1582814907.5,
        ),
    ),
    (
        b"12\n2202\n1\n" + T1.encode() + b"\n0\n-2.5\r\n",
        commands.TopEndChillerTrackAmbient(
            sequence_id=12, timestamp=TS1, on=False, temperature=-2.5
        ),
    ),
]

GOLDEN_REPLIES: list[tuple[bytes, Message]] = [
    (
        b"0\n12\n1\n" + T1.encode() + b"\n3000\r\n",
        replies.AckReply(sequence_id=12, timestamp=TS1, timeout_ms=3000),
    ),
    (
        b"1\n12\n2\n" + T1.encode() + b"\nSuperseded\r\n",
        replies.NoAckReply(
            sequence_id=12, source=Source.EUI, timestamp=TS1, explanation="Superseded"
        ),
    ),
    (
        b"1\n13\n1\n" + T1.encode() + b"\n\r\n",
        replies.NoAckReply(sequence_id=13, timestamp=TS1),
    ),
    (
        b"2\n12\n1\n" + T1.encode() + b"\r\n",
        replies.DoneReply(sequence_id=12, timestamp=TS1),
    ),
    (
        b"3\n1\n1\n401\n400. Elevation over-speed\n" + T1.encode() + b"\r\n",
        replies.ErrorReply(
            on=True, active=True, code=401, subsystem="400. Elevation over-speed", timestamp=TS1
        ),
    ),
    (
        b"3\n1\n0\n502\n500. Drive 3 fault\n" + T1.encode() + b"\nconverter\r\n",
        replies.ErrorReply(
            on=True,
            active=False,
            code=502,
            subsystem="500. Drive 3 fault",
            timestamp=TS1,
            extra_data=("converter",),
        ),
    ),
    (
        b"3\n0\n0\n1801\n1800. Interlock\n" + T1.encode() + b"\ndoor open\n\ncause: 7\r\n",
        replies.ErrorReply(
            on=False,
            active=False,
            code=1801,
            subsystem="1800. Interlock",
            timestamp=TS1,
            extra_data=("door open", "", "cause: 7"),
        ),
    ),
    (
        b"4\n1\n2201\n2200. Chiller temperature high\n" + T1.encode() + b"\r\n",
        replies.WarningReply(
            active=True, code=2201, subsystem="2200. Chiller temperature high", timestamp=TS1
        ),
    ),
    (
        b"4\n0\n801\n800. Oil\n" + T1.encode() + b"\nlevel low\r\n",
        replies.WarningReply(
            active=False, code=801, subsystem="800. Oil", timestamp=TS1, extra_data=["level low"]
        ),
    ),
    (
        b"4\n1\n901\n900. Covers\n" + T1.encode() + b"\na\nb\nc\r\n",
        replies.WarningReply(
            active=True,
            code=901,
            subsystem="900. Covers",
            timestamp=TS1,
            extra_data=["a", "b", "c"],
        ),
    ),
    (
        b"5\n" + T1.encode() + b"\nController in ENABLED state\r\n",
        replies.OnStateInfoReply(timestamp=TS1, description="Controller in ENABLED state"),
    ),
    (
        b"6\n" + T1.encode() + b"\n1\n1\r\n",
        replies.InPositionReply(timestamp=TS1, what=1, in_position=True),
    ),
    (
        b"6\n" + T1.encode() + b"\n0\n0\r\n",
        replies.InPositionReply(timestamp=TS1, what=0, in_position=False),
    ),
]


@pytest.mark.parametrize(("frame", "msg"), GOLDEN_COMMANDS, ids=lambda x: type(x).__name__)
def test_golden_command(frame: bytes, msg: Message) -> None:
    assert msg.encode() == frame
    parsed = parse_command(decode_one(frame))
    assert parsed == msg
    assert parsed.encode() == frame


@pytest.mark.parametrize(("frame", "msg"), GOLDEN_REPLIES, ids=lambda x: type(x).__name__)
def test_golden_reply(frame: bytes, msg: Message) -> None:
    assert msg.encode() == frame
    parsed = parse_reply(decode_one(frame))
    assert parsed == msg
    assert parsed.encode() == frame


def test_issue_example_values() -> None:
    cmd = parse_command(
        decode_one(b"1\n405\n1\n2020-05-13T12:19:44.123\n12.0\n0.3\n1589372384.123\r\n")
    )
    assert isinstance(cmd, commands.ElevationAxisTrack)
    assert cmd.sequence_id == 1
    assert cmd.source is Source.CSC
    assert cmd.timestamp == pytest.approx(TS, abs=1e-6)
    assert (cmd.position, cmd.velocity, cmd.tai) == (12.0, 0.3, 1589372384.123)
    assert cmd.ack_only


def test_ack_with_empty_timeout() -> None:
    ack = parse_reply(decode_one(b"0\n12\n1\n" + T1.encode() + b"\n\r\n"))
    assert isinstance(ack, replies.AckReply)
    assert ack.timeout_ms == 0
    assert ack == replies.AckReply(sequence_id=12, timestamp=TS1, timeout_ms=0)
    # mountcomm writes the value; the empty form is only read.
    assert ack.encode() == b"0\n12\n1\n" + T1.encode() + b"\n0\r\n"


@pytest.mark.parametrize(
    ("extra_wire", "extra"),
    [
        (b"", ()),
        (b"\none", ("one",)),
        (b"\none\ntwo\nthree", ("one", "two", "three")),
        (b"\n", ("",)),
    ],
)
def test_error_and_warning_extra_fields(extra_wire: bytes, extra: tuple[str, ...]) -> None:
    error = parse_reply(decode_one(b"3\n1\n1\n401\n400. x\n" + T1.encode() + extra_wire + b"\r\n"))
    assert isinstance(error, replies.ErrorReply)
    assert error.extra_data == extra
    assert error.subsystem == "400. x"
    warning = parse_reply(decode_one(b"4\n1\n401\n400. x\n" + T1.encode() + extra_wire + b"\r\n"))
    assert isinstance(warning, replies.WarningReply)
    assert warning.extra_data == extra


@pytest.mark.parametrize(("text", "value"), [("0", False), ("1", True), ("2", True), ("-1", True)])
def test_bool_fields_accept_any_integer(text: str, value: bool) -> None:
    cmd = parse_command(["1", "401", "1", T1, text])
    assert isinstance(cmd, commands.ElevationAxisPower)
    assert cmd.on is value
    reply = parse_reply(["6", T1, "1", text])
    assert isinstance(reply, replies.InPositionReply)
    assert reply.in_position is value


@pytest.mark.parametrize(
    "timestamp", ["2020-02-27T14:48:27", "2020-02-27T14:48:27.469000001", "2020-02-27T14:48:27.4"]
)
def test_timestamp_variants_parse(timestamp: str) -> None:
    done = parse_reply(["2", "12", "1", timestamp])
    assert isinstance(done, replies.DoneReply)
    assert done.timestamp == pytest.approx(TS1, abs=0.5)


def test_unicode_text() -> None:
    frame = "5\n" + T1 + "\nAzimut bloqué — 5 °C\r\n"
    reply = parse_reply(decode_one(frame.encode()))
    assert isinstance(reply, replies.OnStateInfoReply)
    assert reply.description == "Azimut bloqué — 5 °C"
    assert reply.encode() == frame.encode()
