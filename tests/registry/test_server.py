"""The daemon over real sockets on 127.0.0.1 (and Unix sockets)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from pathlib import Path

import pytest

from mountcomm.registry import native
from mountcomm.registry.client import PortRegistry
from mountcomm.registry.entries import PortEntry
from mountcomm.registry.harness import RegistryHarness
from mountcomm.registry.peer import current_user
from mountcomm.registry.server import RegistryServer
from tests.ports import unused_ports

from .conftest import T, assert_closed_by_peer, close_raw, open_raw, pool_of, read_line


async def ask(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, **request: object
) -> dict[str, object]:
    writer.write(json.dumps(request).encode() + b"\n")
    return json.loads(await read_line(reader))


async def test_native_dialect_over_tcp(port_registry: RegistryHarness) -> None:
    reader, writer = await open_raw(port_registry.port)
    try:
        pong = await ask(reader, writer, op="ping", id=1)
        assert pong["ok"] and pong["local"] is True and pong["user"] == current_user()
        assert pong["pid"] == os.getpid()
        entry = await ask(reader, writer, op="allocate", id=2, service="svc")
        assert entry["ok"] and entry["service"] == "svc"
        assert 0 < entry["port"] < 65536  # type: ignore[operator]
        # a higher port of the same name: a suffix (the lowest port has the plain name)
        again = await ask(reader, writer, op="register", id=3, service="svc", port=65001)
        assert again["service"] == "svc_1"
        listed = await ask(reader, writer, op="list", id=4)
        assert [e["service"] for e in listed["entries"]] == ["svc", "svc_1"]  # type: ignore[union-attr]
        assert (await ask(reader, writer, op="release", id=5, port=65001))["ok"]
        found = await ask(reader, writer, op="find", id=6, beginswith="sv")
        assert [e["service"] for e in found["entries"]] == ["svc"]  # type: ignore[union-attr]
    finally:
        await close_raw(writer)


async def test_entries_end_with_their_connection(port_registry: RegistryHarness) -> None:
    watcher = port_registry.client
    owner = await port_registry.new_client()
    async with watcher.watch(beginswith="svc") as events:
        entry = await owner.register("svc", 4321)
        added = await asyncio.wait_for(events.__anext__(), T)
        assert (added.kind, added.port, added.user) == ("added", 4321, current_user())
        # NSCL connection too
        reader, writer = await open_raw(port_registry.port)
        writer.write(b"GIMME svc " + current_user().encode() + b"\n")
        ok, port = (await read_line(reader)).split()
        assert ok == b"OK"
        nscl_added = await asyncio.wait_for(events.__anext__(), T)
        assert (nscl_added.port, nscl_added.service) == (int(port), "svc_1")
        await owner.close()
        removed = await asyncio.wait_for(events.__anext__(), T)
        assert (removed.kind, removed.port, removed.service) == ("removed", 4321, entry.service)
        assert [e.port for e in await watcher.list_ports()] == [int(port)]
        await close_raw(writer)
        removed = await asyncio.wait_for(events.__anext__(), T)
        assert (removed.kind, removed.port) == ("removed", int(port))
    assert await watcher.list_ports() == []


async def test_suffixes_are_shared_by_all_dialects(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    first = await client.allocate("svc")
    reader, writer = await open_raw(port_registry.port)
    try:
        writer.write(f"GIMME svc {current_user()}\nGIMME svc {current_user()}\nLIST\n".encode())
        replies = [await read_line(reader) for _ in range(6)]
    finally:
        await close_raw(writer)
    assert replies[0].startswith(b"OK ") and replies[1].startswith(b"OK ")
    assert replies[2] == b"OK 3\r\n"
    services = sorted(line.split()[1] for line in replies[3:])
    assert services == [b"svc", b"svc_1", b"svc_2"]
    assert first.service == "svc"


async def test_pool_exhaustion_and_busy_ports() -> None:
    busy, free = unused_ports(2)
    with socket.create_server(("127.0.0.1", busy)):  # another program holds it
        async with RegistryServer("127.0.0.1", 0, pool=pool_of([busy, free])) as server:
            reader, writer = await open_raw(server.port)
            try:
                writer.write(f"GIMME a {current_user()}\n".encode())
                assert await read_line(reader) == f"OK {free}\r\n".encode()
                writer.write(f"GIMME b {current_user()}\n".encode())
                reply = await read_line(reader)
                assert reply.startswith(b"FAIL {no free ports in pool")
                assert b"1 held through the registry, 1 in use" in reply
                # as NSCL's server: the connection and its earlier port are kept
                writer.write(b"LIST\n")
                assert await read_line(reader) == b"OK 1\r\n"
                assert await read_line(reader) == f"{free} a {current_user()}\r\n".encode()
                assert len(server.store) == 1
                watcher = PortRegistry("127.0.0.1", server.port, timeout=T)
                async with watcher, watcher.watch(service="a", initial=False) as events:
                    await close_raw(writer)
                    removed = await asyncio.wait_for(events.__anext__(), T)
                    assert (removed.kind, removed.port) == ("removed", free)
            finally:
                await close_raw(writer)
            assert len(server.store) == 0


async def test_refusal_to_release_someone_elses_port(port_registry: RegistryHarness) -> None:
    from mountcomm.exceptions import RegistryPermissionError, UnknownPortError

    owner = port_registry.client
    other = await port_registry.new_client()
    port = await owner.get_port("mine")
    with pytest.raises(RegistryPermissionError, match="only its own ports"):
        await other.release(port)
    with pytest.raises(UnknownPortError):
        await other.release(1)
    assert [e.port for e in await other.find(service="mine")] == [port]
    await owner.release(port)
    assert await other.list_ports() == []


async def test_user_comes_from_credentials(port_registry: RegistryHarness) -> None:
    me = current_user()
    assert (await port_registry.client.ping()).user == me
    unix = await port_registry.new_client(unix_socket=port_registry.portserver_address)
    info = await unix.ping()
    assert (info.user, info.uid, info.local) == (me, os.getuid(), True)
    entry = await unix.register("svc", 5555, user=me)
    assert entry.user == me
    # a differing claim (NSCL clients send $USER) is recorded, never refused
    other = await unix.register("svc", 5556, user=me + "x")
    assert other.user == me
    found = await unix.request(native.Find(service="svc_1"))
    assert found == native.EntriesReply((PortEntry(5556, "svc_1", me),), (me + "x",))
    reader, writer = await open_raw(port_registry.port)
    try:
        writer.write(b"GIMME svc not-" + me.encode() + b"\nLIST\n")
        assert (await read_line(reader)).startswith(b"OK ")
        assert await read_line(reader) == b"OK 3\r\n"
        listed = [await read_line(reader) for _ in range(3)]
        assert all(line.split()[2] == me.encode() for line in listed)  # verified users only
    finally:
        await close_raw(writer)


async def test_malformed_input_gets_error_replies(port_registry: RegistryHarness) -> None:
    reader, writer = await open_raw(port_registry.port)
    try:
        writer.write(b'{"op": "ping", "id": 1}\n{"op": 5}\n\xff\xfe\n[]\n{"op":"list"}\n')
        replies = [json.loads(await read_line(reader)) for _ in range(5)]
        assert [r["ok"] for r in replies] == [True, False, False, False, True]
        assert all(r["error"] == "bad_request" for r in replies[1:4])
    finally:
        await close_raw(writer)
    reader, writer = await open_raw(port_registry.port)
    try:
        writer.write(b"HELLO there\n")
        assert (await read_line(reader)).startswith(b"FAIL {unknown request 'HELLO'")
        writer.write(b"LIST\n")  # the connection stays, as with NSCL's server
        assert await read_line(reader) == b"OK 0\r\n"
    finally:
        await close_raw(writer)


async def test_oversized_lines_are_refused_and_the_connection_closed() -> None:
    async with RegistryServer("127.0.0.1", 0, pool=None, max_line_bytes=100) as server:
        reader, writer = await open_raw(server.port)
        try:
            # far more than the limit, without a newline: refused as soon as it is too long
            writer.write(b'{"op": "ping", "pad": "' + b"x" * 1_000_000)
            reply = json.loads(await read_line(reader))
            assert reply["error"] == "bad_request" and "longer than 100" in reply["message"]
            await assert_closed_by_peer(reader)
        finally:
            writer.transport.abort()
        # the daemon carries on
        reader, writer = await open_raw(server.port)
        try:
            assert (await ask(reader, writer, op="ping", id=1))["ok"]
        finally:
            await close_raw(writer)


async def test_500_concurrent_clients(port_registry: RegistryHarness) -> None:
    count = 500
    me = current_user()

    async def client(i: int) -> tuple[asyncio.StreamWriter, bytes]:
        reader, writer = await open_raw(port_registry.port)
        if i % 2:
            writer.write(f"GIMME svc{i} {me}\n".encode())
        else:
            # groups of 25 duplicates: "s0", "s0_1", ... (renamed as lower holders leave)
            service = b"s%d" % (i % 20)
            writer.write(
                b'{"op": "register", "id": 1, "service": "%s", "port": %d}\n' % (service, i + 1)
            )
        return writer, await read_line(reader)

    results = await asyncio.gather(*(client(i) for i in range(count)))
    async with port_registry.client.watch(initial=False) as events:
        try:
            assert all(line.startswith((b"OK ", b'{"id":1,"ok":true')) for _, line in results)
            entries = await port_registry.client.list_ports()
            assert len(entries) == count
            assert len({e.service for e in entries}) == count  # "s0", "s0_1", ..., "svc1", ...
            assert port_registry.server.connection_count == count + 1
        finally:
            await asyncio.gather(*(close_raw(writer) for writer, _ in results))
        # every entry goes; survivors of a shared name are renamed on the way
        live = {e.port for e in entries}
        removed = 0
        while live:
            event = await asyncio.wait_for(events.__anext__(), T)
            if event.kind == "removed":
                live.discard(event.port)
                removed += 1
            else:
                live.add(event.port)
        assert removed >= count
    assert await port_registry.client.list_ports() == []


async def test_close_is_ordered_and_leaves_nothing_running() -> None:
    server = RegistryServer("127.0.0.1", 0, pool=None, shutdown_timeout=T)
    await server.start()
    idle_reader, idle_writer = await open_raw(server.port)
    reader, writer = await open_raw(server.port)
    writer.write(b'{"op": "watch", "id": 1}\n{"op": "allocate", "id": 2, "service": "a"}\n')
    assert json.loads(await read_line(reader))["id"] == 1
    assert json.loads(await read_line(reader))["id"] == 2
    assert json.loads(await read_line(reader))["event"] == "added"
    tasks_before = asyncio.all_tasks()
    await asyncio.wait_for(asyncio.gather(server.close(), server.close()), T)
    assert server.done_task.done()
    assert await asyncio.wait_for(reader.read(), T) == b""
    assert await asyncio.wait_for(idle_reader.read(), T) == b""
    assert len(server.store) == 0 and server.connection_count == 0
    assert asyncio.all_tasks() <= tasks_before
    await server.close()  # idempotent
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T)
    await close_raw(writer)
    await close_raw(idle_writer)


async def test_terminate_request_shuts_the_daemon_down() -> None:
    async with RegistryServer("127.0.0.1", 0, pool=None) as server:
        reader, writer = await open_raw(server.port)
        try:
            assert (await ask(reader, writer, op="terminate", id=1)) == {"id": 1, "ok": True}
            assert await asyncio.wait_for(reader.read(), T) == b""
            await asyncio.wait_for(server.wait_closed(), T)
        finally:
            await close_raw(writer)


async def test_start_failure_leaves_nothing_open() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = RegistryServer("127.0.0.1", taken.getsockname()[1], pool=None)
        with pytest.raises(OSError):
            await server.start()
    assert server.done_task.done()


async def test_unix_socket_file_life_cycle(tmp_path: Path) -> None:
    path = tmp_path / "registry.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a socket file nobody listens on any more
    stale.close()
    async with RegistryServer("127.0.0.1", 0, pool=None, unix_socket=str(path)) as server:
        assert path.is_socket() and path.stat().st_mode & 0o777 == 0o666
        second = RegistryServer("127.0.0.1", 0, pool=None, unix_socket=str(path))
        with pytest.raises(OSError, match="another server listens"):
            await second.start()
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), T)
        try:
            assert (await ask(reader, writer, op="ping", id=1))["user"] == current_user()
        finally:
            await close_raw(writer)
        assert server.unix_socket == str(path)
    assert not path.exists()
    path.write_text("not a socket")
    with pytest.raises(OSError, match="not a socket"):
        await RegistryServer("127.0.0.1", 0, pool=None, unix_socket=str(path)).start()


_OTHER_USER_SCRIPT = """
import json, socket, sys
port, unix, held = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def talk(sock, requests):
    stream = sock.makefile("rwb")
    replies = []
    for request in requests:
        stream.write(json.dumps(request).encode() + b"\\n")
        stream.flush()
        replies.append(json.loads(stream.readline()))
    stream.close()
    sock.close()
    return replies
tcp = socket.create_connection(("127.0.0.1", port), timeout=5)
unix_sock = socket.socket(socket.AF_UNIX)
unix_sock.settimeout(5)
unix_sock.connect("\\0" + unix[1:])
requests = [
    {"op": "ping", "id": 1},
    {"op": "allocate", "id": 2, "service": "svc", "user": "root"},
    {"op": "register", "id": 3, "service": "svc", "port": 6000},
    {"op": "release", "id": 4, "port": held},
    {"op": "terminate", "id": 5},
]
print(json.dumps([talk(tcp, requests), talk(unix_sock, requests[:1])]))
"""


@pytest.mark.skipif(
    not (hasattr(os, "getuid") and os.getuid() == 0 and os.path.exists("/usr/bin/python3")),
    reason="needs root (to run a client as another user) and /usr/bin/python3",
)
async def test_another_users_client(port_registry: RegistryHarness) -> None:
    """A real second uid: the daemon names it from the kernel, whatever it claims."""
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    held = await port_registry.client.register("mine", 5999)
    async with port_registry.client.watch(service="svc", trusted_users=["nobody"]) as events:
        proc = await asyncio.create_subprocess_exec(
            "/usr/bin/python3",
            "-c",
            _OTHER_USER_SCRIPT,
            str(port_registry.port),
            str(port_registry.portserver_address),
            str(held.port),
            user=nobody.pw_uid,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd="/",
        )
        out, err = await asyncio.wait_for(proc.communicate(), T)
        assert proc.returncode == 0, err
        # its entries ended with its connection
        first = await asyncio.wait_for(events.__anext__(), T)
        live = {first.port}
        while live:
            event = await asyncio.wait_for(events.__anext__(), T)
            (live.add if event.kind == "added" else live.discard)(event.port)
        assert first.kind == "added" and first.user == "nobody"
    tcp, unix = json.loads(out)
    ping, claim, register, release, terminate = tcp
    assert (ping["user"], ping["uid"]) == ("nobody", nobody.pw_uid)
    assert (unix[0]["user"], unix[0]["uid"]) == ("nobody", nobody.pw_uid)
    # claiming root is recorded, never believed
    assert (claim["user"], claim["claimed_user"]) == ("nobody", "root")
    assert register["ok"] and register["user"] == "nobody"
    assert release["error"] == "permission_denied"
    assert terminate["error"] == "permission_denied"
    assert not port_registry.server.closed
    assert await port_registry.client.list_ports() == [held]


class _Records(logging.Handler):
    """Collects log lines and wakes a waiter on each (to sequence on the daemon's logs)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.changed.set()

    async def wait_for(self, text: str) -> str:
        async with asyncio.timeout(T):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                self.changed.clear()
                await self.changed.wait()


async def test_a_client_that_closes_before_it_is_identified_cannot_pass_for_root() -> None:
    """Its socket is orphaned (the kernel reports uid 0, no inode): identity unknown."""
    records = _Records()
    log = logging.getLogger("test.registry.gone")
    log.addHandler(records)
    log.setLevel(logging.INFO)
    try:
        async with RegistryServer("127.0.0.1", 0, pool=None, log=log) as server:
            for request in (b'{"op": "terminate", "id": 1}\n', f"{os.getpid()}\n".encode()):
                _, writer = await open_raw(server.port)
                writer.write(request)
                writer.close()  # closed before the daemon reads a byte
            for op in ("op='Terminate'", "op='pid'"):
                line = await records.wait_for(op)
                assert "permission_denied" in line and "closed before" in line
            assert not server.closed and len(server.store) == 0
    finally:
        log.removeHandler(records)


async def test_a_watcher_that_stops_reading_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """Events for a watcher that never reads pile up only to ``max_write_buffer``."""
    log = logging.getLogger("test_slow_watcher")
    caplog.set_level(logging.WARNING, logger=log.name)
    loop = asyncio.get_running_loop()
    server = RegistryServer("127.0.0.1", 0, pool=None, max_write_buffer=4096, log=log)
    async with server, PortRegistry("127.0.0.1", server.port, timeout=T) as client:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as slow:
            # A small receive window, so that the kernel buffers fill up quickly.
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            slow.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(slow, ("127.0.0.1", server.port)), T)
            await loop.sock_sendall(slow, b'{"op": "watch", "id": 1}\n')
            reply = b""
            while not reply.endswith(b"\n"):  # the reply only: no event is ever read
                reply += await asyncio.wait_for(loop.sock_recv(slow, 1), T)
            assert json.loads(reply) == {"id": 1, "ok": True, "entries": []}
            assert server.connection_count == 2

            # Table entries only: nothing binds these ports. The longest names make the
            # biggest events; each round is 2 * batch events (~50 kB) in ~2 round trips.
            service = "slow_watcher_".ljust(120, "x")  # room for the _N suffixes
            ports = range(20001, 20001 + 100)
            rounds = 0
            while server.connection_count == 2:
                rounds += 1
                assert rounds <= 1000, "the slow watcher was never dropped"
                await asyncio.gather(*(client.register(service, p) for p in ports))
                await asyncio.gather(*(client.release(p) for p in ports))
            assert server.connection_count == 1  # the daemon holds nothing of it
            assert "watcher_too_slow" in caplog.text

            # The daemon goes on serving the others, watches included.
            port = ports[0]
            await client.register("after", port)
            async with client.watch(service="after") as events:
                event = await asyncio.wait_for(events.__anext__(), T)
                assert (event.kind, event.port, event.initial) == ("added", port, True)
            assert [e.service for e in await client.list_ports()] == ["after"]

            # Once it reads again, the slow watcher gets what the kernel held, then EOF
            # (or a reset).
            try:
                while await asyncio.wait_for(loop.sock_recv(slow, 65536), T):
                    pass
            except ConnectionResetError:
                pass
