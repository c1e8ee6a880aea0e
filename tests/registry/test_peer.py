"""What the OS tells about peers and processes; the bind probe."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mountcomm.registry import peer, pidwatch, probe
from mountcomm.registry.peer import Credentials

from .conftest import T

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")


def test_user_name_and_current_user() -> None:
    assert peer.user_name(os.getuid()) == peer.current_user()
    assert peer.user_name(987654) == "987654"  # no such user: the uid in decimal
    assert Credentials.of_uid(None) == Credentials()


@linux_only
def test_unix_peer_credentials_of_a_socketpair() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        creds = peer.unix_peer_credentials(a)
    assert creds == Credentials(os.getuid(), peer.current_user(), os.getpid())


@linux_only
def test_tcp_peer_uid_of_a_real_loopback_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=T)
        conn, _ = server.accept()
        with client, conn:
            ours, theirs = conn.getsockname(), conn.getpeername()
            for lookup in (
                peer.tcp_peer_uid,
                peer.sock_diag_tcp_peer_uid,
                peer.proc_tcp_peer_uid,
            ):
                assert lookup(theirs, ours) == os.getuid()
                # the other direction is our own socket, also ours
                assert lookup(ours, theirs) == os.getuid()
                assert lookup(("127.0.0.1", 1), ours) is None
                assert lookup(("::1", 1), ours) is None
                assert lookup(("garbage", 1), ours) is None
            client.sendall(b"bye")
            client.close()  # orphaned, then TIME_WAIT: the kernel says uid 0, inode 0
            assert conn.recv(10) == b"bye" and conn.recv(10) == b""
            for lookup in (peer.sock_diag_tcp_peer_uid, peer.proc_tcp_peer_uid):
                assert lookup(theirs, ours) is None  # not root: nobody


@linux_only
def test_tcp_peer_credentials_name_the_user_or_say_the_peer_is_gone() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=T)
        conn, _ = server.accept()
        with client, conn:
            ours, theirs = conn.getsockname(), conn.getpeername()
            creds = peer.tcp_peer_credentials(theirs, ours)
            assert creds == Credentials(os.getuid(), peer.current_user())
            client.close()  # orphaned: the OS could tell, but no process holds it
            assert conn.recv(10) == b""
            assert peer.tcp_peer_credentials(theirs, ours) == Credentials(gone=True)


def _proc_line(local: str, remote: str, uid: int, inode: int = 1) -> str:
    return (
        f"   7: {local} {remote} 01 00000000:00000000 00:00000000 00000000  {uid:>5}  0 {inode} 1"
    )


def test_proc_tcp_peer_uid_parses_proc_tables(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    (struct_v4,) = struct.unpack("=I", socket.inet_aton("127.0.0.1"))
    peer_text, ours = f"{struct_v4:08X}:D431", f"{struct_v4:08X}:7530"
    (net / "tcp").write_text(
        "  sl  local_address rem_address   st ...\n"
        + _proc_line(ours, peer_text, 0)  # our side of the connection: not the peer
        + "\n"
        + _proc_line(peer_text, ours, 1234)
        + "\n"
        + _proc_line(peer_text.replace("D431", "D432"), ours, 0, inode=0)
        + "\n"
    )
    proc = str(tmp_path)
    assert peer.proc_tcp_peer_uid(("127.0.0.1", 0xD431), ("127.0.0.1", 30000), proc) == 1234
    # a socket no process holds (inode 0) identifies nobody, even with uid 0
    assert peer.proc_tcp_peer_uid(("127.0.0.1", 0xD432), ("127.0.0.1", 30000), proc) is None
    words = struct.unpack("=4I", socket.inet_pton(socket.AF_INET6, "::1"))
    v6 = "".join(f"{w:08X}" for w in words)
    (net / "tcp6").write_text(_proc_line(f"{v6}:D431", f"{v6}:7530", 4321) + "\n")
    assert peer.proc_tcp_peer_uid(("::1", 0xD431, 0, 0), ("::1", 30000, 0, 0), proc) == 4321
    # mixed families, garbage addresses, a missing procfs: unknown
    assert peer.proc_tcp_peer_uid(("::1", 1), ("127.0.0.1", 2), str(tmp_path)) is None
    assert peer.proc_tcp_peer_uid(("nonsense", 1), ("127.0.0.1", 2), str(tmp_path)) is None
    with pytest.raises(OSError):
        peer.proc_tcp_peer_uid(("127.0.0.1", 1), ("127.0.0.1", 2), str(tmp_path / "x"))


@pytest.mark.parametrize(
    ("peer_host", "local_host", "local"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.8.9.10", "127.0.0.1", True),
        ("::1", "::1", True),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1", True),
        ("192.0.2.7", "192.0.2.7", True),  # reached us on our own address
        ("::ffff:192.0.2.7", "192.0.2.7", True),
        ("192.0.2.8", "192.0.2.7", False),
        ("2001:db8::1", "2001:db8::2", False),
        ("garbage", "127.0.0.1", False),
        ("192.0.2.8", "garbage", False),
    ],
)
def test_is_local_address(peer_host: str, local_host: str, local: bool) -> None:
    assert peer.is_local_address(peer_host, local_host) is local


def test_unix_address() -> None:
    assert peer.unix_address("@name") == "\0name"
    assert peer.unix_address("/run/x.sock") == "/run/x.sock"


# ---- processes ----------------------------------------------------------------------


def test_check_pid_request() -> None:
    me = Credentials(os.getuid(), peer.current_user())
    assert pidwatch.check_pid_request(os.getpid(), me) is None
    assert "positive" in (pidwatch.check_pid_request(0, me) or "")
    assert "pid 1 never exits" in (pidwatch.check_pid_request(1, me) or "")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(T)
    assert "no running process" in (pidwatch.check_pid_request(child.pid, me) or "")


@linux_only
def test_check_pid_request_refuses_other_users_processes() -> None:
    other = Credentials(os.getuid() + 1, "someone")
    reason = pidwatch.check_pid_request(os.getpid(), other)
    assert reason is not None and "belongs to uid" in reason
    assert pidwatch.check_pid_request(os.getpid(), Credentials(0, "root")) is None
    assert pidwatch.check_pid_request(os.getpid(), Credentials()) is None


@linux_only
def test_zombie_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert pidwatch.pid_uid(child.pid) == os.getuid()
        assert not pidwatch.pid_alive(child.pid)
    finally:
        child.wait(T)
    assert not pidwatch.pid_alive(child.pid)
    assert pidwatch.pid_uid(child.pid) is None


# ---- bind probe ---------------------------------------------------------------------


def test_probe_sees_tcp_and_udp_users() -> None:
    port = probe.pick_ephemeral_port()
    assert probe.port_is_free(port)
    with socket.create_server(("127.0.0.1", port)):
        assert not probe.port_is_free(port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", port))
        assert not probe.port_is_free(port)
    assert probe.port_is_free(port)
