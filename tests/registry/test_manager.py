"""The NSCL dialect from blocking clients: a raw socket and `PortManager`."""

from __future__ import annotations

import json
import os
import select
import socket
import sys

import pytest

from mountcomm.exceptions import ConnectionClosedError, ProtocolError
from mountcomm.registry import PortManager
from mountcomm.registry.peer import current_user
from tests.ports import unused_ports

from .conftest import UNIT, T, connect_tcp, pool_of, registry_in_thread


def lines_of(sock: socket.socket, count: int) -> list[bytes]:
    stream = sock.makefile("rb")
    try:
        return [stream.readline() for _ in range(count)]
    finally:
        stream.close()


def test_raw_client_speaking_only_gimme_and_list() -> None:
    me = current_user().encode()
    with registry_in_thread(pool=pool_of(unused_ports(3))) as server, connect_tcp(server.port) as s:
        s.sendall(b"GIMME alpha " + me + b"\n")
        s.sendall(b"GIMME alpha " + me + b"\r\n")
        s.sendall(b"LIST\n")
        first, second, count, *listing = lines_of(s, 5)
        assert first.startswith(b"OK ") and second.startswith(b"OK ")
        assert count == b"OK 2\r\n"
        pa, pb = int(first.split()[1]), int(second.split()[1])
        expected = [b"%d alpha %s\r\n" % (pa, me), b"%d alpha_1 %s\r\n" % (pb, me)]
        assert sorted(listing) == sorted(expected)
        with connect_tcp(server.port) as other:
            other.sendall(b"LIST\n")
            assert lines_of(other, 1) == [b"OK 2\r\n"]
        s.shutdown(socket.SHUT_WR)  # disconnecting releases the ports
        assert s.recv(100) == b""
        with connect_tcp(server.port) as other:
            other.sendall(b"LIST\n")
            assert lines_of(other, 1) == [b"OK 0\r\n"]


def watch_events(port: int) -> socket.socket:
    """A native connection watching every change (its reply already read)."""
    sock = connect_tcp(port)
    sock.sendall(b'{"op": "watch", "id": 1}\n')
    assert b'"ok":true' in read_lines(sock, 1)[0]
    return sock


def read_lines(sock: socket.socket, count: int) -> list[bytes]:
    """Read exactly ``count`` lines without buffering past them."""
    lines = []
    for _ in range(count):
        line = b""
        while not line.endswith(b"\n"):
            chunk = sock.recv(1)
            assert chunk, "connection closed"
            line += chunk
        lines.append(line)
    return lines


def test_port_manager_api() -> None:
    me = current_user()
    with (
        registry_in_thread(pool=pool_of(unused_ports(4))) as server,
        watch_events(server.port) as watcher,
    ):
        with PortManager("127.0.0.1", server.port) as pm:
            a = pm.getPort("svc")
            b = pm.getPort("svc")
            c = pm.getPort("other")
            listed = pm.listPorts()
            assert sorted(listed, key=lambda e: e["port"]) == sorted(
                [
                    {"port": a, "service": "svc", "user": me},
                    {"port": b, "service": "svc_1", "user": me},
                    {"port": c, "service": "other", "user": me},
                ],
                key=lambda e: e["port"],
            )
            assert [e["port"] for e in pm.find(service="svc")] == [a]
            assert sorted(e["port"] for e in pm.find(beginswith="svc")) == sorted([a, b])
            assert pm.find(beginswith="svc", user="someone-else") == []
            assert len(pm.find(user=me)) == 3
            # as NSCL's own test_find_byillegal expects
            with pytest.raises(RuntimeError, match="unknown search key"):
                pm.find(name="svc")
            with pytest.raises(RuntimeError, match="george"):
                pm.find(george="svc")
            with pytest.raises(ValueError, match="one word"):
                pm.getPort("two words")
            with PortManager("127.0.0.1", server.port) as viewer:
                assert len(viewer.listPorts()) == 3
        assert pm.closed
        # released with the manager's connection: 3 added, then 3 removed events
        events = [json.loads(line)["event"] for line in read_lines(watcher, 6)]
        assert events == ["added"] * 3 + ["removed"] * 3
        with PortManager("127.0.0.1", server.port) as viewer:
            assert viewer.listPorts() == []


def test_port_manager_pool_exhausted_keeps_the_connection_and_its_ports() -> None:
    with registry_in_thread(pool=pool_of(unused_ports(1))) as server:
        pm = PortManager("127.0.0.1", server.port)
        try:
            first = pm.getPort("first")
            with pytest.raises(RuntimeError, match="no free ports in pool") as info:
                pm.getPort("second")
            assert "{" not in str(info.value)  # the Tcl braces are stripped
            # as with NSCL's server: the object stays usable and keeps its port
            assert not pm.closed
            assert [e["port"] for e in pm.listPorts()] == [first]
            with pytest.raises(RuntimeError, match="no free ports in pool"):
                pm.getPort("third")
            with PortManager("127.0.0.1", server.port) as viewer:
                assert [e["service"] for e in viewer.listPorts()] == ["first"]
        finally:
            pm.close()


def test_port_manager_when_the_registry_goes_away() -> None:
    with registry_in_thread(pool=None) as server:
        pm = PortManager("127.0.0.1", server.port, timeout=T)
        port = server.port
    try:
        with pytest.raises(ConnectionClosedError):
            pm.listPorts()
        with pytest.raises(RuntimeError, match="unusable"):
            pm.getPort("x")
    finally:
        pm.close()
    with pytest.raises(ConnectionRefusedError):
        PortManager("127.0.0.1", port)


@pytest.mark.parametrize(
    ("reply", "error", "reason"),
    [
        (b"OK many\r\n", ProtocolError, "expected 'OK <number>', got 'OK many'"),
        (b"OK 1\r\nnot an entry\r\n", ProtocolError, "expected '<port> <service> <user>'"),
        (b"OK 2\r\n5000 svc me\r\n", ConnectionClosedError, "closed the connection"),
        (b"", TimeoutError, "did not reply within"),
    ],
    ids=["bad-count", "bad-entry", "cut-short", "silent"],
)
def test_port_manager_is_unusable_after_a_reply_it_cannot_read(
    reply: bytes, error: type[Exception], reason: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(T)
        pm = PortManager("127.0.0.1", listener.getsockname()[1], timeout=UNIT)
        registry, _ = listener.accept()
        with registry, pm:
            registry.sendall(reply)
            if error is ConnectionClosedError:
                registry.shutdown(socket.SHUT_WR)
            with pytest.raises(error, match=reason):
                pm.listPorts()
            assert pm.closed
            with pytest.raises(
                RuntimeError, match=f"unusable after an earlier failure: .*{reason}"
            ):
                pm.getPort("x")


def test_port_manager_close_is_idempotent() -> None:
    with registry_in_thread(pool=None) as server:
        pm = PortManager("127.0.0.1", server.port)
        pm.close()
        pm.close()
        with pytest.raises(RuntimeError, match="closed"):
            pm.getPort("x")


def _wait_pid_exit(pid: int) -> None:
    fd = os.pidfd_open(pid)
    try:
        assert select.select([fd], [], [], T)[0], f"process {pid} did not exit"
    finally:
        os.close(fd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfd needs Linux")
def test_port_manager_autostart() -> None:
    port, pool_port = unused_ports(2)
    with pytest.raises(ConnectionRefusedError):
        PortManager("127.0.0.1", port)
    with PortManager(
        "127.0.0.1", port, autostart=True, daemon_args=["--pool", str(pool_port)], timeout=T
    ) as pm:
        assert pm.getPort("svc") == pool_port
        # the daemon is a separate, detached process: find it and stop it
        with connect_tcp(port) as s:
            s.sendall(b'{"op": "ping", "id": 1}\n')
            pid = json.loads(lines_of(s, 1)[0])["pid"]
        assert pid != os.getpid()
    with connect_tcp(port) as s:
        s.sendall(b'{"op": "terminate", "id": 1}\n')
        assert b'"ok":true' in lines_of(s, 1)[0]
    _wait_pid_exit(pid)


def test_autostart_only_on_this_host() -> None:
    from mountcomm.registry import autostart

    with pytest.raises(ValueError, match="only start a registry on this host"):
        autostart.start_daemon("192.0.2.1", 30000)
    with pytest.raises(ValueError, match="fixed port"):
        autostart.start_daemon("localhost", 0)
    assert autostart.is_local_host("::1") and not autostart.is_local_host("example.org")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfd needs Linux")
def test_autostart_failure_is_a_mountcomm_connection_error() -> None:
    from mountcomm.exceptions import MountcommError
    from mountcomm.registry.autostart import RegistryStartError, start_daemon

    (port,) = unused_ports(1)
    # a daemon that cannot start (bad arguments): the documented except clause catches it
    with pytest.raises(ConnectionClosedError, match="exited during start-up") as info:
        start_daemon("127.0.0.1", port, extra_args=["--pool", "9-1"], timeout=T)
    assert isinstance(info.value, RegistryStartError)
    assert isinstance(info.value, MountcommError) and isinstance(info.value, ConnectionError)


def test_port_manager_finds_the_survivor_of_a_name_by_its_plain_name() -> None:
    with (
        registry_in_thread(pool=pool_of(unused_ports(2))) as server,
        PortManager("127.0.0.1", server.port) as second,
    ):
        first = PortManager("127.0.0.1", server.port)
        first.getPort("svc")
        port = second.getPort("svc")
        assert [e["service"] for e in second.find(beginswith="svc")] == ["svc", "svc_1"]
        with watch_events(server.port) as watcher:
            first.close()
            # the first holder's entry goes; the survivor is renamed to the plain name
            renamed = {"event": "added", "port": port, "service": "svc"}
            while True:
                event = json.loads(read_lines(watcher, 1)[0])
                if {k: event[k] for k in renamed} == renamed:
                    break
        assert [e["port"] for e in second.find(service="svc")] == [port]
        assert second.find(service="svc_1") == []
