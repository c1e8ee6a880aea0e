"""Run inside a private network namespace (``unshare -n``), as root.

The namespace's ephemeral range holds only the telemetry port P and P + 1, so a
`TelemetryClient` retrying P while nobody listens connects to itself. The
script lets that happen `SELF_CONNECTIONS` times, then listens on P, and checks
that the client detected each one, logged the first only, and connected to the
server (the self-connections must not leave P unbindable).
Prints ``OK <self_connections> <warnings> <debug lines>`` on success.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys

from mountcomm.telemetry import TelemetryClient, encode_sample

PORT = 40000  # a private namespace: no other user of this port

# the bound on each wait [s]: 20 units of the suite (tests/timing.py), passed by environment
T = 20 * float(os.environ.get("MOUNTCOMM_TEST_TIMEOUT_FACTOR", "1"))
SELF_CONNECTIONS = 3  # before the server starts listening


class Watch(logging.Handler):
    """Open the listener the moment the client reports its first self-connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.self_connection_logs = 0
        self.self_connection_debug_logs = 0
        self.self_connection_retries = 0
        self.listener: socket.socket | None = None
        self.opened: asyncio.Future[None] = loop.create_future()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "telemetry_self_connection" in message:
            if record.levelno == logging.WARNING:
                self.self_connection_logs += 1
            elif record.levelno == logging.DEBUG:
                self.self_connection_debug_logs += 1
        if "reached itself" in message and "telemetry_connect_retry" in message:
            self.self_connection_retries += 1
        if self.self_connection_retries == SELF_CONNECTIONS and self.listener is None:
            # Called synchronously by the client after it closed the socket and
            # before its next attempt: no window for another self-connection.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", PORT))
            sock.listen()
            sock.setblocking(False)
            self.listener = sock
            self.opened.set_result(None)


def set_up_namespace() -> None:
    """Bring up loopback and narrow the ephemeral range to PORT and PORT + 1."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write(f"{PORT} {PORT + 1}")


async def main() -> int:
    loop = asyncio.get_running_loop()
    watch = Watch(loop)
    log = logging.getLogger("selfconnect")
    log.setLevel(logging.DEBUG)
    log.addHandler(watch)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_sample({"topicID": 15, "timestamp": 1.0}))
        await writer.drain()
        await reader.read()
        writer.close()

    client = TelemetryClient("127.0.0.1", PORT, log, connect_timeout=T, connect_retry_interval=0.05)
    starting = asyncio.create_task(client.start())
    await asyncio.wait_for(watch.opened, T)
    server = await asyncio.start_server(serve, sock=watch.listener)
    try:
        await asyncio.wait_for(starting, T)
        samples = aiter(client)
        got = await asyncio.wait_for(anext(samples), T)
        await samples.aclose()
        if got["topicID"] != 15:
            print(f"FAIL unexpected sample: {got}")
            return 1
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    print(
        f"OK {client.self_connections} {watch.self_connection_logs} "
        f"{watch.self_connection_debug_logs}"
    )
    return 0


if __name__ == "__main__":
    set_up_namespace()
    sys.exit(asyncio.run(main()))
