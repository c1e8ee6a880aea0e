"""MountProxy in front of the simulator, with MountClient and TelemetryClient as consoles."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mountcomm import MockController, MountClient, MountProxy, commands
from mountcomm.exceptions import CommandRejected
from mountcomm.protocol.enums import Source
from mountcomm.proxy import Action, ActionKind, Direction
from mountcomm.telemetry import TelemetryClient
from tests.timing import T

HOST = "127.0.0.1"
ASK = commands.AskForCommand(commander=Source.CSC)


@contextlib.asynccontextmanager
async def proxied(controller: MockController) -> AsyncIterator[MountProxy]:
    async with MountProxy(
        HOST,
        {Source.CSC: controller.command_port("csc")},
        controller_reply_ports={Source.CSC: 0},
        telemetry_port=0,
        controller_telemetry_port=controller.telemetry_port,
    ) as proxy:
        controller.connect_console("csc", proxy.controller_reply_port("csc"))
        yield proxy


async def client_of(proxy: MountProxy, **options: object) -> MountClient:
    mount = MountClient(HOST, proxy.command_port("csc"), reply_port=0, **options)  # type: ignore[arg-type]
    proxy.connect_console("csc", await mount.wait_reply_port())
    await asyncio.wait_for(mount.start(), T)
    return mount


async def test_commands_and_telemetry_through_the_proxy() -> None:
    async with (
        MockController([Source.CSC], time_scale=100) as controller,
        proxied(controller) as proxy,
    ):
        mount = await client_of(proxy)
        try:
            await asyncio.wait_for(mount.run(ASK), T)
            await asyncio.wait_for(mount.run(commands.MainPowerSupplyPower(on=True)), T)
            assert controller.authority.holder is Source.CSC
            # A corrupted command reaches the controller, which refuses it.
            proxy.faults.corrupt(Direction.TO_CONTROLLER)
            with pytest.raises(CommandRejected, match="Invalid command"):
                await asyncio.wait_for(mount.run(commands.ElevationAxisPower(on=True)), T)
        finally:
            await mount.close()
        assert proxy.telemetry_port
        async with TelemetryClient(HOST, proxy.telemetry_port) as telemetry:
            sample = await asyncio.wait_for(telemetry.next_sample(), T)
        assert isinstance(sample["topicID"], int)


async def test_the_controller_restarts_and_the_console_carries_on() -> None:
    first = MockController([Source.CSC], time_scale=100)
    await first.start()
    try:
        async with proxied(first) as proxy:
            command_port = first.command_port("csc")
            mount = await client_of(proxy, auto_reconnect=True)
            try:
                await asyncio.wait_for(mount.run(ASK), T)
                await first.close()  # the console's command connection goes with it
                with pytest.raises(ConnectionError):  # refused, or failed when the loss arrives
                    await asyncio.wait_for(mount.run(commands.MainPowerSupplyPower(on=True)), T)
                async with MockController(
                    [Source.CSC],
                    command_ports={Source.CSC: command_port},
                    reply_ports={Source.CSC: proxy.controller_reply_port("csc")},
                    time_scale=100,
                ) as second:
                    await asyncio.wait_for(mount.wait_connected(), T)
                    await asyncio.wait_for(second.wait_console_connected("csc"), T)
                    await asyncio.wait_for(mount.run(ASK), T)
                    assert second.authority.holder is Source.CSC
            finally:
                await mount.close()
    finally:
        await first.close()


async def test_a_cut_telemetry_stream_is_reconnected() -> None:
    loop = asyncio.get_running_loop()
    after_cut: asyncio.Future[bytes] = loop.create_future()
    cuts = 0

    def hook(role: Source | None, frame: bytes) -> Action | None:
        nonlocal cuts
        if cuts == 0:
            cuts += 1
            return Action(ActionKind.CUT)
        if not after_cut.done():
            after_cut.set_result(frame)
        return None

    async with (
        MockController([Source.CSC], time_scale=100) as controller,
        proxied(controller) as proxy,
    ):
        proxy.faults.set_hook(Direction.TELEMETRY, hook)
        first = await asyncio.wait_for(after_cut, T)  # from a new connection to the controller
        assert first.startswith(b"{") and cuts == 1
        assert proxy.telemetry is not None
        async with TelemetryClient(HOST, proxy.telemetry_port or 0) as telemetry:
            await asyncio.wait_for(telemetry.next_sample(), T)
