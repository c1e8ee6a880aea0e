"""Sequence ids per connection: random start, wrap-around, retired ranges skipped (pure)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mountcomm.commanding import CommandTracker
from mountcomm.commanding.ids import (
    MAX_RETIRED_SPAN,
    ConnectionIds,
    IdRange,
    random_sequence_start,
)
from mountcomm.protocol import MAX_SEQUENCE_ID, commands

M = MAX_SEQUENCE_ID


def take(ids: ConnectionIds, n: int) -> list[int]:
    return list(itertools.islice(ids, n))


def test_random_start_is_in_range_and_varies() -> None:
    starts = {random_sequence_start() for _ in range(200)}
    assert all(1 <= s <= M for s in starts)
    # 200 draws from 2**31 values: a repeat has a chance of about 1e-5.
    assert len(starts) >= 199


def test_default_start_is_random_and_increments() -> None:
    a, b = ConnectionIds(), ConnectionIds()
    first_a, first_b = take(a, 3), take(b, 3)
    assert first_a[0] != first_b[0]  # equal with a chance of 1 in 2**31
    for ids in (first_a, first_b):
        assert ids == [ids[0], ids[0] % M + 1, (ids[0] + 1) % M + 1]


def test_explicit_start_and_wrap() -> None:
    ids = ConnectionIds(M - 1)
    assert take(ids, 4) == [M - 1, M, 1, 2]
    assert ids.issued == IdRange(M - 1, 4)


def test_invalid_start_is_refused() -> None:
    for bad in (0, -1, M + 1):
        with pytest.raises(ValueError, match="start"):
            ConnectionIds(bad)


def test_id_range_membership_wraps() -> None:
    rng = IdRange(M - 1, 3)
    assert [i in rng for i in (M - 2, M - 1, M, 1, 2)] == [False, True, True, True, False]
    assert rng.end == 2
    assert "1" not in rng  # not an id
    assert 5 not in IdRange(5, 0)
    with pytest.raises(ValueError, match="start"):
        IdRange(0, 1)
    with pytest.raises(ValueError, match="count"):
        IdRange(1, M + 1)


def test_retired_ranges_are_skipped() -> None:
    retired = [IdRange(10, 5), IdRange(17, 2)]  # 10..14 and 17..18
    ids = ConnectionIds(8, retired)
    assert take(ids, 6) == [8, 9, 15, 16, 19, 20]
    # Starting inside a retired range jumps past it at once.
    assert take(ConnectionIds(12, retired), 2) == [15, 16]
    # Adjacent ranges chain; a range that wraps is skipped across the wrap.
    chained = ConnectionIds(M - 1, [IdRange(M, 2), IdRange(2, 3)])
    assert take(chained, 3) == [M - 1, 5, 6]


def test_only_the_newest_retired_ranges_are_kept() -> None:
    half = MAX_RETIRED_SPAN
    old, new = IdRange(1, half), IdRange(half + 1, 10)
    ids = ConnectionIds(5, [old, new])  # oldest first: `old` does not fit beside `new`
    assert ids.retired == (new,)
    assert take(ids, 1) == [5]
    assert take(ConnectionIds(half + 1, [old, new]), 1) == [half + 11]


def test_skipping_is_amortised() -> None:
    """The distance to the next retired range is computed once, then counted down."""
    ids = ConnectionIds(1, [IdRange(100_000, 10)])
    assert next(ids) == 1
    assert ids._free == 99_998  # ids 2 .. 99_999 need no look at the ranges
    assert take(ids, 99_998)[-1] == 99_999
    assert ids._free == 0
    assert next(ids) == 100_010


async def test_tracker_never_reuses_retired_ids() -> None:
    first = CommandTracker(first_sequence_id=100)
    sent = [first.start(commands.Enable()) for _ in range(5)]
    retired = first.issued_ids
    assert retired == IdRange(100, 5)
    second = CommandTracker(first_sequence_id=102, retired_ids=[retired])
    later = second.start(commands.Enable())
    assert later.sequence_id == 105
    first.connection_lost()
    second.connection_lost()
    for futures in [*sent, later]:
        with pytest.raises(ConnectionError):
            await futures.wait()


async def test_tracker_default_start_is_random() -> None:
    a, b = CommandTracker(), CommandTracker()
    started = [t.start(commands.Enable()) for t in (a, b)]
    assert started[0].sequence_id != started[1].sequence_id  # equal: a chance of 1 in 2**31
    for tracker, futures in zip((a, b), started, strict=True):
        tracker.connection_lost()
        with pytest.raises(ConnectionError):
            await futures.wait()


@given(
    start=st.integers(1, M),
    near=st.lists(st.tuples(st.integers(-20, 500), st.integers(0, 50)), max_size=6),
)
def test_issued_ids_avoid_retired_ranges_and_do_not_repeat(
    start: int, near: list[tuple[int, int]]
) -> None:
    # Retired ranges around the start (wrapping), where they matter.
    ranges = [IdRange((start - 1 + offset) % M + 1, count) for offset, count in near]
    ids = ConnectionIds(start, ranges)
    issued = take(ids, 400)
    assert len(set(issued)) == len(issued)
    assert all(1 <= i <= M for i in issued)
    assert not any(i in r for i in issued for r in ranges)
    span = ids.issued
    assert span.start == issued[0]
    assert all(i in span for i in issued)
    # Without retired ranges the ids are consecutive from the start.
    if not any(r.count for r in ranges):
        assert issued[:2] == [start, start % M + 1]
