"""The allocation table of the port registry. Pure: no I/O, no asyncio.

`PortStore` holds one `PortEntry` (port, service, user) per port, each tied to
a `Lease` (the connection or the process that owns it); those value types are
in `mountcomm.registry.entries`. Every change returns a
`Change` with the entry it concerns and the `PortEvent` s it caused, which the
daemon pushes to watchers::

    store = PortStore([(30001, 30010)], is_free=probe.port_is_free)
    change = store.allocate("mount_csc", "alice", Lease("connection", 7))
    change.entry            # PortEntry(port=30001, service='mount_csc', user='alice')
    store.end_lease(Lease("connection", 7)).events   # (PortEvent('removed', ...),)

Rules:

* Names are worked out as the NSCL port manager does, at each look: among the
  entries one user holds under one requested name, the lowest port gets the
  plain name and the others ``_1``, ``_2``, ... in port order (skipping names
  that user requested for other entries). So when the first holder of ``svc``
  leaves, the next one *becomes* ``svc``; the store reports such a rename as
  the removal of the old name and the addition of the new one. Different users
  may hold the same name.
* Each entry records its owner's verified uid (`PortEntry.uid`, `None` when
  the OS cannot tell) and the user name a client claimed, when that differs.
* Allocation hands out only a port that could be bound right now
  (`mountcomm.registry.pool`: round-robin over the pool, or the OS's choice).
* Only the lease that holds an entry may release it.
"""

from __future__ import annotations

__all__ = [
    "PortStore",
    "format_pool",
    "normalize_pool",
    "parse_pool",
]

import bisect
import re
from collections.abc import Callable, Sequence

from ..exceptions import (
    PortInUseError,
    RegistryPermissionError,
    RegistryRequestError,
    UnknownPortError,
)
from .entries import Change, EventKind, Lease, PortEntry, PortEvent, Query, validate_name
from .pool import Pool, format_pool, normalize_pool, parse_pool

_SUFFIXED = re.compile(r"(.+)_([1-9][0-9]*)")


def _always_free(port: int) -> bool:
    return True


class PortStore:
    """The registry's table of ports, services, users and leases.

    Parameters
    ----------
    pool : sequence of (`int`, `int`) or `None`
        Inclusive port ranges that `allocate` hands out. `None` (or empty): no
        pool; ``pick_ephemeral`` chooses each port.
    is_free : callable (`int`) -> `bool`
        Whether a port of the pool could be bound right now. The default says
        yes to every port (pure tests); the daemon passes a real probe.
    pick_ephemeral : callable () -> `int`, optional
        Return a port the OS just chose, or raise `OSError` (used when there
        is no pool).
    host : `str`, optional
        The host written in every entry (`PortEntry.host`); ``""`` by default.

    Notes
    -----
    Not thread-safe; the daemon uses it from its event loop only. Every method
    either raises before changing anything or completes its change. A change
    costs O(entries of the user and name concerned), whatever the table holds.
    """

    __slots__ = (
        "_base",
        "_by_lease",
        "_claimed",
        "_entries",
        "_groups",
        "_leases",
        "_pool",
        "host",
        "is_free",
        "pick_ephemeral",
    )

    def __init__(
        self,
        pool: Sequence[tuple[int, int]] | None = None,
        *,
        is_free: Callable[[int], bool] = _always_free,
        pick_ephemeral: Callable[[], int] | None = None,
        host: str = "",
    ) -> None:
        self._pool = Pool(pool)
        if not self._pool.ranges and pick_ephemeral is None:
            raise ValueError("a store without a pool needs pick_ephemeral")
        self.is_free = is_free
        self.pick_ephemeral = pick_ephemeral
        self.host = host
        self._entries: dict[int, PortEntry] = {}  # with the names as worked out now
        self._leases: dict[int, Lease] = {}
        self._by_lease: dict[Lease, set[int]] = {}
        self._base: dict[int, str] = {}  # port -> the name requested
        self._groups: dict[tuple[str, str], list[int]] = {}  # (user, base) -> sorted ports
        self._claimed: dict[int, str] = {}  # port -> claimed user name, if it differed

    # ---- queries --------------------------------------------------------------

    @property
    def pool(self) -> tuple[tuple[int, int], ...] | None:
        """The pool's ranges, or `None` if the OS picks the ports."""
        return self._pool.ranges or None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, port: object) -> bool:
        return port in self._entries

    def get(self, port: int) -> PortEntry | None:
        """Return the entry of ``port``, or `None`."""
        return self._entries.get(port)

    def lease_of(self, port: int) -> Lease | None:
        """Return the lease holding ``port``, or `None`."""
        return self._leases.get(port)

    def claimed_user(self, port: int) -> str | None:
        """Return the user name the client of ``port`` claimed, if it differed."""
        return self._claimed.get(port)

    def leases(self) -> list[Lease]:
        """Return the leases that hold at least one entry."""
        return list(self._by_lease)

    def entries(self, query: Query | None = None) -> list[PortEntry]:
        """Return the entries matching ``query`` (all if `None`), sorted by port."""
        found = (e for e in self._entries.values() if query is None or query.matches(e))
        return sorted(found)

    def entries_by_user(self) -> list[PortEntry]:
        """Return every entry sorted by user, then service name (NSCL ``LIST``)."""
        return sorted(self._entries.values(), key=lambda e: (e.user, e.service, e.port))

    # ---- changes --------------------------------------------------------------

    def allocate(
        self,
        service: str,
        user: str,
        lease: Lease,
        *,
        uid: int | None = None,
        claimed: str | None = None,
    ) -> Change:
        """Hand out a free port of the pool under ``service`` for ``user``.

        Parameters
        ----------
        service, user : `str`
            The name requested and the owner (the verified user, if known).
        lease : `Lease`
            What keeps the entry alive.
        uid : `int` or `None`
            The owner's verified uid.
        claimed : `str` or `None`
            The user name the client claimed, if it differs from ``user``.

        Returns
        -------
        change : `Change`
            The new entry (its name as worked out now) and its ``added`` event,
            after the renames it caused (if any).

        Raises
        ------
        RegistryRequestError
            If ``service`` or ``user`` is not a valid name.
        PoolExhaustedError
            If no port of the pool is both unheld and bindable.
        """
        validate_name(service)
        validate_name(user, "user")
        port = self._pool.pick(self._entries, self.is_free, self.pick_ephemeral)
        return self._add(port, service, user, lease, uid, claimed)

    def register(
        self,
        service: str,
        port: int,
        user: str,
        lease: Lease,
        *,
        uid: int | None = None,
        claimed: str | None = None,
        host: str | None = None,
    ) -> Change:
        """Advertise ``port``, which the caller has already bound, under ``service``.

        Parameters as `allocate`; ``host`` is where the port is reachable, if
        the caller says (else the store's `host`).

        Raises
        ------
        RegistryRequestError
            If a name or the host is invalid or ``port`` is not in 1 … 65535.
        PortInUseError
            If ``port`` is already in the table.
        """
        validate_name(service)
        validate_name(user, "user")
        if host is not None and (validate_name(host, "host") != host or "/" in host):
            raise RegistryRequestError(f"bad host {host!r}: '/' is not allowed")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise RegistryRequestError(f"port must be an integer 1…65535, got {port!r}")
        held = self._entries.get(port)
        if held is not None:
            raise PortInUseError(
                f"port {port} is already registered as {held.service!r} by user {held.user!r}"
            )
        return self._add(port, service, user, lease, uid, claimed, host)

    def release(self, port: int, lease: Lease) -> Change:
        """Remove the entry of ``port``, which ``lease`` must hold.

        Raises
        ------
        UnknownPortError
            If the table holds no such port.
        RegistryPermissionError
            If another lease holds it.
        """
        entry = self._entries.get(port)
        if entry is None:
            raise UnknownPortError(f"port {port!r} is not held by anyone")
        if self._leases[port] != lease:
            raise RegistryPermissionError(
                f"port {port} ({entry.service!r}, user {entry.user!r}) is held by another "
                "client; a client may release only its own ports"
            )
        return Change(entry, self._remove(port))

    def end_lease(self, lease: Lease) -> Change:
        """Remove every entry ``lease`` holds (idempotent); its events in order."""
        return Change(None, self._remove(*self._by_lease.get(lease, ())))

    def clear(self) -> Change:
        """Remove every entry; one event per entry."""
        return Change(None, self._remove(*self._entries))  # no survivor: no rename

    # ---- names ----------------------------------------------------------------

    def _names(self, key: tuple[str, str]) -> dict[int, str]:
        """The names of the group ``key`` as worked out now: port -> name."""
        user, base = key
        ports = self._groups.get(key)
        if not ports:
            return {}
        names = {ports[0]: base}
        suffix = 0
        for port in ports[1:]:
            suffix += 1
            while (user, f"{base}_{suffix}") in self._groups:
                suffix += 1
            names[port] = f"{base}_{suffix}"
        return names

    def _affected(self, user: str, base: str) -> list[tuple[str, str]]:
        """Groups whose names may change when ``(user, base)`` appears or goes."""
        keys = [(user, base)]
        match = _SUFFIXED.fullmatch(base)
        if match is not None and (user, match.group(1)) in self._groups:
            keys.append((user, match.group(1)))
        return keys

    def _rename(self, before: dict[int, str], keys: list[tuple[str, str]]) -> list[PortEvent]:
        """Bring ``_entries`` up to date for ``keys``; return removed-then-added events.

        ``before``: the names the entries had (none for a new entry: only added).
        """
        removed: list[PortEvent] = []
        added: list[PortEvent] = []
        after = {port: name for key in keys for port, name in self._names(key).items()}
        for port, name in sorted(after.items()):
            old = before.get(port)
            if old != name:
                entry = self._entries[port]
                if old is not None:
                    removed.append(PortEvent.of(EventKind.REMOVED, entry))
                entry = self._entries[port] = PortEntry(
                    port, name, entry.user, entry.host, entry.uid
                )
                added.append(PortEvent.of(EventKind.ADDED, entry))
        return removed + added

    def _snapshot(self, keys: list[tuple[str, str]]) -> dict[int, str]:
        """The names the entries of ``keys`` have now: port -> name."""
        return {p: self._entries[p].service for key in keys for p in self._groups.get(key, ())}

    def _add(
        self,
        port: int,
        service: str,
        user: str,
        lease: Lease,
        uid: int | None,
        claimed: str | None,
        host: str | None = None,
    ) -> Change:
        where = host or self.host
        keys = self._affected(user, service)
        fresh = len(keys) == 1 and (user, service) not in self._groups  # renames nothing
        before = {} if fresh else self._snapshot(keys)
        bisect.insort(self._groups.setdefault((user, service), []), port)
        self._base[port] = service
        self._leases[port] = lease
        self._by_lease.setdefault(lease, set()).add(port)
        if claimed is not None and claimed != user:
            self._claimed[port] = claimed
        entry = self._entries[port] = PortEntry(port, service, user, where, uid)
        if fresh:
            return Change(entry, (PortEvent.of(EventKind.ADDED, entry),))
        events = self._rename(before, keys)  # names the new entry: its added event
        return Change(self._entries[port], tuple(events))

    def _remove(self, *ports: int) -> tuple[PortEvent, ...]:
        """Remove ``ports``: their ``removed`` events (in port order), then the renames.

        Removing several at once renames each survivor once at most (a lease
        that held ``svc`` and ``svc_1`` causes no rename at all).
        """
        if len(ports) == 1:  # the common case: one entry, alone under its name
            entry = self._entries[ports[0]]
            key = (entry.user, self._base[ports[0]])
            if self._groups[key] == [ports[0]] and len(self._affected(*key)) == 1:
                return (PortEvent.of(EventKind.REMOVED, self._drop(ports[0])),)  # no rename
        affected = (self._affected(self._entries[p].user, self._base[p]) for p in ports)
        keys = list(dict.fromkeys(key for keys in affected for key in keys))
        before = self._snapshot(keys)
        removed: list[PortEvent] = []
        for port in sorted(ports):
            removed.append(PortEvent.of(EventKind.REMOVED, self._drop(port)))
            before.pop(port)
        return (*removed, *self._rename(before, keys))

    def _drop(self, port: int) -> PortEntry:
        """Forget ``port`` in every table; return its entry (no event, no rename)."""
        entry = self._entries.pop(port)
        lease = self._leases.pop(port)
        held = self._by_lease[lease]
        held.discard(port)
        if not held:
            del self._by_lease[lease]
        key = (entry.user, self._base.pop(port))
        self._claimed.pop(port, None)
        group = self._groups[key]
        group.remove(port)
        if not group:
            del self._groups[key]
        return entry
