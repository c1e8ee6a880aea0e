"""Signal handling for long-running subcommands (never used by the library)."""

from __future__ import annotations

__all__ = ["STOP_SIGNALS", "wait_for_stop_signal"]

import asyncio
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def wait_for_stop_signal() -> str:
    """Wait until the process receives SIGINT or SIGTERM; return the signal's name.

    The handlers are installed for the duration of the call only. Cancel-safe.
    """
    loop = asyncio.get_running_loop()
    received: asyncio.Future[str] = loop.create_future()

    def handler(signum: int) -> None:
        if not received.done():
            received.set_result(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, handler, signum)
    try:
        return await received
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
