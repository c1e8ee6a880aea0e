"""MountProxy between a raw console and a raw controller: byte for byte, in order, recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mountcomm.protocol import commands, replies
from mountcomm.telemetry.frames import FrameRecord
from tests.timing import T

from .harness import raw_peers, read_exactly

ODD_FRAMES = [
    commands.ElevationAxisMove(sequence_id=1, position=60).encode(),
    b"2\n403\n1\n2020-01-01T00:00:00.000\nsixty\n0\n0\n0\r\n",  # a bad value
    b"3\n9999\n1\n2020-01-01T00:00:00.000\r\n",  # an unknown code
    b"4\n\xff\xfe\r\n",  # not UTF-8
    b"\r\n",  # empty
    b"5\n" + b"x" * 100_000 + b"\r\n",  # longer than max_frame_bytes
]


def records_of(path: Path) -> list[FrameRecord]:
    out = []
    for line in path.read_text().splitlines():
        frame = FrameRecord.from_record(json.loads(line))
        assert frame is not None
        out.append(frame)
    return out


async def test_odd_frames_pass_unchanged_both_ways_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    stream = b"".join(ODD_FRAMES)
    async with raw_peers(record=path) as peers:
        for i in range(0, len(stream), 4093):  # chunks that cut frames anywhere
            peers.console_out.write(stream[i : i + 4093])
        assert await read_exactly(peers.controller_in, len(stream)) == stream
        peers.controller_out.write(stream)
        assert await read_exactly(peers.console_in, len(stream)) == stream
        # An incomplete frame at the end of a connection is passed on, then the end.
        peers.console_out.write(b"6\n11")
        peers.console_out.close()
        assert await asyncio.wait_for(peers.controller_in.read(), T) == b"6\n11"
    frames = records_of(path)
    up = [f for f in frames if f.direction == "to_controller"]
    down = [f for f in frames if f.direction == "to_console"]
    assert b"".join(f.data for f in up) == stream + b"6\n11"
    assert b"".join(f.data for f in down) == stream
    records = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = [r["type"] for r in records if r["direction"] == "to_controller"]
    assert kinds[:5] == ["command", "frame", "frame", "frame", "frame"]
    assert all("error" in r for r in records if r["type"] == "frame")
    assert records[-1]["error"] == "incomplete frame at the end of the connection"
    assert records[-1]["incomplete"] is True
    parts = [r for r in records if r.get("part") and r["direction"] == "to_controller"]
    assert "".join(r["frame"] for r in parts).encode() == ODD_FRAMES[-1]
    assert all("longer than" in r["error"] for r in parts)


async def test_many_frames_arrive_unchanged_and_in_order(tmp_path: Path) -> None:
    """5,000 frames each way (the 100,000-frame check is `bench/proxy.py`)."""
    n = 5_000
    sent = b"".join(
        commands.ElevationAxisMove(sequence_id=i + 1, position=i % 80 + 0.5).encode()
        for i in range(n)
    )
    back = b"".join(replies.AckReply(sequence_id=i + 1, timeout_ms=i).encode() for i in range(n))
    path = tmp_path / "many.jsonl"
    async with raw_peers(record=path) as peers:
        peers.console_out.write(sent)
        assert await read_exactly(peers.controller_in, len(sent)) == sent
        peers.controller_out.write(back)  # after the commands: each ACK names its command
        assert await read_exactly(peers.console_in, len(back)) == back
    records = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["sequence_id"] for r in records if r["direction"] == "to_controller"]
    assert ids == list(range(1, n + 1))
    acks = [r for r in records if r["direction"] == "to_console"]
    assert [r["fields"]["timeout_ms"] for r in acks] == list(range(n))
    assert all(r["name"] == "ElevationAxisMove" for r in acks)
