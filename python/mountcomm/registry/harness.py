"""An in-process registry for tests: what the ``port_registry`` fixture yields."""

from __future__ import annotations

__all__ = ["RegistryHarness"]

import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

from .._lifecycle import AsyncResource
from .client import PortRegistry
from .server import RegistryServer


class RegistryHarness(AsyncResource):
    """A registry daemon on 127.0.0.1, port 0, in this process, with a client.

    Parameters
    ----------
    pool : sequence of (`int`, `int`) or `None`
        Pool of the daemon; `None` (default): ports the OS picks, so tests
        never depend on a fixed port range.
    unix_socket : `bool`
        Also listen on a Unix socket in the abstract namespace (Linux only),
        for portpicker clients (see `portserver_address`).
    timeout : `float`
        Timeout of the clients' requests [s].
    log : logger, optional
        Logger of the daemon and the clients.
    **server_options
        More keyword arguments of `RegistryServer` (e.g. ``line_timeout``).

    Attributes
    ----------
    server : `RegistryServer`
        The daemon.
    client : `PortRegistry`
        A client connected to it over TCP (available once started).
    host : `str`
        ``"127.0.0.1"``.
    port : `int`
        The daemon's TCP port.
    portserver_address : `str` or `None`
        The ``@name`` of its Unix socket: set ``PORTSERVER_ADDRESS`` to it and
        `portpicker.pick_unused_port` asks this daemon. `None` if not listening.

    Notes
    -----
    ``async with RegistryHarness() as reg:`` starts everything; leaving the
    block closes every client made by `new_client`, then the daemon.
    """

    def __init__(
        self,
        *,
        pool: Sequence[tuple[int, int]] | None = None,
        unix_socket: bool = True,
        timeout: float = 5.0,
        log: Any = None,
        **server_options: Any,
    ) -> None:
        self.host = "127.0.0.1"
        self.timeout = timeout
        self.log = log
        self.portserver_address: str | None = None
        if unix_socket and sys.platform.startswith("linux"):
            token = secrets.token_hex(4)
            self.portserver_address = f"@mountcomm-registry-{os.getpid()}-{token}"
        self._server_options = {"pool": pool, "log": log, **server_options}
        self.server = self._new_server(0)
        self._clients: list[PortRegistry] = []

    def _new_server(self, port: int) -> RegistryServer:
        """A daemon on ``port`` (0: the OS picks) and the harness's Unix socket."""
        return RegistryServer(
            self.host, port, unix_socket=self.portserver_address, **self._server_options
        )

    @property
    def port(self) -> int:
        """The daemon's TCP port (0 until started)."""
        return self.server.tcp_port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of the daemon."""
        return self.host, self.port

    async def new_client(self, **kwargs: Any) -> PortRegistry:
        """Return another connected `PortRegistry` (its own connection and lease).

        Keyword arguments go to `PortRegistry` (e.g. ``unix_socket=``). It is
        closed with the harness, or earlier by the caller.
        """
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("log", self.log)
        client = PortRegistry(self.host, self.port, **kwargs)
        self._clients.append(client)
        await client.connect()
        return client

    async def start(self) -> None:
        """Start the daemon and connect `client`."""
        await self.server.start()
        self.client = await self.new_client()

    async def restart(self) -> None:
        """Close the daemon, then start a new one on the same port and Unix socket.

        To test how a program copes with its registry restarting. Every entry
        goes with the old daemon. Clients made with ``reconnect=True`` come back
        by themselves (see `PortRegistry`); the others, `client` included, lost
        their connection for good: `client` is replaced by a new client of the
        new daemon.

        Raises
        ------
        OSError
            If the port or the Unix socket was taken in between.
        """
        port = self.port
        await self.server.close()
        self.server = self._new_server(port)
        await self.start()

    async def close(self) -> None:
        """Close every client, then the daemon (idempotent)."""
        try:
            for client in self._clients:
                await client.close()
        finally:
            await self.server.close()
