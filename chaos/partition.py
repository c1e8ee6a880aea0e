"""Cable pulls: the simulator and a `MountClient` in two network namespaces (root only).

The rig is `tests.partition` (the partition tests use the same one): a
`MockController` in namespace a, a `MountClient` with ``auto_reconnect`` in
namespace b, joined by a veth pair. Under a command stream (4 workers) the cable
is pulled several times, for different lengths of time, and 3 more commands are
sent each time it is out; then it is pulled once with no traffic at all. Each
time the scenario measures:

* detection: from the pull until the client leaves CONNECTED (an ACK timeout
  with traffic; keepalive without);
* reconnection: from plugging the cable back until the client is connected;
* next command: from the reconnection until a command is done.

The cable is pulled beyond the hosts (each host's neighbour entry for the
other pinned: no address resolution queue), where the goal is that no command
executes after its timeout; then, for information, at the console's own NIC,
where its kernel may still send, once the link is back, segments that waited
for address resolution while the carrier was lost (about 3 s on Linux
defaults), even from a socket that was reset meanwhile: no library can recall
those.

Commands executed after their timeout: for each command that failed with
`CommandTimeout` (``delivered="unknown"``), take the first snapshot of the
controller's executed count taken after that failure (one is taken just before
each re-plug); the command must not appear at or after that index.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass, field

from tests.partition import (
    ACK_TIMEOUT,
    COMMAND_BOUND,
    CommandRecorder,
    Outcome,
    PartitionRig,
    partition_rig,
)

from mountcomm import Source, commands
from mountcomm.commanding.lifecycle import ClientState
from mountcomm.sim import Executed

STEP_BOUND = 15.0
"""Bound on each wait of the scenario (detection, reconnection, flowing again) [s]."""

EXTRA_DOWN = (0.0, 1.0, 3.0, 6.0)
"""How long the cable stays out after the client noticed, one pull each [s]."""


@dataclass
class Pull:
    """One pull of the cable."""

    traffic: bool
    down_for: float = 0.0
    detection: float | None = None
    controller_detection: float | None = None
    reconnection: float | None = None
    next_command: float | None = None


@dataclass
class PartitionResult:
    """What the partition scenario saw."""

    name: str = "cable pulls"
    static_neighbours: bool = True
    ran: bool = False
    pulls: list[Pull] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    executed_after_timeout: list[int] = field(default_factory=list)
    stuck: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def timed_out_unknown(self) -> int:
        return sum(1 for o in self.outcomes if o.unknown)


def skip_reason() -> str | None:
    """Why the scenario cannot run here, or `None`."""
    if os.geteuid() != 0:
        return "skipped: network namespaces need root"
    if shutil.which("ip") is None:
        return "skipped: network namespaces need the ip command (iproute2)"
    return None


async def _pull_under_traffic(
    rig: PartitionRig, recorder: CommandRecorder, extra: float, snapshots: list[tuple[float, int]]
) -> Pull:
    pull = Pull(traffic=True)
    before = time.monotonic()
    await rig.b.run(recorder.wait_for, lambda o: _done_after(o, before) >= 10, STEP_BOUND)
    down = await rig.set_link(False)
    await rig.b.run(recorder.burst, 3)
    noticed = await rig.client_state_change(ClientState.CONNECTED, STEP_BOUND)
    pull.detection = noticed - down
    if extra:
        await _hold(extra)
    reconnected = await _plug(rig, pull, down, snapshots)
    # Wait for what `_next_commands` measures: a command started after the
    # reconnection (not merely after the plug), done.
    await rig.b.run(recorder.wait_for, lambda o: _done_after(o, reconnected) >= 1, STEP_BOUND)
    return pull


async def _silent_pull(rig: PartitionRig, snapshots: list[tuple[float, int]]) -> Pull:
    pull = Pull(traffic=False)
    down = await rig.set_link(False)
    pull.detection = await rig.client_state_change(ClientState.CONNECTED, STEP_BOUND) - down
    pull.controller_detection = await rig.console_gone(STEP_BOUND) - down
    await _plug(rig, pull, down, snapshots)
    return pull


async def _plug(
    rig: PartitionRig, pull: Pull, down: float, snapshots: list[tuple[float, int]]
) -> float:
    """Plug the cable back; return when the reconnection was complete [monotonic]."""
    snapshots.append((time.monotonic(), len(await rig.executed())))
    up = await rig.set_link(True)
    pull.down_for = up - down
    reconnected = await rig.wait_connected(STEP_BOUND)
    pull.reconnection = reconnected - up
    if not pull.traffic:
        pull.next_command = await rig.run(
            commands.AskForCommand(commander=Source.CSC), timeout=COMMAND_BOUND
        )
    return reconnected


async def _hold(seconds: float) -> None:
    """Keep the cable out this long: the length of the outage is the experiment."""
    await asyncio.sleep(seconds)


def _done_after(outcomes: list[Outcome], since: float) -> int:
    return sum(1 for o in outcomes if o.error is None and o.started > since)


def executed_after_timeout(
    outcomes: list[Outcome], executed: list[Executed], snapshots: list[tuple[float, int]]
) -> list[int]:
    """Sequence ids of unacknowledged timed-out commands executed after they timed out."""
    late = []
    for o in outcomes:
        if not o.unknown:
            continue
        later = [n for t, n in snapshots if t >= o.ended]
        if later and any(e.sequence_id == o.sequence_id for e in executed[later[0] :]):
            late.append(o.sequence_id)
    return late


def _next_commands(pulls: list[Pull], outcomes: list[Outcome], rig: PartitionRig) -> None:
    """For pulls under traffic: time from the reconnection to the first command done."""
    ups = [t for up, t in rig.link_changes if up]
    for pull, up in zip((p for p in pulls if p.traffic), ups, strict=False):
        if pull.reconnection is None:
            continue
        reconnected = up + pull.reconnection
        done = [o.ended for o in outcomes if o.error is None and o.started >= reconnected]
        if done:
            pull.next_command = min(done) - reconnected


async def cable_pulls(
    traffic_pulls: int = len(EXTRA_DOWN), *, static_neighbours: bool = True, silent: bool = True
) -> PartitionResult:
    """Run the scenario (see the module doc); skipped with a note when not root.

    ``static_neighbours``: the cable is pulled beyond the hosts (a switch
    port); otherwise at the console's NIC (see `tests.partition.pin_neighbours`).
    """
    result = PartitionResult(
        "beyond the hosts" if static_neighbours else "console's NIC", static_neighbours
    )
    reason = skip_reason()
    if reason is not None:
        result.notes.append(reason)
        return result
    result.ran = True
    snapshots: list[tuple[float, int]] = []
    async with partition_rig(static_neighbours=static_neighbours) as rig:
        recorder = await rig.start_recorder(concurrency=4)
        try:
            for i in range(traffic_pulls):
                extra = EXTRA_DOWN[i % len(EXTRA_DOWN)]
                result.pulls.append(await _pull_under_traffic(rig, recorder, extra, snapshots))
        except TimeoutError:
            result.stuck += 1
            result.notes.append(f"stuck in pull {len(result.pulls) + 1} under traffic")
        finally:
            result.outcomes = await rig.b.run(recorder.stop)
        _next_commands(result.pulls, result.outcomes, rig)
        if silent and not result.stuck:
            try:
                result.pulls.append(await _silent_pull(rig, snapshots))
            except TimeoutError:
                result.stuck += 1
                result.notes.append("stuck in the silent pull")
        executed = await rig.executed()
    result.executed_after_timeout = executed_after_timeout(result.outcomes, executed, snapshots)
    return result


__all__ = ["ACK_TIMEOUT", "PartitionResult", "Pull", "cable_pulls", "skip_reason"]
