"""Reconnecting a `PortRegistry` and resuming what it held.

`Resumer` remembers what the client registered (to register it again on a new
daemon) and runs the reconnection: connect, register again, resume the
watches, retrying after the delays of `reconnect_delays`. The backoff goes on
across connections that die young (a daemon that accepts and closes at once
gets a few attempts a second, not thousands) and starts again only after a
connection lived `STABLE_AFTER` seconds.
"""

from __future__ import annotations

__all__ = ["MAX_RECONNECT_DELAY", "STABLE_AFTER", "Record", "Resumer", "reconnect_delays"]

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..exceptions import RegistryError, SelfConnectionError
from ..net.retry import backoff
from . import wire

if TYPE_CHECKING:
    from .client import PortRegistry
    from .connection import NativeConnection
    from .watch import PortWatch

STABLE_AFTER = 2.0
"""A connection that lived this long resets the reconnection backoff [s]."""

MAX_RECONNECT_DELAY = 0.4
"""Longest delay between two attempts to reconnect to the daemon [s]."""


def reconnect_delays() -> Iterator[float]:
    """Delays between the attempts of a `PortRegistry` to reconnect [s].

    50 ms, doubling up to `MAX_RECONNECT_DELAY`, each shortened by up to a
    quarter at random so that the clients of a restarted daemon do not all come
    back at once. The cap is short because the daemon is local: a restarted
    daemon is found again within half a second of its return.
    """
    return backoff(0.05, factor=2.0, maximum=MAX_RECONNECT_DELAY, jitter=0.25)


class Record:
    """What a client asked for, to ask the same of a new daemon."""

    __slots__ = ("service", "user")

    def __init__(self, service: str, user: str | None) -> None:
        self.service = service
        self.user = user


class Resumer:
    """The reconnection policy and memory of one `PortRegistry`.

    Parameters
    ----------
    client : `PortRegistry`
        The client to reconnect.

    Attributes
    ----------
    records : `dict` [`int`, `Record`]
        Port -> what to register again.
    attempts : `int`
        Connection attempts made by reconnections so far.
    """

    def __init__(self, client: PortRegistry) -> None:
        self.client = client
        self.records: dict[int, Record] = {}
        self.attempts = 0
        self._delays = reconnect_delays()
        self._immediate = True
        self._self_connection_logged = False

    def connection_lost(self, conn: NativeConnection) -> None:
        """Account for the loss of ``conn``: reset the backoff only if it lived long."""
        lived = asyncio.get_running_loop().time() - conn.opened_at
        if lived >= STABLE_AFTER:
            self._delays = reconnect_delays()
            self._immediate = True
        else:
            self._immediate = False

    def self_connected(self, error: SelfConnectionError) -> None:
        """Log a self-connection: a warning the first time, then at debug level."""
        log = self.client.log
        if self._self_connection_logged:
            log.debug("registry_self_connection", error=str(error))
        else:
            self._self_connection_logged = True
            log.warning("registry_self_connection", error=str(error), retrying=True)

    async def pause(self) -> None:
        """Wait for the next delay of the backoff (at once after a long-lived connection)."""
        if self._immediate:
            self._immediate = False
            return
        await asyncio.sleep(next(self._delays))

    async def run(self) -> None:
        """Connect again, register again, resume the watches; retry until it works.

        Runs as the client's ``reconnect_task``; `PortRegistry.close` cancels it.
        """
        client = self.client
        while True:
            await self.pause()
            self.attempts += 1
            try:
                conn = await client._open()
            except SelfConnectionError as e:
                self.self_connected(e)
                continue
            except (OSError, TimeoutError) as e:
                client.log.debug("registry_reconnect_failed", attempt=self.attempts, error=repr(e))
                continue
            if not client._attach(conn):
                await conn.close()
                return  # closed meanwhile
            try:
                await self.resume()
            except Exception as e:  # lost again, no answer, or a reply we cannot read
                if not isinstance(e, (ConnectionError, TimeoutError)):
                    client.log.exception("registry_resume_failed", attempt=self.attempts)
                conn.lost(e, "resuming on the new connection failed")
                continue
            if conn.ended:
                continue  # lost at the last moment: its teardown asked for this loop
            client._resumed(self.attempts)
            return

    async def resume(self) -> None:
        """Register again what the client holds, then resume every open watch."""
        client = self.client
        for port, record in list(self.records.items()):
            try:
                reply = await client._send(
                    "register", service=record.service, port=port, user=record.user
                )
            except RegistryError as e:
                self.records.pop(port, None)
                client.log.warning(
                    "reregister_failed", port=port, service=record.service, error=str(e)
                )
            else:
                record.service = wire.entry_from_wire(reply).service
        for watch in list(client._watches.values()):
            if watch._resuming and not watch.ended:  # else: ended, or resumed by a failed try
                await self.resume_watch(watch)

    async def resume_watch(self, watch: PortWatch) -> None:
        """Start ``watch`` again, under a new id, on the new connection."""
        client = self.client
        if watch._id is not None:
            client._watches.pop(watch._id, None)
        rid = client._next_id()
        client._watches[rid] = watch
        watch._id = rid
        try:
            await client._send("watch", rid, **watch_fields(watch))
        except RegistryError as e:
            client.log.warning("watch_resume_failed", watch=rid, error=str(e))
            watch._end(e)
            return
        if watch.ended:  # closed by its user meanwhile: stop it on the daemon too
            try:
                await client._send("unwatch", watch=rid)
            except RegistryError as e:
                client.log.debug("unwatch_failed", watch=rid, error=str(e))


def watch_fields(watch: PortWatch) -> dict[str, Any]:
    """The fields of the native ``watch`` request of ``watch``."""
    q = watch.query
    trusted = watch.trusted_users
    return {
        "service": q.service,
        "beginswith": q.beginswith,
        "user": q.user,
        "trusted_users": None if trusted is None else list(trusted),
    }
