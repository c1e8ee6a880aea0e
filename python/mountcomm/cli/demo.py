"""``mountcomm demo``: two Communicators exchange commands and replies over real sockets."""

from __future__ import annotations

import argparse
import asyncio
import time

from ..protocol import commands, replies
from ..protocol.messages import Message
from ..testing.harness import connected_communicator_pair

NAME = "demo"
HELP = "run the end-to-end demonstration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true", help="shorter run")


def _show(direction: str, message: Message, elapsed: float) -> None:
    wire = message.encode().decode().replace("\n", "\\n").replace("\r", "\\r")
    print(f"{elapsed * 1e3:8.3f} ms  {direction}  {message!r}")
    print(f"{'':13}wire: {wire}")


async def _run() -> int:
    start = time.perf_counter()
    async with connected_communicator_pair() as (console, controller):
        print(
            f"console  listens on port {console.server_port} (replies), "
            f"controller listens on port {controller.server_port} (commands)\n"
        )
        script: list[tuple[commands.Command, list[replies.Reply]]] = [
            (commands.AskForCommand(sequence_id=1), [replies.AckReply(sequence_id=1)]),
            (
                commands.ElevationAxisMove(sequence_id=2, position=60),
                [
                    replies.AckReply(sequence_id=2, timeout_ms=8500),
                    replies.DoneReply(sequence_id=2),
                ],
            ),
            (
                commands.ElevationAxisTrack(
                    sequence_id=3, position=60.01, velocity=0.004, tai=time.time() + 37
                ),
                [replies.AckReply(sequence_id=3)],
            ),
            (
                commands.MirrorCoversDeploy(sequence_id=4, drive=5),
                [replies.NoAckReply(sequence_id=4, explanation="drive 5 does not exist")],
            ),
        ]
        for command, answers in script:
            await console.write(command)
            received = await asyncio.wait_for(controller.read(), 5)
            assert received == command
            _show("console    → controller", received, time.perf_counter() - start)
            for answer in answers:
                await controller.write(answer)
                got = await asyncio.wait_for(console.read(), 5)
                assert got == answer
                _show("controller → console   ", got, time.perf_counter() - start)
            print()
        unsolicited = replies.InPositionReply(what=1, in_position=True)
        await controller.write(unsolicited)
        _show(
            "controller → console   ",
            await asyncio.wait_for(console.read(), 5),
            time.perf_counter() - start,
        )
    print(f"\nexchanged {len(script)} commands; both sides closed cleanly")
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run())
