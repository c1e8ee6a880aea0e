"""The controller's memory stays bounded when a console never reads its replies."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mountcomm.protocol import commands
from mountcomm.sim import console_port as console_port_module

from .controller_helpers import STD_TIMEOUT, console, fast_controller


async def test_reply_queue_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_port_module, "MAX_QUEUED_REPLIES", 5)
    async with fast_controller(shutdown_timeout=0.1) as controller, console(controller) as csc:
        handled = 0
        all_handled = asyncio.Event()
        handle = controller.handle_command

        def counting_handle(*args: Any) -> None:
            nonlocal handled
            handle(*args)
            handled += 1
            if handled == 20:
                all_handled.set()

        monkeypatch.setattr(controller, "handle_command", counting_handle)
        controller.delay_replies(60)  # nothing is delivered: replies pile up
        for _ in range(20):
            await csc.send(commands.AskForCommand())
        await asyncio.wait_for(all_handled.wait(), STD_TIMEOUT)
        # ACK and DONE each; the queue holds 5 and the sender may hold 1.
        assert controller.replies_dropped >= 20 * 2 - 5 - 1
        assert all(c.queue.qsize() <= 5 for c in controller._consoles.values())
