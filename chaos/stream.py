"""A command stream under test: one `MountClient` sending commands back to back.

Each command's outcome is sorted into done, typed error (a mountcomm error,
`ConnectionError` or `TimeoutError`: the documented failures) or untyped error
(anything else: a bug). A command that has not ended within `HANG_BOUND` is a
hang. While the client is not connected the stream waits for it; a client that
does not come back within `STUCK_BOUND` after its peer is back is stuck.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from mountcomm import MountClient, commands
from mountcomm.exceptions import MountcommError
from mountcomm.protocol.enums import Source

HANG_BOUND = 15.0
"""A command still running after this long is a hang [s]."""

STUCK_BOUND = 10.0
"""A client not working again this long after its peer is back is stuck [s]."""

TYPED = (MountcommError, ConnectionError, TimeoutError)


@dataclass
class StreamStats:
    """What a command stream saw."""

    commands: int = 0
    done: int = 0
    typed: Counter[str] = field(default_factory=Counter)
    untyped: Counter[str] = field(default_factory=Counter)
    hangs: int = 0
    last_done: float = 0.0


class CommandStream:
    """Send commands through ``mount`` until `stop`; record every outcome."""

    def __init__(self, mount: MountClient) -> None:
        self.mount = mount
        self.stats = StreamStats()
        self._progress = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def __aenter__(self) -> CommandStream:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def done_after(self, since: float, bound: float = STUCK_BOUND) -> float | None:
        """Wait until a command is done after monotonic time ``since``.

        Returns the time from ``since`` to that command's end [s], or `None`
        if none was done within ``bound`` seconds of now or of ``since``,
        whichever is later (a stuck client).
        """
        deadline = max(since, time.monotonic()) + bound
        while self.stats.last_done <= since:
            self._progress.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await self._progress.wait()
            except TimeoutError:
                return None
        return self.stats.last_done - since

    async def _run(self) -> None:
        toggle = False
        while not self._stopping:
            if not self.mount.connected:
                try:
                    async with asyncio.timeout(HANG_BOUND):
                        await self.mount.wait_connected()
                except TimeoutError:
                    pass
                except TYPED as e:
                    self.stats.typed[type(e).__name__] += 1
                    await asyncio.sleep(0.01)
                continue
            toggle = not toggle
            cmd = (
                commands.AskForCommand(commander=Source.CSC)
                if toggle
                else commands.MainPowerSupplyPower(on=True)
            )
            await self._one(cmd)

    async def _one(self, cmd: commands.Command) -> None:
        self.stats.commands += 1
        task = asyncio.get_running_loop().create_task(self.mount.run(cmd))
        try:
            done, _ = await asyncio.wait({task}, timeout=HANG_BOUND)
        finally:
            if not task.done():  # a hang, or the stream is being stopped
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not done:
            self.stats.hangs += 1
            return
        exc = task.exception()
        if exc is None:
            self.stats.done += 1
            self.stats.last_done = time.monotonic()
            self._progress.set()
        elif isinstance(exc, TYPED):
            self.stats.typed[type(exc).__name__] += 1
            if isinstance(exc, ConnectionError):
                await asyncio.sleep(0)  # let the client notice the loss
        else:
            self.stats.untyped[f"{type(exc).__name__}: {exc}"] += 1
