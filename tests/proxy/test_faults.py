"""ProxyFaults (pure): which action each frame gets."""

from __future__ import annotations

import pytest

from mountcomm.protocol.enums import Source
from mountcomm.proxy.faults import Action, ActionKind, ProxyFaults, corrupt_frame
from mountcomm.telemetry.frames import Direction

UP = Direction.TO_CONTROLLER
DOWN = Direction.TO_CONSOLE


def kinds(faults: ProxyFaults, direction: Direction, role: Source | None, n: int) -> list[str]:
    return [faults.decide(direction, role, b"1\r\n").kind.value for _ in range(n)]


def test_nothing_planned_forwards_everything() -> None:
    faults = ProxyFaults()
    assert not faults.active
    assert kinds(faults, UP, Source.CSC, 3) == ["forward"] * 3


def test_rules_are_used_up_in_order_per_direction() -> None:
    faults = ProxyFaults()
    faults.drop(DOWN, count=2)
    faults.delay(DOWN, 0.5)
    assert faults.active
    assert kinds(faults, UP, Source.CSC, 1) == ["forward"]
    assert kinds(faults, DOWN, Source.CSC, 4) == ["drop", "drop", "delay", "forward"]
    assert not faults.active
    assert faults.applied[ActionKind.DROP] == 2


def test_a_rule_for_a_role_leaves_the_others_alone() -> None:
    faults = ProxyFaults()
    faults.drop(UP, count=None, role=Source.EUI)
    assert kinds(faults, UP, Source.CSC, 2) == ["forward"] * 2
    assert kinds(faults, UP, Source.EUI, 3) == ["drop"] * 3
    faults.clear()
    assert kinds(faults, UP, Source.EUI, 1) == ["forward"]


def test_corrupt_replaces_the_frame_and_cut_is_once() -> None:
    faults = ProxyFaults()
    faults.corrupt(UP)
    action = faults.decide(UP, Source.CSC, b"5\n10\r\n")
    assert action == Action(ActionKind.REPLACE, data=b"5\n10\n\xff\xfe\r\n")
    faults.corrupt(UP, corrupt=lambda frame: frame.upper())
    assert faults.decide(UP, None, b"abc\r\n").data == b"ABC\r\n"
    faults.cut(DOWN)
    assert kinds(faults, DOWN, Source.HHD, 2) == ["cut", "forward"]


def test_a_hook_comes_first() -> None:
    faults = ProxyFaults()
    faults.drop(UP, count=None)
    seen = []

    def hook(role: Source | None, frame: bytes) -> Action | None:
        seen.append((role, frame))
        return Action(ActionKind.DELAY, delay=1.0) if frame.startswith(b"7") else None

    faults.set_hook(UP, hook)
    assert faults.decide(UP, Source.CSC, b"7\r\n").label == "delay 1"
    assert faults.decide(UP, Source.CSC, b"8\r\n").kind is ActionKind.DROP
    assert seen == [(Source.CSC, b"7\r\n"), (Source.CSC, b"8\r\n")]
    faults.set_hook(UP, None)
    faults.clear()
    assert not faults.active


def test_corrupt_frame_keeps_one_frame() -> None:
    corrupted = corrupt_frame(b"0\n12\r\n")
    assert corrupted.count(b"\r\n") == 1 and corrupted.endswith(b"\r\n")
    with pytest.raises(UnicodeDecodeError):
        corrupted.decode()


@pytest.mark.parametrize("count", [0, -1])
def test_bad_arguments(count: int) -> None:
    faults = ProxyFaults()
    with pytest.raises(ValueError, match="count"):
        faults.drop(UP, count=count)
    with pytest.raises(ValueError, match="seconds"):
        faults.delay(UP, -1.0)
