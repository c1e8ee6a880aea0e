"""TAI and UTC: the conversion and its constant."""

from __future__ import annotations

import datetime
import time

import pytest

from mountcomm.sim import controller
from mountcomm.telemetry import (
    TAI_MINUS_UTC,
    TAI_MINUS_UTC_SINCE,
    format_utc,
    tai_now,
    tai_to_utc,
    utc_to_tai,
)


def test_offset_is_37_seconds_since_2017() -> None:
    assert TAI_MINUS_UTC == 37.0
    assert datetime.datetime.fromtimestamp(TAI_MINUS_UTC_SINCE, datetime.UTC) == (
        datetime.datetime(2017, 1, 1, tzinfo=datetime.UTC)
    )
    # The simulator's clock uses the same offset.
    assert controller.TAI_MINUS_UTC == TAI_MINUS_UTC


@pytest.mark.parametrize("utc", [TAI_MINUS_UTC_SINCE, 1.7e9, 1798761600.25])
def test_conversions_are_inverse(utc: float) -> None:
    assert utc_to_tai(utc) == utc + 37
    assert tai_to_utc(utc_to_tai(utc)) == utc


def test_tai_now_is_ahead_of_the_system_clock() -> None:
    before = time.time()
    now = tai_now()
    assert before + 37 <= now <= time.time() + 37


def test_format_utc() -> None:
    assert format_utc(1798761600.25) == "2027-01-01T00:00:00.250Z"
    assert format_utc(1798761600.25, date=False) == "00:00:00.250Z"
    assert format_utc(tai_to_utc(1798761637.0)) == "2027-01-01T00:00:00.000Z"
