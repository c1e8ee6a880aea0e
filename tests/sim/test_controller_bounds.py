"""The controller's memory stays bounded when a console never reads its replies."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm.protocol import commands
from mountcomm.sim import controller as controller_module

from .controller_helpers import STD_TIMEOUT, console, fast_controller


async def test_reply_queue_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller_module, "MAX_QUEUED_REPLIES", 5)
    async with fast_controller(shutdown_timeout=0.1) as controller, console(controller) as csc:
        controller.delay_replies(60)  # nothing is delivered: replies pile up
        for _ in range(20):
            await csc.send(commands.AskForCommand())
        async with asyncio.timeout(STD_TIMEOUT):
            while len(controller.received) < 20:
                await asyncio.sleep(0.01)
        # ACK and DONE each; the queue holds 5 and the sender may hold 1.
        assert controller.replies_dropped >= 20 * 2 - 5 - 1
        assert all(c.queue.qsize() <= 5 for c in controller._consoles.values())
