"""`Replayer`, the replay part of a `MockController`: on its own behind `ReplayOwner`,
and inside a controller made from a recording (real sockets on 127.0.0.1:0)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mountcomm.exceptions import ProtocolError
from mountcomm.log import get_logger
from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source
from mountcomm.protocol.replies import Reply, parse_reply
from mountcomm.sim.clock import SimClock
from mountcomm.sim.controller import MockController
from mountcomm.sim.replay import ReplayScript
from mountcomm.sim.replayer import Replayer
from mountcomm.telemetry.codec import decode_sample
from mountcomm.telemetry.frames import FrameRecords
from tests.sim.controller_helpers import console
from tests.sim.test_replay import CSC, DOWN, EUI, UP, at, session
from tests.timing import T

Sent = tuple[Source | None, bytes, bool]


class Outbox:
    """A `ReplayOwner` that keeps what the replayer sends, in order."""

    def __init__(self, time_scale: float) -> None:
        self.clock = SimClock(time_scale)
        self.log = get_logger(None, "Outbox")
        self.sent: asyncio.Queue[Sent] = asyncio.Queue()

    def send_frame(self, role: Source, data: bytes, *, answer: bool = True) -> None:
        self.sent.put_nowait((role, data, answer))

    def publish_telemetry(self, data: bytes) -> None:
        self.sent.put_nowait((None, data, False))

    async def next(self) -> Sent:
        return await asyncio.wait_for(self.sent.get(), T)


def reply_of(data: bytes) -> Reply:
    return parse_reply(data[:-2].decode().split("\n"))


async def test_a_replayer_needs_only_its_owner_protocol() -> None:
    outbox = Outbox(time_scale=100)
    replayer = Replayer(ReplayScript(session()), outbox)
    replayer.start()
    role, data, _ = await outbox.next()
    assert role is None and decode_sample(data)["topicID"] == 15

    replayer.command(CSC, commands.AskForCommand(sequence_id=7, commander=CSC))
    ack, done, info = [await outbox.next() for _ in range(3)]
    assert (ack[0], ack[2], type(reply_of(ack[1])), reply_of(ack[1]).sequence_id) == (
        CSC,
        True,
        replies.AckReply,
        7,
    )
    assert (type(reply_of(done[1])), reply_of(done[1]).sequence_id) == (replies.DoneReply, 7)
    assert (info[0], info[2], type(reply_of(info[1]))) == (CSC, False, replies.OnStateInfoReply)

    # A mismatch is answered at once, with the recorded command it expected.
    replayer.command(CSC, commands.ElevationAxisMove(sequence_id=8, position=61))
    role, data, answer = await outbox.next()
    noack = reply_of(data)
    assert (role, answer, type(noack), noack.sequence_id) == (CSC, True, replies.NoAckReply, 8)
    assert "replay: expected ElevationAxisMove(position=60.0" in noack.explanation
    assert (replayer.script.matched, replayer.script.mismatched) == (1, 1)
    replayer.stop()
    replayer.stop()


async def test_stop_cancels_what_is_not_sent_yet_and_what_comes_later() -> None:
    outbox = Outbox(time_scale=10_000)  # the recorded delays (0.1 s...) become 10 us...
    replayer = Replayer(ReplayScript(session()), outbox)
    replayer.command(CSC, commands.AskForCommand(sequence_id=1, commander=CSC))
    replayer.stop()
    replayer.start()
    replayer.command(CSC, commands.ElevationAxisMove(sequence_id=2, position=60))
    # Timers run in the order they are due: every frame would be sent before this one.
    after = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, after.set_result, None)
    await asyncio.wait_for(after, T)
    assert outbox.sent.empty()
    assert replayer.script.matched == 2  # still matched: only the sending stopped


async def test_a_malformed_frame_is_matched_by_its_code() -> None:
    bad = b"12\n403\n1\n2020-01-01T00:00:00.000\nsixty\n0\n0\n0\r\n"
    noack = replies.NoAckReply(sequence_id=12, explanation="Invalid command").encode()
    outbox = Outbox(time_scale=100)
    replayer = Replayer(ReplayScript([at(0, CSC, UP, bad), at(0.2, CSC, DOWN, noack)]), outbox)
    replayer.bad_frame(CSC, ProtocolError("bad", frame=b"5\n401\n1"), 5)
    role, data, _ = await outbox.next()
    assert "a malformed frame (401)" in reply_of(data).explanation
    replayer.bad_frame(CSC, ProtocolError("bad", frame=b"0\n401\n1"), 0)  # nobody to tell
    replayer.bad_frame(CSC, ProtocolError("bad", frame=bad[:-2]), 6)
    role, data, answer = await outbox.next()
    assert (role, answer, reply_of(data).sequence_id) == (CSC, True, 6)
    assert outbox.sent.empty()
    replayer.stop()


async def test_a_controller_given_a_replay_answers_from_it_not_from_its_devices() -> None:
    refusal = replies.NoAckReply(sequence_id=10, explanation="recorded refusal").encode()
    script = ReplayScript(
        [at(0.0, CSC, UP, commands.Enable(sequence_id=10).encode()), at(0.1, CSC, DOWN, refusal)]
    )
    async with (
        MockController([CSC], time_scale=100, replay=script) as controller,
        console(controller) as csc,
    ):
        assert controller.script is script
        seq = await csc.send(commands.Enable())
        await csc.expect(replies.NoAckReply, seq, explanation="recorded refusal")
        seq = await csc.send(commands.Enable())
        await csc.expect(replies.NoAckReply, seq, explanation="no further command from CSC")
        assert [command.sequence_id for _, command in controller.received] == [1, 2]
        assert not controller.executed  # the simulated devices did nothing
        assert (script.matched, script.mismatched) == (1, 1)


def test_from_recording_serves_the_recorded_roles(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    record = FrameRecords().record(UP, EUI, commands.Enable(sequence_id=3).encode(), 1.0, 1.0)
    path.write_text(json.dumps(record) + "\n")
    replay = MockController.from_recording(path)
    assert replay.roles == (EUI,) and replay.script is not None
    assert replay.script.remaining(EUI) == 1
    assert MockController.from_recording(path, ["csc"]).roles == (CSC,)
    assert MockController().script is None
    with pytest.raises(OSError):
        MockController.from_recording(tmp_path / "missing.jsonl")
