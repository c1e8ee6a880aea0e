"""Sequence id generators: per connection, and one for the whole process.

A controller may still answer a command of a previous connection, or of a
previous process, after a reconnect. So that such a late reply cannot be taken
for the answer to a new command, ids are unique across connections and
processes with high probability: every generator starts at a random id in
1 … `MAX_SEQUENCE_ID` (from the operating system's randomness, so two
processes forked from one another do not share a start) and counts up from
there, wrapping to 1. Ids are never 0.

`next_sequence_id` draws from one process-wide generator; every command built
without an explicit ``sequence_id`` takes its id from it, as in the original
mount classes.
"""

from __future__ import annotations

__all__ = ["MAX_SEQUENCE_ID", "SequenceIdGenerator", "next_sequence_id", "random_sequence_id"]

import itertools
import os
import secrets

MAX_SEQUENCE_ID = 2**31 - 1


def random_sequence_id() -> int:
    """Return a random id in 1 … `MAX_SEQUENCE_ID` (from `secrets`)."""
    return 1 + secrets.randbelow(MAX_SEQUENCE_ID)


class SequenceIdGenerator:
    """Yield sequence ids ``start``, ``start + 1``, …, `MAX_SEQUENCE_ID`, 1, 2, ….

    Each connection owns one generator; nothing is shared between connections.

    Parameters
    ----------
    start : `int` or `None`, optional
        First id to return (1 … `MAX_SEQUENCE_ID`). `None` (the default): a
        random id, so that ids of different connections and processes do not
        collide.

    Raises
    ------
    ValueError
        If ``start`` is out of range.
    """

    __slots__ = ("_next",)

    def __init__(self, start: int | None = None) -> None:
        if start is None:
            start = random_sequence_id()
        elif not 1 <= start <= MAX_SEQUENCE_ID:
            raise ValueError(f"start must be in 1…{MAX_SEQUENCE_ID}, got {start}")
        self._next = start

    def __iter__(self) -> SequenceIdGenerator:
        return self

    def __next__(self) -> int:
        value = self._next
        self._next = 1 if value >= MAX_SEQUENCE_ID else value + 1
        return value


# itertools.count: next() on it is atomic (one C call), so no lock is needed.
# Held in a list so that the child of a fork can replace it.
_process_counter = [itertools.count(random_sequence_id())]


def next_sequence_id() -> int:
    """Return the next id of the process-wide generator (thread-safe).

    The generator starts at a random id and wraps from `MAX_SEQUENCE_ID` to 1;
    commands built without an explicit ``sequence_id`` take theirs from here.
    """
    return (next(_process_counter[0]) - 1) % MAX_SEQUENCE_ID + 1


def _reseed_after_fork() -> None:
    """A forked child must not repeat its parent's ids."""
    _process_counter[0] = itertools.count(random_sequence_id())


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_reseed_after_fork)
