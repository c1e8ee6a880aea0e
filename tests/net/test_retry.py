"""The pure retry policy."""

from __future__ import annotations

import itertools
import random

import pytest

from mountcomm.net import backoff


def take(n: int, it: object) -> list[float]:
    return list(itertools.islice(it, n))  # type: ignore[call-overload]


def test_constant_by_default() -> None:
    assert take(5, backoff(0.1)) == [0.1] * 5


def test_grows_and_caps() -> None:
    assert take(6, backoff(0.1, factor=2, maximum=0.5)) == pytest.approx(
        [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    )


def test_jitter_stays_within_bounds_and_is_reproducible() -> None:
    delays = take(200, backoff(1.0, jitter=0.25, rng=random.Random(3)))
    assert all(0.75 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100
    assert delays == take(200, backoff(1.0, jitter=0.25, rng=random.Random(3)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": 1, "factor": 0.5},
        {"initial": 1, "maximum": 0.5},
        {"initial": 1, "jitter": 1.5},
    ],
)
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        next(backoff(**kwargs))
