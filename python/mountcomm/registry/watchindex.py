"""Which watches an event concerns, without looking at the others. Pure.

The daemon's watches are indexed by the exact service name they follow; the
few that follow a prefix, a user or everything sit in one list that every
event visits. So an event costs O(watches of its service + general watches),
however many watches of other services exist::

    index = WatchIndex()
    index.add(session, 1, Query(service="mount.csc.command"))
    index.route([PortEvent("added", 5000, "other", "alice")])   # {}: nothing visited
"""

from __future__ import annotations

__all__ = ["WatchIndex"]

from collections.abc import Hashable, Sequence
from typing import Any

from .entries import PortEvent, Query


class WatchIndex:
    """Watches of every connection, indexed by service name.

    A watch is named by its owner (any hashable, e.g. a session) and its id,
    unique per owner.
    """

    __slots__ = ("_by_service",)

    def __init__(self) -> None:
        # service -> watches; None -> the general ones (prefix, user or everything)
        self._by_service: dict[str | None, dict[tuple[Hashable, Any], Query]] = {}

    def __len__(self) -> int:
        return sum(len(w) for w in self._by_service.values())

    def add(self, owner: Hashable, watch_id: Any, query: Query) -> None:
        """Index the watch ``watch_id`` of ``owner`` (ids are unique per owner)."""
        self._by_service.setdefault(query.service, {})[(owner, watch_id)] = query

    def remove(self, owner: Hashable, watch_id: Any, query: Query) -> None:
        """Forget the watch ``watch_id`` of ``owner``, made with ``query`` (idempotent)."""
        watches = self._by_service.get(query.service)
        if watches is not None:
            watches.pop((owner, watch_id), None)
            if not watches:
                del self._by_service[query.service]

    def route(
        self, events: Sequence[PortEvent], only: Hashable | None = None
    ) -> dict[Hashable, list[tuple[Any, PortEvent]]]:
        """Return, per owner, the (watch id, event) pairs to deliver, in event order.

        Parameters
        ----------
        events : sequence of `PortEvent`
            The changes, in order.
        only : hashable, optional
            Route to this owner's watches only.
        """
        out: dict[Hashable, list[tuple[Any, PortEvent]]] = {}
        for event in events:
            for watches in (self._by_service.get(event.service), self._by_service.get(None)):
                if not watches:
                    continue
                for (owner, watch_id), query in watches.items():
                    if (only is None or owner is only) and query.matches(event):
                        out.setdefault(owner, []).append((watch_id, event))
        return out
