"""The shortened demonstration plan the CLI tests run (fast timings, short tracking)."""

from __future__ import annotations

from mountcomm.cli.demo import Plan
from mountcomm.sim.devices.base import Timings

SHORT_PLAN = Plan(
    Timings.fast(0.01),
    azimuth=3.0,
    elevation=84.0,
    track_seconds=0.3,
    track_rate=0.05,
    telemetry_hz=50.0,
)
