"""What the proxy does with each frame: forward it, or a fault. Pure, no I/O.

`ProxyFaults` holds the fault plan of a `MountProxy`: rules per direction
(drop, delay or corrupt the next frames, cut the connection at the next
frame), each for one role or all, and an optional hook per direction that
decides for itself. `ProxyFaults.decide` gives the `Action` for one frame.
"""

from __future__ import annotations

__all__ = ["Action", "ActionKind", "FrameHook", "ProxyFaults", "corrupt_frame"]

import dataclasses
import enum
from collections.abc import Callable

from ..protocol.enums import Source
from ..telemetry.frames import Direction


class ActionKind(enum.Enum):
    """What happens to a frame."""

    FORWARD = "forward"
    DROP = "drop"
    DELAY = "delay"
    REPLACE = "replace"
    CUT = "cut"


@dataclasses.dataclass(frozen=True)
class Action:
    """What to do with one frame.

    Attributes
    ----------
    kind : `ActionKind`
        ``FORWARD`` it; ``DROP`` it; ``DELAY`` it (and the frames behind it)
        by ``delay`` [s]; ``REPLACE`` it by ``data`` (a corrupted frame);
        ``CUT`` the connection it arrived on, with a TCP reset (the frame is
        not forwarded; the proxy then closes the matching connection on the
        other side, as the loss of the peer would).
    delay : `float`
        For ``DELAY`` [s].
    data : `bytes`
        For ``REPLACE``: the bytes sent instead.
    """

    kind: ActionKind
    delay: float = 0.0
    data: bytes = b""

    @property
    def label(self) -> str:
        """How the recording names it (``"delay 0.5"``, ``"drop"``…)."""
        if self.kind is ActionKind.DELAY:
            return f"delay {self.delay:g}"
        return str(self.kind.value)


FORWARD = Action(ActionKind.FORWARD)

FrameHook = Callable[[Source | None, bytes], "Action | None"]
"""``hook(role, frame) -> Action or None``: decide for one frame (`None`: no opinion)."""


def corrupt_frame(frame: bytes) -> bytes:
    """The default corruption: an extra field of bytes that are not UTF-8.

    The result is still one frame (the stream stays in sync), which any
    reader refuses as not UTF-8; its first field (the sequence id or reply
    code) is kept.
    """
    body = frame[:-2] if frame.endswith(b"\r\n") else frame
    return body + b"\n\xff\xfe\r\n"


@dataclasses.dataclass
class _Rule:
    action: Action
    role: Source | None
    count: int | None  # frames left; None: every frame
    corrupt: Callable[[bytes], bytes] | None = None

    def matches(self, role: Source | None) -> bool:
        return self.role is None or self.role == role


class ProxyFaults:
    """The fault plan of a proxy: rules and hooks per `Direction`.

    Rules apply in the order they were added; the first one that concerns the
    frame's role decides, and is used up after ``count`` frames. A hook (see
    `set_hook`) is asked first. Everything is forwarded when nothing applies.
    """

    def __init__(self) -> None:
        self._rules: dict[Direction, list[_Rule]] = {d: [] for d in Direction}
        self._hooks: dict[Direction, FrameHook] = {}
        self.applied: dict[ActionKind, int] = {kind: 0 for kind in ActionKind}
        """How many frames each kind of action was applied to."""

    def drop(self, direction: Direction, count: int | None = 1, role: Source | None = None) -> None:
        """Drop the next ``count`` frames (`None`: all) going ``direction`` (for ``role``)."""
        self._add(Action(ActionKind.DROP), direction, count, role)

    def delay(
        self,
        direction: Direction,
        seconds: float,
        count: int | None = 1,
        role: Source | None = None,
    ) -> None:
        """Hold each of the next ``count`` frames ``seconds`` before forwarding it.

        Frames keep their order: the frames behind a delayed one wait too.
        """
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._add(Action(ActionKind.DELAY, delay=seconds), direction, count, role)

    def corrupt(
        self,
        direction: Direction,
        count: int | None = 1,
        role: Source | None = None,
        corrupt: Callable[[bytes], bytes] = corrupt_frame,
    ) -> None:
        """Replace each of the next ``count`` frames by ``corrupt(frame)``."""
        rule = _Rule(Action(ActionKind.REPLACE), role, _count(count), corrupt)
        self._rules[Direction(direction)].append(rule)

    def cut(self, direction: Direction, role: Source | None = None) -> None:
        """Cut the connection carrying the next frame going ``direction`` (TCP reset)."""
        self._add(Action(ActionKind.CUT), direction, 1, role)

    def set_hook(self, direction: Direction, hook: FrameHook | None) -> None:
        """Ask ``hook(role, frame)`` first for every frame going ``direction`` (`None`: remove)."""
        if hook is None:
            self._hooks.pop(Direction(direction), None)
        else:
            self._hooks[Direction(direction)] = hook

    def clear(self) -> None:
        """Remove every rule and hook."""
        for rules in self._rules.values():
            rules.clear()
        self._hooks.clear()

    @property
    def active(self) -> bool:
        """True if any rule or hook is set."""
        return bool(self._hooks) or any(self._rules.values())

    def decide(self, direction: Direction, role: Source | None, frame: bytes) -> Action:
        """The action for one frame (a rule's count is used up by it)."""
        action = self._decide(direction, role, frame)
        self.applied[action.kind] += 1
        return action

    def _decide(self, direction: Direction, role: Source | None, frame: bytes) -> Action:
        hook = self._hooks.get(direction)
        if hook is not None and (action := hook(role, frame)) is not None:
            return action
        rules = self._rules[direction]
        for i, rule in enumerate(rules):
            if not rule.matches(role):
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    del rules[i]
            if rule.corrupt is not None:
                return Action(ActionKind.REPLACE, data=rule.corrupt(frame))
            return rule.action
        return FORWARD

    def _add(
        self, action: Action, direction: Direction, count: int | None, role: Source | None
    ) -> None:
        self._rules[Direction(direction)].append(_Rule(action, role, _count(count)))


def _count(count: int | None) -> int | None:
    if count is not None and count < 1:
        raise ValueError(f"count must be >= 1 or None, got {count!r}")
    return count
