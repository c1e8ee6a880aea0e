"""Watches of a `PortRegistry`: what the user iterates over, and the set that feeds it.

Two parts, neither of which knows the client class:

`PortWatch`
    What `PortRegistry.watch` returns: one watch's query, its id on the
    current connection, the queue of its events, and what it reported (to
    report it removed when the connection is lost).
`WatchSet`
    The open watches of one client, by request id: starts, routes events
    to, suspends, resumes and ends them. It needs from the client only what
    `Channel` names (a public interface of `PortRegistry`).
"""

from __future__ import annotations

__all__ = ["Channel", "PortWatch", "Send", "WatchSet"]

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .._lifecycle import AsyncResource
from ..exceptions import RegistryError
from . import native
from .entries import EventKind, PortEntry, PortEvent, Query
from .wire import RequestId

R = TypeVar("R", bound=native.Reply)


class Send(Protocol):
    """Send a request and return its reply; ``on_reply`` sees it first (see `Channel`)."""

    def __call__(
        self,
        request: native.Request[R],
        *,
        on_reply: Callable[[int, R], None] | None = None,
    ) -> Awaitable[R]: ...


class Channel(Protocol):
    """What the watches need from their client (`PortRegistry` offers it).

    Attributes
    ----------
    log : structlog logger
        Where to log.
    """

    log: Any

    @property
    def connected(self) -> bool:
        """True while the connection is up (and resumed)."""
        ...

    @property
    def request(self) -> Send:
        """Send a request (connecting first if need be) and return its reply."""
        ...


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
    connection. Its `WatchSet` feeds it (`started`, `deliver`, `suspend`,
    `end`).

    Parameters
    ----------
    watches : `WatchSet`
        The client's watches.
    query : `Query`
        What is watched.
    initial : `bool`
        Report the entries that exist when the watch starts.
    max_queue : `int`
        Most events held unread; one more ends the watch with a `RegistryError`.
    trusted_users : `tuple` [`str`] or `None`
        Whose entries count besides the caller's own user and root (`None`:
        everyone's; see `PortRegistry.watch`).

    Attributes
    ----------
    query, initial, max_queue, trusted_users
        As given.
    entries : `list` [`PortEntry`]
        The matching entries when the watch (last) started (empty before).
    resumptions : `int`
        How many times the watch was resumed on a new connection (see Notes).
    ended : `bool`
        True once the watch has ended (`aclose`, connection closed, fell
        behind). The events delivered before the end can still be read.
    id : `int` or `None`
        The watch's request id on the current connection (`None` before it
        started).
    resuming : `bool`
        True from a lost connection until the watch runs again.

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
        watches: WatchSet,
        query: Query,
        initial: bool,
        max_queue: int,
        trusted_users: tuple[str, ...] | None = (),
    ) -> None:
        self.query = query
        self.initial = initial
        self.max_queue = max_queue
        self.trusted_users = trusted_users
        self.id: int | None = None
        self.entries: list[PortEntry] = []
        self.resumptions = 0
        self.resuming = False
        self.ended = False
        self._watches = watches
        self._queue: asyncio.Queue[PortEvent | _End] = asyncio.Queue()
        self._seen: dict[tuple[str, int], PortEntry] = {}  # (host, port): what it reported
        self._start_lock = asyncio.Lock()
        self._started = False

    # ---- the user's side --------------------------------------------------------------

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
            if not self._started and not self.ended:
                self._started = True
                await self._watches.start(self)
        return self

    def __aiter__(self) -> PortWatch:
        return self

    async def __anext__(self) -> PortEvent:
        if not self._started and not self.ended:
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
        await self._watches.stop(self)

    aclose = close  # the name async generators use

    # ---- the side of its WatchSet -----------------------------------------------------

    @property
    def suspended(self) -> bool:
        """True while it waits to be resumed on a new connection."""
        return self.resuming and not self.ended

    def request(self) -> native.Watch:
        """The ``watch`` request that starts it."""
        q = self.query
        return native.Watch(q.service, q.beginswith, q.user, trusted_users=self.trusted_users)

    def started(self, rid: int, entries: tuple[PortEntry, ...]) -> None:
        """The daemon answered the watch request ``rid`` with ``entries``, before any event."""
        self.id = rid
        self.entries = list(entries)
        if self.resuming:
            self.resuming = False
            self.resumptions += 1
        elif not self.initial:
            return
        for entry in entries:
            self.deliver(PortEvent.of(EventKind.ADDED, entry, initial=True))

    def suspend(self) -> None:
        """The connection is lost and will be made again: report every entry removed."""
        self.resuming = True
        for entry in sorted(self._seen.values()):
            self.deliver(PortEvent.of(EventKind.REMOVED, entry))
        self._seen.clear()

    def deliver(self, event: PortEvent) -> None:
        """Queue ``event`` for the reader (ends the watch if too many are unread)."""
        if self.ended:
            return
        if self._queue.qsize() >= self.max_queue:
            self.end(RegistryError(f"watch fell behind: more than {self.max_queue} events unread"))
            return
        if event.kind is EventKind.ADDED:
            self._seen[(event.host, event.port)] = event.entry
        else:
            self._seen.pop((event.host, event.port), None)
        self._queue.put_nowait(event)

    def end(self, error: BaseException | None) -> None:
        """End the watch (idempotent): the reader gets ``error`` after the queued events."""
        if not self.ended:
            self.ended = True
            self._queue.put_nowait(_End(error))


class WatchSet:
    """The open watches of one client, by their request id on its connection.

    Parameters
    ----------
    channel : `Channel`
        The client.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._by_id: dict[int, PortWatch] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def _on_started(self, watch: PortWatch) -> Callable[[int, native.EntriesReply], None]:
        """The reply callback of ``watch``'s watch request."""

        def started(rid: int, reply: native.EntriesReply) -> None:
            self._forget(watch)
            if watch.ended:  # closed by its user meanwhile
                watch.id = rid
                return
            self._by_id[rid] = watch  # before the read loop reads the events that follow
            watch.started(rid, reply.entries)

        return started

    async def start(self, watch: PortWatch) -> None:
        """Start ``watch`` on the daemon (connecting first if need be).

        Raises
        ------
        ConnectionClosedError, TimeoutError, RegistryError
            As `PortRegistry` calls; ``watch`` then ends with that error.
        """
        try:
            await self.channel.request(watch.request(), on_reply=self._on_started(watch))
        except BaseException as e:
            self._forget(watch)
            watch.end(e if isinstance(e, Exception) else None)
            raise

    async def stop(self, watch: PortWatch) -> None:
        """End ``watch`` and tell the daemon while connected (never raises for a lost link)."""
        if watch.ended:
            return
        watch.end(None)
        watch_id = self._forget(watch)
        if watch_id is not None and self.channel.connected:
            await self._unwatch(self.channel.request, watch_id, ConnectionError, TimeoutError)

    async def _unwatch(self, send: Send, watch_id: int, *quiet: type[Exception]) -> None:
        """Stop ``watch_id`` on the daemon; a refusal (or a ``quiet`` error) is logged."""
        errors: tuple[type[Exception], ...] = (RegistryError, *quiet)
        try:
            await send(native.Unwatch(watch_id))
        except errors as e:
            self.channel.log.debug("unwatch_failed", watch=watch_id, error=str(e))

    def _forget(self, watch: PortWatch) -> int | None:
        if watch.id is not None and self._by_id.get(watch.id) is watch:
            del self._by_id[watch.id]
            return watch.id
        return None

    def deliver(self, watch_id: RequestId, event: PortEvent) -> None:
        """Route an event of the watch whose request id is ``watch_id``."""
        watch = self._by_id.get(watch_id) if isinstance(watch_id, int) else None
        if watch is not None:
            watch.deliver(event)
            if watch.ended:  # fell behind
                self._forget(watch)

    def suspend(self) -> None:
        """The connection is lost and will be made again: suspend every watch."""
        for watch in self._by_id.values():
            watch.suspend()

    def end(self, error: Callable[[], BaseException]) -> None:
        """The client is closed: end every watch with a new ``error()``."""
        watches = list(self._by_id.values())
        self._by_id.clear()
        for watch in watches:
            watch.end(error())

    async def resume(self, send: Send) -> None:
        """Start every suspended watch again, under a new id, with ``send``.

        A watch the new daemon refuses ends with that refusal; one closed by
        its user meanwhile is stopped on the daemon too. A lost connection
        propagates (the watches stay suspended, for the next attempt).
        """
        for watch in list(self._by_id.values()):
            if not watch.suspended:  # ended, or resumed by a failed try
                continue
            try:
                await send(watch.request(), on_reply=self._on_started(watch))
            except RegistryError as e:
                self.channel.log.warning("watch_resume_failed", watch=watch.id, error=str(e))
                self._forget(watch)
                watch.end(e)
                continue
            if watch.ended and watch.id is not None:  # closed by its user meanwhile
                await self._unwatch(send, watch.id)
