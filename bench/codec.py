"""Codec figures: µs to encode and to parse one message, against a hand-written floor.

The floor (`bench/codec_floor.py`) is what a careful programmer would write by
hand for the same four frames: one ``__slots__`` class per message, an
f-string ``encode``, and a parser that splits the frame and converts its fields
with ``int`` / ``float`` / dict look-ups, checking the field count, the code,
the source and the timestamp's shape. Both sides are measured in the same run
on the same frames; a figure is the median of several runs, and its ratio
(floor ÷ mountcomm, so above 1 means mountcomm is faster) is the median of the
per-run ratios.

Usage: ``python bench/codec.py [--runs N]`` (also part of ``bench/run_all.py``).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import codec_floor
from common import Figure, print_table
from mountcomm.protocol import commands, parse_command, parse_reply, replies
from mountcomm.protocol.framing import FrameDecoder

N = 20_000


def _values(n: int) -> list[tuple[int, int, float, float, float, float]]:
    """The values of ``n`` messages: (kind, sequence_id, timestamp, a, b, c)."""
    rng = random.Random(1)
    now = time.time()
    out = []
    for i in range(n):
        t = now + rng.random()
        out.append(
            (
                i % 4,
                i + 1,
                t,
                rng.uniform(-270, 270),
                rng.uniform(-1, 1),
                float(rng.randrange(9999)),
            )
        )
    return out


def _ours(values: list[tuple[int, int, float, float, float, float]]) -> list[Any]:
    out: list[Any] = []
    for kind, seq, t, a, b, c in values:
        if kind == 0:
            out.append(
                commands.ElevationAxisTrack(
                    sequence_id=seq, position=a, velocity=b, tai=t + 37, timestamp=t
                )
            )
        elif kind == 1:
            out.append(commands.AzimuthAxisMove(sequence_id=seq, position=a, timestamp=t))
        elif kind == 2:
            out.append(replies.AckReply(sequence_id=seq, timeout_ms=int(c), timestamp=t))
        else:
            out.append(replies.DoneReply(sequence_id=seq, timestamp=t))
    return out


def _floor(values: list[tuple[int, int, float, float, float, float]]) -> list[Any]:
    out: list[Any] = []
    for kind, seq, t, a, b, c in values:
        if kind == 0:
            out.append(codec_floor.ElevationAxisTrack(seq, 1, t, a, b, t + 37))
        elif kind == 1:
            out.append(codec_floor.AzimuthAxisMove(seq, 1, t, a, 0.0, 0.0, 0.0))
        elif kind == 2:
            out.append(codec_floor.AckReply(seq, 1, t, int(c)))
        else:
            out.append(codec_floor.DoneReply(seq, 1, t))
    return out


def _timed(loop: Callable[[], object]) -> float:
    """µs per message of one call of ``loop`` (over `N` messages), GC paused."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        loop()
        return (time.perf_counter() - start) / N * 1e6
    finally:
        gc.enable()


def _encode_pair() -> tuple[float, float]:
    values = _values(N)  # fresh timestamps each run: nothing cached from the last
    ours, floor = _ours(values), _floor(values)
    for a, b in zip(ours, floor, strict=True):
        if a.encode() != b.encode():
            raise RuntimeError(f"the floor encodes differently: {a.encode()!r} {b.encode()!r}")
    values = _values(N)
    ours, floor = _ours(values), _floor(values)

    def run_ours() -> None:
        for m in ours:
            m.encode()

    def run_floor() -> None:
        for m in floor:
            m.encode()

    return _timed(run_ours), _timed(run_floor)


def _frames() -> tuple[list[bytes], list[bool]]:
    """The frames of `N` fresh messages, and for each whether it is a command."""
    messages = _ours(_values(N))
    return [m.encode() for m in messages], [isinstance(m, commands.Command) for m in messages]


def _feed_messages(chunk: bytes, parse: Callable[[list[str]], Any]) -> list[Any]:
    decoder = FrameDecoder()
    if hasattr(decoder, "feed_messages"):
        return decoder.feed_messages(chunk, parse)  # type: ignore[no-any-return]
    return [parse(f) for f in decoder.feed(chunk)]  # before the batch API existed


def _parse_pair() -> tuple[float, float]:
    frames, is_command = _frames()
    ours_parse = [parse_command if c else parse_reply for c in is_command]
    floor_parse = [codec_floor.parse_command if c else codec_floor.parse_reply for c in is_command]
    for parser, frame in zip(ours_parse, frames, strict=True):
        if parser(frame[:-2].decode().split("\n")).encode() != frame:
            raise RuntimeError("mountcomm's parser misread a frame")
    for parser, frame in zip(floor_parse, frames, strict=True):
        if parser(frame).encode() != frame:
            raise RuntimeError("the floor misread a frame")
    work_ours = list(zip(ours_parse, frames, strict=True))
    work_floor = list(zip(floor_parse, frames, strict=True))

    def run_ours() -> None:
        for parser, frame in work_ours:
            parser(frame[:-2].decode().split("\n"))

    def run_floor() -> None:
        for parser, frame in work_floor:
            parser(frame)

    return _timed(run_ours), _timed(run_floor)


def _batch_pair() -> tuple[float, float]:
    """A chunk of frames of one direction (commands, then replies), as read from a socket."""
    frames, is_command = _frames()
    cmd_chunk = b"".join(f for f, c in zip(frames, is_command, strict=True) if c)
    reply_chunk = b"".join(f for f, c in zip(frames, is_command, strict=True) if not c)

    def run_ours() -> None:
        _feed_messages(cmd_chunk, parse_command)
        _feed_messages(reply_chunk, parse_reply)

    def run_floor() -> None:
        codec_floor.parse_chunk(cmd_chunk, codec_floor.parse_fields_command)
        codec_floor.parse_chunk(reply_chunk, codec_floor.parse_fields_reply)

    got = _feed_messages(cmd_chunk, parse_command)
    want = codec_floor.parse_chunk(cmd_chunk, codec_floor.parse_fields_command)
    if [m.encode() for m in got] != [m.encode() for m in want]:
        raise RuntimeError("the batch decoders disagree")
    return _timed(run_ours), _timed(run_floor)


def _construct() -> float:
    values = _values(N)
    return _timed(lambda: _ours(values))


def _figure(name: str, pairs: list[tuple[float, float]]) -> Figure:
    ours = [p[0] for p in pairs]
    floor = [p[1] for p in pairs]
    ratio = statistics.median(f / o for o, f in pairs)
    return Figure(
        name,
        "µs",
        statistics.median(ours),
        statistics.median(floor),
        higher_is_better=False,
        runs=ours,
        baseline_runs=floor,
        note=f"baseline: hand-written floor; median of per-run ratios {ratio:.2f}x "
        f"(ours/floor {1 / ratio:.2f})",
    )


def run(runs: int) -> list[Figure]:
    enc = [_encode_pair() for _ in range(runs)]
    par = [_parse_pair() for _ in range(runs)]
    bat = [_batch_pair() for _ in range(runs)]
    con = [_construct() for _ in range(runs)]
    return [
        _figure("codec: encode one message", enc),
        _figure("codec: parse one frame (split + validate)", par),
        _figure("codec: parse a chunk of frames, per frame", bat),
        Figure(
            "codec: construct one message (validated)",
            "µs",
            statistics.median(con),
            higher_is_better=False,
            runs=con,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    print_table(run(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
