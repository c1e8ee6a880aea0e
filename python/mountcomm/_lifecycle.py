"""`AsyncResource` and `Closing`: the context-manager protocols shared by mountcomm's classes."""

from __future__ import annotations

__all__ = ["AsyncResource", "Closing"]

from typing import Self


class AsyncResource:
    """Mixin: ``async with obj`` awaits ``obj.start()`` and, on exit, ``obj.close()``.

    If ``start`` fails (or is cancelled) part way, ``close`` runs before the
    error propagates, so nothing half-started is left open. Subclasses define
    ``start`` and an idempotent ``close`` that is safe at any moment. A class
    that starts itself at construction overrides `_until_started` instead (it
    waits for that start).
    """

    async def start(self) -> object:
        """Start the resource (defined by subclasses; the result is ignored here)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the resource; idempotent (defined by subclasses)."""
        raise NotImplementedError

    async def _until_started(self) -> object:
        """What ``async with`` awaits before the block runs: `start`, by default."""
        return await self.start()

    async def __aenter__(self) -> Self:
        try:
            await self._until_started()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Closing:
    """Mixin: ``with obj`` returns ``obj`` and, on exit, calls ``obj.close()``.

    For classes whose ``close`` is synchronous and idempotent (a file, a
    blocking connection); like `contextlib.closing`, but declared on the class.
    """

    def close(self) -> None:
        """Close the object; idempotent (defined by subclasses)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
