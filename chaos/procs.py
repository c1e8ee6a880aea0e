"""Child processes of the chaos suite: start, wait until ready, kill -9, measure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 15.0


@dataclass
class Child:
    """A child process that prints one ready line on stdout before serving."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    ready_line: str = ""
    _drain: asyncio.Task[None] | None = None

    async def start(self, ready_prefix: str) -> str:
        """Start the process and return its ready line (the first line starting with the prefix).

        Raises
        ------
        RuntimeError
            If the process exits or stays silent for `READY_TIMEOUT` seconds.
        """
        env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), **self.env}
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
        )
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                while True:
                    line = (await self.proc.stdout.readline()).decode()
                    if not line:
                        raise RuntimeError(f"{self.argv[:4]} exited before it was ready")
                    if line.startswith(ready_prefix):
                        self.ready_line = line.strip()
                        self._drain = asyncio.get_running_loop().create_task(
                            _discard(self.proc.stdout)
                        )
                        return self.ready_line
        except TimeoutError:
            await self.kill()
            raise RuntimeError(f"{self.argv[:4]} not ready within {READY_TIMEOUT} s") from None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def kill(self) -> None:
        """kill -9 and reap. Idempotent."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self._reap()

    async def _reap(self) -> None:
        assert self.proc is not None
        await self.proc.wait()
        if self._drain is not None:
            await self._drain
            self._drain = None

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 5 s; return the exit code."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(5):
                    await self._reap()
            except TimeoutError:
                await self.kill()
        return self.proc.returncode


async def _discard(stream: asyncio.StreamReader) -> None:
    """Read a child's output to its end, so that a full pipe never blocks the child."""
    while await stream.read(65536):
        pass


def registry_child(port: int) -> Child:
    """``mountcomm registry`` on 127.0.0.1:``port`` with an ephemeral pool."""
    return Child(
        [
            sys.executable,
            "-m",
            "mountcomm.cli",
            "registry",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--pool",
            "ephemeral",
        ]
    )


def sim_child(*, command_port: int = 0, reply_port: int = 0, registry_port: int = 0) -> Child:
    """A simulated controller worker (`chaos.sim_worker`) for the CSC role."""
    argv = [
        sys.executable,
        "-m",
        "chaos.sim_worker",
        "--command-port",
        str(command_port),
        "--reply-port",
        str(reply_port),
    ]
    if registry_port:
        argv += ["--registry-port", str(registry_port)]
    return Child(argv, env={"PYTHONPATH": f"{ROOT / 'python'}:{ROOT}"})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int | None = None) -> float:
    """Resident set size of ``pid`` (default: this process) [MiB]."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
