"""`SequenceIdGenerator`: 1 … 2**31 - 1, then 1 again; one per sender."""

from __future__ import annotations

import itertools

import pytest

from mountcomm.protocol import MAX_SEQUENCE_ID, SequenceIdGenerator


def test_max_is_largest_signed_32_bit_int() -> None:
    assert MAX_SEQUENCE_ID == 2**31 - 1


def test_starts_at_one() -> None:
    assert list(itertools.islice(SequenceIdGenerator(), 5)) == [1, 2, 3, 4, 5]


def test_is_an_iterator() -> None:
    gen = SequenceIdGenerator()
    assert iter(gen) is gen
    assert next(gen) == 1
    assert [i for i, _ in zip(gen, range(2), strict=False)] == [2, 3]


def test_wraps_to_one() -> None:
    gen = SequenceIdGenerator(start=MAX_SEQUENCE_ID - 2)
    assert [next(gen) for _ in range(5)] == [
        MAX_SEQUENCE_ID - 2,
        MAX_SEQUENCE_ID - 1,
        MAX_SEQUENCE_ID,
        1,
        2,
    ]


def test_never_yields_zero_or_more_than_max() -> None:
    gen = SequenceIdGenerator(start=MAX_SEQUENCE_ID)
    values = [next(gen) for _ in range(3)]
    assert values == [MAX_SEQUENCE_ID, 1, 2]


def test_instances_are_independent() -> None:
    a, b = SequenceIdGenerator(), SequenceIdGenerator()
    assert [next(a) for _ in range(3)] == [1, 2, 3]
    assert next(b) == 1
    assert next(a) == 4
    c = SequenceIdGenerator(start=100)
    assert next(c) == 100
    assert next(b) == 2


@pytest.mark.parametrize("start", [0, -1, MAX_SEQUENCE_ID + 1])
def test_start_out_of_range(start: int) -> None:
    with pytest.raises(ValueError, match="start"):
        SequenceIdGenerator(start=start)
