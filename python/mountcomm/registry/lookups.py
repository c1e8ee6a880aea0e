"""Lookups of a `PortRegistry`: list, find, and the trusted lookups made to connect.

`watch` and `wait_for` are lookups made in order to connect: they accept only
entries whose verified owner is this process's user, root, or a user the
caller trusts (``trusted_users``). `list_ports` and `find` show every entry.

`RegistryLookups` is a mixin that needs of its class only public members:
`request`, ``watches`` and ``trusted_users``.
"""

from __future__ import annotations

__all__ = ["RegistryLookups"]

import asyncio
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..exceptions import ConnectionClosedError
from . import native
from .entries import EventKind, PortEntry, Query
from .state import trust
from .watch import PortWatch, WatchSet

R = TypeVar("R", bound=native.Reply)


class RegistryLookups:
    """The lookup methods of `PortRegistry` (a mixin).

    Attributes
    ----------
    watches : `WatchSet`
        The class's open watches.
    trusted_users : `tuple` [`str`] or `None`
        The default of ``trusted_users``.
    """

    watches: WatchSet
    trusted_users: tuple[str, ...] | None

    async def request(
        self,
        request: native.Request[R],
        *,
        on_reply: Callable[[int, R], None] | None = None,
    ) -> R:
        """Send ``request`` and return its reply (the class implements it)."""
        raise NotImplementedError

    async def list_ports(self) -> list[PortEntry]:
        """Return every entry, sorted by port."""
        return list((await self.request(native.ListPorts())).entries)

    async def find(
        self,
        service: str | None = None,
        beginswith: str | None = None,
        user: str | None = None,
    ) -> list[PortEntry]:
        """Return the entries matching every given criterion, sorted by port."""
        reply = await self.request(native.Find(service, beginswith, user))
        return list(reply.entries)

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
        return PortWatch(
            self.watches, Query(service, beginswith, user), initial, max_queue, trusted
        )

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
                        if event.kind is EventKind.ADDED:
                            return event.port
        except TimeoutError:
            raise TimeoutError(
                f"service {service!r} was not advertised within {timeout} s"
            ) from None
        raise ConnectionClosedError("the watch ended before the service was advertised")
