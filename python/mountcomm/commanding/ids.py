"""Sequence ids of one connection: a random start, wrap-around, no reuse of recent ids.

A controller may answer a command late: after the command timed out, after the
connection was lost, even after the console process was restarted. A late reply
must never resolve a newer command, so ids must not repeat across connections and
processes (see doc/commanding.md, "Sequence ids"):

* each connection starts at a random id in 1 … `MAX_SEQUENCE_ID` and wraps, so two
  connections (of this process or another) share ids only by a chance of about
  (commands sent) / 2**31;
* within one `MountClient`, a new connection also skips every id that its
  recent connections issued (`IdRange`), so a late reply to one of them can never
  match a command of the new connection.

Pure: no I/O, no event loop.
"""

from __future__ import annotations

__all__ = ["ConnectionIds", "IdRange", "random_sequence_start"]

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from ..protocol.sequence import MAX_SEQUENCE_ID, SequenceIdGenerator

MAX_RETIRED_SPAN = MAX_SEQUENCE_ID // 2
"""At most this many ids of earlier connections are kept out of use (the newest)."""


def random_sequence_start() -> int:
    """Return a random first sequence id in 1 … `MAX_SEQUENCE_ID` (uniform, unpredictable)."""
    return secrets.randbelow(MAX_SEQUENCE_ID) + 1


@dataclass(frozen=True, slots=True)
class IdRange:
    """``count`` consecutive sequence ids from ``start``, wrapping after `MAX_SEQUENCE_ID`.

    Attributes
    ----------
    start : `int`
        The first id (1 … `MAX_SEQUENCE_ID`).
    count : `int`
        How many ids (0 … `MAX_SEQUENCE_ID`).
    """

    start: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.start <= MAX_SEQUENCE_ID:
            raise ValueError(f"start must be in 1…{MAX_SEQUENCE_ID}, got {self.start}")
        if not 0 <= self.count <= MAX_SEQUENCE_ID:
            raise ValueError(f"count must be in 0…{MAX_SEQUENCE_ID}, got {self.count}")

    def __contains__(self, sequence_id: object) -> bool:
        if not isinstance(sequence_id, int):
            return False
        return (sequence_id - self.start) % MAX_SEQUENCE_ID < self.count

    @property
    def end(self) -> int:
        """The id just after the range (wrapping)."""
        return (self.start - 1 + self.count) % MAX_SEQUENCE_ID + 1


class ConnectionIds:
    """Iterator over the sequence ids of one connection.

    Parameters
    ----------
    start : `int` or `None`, optional
        The first id to try (1 … `MAX_SEQUENCE_ID`); `None`: a random one.
    retired : iterable of `IdRange`, optional
        Ids of earlier connections, oldest first; they are skipped. Only the
        newest ranges, up to `MAX_RETIRED_SPAN` ids in all, are kept.

    Notes
    -----
    Ids increase by one and wrap from `MAX_SEQUENCE_ID` to 1, jumping over the
    retired ranges. Amortised O(1) per id: the distance to the next retired
    range is computed only when it is reached.
    """

    __slots__ = ("_first", "_free", "_generator", "_last", "_retired", "_upcoming")

    def __init__(self, start: int | None = None, retired: Iterable[IdRange] = ()) -> None:
        kept: list[IdRange] = []
        span = 0
        for rng in reversed([r for r in retired if r.count]):
            if span + rng.count > MAX_RETIRED_SPAN:
                break
            kept.append(rng)
            span += rng.count
        self._retired = tuple(kept)
        first = random_sequence_start() if start is None else start
        self._generator = SequenceIdGenerator(first)  # validates ``first``
        self._upcoming = first
        self._free = 0  # ids that may be issued before looking at the retired ranges again
        self._first: int | None = None
        self._last = 0

    @property
    def retired(self) -> tuple[IdRange, ...]:
        """The retired ranges in use (newest first)."""
        return self._retired

    @property
    def issued(self) -> IdRange:
        """The span of ids issued so far (from the first to the last, wrapping)."""
        if self._first is None:
            return IdRange(self._upcoming, 0)
        return IdRange(self._first, (self._last - self._first) % MAX_SEQUENCE_ID + 1)

    def __iter__(self) -> ConnectionIds:
        return self

    def __next__(self) -> int:
        if self._free <= 0:
            self._skip_retired()
        value = next(self._generator)
        self._free -= 1
        self._upcoming = 1 if value >= MAX_SEQUENCE_ID else value + 1
        if self._first is None:
            self._first = value
        self._last = value
        return value

    def _skip_retired(self) -> None:
        """Move past any retired range holding the next id; count the free ids after it."""
        upcoming = self._upcoming
        # The kept ranges cover at most half of all ids: each is jumped at most once.
        for _ in range(len(self._retired) + 1):
            holder = next((r for r in self._retired if upcoming in r), None)
            if holder is None:
                break
            upcoming = holder.end
        if upcoming != self._upcoming:
            self._generator = SequenceIdGenerator(upcoming)
            self._upcoming = upcoming
        self._free = min(
            ((r.start - upcoming) % MAX_SEQUENCE_ID for r in self._retired),
            default=MAX_SEQUENCE_ID,
        )
