"""ReplayScript (pure): matching live commands to a recording, and what is sent back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source
from mountcomm.protocol.replies import parse_reply
from mountcomm.sim.replay import Plan, RecordedCommand, ReplayScript, restamp
from mountcomm.telemetry.codec import decode_sample, encode_sample
from mountcomm.telemetry.frames import Direction, FrameRecord, FrameRecords

CSC, EUI = Source.CSC, Source.EUI
UP, DOWN, TEL = Direction.TO_CONTROLLER, Direction.TO_CONSOLE, Direction.TELEMETRY


def at(mono: float, role: Source | None, direction: Direction, data: bytes) -> FrameRecord:
    return FrameRecord(1000.0 + mono, mono, role, direction, data)


def session() -> list[FrameRecord]:
    sample = encode_sample({"topicID": 15, "timestamp": 5.0, "angleActual": 1.0})
    return [
        at(0.0, None, TEL, sample),
        at(1.0, CSC, UP, commands.AskForCommand(sequence_id=10, commander=CSC).encode()),
        at(1.1, CSC, DOWN, replies.AckReply(sequence_id=10).encode()),
        at(1.2, CSC, DOWN, replies.DoneReply(sequence_id=10).encode()),
        at(1.3, CSC, DOWN, replies.OnStateInfoReply(description="Commander: CSC").encode()),
        at(2.0, CSC, UP, commands.ElevationAxisMove(sequence_id=11, position=60).encode()),
        at(2.1, CSC, DOWN, replies.AckReply(sequence_id=11, timeout_ms=3000).encode()),
        at(2.5, None, TEL, sample),
        at(3.0, EUI, UP, commands.ElevationAxisStop(sequence_id=500, source=EUI).encode()),
        at(3.1, EUI, DOWN, replies.NoAckReply(sequence_id=500, explanation="no").encode()),
        at(5.0, CSC, DOWN, replies.DoneReply(sequence_id=11).encode()),
        at(5.0, CSC, DOWN, replies.InPositionReply(what=1, in_position=True).encode()),
    ]


def codes(recorded: RecordedCommand) -> list[tuple[float, bool, bytes]]:
    return [(round(p.delay, 6), p.answers, p.data[:1]) for p in recorded.plans]


def test_replies_go_with_their_command_and_the_rest_with_the_last_command() -> None:
    script = ReplayScript(session())
    assert script.roles == (CSC, EUI)
    assert [(p.delay, p.role) for p in script.opening] == [(0.0, None)]
    ask = script.answer(CSC, commands.AskForCommand(sequence_id=1, commander=CSC))
    assert isinstance(ask, RecordedCommand) and ask.number == 1
    assert codes(ask) == [(0.1, True, b"0"), (0.2, True, b"2"), (0.3, False, b"5")]
    move = script.answer(CSC, commands.ElevationAxisMove(sequence_id=2, position=60.0))
    assert isinstance(move, RecordedCommand)
    # Its ACK and DONE (by sequence id, even after another role's command), and the
    # telemetry recorded before the EUI's command.
    assert codes(move) == [(0.1, True, b"0"), (0.5, False, b"{"), (3.0, True, b"2")]
    stop = script.answer(EUI, commands.ElevationAxisStop(sequence_id=3, source=EUI))
    assert isinstance(stop, RecordedCommand)
    assert codes(stop) == [(0.1, True, b"1"), (2.0, False, b"6")]
    assert (script.matched, script.mismatched) == (3, 0)


def test_a_mismatch_names_the_recorded_command_and_keeps_it() -> None:
    script = ReplayScript(session())
    wrong = script.answer(CSC, commands.ElevationAxisMove(sequence_id=1, position=60))
    assert wrong == (
        "replay: expected AskForCommand(commander=1) (command 1 of CSC in the recording), "
        "got ElevationAxisMove(position=60.0, velocity=0.0, acceleration=0.0, jerk=0.0)"
    )
    assert script.remaining(CSC) == 2
    assert isinstance(script.answer(CSC, commands.AskForCommand(commander=CSC)), RecordedCommand)
    other_parameter = script.answer(CSC, commands.ElevationAxisMove(position=61))
    assert (
        isinstance(other_parameter, str)
        and "expected ElevationAxisMove(position=60.0" in other_parameter
    )
    assert (script.matched, script.mismatched) == (1, 2)


def test_times_and_ids_are_not_compared() -> None:
    recorded = commands.ElevationAxisTrack(sequence_id=4, position=1, velocity=0, tai=100.0)
    script = ReplayScript([at(0, CSC, UP, recorded.encode())])
    live = commands.ElevationAxisTrack(
        sequence_id=99, position=1, velocity=0, tai=5000.0, timestamp=1.0, source=Source.EUI
    )
    assert isinstance(script.answer(CSC, live), RecordedCommand)


def test_the_end_of_the_recording_is_said() -> None:
    script = ReplayScript(session())
    message = script.answer(Source.HHD, commands.Enable())
    assert (
        message == "replay: the recording has no further command from HHD (it has 0); got Enable()"
    )


def test_malformed_frames_match_by_code_and_keep_their_replies() -> None:
    bad = b"12\n403\n1\n2020-01-01T00:00:00.000\nsixty\n0\n0\n0\r\n"
    noack = replies.NoAckReply(sequence_id=12, explanation="Invalid command").encode()
    script = ReplayScript([at(0, CSC, UP, bad), at(0.2, CSC, DOWN, noack)])
    assert isinstance(script.answer(CSC, None, "401"), str)
    matched = script.answer(CSC, None, "403")
    assert isinstance(matched, RecordedCommand)
    assert matched.command is None and codes(matched) == [(0.2, True, b"1")]
    assert "malformed frame with code '403'" in matched.describe()


def test_restamp_gives_the_live_id_a_fresh_timestamp_and_a_scaled_timeout() -> None:
    ack = Plan(
        0.1, CSC, replies.AckReply(sequence_id=10, timeout_ms=3000, timestamp=1.0).encode(), True
    )
    fresh = parse_reply(restamp(ack, 77, 2000.5, 2037.5, time_scale=100)[:-2].decode().split("\n"))
    assert isinstance(fresh, replies.AckReply)
    assert (fresh.sequence_id, fresh.timestamp, fresh.timeout_ms) == (77, 2000.5, 30)
    unsolicited = Plan(
        0, CSC, replies.InPositionReply(what=1, in_position=True, timestamp=1.0).encode()
    )
    again = parse_reply(restamp(unsolicited, 77, 3000.0, 3037.0)[:-2].decode().split("\n"))
    assert again.timestamp == 3000.0
    sample = Plan(0, None, encode_sample({"topicID": 15, "timestamp": 5.0, "x": 1}))
    assert decode_sample(restamp(sample, None, 3000.0, 3037.0)) == {
        "topicID": 15,
        "timestamp": 3037.0,
        "x": 1,
    }
    for raw in (b"garbage\r\n", b"no terminator", b"{broken\r\n"):
        assert restamp(Plan(0, CSC, raw), 1, 0, 0) == raw
        assert restamp(Plan(0, None, raw), 1, 0, 0) == raw


def test_from_file_reads_a_proxy_recording_and_refuses_others(tmp_path: Path) -> None:
    records = FrameRecords()
    path = tmp_path / "r.jsonl"
    lines = [
        {"type": "telemetry", "utc": 1.0, "sample": {"topicID": 15}},  # from monitor --record
        records.record(UP, CSC, commands.Enable(sequence_id=3).encode(), 1.0, 1.0),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    script = ReplayScript.from_file(path)
    assert script.roles == (CSC,) and script.remaining(CSC) == 1
    other = tmp_path / "monitor.jsonl"
    other.write_text(json.dumps(lines[0]) + "\n")
    with pytest.raises(ValueError, match="no frame records"):
        ReplayScript.from_file(other)


def test_parts_of_an_over_long_frame_are_one_command_and_an_incomplete_one_none() -> None:
    body = b"13\n403\n1\n2020-01-01T00:00:00.000\n" + b"9" * 100 + b"\r\n"
    frames = [
        FrameRecord(0, 0.0, CSC, UP, body[:40], part=True),
        FrameRecord(0, 0.1, CSC, UP, body[40:90], part=True),
        FrameRecord(0, 0.2, CSC, UP, body[90:], part=True),
        FrameRecord(0, 0.3, CSC, DOWN, replies.NoAckReply(sequence_id=13).encode()),
        FrameRecord(0, 0.4, CSC, UP, b"14\n401\n1", incomplete=True),
        FrameRecord(0, 0.5, CSC, UP, commands.Enable(sequence_id=15).encode()),
    ]
    script = ReplayScript(frames)
    assert script.remaining(CSC) == 2
    over_long = script.answer(CSC, None, "403")
    assert isinstance(over_long, RecordedCommand) and over_long.data == body
    assert codes(over_long) == [(0.1, True, b"1")]
    assert isinstance(script.answer(CSC, commands.Enable()), RecordedCommand)


def test_part_and_incomplete_marks_are_read_back() -> None:
    record = FrameRecords().record(UP, CSC, b"1\n2", 0, 0, error="x", incomplete=True)
    frame = FrameRecord.from_record(json.loads(json.dumps(record)))
    assert frame is not None and (frame.incomplete, frame.part) == (True, False)
