"""MockController and MountClient finding each other only through the port registry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mountcomm import MockController, MountClient
from mountcomm.exceptions import ConnectionClosedError
from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source
from mountcomm.registry import RegistryHarness
from mountcomm.sim.devices import Severity
from mountcomm.sim.devices.base import Timings

from ..as_nobody import Nobody
from .helpers import T

HOST = "127.0.0.1"


def controller(registry: Any, **kwargs: Any) -> MockController:
    return MockController(
        (Source.CSC, Source.EUI), host=HOST, timings=Timings.fast(), registry=registry, **kwargs
    )


def client(registry: Any, **kwargs: Any) -> MountClient:
    return MountClient(HOST, 0, reply_host=HOST, registry=registry, **kwargs)


async def take_command(mount: MountClient) -> None:
    await mount.run(commands.AskForCommand(commander=Source.CSC), timeout=T)


async def ports(registry: Any, service: str) -> list[int]:
    return [e.port for e in await asyncio.wait_for(registry.find(service=service), T)]


async def test_controller_advertises_its_ports_and_withdraws_them(
    port_registry: RegistryHarness,
) -> None:
    reg = port_registry.client
    ctrl = controller(await port_registry.new_client())
    async with asyncio.timeout(T):
        await ctrl.start()
    try:
        assert await ports(reg, "mount.csc.command") == [ctrl.command_port(Source.CSC)]
        assert await ports(reg, "mount.eui.command") == [ctrl.command_port(Source.EUI)]
        assert await ports(reg, "mount.telemetry") == [ctrl.telemetry_port]
    finally:
        await ctrl.close()
    assert await asyncio.wait_for(reg.list_ports(), T) == []


async def test_service_prefix_and_fixed_reply_ports(port_registry: RegistryHarness) -> None:
    ctrl = controller(port_registry.client, service_prefix="lab2", reply_ports={"eui": 1})
    async with asyncio.timeout(T):
        await ctrl.start()
    try:
        assert ctrl.services is not None
        assert ctrl.services.communicator_options(Source.EUI)["client_service"] is None
        assert ctrl.services.communicator_options(Source.CSC)["client_service"] == "lab2.csc.reply"
        assert await ports(port_registry.client, "lab2.csc.command") == [
            ctrl.command_port(Source.CSC)
        ]
    finally:
        await ctrl.close()


async def test_client_reconnects_to_a_controller_restarted_on_new_ports(
    port_registry: RegistryHarness,
) -> None:
    # The client comes first: it waits for the controller to be advertised.
    mount = client(port_registry.client, auto_reconnect=True)
    ctrl1 = controller(await port_registry.new_client())
    ctrl2 = None
    try:
        async with asyncio.timeout(T):
            await ctrl1.start()
            await mount.start()
        await take_command(mount)
        assert mount.communicator.client_port == ctrl1.command_port(Source.CSC)
        stream = mount.unsolicited()  # lives across the reconnection
        ctrl1.stall()  # the next command stays in flight
        futures = await mount.send(commands.ElevationAxisMove(position=50))
        await ctrl1.close()
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(futures.wait(), T)
        assert not mount.connected
        with pytest.raises(ConnectionClosedError):
            await take_command(mount)
        ctrl2 = controller(await port_registry.new_client())
        async with asyncio.timeout(T):
            await ctrl2.start()
            await mount.wait_connected()
        assert mount.communicator.client_port == ctrl2.command_port(Source.CSC)
        await take_command(mount)
        assert [role for role, _ in ctrl2.received] == [Source.CSC]
        ctrl2.inject_alarm("top_end_chiller", "flow low", Severity.WARNING)
        reply = await asyncio.wait_for(anext(stream), T)
        assert isinstance(reply, replies.WarningReply)
    finally:
        await mount.close()
        await ctrl1.close()
        if ctrl2 is not None:
            await ctrl2.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(mount.wait_connected(), T)


async def test_a_new_client_finds_a_restarted_controller(port_registry: RegistryHarness) -> None:
    ctrl = controller(await port_registry.new_client())
    async with asyncio.timeout(T):
        await ctrl.start()
    first = client(port_registry.client)
    try:
        async with asyncio.timeout(T):
            await first.start()
        await take_command(first)
        await ctrl.close()
        with pytest.raises(ConnectionClosedError):  # one connection, one life
            await asyncio.wait_for(first.wait_connected(), T)
        await first.close()
        ctrl = controller(await port_registry.new_client())
        async with asyncio.timeout(T):
            await ctrl.start()
        second = client(port_registry.client)
        try:
            async with asyncio.timeout(T):
                await second.start()
            await take_command(second)
        finally:
            await second.close()
    finally:
        await first.close()
        await ctrl.close()


async def test_controller_finds_a_console_back_on_another_port(
    port_registry: RegistryHarness,
) -> None:
    ctrl = controller(await port_registry.new_client())
    async with asyncio.timeout(T):
        await ctrl.start()
    try:
        first = client(port_registry.client, role=Source.EUI)
        try:
            async with asyncio.timeout(T):
                await first.start()
            await first.run(commands.AskForCommand(commander=Source.EUI), timeout=T)
            first_reply_port = first.reply_port
        finally:
            await first.close()
        second = client(await port_registry.new_client(), role=Source.EUI)
        try:
            async with asyncio.timeout(T):
                await second.start()
            assert ctrl.reply_port(Source.EUI) == second.reply_port != first_reply_port
            await second.run(commands.AskForCommand(commander=Source.CSC), timeout=T)
        finally:
            await second.close()
    finally:
        await ctrl.close()


async def test_close_a_client_waiting_for_its_controller(port_registry: RegistryHarness) -> None:
    mount = client(port_registry.client, auto_reconnect=True)
    await asyncio.wait_for(mount.wait_reply_port(), T)
    await mount.close()
    with pytest.raises(ConnectionClosedError):
        await mount.start()
    assert await asyncio.wait_for(port_registry.client.list_ports(), T) == []


async def test_services_need_a_registry() -> None:
    with pytest.raises(ValueError, match="need a registry"):
        MountClient(HOST, 0, command_service="x")
    with pytest.raises(ValueError, match="real port"):
        MountClient(HOST, 0)


async def test_auto_reconnect_on_fixed_ports_after_a_dropped_connection() -> None:
    ctrl = MockController((Source.CSC,), host=HOST, timings=Timings.fast())
    async with asyncio.timeout(T):
        await ctrl.start()
    mount = MountClient(
        HOST, ctrl.command_port(Source.CSC), reply_port=0, reply_host=HOST, auto_reconnect=True
    )
    try:
        ctrl.connect_console(Source.CSC, await asyncio.wait_for(mount.wait_reply_port(), T))
        async with asyncio.timeout(T):
            await mount.start()
        await take_command(mount)
        first_tracker = mount.tracker
        ctrl.stall()
        futures = await mount.send(commands.ElevationAxisMove(position=50))
        await ctrl.drop_connection(Source.CSC)
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(futures.wait(), T)
        ctrl.resume()
        async with asyncio.timeout(T):
            await mount.wait_connected()
        assert mount.tracker is not first_tracker
        await take_command(mount)
    finally:
        await mount.close()
        await ctrl.close()


async def test_advertisements_survive_a_registry_restart(port_registry: RegistryHarness) -> None:
    """With reconnecting registry clients, a restarted daemon learns the ports again."""
    ctrl_registry = await port_registry.new_client(reconnect=True)
    client_registry = await port_registry.new_client(reconnect=True)
    ctrl = controller(ctrl_registry)
    async with asyncio.timeout(T):
        await ctrl.start()
    try:
        first = client(client_registry)
        try:
            async with asyncio.timeout(T):
                await first.start()
            await take_command(first)
        finally:
            await first.close()

        await asyncio.wait_for(port_registry.restart(), T)
        # The controller's registry client comes back and advertises again.
        async with asyncio.timeout(T):
            await ctrl_registry.wait_connected()
            await client_registry.wait_connected()
            port = await client_registry.wait_for("mount.csc.command", timeout=T)
        assert port == ctrl.command_port(Source.CSC)

        second = client(client_registry)
        try:
            async with asyncio.timeout(T):
                await second.start()
            await take_command(second)
            await second.run(commands.MainPowerSupplyPower(on=True), timeout=T)
        finally:
            await second.close()
    finally:
        await ctrl.close()


async def test_a_client_never_connects_to_another_users_advertisement(
    port_registry: RegistryHarness, nobody: Nobody
) -> None:
    """User nobody advertises mount.csc.command first, on a lower port: a man in the
    middle. The console finds the controller of its own user instead."""
    accepted: list[int] = []

    def rogue_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    rogue = await asyncio.start_server(rogue_handler, HOST, 0)
    try:
        rogue_port = rogue.sockets[0].getsockname()[1]
        async with nobody.registered(port_registry.host, port_registry.port, rogue_port):
            ctrl = controller(await port_registry.new_client())
            mount = client(port_registry.client)
            try:
                async with asyncio.timeout(T):
                    await ctrl.start()
                    await mount.start()
                assert mount.communicator.client_port == ctrl.command_port(Source.CSC)
                await take_command(mount)
                assert accepted == []  # the rogue port was never even tried
            finally:
                await mount.close()
                await ctrl.close()
    finally:
        rogue.close()
        await rogue.wait_closed()
