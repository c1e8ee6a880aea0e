"""Keepalive and TCP_USER_TIMEOUT on every connection made or accepted (real sockets)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from mountcomm import ClientServerPair, Communicator, OneClientServer
from mountcomm.sockets import DEFAULT_TCP_KEEPALIVE, DEFAULT_TCP_USER_TIMEOUT, TcpKeepalive

from .helpers import LOCAL_HOST, STD_TIMEOUT, connected_communicators


def options(writer: asyncio.StreamWriter | None) -> tuple[int, int, int, int, int]:
    assert writer is not None
    sock = writer.get_extra_info("socket")
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
    )


def writers(comm: ClientServerPair) -> list[asyncio.StreamWriter | None]:
    return [comm.client_writer, comm.server_writer]


async def test_defaults_are_on_for_every_connection() -> None:
    k = DEFAULT_TCP_KEEPALIVE
    expected = (1, int(k.idle), int(k.interval), k.count, int(DEFAULT_TCP_USER_TIMEOUT * 1000))
    async with connected_communicators() as (console, controller):
        for comm in (console, controller):
            assert comm.tcp_keepalive == DEFAULT_TCP_KEEPALIVE
            assert comm.tcp_user_timeout == DEFAULT_TCP_USER_TIMEOUT
            for writer in writers(comm):
                assert options(writer) == expected


async def test_options_are_configurable_and_can_be_turned_off() -> None:
    keepalive = TcpKeepalive(idle=7, interval=2, count=4)
    async with connected_communicators(tcp_keepalive=keepalive, tcp_user_timeout=1.5) as comms:
        for comm in comms:
            for writer in writers(comm):
                assert options(writer) == (1, 7, 2, 4, 1500)
    async with connected_communicators(tcp_keepalive=None, tcp_user_timeout=None) as comms:
        for comm in comms:
            for writer in writers(comm):
                keepalive_on, *_, user_timeout = options(writer)
                assert keepalive_on == 0 and user_timeout == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"tcp_keepalive": -1}, ValueError),
        ({"tcp_keepalive": "2"}, TypeError),
        ({"tcp_user_timeout": 0}, ValueError),
        ({"tcp_user_timeout": float("inf")}, ValueError),
    ],
)
async def test_bad_options_are_refused_at_construction(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        ClientServerPair("bad", None, 0, LOCAL_HOST, 0, None, False, **kwargs)
    with pytest.raises(error):
        Communicator("bad", None, 0, LOCAL_HOST, 0, None, True, False, **kwargs)
    with pytest.raises(error):
        OneClientServer("bad", LOCAL_HOST, 0, None, **kwargs)


async def test_one_client_server_applies_its_options() -> None:
    server = OneClientServer("one", LOCAL_HOST, 0, None, tcp_keepalive=3.0, tcp_user_timeout=2)
    try:
        await asyncio.wait_for(server.start_task, STD_TIMEOUT)
        _, writer = await asyncio.open_connection(LOCAL_HOST, server.port)
        await asyncio.wait_for(server.wait_connected(), STD_TIMEOUT)
        assert options(server.writer) == (1, 3, 1, 3, 2000)
        writer.close()
        await writer.wait_closed()
    finally:
        await server.close()
