"""FrameLog: one line per frame, written at once; closing is final and idempotent."""

from __future__ import annotations

import json
from pathlib import Path

from mountcomm.protocol import commands
from mountcomm.protocol.enums import Source
from mountcomm.proxy import Direction, FrameLog


def test_each_frame_is_on_disk_as_soon_as_it_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    log = FrameLog(path)
    log.frame(Direction.TO_CONTROLLER, Source.CSC, commands.Enable(sequence_id=4).encode(), 1, 2)
    (line,) = path.read_text().splitlines()  # before close: line-buffered
    assert json.loads(line)["sequence_id"] == 4
    log.frame(Direction.TO_CONSOLE, Source.CSC, b"x\r\n", 1, 2, fault="drop")
    assert log.written == 2
    log.close()
    log.close()
    assert log.closed
    log.frame(Direction.TO_CONSOLE, Source.CSC, b"late\r\n", 1, 2)  # after close: ignored
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r.get("fault") for r in records] == [None, "drop"]
