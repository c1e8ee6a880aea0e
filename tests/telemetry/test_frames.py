"""Frame records (pure): what the proxy writes for each frame, and reading it back."""

from __future__ import annotations

import json

import pytest

from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source
from mountcomm.telemetry.codec import encode_sample
from mountcomm.telemetry.frames import Direction, FrameRecord, FrameRecords
from mountcomm.telemetry.record import RECORD_TYPES, read_record


def roundtrip(record: dict[str, object]) -> dict[str, object]:
    return json.loads(json.dumps(record))  # type: ignore[no-any-return]


def test_a_command_is_recorded_as_recorder_does_with_the_frame() -> None:
    frame = commands.ElevationAxisMove(sequence_id=7, position=60).encode()
    record = FrameRecords().record(Direction.TO_CONTROLLER, Source.CSC, frame, 10.0, 2.0)
    assert record["type"] == "command"
    assert (record["name"], record["sequence_id"], record["command_code"]) == (
        "ElevationAxisMove",
        7,
        403,
    )
    assert record["fields"] == {
        "source": Source.CSC,
        "position": 60.0,
        "velocity": 0.0,
        "acceleration": 0.0,
        "jerk": 0.0,
    }
    assert (record["role"], record["direction"], record["utc"], record["mono"]) == (
        "CSC",
        "to_controller",
        10.0,
        2.0,
    )
    assert record["frame"] == frame.decode()


def test_a_reply_is_named_after_the_command_it_answers_on_its_role() -> None:
    records = FrameRecords()
    move = commands.ElevationAxisMove(sequence_id=7, position=60).encode()
    records.record(Direction.TO_CONTROLLER, Source.CSC, move, 0, 0)
    ack = replies.AckReply(sequence_id=7, timeout_ms=2500).encode()
    record = records.record(Direction.TO_CONSOLE, Source.CSC, ack, 0, 0)
    assert (record["type"], record["code"], record["name"], record["reply"]) == (
        "reply",
        "ACK",
        "ElevationAxisMove",
        "AckReply",
    )
    assert record["timeout"] == 2.5
    # The same id on another role's connection answers another command.
    other = records.record(Direction.TO_CONSOLE, Source.EUI, ack, 0, 0)
    assert other["name"] == "AckReply"
    noack = replies.NoAckReply(sequence_id=7, explanation="Superseded").encode()
    record = records.record(Direction.TO_CONSOLE, Source.CSC, noack, 0, 0)
    assert (record["code"], record["explanation"], record["superseded"]) == (
        "NOACK",
        "Superseded",
        True,
    )
    unsolicited = replies.InPositionReply(what=1, in_position=True).encode()
    record = records.record(Direction.TO_CONSOLE, Source.CSC, unsolicited, 0, 0)
    assert (record["code"], record["name"]) == ("IN_POSITION", "InPositionReply")
    assert "sequence_id" not in record


def test_telemetry_is_recorded_with_its_sample() -> None:
    line = encode_sample({"topicID": 15, "timestamp": 1.0, "angleActual": 3.0})
    record = FrameRecords().record(Direction.TELEMETRY, None, line, 0, 0)
    assert (record["type"], record["role"], record["sample"]["angleActual"]) == (
        "telemetry",
        None,
        3.0,
    )


@pytest.mark.parametrize(
    ("direction", "data"),
    [
        (Direction.TO_CONTROLLER, b"1\n403\n1\n2020-01-01T00:00:00\nsixty\n0\n0\n0\r\n"),
        (Direction.TO_CONTROLLER, b"1\n1\n1\n2020-01-01T00:00:00\r\n"),  # no message class
        (Direction.TO_CONSOLE, b"99\n1\r\n"),
        (Direction.TO_CONSOLE, b"0\n\xff\xfe\r\n"),  # not UTF-8
        (Direction.TO_CONSOLE, b"2\n5\n1"),  # no terminator
        (Direction.TELEMETRY, b"{not json\r\n"),
    ],
)
def test_a_frame_that_does_not_parse_keeps_its_exact_bytes(
    direction: Direction, data: bytes
) -> None:
    record = roundtrip(FrameRecords().record(direction, Source.HHD, data, 1.5, 0.5))
    assert record["type"] == "frame"
    assert record["error"]
    frame = FrameRecord.from_record(record)
    assert frame == FrameRecord(1.5, 0.5, Source.HHD, direction, data)


def test_an_error_given_is_recorded_without_parsing() -> None:
    data = commands.Enable(sequence_id=1).encode()
    record = FrameRecords().record(Direction.TO_CONTROLLER, Source.CSC, data, 0, 0, error="part")
    assert (record["type"], record["error"]) == ("frame", "part")


def test_extra_keys_are_added() -> None:
    data = commands.Enable(sequence_id=1).encode()
    record = FrameRecords().record(Direction.TO_CONTROLLER, Source.CSC, data, 0, 0, fault="drop")
    assert (record["type"], record["fault"]) == ("command", "drop")


def test_records_of_other_recorders_are_not_frames() -> None:
    assert FrameRecord.from_record({"type": "telemetry", "utc": 1.0, "sample": {}}) is None
    with pytest.raises(ValueError, match="not a valid frame record"):
        FrameRecord.from_record({"type": "frame", "utc": 1.0, "direction": "sideways"})


def test_read_record_accepts_frame_records(tmp_path: object) -> None:
    from pathlib import Path

    assert "frame" in RECORD_TYPES
    path = Path(str(tmp_path)) / "r.jsonl"
    record = FrameRecords().record(Direction.TO_CONSOLE, Source.CSC, b"\xff\r\n", 1.0, 1.0)
    path.write_text(json.dumps(record) + "\n")
    (back,) = read_record(path)
    frame = FrameRecord.from_record(back)
    assert frame is not None and frame.data == b"\xff\r\n"
