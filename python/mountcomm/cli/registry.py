"""``mountcomm registry``: run the port registry daemon until SIGINT or SIGTERM."""

from __future__ import annotations

__all__ = ["HELP", "NAME", "add_arguments", "cluster_settings", "pool_argument", "run"]

import argparse
import asyncio
import signal
import sys

from .. import config
from .. import log as mlog
from ..registry import store, wire
from ..registry.cluster import ClusterSettings
from ..registry.cluster.etcd import import_aetcd
from ..registry.server import RegistryServer

NAME = "registry"
HELP = "run the port registry daemon (NSCL, portpicker and native dialects)"


def pool_argument(text: str) -> tuple[tuple[int, int], ...] | None:
    """argparse type of ``--pool``: ``LO-HI[,LO-HI...]`` or ``ephemeral``."""
    try:
        return store.parse_pool(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface of the TCP port (default: config registry.host)")
    parser.add_argument(
        "--port", type=int, help="TCP port; 0 lets the OS choose (default: config registry.port)"
    )
    parser.add_argument(
        "--pool",
        type=pool_argument,
        default=argparse.SUPPRESS,
        metavar="LO-HI[,LO-HI...]",
        help="port ranges to allocate from, or 'ephemeral' for ports the OS picks "
        "(default: config registry.pool)",
    )
    parser.add_argument(
        "--unix-socket",
        metavar="PATH|@name",
        help="also listen on this Unix socket (@name: abstract namespace), e.g. for "
        "portpicker's PORTSERVER_ADDRESS (default: config registry.unix_socket)",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=wire.DEFAULT_MAX_LINE_BYTES,
        help="longest request line accepted (default %(default)s)",
    )
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
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
        "--lease-ttl", type=int, metavar="S", help="TTL of this daemon's etcd lease, 1-5 s"
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
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        print(f"mountcomm registry: {e}", file=sys.stderr)
        return 2
    try:
        cluster = cluster_settings(args, cfg)
    except (ValueError, OSError) as e:
        print(f"mountcomm registry: cluster: {e}", file=sys.stderr)
        return 2
    if cluster is not None:
        try:
            import_aetcd()
        except RuntimeError as e:
            print(f"mountcomm registry: {e}", file=sys.stderr)
            return 1
    server = RegistryServer(
        args.host or cfg.registry_host,
        cfg.registry_port if args.port is None else args.port,
        pool=getattr(args, "pool", cfg.registry_pool),
        unix_socket=args.unix_socket or cfg.registry_unix_socket,
        max_line_bytes=args.max_line_bytes,
        cluster=cluster,
        advertise_host=args.advertise_host or cfg.registry_advertise_host,
    )
    return asyncio.run(_serve(server))


async def _serve(server: RegistryServer) -> int:
    log = mlog.get_logger(None, "mountcomm registry")
    try:
        await server.start()
    except OSError as e:
        print(
            f"mountcomm registry: cannot listen on {server.host}:{server.port}"
            f"{f' or {server.unix_socket}' if server.unix_socket else ''}: {e}",
            file=sys.stderr,
        )
        return 1
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def stop(signum: int) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        if not closing:
            closing.append(loop.create_task(server.close()))

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    unix = f" and {server.unix_socket}" if server.unix_socket else ""
    print(f"mountcomm registry: listening on {server.host}:{server.port}{unix}", flush=True)
    if server.cluster is not None:
        print(
            f"mountcomm registry: cluster {server.cluster.settings.url}, "
            f"advertising {server.advertise_host}",
            flush=True,
        )
    try:
        await server.wait_closed()
        for task in closing:
            await task
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0
