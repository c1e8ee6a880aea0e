"""Tests of mountcomm.sockets: socket options and self-connection detection."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest

from mountcomm import log as mlog
from mountcomm.exceptions import SelfConnectionError
from mountcomm.sockets import (
    DEFAULT_TCP_KEEPALIVE,
    SelfConnectionLog,
    TcpKeepalive,
    apply_socket_options,
    check_not_self_connected,
    coerce_keepalive,
    connect_checked,
    is_self_connection,
    open_checked_connection,
    refuse_self_connection,
    reset_on_close,
    validate_user_timeout,
)
from tests.ports import unused_port

from .timing import T


def test_default_keepalive_detects_within_five_seconds() -> None:
    assert DEFAULT_TCP_KEEPALIVE.detection_time == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"idle": 0}, {"idle": float("nan")}, {"interval": -1}, {"count": 0}, {"count": 1.5}],
)
def test_keepalive_refuses_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="keepalive"):
        TcpKeepalive(**kwargs)  # type: ignore[arg-type]


def test_coerce_keepalive_accepts_a_number_as_idle() -> None:
    assert coerce_keepalive(None) is None
    assert coerce_keepalive(DEFAULT_TCP_KEEPALIVE) is DEFAULT_TCP_KEEPALIVE
    assert coerce_keepalive(6) == TcpKeepalive(idle=6, interval=2, count=3)
    with pytest.raises(ValueError):
        coerce_keepalive(0)
    with pytest.raises(TypeError):
        coerce_keepalive("2")  # type: ignore[arg-type]


def test_validate_user_timeout() -> None:
    assert validate_user_timeout(None) is None
    assert validate_user_timeout(3) == 3.0
    for bad in (0, -1, float("inf"), True):
        with pytest.raises(ValueError, match="tcp_user_timeout"):
            validate_user_timeout(bad)


def test_apply_socket_options_sets_them_on_a_tcp_socket() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as sock,
    ):
        apply_socket_options(
            sock, keepalive=TcpKeepalive(idle=4, interval=2, count=5), user_timeout=2.5
        )
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 4
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 2
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 5
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500
        server.accept()[0].close()


def test_apply_socket_options_leaves_unix_sockets_alone() -> None:
    left, right = socket.socketpair()
    with left, right:
        apply_socket_options(left)
        assert not left.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)


def test_a_socket_connected_to_itself_is_detected() -> None:
    # Simultaneous open with itself: bind to a free port and connect to it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.connect(sock.getsockname())
        assert is_self_connection(sock)
        with pytest.raises(SelfConnectionError, match="reached itself"):
            check_not_self_connected(sock)


def test_an_ordinary_connection_is_not_a_self_connection() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as sock,
    ):
        assert not is_self_connection(sock)
        check_not_self_connected(sock)
        check_not_self_connected(None)
        server.accept()[0].close()


# ---- the checked connect, reset on close, the self-connection log policy -----------------------


def linger(sock: socket.socket) -> tuple[int, int]:
    on, seconds = struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
    return on, seconds


def can_listen_on(port: int) -> bool:
    """True if a listener without SO_REUSEADDR can bind ``port`` (nothing in TIME_WAIT)."""
    with socket.socket() as listener:
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_reset_on_close_sets_linger_zero_and_ignores_closed_sockets() -> None:
    with socket.socket() as sock:
        reset_on_close(sock)
        assert linger(sock) == (1, 0)
    reset_on_close(sock)  # closed: nothing to do
    reset_on_close(None)


def test_refuse_self_connection_resets_before_raising() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.connect(sock.getsockname())
        with pytest.raises(SelfConnectionError, match="reached itself"):
            refuse_self_connection(sock)
        assert linger(sock) == (1, 0)  # its close will be a reset


def test_refuse_self_connection_leaves_an_ordinary_connection_alone() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as sock,
    ):
        refuse_self_connection(sock)
        refuse_self_connection(None)
        assert linger(sock) == (0, 0)
        server.accept()[0].close()


def test_connect_checked_sets_the_options() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        sock = connect_checked(server.getsockname()[:2], T, user_timeout=2.5)
        with sock:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500
            assert sock.gettimeout() == T
            server.accept()[0].close()


def test_connect_checked_refuses_a_self_connection_and_frees_its_port() -> None:
    port = unused_port()
    with pytest.raises(SelfConnectionError):
        connect_checked(("127.0.0.1", port), T, source_address=("127.0.0.1", port))
    # closed with a reset: no TIME_WAIT holds the port a server is about to bind
    assert can_listen_on(port)


def test_connect_checked_raises_a_refusal() -> None:
    with pytest.raises(ConnectionRefusedError):
        connect_checked(("127.0.0.1", unused_port()), T)


async def test_open_checked_connection_sets_the_options() -> None:
    accepted: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(lambda _r, w: accepted.set_result(w), "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.wait_for(
            open_checked_connection("127.0.0.1", port, keepalive=None, user_timeout=3.0), T
        )
        sock = writer.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 3000
        peer = await asyncio.wait_for(accepted, T)
        for w in (writer, peer):
            w.close()
            await asyncio.wait_for(w.wait_closed(), T)


async def test_open_checked_connection_refuses_a_self_connection_and_frees_its_port() -> None:
    port = unused_port()
    with pytest.raises(SelfConnectionError):
        async with asyncio.timeout(T):  # (not wait_for: its task would give the close a turn)
            await open_checked_connection("127.0.0.1", port, local_addr=("127.0.0.1", port))
    assert can_listen_on(port)  # closed, with a reset, when the error is raised


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))


def test_self_connection_log_warns_once_then_throttles_debug_lines() -> None:
    stdlib = logging.getLogger("test_sockets.self_connection_log")
    stdlib.setLevel(logging.DEBUG)
    lines = Lines()
    stdlib.addHandler(lines)
    try:
        policy = SelfConnectionLog(mlog.get_logger(stdlib, "test"), "x_self_connection")
        error = SelfConnectionError("connection to 127.0.0.1:1 reached itself")
        for _ in range(200):
            policy(error, host="h")
    finally:
        stdlib.removeHandler(lines)
    assert policy.count == 200
    levels = [level for level, message in lines.lines if "x_self_connection" in message]
    assert levels[0] == "WARNING"
    assert levels.count("WARNING") == 1
    # the first FIRST all logged, then every EVERY-th: 2..10, 50, 100, 150, 200
    assert levels.count("DEBUG") == SelfConnectionLog.FIRST - 1 + 200 // SelfConnectionLog.EVERY
    assert all("reached itself" in message for _, message in lines.lines)
