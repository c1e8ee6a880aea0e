"""The keys a registry daemon wants etcd to hold, and how far etcd has them. Pure.

::

    keys = DesiredKeys("/mountcomm/", "10.0.0.1", daemon="d1")
    keys.change([PortEvent.of(EventKind.ADDED, entry)], now=time.time())
    batch = keys.next_batch(512)     # [(key, value)]: send them, in order
    keys.acknowledged()              # etcd answered one of them
    keys.settled                     # True once every change is sent and answered
    keys.republish(entries, snapshot, now)   # a new session: everything again

A `DesiredKeys` holds, for one daemon, the record each of its keys should
have (none: the key should not exist), which keys changed since they were
last sent (in the order of their last change: a key changed again while
unsent moves to the end), and how many sent changes await etcd's answer. The
asyncio glue (`ClusterLink` and its publisher) sends what `next_batch` gives
and reports each answer; on a new etcd session it calls `republish` with the
local entries and what etcd holds.
"""

from __future__ import annotations

__all__ = ["Change", "DesiredKeys"]

from collections.abc import Iterable, Sequence
from dataclasses import replace

from ..entries import EventKind, PortEntry, PortEvent
from .records import ClusterRecord, decode_record, record_key

Change = tuple[bytes, bytes | None]
"""A change to send: (key, value), or (key, `None`) to delete the key."""


class DesiredKeys:
    """What one daemon wants etcd to hold under its lease (see the module docstring).

    Parameters
    ----------
    prefix : `str`
        The cluster's key prefix.
    advertise_host : `str`
        The host of this daemon's entries that carry none.
    daemon : `str`
        This daemon's id, written in its records.

    Attributes
    ----------
    records : `dict` [`bytes`, `ClusterRecord`]
        Key -> the record it should hold.
    in_flight : `int`
        Changes given by `next_batch` and not yet `acknowledged`.
    """

    def __init__(self, prefix: str, advertise_host: str, daemon: str) -> None:
        self.prefix = prefix
        self.advertise_host = advertise_host
        self.daemon = daemon
        self.records: dict[bytes, ClusterRecord] = {}
        self.in_flight = 0
        self._unsent: dict[bytes, None] = {}  # keys changed since last sent, in order

    @property
    def unsent(self) -> int:
        """Keys whose change is not sent yet."""
        return len(self._unsent)

    @property
    def settled(self) -> bool:
        """True when every change has been sent and answered."""
        return not self._unsent and not self.in_flight

    def unsent_keys(self) -> list[bytes]:
        """The keys whose change is not sent yet, in the order they will be."""
        return list(self._unsent)

    def _mark(self, key: bytes) -> None:
        self._unsent.pop(key, None)
        self._unsent[key] = None

    def _record(self, entry: PortEntry | PortEvent, time: float) -> tuple[bytes, ClusterRecord]:
        host = entry.host or self.advertise_host
        record = ClusterRecord(
            entry.service, host, entry.port, entry.user, entry.uid, time, self.daemon
        )
        return record_key(self.prefix, host, entry.port), record

    def change(self, events: Iterable[PortEvent], now: float) -> None:
        """The daemon's entries changed at ``now`` [UTC unix s]: want etcd to follow."""
        for event in events:
            key, record = self._record(event, now)
            if event.kind is EventKind.ADDED:
                self.records[key] = record
            else:
                self.records.pop(key, None)
            self._mark(key)

    def next_batch(self, limit: int) -> list[Change]:
        """The oldest unsent changes, so that at most ``limit`` are in flight; now in flight."""
        batch: list[Change] = []
        while self._unsent and self.in_flight < limit:
            key = next(iter(self._unsent))
            del self._unsent[key]
            record = self.records.get(key)
            batch.append((key, None if record is None else record.encode()))
            self.in_flight += 1
        return batch

    def unsent_again(self, changes: Sequence[Change]) -> None:
        """Changes of the last batch could not be sent: unsent again, first in line."""
        rest = self._unsent
        self._unsent = dict.fromkeys(key for key, _ in changes)
        for key in rest:
            self._unsent.setdefault(key, None)
        self.in_flight -= len(changes)

    def acknowledged(self) -> None:
        """etcd answered one change in flight (they are answered in the order sent)."""
        if self.in_flight <= 0:
            raise ValueError("no change is in flight")
        self.in_flight -= 1

    def republish(
        self,
        entries: Iterable[PortEntry],
        snapshot: Iterable[tuple[bytes, bytes]],
        now: float,
    ) -> None:
        """A new session: want exactly ``entries``, and delete this daemon's other keys.

        ``snapshot`` is what etcd holds under the prefix. Every entry is to be
        sent again (under the new lease), keeping the time of a key already
        wanted; every key of this daemon in the snapshot that is not wanted
        is to be deleted. Nothing is in flight any more (the old session's
        answers no longer count).
        """
        old = self.records
        self.records = {}
        self._unsent = {}
        self.in_flight = 0
        for entry in entries:
            key, record = self._record(entry, now)
            kept = old.get(key)
            self.records[key] = record if kept is None else replace(record, time=kept.time)
            self._mark(key)
        for key, value in snapshot:
            if key not in self.records and _daemon_of(key, value) == self.daemon:
                self._mark(key)


def _daemon_of(key: bytes, value: bytes) -> str | None:
    try:
        return decode_record(key, value).daemon
    except ValueError:
        return None
