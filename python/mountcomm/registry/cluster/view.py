"""The cluster view a daemon mirrors from etcd. Pure: no I/O, no asyncio.

`ClusterView` holds the records other daemons published (keyed by etcd key)
and turns etcd's watch events and full snapshots into `PortEvent` s for the
daemon's watchers::

    view = ClusterView(own_daemon="d1")
    view.put(key, value, revision=7)      # [PortEvent('added', ..., host='10.0.0.2')]
    view.delete(key, revision=8)          # [PortEvent('removed', ...)]
    view.resync(snapshot, revision=12)    # the difference, as events

Rules:

* The records of this daemon (``own_daemon``) are kept out of the view: its
  own store is the truth about them, and they reach its watchers from there.
* A put that changes nothing a watcher sees (only the time, or the lease) is
  no event: a daemon that publishes its entries again under a new lease
  causes no events anywhere.
* A value that is not a valid record is counted (`invalid`) and otherwise
  ignored; an earlier valid record under that key is removed.
* `revision` is the last etcd revision applied: a broken watch resumes from
  ``revision + 1``.
"""

from __future__ import annotations

__all__ = ["ClusterView"]

from collections.abc import Iterable
from dataclasses import replace

from ..entries import EventKind, PortEntry, PortEvent, Query
from .records import ClusterRecord, decode_record


class ClusterView:
    """Mirror of the records other daemons published in etcd.

    Parameters
    ----------
    own_daemon : `str`
        Id of this daemon: its own records are left out.

    Attributes
    ----------
    revision : `int`
        The last etcd revision applied (0: none yet).
    invalid : `int`
        How many invalid values were seen.
    """

    __slots__ = ("_records", "invalid", "own_daemon", "revision")

    def __init__(self, own_daemon: str) -> None:
        self.own_daemon = own_daemon
        self.revision = 0
        self.invalid = 0
        self._records: dict[bytes, ClusterRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[ClusterRecord]:
        """The records of the view, by host then port."""
        return sorted(self._records.values(), key=lambda r: (r.host, r.port))

    def entries(self, query: Query | None = None) -> list[PortEntry]:
        """The view's entries matching ``query`` (all if `None`), sorted."""
        found = (r.entry for r in self._records.values())
        return sorted(e for e in found if query is None or query.matches(e))

    def put(self, key: bytes, value: bytes, revision: int) -> list[PortEvent]:
        """Apply a put of ``key`` at ``revision``; return the events it causes."""
        self.revision = max(self.revision, revision)
        return self._set(key, self._decode(key, value))

    def delete(self, key: bytes, revision: int) -> list[PortEvent]:
        """Apply a delete of ``key`` at ``revision``; return the events it causes."""
        self.revision = max(self.revision, revision)
        return self._set(key, None)

    def resync(self, items: Iterable[tuple[bytes, bytes]], revision: int) -> list[PortEvent]:
        """Replace the view by a full snapshot taken at ``revision``.

        Returns the events that turn the old view into the new one: removals
        first (by key), then additions.
        """
        decoded = ((key, self._decode(key, value)) for key, value in items)
        fresh = {key: record for key, record in decoded if record is not None}
        events: list[PortEvent] = []
        for key in sorted(self._records):
            if key not in fresh or _differs(self._records[key], fresh[key]):
                events.append(PortEvent.of(EventKind.REMOVED, self._records[key].entry))
        for key in sorted(fresh):
            old = self._records.get(key)
            if old is None or _differs(old, fresh[key]):
                events.append(PortEvent.of(EventKind.ADDED, fresh[key].entry))
        self._records = fresh
        self.revision = revision
        return events

    def _decode(self, key: bytes, value: bytes) -> ClusterRecord | None:
        """The record a value holds; `None` if it is invalid (counted) or this daemon's."""
        try:
            record = decode_record(key, value)
        except ValueError:
            self.invalid += 1
            return None
        return None if record.daemon == self.own_daemon else record

    def _set(self, key: bytes, record: ClusterRecord | None) -> list[PortEvent]:
        old = self._records.get(key)
        if old is not None and record is not None and not _differs(old, record):
            self._records[key] = record
            return []
        events = []
        if old is not None:
            del self._records[key]
            events.append(PortEvent.of(EventKind.REMOVED, old.entry))
        if record is not None:
            self._records[key] = record
            events.append(PortEvent.of(EventKind.ADDED, record.entry))
        return events


def _differs(a: ClusterRecord, b: ClusterRecord) -> bool:
    """Would a watcher see a difference between two records of one key (not only the time)?"""
    return replace(a, time=b.time) != b
