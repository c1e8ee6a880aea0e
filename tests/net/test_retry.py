"""The pure retry policy."""

from __future__ import annotations

import itertools
import random

import pytest

from mountcomm.net import backoff
from mountcomm.net.retry import RetryDelays


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


def test_retry_delays_are_owed_per_address_and_reset_by_a_stable_connection() -> None:
    delays = RetryDelays(lambda: backoff(0.1, factor=2), stable_time=1.0)
    assert delays.next_delay(5000) == 0.0  # the first attempt waits nothing
    delays.attempt_failed(5000)
    assert delays.owed(5000) and not delays.owed(6000)
    assert [delays.next_delay(5000) for _ in range(3)] == [0.1, 0.2, 0.4]
    assert delays.next_delay(6000) == 0.0  # another address (a peer found again by name)
    delays.connected()
    assert not delays.owed(5000)
    delays.connection_ended(5000, lifetime=0.01)  # accepted, then dropped at once
    assert delays.next_delay(5000) == 0.8  # the backoff goes on
    delays.connected()
    delays.connection_ended(5000, lifetime=1.0)  # lived long enough
    assert not delays.owed(5000)
    delays.attempt_failed(5000)
    assert delays.next_delay(5000) == 0.1  # afresh


def test_retry_delays_refuse_a_bad_stable_time() -> None:
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="stable_time"):
            RetryDelays(lambda: backoff(0.1), stable_time=bad)
