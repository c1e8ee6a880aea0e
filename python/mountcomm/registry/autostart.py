"""Start a registry daemon on this host when none answers (blocking helpers).

The daemon runs ``python -m mountcomm.cli registry ...`` in its own session,
detached from the caller (through a short-lived launcher, so that it is not
the caller's child and outlives it). Its output goes to /dev/null; use
``mountcomm registry`` by hand or a service manager to keep its log.
"""

from __future__ import annotations

__all__ = ["RegistryStartError", "daemon_command", "is_local_host", "start_daemon"]

import ipaddress
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from ..exceptions import ConnectionClosedError
from ..net.retry import RetryPolicy
from ..sockets import connect_checked
from .peer import unix_address
from .pidwatch import pid_alive


class RegistryStartError(ConnectionClosedError):
    """An auto-started registry daemon exited during start-up or did not answer.

    A `ConnectionClosedError` (so a `mountcomm.exceptions.MountcommError` and a
    `ConnectionError`): what a client that cannot reach its registry raises.
    """


_LAUNCHER = (
    "import subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,"
    " stderr=subprocess.DEVNULL, start_new_session=True)\n"
    "print(p.pid)\n"
)
_STARTING = RetryPolicy(0.05, factor=1.0)  # a constant 50 ms between probes while it starts


def is_local_host(host: str) -> bool:
    """Return True if ``host`` names this host's loopback (``localhost``, 127.x, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def daemon_command(
    host: str = "127.0.0.1",
    port: int = 30000,
    *,
    unix_socket: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """Return the command line of a registry daemon."""
    command = [sys.executable, "-m", "mountcomm.cli", "registry", "--host", host]
    command += ["--port", str(port)]
    if unix_socket is not None:
        command += ["--unix-socket", unix_socket]
    command += list(extra_args)
    return command


def _answers(host: str, port: int, unix_socket: str | None) -> bool:
    try:
        if unix_socket is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(unix_address(unix_socket))
        else:
            # a self-connection (nobody listens: we reached ourselves) is refused
            connect_checked((host, port), 1.0, keepalive=None, user_timeout=None).close()
    except OSError:  # SelfConnectionError included
        return False
    return True


def start_daemon(
    host: str = "localhost",
    port: int = 30000,
    *,
    unix_socket: str | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 10.0,
) -> int:
    """Start a detached registry daemon on this host and wait until it answers.

    Parameters
    ----------
    host : `str`
        Where clients will connect; must be this host's loopback. The daemon
        listens on 127.0.0.1 (or ::1 if ``host`` is an IPv6 address).
    port : `int`
        The daemon's TCP port (not 0: clients must know it).
    unix_socket : `str` or `None`
        Also listen there (and wait for that to answer rather than TCP).
    extra_args : sequence of `str`
        More ``mountcomm registry`` options, e.g. ``["--pool", "40000-40099"]``.
    timeout : `float`
        How long to wait for the daemon to answer [s].

    Returns
    -------
    pid : `int`
        The daemon's process id.

    Raises
    ------
    ValueError
        If ``host`` is not local or ``port`` is 0.
    RegistryStartError
        If the daemon exited during start-up (e.g. another program holds the
        port) or did not answer in time; the message says which.
    """
    if not is_local_host(host):
        raise ValueError(f"can only start a registry on this host, not on {host!r}")
    if port == 0:
        raise ValueError("an auto-started registry needs a fixed port, not 0")
    bind_host = "127.0.0.1" if host == "localhost" or ":" not in host else "::1"
    command = daemon_command(bind_host, port, unix_socket=unix_socket, extra_args=extra_args)
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    pid = int(launched.stdout.split()[0])
    deadline = time.monotonic() + timeout
    delays = _STARTING.delays()
    while not _answers(bind_host, port, unix_socket):
        if not pid_alive(pid):
            # Another daemon may have won a race for the port: fine if it answers.
            if _answers(bind_host, port, unix_socket):
                break
            raise RegistryStartError(
                f"the registry daemon exited during start-up (command: {' '.join(command)})"
            )
        if time.monotonic() > deadline:
            raise RegistryStartError(f"the registry daemon did not answer within {timeout} s")
        time.sleep(next(delays))
    return pid
