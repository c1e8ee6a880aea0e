"""`DeadlineTimer`: one handle, moved only to an earlier deadline (no waiting in real time)."""

from __future__ import annotations

import asyncio

from mountcomm.commanding.timer import DeadlineTimer
from tests.timing import UNIT


async def test_arm_keeps_the_earliest_deadline_and_fires_once() -> None:
    loop = asyncio.get_running_loop()
    fired = asyncio.Event()
    calls: list[float] = []

    def callback() -> None:
        calls.append(loop.time())
        fired.set()

    timer = DeadlineTimer(callback)
    assert timer.when is None
    now = loop.time()
    timer.arm(None)  # nothing to wait for
    assert timer.when is None
    timer.arm(now + 3600)
    assert timer.when == now + 3600
    timer.arm(now + 7200)  # later: the timer stays
    assert timer.when == now + 3600
    timer.arm(now)  # earlier: the timer moves (and is due at once)
    assert timer.when == now
    await asyncio.wait_for(fired.wait(), 5 * UNIT)
    assert len(calls) == 1
    assert timer.when is None  # fired: not armed any more


async def test_cancel_is_idempotent_and_stops_the_callback() -> None:
    loop = asyncio.get_running_loop()
    calls: list[None] = []
    timer = DeadlineTimer(lambda: calls.append(None))
    timer.arm(loop.time())
    timer.cancel()
    timer.cancel()
    assert timer.when is None
    # Two loop turns: a handle that was due would have run by now.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert calls == []
