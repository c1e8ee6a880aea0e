"""Codec figures: µs to encode and to parse one message (no I/O)."""

from __future__ import annotations

import random
import time

from common import Figure, median_of
from mountcomm.protocol import commands, parse_command, parse_reply, replies

N = 20_000


def _fresh_messages(n: int) -> list[object]:
    rng = random.Random(1)
    now = time.time()
    out: list[object] = []
    for i in range(n):
        kind = i % 4
        t = now + rng.random()
        if kind == 0:
            out.append(
                commands.ElevationAxisTrack(
                    sequence_id=i + 1,
                    position=rng.uniform(20, 86),
                    velocity=rng.uniform(-1, 1),
                    tai=t + 37,
                    timestamp=t,
                )
            )
        elif kind == 1:
            out.append(
                commands.AzimuthAxisMove(
                    sequence_id=i + 1, position=rng.uniform(-270, 270), timestamp=t
                )
            )
        elif kind == 2:
            out.append(
                replies.AckReply(sequence_id=i + 1, timeout_ms=rng.randrange(10000), timestamp=t)
            )
        else:
            out.append(replies.DoneReply(sequence_id=i + 1, timestamp=t))
    return out


def run(runs: int) -> list[Figure]:
    messages = _fresh_messages(N)
    frames = [m.encode() for m in messages]  # type: ignore[attr-defined]
    split = [f[:-2].decode().split("\n") for f in frames]
    parsers = [parse_command if isinstance(m, commands.Command) else parse_reply for m in messages]

    def encode() -> float:
        fresh = _fresh_messages(N)  # new objects each run: no cached encodings
        start = time.perf_counter()
        for m in fresh:
            m.encode()  # type: ignore[attr-defined]
        return (time.perf_counter() - start) / N * 1e6

    def parse() -> float:
        start = time.perf_counter()
        for parser, fields in zip(parsers, split, strict=True):
            parser(fields)
        return (time.perf_counter() - start) / N * 1e6

    def construct() -> float:
        start = time.perf_counter()
        _fresh_messages(N)
        return (time.perf_counter() - start) / N * 1e6

    enc, enc_runs = median_of(runs, encode)
    par, par_runs = median_of(runs, parse)
    con, con_runs = median_of(runs, construct)
    return [
        Figure("codec: encode one message", "µs", enc, higher_is_better=False, runs=enc_runs),
        Figure(
            "codec: parse one message (fields → object)",
            "µs",
            par,
            higher_is_better=False,
            runs=par_runs,
        ),
        Figure(
            "codec: construct one message (validated)",
            "µs",
            con,
            higher_is_better=False,
            runs=con_runs,
        ),
    ]
