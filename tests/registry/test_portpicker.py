"""The portpicker dialect, with the real ``portpicker`` package as the client."""

from __future__ import annotations

import asyncio
import errno
import os
import sys

import portpicker
import pytest

from mountcomm.registry.harness import RegistryHarness
from mountcomm.registry.peer import current_user, unix_address
from mountcomm.registry.pidwatch import PidWatcher, is_kernel_thread

from .conftest import T, close_raw, open_raw, read_line

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract Unix sockets and pidfds need Linux"
)


async def ask_pid(address: str, pid: int) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(unix_address(address)), T)
    try:
        writer.write(f"{pid}\n".encode())
        return await asyncio.wait_for(reader.read(), T)  # one reply, then the daemon closes
    finally:
        await close_raw(writer)


async def test_pick_unused_port_asks_the_daemon(
    port_registry: RegistryHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert port_registry.portserver_address is not None
    monkeypatch.setenv("PORTSERVER_ADDRESS", port_registry.portserver_address)
    port = await asyncio.to_thread(portpicker.pick_unused_port)
    entries = await port_registry.client.find(service=f"portpicker.{os.getpid()}")
    assert [(e.port, e.user) for e in entries] == [(port, current_user())]
    # a second port for the same pid gets a suffixed name; both outlive the connections
    second = await asyncio.to_thread(portpicker.pick_unused_port)
    names = {e.service for e in await port_registry.client.find(beginswith="portpicker.")}
    assert names == {f"portpicker.{os.getpid()}", f"portpicker.{os.getpid()}_1"}
    assert second != port


async def sleeper() -> asyncio.subprocess.Process:
    """A child that lives until its stdin is closed."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.stdin.read()", stdin=asyncio.subprocess.PIPE
    )


async def dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await asyncio.wait_for(child.wait(), T)
    return child.pid


async def end(child: asyncio.subprocess.Process) -> None:
    assert child.stdin is not None
    child.stdin.close()
    await asyncio.wait_for(child.wait(), T)


async def test_port_is_reclaimed_when_the_pid_dies(port_registry: RegistryHarness) -> None:
    assert port_registry.portserver_address is not None
    child = await sleeper()
    try:
        async with port_registry.client.watch(service=f"portpicker.{child.pid}") as events:
            reply = await ask_pid(port_registry.portserver_address, child.pid)
            port = int(reply)
            added = await asyncio.wait_for(events.__anext__(), T)
            assert (added.kind, added.port) == ("added", port)
            child.stdin.close()  # the child exits
            removed = await asyncio.wait_for(events.__anext__(), T)
            assert (removed.kind, removed.port) == ("removed", port)
    finally:
        await end(child)
    assert await port_registry.client.list_ports() == []


def kernel_thread_pid() -> int:
    """A kernel thread's pid (kthreadd is 2 on Linux)."""
    from mountcomm.registry.pidwatch import is_kernel_thread

    for name in sorted(os.listdir("/proc"), key=lambda n: (len(n), n)):
        if name.isdigit() and is_kernel_thread(int(name)):
            return int(name)
    pytest.skip("no kernel thread is visible in /proc (e.g. a pid namespace)")


async def test_refused_pids_get_no_answer(port_registry: RegistryHarness) -> None:
    address = port_registry.portserver_address
    assert address is not None
    assert not is_kernel_thread(os.getpid())
    for pid in (1, 0, -5, await dead_pid(), kernel_thread_pid()):
        # closed without an answer, as portserver does: never "0"
        assert await ask_pid(address, pid) == b"", pid
    assert await port_registry.client.list_ports() == []


async def test_portpicker_gets_none_for_a_refused_pid(
    port_registry: RegistryHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert port_registry.portserver_address is not None
    pid = await dead_pid()
    port = await asyncio.to_thread(
        portpicker.get_port_from_port_server, port_registry.portserver_address, pid=pid
    )
    assert port is None
    assert await port_registry.client.list_ports() == []


async def test_a_pid_line_that_never_ends_hits_the_line_timeout() -> None:
    """Over TCP a request is a line; on the Unix socket, where the first chunk is a
    portpicker request whole (as portserver.py reads it), a native line that never
    ends hits the timeout."""
    async with RegistryHarness(line_timeout=0.2) as registry:
        assert registry.portserver_address is not None
        reader, writer = await open_raw(registry.port)
        try:
            writer.write(b"12")  # and never the rest of the line
            assert await asyncio.wait_for(reader.read(), T) == b""
        finally:
            await close_raw(writer)
        assert registry.server.statistics()["line_timeouts"] == 1
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(unix_address(registry.portserver_address)), T
        )
        try:
            writer.write(b'{"op": "ping"')  # and never the rest of the line
            assert await asyncio.wait_for(reader.read(), T) == b""
        finally:
            await close_raw(writer)
        assert registry.server.statistics()["line_timeouts"] == 2


async def test_pid_line_over_tcp(port_registry: RegistryHarness) -> None:
    reader, writer = await open_raw(port_registry.port)
    try:
        writer.write(f"{os.getpid()}\n".encode())
        port = int(await read_line(reader))
        assert port > 0
        assert await asyncio.wait_for(reader.read(), T) == b""
    finally:
        await close_raw(writer)
    assert [e.port for e in await port_registry.client.list_ports()] == [port]


async def test_pid_watcher_with_pidfds() -> None:
    exits: asyncio.Queue[int] = asyncio.Queue()
    watcher = PidWatcher(exits.put_nowait)
    gone = await dead_pid()
    watcher.watch(gone)  # already gone: reported soon
    assert await asyncio.wait_for(exits.get(), T) == gone
    child, other = await sleeper(), await sleeper()
    try:
        watcher.watch(child.pid)
        watcher.watch(child.pid)  # idempotent
        assert child.pid in watcher and len(watcher) == 1
        child.stdin.close()
        assert await asyncio.wait_for(exits.get(), T) == child.pid
        assert len(watcher) == 0
        watcher.watch(other.pid)
        await watcher.close()  # stops watching without reporting
        await watcher.close()
        assert len(watcher) == 0 and exits.empty()
        with pytest.raises(RuntimeError, match="closed"):
            watcher.watch(other.pid)
    finally:
        await end(child)
        await end(other)


async def test_pid_watcher_falls_back_to_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open not available")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    watcher = PidWatcher(exited.set_result, poll_interval=0.01)
    child = await sleeper()
    try:
        watcher.watch(child.pid)
        assert child.pid in watcher
        child.stdin.close()
        assert await asyncio.wait_for(exited, T) == child.pid
    finally:
        await end(child)
        await watcher.close()


async def test_pid_watcher_close_stops_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "pidfd_open")
    watcher = PidWatcher(lambda pid: None, poll_interval=0.01)
    watcher.watch(os.getpid())
    await watcher.close()
    assert len(watcher) == 0
