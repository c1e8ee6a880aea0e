"""The one way the tests run the ``mountcomm`` command as a separate process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping

from tests.timing import UNIT

T = 20 * UNIT
"""Upper bound of any wait on a CLI process [s]."""

HOST = "127.0.0.1"


def frame(*fields: object) -> bytes:
    """One mount protocol frame of ``fields``, written without the package."""
    return ("\n".join(str(f) for f in fields) + "\r\n").encode()


def now_text() -> str:
    """Now as a protocol timestamp (UTC, milliseconds)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


@dataclasses.dataclass(frozen=True)
class Finished:
    """Exit status and output of a finished ``mountcomm`` process."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The lines on stderr."""
        return self.stderr.splitlines()


async def spawn_cli(
    *args: str, stdout: int = asyncio.subprocess.PIPE, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Start ``python -m mountcomm.cli ARGS`` with stdout (unless given) and stderr piped.

    ``stdout`` may be a file descriptor instead (e.g. a pseudo-terminal's);
    ``env`` replaces the environment.
    """
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mountcomm.cli",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = T) -> Finished:
    """Wait for ``proc`` to exit (killing it after ``timeout``) and collect its output."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await asyncio.wait_for(proc.communicate(), T)
        raise AssertionError(f"mountcomm did not exit within {timeout} s: {err!r}") from None
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(), err.decode())


async def run_cli(*args: str, timeout: float = T) -> Finished:
    """Run ``mountcomm ARGS`` to the end."""
    return await finish(await spawn_cli(*args), timeout)


@contextlib.asynccontextmanager
async def cli_process(
    *args: str, ready: bytes | re.Pattern[bytes]
) -> AsyncIterator[tuple[asyncio.subprocess.Process, re.Match[bytes]]]:
    """Run ``mountcomm ARGS`` until the block ends; enter once stdout shows ``ready``.

    Yields the process and the match of ``ready`` in its stdout. On exit the
    process, if still running, is killed, and its pipes are drained.
    """
    pattern = re.compile(re.escape(ready)) if isinstance(ready, bytes) else ready
    proc = await spawn_cli(*args)
    try:
        assert proc.stdout is not None
        seen = b""
        while (match := pattern.search(seen)) is None:
            line = await asyncio.wait_for(proc.stdout.readline(), T)
            if not line:
                _, err = await asyncio.wait_for(proc.communicate(), T)
                raise AssertionError(f"mountcomm exited before {pattern.pattern!r}: {err!r}")
            seen += line
        yield proc, match
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.communicate(), T)


async def interrupt(proc: asyncio.subprocess.Process) -> Finished:
    """Send SIGINT (Ctrl-C) and wait for the process to end."""
    proc.send_signal(signal.SIGINT)
    return await finish(proc)
