"""A console that vanishes without a word (cable pulled) is noticed, and loses command.

The console runs in its own network namespace, joined to ours by a veth pair;
taking the console's end of the link down stands for the pulled cable: its
process lives on, but nothing it would send arrives. Needs root.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from mountcomm.protocol import replies
from mountcomm.protocol.enums import Source
from mountcomm.sockets import TcpKeepalive
from tests.timing import UNIT

from .controller_helpers import console, fast_controller

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="network namespaces need root (CI runs as root)"
)

T = 30 * UNIT

CONSOLE_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from mountcomm.net import Communicator
    from mountcomm.protocol import commands
    from mountcomm.protocol.enums import Source

    async def main(host, command_port, own_host):
        comm = Communicator("console", host, command_port, own_host, 0, None,
                            read_replies=True, connect=False)
        print("@@", await comm.wait_server_port(), flush=True)
        await comm.connect()
        await comm.write(commands.AskForCommand(sequence_id=1, commander=Source.CSC))
        for _ in range(2):
            print("@@", type(await comm.read()).__name__, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    """
)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10 * UNIT)


@pytest.fixture
def veth() -> Iterator[tuple[str, str, str, str]]:
    """(netns, the namespace's end of the link, our address, the namespace's address)."""
    tag = f"{os.getpid() % 10000}{random.randrange(1000)}"
    netns, here, there = f"mcsim{tag}", f"mcsh{tag}", f"mcsn{tag}"
    subnet = f"10.{random.randrange(200, 250)}.{random.randrange(250)}"
    ours, theirs = f"{subnet}.1", f"{subnet}.2"
    try:
        _ip("netns", "add", netns)
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", netns)
        _ip("addr", "add", f"{ours}/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", netns, "addr", "add", f"{theirs}/30", "dev", there)
        _ip("-n", netns, "link", "set", there, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        yield netns, there, ours, theirs
    finally:
        for args in (["link", "del", here], ["netns", "del", netns]):
            subprocess.run(["ip", *args], check=False, capture_output=True, timeout=10 * UNIT)


async def _line(proc: asyncio.subprocess.Process) -> str:
    """The console script's next "@@" line (its log lines are skipped)."""
    assert proc.stdout is not None
    async with asyncio.timeout(T):
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError("the console process ended early")
            if line.startswith(b"@@ "):
                return line[3:].decode().strip()


async def test_a_console_behind_a_pulled_cable_is_noticed_and_loses_command(
    veth: tuple[str, str, str, str],
) -> None:
    netns, far_link, ours, theirs = veth
    keepalive = TcpKeepalive(idle=1, interval=1, count=2)
    async with (
        fast_controller(
            (Source.CSC, Source.EUI),
            host=ours,
            tcp_keepalive=keepalive,
            tcp_user_timeout=2.0,
            authority_grace=0.5,
        ) as controller,
        console(controller, Source.EUI, state_info=True, host=ours) as eui,
    ):
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", netns, sys.executable, "-c", CONSOLE_SCRIPT,
            ours, str(controller.command_port(Source.CSC)), theirs,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            reply_port = int(await _line(proc))
            controller.connect_console(Source.CSC, reply_port, host=theirs)
            assert [await _line(proc), await _line(proc)] == ["AckReply", "DoneReply"]
            await eui.expect(replies.OnStateInfoReply, description="Commander: CSC")
            # Pull the cable.
            down = await asyncio.create_subprocess_exec(
                "ip", "-n", netns, "link", "set", far_link, "down"
            )  # fmt: skip
            assert await asyncio.wait_for(down.wait(), T) == 0
            loop = asyncio.get_running_loop()
            start = loop.time()
            # No traffic on the command connection: keepalive notices, then the grace ends.
            reply = await eui.read(timeout=T)
            assert isinstance(reply, replies.OnStateInfoReply), reply
            assert reply.description == "Commander: NONE"
            noticed = loop.time() - start
            assert not controller.console_connected(Source.CSC)
            # idle + interval * count = 3 s, plus the 0.5 s grace, within a generous bound.
            assert noticed < 15.0, noticed
            await eui.take_command()
        finally:
            proc.kill()
            await proc.wait()
