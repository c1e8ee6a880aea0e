"""Hostile input: frames and lines no well-behaved peer sends, by the hundred thousand.

Every target must survive: it answers a valid request afterwards, raises only
typed errors (`ProtocolError` for a `Communicator`), and its memory does not
grow beyond the goal.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from mountcomm import Communicator, ProtocolError
from mountcomm.protocol import commands
from mountcomm.protocol.enums import Source

from .procs import Child, free_port, registry_child, rss_mib, sim_child

LIVENESS_TIMEOUT = 5.0
BATCH = 500


@dataclass
class FuzzResult:
    """What one fuzz target saw."""

    name: str
    frames: int = 0
    typed: int = 0
    untyped: Counter[str] = field(default_factory=Counter)
    alive: bool = False
    rss_before: float = 0.0
    rss_after: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> float:
        return self.rss_after - self.rss_before


_NUMBERS = [
    "nan",
    "inf",
    "-inf",
    "5e-324",
    "1e308",
    "-1e308",
    "1e999",
    "0",
    "-0",
    "-1",
    "99999999999999999999",
    "2147483648",
    "-2147483649",
    "0x10",
    "1_0",
    "",
    " ",
    "é",
]


def hostile_frames(rng: random.Random) -> Iterator[bytes]:
    """An endless stream of hostile mount-protocol frames, each ending in CRLF."""
    good = commands.ElevationAxisMove(sequence_id=1, position=60).encode()[:-2].split(b"\n")
    while True:
        kind = rng.randrange(10)
        if kind == 0:  # random bytes, no newline inside
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            yield body.replace(b"\n", b"").replace(b"\r", b"") + b"\r\n"
        elif kind == 1:  # not UTF-8
            yield b"\xff\xfe\n\x80\n" + bytes([rng.randrange(128, 256)]) + b"\r\n"
        elif kind == 2:  # an overlong frame, once in a while
            if rng.random() < 0.01:
                yield b"9" * (70 * 1024) + b"\r\n"
            else:
                yield b"\n" * rng.randrange(1, 50) + b"\r\n"
        elif kind == 3:  # wrong field counts
            fields = good[: rng.randrange(len(good) + 3)] + [b"1"] * rng.randrange(3)
            yield b"\n".join(fields) + b"\r\n"
        else:  # a real command code with hostile values
            fields = list(good)
            fields[1] = str(rng.choice([rng.randrange(-5, 2500), 302, 403, 1601])).encode()
            for i in range(rng.randrange(1, 4)):
                index = rng.randrange(len(fields)) if i else len(fields) - 1
                fields[index] = rng.choice(_NUMBERS).encode()
            yield b"\n".join(fields) + b"\r\n"


async def _drain(reader: asyncio.StreamReader, seen: asyncio.Queue[bytes]) -> None:
    while line := await reader.readuntil(b"\r\n"):
        seen.put_nowait(line)


async def sim_target(frames: int) -> FuzzResult:
    """Hostile frames into the simulator's CSC command port; then a valid command."""
    result = FuzzResult("simulator")
    command_port, reply_port = free_port(), free_port()
    replies: asyncio.Queue[bytes] = asyncio.Queue()
    drains: set[asyncio.Task[None]] = set()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        drains.add(asyncio.get_running_loop().create_task(_drain(reader, replies)))

    reply_server = await asyncio.start_server(accepted, "127.0.0.1", reply_port)
    sim = sim_child(command_port=command_port, reply_port=reply_port)
    await sim.start("READY")
    try:
        result.rss_before = rss_mib(sim.pid)
        _, writer = await asyncio.open_connection("127.0.0.1", command_port)
        rng = random.Random(1)
        stream = hostile_frames(rng)
        while result.frames < frames:
            writer.write(b"".join(next(stream) for _ in range(BATCH)))
            result.frames += BATCH
            await writer.drain()
            while not replies.empty():  # keep our memory flat
                replies.get_nowait()
        probe = commands.AskForCommand(sequence_id=123456789, commander=Source.CSC)
        writer.write(probe.encode())
        await writer.drain()
        result.alive = await _answered(replies, b"123456789")
        result.rss_after = rss_mib(sim.pid)
        writer.close()
    finally:
        await sim.stop()
        reply_server.close()
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
        await reply_server.wait_closed()
    return result


async def _answered(replies: asyncio.Queue[bytes], sequence_id: bytes) -> bool:
    """True once a reply to ``sequence_id`` (a reply's second field) arrives."""
    try:
        async with asyncio.timeout(LIVENESS_TIMEOUT):
            while (await replies.get()).split(b"\n")[1:2] != [sequence_id]:
                pass
    except TimeoutError:
        return False
    return True


async def communicator_target(frames: int) -> FuzzResult:
    """Hostile frames into a `Communicator` reading commands, in this process."""
    result = FuzzResult("Communicator")
    comm = Communicator("fuzz", None, 0, "127.0.0.1", 0, None, read_replies=False, connect=False)
    await comm.wait_server_port()
    _, writer = await asyncio.open_connection("127.0.0.1", comm.server_port)
    sentinel = commands.AskForCommand(sequence_id=987654321, commander=Source.CSC)
    result.rss_before = rss_mib()

    async def feed() -> None:
        stream = hostile_frames(random.Random(2))
        sent = 0
        while sent < frames:
            writer.write(b"".join(next(stream) for _ in range(BATCH)))
            sent += BATCH
            await writer.drain()
        writer.write(sentinel.encode())
        await writer.drain()

    feeder = asyncio.get_running_loop().create_task(feed())
    try:
        async with asyncio.timeout(120):
            while True:
                try:
                    message = await comm.read()
                except ProtocolError:
                    result.typed += 1
                    continue
                except Exception as e:  # an untyped error is what we are looking for
                    result.untyped[f"{type(e).__name__}: {e}"] += 1
                    break
                if message == sentinel:
                    result.alive = True
                    break
        await feeder
        result.frames = frames
    except TimeoutError:
        result.notes.append("the reader did not reach the sentinel within 120 s")
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        result.rss_after = rss_mib()
        writer.close()
        await comm.close()
    return result


def _native_lines(rng: random.Random) -> Iterator[bytes]:
    while True:
        kind = rng.randrange(8)
        if kind == 0:
            yield b'{"op": "ping", "id": ' + rng.choice(_NUMBERS).encode() + b"}\n"
        elif kind == 1:
            yield b"[" * rng.randrange(1, 5000) + b"\n"
        elif kind == 2:
            yield b'{"op": "' + os.urandom(8).hex().encode() + b'", "id": 1}\n'
        elif kind == 3:
            yield (
                b'{"op": "find", "id": 2, "service": ' + rng.choice([b"1", b"null", b"[]"]) + b"}\n"
            )
        elif kind == 4:
            yield b'{"op": "release", "id": 3, "port": ' + rng.choice(_NUMBERS).encode() + b"}\n"
        elif kind == 5:
            yield b"{" + bytes(rng.randrange(32, 127) for _ in range(rng.randrange(80))) + b"\n"
        elif kind == 6:
            yield b'{"op": "watch", "id": 4, "service": 7}\n'
        else:
            yield b"x" * rng.randrange(1, 300) + b"\xff\n"


def _nscl_lines(rng: random.Random) -> Iterator[bytes]:
    while True:
        kind = rng.randrange(6)
        if kind == 0:
            yield b"GIMME\n"
        elif kind == 1:
            yield b"GIMME " + bytes(rng.randrange(33, 127) for _ in range(300)) + b" u\n"
        elif kind == 2:
            yield b"LIST extra words\n"
        elif kind == 3:
            yield bytes(rng.randrange(256) for _ in range(40)).replace(b"\n", b"") + b"\n"
        elif kind == 4:
            yield b"GIMME a b c d e\n"
        else:
            yield b"\x00\x01\x02 GIMME svc user\n"


async def registry_target(frames: int) -> list[FuzzResult]:
    """Hostile lines in the registry's three dialects; then a ping on a new connection."""
    port = free_port()
    registry = registry_child(port)
    await registry.start("mountcomm registry: listening")
    results = []
    try:
        for name, first, lines in (
            ("registry native", b'{"op": "ping", "id": 0}\n', _native_lines),
            ("registry NSCL", b"LIST\n", _nscl_lines),
        ):
            result = FuzzResult(name)
            result.rss_before = rss_mib(registry.pid)
            await _fuzz_stream(port, first, lines(random.Random(3)), frames, result)
            result.alive = await _ping(port)
            result.rss_after = rss_mib(registry.pid)
            results.append(result)
        results.append(await _fuzz_portpicker(registry, port, frames))
    finally:
        await registry.stop()
    return results


async def _fuzz_stream(
    port: int, first: bytes, lines: Iterator[bytes], frames: int, result: FuzzResult
) -> None:
    """Send ``frames`` lines on connections that are reopened when the daemon closes one."""
    while result.frames < frames:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        drain = asyncio.get_running_loop().create_task(reader.read(-1))
        try:
            writer.write(first)
            while result.frames < frames and not drain.done():
                writer.write(b"".join(next(lines) for _ in range(BATCH)))
                result.frames += BATCH
                await writer.drain()
        except ConnectionError:
            result.notes.append("connection closed by the daemon; reopened")
        finally:
            writer.close()
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)


async def _fuzz_portpicker(registry: Child, port: int, frames: int) -> FuzzResult:
    """portpicker pid lines: one per connection, most of them hostile."""
    result = FuzzResult("registry portpicker")
    result.rss_before = rss_mib(registry.pid)
    rng = random.Random(4)
    pids = [b"0", b"1", b"-1", b"2", b"99999999", b"4194305", b"1" * 40]
    connections = min(frames, 5000)
    started = time.monotonic()

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(rng.choice(pids) + b"\n" + b"9" * rng.randrange(3) + b"\n")
        try:
            async with asyncio.timeout(LIVENESS_TIMEOUT):
                answer = await reader.read(64)
            word = answer.strip()
            if word.isdigit():  # a port, or "0": a hostile pid must get no number at all
                result.untyped[
                    "answered a number to a hostile pid"
                    if word != b"0"
                    else "answered 0 to a hostile pid"
                ] += 1
            elif word:
                result.typed += 1  # a refusal in words
        except (TimeoutError, ConnectionError):
            result.notes.append("a pid connection was not closed in time")
        finally:
            writer.close()

    for start in range(0, connections, 50):
        await asyncio.gather(*(one() for _ in range(min(50, connections - start))))
        result.frames += min(50, connections - start)
    result.notes.append(f"{connections} connections in {time.monotonic() - started:.1f} s")
    result.alive = await _ping(port)
    result.rss_after = rss_mib(registry.pid)
    return result


async def _ping(port: int) -> bool:
    try:
        async with asyncio.timeout(LIVENESS_TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b'{"op": "ping", "id": 1}\n')
            answer = await reader.readline()
            writer.close()
        return b'"ok": true' in answer or b'"ok":true' in answer
    except (TimeoutError, OSError):
        return False
