"""`AsyncResource`: the ``async with`` protocol shared by mountcomm's services."""

from __future__ import annotations

__all__ = ["AsyncResource"]

from types import TracebackType
from typing import Self


class AsyncResource:
    """Mixin: ``async with obj`` awaits ``obj.start()`` and, on exit, ``obj.close()``.

    If ``start`` fails (or is cancelled) part way, ``close`` runs before the
    error propagates, so nothing half-started is left open. Subclasses define
    ``start`` and an idempotent ``close`` that is safe at any moment.
    """

    async def start(self) -> object:
        """Start the resource (defined by subclasses; the result is ignored here)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the resource; idempotent (defined by subclasses)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
