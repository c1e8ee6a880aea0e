"""Simulated mirror covers and mirror cover locks: groups of linear drives.

Each group has four drives (0 to 3; ``drive=-1`` means all). A drive's position
runs from 0 (retracted) to 1 (deployed) at constant speed, a full stroke taking
the group's travel time. A drive must be powered to move. A motion command is
one operation over its drives, done when all of them arrive; a newer motion or
STOP command on any of the same drives supersedes it (drives that only the older
command moved carry on to their targets).
"""

from __future__ import annotations

__all__ = ["DRIVES", "LinearDriveGroup", "MirrorCoverLocks", "MirrorCovers"]

import dataclasses
import itertools

from ...protocol import commands
from ...protocol.commands import Command
from ...protocol.enums import CommandCode, SubsystemId
from .base import Device, OpIds, Outcome, RejectCode, Rejected, Severity, Timings

DRIVES = 4
"""Number of drives of each group."""


@dataclasses.dataclass
class _Stroke:
    """A drive moving from ``start`` at ``t0`` towards ``target``."""

    start: float
    t0: float
    target: float

    def at(self, now: float, speed: float) -> float:
        if speed == float("inf"):
            return self.target
        if now <= self.t0:
            return self.start
        travelled = (now - self.t0) * speed
        if self.target >= self.start:
            return min(self.target, self.start + travelled)
        return max(self.target, self.start - travelled)


class LinearDriveGroup(Device):
    """Four linear drives moving between retracted (0) and deployed (1).

    Parameters
    ----------
    name : `str`
    subsystem : `SubsystemId`
    travel_s : `float`
        Duration of a full stroke [s].
    ids : iterator of `int`, optional
        Shared source of operation ids.

    Attributes
    ----------
    powered : `list` [`bool`]
        Per drive.
    """

    def __init__(
        self, name: str, subsystem: SubsystemId, travel_s: float, ids: OpIds | None = None
    ) -> None:
        super().__init__(name, subsystem, ids)
        self.speed = 1.0 / travel_s if travel_s > 0 else float("inf")
        self.powered = [False] * DRIVES
        self._strokes = [_Stroke(0.0, 0.0, 0.0) for _ in range(DRIVES)]
        self._moves: dict[str, set[int]] = {}  # slot -> drives
        self._slot_ids = itertools.count(1)

    def positions(self, now: float) -> list[float]:
        """Position of each drive at ``now``: 0 retracted … 1 deployed."""
        return [s.at(now, self.speed) for s in self._strokes]

    def deployed(self, now: float) -> list[bool]:
        """Is each drive fully deployed at ``now``?"""
        return [p >= 1.0 for p in self.positions(now)]

    def retracted(self, now: float) -> list[bool]:
        """Is each drive fully retracted at ``now``?"""
        return [p <= 0.0 for p in self.positions(now)]

    def _indices(self, drive: int) -> list[int] | Rejected:
        if drive == -1:
            return list(range(DRIVES))
        if 0 <= drive < DRIVES:
            return [drive]
        return Rejected(
            RejectCode.BAD_ARGUMENT,
            f"{self.name} has drives 0…{DRIVES - 1} (or -1 for all), not {drive}",
        )

    def _freeze(self, indices: list[int], now: float) -> None:
        for i in indices:
            position = self._strokes[i].at(now, self.speed)
            self._strokes[i] = _Stroke(position, now, position)

    def _release(self, indices: list[int], now: float, reason: str | None) -> None:
        """End the operations moving any of ``indices`` (superseded, or failed)."""
        for slot, drives in list(self._moves.items()):
            if drives & set(indices):
                del self._moves[slot]
                if reason is None:
                    self._supersede(slot, now)
                else:
                    self._fail(slot, now, reason)

    def _do_power(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.MirrorCoversPower | commands.MirrorCoverLocksPower)
        indices = self._indices(command.drive)
        if isinstance(indices, Rejected):
            return indices
        if command.on:
            rejected = self._check_alarm()
            if rejected is not None:
                return rejected
            for i in indices:
                self.powered[i] = True
        else:
            self.power_lost(now, f"{self.name} powered off", indices)
        return self._instant(now)

    def power_lost(self, now: float, reason: str, indices: list[int] | None = None) -> None:
        """Switch drives off at once (all by default): they stop where they are."""
        self._run_until(now)
        indices = list(range(DRIVES)) if indices is None else indices
        self._release(indices, now, reason)
        self._freeze(indices, now)
        for i in indices:
            self.powered[i] = False

    def _do_stop(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.MirrorCoversStop | commands.MirrorCoverLocksStop)
        indices = self._indices(command.drive)
        if isinstance(indices, Rejected):
            return indices
        self._release(indices, now, None)
        self._freeze(indices, now)
        return self._instant(now)

    def _do_reset(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command, commands.MirrorCoversResetAlarm | commands.MirrorCoverLocksResetAlarm
        )
        indices = self._indices(command.drive)
        if isinstance(indices, Rejected):
            return indices
        return self.handle_reset_alarm(command, now)

    def move_drives(self, drive: int, target: float, now: float) -> Outcome:
        """Move ``drive`` (or all, -1) to ``target`` (0 retracted, 1 deployed)."""
        self._run_until(now)
        indices = self._indices(drive)
        if isinstance(indices, Rejected):
            return indices
        off = [i for i in indices if not self.powered[i]]
        if off:
            return Rejected(RejectCode.OFF, f"{self.name}: drives {off} are off")
        rejected = self._check_alarm()
        if rejected is not None:
            return rejected
        self._release(indices, now, None)
        positions = self.positions(now)
        duration = max(abs(target - positions[i]) for i in indices) / self.speed
        for i in indices:
            self._strokes[i] = _Stroke(positions[i], now, target)
        slot = f"move{next(self._slot_ids)}"
        self._moves[slot] = set(indices)

        def arrived(_at: float) -> None:
            del self._moves[slot]

        return self._begin(slot, now, duration, arrived)

    def inject_alarm(
        self, now: float, text: str, code: int = 1, severity: Severity = Severity.ERROR
    ) -> None:
        """Raise an alarm (fault injection); an ERROR stops every drive."""
        self._run_until(now)
        if severity is Severity.ERROR:
            self._release(list(range(DRIVES)), now, f"{self.name} alarm: {text}")
            self._freeze(list(range(DRIVES)), now)
        self._raise_alarm(now, text, code, severity)


class MirrorCovers(LinearDriveGroup):
    """The four mirror covers: DEPLOY (close) and RETRACT (open), per drive or all."""

    def __init__(self, timings: Timings | None = None, ids: OpIds | None = None) -> None:
        timings = timings or Timings()
        super().__init__(
            "Mirror covers", SubsystemId.MIRROR_COVERS, timings.mirror_cover_travel_s, ids
        )

    def _do_deploy(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.MirrorCoversDeploy)
        return self.move_drives(command.drive, 1.0, now)

    def _do_retract(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.MirrorCoversRetract)
        return self.move_drives(command.drive, 0.0, now)

    HANDLERS = {
        CommandCode.MIRROR_COVERS_POWER: LinearDriveGroup._do_power,
        CommandCode.MIRROR_COVERS_STOP: LinearDriveGroup._do_stop,
        CommandCode.MIRROR_COVERS_DEPLOY: _do_deploy,
        CommandCode.MIRROR_COVERS_RETRACT: _do_retract,
        CommandCode.MIRROR_COVERS_RESET_ALARM: LinearDriveGroup._do_reset,
    }


class MirrorCoverLocks(LinearDriveGroup):
    """The four mirror cover locks: MOVE_ALL with ``deploy`` true locks, false unlocks."""

    def __init__(self, timings: Timings | None = None, ids: OpIds | None = None) -> None:
        timings = timings or Timings()
        super().__init__(
            "Mirror cover locks",
            SubsystemId.MIRROR_COVER_LOCKS,
            timings.mirror_cover_lock_travel_s,
            ids,
        )

    def _do_move_all(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.MirrorCoverLocksMoveAll)
        return self.move_drives(command.drive, 1.0 if command.deploy else 0.0, now)

    HANDLERS = {
        CommandCode.MIRROR_COVER_LOCKS_POWER: LinearDriveGroup._do_power,
        CommandCode.MIRROR_COVER_LOCKS_STOP: LinearDriveGroup._do_stop,
        CommandCode.MIRROR_COVER_LOCKS_MOVE_ALL: _do_move_all,
        CommandCode.MIRROR_COVER_LOCKS_RESET_ALARM: LinearDriveGroup._do_reset,
    }
