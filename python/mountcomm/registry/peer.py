"""Who is at the other end of a registry connection, as far as the OS can tell.

* Unix sockets: the peer's pid and uid from ``SO_PEERCRED`` (Linux).
* Loopback TCP: the uid owning the peer's socket: the socket whose local
  address is our peer's address and whose remote address is ours. Asked of
  the kernel through a sock_diag netlink query for that one socket (Linux;
  microseconds), else found in ``/proc/net/tcp`` or ``tcp6`` (which costs
  milliseconds once thousands of sockets are open).
* Anything else: unknown (`Credentials` with `None` fields).

Whether a TCP peer is on this host: its address is a loopback address or the
very address it reached us on (so it is one of this host's addresses).
"""

from __future__ import annotations

__all__ = [
    "Credentials",
    "current_user",
    "is_local_address",
    "proc_tcp_peer_uid",
    "sock_diag_tcp_peer_uid",
    "tcp_peer_credentials",
    "tcp_peer_uid",
    "unix_address",
    "unix_peer_credentials",
    "user_name",
    "user_uid",
]

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

_PEERCRED = struct.Struct("3i")  # pid, uid, gid

# sock_diag (linux/sock_diag.h, linux/inet_diag.h)
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_DIAG_REQUEST = struct.Struct("=BBBBI")  # family, protocol, ext, pad, states
_DIAG_UID_OFFSET = _NLMSG_HEADER.size + 64  # inet_diag_msg.idiag_uid, then idiag_inode
_ALL_STATES = 0xFFFFFFFF
_NO_COOKIE = b"\xff" * 8


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
    gone : `bool`
        The OS could have told, but the peer's socket no longer belongs to any
        process (it closed before it could be identified): whatever needs the
        peer's identity must be refused. (`False` with ``uid`` `None`: this OS
        cannot tell at all.)
    """

    uid: int | None = None
    user: str | None = None
    pid: int | None = None
    gone: bool = False

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


def user_uid(name: str) -> int | None:
    """Return the uid of login name ``name`` (or of a uid in decimal), or `None`."""
    try:
        import pwd

        return pwd.getpwnam(name).pw_uid
    except (ImportError, KeyError):
        return int(name) if name.isdecimal() and name.isascii() else None


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


def _ip(host: str, *, unmap: bool = False) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Parse a numeric address, dropping an IPv6 scope (``%eth0``).

    With ``unmap``, an IPv4-mapped IPv6 address becomes the IPv4 address.

    Raises
    ------
    ValueError
        If ``host`` is not a numeric address.
    """
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if unmap and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _endpoints(
    peer: tuple[Any, ...], local: tuple[Any, ...]
) -> tuple[_Address, int, _Address, int] | None:
    """The peer's and our (address, port), or None unless both are numeric
    addresses of one family."""
    try:
        found = (_ip(peer[0]), int(peer[1]), _ip(local[0]), int(local[1]))
    except (ValueError, IndexError, TypeError):
        return None
    return found if found[0].version == found[2].version else None


def tcp_peer_uid(peer: tuple[Any, ...], local: tuple[Any, ...]) -> int | None:
    """Return the uid owning the TCP socket at ``peer`` connected to ``local``.

    Parameters
    ----------
    peer, local : `tuple`
        ``getpeername()`` and ``getsockname()`` of our side of the connection.

    Returns
    -------
    uid : `int` or `None`
        `None` if no such socket is held by a process: it is on another host or
        in another network namespace, or it was closed (an orphaned or
        TIME_WAIT socket reports uid 0, which must not pass for root).

    Raises
    ------
    OSError
        If this host offers no way to tell (no sock_diag, no procfs).
    """
    try:
        return sock_diag_tcp_peer_uid(peer, local)
    except OSError:  # no sock_diag here: read the table
        return proc_tcp_peer_uid(peer, local)


def tcp_peer_credentials(peer: tuple[Any, ...], local: tuple[Any, ...]) -> Credentials:
    """The credentials of a TCP peer on this host, by `tcp_peer_uid`.

    Unknown (`None` fields) if this host cannot tell; `Credentials.gone` if
    no process holds the peer's socket any more.
    """
    try:
        uid = tcp_peer_uid(peer, local)
    except OSError:  # this host cannot tell: claims are taken as they come
        return Credentials()
    return Credentials(gone=True) if uid is None else Credentials.of_uid(uid)


def sock_diag_tcp_peer_uid(peer: tuple[Any, ...], local: tuple[Any, ...]) -> int | None:
    """`tcp_peer_uid` by a sock_diag netlink query (Linux).

    Raises
    ------
    OSError
        If sock_diag cannot be used here.
    """
    endpoints = _endpoints(peer, local)
    if endpoints is None:
        return None
    peer_address, peer_port, local_address, local_port = endpoints
    family = socket.AF_INET if peer_address.version == 4 else socket.AF_INET6
    # inet_diag_sockid of the peer's socket: its source is our peer, its destination us
    sockid = (
        struct.pack("!HH", peer_port, local_port)
        + peer_address.packed.ljust(16, b"\0")
        + local_address.packed.ljust(16, b"\0")
        + struct.pack("=I", 0)
        + _NO_COOKIE
    )
    body = _DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sockid
    header = _NLMSG_HEADER.pack(
        _NLMSG_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0
    )
    netlink = getattr(socket, "AF_NETLINK", None)
    if netlink is None:  # pragma: no cover - not Linux
        raise OSError("no netlink sockets here")
    with socket.socket(netlink, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(1.0)
        sock.sendall(header + body)
        reply = sock.recv(8192)
    if len(reply) < _NLMSG_HEADER.size:
        raise OSError("short sock_diag reply")
    kind = _NLMSG_HEADER.unpack_from(reply)[1]
    if kind == _NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", reply, _NLMSG_HEADER.size)
        if -error in (errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, errno.EINVAL):
            raise OSError(-error, "sock_diag refused the query")
        return None  # ENOENT: no such socket (any more)
    if kind != _SOCK_DIAG_BY_FAMILY or len(reply) < _DIAG_UID_OFFSET + 8:
        raise OSError(f"unexpected sock_diag reply type {kind}")
    uid, inode = struct.unpack_from("=II", reply, _DIAG_UID_OFFSET)
    return int(uid) if inode else None  # inode 0: no process holds it any more


def proc_tcp_peer_uid(
    peer: tuple[Any, ...], local: tuple[Any, ...], proc: str = "/proc"
) -> int | None:
    """`tcp_peer_uid` by reading ``/proc/net/tcp`` or ``tcp6``.

    ``proc`` is where procfs is mounted (tests point it elsewhere).

    Raises
    ------
    OSError
        If the table cannot be read.
    """
    endpoints = _endpoints(peer, local)
    if endpoints is None:
        return None
    # The peer's socket: local_address = peer, rem_address = us, as the table prints
    # them: each 32-bit word of the address in hex in host order, ":", the port in hex.
    peer_text, local_text = (
        "".join(f"{w:08X}" for w in struct.unpack(f"={len(a.packed) // 4}I", a.packed))
        + f":{port:04X}"
        for a, port in (endpoints[:2], endpoints[2:])
    )
    table = "tcp" if endpoints[0].version == 4 else "tcp6"
    with open(f"{proc}/net/{table}", encoding="ascii") as f:
        text = f.read()
    at = text.find(f" {peer_text} {local_text} ")
    if at < 0:
        return None
    end = text.find("\n", at)
    fields = text[at : end if end >= 0 else len(text)].split()
    # local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    try:
        uid, inode = int(fields[6]), int(fields[8])
    except (IndexError, ValueError):
        return None
    return uid if inode else None  # inode 0: no process holds it any more


def is_local_address(peer_host: str, local_host: str) -> bool:
    """Return True if a TCP peer at ``peer_host`` that reached us at ``local_host``
    is on this host."""
    try:
        peer = _ip(peer_host, unmap=True)
        return peer.is_loopback or peer == _ip(local_host, unmap=True)
    except ValueError:
        return False
