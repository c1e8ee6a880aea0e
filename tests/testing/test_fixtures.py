"""The simulator fixtures of the pytest plugin."""

from __future__ import annotations

import asyncio

from mountcomm import MountClient
from mountcomm.protocol import Source, commands
from mountcomm.sim.controller import MockController


async def test_mount_client_holds_command(
    mock_controller: MockController, mount_client: MountClient
) -> None:
    assert mount_client.connected
    assert mock_controller.authority.holder == Source.CSC
    await asyncio.wait_for(mount_client.run(commands.MainPowerSupplyPower(on=True)), 10)
