"""Per-sender sequence id generators."""

from __future__ import annotations

__all__ = ["MAX_SEQUENCE_ID", "SequenceIdGenerator"]

MAX_SEQUENCE_ID = 2**31 - 1


class SequenceIdGenerator:
    """Yield sequence ids 1, 2, ..., `MAX_SEQUENCE_ID`, then 1 again.

    Each sender (each connection) owns its own generator; nothing is shared
    between connections.

    Parameters
    ----------
    start : `int`
        First id to return (1 … `MAX_SEQUENCE_ID`).
    """

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        if not 1 <= start <= MAX_SEQUENCE_ID:
            raise ValueError(f"start must be in 1…{MAX_SEQUENCE_ID}, got {start}")
        self._next = start

    def __iter__(self) -> SequenceIdGenerator:
        return self

    def __next__(self) -> int:
        value = self._next
        self._next = 1 if value >= MAX_SEQUENCE_ID else value + 1
        return value
