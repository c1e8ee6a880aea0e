"""``mountcomm registry`` in place of portpicker's ``portserver.py``: its flags, its requests.

Each daemon is started with portserver's flags only. The TCP address it would also
serve by default (the configuration's, 127.0.0.1:30000 when none is given) comes
from a configuration file named by ``$MOUNTCOMM_CONFIG`` and is a port this test
holds, so that "the default TCP port is taken" is the test's doing, whatever else
runs on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import portpicker
import pytest

from mountcomm.cli import main
from mountcomm.registry.peer import unix_address
from tests.ports import unused_ports

from ..cli.launch import finish, spawn_cli
from ..timing import LONG, T
from .conftest import close_raw, registry_in_thread

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract Unix sockets need Linux"
)


@dataclass
class Daemon:
    """A running ``mountcomm registry`` and what the test knows of it."""

    proc: asyncio.subprocess.Process
    address: str
    pool: list[int]
    stderr: list[str] = field(default_factory=list)

    async def log_line(self, pattern: str) -> str:
        """The next stderr line that matches ``pattern`` (the ones before are kept)."""
        assert self.proc.stderr is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stderr.readline(), T)
            assert raw, f"the daemon ended before logging {pattern!r}: {self.stderr}"
            line = raw.decode()
            self.stderr.append(line)
            if re.search(pattern, line):
                return line


def config_env(tmp_path: Path, port: int) -> dict[str, str]:
    """An environment whose configuration puts the registry's TCP port at ``port``."""
    config = tmp_path / "mountcomm.yaml"
    config.write_text(f"registry: {{host: 127.0.0.1, port: {port}}}\n", encoding="utf-8")
    return {**os.environ, "MOUNTCOMM_CONFIG": str(config)}


@contextlib.asynccontextmanager
async def portserver(tmp_path: Path, *flags: str) -> AsyncIterator[Daemon]:
    """``mountcomm registry --portserver_address @x --portserver_static_pool ... FLAGS``,
    while the TCP port of its configuration is held by this test."""
    address = f"@mountcomm-portserver-{os.getpid()}-{id(object())}"
    pool = sorted(unused_ports(2))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = await spawn_cli(
            "registry",
            "--portserver_address",
            address,
            f"--portserver_static_pool={pool[0]}-{pool[0]},{pool[1]}-{pool[1]}",
            *flags,
            env=config_env(tmp_path, port),
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), LONG)
            expected = f"listening on {address} (not on TCP: 127.0.0.1:{port} is in use)"
            assert line.decode().strip() == f"mountcomm registry: {expected}", line
            daemon = Daemon(proc, address, pool)
            warning = await daemon.log_line("tcp_port_in_use")
            assert f"port={port}" in warning and "warning" in warning
            yield daemon
        finally:
            if proc.returncode is None:
                proc.kill()
            await asyncio.wait_for(proc.communicate(), T)


async def ask(address: str, request: bytes) -> bytes:
    """Send ``request`` as portpicker does (one write, no shutdown); read to EOF."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(unix_address(address)), T)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), T)
    finally:
        await close_raw(writer)


async def stop(daemon: Daemon) -> None:
    daemon.proc.send_signal(signal.SIGTERM)
    finished = await finish(daemon.proc, T)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines()[-1] == "mountcomm registry: stopped (SIGTERM)"


async def test_portserver_flags_and_requests_with_verbose(tmp_path: Path) -> None:
    async with portserver(tmp_path, "--verbose") as daemon:
        pid = os.getpid()
        # portpicker's own client: "<pid>\n", one port back
        first = await asyncio.to_thread(portpicker.get_port_from_port_server, daemon.address, pid)
        assert first in daemon.pool
        # the same request without its newline is answered too, as portserver.py does
        reply = await ask(daemon.address, b"%d" % pid)
        assert re.fullmatch(rb"[0-9]+\n", reply) and int(reply) in daemon.pool
        assert {first, int(reply)} == set(daemon.pool)
        # malformed requests: closed without a byte
        for request in (b"abc\n", b"12x", b"GIMME svc me\n", b"-\n"):
            assert await ask(daemon.address, request) == b"", request
        # the pool is used up: no answer (portpicker then returns None)
        assert await ask(daemon.address, b"%d\n" % pid) == b""
        # --verbose: mountcomm's debug messages are in the log
        await daemon.log_line("connection_opened")
        daemon.proc.send_signal(signal.SIGUSR1)
        stats = await daemon.log_line("registry_statistics")
        assert "entries=2" in stats
        await stop(daemon)


async def test_statistics_appear_at_the_default_log_level(tmp_path: Path) -> None:
    async with portserver(tmp_path) as daemon:
        assert int(await ask(daemon.address, b"%d\n" % os.getpid())) in daemon.pool
        daemon.proc.send_signal(signal.SIGUSR1)
        stats = await daemon.log_line("registry_statistics")
        assert "entries=1" in stats and "info" in stats
        # at the default level (info, as portserver's): no debug messages
        assert not [line for line in daemon.stderr if "connection_opened" in line]
        await stop(daemon)


async def test_debug_flag_is_accepted_and_logs_debug_messages(tmp_path: Path) -> None:
    async with portserver(tmp_path, "--debug") as daemon:
        assert int(await ask(daemon.address, b"%d" % os.getpid())) in daemon.pool
        await daemon.log_line("connection_opened")
        await stop(daemon)


def test_a_taken_tcp_port_without_a_unix_socket_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing else to serve, the TCP port is required even when not asked for."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        monkeypatch.setenv("MOUNTCOMM_CONFIG", config_env(tmp_path, port)["MOUNTCOMM_CONFIG"])
        assert main(["registry", "--pool", "ephemeral"]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_taken_unix_socket_exits_1_even_when_tcp_is_given_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"@mountcomm-portserver-taken-{os.getpid()}-{id(object())}"
    with (
        registry_in_thread(pool=None, unix_socket=address),
        socket.create_server(("127.0.0.1", 0)) as taken,
    ):
        port = taken.getsockname()[1]
        monkeypatch.setenv("MOUNTCOMM_CONFIG", config_env(tmp_path, port)["MOUNTCOMM_CONFIG"])
        assert main(["registry", "--portserver_address", address]) == 1
    assert f"cannot listen on {address}" in capsys.readouterr().err


def test_an_asked_for_tcp_port_that_is_taken_exits_1_with_a_unix_socket(
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"@mountcomm-portserver-asked-{os.getpid()}-{id(object())}"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        args = ["registry", "--port", str(port), "--portserver_address", address]
        assert main(args) == 1
    assert f"cannot listen on 127.0.0.1:{port} or {address}" in capsys.readouterr().err
