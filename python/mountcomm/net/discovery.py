"""Finding peers by service name through a port registry, and advertising ourselves.

The network classes take a connected port registry client (`ServiceRegistry`:
`mountcomm.PortRegistry` is one) and service names instead of fixed ports:

* `Advertisement` registers a server's port under a name once it listens and
  releases it on `Advertisement.withdraw` (or when the registry connection ends).
* `connect_service` waits for a service to be advertised (driven by the
  registry's watch events: no polling) and connects to it; if the advertised
  port refuses, it waits for the next advertisement.

This module does not import `mountcomm.registry` (a sibling layer): anything
with the methods of `ServiceRegistry` will do.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SERVICE_PREFIX",
    "Advertisement",
    "ServiceRegistry",
    "connect_service",
    "mount_service_name",
    "registry_host",
]

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from ..exceptions import ConnectionClosedError, RegistryError, UnknownPortError
from ..protocol.enums import Source
from ..sockets import DEFAULT_TCP_KEEPALIVE, DEFAULT_TCP_USER_TIMEOUT, TcpKeepalive
from .streams import DEFAULT_STREAM_LIMIT, Link, open_link

DEFAULT_SERVICE_PREFIX = "mount"
"""First part of the default service names (see `mount_service_name`)."""

ServiceKind = Literal["command", "reply"]


def mount_service_name(
    role: Source | str | None,
    kind: ServiceKind | Literal["telemetry"],
    prefix: str = DEFAULT_SERVICE_PREFIX,
) -> str:
    """Return the default service name of a mount port.

    ``mount.<role>.command`` is the controller's command port of a console
    role, ``mount.<role>.reply`` that console's reply port, and
    ``mount.telemetry`` the controller's telemetry port.

    Parameters
    ----------
    role : `Source`, `str` or `None`
        The console role (ignored for ``"telemetry"``).
    kind : ``"command"``, ``"reply"`` or ``"telemetry"``
        Which port.
    prefix : `str`, optional
        First part of the name, e.g. to run two simulated mounts on one registry.

    Examples
    --------
    >>> mount_service_name(Source.CSC, "command")
    'mount.csc.command'
    """
    if kind == "telemetry":
        return f"{prefix}.telemetry"
    if role is None:
        raise ValueError(f"a {kind} service name needs a role")
    name = role.lower() if isinstance(role, str) else Source(role).name.lower()
    return f"{prefix}.{name}.{kind}"


class ServiceRegistry(Protocol):
    """What the network classes need of a registry client (`PortRegistry` has it)."""

    host: str

    @property
    def connected(self) -> bool: ...

    async def register(self, service: str, port: int) -> Any: ...

    async def release(self, port: int) -> None: ...

    def watch(self, service: str | None = None) -> Any: ...

    async def wait_connected(self) -> None: ...


def registry_host(registry: ServiceRegistry) -> str | None:
    """The host whose services ``registry`` advertises (`None`: this host)."""
    if getattr(registry, "unix_socket", None) is not None:
        return None
    return getattr(registry, "host", None)


class Advertisement:
    """One port advertised under a service name in a registry.

    Parameters
    ----------
    registry : `ServiceRegistry`
        A connected registry client; its connection holds the lease.
    service : `str`
        The name to advertise.
    log : structlog logger
        Where to log.

    Attributes
    ----------
    entry : `PortEntry` or `None`
        What the registry registered (its service may carry a ``_N`` suffix if
        this user already advertises the name); `None` until registered.
    """

    def __init__(self, registry: ServiceRegistry, service: str, log: Any) -> None:
        self.registry = registry
        self.service = service
        self.log = log
        self.entry: Any = None
        self._port: int | None = None  # set once a register request may have been sent
        self._withdrawn = False

    async def register(self, port: int) -> Any:
        """Advertise ``port``; return the registry's entry.

        Raises
        ------
        RegistryError
            If the registry refuses (e.g. `PortInUseError`).
        ConnectionClosedError
            If the registry connection is gone or `withdraw` was called.
        TimeoutError
            If the registry does not answer within its timeout.

        Notes
        -----
        Cancel-safe: a registration whose request was already sent is undone
        by `withdraw`.
        """
        if self._withdrawn:
            raise ConnectionClosedError(f"advertisement of {self.service!r} was withdrawn")
        self._port = port
        entry = await self.registry.register(self.service, port)
        self.entry = entry
        if entry.service != self.service:
            self.log.warning("service_renamed", service=self.service, registered=entry.service)
        self.log.info("service_advertised", service=entry.service, port=port)
        return entry

    def start(self, listening: asyncio.Future[Any], port: Callable[[], int]) -> asyncio.Task[Any]:
        """Advertise ``port()`` once ``listening`` is done, in a task (returned).

        The task's result is the registry's entry; it fails with the error of
        ``listening`` (e.g. `OSError`: the server cannot bind) or of `register`,
        which is logged unless the advertisement was withdrawn meanwhile.
        Cancel it before `withdraw`.
        """

        async def advertise() -> Any:
            await asyncio.shield(listening)
            return await self.register(port())

        task = asyncio.get_running_loop().create_task(advertise())
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._withdrawn:
            self.log.error("advertise_failed", service=self.service, error=repr(task.exception()))

    async def withdraw(self) -> None:
        """Release the advertised port. Idempotent; never raises for a lost registry.

        If the registry connection is already gone, so is the lease: nothing
        is left to do. A refusal (the entry was never made) is logged at debug.
        """
        if self._withdrawn:
            return
        self._withdrawn = True
        port = self._port
        if port is None or not self.registry.connected:
            return
        try:
            await self.registry.release(port)
        except UnknownPortError:
            self.log.debug("service_not_registered", service=self.service, port=port)
        except (ConnectionError, TimeoutError, RegistryError) as e:
            self.log.warning("service_release_failed", service=self.service, error=str(e))
        else:
            self.log.info("service_withdrawn", service=self.service, port=port)


async def connect_service(
    registry: ServiceRegistry,
    service: str,
    host: str,
    *,
    limit: int = DEFAULT_STREAM_LIMIT,
    keepalive: TcpKeepalive | None = DEFAULT_TCP_KEEPALIVE,
    user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
    log: Any,
    pace: Callable[[int], Awaitable[None]] | None = None,
) -> tuple[Link, int]:
    """Connect to ``service`` as soon as it is advertised; return the link and port.

    Watches the service (no polling): connects at once to a port already
    advertised, else the moment one is. If the advertised port refuses (its
    owner died and the registry has not yet seen it), waits for the next
    advertisement.

    Parameters
    ----------
    registry : `ServiceRegistry`
        A connected registry client.
    service : `str`
        Exact service name.
    host : `str`
        Host to connect to when the advertisement names none (a registry
        outside a cluster); an advertisement's own host (``event.host``, set
        by a registry that is part of a cluster) wins.
    limit : `int`, optional
        Buffer limit of the stream reader [bytes].
    keepalive, user_timeout : optional
        Socket options of the connection (see `open_link`).
    log : structlog logger
        Where to log.
    pace : callable or `None`, optional
        ``await pace(port)`` runs before each attempt on an advertised port,
        e.g. to wait a retry delay that this port owes.

    Raises
    ------
    ConnectionClosedError
        If the registry connection is lost or closed meanwhile.

    Notes
    -----
    The link returned may already be lost (the peer accepted and closed at
    once): take it with `Link.adopt`. A self-connection counts as a refusal.

    Waits forever; bound it with `asyncio.timeout`. Cancel-safe: the watch is
    stopped and no connection is left open. With a registry client that
    reconnects by itself (``PortRegistry(reconnect=True)``), a lost registry
    connection is waited out and the watch started again.
    """
    while True:
        try:
            return await _connect_when_advertised(
                registry,
                service,
                host,
                log,
                pace,
                limit=limit,
                keepalive=keepalive,
                user_timeout=user_timeout,
            )
        except ConnectionClosedError:
            if not getattr(registry, "reconnect", False):
                raise
            log.info("waiting_for_registry", service=service)
            await registry.wait_connected()  # raises if the client is closed


async def _connect_when_advertised(
    registry: ServiceRegistry,
    service: str,
    host: str,
    log: Any,
    pace: Callable[[int], Awaitable[None]] | None,
    **options: Any,
) -> tuple[Link, int]:
    link: Link | None = None
    try:
        async with registry.watch(service=service) as events:
            async for event in events:
                if event.kind != "added":
                    continue
                target = getattr(event, "host", "") or host
                if pace is not None:
                    await pace(event.port)
                try:
                    link = await open_link(target, event.port, **options)
                except OSError as e:
                    log.info(
                        "advertised_port_refused",
                        service=service,
                        host=target,
                        port=event.port,
                        error=str(e),
                    )
                    continue
                return link, event.port
    except BaseException:
        if link is not None:  # cancelled while the watch was being stopped
            link.close()
        raise
    raise ConnectionClosedError(f"the registry watch of {service!r} ended")
