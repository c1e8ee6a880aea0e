"""Helpers for the end-to-end controller tests (real sockets on 127.0.0.1:0)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mountcomm.config import Config
from mountcomm.net import Communicator
from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source
from mountcomm.sim.controller import MockController
from mountcomm.sim.devices import Timings
from tests.timing import UNIT

STD_TIMEOUT = 5 * UNIT
HOST = "127.0.0.1"

FAST_LIMITS = {
    axis: {"min": lo, "max": hi, "max_velocity": 200.0, "max_acceleration": 400.0}
    for axis, lo, hi in (
        ("elevation", 20.0, 86.5),
        ("azimuth", -270.0, 270.0),
        ("camera_cable_wrap", -90.0, 90.0),
    )
}
FAST_CONFIG = Config(sim_limits=FAST_LIMITS, telemetry_rate_hz=50.0)
# Device durations scaled down, but the tracking timeout kept at its default: a
# test's next TRACK target may well come later than a scaled 50 ms.
FAST_TIMINGS = Timings.fast(0.01)


def fast_controller(roles: Any = (Source.CSC,), **kwargs: Any) -> MockController:
    kwargs.setdefault("config", FAST_CONFIG)
    kwargs.setdefault("timings", FAST_TIMINGS)
    return MockController(roles, **kwargs)


async def read(comm: Communicator, timeout: float = STD_TIMEOUT) -> Any:
    return await asyncio.wait_for(comm.read(), timeout)


class Console:
    """A console in one role: a plain Communicator plus sequence ids.

    Unless ``state_info`` is true, `read` sets ON_STATE_INFO replies aside in
    ``state_infos`` (their descriptions) instead of returning them, so tests of
    other replies need not interleave them.
    """

    def __init__(self, comm: Communicator, role: Source, state_info: bool = False) -> None:
        self.comm = comm
        self.role = role
        self.state_info = state_info
        self.state_infos: list[str] = []
        self._seq = 0

    async def send(self, command: commands.Command, keep_source: bool = False) -> int:
        """Send with the next sequence id and (unless keep_source) source = our role."""
        self._seq += 1
        command.sequence_id = self._seq
        if not keep_source:
            command.source = self.role
        await self.comm.write(command)
        return self._seq

    async def read(self, timeout: float = STD_TIMEOUT) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                reply = await self.comm.read()
                if self.state_info or not isinstance(reply, replies.OnStateInfoReply):
                    return reply
                self.state_infos.append(reply.description)

    async def expect(self, cls: type, sequence_id: int | None = None, **fields: Any) -> Any:
        reply = await self.read()
        assert isinstance(reply, cls), reply
        if sequence_id is not None:
            assert reply.sequence_id == sequence_id, reply
        for name, value in fields.items():
            actual = getattr(reply, name)
            if isinstance(value, str) and name == "explanation":
                assert value in actual, reply
            else:
                assert actual == value, reply
        return reply

    async def run(self, command: commands.Command) -> replies.AckReply:
        """Send; expect ACK then (unless ack-only) DONE, skipping unsolicited replies."""
        seq = await self.send(command)
        ack = await self.next_for(seq)
        assert isinstance(ack, replies.AckReply), ack
        if not command.ack_only:
            done = await self.next_for(seq)
            assert isinstance(done, replies.DoneReply), done
        return ack

    async def next_for(self, sequence_id: int) -> Any:
        while True:
            reply = await self.read()
            if getattr(reply, "sequence_id", None) == sequence_id:
                return reply

    async def take_command(self) -> None:
        await self.run(commands.AskForCommand(commander=self.role))


@contextlib.asynccontextmanager
async def console(
    controller: MockController,
    role: Source = Source.CSC,
    state_info: bool = False,
    host: str = HOST,
) -> AsyncIterator[Console]:
    """A console Communicator (read_replies=True) connected on ``role``'s port pair.

    ``state_info``: does `Console.read` return ON_STATE_INFO replies?
    ``host``: where the controller listens and the console's reply server too.
    """
    comm = Communicator(
        f"console-{role.name.lower()}",
        host,
        controller.command_port(role),
        host,
        0,
        None,
        read_replies=True,
        connect=False,
    )
    try:
        port = await asyncio.wait_for(comm.wait_server_port(), STD_TIMEOUT)
        controller.connect_console(role, port, host=host)
        await asyncio.wait_for(comm.connect(), STD_TIMEOUT)
        yield Console(comm, role, state_info)
    finally:
        await comm.close()


@contextlib.asynccontextmanager
async def csc_and_eui() -> AsyncIterator[tuple[MockController, Console, Console]]:
    """A fast controller serving the CSC and the EUI, with a console connected on each."""
    async with (
        fast_controller((Source.CSC, Source.EUI)) as controller,
        console(controller, Source.CSC) as csc,
        console(controller, Source.EUI) as eui,
    ):
        yield controller, csc, eui


async def power_up(c: Console, *axes: str) -> None:
    """Take command, switch on the main power supply and the given axes."""
    await c.take_command()
    await c.run(commands.MainPowerSupplyPower(on=True))
    for axis in axes:
        cls = {"elevation": "ElevationAxis", "azimuth": "AzimuthAxis"}[axis]
        await c.run(getattr(commands, f"{cls}Power")(on=True))
        await c.run(getattr(commands, f"{cls}DriveEnable")(on=True))
