"""``mountcomm registry``: run the port registry daemon until SIGINT or SIGTERM.

SIGUSR1 logs the daemon's statistics (as portpicker's portserver does); SIGHUP
is logged and otherwise ignored (the daemon keeps no file to reopen), so that a
service manager's reload or a closed terminal does not end it.

It takes ``portserver.py``'s command line too: ``--portserver_address``,
``--portserver_static_pool``, ``--verbose`` and ``--debug``. The TCP port is
required only when asked for (``--host``, ``--port`` or ``--port-file``) or
when there is no Unix socket to serve: otherwise, if the configured TCP address
(by default 127.0.0.1:30000) is taken, the daemon logs a warning and serves its
Unix socket alone.
"""

from __future__ import annotations

__all__ = [
    "HELP",
    "LOG_LEVEL",
    "NAME",
    "add_arguments",
    "cluster_settings",
    "pool_argument",
    "run",
]

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import config
from .. import log as mlog
from ..registry import store, wire
from ..registry.cluster import ClusterSettings
from ..registry.server import RegistryServer
from . import common
from .common import EXIT_USAGE, CliError, load_config

NAME = "registry"
HELP = "run the port registry daemon (NSCL, portpicker and native dialects)"
LOG_LEVEL = "info"
"""As ``portserver.py``'s: a daemon's log shows what it hands out, and SIGUSR1's statistics."""

NSCL_PORT_FILE = "/var/tmp/daqportmgr/listen.port"
"""Where NSCL's port manager writes its port (pass it to ``--port-file``)."""

_STOP = (signal.SIGINT, signal.SIGTERM)


def pool_argument(text: str) -> tuple[tuple[int, int], ...] | None:
    """argparse type of ``--pool``: ``LO-HI[,LO-HI...]`` or ``ephemeral``."""
    try:
        return store.parse_pool(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface of the TCP port (default: config registry.host)")
    parser.add_argument(
        "--port",
        type=common.port,
        help="TCP port; 0 lets the OS choose (default: config registry.port)",
    )
    parser.add_argument(
        "--pool",
        "--portserver_static_pool",
        dest="pool",
        type=pool_argument,
        default=argparse.SUPPRESS,
        metavar="LO-HI[,LO-HI...]",
        help="port ranges to allocate from, or 'ephemeral' for ports the OS picks "
        "(default: config registry.pool; --portserver_static_pool is portserver's spelling)",
    )
    parser.add_argument(
        "--unix-socket",
        "--portserver_address",
        dest="unix_socket",
        metavar="PATH|@name",
        help="also listen on this Unix socket (@name: abstract namespace), e.g. for "
        "portpicker's PORTSERVER_ADDRESS (default: config registry.unix_socket; "
        "--portserver_address is portserver's spelling)",
    )
    parser.add_argument(
        "--port-file",
        metavar="PATH",
        help="write the TCP port to PATH while listening, for NSCL clients that find "
        f"the port manager through a file (NSCL's default: {NSCL_PORT_FILE}); off by default",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=common.positive_int,
        default=wire.DEFAULT_MAX_LINE_BYTES,
        help="longest request line accepted (default %(default)s)",
    )
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="log mountcomm's debug messages too (portserver's flag)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="log every library's debug messages and run asyncio in debug mode (portserver's flag)",
    )
    cluster = parser.add_argument_group("cluster (cross-host discovery through etcd)")
    cluster.add_argument(
        "--cluster",
        metavar="etcd://HOST:PORT[,HOST:PORT...]",
        help="join this etcd cluster: publish this host's entries, see every host's "
        "(default: config registry.cluster)",
    )
    cluster.add_argument(
        "--advertise-host",
        metavar="ADDR",
        help="address other hosts reach this host's ports on (default: config "
        "registry.advertise_host, else --host)",
    )
    cluster.add_argument("--etcd-user", metavar="NAME", help="etcd user name")
    cluster.add_argument(
        "--etcd-password-file", metavar="PATH", help="file holding the etcd user's password"
    )
    cluster.add_argument("--etcd-ca", metavar="PATH", help="TLS: CA certificate of etcd")
    cluster.add_argument("--etcd-cert", metavar="PATH", help="TLS: client certificate")
    cluster.add_argument("--etcd-key", metavar="PATH", help="TLS: client key")
    cluster.add_argument(
        "--lease-ttl",
        type=common.positive_int,
        metavar="S",
        help="TTL of this daemon's etcd lease, 1-5 s",
    )


def cluster_settings(args: argparse.Namespace, cfg: config.Config) -> ClusterSettings | None:
    """The cluster settings of the flags over the configuration (`None`: no cluster).

    Raises
    ------
    ValueError
        If a value is invalid (the message names it).
    """
    options = dict(cfg.registry_cluster or {})
    url = args.cluster or options.get("url")
    if url is None:
        return None
    if args.etcd_password_file:
        with open(args.etcd_password_file, encoding="utf-8") as f:
            options["password"] = f.readline().rstrip("\r\n")
    flags = {
        "user": args.etcd_user,
        "ca_file": args.etcd_ca,
        "cert_file": args.etcd_cert,
        "key_file": args.etcd_key,
        "ttl": args.lease_ttl,
    }
    options.update((k, v) for k, v in flags.items() if v is not None)
    options.pop("url", None)
    return ClusterSettings.from_url(url, **options)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:
        cluster = cluster_settings(args, cfg)
    except (ValueError, OSError) as e:
        raise CliError(f"cluster: {e}", EXIT_USAGE) from None
    unix_socket = args.unix_socket or cfg.registry_unix_socket
    port = cfg.registry_port if args.port is None else args.port
    tcp_asked = args.host is not None or args.port is not None or args.port_file is not None

    def make_server(tcp: bool) -> RegistryServer:
        return RegistryServer(
            args.host or cfg.registry_host,
            port if tcp else None,
            pool=getattr(args, "pool", cfg.registry_pool),
            unix_socket=unix_socket,
            max_line_bytes=args.max_line_bytes,
            cluster=cluster,
            advertise_host=args.advertise_host or cfg.registry_advertise_host,
        )

    port_file = None if args.port_file is None else Path(args.port_file)
    tcp_optional = unix_socket is not None and not tcp_asked
    with _verbosity(args.verbose, args.debug):
        return asyncio.run(_serve(make_server, tcp_optional, port_file), debug=args.debug)


@contextlib.contextmanager
def _verbosity(verbose: bool, debug: bool) -> Iterator[None]:
    """portserver's ``--verbose`` (mountcomm's loggers at debug) and ``--debug``
    (every logger at debug), for the ``with`` block."""
    loggers = [logging.getLogger(mlog.ROOT_LOGGER)] if verbose or debug else []
    if debug:
        loggers.append(logging.getLogger())
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _write_port_file(path: Path, port: int) -> None:
    """Write ``port`` and a newline to ``path`` (atomically), making its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(f"{port}\n", encoding="ascii")
    os.replace(partial, path)


def _remove_port_file(path: Path, port: int) -> None:
    """Remove ``path`` if it still names our port (another daemon may have taken over)."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="ascii").strip() == str(port):
            path.unlink()


def _handle_signals(server: RegistryServer, log: Any) -> asyncio.Future[str]:
    """Install the daemon's signal handlers; return a future set on SIGINT/SIGTERM.

    SIGUSR1 logs `RegistryServer.statistics`; SIGHUP is logged and ignored.
    `_restore_signals` removes them.
    """
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[str] = loop.create_future()

    def stop(signum: int) -> None:
        name = signal.Signals(signum).name
        log.info("signal_received", signal=name)
        if not stopped.done():
            stopped.set_result(name)

    def statistics() -> None:
        log.info("registry_statistics", **server.statistics())

    def hangup() -> None:
        log.info("signal_ignored", signal="SIGHUP")

    for signum in _STOP:
        loop.add_signal_handler(signum, stop, signum)
    loop.add_signal_handler(signal.SIGUSR1, statistics)
    loop.add_signal_handler(signal.SIGHUP, hangup)
    return stopped


def _restore_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in (*_STOP, signal.SIGUSR1, signal.SIGHUP):
        loop.remove_signal_handler(signum)


def _where(server: RegistryServer) -> str:
    tcp = [] if server.port is None else [f"{server.host}:{server.port}"]
    return " or ".join(tcp + ([server.unix_socket] if server.unix_socket else []))


async def _start(
    make_server: Callable[[bool], RegistryServer], tcp_optional: bool, log: Any
) -> tuple[RegistryServer, str] | None:
    """Start the daemon; `None` if it cannot listen (said on stderr).

    An optional TCP address that is taken is given up (with a warning), and
    the daemon serves its Unix socket alone. Returns the daemon and the TCP
    address given up ("" if none).
    """
    server = make_server(True)
    try:
        await server.start()
        return server, ""
    except OSError as e:
        error = e
        if not tcp_optional or e.errno != errno.EADDRINUSE:
            print(f"mountcomm registry: cannot listen on {_where(server)}: {e}", file=sys.stderr)
            return None
    unix_only = make_server(False)
    try:
        await unix_only.start()
    except OSError as e:
        print(f"mountcomm registry: cannot listen on {_where(unix_only)}: {e}", file=sys.stderr)
        return None
    log.warning(
        "tcp_port_in_use",
        host=server.host,
        port=server.port,
        unix_socket=unix_only.unix_socket,
        error=str(error),
        serving="the Unix socket only",
    )
    return unix_only, f"{server.host}:{server.port}"


async def _serve(
    make_server: Callable[[bool], RegistryServer], tcp_optional: bool, port_file: Path | None
) -> int:
    log = mlog.get_logger(None, "mountcomm registry")
    started = await _start(make_server, tcp_optional, log)
    if started is None:
        return 1
    server, given_up = started
    if port_file is not None:
        try:
            _write_port_file(port_file, server.tcp_port)
        except OSError as e:
            await server.close()
            print(
                f"mountcomm registry: cannot write the port file {port_file}: {e}", file=sys.stderr
            )
            return 1
    stopped = _handle_signals(server, log)
    if server.port is None:
        print(
            f"mountcomm registry: listening on {server.unix_socket} "
            f"(not on TCP: {given_up} is in use)",
            flush=True,
        )
    else:
        unix = f" and {server.unix_socket}" if server.unix_socket else ""
        print(f"mountcomm registry: listening on {server.host}:{server.port}{unix}", flush=True)
    if server.cluster is not None:
        print(
            f"mountcomm registry: cluster {server.cluster.settings.url}, "
            f"advertising {server.advertise_host}",
            flush=True,
        )
    try:
        closed: asyncio.Future[Any] = asyncio.ensure_future(server.wait_closed())
        either: set[asyncio.Future[Any]] = {stopped, closed}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        reason = stopped.result() if stopped.done() else "terminate request"
        closed.cancel()
        await asyncio.gather(closed, return_exceptions=True)
        await server.close()
    finally:
        _restore_signals()
        if port_file is not None:
            _remove_port_file(port_file, server.tcp_port)
    print(f"mountcomm registry: stopped ({reason})", flush=True)
    return 0
