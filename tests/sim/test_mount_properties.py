"""Property: whatever the command sequence, every accepted operation ends exactly once."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from mountcomm.protocol import commands
from mountcomm.sim.devices import (
    Accepted,
    AlarmChanged,
    Failed,
    Finished,
    InPositionChanged,
    Mount,
    Superseded,
    Timings,
)

POOL = [
    commands.MainPowerSupplyPower(on=True),
    commands.MainPowerSupplyPower(on=False),
    commands.ElevationAxisPower(on=True),
    commands.ElevationAxisPower(on=False),
    commands.AzimuthAxisPower(on=True),
    commands.ElevationAxisDriveEnable(on=True),
    commands.ElevationAxisDriveEnable(drive=3, on=False),
    commands.AzimuthAxisDriveEnable(on=True),
    commands.ElevationAxisMove(position=30.0),
    commands.ElevationAxisMove(position=80.0, velocity=1.0),
    commands.AzimuthAxisMove(position=-100.0),
    commands.ElevationAxisHome(),
    commands.ElevationAxisStop(),
    commands.ElevationAxisEnableTracking(on=True),
    commands.ElevationAxisEnableTracking(on=False),
    commands.BothAxesMove(azimuth=10.0, elevation=50.0),
    commands.BothAxesStop(),
    commands.ElevationAxisResetAlarm(),
    commands.MirrorCoversPower(on=True),
    commands.MirrorCoversDeploy(),
    commands.MirrorCoversRetract(drive=1),
    commands.MirrorCoversStop(drive=2),
    commands.OilSupplySystemPower(on=True),
    commands.OilSupplySystemPowerCooling(on=True),
    commands.OilSupplySystemPower(on=False),
    commands.Disable(),
    commands.Enable(),
    commands.SafetyReset(),
]
TRACKS = ("track_el", "track_both", "alarm", "interlock")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(range(len(POOL) + len(TRACKS))), st.floats(0, 3)),
        max_size=40,
    )
)
def test_every_accepted_operation_ends_exactly_once(steps: list[tuple[int, float]]) -> None:
    mount = Mount(timings=Timings())
    now = 1000.0
    accepted: set[int] = set()
    events = []
    for index, dt in steps:
        now += dt
        if index < len(POOL):
            outcome = mount.handle(POOL[index], now)
        else:
            kind = TRACKS[index - len(POOL)]
            if kind == "alarm":
                mount.inject_alarm("elevation", now, "fault")
                outcome = None
            elif kind == "interlock":
                mount.trip_interlock(now)
                outcome = None
            elif kind == "track_el":
                outcome = mount.handle(
                    commands.ElevationAxisTrack(position=60.0, velocity=0.1, tai=now), now
                )
            else:
                outcome = mount.handle(
                    commands.BothAxesTrack(
                        azimuth=0.0,
                        elevation=60.0,
                        azimuth_velocity=0.0,
                        elevation_velocity=0.0,
                        tai=now,
                    ),
                    now,
                )
        if isinstance(outcome, Accepted) and outcome.op_id is not None:
            assert outcome.op_id not in accepted
            accepted.add(outcome.op_id)
        new = mount.advance(now)
        assert all(e.at <= now for e in new)
        events += new
        for axis in mount.axes:
            state = axis.state(now)
            assert abs(state.velocity) <= axis.limits.max_velocity * (1 + 1e-9)
            assert abs(state.acceleration) <= axis.limits.max_acceleration * (1 + 1e-9)
    reset = mount.handle(commands.SafetyReset(), now)
    assert isinstance(reset, Accepted) and reset.op_id is not None
    accepted.add(reset.op_id)
    mount.trip_interlock(now)  # fails whatever is still running
    events += mount.advance(now + 1e6)
    ends = Counter(e.op_id for e in events if isinstance(e, Finished | Failed | Superseded))
    assert set(ends) == accepted
    assert all(count == 1 for count in ends.values()), ends
    assert mount.next_event_time() is None or mount.next_event_time() > now + 1e6
    for kind in (InPositionChanged, AlarmChanged):
        assert all(isinstance(e.at, float) for e in events if isinstance(e, kind))
