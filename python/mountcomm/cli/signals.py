"""Signal handling for long-running subcommands (never used by the library)."""

from __future__ import annotations

__all__ = ["STOP_SIGNALS", "stop_signal", "wait_for_stop_signal"]

import asyncio
import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signal() -> Iterator[asyncio.Future[str]]:
    """Catch SIGINT and SIGTERM inside the ``with`` block; yield a future of the name.

    The handlers are in place when the block is entered (before anything the
    block prints, such as a "ready" line), and removed when it ends. The
    future's result is the first signal's name (``"SIGINT"``). Must be used
    inside a running event loop.
    """
    loop = asyncio.get_running_loop()
    received: asyncio.Future[str] = loop.create_future()

    def handler(signum: int) -> None:
        if not received.done():
            received.set_result(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, handler, signum)
    try:
        yield received
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        received.cancel()


async def wait_for_stop_signal() -> str:
    """Wait until the process receives SIGINT or SIGTERM; return the signal's name.

    The handlers are installed for the duration of the call only. Cancel-safe.
    """
    with stop_signal() as received:
        return await received
