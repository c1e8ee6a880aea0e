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


def _values(n: int, spread: bool = False) -> list[tuple[int, int, float, float, float, float]]:
    """The values of ``n`` messages: (kind, sequence_id, timestamp, a, b, c).

    Timestamps fall at random in one second (about 20 messages per
    millisecond, as at a high message rate), or with ``spread`` each in a
    millisecond of its own (as at a low rate: no cached timestamp text helps).
    """
    rng = random.Random(1)
    now = time.time()
    out = []
    for i in range(n):
        t = now + i * 0.0011 if spread else now + rng.random()
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


BLOCK = 500
"""Messages per block: the two sides take turns, block by block."""


def _race(ours: Callable[[int], object], floor: Callable[[int], object]) -> tuple[float, float]:
    """µs per message of each side over `N` messages, in thread CPU time, GC paused.

    ``ours(b)`` and ``floor(b)`` process block ``b`` (`BLOCK` messages); the
    sides take turns block by block, first one then the other, so that a
    change in the machine's load falls on both alike.
    """
    totals = [0.0, 0.0]
    clock = time.thread_time
    sides = (ours, floor)
    gc.collect()
    gc.disable()
    try:
        for b in range(N // BLOCK):
            for k in (0, 1) if b % 2 == 0 else (1, 0):
                start = clock()
                sides[k](b)
                totals[k] += clock() - start
    finally:
        gc.enable()
    return totals[0] / N * 1e6, totals[1] / N * 1e6


def _blocks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + BLOCK] for i in range(0, len(items), BLOCK)]


def _encode_pair(spread: bool = False) -> tuple[float, float]:
    values = _values(N, spread)  # fresh timestamps each run: nothing cached from the last
    ours, floor = _ours(values), _floor(values)
    for a, b in zip(ours, floor, strict=True):
        if a.encode() != b.encode():
            raise RuntimeError(f"the floor encodes differently: {a.encode()!r} {b.encode()!r}")
    values = _values(N, spread)
    ours_blocks, floor_blocks = _blocks(_ours(values)), _blocks(_floor(values))

    def run_ours(b: int) -> None:
        for m in ours_blocks[b]:
            m.encode()

    def run_floor(b: int) -> None:
        for m in floor_blocks[b]:
            m.encode()

    return _race(run_ours, run_floor)


def _frames(spread: bool = False) -> tuple[list[bytes], list[bool]]:
    """The frames of `N` fresh messages, and for each whether it is a command."""
    messages = _ours(_values(N, spread))
    return [m.encode() for m in messages], [isinstance(m, commands.Command) for m in messages]


def _feed_messages(
    decoder: FrameDecoder, chunk: bytes, parse: Callable[[list[str]], Any]
) -> list[Any]:
    if hasattr(decoder, "feed_messages"):
        return decoder.feed_messages(chunk, parse)  # type: ignore[no-any-return]
    return [parse(f) for f in decoder.feed(chunk)]  # before the batch API existed


def _parse_pair(spread: bool = False) -> tuple[float, float]:
    frames, is_command = _frames(spread)
    ours_parse = [parse_command if c else parse_reply for c in is_command]
    floor_parse = [codec_floor.parse_command if c else codec_floor.parse_reply for c in is_command]
    for parser, frame in zip(ours_parse, frames, strict=True):
        if parser(frame[:-2].decode().split("\n")).encode() != frame:
            raise RuntimeError("mountcomm's parser misread a frame")
    for parser, frame in zip(floor_parse, frames, strict=True):
        if parser(frame).encode() != frame:
            raise RuntimeError("the floor misread a frame")
    frames, is_command = _frames(spread)  # fresh timestamps: no text cached by the check above
    work_ours = _blocks(
        [(parse_command if c else parse_reply, f) for f, c in zip(frames, is_command, strict=True)]
    )
    work_floor = _blocks(
        [
            (codec_floor.parse_command if c else codec_floor.parse_reply, f)
            for f, c in zip(frames, is_command, strict=True)
        ]
    )

    def run_ours(b: int) -> None:
        for parser, frame in work_ours[b]:
            parser(frame[:-2].decode().split("\n"))

    def run_floor(b: int) -> None:
        for parser, frame in work_floor[b]:
            parser(frame)

    return _race(run_ours, run_floor)


def _batch_pair() -> tuple[float, float]:
    """Chunks of `BLOCK` frames of one direction, as read from a socket."""
    frames, is_command = _frames()
    cmd_frames = [f for f, c in zip(frames, is_command, strict=True) if c]
    reply_frames = [f for f, c in zip(frames, is_command, strict=True) if not c]
    for direction, parse, floor_parse in (
        (cmd_frames, parse_command, codec_floor.parse_fields_command),
        (reply_frames, parse_reply, codec_floor.parse_fields_reply),
    ):
        got = _feed_messages(FrameDecoder(), b"".join(direction), parse)
        want = codec_floor.parse_chunk(b"".join(direction), floor_parse)
        if [m.encode() for m in got] != direction or [m.encode() for m in want] != direction:
            raise RuntimeError("a batch decoder misread a chunk")
    frames, is_command = _frames()  # fresh timestamps: no text cached by the check above
    # Each block is one chunk of frames of one direction (commands or replies).
    chunks: list[tuple[bytes, Callable[[list[str]], Any], Callable[[list[str]], Any]]] = []
    cmds = [f for f, c in zip(frames, is_command, strict=True) if c]
    reps = [f for f, c in zip(frames, is_command, strict=True) if not c]
    for block in _blocks(cmds):
        chunks.append((b"".join(block), parse_command, codec_floor.parse_fields_command))
    for block in _blocks(reps):
        chunks.append((b"".join(block), parse_reply, codec_floor.parse_fields_reply))
    decoders = (FrameDecoder(), FrameDecoder())

    def run_ours(b: int) -> None:
        chunk, parse, _ = chunks[b]
        _feed_messages(decoders[parse is parse_reply], chunk, parse)

    def run_floor(b: int) -> None:
        chunk, _, parse = chunks[b]
        codec_floor.parse_chunk(chunk, parse)

    return _race(run_ours, run_floor)


def _construct() -> float:
    values = _values(N)
    gc.collect()
    start = time.thread_time()
    _ours(values)
    return (time.thread_time() - start) / N * 1e6


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
    enc_spread = [_encode_pair(spread=True) for _ in range(runs)]
    par_spread = [_parse_pair(spread=True) for _ in range(runs)]
    bat = [_batch_pair() for _ in range(runs)]
    con = [_construct() for _ in range(runs)]
    return [
        _figure("codec: encode one message", enc),
        _figure("codec: parse one frame (split + validate)", par),
        _figure("codec: parse a chunk of frames, per frame", bat),
        _figure("codec: encode, each in its own ms", enc_spread),
        _figure("codec: parse one frame, each in its own ms", par_spread),
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
