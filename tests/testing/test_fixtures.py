"""The simulator fixtures of the pytest plugin."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm import MountClient
from mountcomm.protocol import Source, commands
from mountcomm.sim.controller import MockController
from tests.timing import UNIT


async def test_mount_client_holds_command(
    mock_controller: MockController, mount_client: MountClient
) -> None:
    assert mount_client.connected
    assert mock_controller.authority.holder == Source.CSC
    await asyncio.wait_for(mount_client.run(commands.MainPowerSupplyPower(on=True)), 10 * UNIT)


async def _power_elevation(mount_client: MountClient) -> None:
    for command in (
        commands.MainPowerSupplyPower(on=True),
        commands.ElevationAxisPower(on=True),
        commands.ElevationAxisDriveEnable(on=True),
    ):
        await asyncio.wait_for(mount_client.run(command), 10 * UNIT)


async def test_two_elevation_moves_run_in_simulated_time(
    mock_controller: MockController, mount_client: MountClient
) -> None:
    await _power_elevation(mount_client)
    start = mock_controller.now()
    ack_timeouts = []
    for position in (30.0, 80.0):
        futures = await mount_client.send(commands.ElevationAxisMove(position=position))
        ack_timeouts.append(await asyncio.wait_for(futures.ack, 10 * UNIT))
        await asyncio.wait_for(futures.done, 10 * UNIT)
    elapsed = mock_controller.now() - start
    # 56.5 deg then 50 deg at 3.5 deg/s: over 30 simulated seconds...
    assert elapsed > 30.0
    assert mock_controller.mount.elevation.path.at(mock_controller.now()).position == 80.0
    # ...which the ACKs announced as a small fraction of that in wall time.
    assert sum(ack_timeouts) < 1.0
    assert sum(ack_timeouts) == pytest.approx(elapsed / mock_controller.clock.time_scale, abs=0.1)


@pytest.mark.mountcomm_time_scale(1)
async def test_real_time_is_opt_in(
    mock_controller: MockController, mount_client: MountClient
) -> None:
    assert mock_controller.clock.time_scale == 1.0
    futures = await mount_client.send(commands.MainPowerSupplyPower(on=True))
    assert await asyncio.wait_for(futures.ack, 10 * UNIT) == 1.0  # Timings().main_power_s
    await asyncio.wait_for(futures.done, 10 * UNIT)


@pytest.mark.mountcomm_time_scale(10)
async def test_ack_timeout_reflects_the_scale(
    mock_controller: MockController, mount_client: MountClient
) -> None:
    futures = await mount_client.send(commands.MainPowerSupplyPower(on=True))
    assert await asyncio.wait_for(futures.ack, 10 * UNIT) == pytest.approx(0.1)
    await asyncio.wait_for(futures.done, 10 * UNIT)
