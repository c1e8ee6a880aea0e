"""Tests of mountcomm.sockets: socket options and self-connection detection."""

from __future__ import annotations

import socket

import pytest

from mountcomm.exceptions import SelfConnectionError
from mountcomm.sockets import (
    DEFAULT_TCP_KEEPALIVE,
    TcpKeepalive,
    apply_socket_options,
    check_not_self_connected,
    coerce_keepalive,
    is_self_connection,
    validate_user_timeout,
)


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
