"""TelemetryServer.close is bounded, even with a client that never reads."""

from __future__ import annotations

import asyncio
import socket

from mountcomm.sim.telemetry import TelemetryServer
from tests.timing import UNIT

T = 10 * UNIT


async def test_close_is_bounded_with_a_client_that_never_reads() -> None:
    server = TelemetryServer("127.0.0.1", 0, max_buffer_bytes=1 << 30, close_timeout=0.2)
    port = await server.start()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), T
        )
        await asyncio.wait_for(server.wait_client_count(lambda n: n == 1), T)
        (link,) = server._links
        assert link.writer is not None
        writer = link.writer
        sample = {"topicID": 6, "timestamp": 1.0, "pad": "x" * 4000}
        # Fill the client's receive window and the server's socket buffer.
        while writer.transport.get_write_buffer_size() < 1 << 20:
            server.publish([sample] * 64)
            await asyncio.sleep(0)
        await asyncio.wait_for(server.close(), T)
        # The stuck connection is gone (aborted), not left flushing for ever.
        await asyncio.wait_for(asyncio.shield(link.lost), T)
        assert writer.transport.is_closing()
        await asyncio.wait_for(server.close(), T)  # idempotent
    finally:
        sock.close()
