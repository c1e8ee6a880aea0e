"""Kinematics: profiles respect the limits and arrive when predicted (no event loop)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountcomm.sim.motion import (
    AxisLimits,
    Kinematics,
    Path,
    plan_hold,
    plan_move,
    plan_stop,
    plan_track,
)

from .sim_helpers import EL_LIMITS

AZ = AxisLimits(-270.0, 270.0, 7.0, 7.0)
EPS = 1e-6


def check_path(path: Path, limits: AxisLimits, vmax: float, amax: float) -> None:
    """Velocity and acceleration within bounds, continuous position and velocity."""
    for seg in path.segments:
        assert abs(seg.acceleration) <= amax * (1 + EPS)
        assert abs(seg.velocity) <= vmax * (1 + EPS) + EPS
    for a, b in zip(path.segments, path.segments[1:], strict=False):
        end = a.at(b.start)
        assert b.start >= a.start
        assert end.velocity == pytest.approx(b.velocity, abs=1e-6)
        assert end.position == pytest.approx(b.position, abs=1e-6)
        assert abs(end.velocity) <= vmax * (1 + EPS) + EPS


limits_strategy = st.builds(
    lambda lo, span, v, a: AxisLimits(lo, lo + span, v, a),
    st.floats(-300, 100),
    st.floats(1, 500),
    st.floats(0.1, 10),
    st.floats(0.1, 10),
)


@settings(max_examples=300, deadline=None)
@given(
    limits=limits_strategy,
    start_frac=st.floats(0, 1),
    target_frac=st.floats(0, 1),
    v_frac=st.floats(-1, 1),
    vel_req=st.one_of(st.just(0.0), st.floats(0.05, 20)),
    acc_req=st.one_of(st.just(0.0), st.floats(0.05, 20)),
)
def test_move_respects_limits_and_arrives(
    limits: AxisLimits,
    start_frac: float,
    target_frac: float,
    v_frac: float,
    vel_req: float,
    acc_req: float,
) -> None:
    span = limits.max_position - limits.min_position
    start = Kinematics(limits.min_position + start_frac * span, v_frac * limits.max_velocity)
    target = limits.min_position + target_frac * span
    path = plan_move(start, 100.0, limits, target, velocity=vel_req, acceleration=acc_req)
    amax = acc_req if 0 < acc_req < limits.max_acceleration else limits.max_acceleration
    # A move may start faster than the requested velocity: it never speeds up beyond it.
    vmax = max(
        vel_req if 0 < vel_req < limits.max_velocity else limits.max_velocity, abs(start.velocity)
    )
    check_path(path, limits, vmax, amax)
    assert path.start_time == 100.0
    end = path.at(path.arrival_time)
    assert end.position == pytest.approx(target, abs=1e-6 * max(1, span))
    assert end.velocity == 0
    assert path.at(path.arrival_time + 1000).position == target
    # Just before arrival, still moving (the prediction is not late).
    if path.arrival_time > 100.0:
        before = path.segments[-2].at(path.arrival_time)
        assert before.position == pytest.approx(target, abs=1e-6 * max(1, span))


@settings(max_examples=200, deadline=None)
@given(limits=limits_strategy, start_frac=st.floats(0, 1), target_frac=st.floats(0, 1))
def test_move_from_rest_is_monotonic_and_inside_limits(
    limits: AxisLimits, start_frac: float, target_frac: float
) -> None:
    span = limits.max_position - limits.min_position
    p0 = limits.min_position + start_frac * span
    target = limits.min_position + target_frac * span
    path = plan_move(Kinematics(p0), 0.0, limits, target)
    assert len(path.segments) <= 4  # accelerate, cruise, decelerate, rest
    lo, hi = min(p0, target), max(p0, target)
    for i in range(101):
        t = path.arrival_time * i / 100
        state = path.at(t)
        assert lo - 1e-9 * span <= state.position <= hi + 1e-9 * span
        assert limits.contains(limits.clip(state.position))
        assert state.velocity * (target - p0) >= -1e-9


def test_trapezoid_and_triangle_durations() -> None:
    # Long move: trapezoid, duration d/v + v/a.
    path = plan_move(Kinematics(20.0), 0.0, EL_LIMITS, 80.0)
    assert path.arrival_time == pytest.approx(60 / 3.5 + 3.5 / 3.5)
    assert [s.acceleration for s in path.segments] == [3.5, 0.0, -3.5, 0.0]
    assert path.at(5.0).velocity == pytest.approx(3.5)
    # Short move: triangle, duration 2 sqrt(d/a).
    path = plan_move(Kinematics(40.0), 0.0, EL_LIMITS, 41.0)
    assert path.arrival_time == pytest.approx(2 * math.sqrt(1 / 3.5))
    assert [s.acceleration for s in path.segments] == [3.5, -3.5, 0.0]
    peak = path.at(path.arrival_time / 2).velocity
    assert peak == pytest.approx(math.sqrt(3.5))
    # Zero-length move: already there.
    path = plan_move(Kinematics(40.0), 5.0, EL_LIMITS, 40.0)
    assert path.arrival_time == 5.0
    assert path.at(6.0) == Kinematics(40.0)


def test_requested_velocity_and_acceleration_are_capped() -> None:
    slow = plan_move(Kinematics(0.0), 0.0, AZ, 100.0, velocity=1.0, acceleration=0.5)
    assert max(abs(s.velocity) for s in slow.segments) <= 1.0
    assert slow.arrival_time == pytest.approx(100 / 1.0 + 1.0 / 0.5)
    capped = plan_move(Kinematics(0.0), 0.0, AZ, 100.0, velocity=-50.0, acceleration=99.0)
    fastest = plan_move(Kinematics(0.0), 0.0, AZ, 100.0)
    assert capped.arrival_time == pytest.approx(fastest.arrival_time)


def test_move_while_moving_away_brakes_first() -> None:
    path = plan_move(Kinematics(0.0, velocity=7.0), 0.0, AZ, -10.0)
    assert path.segments[0].acceleration == -7.0
    # Brake to 3.5 deg beyond, then back to -10.
    turn = path.at(1.0)
    assert turn.velocity == pytest.approx(0.0)
    assert turn.position == pytest.approx(3.5)
    assert path.at(path.arrival_time).position == pytest.approx(-10.0)


def test_stop_decelerates_to_a_halt() -> None:
    path = plan_stop(Kinematics(10.0, velocity=-3.5), 2.0, EL_LIMITS)
    assert path.arrival_time == pytest.approx(3.0)
    assert path.at(2.5).velocity == pytest.approx(-1.75)
    assert path.at(10.0) == Kinematics(10.0 - 3.5**2 / 7)
    gentle = plan_stop(Kinematics(10.0, velocity=2.0), 0.0, EL_LIMITS, acceleration=1.0)
    assert gentle.arrival_time == pytest.approx(2.0)
    still = plan_stop(Kinematics(10.0), 0.0, EL_LIMITS)
    assert still.arrival_time == 0.0
    assert plan_hold(5.0, 1.0).at(0.0) == Kinematics(5.0)


@settings(max_examples=300, deadline=None)
@given(
    limits=limits_strategy,
    start_frac=st.floats(0.1, 0.9),
    v_frac=st.floats(-1, 1),
    target_frac=st.floats(0.1, 0.9),
    tv_frac=st.floats(-0.95, 0.95),
    dtai=st.floats(-5, 5),
)
def test_track_meets_a_moving_target(
    limits: AxisLimits,
    start_frac: float,
    v_frac: float,
    target_frac: float,
    tv_frac: float,
    dtai: float,
) -> None:
    span = limits.max_position - limits.min_position
    start = Kinematics(limits.min_position + start_frac * span, v_frac * limits.max_velocity)
    p_t = limits.min_position + target_frac * span
    v_t = tv_frac * limits.max_velocity
    path = plan_track(start, 0.0, limits, position=p_t, velocity=v_t, tai=dtai)
    check_path(path, limits, limits.max_velocity, limits.max_acceleration)
    t = path.arrival_time
    state = path.at(t)
    expected = p_t + v_t * (t - dtai)
    if limits.contains(expected) and (path.limit_time is None or path.limit_time > t):
        assert state.position == pytest.approx(expected, abs=1e-6 * max(1, span))
        assert state.velocity == pytest.approx(v_t, abs=1e-6)
    # Never beyond a position limit, and finally at rest or following the target.
    for i in range(50):
        s = path.at(t + i * span / limits.max_velocity / 10)
        assert limits.contains(s.position)


def test_track_holds_target_then_stops_at_limit() -> None:
    path = plan_track(Kinematics(40.0), 0.0, EL_LIMITS, position=50.0, velocity=1.0, tai=0.0)
    assert path.arrival_time > 0
    t = path.arrival_time + 1.0
    assert path.at(t).position == pytest.approx(50.0 + t)
    assert path.at(t).velocity == pytest.approx(1.0)
    assert path.limit_time == pytest.approx(86.5 - 1 / 7 - 50.0)
    end = path.at(1000.0)
    assert end.position == pytest.approx(86.5)
    assert end.velocity == 0.0
    assert max(path.at(path.limit_time + i / 10).position for i in range(100)) <= 86.5


def test_track_follows_streamed_targets_and_converges() -> None:
    """Targets of a slowly varying trajectory, sent every 0.05 s, replanned each time."""

    def target(t: float) -> tuple[float, float]:
        return 45.0 + 10 * math.sin(t / 20), 0.5 * math.cos(t / 20)

    now = 0.0
    path = plan_hold(30.0, now)
    errors = []
    while now < 30.0:
        p_t, v_t = target(now + 0.1)
        path = plan_track(path.at(now), now, EL_LIMITS, position=p_t, velocity=v_t, tai=now + 0.1)
        check_path(path, EL_LIMITS, EL_LIMITS.max_velocity, EL_LIMITS.max_acceleration)
        now += 0.05
        errors.append(abs(path.at(now).position - target(now)[0]))
    assert errors[0] > 10
    assert max(errors[-100:]) < 1e-3


def test_limits_validation_and_config() -> None:
    with pytest.raises(ValueError, match="min_position"):
        AxisLimits(10, 0, 1, 1)
    with pytest.raises(ValueError, match="positive"):
        AxisLimits(0, 10, 0, 1)
    limits = AxisLimits.from_mapping(
        {"min": 20, "max": 86.5, "max_velocity": 3.5, "max_acceleration": 3.5}
    )
    assert limits == EL_LIMITS
    assert EL_LIMITS.clip(100) == 86.5
    assert not EL_LIMITS.contains(19.9)
    with pytest.raises(ValueError, match="segment"):
        Path([], 0.0)
    assert "Path(" in repr(plan_hold(1, 0))


def test_pure_layers_import_no_asyncio() -> None:
    """motion, devices, authority, the answering core, clock and throttle stay pure."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import mountcomm.sim.motion, mountcomm.sim.devices, mountcomm.sim.authority\n"
        "import mountcomm.sim.core, mountcomm.sim.clock, mountcomm.sim.throttle\n"
        "bad = [m for m in ('asyncio', 'socket', 'selectors') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
