"""End to end: the tracking timeout reaches every console as WARNING and IN_POSITION."""

from __future__ import annotations

import dataclasses

from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source
from mountcomm.sim.controller import tai_now
from mountcomm.sim.devices import ELEVATION, TRACK_TIMEOUT_CONDITION

from .controller_helpers import FAST_TIMINGS, console, fast_controller, power_up

CSC, EUI = Source.CSC, Source.EUI
WARNING_CODE = int(ELEVATION.subsystem) + TRACK_TIMEOUT_CONDITION


def hold_target() -> commands.ElevationAxisTrack:
    """A tracking target at the elevation axis's home, where it rests."""
    assert ELEVATION.home is not None
    return commands.ElevationAxisTrack(position=ELEVATION.home, velocity=0.0, tai=tai_now())


async def test_stale_tracking_target_warns_every_console() -> None:
    timings = dataclasses.replace(FAST_TIMINGS, track_timeout_s=0.1)
    async with (
        fast_controller((CSC, EUI), timings=timings) as controller,
        console(controller, CSC) as csc,
        console(controller, EUI) as eui,
    ):
        await power_up(csc, "elevation")
        await csc.run(commands.ElevationAxisEnableTracking(on=True))
        seq = await csc.send(hold_target())
        await csc.expect(replies.AckReply, seq, timeout_ms=0)
        for c in (csc, eui):
            await c.expect(replies.InPositionReply, what=1, in_position=True)
        # No further target: the axis stops and both consoles are warned.
        for c in (csc, eui):
            await c.expect(replies.InPositionReply, what=1, in_position=False)
            warning = await c.expect(replies.WarningReply, active=True, code=WARNING_CODE)
            assert warning.subsystem.startswith("400. Elevation axis: tracking targets stopped")
        assert not controller.mount.elevation.in_position
        assert controller.mount.elevation.tracking_enabled
        # A new target resumes tracking and clears the warning.
        seq = await csc.send(hold_target())
        await csc.expect(replies.AckReply, seq)
        for c in (csc, eui):
            await c.expect(replies.WarningReply, active=False, code=WARNING_CODE)
            await c.expect(replies.InPositionReply, what=1, in_position=True)
        await csc.run(commands.ElevationAxisEnableTracking(on=False))
