"""Who is at the other end of a registry connection, as far as the OS can tell.

* Unix sockets: the peer's pid and uid from ``SO_PEERCRED`` (Linux).
* Loopback TCP: the uid owning the peer's socket, found in ``/proc/net/tcp``
  (or ``tcp6``) as the socket whose local address is our peer's address and
  whose remote address is ours.
* Anything else: unknown (`Credentials` with `None` fields).

Whether a TCP peer is on this host: its address is a loopback address or the
very address it reached us on (so it is one of this host's addresses).
"""

from __future__ import annotations

__all__ = [
    "Credentials",
    "current_user",
    "is_local_address",
    "tcp_peer_uid",
    "unix_address",
    "unix_peer_credentials",
    "user_name",
]

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

_PEERCRED = struct.Struct("3i")  # pid, uid, gid


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the OS says about a peer.

    Attributes
    ----------
    uid : `int` or `None`
        User id, or `None` if unknown.
    user : `str` or `None`
        Name of that user (the uid in decimal if it has no name), or `None`.
    pid : `int` or `None`
        Process id (Unix sockets only), or `None`.
    """

    uid: int | None = None
    user: str | None = None
    pid: int | None = None

    @classmethod
    def of_uid(cls, uid: int | None, pid: int | None = None) -> Credentials:
        """Credentials of ``uid`` with its user name looked up."""
        return cls(uid, None if uid is None else user_name(uid), pid)


def user_name(uid: int) -> str:
    """Return the login name of ``uid``, or the uid in decimal if it has none."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def current_user() -> str:
    """Return the name of the user running this process, as the registry sees it.

    Unlike `getpass.getuser`, this ignores ``$USER`` and friends, so it agrees with
    the name the daemon derives from the connection's credentials.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - not POSIX
        import getpass

        return getpass.getuser()
    return user_name(getuid())


def unix_peer_credentials(sock: Any) -> Credentials:
    """Return the credentials of the peer of a connected Unix socket.

    ``sock`` is a socket (or asyncio's socket wrapper). Unknown fields are
    `None` where ``SO_PEERCRED`` is not available.
    """
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - not Linux
        return Credentials()
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, _PEERCRED.size)
    except OSError:
        return Credentials()
    pid, uid, _gid = _PEERCRED.unpack(raw)
    return Credentials.of_uid(uid, pid if pid > 0 else None)


def unix_address(name: str) -> str:
    """Turn ``@name`` (the abstract namespace, as portpicker writes it) into
    ``"\\0name"``; return a path unchanged."""
    return "\0" + name[1:] if name.startswith("@") else name


def _proc_address(host: str, port: int) -> tuple[str, str]:
    """Return (/proc/net file, "ADDR:PORT" as that file prints it)."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if address.version == 4:
        (word,) = struct.unpack("=I", address.packed)
        return "tcp", f"{word:08X}:{port:04X}"
    words = struct.unpack("=4I", address.packed)
    return "tcp6", "".join(f"{w:08X}" for w in words) + f":{port:04X}"


def tcp_peer_uid(peer: tuple[Any, ...], local: tuple[Any, ...], proc: str = "/proc") -> int | None:
    """Return the uid owning the TCP socket at ``peer`` connected to ``local``.

    Parameters
    ----------
    peer, local : `tuple`
        ``getpeername()`` and ``getsockname()`` of our side of the connection.
    proc : `str`
        Where procfs is mounted (tests point it elsewhere).

    Returns
    -------
    uid : `int` or `None`
        `None` if it cannot be told (no procfs, the peer is on another host or
        in another network namespace, or it already closed).
    """
    try:
        table, peer_text = _proc_address(peer[0], peer[1])
        table_local, local_text = _proc_address(local[0], local[1])
    except (ValueError, IndexError, TypeError):
        return None
    if table != table_local:
        return None
    try:
        with open(f"{proc}/net/{table}", encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None
    # The peer's socket: local_address = peer, rem_address = us.
    at = text.find(f" {peer_text} {local_text} ")
    if at < 0:
        return None
    end = text.find("\n", at)
    fields = text[at : end if end >= 0 else len(text)].split()
    # local rem st tx:rx tr:when retrnsmt uid ...
    try:
        return int(fields[6])
    except (IndexError, ValueError):
        return None


def is_local_address(peer_host: str, local_host: str) -> bool:
    """Return True if a TCP peer at ``peer_host`` that reached us at ``local_host``
    is on this host."""
    try:
        peer = ipaddress.ip_address(peer_host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    if peer.is_loopback:
        return True
    try:
        local = ipaddress.ip_address(local_host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(local, ipaddress.IPv6Address) and local.ipv4_mapped is not None:
        local = local.ipv4_mapped
    return peer == local
