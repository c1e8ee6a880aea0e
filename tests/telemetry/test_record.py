"""Recorder: commands and their outcomes from a real (simulated) controller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mountcomm.exceptions import CommandSuperseded
from mountcomm.protocol import Source, commands
from mountcomm.protocol.enums import ReplyCode
from mountcomm.sim import MockController, SimulatedConsole, Timings
from mountcomm.telemetry import Recorder, read_record
from tests.timing import UNIT

T = 10 * UNIT


@pytest.fixture
async def console() -> AsyncIterator[SimulatedConsole]:
    # ten times real time: the moves take a fraction of a second, still long enough
    # for the second command to supersede the first
    async with MockController(
        [Source.CSC], timings=Timings.fast(0.01), time_scale=10
    ) as controller:
        console = SimulatedConsole(controller, role=Source.CSC)
        await asyncio.wait_for(console.start(), T)
        try:
            for cmd in (
                commands.AskForCommand(commander=Source.CSC),
                commands.MainPowerSupplyPower(on=True),
                commands.ElevationAxisPower(on=True),
                commands.ElevationAxisDriveEnable(on=True),
            ):
                await asyncio.wait_for(console.client.run(cmd), T)
            yield console
        finally:
            await console.close()


def replies(path: Path) -> list[tuple[str, str, bool | None]]:
    return [
        (r["name"], r["code"], r.get("superseded"))
        for r in read_record(path)
        if r["type"] == "reply"
    ]


async def test_records_fields_ack_done_and_a_superseded_noack(
    console: SimulatedConsole, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    with Recorder(path) as recorder:
        first = await console.client.send(commands.ElevationAxisMove(position=80.0))
        recorder.track(first)
        await asyncio.wait_for(first.ack, T)
        second = await console.client.send(commands.ElevationAxisMove(position=70.0))
        recorder.track(second)
        with pytest.raises(CommandSuperseded):
            await asyncio.wait_for(first.done, T)
        await asyncio.wait_for(second.done, T)
    records = read_record(path)
    sent = [r for r in records if r["type"] == "command"]
    assert [r["fields"]["position"] for r in sent] == [80.0, 70.0]
    assert [r["sequence_id"] for r in sent] == [first.sequence_id, second.sequence_id]
    assert "timestamp" not in sent[0]["fields"] and "sequence_id" not in sent[0]["fields"]
    got = replies(path)
    assert got.count(("ElevationAxisMove", "ACK", None)) == 2
    assert ("ElevationAxisMove", "NOACK", True) in got
    assert got[-1] == ("ElevationAxisMove", "DONE", None)
    ack = next(r for r in records if r.get("code") == "ACK")
    assert ack["timeout"] > 0
    utcs = [r["utc"] for r in records]
    assert utcs == sorted(utcs)


async def test_a_command_lost_with_its_connection_is_recorded(
    console: SimulatedConsole, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    console.controller.withhold_replies([ReplyCode.DONE])
    with Recorder(path) as recorder:
        futures = await console.client.send(commands.ElevationAxisMove(position=60.0))
        recorder.track(futures)
        await asyncio.wait_for(futures.ack, T)
        await console.client.close()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(futures.done, T)
    assert [code for _, code, _ in replies(path)] == ["ACK", "LOST"]


def test_samples_are_stamped_in_utc_and_a_closed_recorder_refuses(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = Recorder(path)
    recorder.sample({"topicID": 6, "timestamp": 1798761637.5})
    recorder.close()
    recorder.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        recorder.sample({"topicID": 6, "timestamp": 1.0})
    with Recorder(path) as again:  # appends
        again.sample({"topicID": 15, "timestamp": 1798761638.5})
    records = read_record(path)
    assert [r["utc"] for r in records] == [1798761600.5, 1798761601.5]
    assert records[1]["sample"] == {"topicID": 15, "timestamp": 1798761638.5}
