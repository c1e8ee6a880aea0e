"""The suite's one time unit and pytest-timeout's limit follow the factor."""

from __future__ import annotations

import pytest

from tests import timing
from tests.conftest import TEST_LIMIT


@pytest.mark.parametrize(("text", "factor"), [("1", 1.0), ("3", 3.0), ("0.5", 0.5)])
def test_the_factor_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, factor: float
) -> None:
    monkeypatch.setenv("MOUNTCOMM_TEST_TIMEOUT_FACTOR", text)
    assert timing._factor() == factor


def test_the_factor_defaults_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOUNTCOMM_TEST_TIMEOUT_FACTOR", raising=False)
    assert timing._factor() == 1.0


@pytest.mark.parametrize("text", ["", "three", "0", "-2", "nan"])
def test_a_bad_factor_is_named(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("MOUNTCOMM_TEST_TIMEOUT_FACTOR", text)
    with pytest.raises(ValueError, match="MOUNTCOMM_TEST_TIMEOUT_FACTOR"):
        timing._factor()


def test_every_bound_is_a_multiple_of_the_unit() -> None:
    assert timing.UNIT == timing.FACTOR
    assert (timing.T, timing.LONG, TEST_LIMIT) == (
        5 * timing.UNIT,
        20 * timing.UNIT,
        60 * timing.UNIT,
    )


def test_property_tests_have_no_wall_clock_checks() -> None:
    """Load slows examples and their generation; the suite must not fail for it."""
    from hypothesis import HealthCheck, settings

    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check
