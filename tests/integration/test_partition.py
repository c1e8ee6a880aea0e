"""A real network partition between the controller and a console (root only).

The controller runs in one network namespace, the `MountClient` in another,
joined by a veth pair (`tests.partition`); the cable is pulled with
``ip link set ... down`` in the middle of a command stream, or while all is quiet.

How "no command that timed out is executed after the link comes back" is checked:

0. Each host's neighbour (ARP) entry for the other is pinned, so the cable is
   pulled as if at a switch: no packet waits for address resolution in either
   kernel, and what the console's socket holds is the only way a command can
   arrive late. (At the console's own NIC, segments already handed to address
   resolution can still go out after the reset: doc/reliability.md.)
1. Commands flow from 4 workers; the link goes down; 3 more commands are sent
   at once; the test waits until a command that *started after the link went
   down* has failed with `CommandTimeout` (``delivered="unknown"``). Its bytes
   were in the client's kernel, unacknowledged, when the cable was out: before
   the reset on ACK timeout, they were retransmitted and executed once it was
   back (6 of them, measured on that code).
2. Just before plugging the cable back, the test takes ``n0 =
   len(controller.executed)``. Every entry from index ``n0`` on was executed
   after that moment, so the set of commands executed after the link came back
   is contained in ``executed[n0:]`` (the record is append-only and far from its
   bound here, which the test asserts).
3. The test waits until a command that *started after the link came back* is
   done. The controller serves one command connection at a time, in order: that
   command went through either the old connection (behind anything it still
   held) or a new one accepted only after the old one had ended. Either way
   nothing more can come out of the old connection, so ``executed[n0:]`` is
   final for every command of the partition.
4. No sequence id of a command that failed with ``delivered="unknown"`` may be
   in ``executed[n0:]`` (sequence ids are unique across the client's
   connections, so an id names one command).
"""

from __future__ import annotations

import time

import pytest

from mountcomm import Source, commands
from mountcomm.commanding.lifecycle import ClientState
from mountcomm.exceptions import CommandTimeout, ConnectionClosedError
from mountcomm.sim import Executed
from mountcomm.sim.core import MAX_EXECUTED
from mountcomm.sockets import DEFAULT_TCP_KEEPALIVE
from tests.netns import require_root
from tests.partition import (
    ACK_TIMEOUT,
    COMMAND_BOUND,
    Outcome,
    PartitionRig,
    partition_rig,
)
from tests.timing import UNIT

DETECTION_BOUND = 10.0
"""A partition with no traffic is noticed within this [s] (keepalive: 5 s by default)."""

RECONNECT_BOUND = 10 * UNIT
"""Bound on reconnecting once the cable is back [s] (a measurement bound, not a goal)."""

NEXT_COMMAND_BOUND = 2 * UNIT
"""After the reconnection, the next command succeeds within this [s]."""

FLOWING = 20
"""Commands done before the cable is pulled."""

pytestmark = pytest.mark.timeout(30 * UNIT)


def _done(outcomes: list[Outcome], since: float = 0.0) -> int:
    return sum(1 for o in outcomes if o.error is None and o.started > since)


async def _partition_under_traffic(rig: PartitionRig) -> tuple[list[Outcome], int, float]:
    """Pull the cable under a command stream, plug it back (see the module doc).

    Returns the outcomes, ``n0`` (the controller's executed count just before
    the cable came back) and the time it came back.
    """
    recorder = await rig.start_recorder(concurrency=4)
    try:
        await rig.b.run(recorder.wait_for, lambda o: _done(o) >= FLOWING, 10 * UNIT)
        down = await rig.set_link(False)
        await rig.b.run(recorder.burst, 3)  # sent with the cable out, for certain
        await rig.b.run(
            recorder.wait_for,
            lambda outcomes: any(o.unknown and o.started > down for o in outcomes),
            COMMAND_BOUND + 2 * UNIT,
        )
        n0 = len(await rig.executed())
        up = await rig.set_link(True)
        await rig.b.run(
            recorder.wait_for, lambda o: _done(o, since=up) >= 1, RECONNECT_BOUND + COMMAND_BOUND
        )
    finally:
        outcomes = await rig.b.run(recorder.stop)
    return outcomes, n0, up


async def test_each_command_ends_in_time_with_a_typed_error() -> None:
    require_root()
    async with partition_rig() as rig:
        outcomes, _, _ = await _partition_under_traffic(rig)
    failed = [o for o in outcomes if o.error is not None]
    assert failed, "the partition failed no command"
    untyped = [o for o in failed if not isinstance(o.error, CommandTimeout | ConnectionClosedError)]
    assert not untyped, [repr(o.error) for o in untyped]
    slow = [(o.sequence_id, round(o.duration, 3), repr(o.error)) for o in outcomes]
    slow = [s for s, o in zip(slow, outcomes, strict=True) if o.duration > COMMAND_BOUND]
    assert not slow, f"commands that took longer than {COMMAND_BOUND} s: {slow}"
    # The commands in flight when the ACK timeout expired were failed by it.
    assert any(o.unknown for o in failed)


def _executed_after_timeout(outcomes: list[Outcome], n0: int, executed: list[Executed]) -> set[int]:
    assert len(executed) < MAX_EXECUTED, "the record dropped entries: indices moved"
    timed_out = {o.sequence_id for o in outcomes if o.unknown}
    # The case that used to fail: sent while the cable was out, never acknowledged.
    assert timed_out
    after = {e.sequence_id for e in executed[n0:] if e.role is Source.CSC}
    assert after, "no command executed after the link came back: the check saw nothing"
    return timed_out & after


async def test_no_command_that_timed_out_executes_after_the_link_returns() -> None:
    """The reset discards what the console's socket holds (cable pulled beyond the host)."""
    require_root()
    async with partition_rig(static_neighbours=True) as rig:
        outcomes, n0, _ = await _partition_under_traffic(rig)
        executed = await rig.executed()
    late = _executed_after_timeout(outcomes, n0, executed)
    assert not late, f"executed after their timeout: {sorted(late)}"


async def test_silent_partition_is_noticed_within_the_keepalive_bound() -> None:
    require_root()
    assert DEFAULT_TCP_KEEPALIVE.detection_time <= DETECTION_BOUND
    async with partition_rig() as rig:  # the library's default keepalive
        await rig.run(commands.AskForCommand(commander=Source.CSC), timeout=COMMAND_BOUND)
        down = await rig.set_link(False)
        noticed = await rig.client_state_change(ClientState.CONNECTED, DETECTION_BOUND + 2 * UNIT)
        gone = await rig.console_gone(DETECTION_BOUND + 2 * UNIT)
    assert noticed - down <= DETECTION_BOUND, f"client noticed after {noticed - down:.1f} s"
    assert gone - down <= DETECTION_BOUND, f"controller noticed after {gone - down:.1f} s"


@pytest.mark.parametrize("traffic", [True, False], ids=["traffic", "silent"])
async def test_next_command_succeeds_soon_after_the_reconnection(traffic: bool) -> None:
    require_root()
    async with partition_rig() as rig:
        cmd = commands.AskForCommand(commander=Source.CSC)
        await rig.set_link(False)
        if traffic:  # the ACK timeout resets the connection
            with pytest.raises(CommandTimeout) as caught:
                await rig.run(cmd, timeout=COMMAND_BOUND)
            assert caught.value.delivered == "unknown"
            assert rig.mount.state is ClientState.RECONNECTING
        else:  # keepalive notices
            await rig.client_state_change(ClientState.CONNECTED, DETECTION_BOUND + 2 * UNIT)
        up = await rig.set_link(True)
        reconnected = await rig.wait_connected(RECONNECT_BOUND)
        took = await rig.run(
            commands.AskForCommand(commander=Source.CSC), timeout=NEXT_COMMAND_BOUND
        )
    print(f"reconnected {reconnected - up:.2f} s after the link came back; command {took:.3f} s")
    assert took <= NEXT_COMMAND_BOUND
    assert time.monotonic() >= reconnected  # measured after the reconnection
    assert ACK_TIMEOUT < NEXT_COMMAND_BOUND


async def test_controller_rebooted_during_a_partition() -> None:
    """The controller restarts while the cable is out: the console finds it again."""
    require_root()
    async with partition_rig() as rig:
        await rig.run(commands.AskForCommand(commander=Source.CSC), timeout=COMMAND_BOUND)
        await rig.set_link(False)
        await rig.restart_controller()
        up = await rig.set_link(True)
        working = await rig.first_success(DETECTION_BOUND)
    print(f"first command done {working - up:.2f} s after the link came back")
    assert working - up <= DETECTION_BOUND
