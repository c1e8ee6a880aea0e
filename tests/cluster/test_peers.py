"""Peers on two hosts find each other by name through their own hosts' registries."""

from __future__ import annotations

import asyncio

from mountcomm import MockController, MountClient
from mountcomm.protocol import commands
from mountcomm.protocol.enums import Source
from mountcomm.registry.client import PortRegistry
from mountcomm.sim.devices.base import Timings

from .conftest import HOST_A, HOST_B, T, two_hosts


async def test_client_on_b_commands_the_simulator_on_a_found_by_name(etcd):
    async with (
        two_hosts(etcd) as (a, b),
        PortRegistry(HOST_A, a.port, timeout=T) as on_a,
        PortRegistry(HOST_B, b.port, timeout=T) as on_b,
    ):
        ctrl = MockController((Source.CSC,), host=HOST_A, timings=Timings.fast(), registry=on_a)
        # B knows only its own registry: the controller's host comes from the entry,
        # and the controller on A connects back to the reply server B advertised.
        mount = MountClient(HOST_B, 0, reply_host=HOST_B, registry=on_b)
        try:
            async with asyncio.timeout(T):
                await ctrl.start()
                await mount.start()
                await mount.run(commands.AskForCommand(commander=Source.CSC), timeout=T)
                await mount.run(commands.MainPowerSupplyPower(on=True), timeout=T)
            command = await on_b.find(service="mount.csc.command")
            assert [(e.host, e.port) for e in command] == [(HOST_A, ctrl.command_port(Source.CSC))]
            reply = await on_a.find(service="mount.csc.reply")
            assert [e.host for e in reply] == [HOST_B]
        finally:
            await mount.close()
            await ctrl.close()
