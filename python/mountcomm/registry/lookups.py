"""Lookups of a `PortRegistry`: list, find, and the trusted lookups made to connect.

`watch` and `wait_for` are lookups made in order to connect: they accept only
entries whose verified owner is this process's user, root, or a user the
caller trusts (``trusted_users``). `list_ports` and `find` show every entry.
"""

from __future__ import annotations

__all__ = ["RegistryLookups"]

import asyncio
from collections.abc import Iterable
from typing import Any

from ..exceptions import ConnectionClosedError
from . import wire
from .entries import PortEntry, Query
from .state import trust
from .watch import PortWatch


class RegistryLookups:
    """The lookup methods of `PortRegistry` (a mixin: it needs ``_request``)."""

    trusted_users: tuple[str, ...] | None

    async def _request(self, op: str, rid: int | None = None, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def list_ports(self) -> list[PortEntry]:
        """Return every entry, sorted by port."""
        reply = await self._request("list")
        return [wire.entry_from_wire(e) for e in reply.get("entries", ())]

    async def find(
        self,
        service: str | None = None,
        beginswith: str | None = None,
        user: str | None = None,
    ) -> list[PortEntry]:
        """Return the entries matching every given criterion, sorted by port."""
        reply = await self._request("find", service=service, beginswith=beginswith, user=user)
        return [wire.entry_from_wire(e) for e in reply.get("entries", ())]

    def watch(
        self,
        service: str | None = None,
        beginswith: str | None = None,
        user: str | None = None,
        *,
        initial: bool = True,
        max_queue: int = 10_000,
        trusted_users: Iterable[str] | str | None = None,
    ) -> PortWatch:
        """Return a `PortWatch` of the entries matching every given criterion.

        ``async with registry.watch(service="x") as events: async for e in events``.
        The watch starts on entering the context (or on the first iteration);
        with ``initial`` the existing entries come first as ``added`` events
        flagged ``initial``. There is no gap: every change after the snapshot
        is reported, in order.

        A watch is a lookup made in order to connect: it sees only entries
        whose verified owner is this process's user, root, or one of
        ``trusted_users`` (default: the client's ``trusted_users``;
        `ANY_USER`: every owner). An entry of an untrusted user is never
        reported, even when it holds the name on a lower port.

        Raises
        ------
        TypeError
            If ``trusted_users`` is a single string other than `ANY_USER`.
        """
        trusted = self.trusted_users if trusted_users is None else trust(trusted_users)
        registry: Any = self
        return PortWatch(registry, Query(service, beginswith, user), initial, max_queue, trusted)

    async def wait_for(
        self,
        service: str,
        timeout: float | None = None,
        *,
        user: str | None = None,
        trusted_users: Iterable[str] | str | None = None,
    ) -> int:
        """Return the port of ``service`` as soon as it is advertised.

        Only entries of trusted owners count (see `watch`): where several
        users hold the name, the trusted entry is chosen, an untrusted one
        never is.

        Driven by a watch (no polling): returns at once if the service is
        already there, else the moment it is added.

        Parameters
        ----------
        service : `str`
            Exact service name.
        timeout : `float` or `None`
            How long to wait [s]; `None`: forever.
        user : `str` or `None`
            Only an entry of this user counts.
        trusted_users : collection of `str`, `ANY_USER` or `None`
            As for `watch`.

        Raises
        ------
        TimeoutError
            If it is not advertised within ``timeout``.
        ConnectionClosedError
            If the connection is lost meanwhile.
        """
        try:
            async with asyncio.timeout(timeout):
                watch = self.watch(service=service, user=user, trusted_users=trusted_users)
                async with watch as events:
                    async for event in events:
                        if event.kind == "added":
                            return event.port
        except TimeoutError:
            raise TimeoutError(
                f"service {service!r} was not advertised within {timeout} s"
            ) from None
        raise ConnectionClosedError("the watch ended before the service was advertised")
