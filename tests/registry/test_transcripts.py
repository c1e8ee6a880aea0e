"""The daemon driven byte for byte as existing clients drive it.

Each transcript is written by hand from what those clients send and expect
(doc/registry.md, "NSCL dialect" and "portpicker dialect"; doc/compatibility.md):

* NSCL's Tcl ``portAllocator`` writes with ``puts`` (``"\\n"``), reads with
  ``gets`` and takes words with ``lindex``; its user is ``tcl_platform(user)``.
* NSCL's Python ``PortManager`` sends ``getpass.getuser()`` (``$USER``: under
  su or sudo not the uid's name) and reads lines with ``readline``.
* NSCL's C++ ``CPortManager`` sends ``GIMME``/``LIST`` lines and reads
  ``OK``/``FAIL`` lines; a refusal keeps its connection and its ports.
* portpicker (``get_port_from_port_server``) sends ``b"%d\\n" % pid`` on the
  Unix socket, reads until EOF and takes the first line's integer; no
  answer at all means "no port" (``None``).

A step is ``(connection, action, bytes)``: ``send`` the bytes, ``expect`` one
line matching them (a regular expression over bytes, fully; ``{name}`` refers
to a group captured earlier), ``eof`` (the daemon closed), or ``close``.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from mountcomm.registry import PortRegistry
from mountcomm.registry.client import ANY_USER
from mountcomm.registry.peer import current_user, unix_address
from mountcomm.registry.server import RegistryServer
from tests.ports import unused_ports

from .conftest import T, close_raw, pool_of

Step = tuple[str, str, bytes]

ME = current_user().encode()

TCL_PORT_ALLOCATOR: list[Step] = [
    ("tcl", "send", b"GIMME Spec#Tcl " + ME + b"\n"),
    ("tcl", "expect", rb"OK (?P<p1>\d+)\r\n"),
    ("tcl", "send", b"GIMME Spec#Tcl " + ME + b"\n"),
    ("tcl", "expect", rb"OK (?P<p2>\d+)\r\n"),
    ("tcl", "send", b"LIST\n"),
    ("tcl", "expect", rb"OK 2\r\n"),
    ("tcl", "expect", rb"{p1} Spec#Tcl " + ME + rb"\r\n"),
    ("tcl", "expect", rb"{p2} Spec#Tcl_1 " + ME + rb"\r\n"),
    ("tcl", "close", b""),
]
"""portAllocator: two ports under one name (the second suffixed), then a list."""

PYTHON_PORT_MANAGER_UNDER_SUDO: list[Step] = [
    # $USER says "daqdev"; the kernel says who it is: accepted, owner verified
    ("py", "send", b"GIMME RingMaster daqdev\n"),
    ("py", "expect", rb"OK (?P<p>\d+)\r\n"),
    ("py", "send", b"LIST\n"),
    ("py", "expect", rb"OK 1\r\n"),
    ("py", "expect", rb"{p} RingMaster " + ME + rb"\r\n"),
    ("py", "close", b""),
]
"""PortManager.py run under sudo: the claimed user differs from the uid's."""

CPP_PORT_MANAGER_POOL_EXHAUSTED: list[Step] = [
    ("cpp", "send", b"GIMME first " + ME + b"\n"),
    ("cpp", "expect", rb"OK (?P<p>\d+)\r\n"),
    ("cpp", "send", b"GIMME second " + ME + b"\n"),
    ("cpp", "expect", rb"FAIL \{no free ports in pool [^}]*\}\r\n"),
    # the connection and the port it holds are kept, as NSCL's server does
    ("cpp", "send", b"LIST\n"),
    ("cpp", "expect", rb"OK 1\r\n"),
    ("cpp", "expect", rb"{p} first " + ME + rb"\r\n"),
    ("viewer", "send", b"LIST\n"),
    ("viewer", "expect", rb"OK 1\r\n"),
    ("viewer", "expect", rb"{p} first " + ME + rb"\r\n"),
    ("cpp", "close", b""),
    ("viewer", "close", b""),
]
"""CPortManager with a pool of one port: a refusal, then business as usual."""

SURVIVOR_TAKES_THE_NAME: list[Step] = [
    ("first", "send", b"GIMME svc " + ME + b"\n"),
    ("first", "expect", rb"OK (?P<p1>\d+)\r\n"),
    ("second", "send", b"GIMME svc " + ME + b"\n"),
    ("second", "expect", rb"OK (?P<p2>\d+)\r\n"),
    ("second", "send", b"LIST\n"),
    ("second", "expect", rb"OK 2\r\n"),
    ("second", "expect", rb"{p1} svc " + ME + rb"\r\n"),
    ("second", "expect", rb"{p2} svc_1 " + ME + rb"\r\n"),
    ("first", "close", b""),
    # the first holder left: at the next LIST the survivor is the plain name
    ("second", "send", b"LIST\n"),
    ("second", "expect", rb"OK 1\r\n"),
    ("second", "expect", rb"{p2} svc " + ME + rb"\r\n"),
    ("second", "close", b""),
]
"""Two holders of one name; ``findServer svc`` finds the survivor."""

TELNET_REFUSALS: list[Step] = [
    ("telnet", "send", b"HELLO\r\n"),
    ("telnet", "expect", rb"FAIL \{unknown request 'HELLO'; expected GIMME [^}]*\}\r\n"),
    ("telnet", "send", b"gimme a\r\n"),
    ("telnet", "expect", rb"FAIL \{GIMME takes a service and a user, got 1 word\(s\)\}\r\n"),
    ("telnet", "send", b"list\r\n"),
    ("telnet", "expect", rb"OK 0\r\n"),
    ("telnet", "close", b""),
]
"""A person at ``telnet``: CRLF lines, lower case, refusals that keep the session."""


async def play(server: RegistryServer, steps: list[Step]) -> dict[str, bytes]:
    """Play ``steps`` against ``server``; return the captured groups.

    A ``close`` returns once the daemon has ended that connection's lease:
    a watcher sees every port the connection got (groups ``p...``) removed.
    """
    found: dict[str, bytes] = {}
    held: dict[str, list[int]] = {}
    conns: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    def fill(pattern: bytes) -> bytes:
        return re.sub(rb"\{(\w+)\}", lambda m: re.escape(found[m.group(1).decode()]), pattern)

    watcher = PortRegistry("127.0.0.1", server.port, timeout=T)
    async with watcher, watcher.watch(initial=False, trusted_users=ANY_USER) as events:
        try:
            for name, action, data in steps:
                if name not in conns:
                    conns[name] = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", server.port), T
                    )
                reader, writer = conns[name]
                if action == "send":
                    writer.write(data)
                elif action == "expect":
                    line = await asyncio.wait_for(reader.readline(), T)
                    match = re.fullmatch(fill(data), line)
                    assert match is not None, f"{name}: expected {fill(data)!r}, got {line!r}"
                    for key, value in match.groupdict().items():
                        found[key] = value
                        if key.startswith("p"):
                            held.setdefault(name, []).append(int(value))
                elif action == "eof":
                    assert await asyncio.wait_for(reader.read(), T) == b""
                else:
                    await close_raw(writer)
                    del conns[name]
                    pending = set(held.pop(name, ()))
                    while pending:
                        event = await asyncio.wait_for(events.__anext__(), T)
                        if event.kind == "removed":
                            pending.discard(event.port)
        finally:
            for _, writer in conns.values():
                await close_raw(writer)
    return found


@pytest.mark.parametrize(
    ("steps", "pool_size"),
    [
        (TCL_PORT_ALLOCATOR, 3),
        (PYTHON_PORT_MANAGER_UNDER_SUDO, 3),
        (CPP_PORT_MANAGER_POOL_EXHAUSTED, 1),
        (SURVIVOR_TAKES_THE_NAME, 3),
        (TELNET_REFUSALS, 1),
    ],
    ids=["tcl-portAllocator", "PortManager-sudo", "CPortManager-full", "survivor", "telnet"],
)
async def test_nscl_transcripts(steps: list[Step], pool_size: int) -> None:
    async with RegistryServer("127.0.0.1", 0, pool=pool_of(unused_ports(pool_size))) as server:
        await play(server, steps)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets need Linux")
async def test_portpicker_transcripts() -> None:
    name = f"@mountcomm-transcript-{os.getpid()}-{id(object())}"
    async with RegistryServer("127.0.0.1", 0, pool=None, unix_socket=name) as server:

        async def ask(data: bytes) -> bytes:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(unix_address(name)), T
            )
            try:
                writer.write(data)
                return await asyncio.wait_for(reader.read(), T)  # until the daemon closes
            finally:
                await close_raw(writer)

        # a live pid: "<port>\n", then EOF
        reply = await ask(b"%d\n" % os.getpid())
        assert re.fullmatch(rb"[1-9][0-9]*\n", reply), reply
        assert [e.port for e in server.store.entries()] == [int(reply)]
        # refusals: EOF without a byte (portpicker then returns None), never "0\n"
        for line in (b"0\n", b"1\n", b"-3\n", b"999999999\n"):
            assert await ask(line) == b"", line
        # as portserver.py: the first read is the request, newline or not
        reply = await ask(b"%d" % os.getpid())
        assert re.fullmatch(rb"[1-9][0-9]*\n", reply), reply
        assert len(server.store.entries()) == 2
        # a malformed request: closed without a byte (not an NSCL FAIL)
        for request in (b"hello\n", b"12x", b"LIST\n"):
            assert await ask(request) == b"", request
