"""``mountcomm registry`` (as a process) and ``mountcomm ports``."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from mountcomm.cli import main
from mountcomm.cli.ports import format_table
from mountcomm.registry import PortEntry, PortRegistry
from mountcomm.registry.harness import RegistryHarness
from mountcomm.registry.peer import current_user
from tests.ports import unused_ports

from ..cli.launch import spawn_cli
from .conftest import T

_LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")


@pytest.fixture(autouse=True)
def _logs_to_stderr() -> Iterator[None]:
    """Keep the in-process daemon's logs off stdout, where the commands print;
    ``main`` configures structlog for the process, so restore it afterwards."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    yield
    structlog.reset_defaults()


async def start_daemon(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await spawn_cli("registry", *args)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), T)
    match = _LISTENING.search(line)
    if match is None:
        proc.kill()
        _, err = await asyncio.wait_for(proc.communicate(), T)
        raise AssertionError(f"daemon did not start: {line!r} {err!r}")
    return proc, int(match.group(1))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets need Linux")
async def test_registry_process_serves_and_exits_0_on_sigterm() -> None:
    name = f"@mountcomm-cli-test-{id(object())}"
    (pool_port,) = unused_ports(1)
    proc, port = await start_daemon(
        "--host", "127.0.0.1", "--port", "0", "--pool", str(pool_port), "--unix-socket", name
    )
    try:
        async with PortRegistry("127.0.0.1", port, timeout=T) as client:
            assert await client.get_port("svc") == pool_port
            unix = PortRegistry(unix_socket=name, timeout=T)
            async with unix:
                assert [e.port for e in await unix.list_ports()] == [pool_port]
            async with client.watch() as events:
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), T) == 0
                with pytest.raises(ConnectionError):
                    while True:
                        await asyncio.wait_for(events.__anext__(), T)
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.communicate(), T)


async def test_registry_process_reads_its_config_and_exits_0_on_sigint(tmp_path: Path) -> None:
    (pool_port,) = unused_ports(1)
    config = tmp_path / "mountcomm.yaml"
    pool = f"{pool_port}-{pool_port}"
    config.write_text(f"registry: {{host: 127.0.0.1, port: 0, pool: ['{pool}']}}\n")
    proc, port = await start_daemon("--config", str(config))
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
        writer.write(f"GIMME svc {current_user()}\n".encode())
        assert await asyncio.wait_for(reader.readline(), T) == f"OK {pool_port}\r\n".encode()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), T) == 0
        assert await asyncio.wait_for(reader.read(), T) == b""
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), T)
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.communicate(), T)


def test_registry_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["registry", "--pool", "9-1"])
    assert info.value.code == 2
    assert "bad port range 9-1" in capsys.readouterr().err
    assert main(["registry", "--config", "/nonexistent/mountcomm.yaml"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_registry_port_in_use_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["registry", "--host", "127.0.0.1", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_format_table() -> None:
    entries = [PortEntry(80, "web", "alice"), PortEntry(30001, "mount_csc_1", "bob", "10.0.0.2")]
    assert format_table(entries, "h") == (
        "HOST       PORT  SERVICE      USER\n"
        "h            80  web          alice\n"
        "10.0.0.2  30001  mount_csc_1  bob\n"
    )
    assert format_table([]) == "HOST  PORT  SERVICE  USER\n"


async def test_ports_lists_and_finds(port_registry: RegistryHarness) -> None:
    me = current_user()
    await port_registry.client.register("mount_csc", 5000)
    await port_registry.client.register("mount_eui", 5001)
    await port_registry.client.register("web", 5002)
    where = ["--host", port_registry.host, "--port", str(port_registry.port)]

    def run_ports(*args: str) -> str:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main(["ports", *where, *args]) == 0
        return out.getvalue()

    async def ports(*args: str) -> str:
        return await asyncio.to_thread(run_ports, *args)

    h = port_registry.host
    pad = " " * (len(h) - len("HOST"))
    assert (await ports()).splitlines() == [
        f"HOST{pad}  PORT  SERVICE    USER",
        f"{h}  5000  mount_csc  {me}",
        f"{h}  5001  mount_eui  {me}",
        f"{h}  5002  web        {me}",
    ]
    assert (await ports("--service", "web")).splitlines()[1:] == [f"{h}  5002  web      {me}"]
    listed = json.loads(await ports("--beginswith", "mount", "--json"))
    assert listed == [
        {"port": 5000, "service": "mount_csc", "user": me, "host": h},
        {"port": 5001, "service": "mount_eui", "user": me, "host": h},
    ]
    status = json.loads(await ports("--status", "--json"))
    assert status["cluster"] is None and status["entries"] == 3
    assert "cluster: none" in await ports("--status")
    assert json.loads(await ports("--user", "nobody-at-all", "--json")) == []


def test_ports_without_a_registry_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = unused_ports(1)
    assert main(["ports", "--host", "127.0.0.1", "--port", str(port)]) == 1
    assert f"cannot reach the registry at 127.0.0.1:{port}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ports", "--service", "a", "--beginswith", "b"])


async def test_registry_process_with_an_ephemeral_pool_from_its_config(tmp_path: Path) -> None:
    config = tmp_path / "mountcomm.yaml"
    config.write_text("registry: {host: 127.0.0.1, port: 0, pool: ephemeral}\n")
    proc, port = await start_daemon("--config", str(config))
    try:
        async with PortRegistry("127.0.0.1", port, timeout=T) as client:
            entry = await client.allocate("svc")
            # The OS's choice (its ephemeral range), not the default pool 30001-30999.
            assert 0 < entry.port <= 65535 and not 30001 <= entry.port <= 30999
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), T) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.communicate(), T)


async def stop_and_read(proc: asyncio.subprocess.Process, signum: int) -> tuple[int, bytes]:
    proc.send_signal(signum)
    out, _ = await asyncio.wait_for(proc.communicate(), T)
    assert proc.returncode is not None
    return proc.returncode, out


async def test_registry_says_it_stopped_on_sigint_without_clients() -> None:
    proc, _ = await start_daemon("--host", "127.0.0.1", "--port", "0", "--pool", "ephemeral")
    try:
        code, out = await stop_and_read(proc, signal.SIGINT)
        assert code == 0
        assert out.decode().splitlines()[-1] == "mountcomm registry: stopped (SIGINT)"
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.communicate(), T)


async def test_registry_survives_sigusr1_and_sighup(tmp_path: Path) -> None:
    proc, port = await start_daemon("--host", "127.0.0.1", "--port", "0", "--pool", "ephemeral")
    try:
        async with PortRegistry("127.0.0.1", port, timeout=T) as client:
            await client.register("svc", 20001)
            for signum in (signal.SIGUSR1, signal.SIGHUP, signal.SIGUSR1):
                proc.send_signal(signum)
                # a round trip after the signal: the daemon handled it and lives on
                assert [e.port for e in await client.list_ports()] == [20001]
        code, _ = await stop_and_read(proc, signal.SIGTERM)
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.communicate(), T)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets need Linux")
async def test_registry_accepts_portservers_flag_spellings_and_writes_a_port_file(
    tmp_path: Path,
) -> None:
    (pool_port,) = unused_ports(1)
    name = f"@mountcomm-cli-alias-{id(object())}"
    port_file = tmp_path / "daqportmgr" / "listen.port"
    proc, port = await start_daemon(
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        f"--portserver_static_pool={pool_port}-{pool_port}",
        f"--portserver_address={name}",
        "--port-file",
        str(port_file),
    )
    try:
        # NSCL clients read the port from the file, then speak the NSCL dialect
        assert port_file.read_text() == f"{port}\n"
        async with PortRegistry(unix_socket=name, timeout=T) as client:
            assert await client.get_port("svc") == pool_port
        code, _ = await stop_and_read(proc, signal.SIGTERM)
        assert code == 0
        assert not port_file.exists()  # removed on the way out
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.communicate(), T)


def test_port_file_is_off_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    from mountcomm.cli import build_parser

    args = build_parser().parse_args(["registry"])
    assert args.port_file is None


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "x"])
def test_ports_timeout_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ports", "--timeout", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--timeout" in err and ("> 0" in err or "number of seconds" in err)


@pytest.mark.parametrize("command", ["ports", "registry"])
@pytest.mark.parametrize("value", ["70000", "-1"])
def test_ports_are_validated(command: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--port", value])
    assert info.value.code == 2
    assert "expected a port number 0…65535" in capsys.readouterr().err


def test_ports_timeout_reason_is_never_empty() -> None:
    from mountcomm.cli.ports import _reason

    assert _reason(TimeoutError()) == "no answer in time"
    assert _reason(ConnectionRefusedError()) == "ConnectionRefusedError"
    assert _reason(OSError("boom")) == "boom"


async def test_registry_says_it_stopped_on_a_terminate_request() -> None:
    proc, port = await start_daemon("--host", "127.0.0.1", "--port", "0", "--pool", "ephemeral")
    try:
        async with PortRegistry("127.0.0.1", port, timeout=T) as client:
            await client.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), T)
        assert proc.returncode == 0
        assert out.decode().splitlines()[-1] == "mountcomm registry: stopped (terminate request)"
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.communicate(), T)
