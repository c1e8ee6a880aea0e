"""A connection that reaches its own socket is refused, logged once and retried."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import Any

import pytest

from mountcomm import ClientServerPair
from mountcomm.exceptions import SelfConnectionError
from mountcomm.net import connector as csp_module
from mountcomm.net.streams import open_link
from tests.ports import unused_port

from ..netns import namespace, require_root
from .helpers import LOCAL_HOST, STD_TIMEOUT


async def test_open_link_refuses_and_resets_a_self_connection() -> None:
    port = unused_port()
    with pytest.raises(SelfConnectionError, match="reached itself"):
        await open_link(LOCAL_HOST, port, local_addr=(LOCAL_HOST, port))
    await asyncio.sleep(0)  # let the transport finish closing
    # Reset, not closed: no TIME_WAIT is left, so a server without SO_REUSEADDR can bind.
    with socket.socket() as sock:
        sock.bind((LOCAL_HOST, port))


async def test_pair_retries_after_self_connections(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Force the first attempts to connect to themselves, as the kernel may when retrying."""
    port = unused_port()
    forced = 3
    outcomes: list[str] = []
    attempts_done = asyncio.Event()
    real_open_link = open_link

    async def self_connecting_open_link(host: str, p: int, **kwargs: Any) -> Any:
        if len(outcomes) < forced:
            try:
                return await real_open_link(host, p, local_addr=(LOCAL_HOST, p), **kwargs)
            except SelfConnectionError:
                outcomes.append("self")
                if len(outcomes) == forced:
                    attempts_done.set()
                raise
        return await real_open_link(host, p, **kwargs)

    monkeypatch.setattr(csp_module, "open_link", self_connecting_open_link)
    log = logging.getLogger("test_self_connection")
    pair = ClientServerPair("selfish", LOCAL_HOST, port, LOCAL_HOST, 0, log, connect=False)
    pair.connect_retry_interval = 0.01
    accepted: list[asyncio.StreamWriter] = []
    try:
        connecting = asyncio.create_task(pair.connect_client())
        await asyncio.wait_for(attempts_done.wait(), STD_TIMEOUT)
        assert not pair.client_connected
        server = await asyncio.start_server(lambda r, w: accepted.append(w), LOCAL_HOST, port)
        async with server:
            await asyncio.wait_for(connecting, STD_TIMEOUT)
            assert pair.client_connected
            assert pair.client_writer is not None
            sock = pair.client_writer.get_extra_info("socket")
            assert sock.getsockname() != sock.getpeername()
            await pair.close()
            for writer in accepted:
                writer.close()
                await writer.wait_closed()
    finally:
        await pair.close()
    assert outcomes == ["self"] * forced
    warnings = [r for r in caplog.records if "self_connection_refused" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


async def test_retrying_in_a_two_port_ephemeral_range_never_connects_to_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As root: a namespace whose ephemeral range is the target port and one more.

    Nobody listens on the target port, so the kernel soon picks it as the local
    port of a retry and the socket connects to itself. The pair must refuse each
    such connection and keep retrying; a server started later gets the connection.

    After the third refusal the next attempt waits until the server is bound:
    while the pair keeps retrying, each self-connection holds the target port
    for a moment, and a bind racing them failed for seconds at a time.
    """
    require_root()
    port = 40000 + 2 * secrets.randbelow(5000)  # even: the kernel tries it first
    refused = 0
    bound: list[asyncio.Event] = []  # made in the namespace's loop
    real_open_link = open_link

    async def counting_open_link(*args: Any, **kwargs: Any) -> Any:
        nonlocal refused
        if refused >= 3:
            await bound[0].wait()
        try:
            return await real_open_link(*args, **kwargs)
        except SelfConnectionError:
            refused += 1
            raise

    monkeypatch.setattr(csp_module, "open_link", counting_open_link)

    async def scenario() -> tuple[int, Any, Any]:
        # The pair's own server must not take the range's other port: a fixed
        # port is safe in a private namespace.
        pair = ClientServerPair(
            "selfish", LOCAL_HOST, port, LOCAL_HOST, port - 1000, None, connect=False
        )
        pair.connect_retry_interval = 0.005
        bound.append(asyncio.Event())
        try:
            connecting = asyncio.create_task(pair.connect_client())
            async with asyncio.timeout(STD_TIMEOUT):
                while refused < 3:
                    await asyncio.sleep(0.01)  # polls a counter; the retries set the pace
                    assert not connecting.done(), "connected while nobody listens"
            accepted: list[asyncio.StreamWriter] = []
            server = await _bind_when_free(port, accepted)
            bound[0].set()
            async with server:
                await asyncio.wait_for(connecting, STD_TIMEOUT)
                assert pair.client_writer is not None
                sock = pair.client_writer.get_extra_info("socket")
                names = sock.getsockname(), sock.getpeername()
                await pair.close()
                for writer in accepted:
                    writer.close()
                    await writer.wait_closed()
                return refused, *names
        finally:
            await pair.close()

    with namespace() as ns:
        ns.exec("sysctl", "-w", f"net.ipv4.ip_local_port_range={port} {port + 1}")
        async with ns.loop() as ns_loop:
            count, local, peer = await ns_loop.run(scenario)
    assert count >= 3
    assert local != peer and peer[1] == port


async def _bind_when_free(port: int, accepted: list[asyncio.StreamWriter]) -> asyncio.Server:
    """Listen on ``port``; a self-connection may hold it for an instant: try again."""

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    async with asyncio.timeout(STD_TIMEOUT):
        while True:
            try:
                return await asyncio.start_server(accept, LOCAL_HOST, port)
            except OSError:
                await asyncio.sleep(0.01)
