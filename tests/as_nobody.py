"""Registry clients running as user ``nobody``, for the trust tests (root only).

A clone of the project may sit where only its owner can read (a 0700 ``mktemp -d``,
``/root``), and so may the interpreter of its virtual environment. The ``nobody``
fixture therefore gives that user what it must import: a copy of the package under
test and of its runtime dependencies, readable by everyone, made once per session and
removed at its end; and it finds an interpreter that ``nobody`` may run. Where there is
none, or the process is not root, the tests that use it are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .timing import T

__all__ = ["SERVICE", "Nobody", "nobody"]

SERVICE = "mount.csc.command"
"""The name the client registers: the one a console looks up to connect."""

_SETPRIV = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")

#: What a registry client imports from outside the standard library.
_PACKAGES = ("mountcomm", "structlog", "yaml")

_SCRIPT = f"""
import asyncio, sys
sys.path.insert(0, sys.argv[2])
from mountcomm.registry import PortRegistry

async def main():
    async with PortRegistry(sys.argv[3], int(sys.argv[4]), timeout=float(sys.argv[1])) as registry:
        for port in sys.argv[5:]:
            await registry.register({SERVICE!r}, int(port))
        print("registered", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@dataclass(frozen=True)
class Nobody:
    """Runs registry clients as user ``nobody`` from a readable copy of the package.

    Attributes
    ----------
    python : str
        An interpreter that ``nobody`` may run.
    path : str
        The readable directory holding the copied packages.
    """

    python: str
    path: str

    @asynccontextmanager
    async def registered(
        self, host: str, port: int, *service_ports: int
    ) -> AsyncIterator[asyncio.subprocess.Process]:
        """Hold :data:`SERVICE` on ``service_ports`` as ``nobody`` while the block runs.

        The client has registered when the block starts; it is ended, and waited for,
        when the block is left, however it is left.
        """
        proc = await asyncio.create_subprocess_exec(
            *_SETPRIV,
            self.python,
            "-I",
            "-c",
            _SCRIPT,
            str(T),
            self.path,
            host,
            str(port),
            *map(str, service_ports),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd="/",
        )
        try:
            await _wait_registered(proc)
            yield proc
        finally:
            await _end(proc)


async def _wait_registered(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None and proc.stderr is not None
    line = b"-"
    while line and line != b"registered\n":  # (its log lines may come first)
        line = await asyncio.wait_for(proc.stdout.readline(), 2 * T)
    if line != b"registered\n":
        err = await asyncio.wait_for(proc.stderr.read(), T)
        raise AssertionError(f"the client as nobody failed: {err.decode()[-2000:]}")


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Close the client's input (it then exits), or kill it; wait for it either way."""
    assert proc.stdin is not None
    if proc.returncode is None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.communicate(), T)
    except TimeoutError:
        proc.kill()
        await asyncio.wait_for(proc.communicate(), T)


def _copy_readable(target: Path) -> None:
    """Copy the packages a client imports into ``target``, readable by everyone."""
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        source = Path(next(iter(spec.submodule_search_locations)))
        shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(target, 0o755)
    for root, dirs, files in os.walk(target):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def _runnable_python(path: Path) -> str | None:
    """The first interpreter that ``nobody`` can run and that imports the copy."""
    candidates = [
        os.path.realpath(sys.executable),
        getattr(sys, "_base_executable", ""),
        shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}") or "",
        shutil.which("python3") or "",
        "/usr/bin/python3",
    ]
    probe = f"import sys; sys.path.insert(0, {str(path)!r}); import mountcomm.registry"
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            done = subprocess.run(
                [*_SETPRIV, python, "-I", "-c", probe],
                capture_output=True,
                timeout=2 * T,
                cwd="/",
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return python
    return None


@pytest.fixture(scope="session")
def nobody() -> Iterator[Nobody]:
    """Run registry clients as user ``nobody`` (skips, saying why, where it cannot)."""
    if not (hasattr(os, "getuid") and os.getuid() == 0):
        pytest.skip("needs root (to run a registry client as user nobody)")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (to run a registry client as user nobody)")
    path = Path(tempfile.mkdtemp(prefix="mountcomm-nobody-"))
    try:
        _copy_readable(path)
        python = _runnable_python(path)
        if python is None:
            pytest.skip("no Python >= 3.11 that user nobody may run was found")
        yield Nobody(python, str(path))
    finally:
        shutil.rmtree(path, ignore_errors=True)
