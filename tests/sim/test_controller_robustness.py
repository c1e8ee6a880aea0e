"""One console's bad input never wedges it: validation, per-frame errors, bad-frame floods."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mountcomm.exceptions import ProtocolError
from mountcomm.log import capture_events
from mountcomm.protocol import commands, replies

from .controller_helpers import STD_TIMEOUT, Console, console, fast_controller, power_up


async def still_answers(csc: Console) -> None:
    """The console still gets answers: a harmless command is ACKed and DONE."""
    await csc.run(commands.MainPowerSupplyPower(on=True))


@pytest.mark.parametrize(
    ("fields", "explanation"),
    [
        ({"velocity": 5e-324}, "would take"),
        ({"velocity": float("nan")}, "finite"),
        ({"velocity": float("inf")}, "finite"),
        ({"velocity": -1.0}, "velocity -1.0 must be in"),
        ({"velocity": 1e9}, "velocity 1000000000.0 must be in"),
        ({"acceleration": 5e-324}, "would take"),
        ({"acceleration": 1e9}, "acceleration"),
        ({"jerk": float("nan")}, "finite"),
        ({"jerk": -2.0}, "jerk"),
        ({"position": float("nan")}, "finite"),
    ],
)
async def test_bad_numbers_get_noack_and_the_console_goes_on(
    fields: dict[str, float], explanation: str
) -> None:
    async with fast_controller() as controller, console(controller) as csc:
        await power_up(csc, "elevation")
        seq = await csc.send(commands.ElevationAxisMove(**{"position": 60.0, **fields}))
        await csc.expect(replies.NoAckReply, seq, explanation=explanation)
        assert controller.mount.elevation.path.at(controller.now()).position == 86.5
        await still_answers(csc)


async def test_tracking_and_both_axes_numbers_are_checked() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        await power_up(csc, "elevation", "azimuth")
        seq = await csc.send(
            commands.BothAxesMove(azimuth=10.0, elevation=60.0, azimuth_velocity=5e-324)
        )
        await csc.expect(replies.NoAckReply, seq, explanation="would take")
        assert not controller.mount.azimuth.busy() and not controller.mount.elevation.busy()
        await csc.run(commands.ElevationAxisEnableTracking(on=True))
        seq = await csc.send(
            commands.ElevationAxisTrack(position=60.0, velocity=0.0, tai=float("nan"))
        )
        await csc.expect(replies.NoAckReply, seq, explanation="finite")
        await still_answers(csc)


async def test_an_exception_while_answering_is_a_noack_and_the_loop_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with fast_controller() as controller, console(controller) as csc:
        await csc.take_command()
        handle = controller.mount.handle

        def broken_once(command: Any, now: float) -> Any:
            monkeypatch.setattr(controller.mount, "handle", handle)
            raise OverflowError("cannot convert float infinity to integer")

        monkeypatch.setattr(controller.mount, "handle", broken_once)
        with capture_events() as logs:
            seq = await csc.send(commands.MainPowerSupplyPower(on=True))
            await csc.expect(replies.NoAckReply, seq, explanation="Internal error: OverflowError")
        assert [e for e in logs if e["event"] == "command_failed"], logs
        await still_answers(csc)


async def test_unmodelled_command_codes_are_refused() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        await csc.take_command()
        # MOVE_TO_TARGET (code 1) has no message class.
        await csc.comm.write(b"77\n1\n1\n2020-01-01T00:00:00.000\n\r\n")
        await csc.expect(
            replies.NoAckReply, 77, explanation="MOVE_TO_TARGET is not supported by the simulator"
        )
        await still_answers(csc)
        assert controller.bad_frames == 1


async def test_bad_frames_are_logged_throttled_with_a_count() -> None:
    frames = 500
    with capture_events() as logs:
        async with fast_controller() as controller, console(controller) as csc:
            await csc.comm.write(b"garbage\r\n" * frames)
            await csc.take_command()  # answered after every bad frame was read
            assert controller.bad_frames == frames
            await still_answers(csc)
    individual = [e for e in logs if e["event"] == "bad_command"]
    summaries = [e for e in logs if e["event"] == "bad_commands_not_logged"]
    assert 1 <= len(individual) <= 10
    assert len(summaries) == 1
    assert summaries[0]["count"] == frames - len(individual)
    assert summaries[0]["total"] == frames


async def test_send_malformed_keeps_the_order_of_the_replies() -> None:
    async with fast_controller() as controller, console(controller, state_info=True) as csc:
        await csc.take_command()
        await csc.expect(replies.OnStateInfoReply, description="Commander: CSC")
        controller.inject_alarm("elevation", "first")
        controller.inject_alarm("azimuth", "second")
        controller.send_malformed()
        controller.trip_interlock("third")
        seen: list[str] = []
        async with asyncio.timeout(STD_TIMEOUT):
            while len(seen) < 5:
                try:
                    reply = await csc.comm.read()
                except ProtocolError:
                    seen.append("MALFORMED")
                    continue
                if isinstance(reply, replies.ErrorReply):
                    seen.append(f"ERROR {reply.subsystem.split('. ')[-1]}")
                else:
                    seen.append(type(reply).__name__)
        assert seen == [
            "ERROR first",
            "ERROR second",
            "MALFORMED",
            "ERROR safety interlock tripped: third",
            "OnStateInfoReply",
        ]
