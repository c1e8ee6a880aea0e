"""The pure retry policy."""

from __future__ import annotations

import itertools
import random

import pytest

from mountcomm.net import backoff
from mountcomm.net.retry import RetryDelays, RetryPolicy


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


# ---- RetryPolicy: one loop's settings, used by every reconnect loop ----------------------------


def test_policy_delays_are_its_backoff() -> None:
    policy = RetryPolicy(0.1, factor=2, maximum=0.5, jitter=0.2)
    assert take(50, policy.delays(random.Random(7))) == take(
        50, backoff(0.1, factor=2, maximum=0.5, jitter=0.2, rng=random.Random(7))
    )
    fresh = policy.delays()
    assert 0.08 <= next(fresh) <= 0.1  # every call starts afresh


def test_policy_tracker_carries_the_stable_time() -> None:
    policy = RetryPolicy(0.1, factor=2, stable_time=2.0)
    tracker = policy.tracker()
    assert tracker.stable_time == 2.0
    tracker.attempt_failed("a")
    assert take(3, iter(lambda: tracker.next_delay("a"), None)) == pytest.approx([0.1, 0.2, 0.4])
    tracker.connection_ended("a", 1.9)  # died young: the backoff goes on
    assert tracker.next_delay("a") == pytest.approx(0.8)
    tracker.connection_ended("a", 2.0)  # lived: afresh, and the first attempt waits nothing
    assert tracker.next_delay("a") == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": 0.1, "factor": 0.5},
        {"initial": 0.1, "maximum": 0.05},
        {"initial": 0.1, "jitter": 2},
        {"initial": 0.1, "stable_time": -1},
        {"initial": 0.1, "stable_time": float("inf")},
    ],
)
def test_policy_refuses_bad_settings_when_made(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_every_reconnect_loop_takes_a_retry_policy() -> None:
    from mountcomm.proxy import telemetry as relay
    from mountcomm.registry import resume
    from mountcomm.registry.cluster import link
    from mountcomm.sim import console_port

    registry = resume.RECONNECT_POLICY
    assert registry == RetryPolicy(0.05, factor=2.0, maximum=0.4, jitter=0.25, stable_time=2.0)
    assert registry.maximum == resume.MAX_RECONNECT_DELAY
    assert registry.stable_time == resume.STABLE_AFTER
    assert isinstance(link.SESSION_RETRY, RetryPolicy)
    assert take(6, relay.RETRY.delays()) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0])
    assert take(7, console_port.CONNECT_RETRY.delays()) == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )
