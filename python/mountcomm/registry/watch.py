"""`PortWatch`: a live view of the registry entries that match a query.

Made by `PortRegistry.watch`; the client's connection feeds it (`_started`,
`_deliver`, `_suspend`, `_end`), the user iterates over it.
"""

from __future__ import annotations

__all__ = ["PortWatch"]

import asyncio
from typing import TYPE_CHECKING

from .._lifecycle import AsyncResource
from ..exceptions import RegistryError
from .entries import PortEntry, PortEvent, Query

if TYPE_CHECKING:
    from .client import PortRegistry


class _End:
    """Queue marker: the watch ended, with ``error`` (None: closed by the user)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class PortWatch(AsyncResource):
    """A live view of the registry entries that match a `Query`.

    Made by `PortRegistry.watch`. Iterate over it (``async for``) to get a
    `PortEvent` for every matching entry that exists when the watch starts
    (``initial=True``, unless disabled), then one per change as it happens.

    Use it as an async context manager (``async with`` starts it), or call
    `close` (or `aclose`) when done; otherwise it ends with its registry's
    connection.

    Attributes
    ----------
    query : `Query`
        What is watched.
    trusted_users : `tuple` [`str`] or `None`
        Whose entries count besides the caller's own user and root (`None`:
        everyone's; see `PortRegistry.watch`).
    entries : `list` [`PortEntry`]
        The matching entries when the watch started (empty before).

    resumptions : `int`
        How many times the watch was resumed on a new connection (see Notes).

    Notes
    -----
    Cancelling ``__anext__`` is safe: no event is lost. After `aclose` the
    iteration stops; after the connection is lost, ``__anext__`` raises
    `ConnectionClosedError`; if more than ``max_queue`` events (initial ones
    included) pile up unread, the watch ends and ``__anext__`` raises
    `RegistryError` once the events before it are read.

    If the registry was made with ``reconnect=True``, losing the connection
    does not end the watch. What it delivers across a reconnection, in order:

    1. At once when the connection is lost: a ``removed`` event
       (``initial=False``) for every entry the watch reported as added and not
       as removed, in port order. The daemon's entries ended with it (leases
       are connections), so the watcher's picture is then empty.
    2. Nothing while the client is reconnecting (changes then are not seen).
    3. Once the client is connected again and has registered its own entries
       again: an ``added`` event with ``initial=True`` for every matching
       entry of the new daemon, whatever ``initial`` was given (`entries` is
       replaced by that snapshot; `resumptions` is incremented first).
    4. Then every change as it happens, as before.

    An entry that survives (e.g. the connection dropped but the daemon lived)
    is thus reported removed, then added again.
    """

    def __init__(
        self,
        registry: PortRegistry,
        query: Query,
        initial: bool,
        max_queue: int,
        trusted_users: tuple[str, ...] | None = (),
    ) -> None:
        self.registry = registry
        self.query = query
        self.trusted_users = trusted_users
        self.initial = initial
        self.max_queue = max_queue
        self.entries: list[PortEntry] = []
        self.resumptions = 0
        self._queue: asyncio.Queue[PortEvent | _End] = asyncio.Queue()
        self._id: int | None = None
        self._ended = False
        self._seen: dict[tuple[str, int], PortEntry] = {}  # (host, port): what it was told
        self._resuming = False
        self._start_lock = asyncio.Lock()

    @property
    def ended(self) -> bool:
        """True once the watch has ended (`aclose`, connection closed, fell behind).

        The events delivered before the end can still be read.
        """
        return self._ended

    async def start(self) -> PortWatch:
        """Start the watch on the daemon (idempotent); return self.

        Raises
        ------
        ConnectionClosedError
            If the connection is closed or lost.
        TimeoutError
            If the daemon does not answer within the registry's timeout.
        """
        async with self._start_lock:
            if self._id is None and not self._ended:
                await self.registry._start_watch(self)
        return self

    def _started(self, entries: list[PortEntry]) -> None:
        """Called by the registry's reader with the reply, before any event."""
        self.entries = entries
        if self._resuming:
            self._resuming = False
            self.resumptions += 1
        elif not self.initial:
            return
        for entry in entries:
            self._deliver(PortEvent.of("added", entry, initial=True))

    def _suspend(self) -> None:
        """The connection is lost and will be made again: report every entry removed."""
        self._resuming = True
        for entry in sorted(self._seen.values()):
            self._deliver(PortEvent.of("removed", entry))
        self._seen.clear()

    def _deliver(self, event: PortEvent) -> None:
        if self._ended:
            return
        if self._queue.qsize() >= self.max_queue:
            self._end(RegistryError(f"watch fell behind: more than {self.max_queue} events unread"))
            return
        if event.kind == "added":
            self._seen[(event.host, event.port)] = event.entry
        else:
            self._seen.pop((event.host, event.port), None)
        self._queue.put_nowait(event)

    def _end(self, error: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            if self._id is not None:
                self.registry._watches.pop(self._id, None)
            self._queue.put_nowait(_End(error))

    def __aiter__(self) -> PortWatch:
        return self

    async def __anext__(self) -> PortEvent:
        if self._id is None and not self._ended:
            await self.start()
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item.error is None:
                raise StopAsyncIteration
            raise item.error
        return item

    async def close(self) -> None:
        """Stop the watch (idempotent). Iteration then stops.

        Tells the daemon when the connection is still up (bounded by the
        registry's timeout); never raises for a lost connection.
        """
        if self._ended:
            return
        watch_id = self._id
        self._end(None)
        if watch_id is not None and self.registry.connected:
            try:
                await self.registry._request("unwatch", watch=watch_id)
            except (ConnectionError, TimeoutError, RegistryError) as e:
                self.registry.log.debug("unwatch_failed", watch=watch_id, error=str(e))

    async def aclose(self) -> None:
        """Same as `close` (the name async generators use)."""
        await self.close()
