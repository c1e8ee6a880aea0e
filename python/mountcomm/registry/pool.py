"""The port pool of the registry: ranges, their text form, and picking a port. Pure.

`Pool.pick` walks the ranges round-robin from just after the last port handed
out, skipping ports the table holds and ports a probe reports busy; with no
ranges it asks the OS (``pick_ephemeral``).
"""

from __future__ import annotations

__all__ = ["Pool", "format_pool", "normalize_pool", "parse_pool"]

import itertools
from collections.abc import Callable, Container, Iterable, Iterator, Sequence

from ..exceptions import PoolExhaustedError

_EPHEMERAL_ATTEMPTS = 20


def normalize_pool(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Check port ranges and merge overlapping or adjacent ones.

    Parameters
    ----------
    ranges : iterable of (`int`, `int`)
        Inclusive ranges ``(lo, hi)`` with 1 <= lo <= hi <= 65535.

    Returns
    -------
    pool : `tuple` of (`int`, `int`)
        Sorted, disjoint, non-adjacent ranges.

    Raises
    ------
    ValueError
        If a range is out of bounds or reversed.
    """
    checked = []
    for item in ranges:
        lo, hi = item
        if isinstance(lo, bool) or isinstance(hi, bool) or not 1 <= lo <= hi <= 65535:
            raise ValueError(f"bad port range {lo}-{hi}: expected 1 <= LO <= HI <= 65535")
        checked.append((int(lo), int(hi)))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(checked):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def parse_pool(text: str) -> tuple[tuple[int, int], ...] | None:
    """Parse ``"LO-HI[,LO-HI...]"`` (a single port ``"P"`` is ``P-P``).

    ``"ephemeral"`` returns `None`: no pool, the OS picks each port.

    Raises
    ------
    ValueError
        If the text is not of that form; the message quotes the bad part.
    """
    if text.strip().lower() == "ephemeral":
        return None
    ranges = []
    for part in text.split(","):
        lo_text, sep, hi_text = part.strip().partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if sep else lo
        except ValueError:
            raise ValueError(
                f"bad port range {part.strip()!r}: expected LO-HI, e.g. 30001-30999"
            ) from None
        ranges.append((lo, hi))
    return normalize_pool(ranges)


def format_pool(pool: Sequence[tuple[int, int]] | None) -> str:
    """Inverse of `parse_pool`."""
    if pool is None:
        return "ephemeral"
    return ",".join(f"{lo}-{hi}" for lo, hi in pool)


class Pool:
    """Inclusive port ranges and the round-robin cursor over them.

    Parameters
    ----------
    ranges : sequence of (`int`, `int`) or `None`
        The ranges (`normalize_pool` checks and merges them); `None` or empty:
        the OS picks every port.
    """

    __slots__ = ("_next", "ranges")

    def __init__(self, ranges: Sequence[tuple[int, int]] | None) -> None:
        self.ranges = normalize_pool(ranges or ())
        self._next = 0  # the round-robin cursor: the port to try first

    def pick(
        self,
        held: Container[int],
        is_free: Callable[[int], bool],
        pick_ephemeral: Callable[[], int] | None,
    ) -> int:
        """Return a port not in ``held`` that ``is_free`` accepts.

        Raises
        ------
        PoolExhaustedError
            If there is none (the message counts held and busy ports), or the
            OS offers none.
        """
        if not self.ranges and pick_ephemeral is not None:
            return self._pick_ephemeral(held, pick_ephemeral)
        held_count = busy = 0
        for port in self._candidates():
            if port in held:
                held_count += 1
            elif is_free(port):
                return port
            else:
                busy += 1
        raise PoolExhaustedError(
            f"no free ports in pool {format_pool(self.ranges)}: {held_count} held through the "
            f"registry, {busy} in use by other programs"
        )

    @staticmethod
    def _pick_ephemeral(held: Container[int], pick_ephemeral: Callable[[], int]) -> int:
        for _ in range(_EPHEMERAL_ATTEMPTS):
            try:
                port = pick_ephemeral()
            except OSError as e:
                raise PoolExhaustedError(f"no free ports: the OS offered none ({e})") from None
            if port not in held:
                return port
        raise PoolExhaustedError(
            f"no free ports: the OS offered only ports the registry already holds "
            f"({_EPHEMERAL_ATTEMPTS} attempts)"
        )

    def _candidates(self) -> Iterator[int]:
        """Every port of the pool once, from the cursor on, wrapping around."""
        start = self._next
        ahead = (range(max(lo, start), hi + 1) for lo, hi in self.ranges if hi >= start)
        behind = (range(lo, min(hi + 1, start)) for lo, hi in self.ranges if lo < start)
        for port in itertools.chain.from_iterable(itertools.chain(ahead, behind)):
            self._next = port + 1
            yield port
