"""Framing cost of one large frame fed one byte at a time: is it linear?

For a frame of 8 KiB and one of 64 KiB, each fed to the decoder one byte at a
time, this measures the time to get the frame out, and the ratio of the two:
about 8 when the decoder is linear in the bytes fed, about 64 when it rescans
or copies its buffer on every byte.

Measured for mountcomm's `FrameDecoder` and the registry's line splitting (both
`mountcomm.protocol.lines.LineSplitter`, the registry's with ``strip_cr``) and,
as the raw baseline in the same run, for
`asyncio.StreamReader.readuntil(b"\\r\\n")` with a reader waiting while the
same bytes are fed one at a time (``feed_data``).

Usage: ``python bench/framing.py [--runs N]`` (also part of ``bench/run_all.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import Figure, median_of, print_table
from mountcomm.protocol.framing import FrameDecoder
from mountcomm.protocol.lines import LineSplitter

SMALL = 8 * 1024
LARGE = 64 * 1024


def _frame(size: int) -> bytes:
    """A frame of ``size`` bytes before its terminator."""
    return b"1\n" + b"7" * (size - 2) + b"\r\n"


def _decoder_ms(size: int) -> float:
    data = _frame(size)
    pieces = [data[i : i + 1] for i in range(len(data))]
    decoder = FrameDecoder(max_frame_bytes=2 * LARGE)
    start = time.perf_counter()
    out = []
    for piece in pieces:
        out += decoder.feed(piece)
    elapsed = time.perf_counter() - start
    if len(out) != 1:
        raise RuntimeError(f"expected one frame, got {len(out)}")
    return elapsed * 1e3


def _registry_ms(size: int) -> float:
    data = b"{" + b"a" * (size - 1) + b"\n"
    pieces = [data[i : i + 1] for i in range(len(data))]
    splitter = LineSplitter(b"\n", 2 * LARGE, strip_cr=True)  # as the registry reads
    start = time.perf_counter()
    out = []
    for piece in pieces:
        out += splitter.feed(piece)
    elapsed = time.perf_counter() - start
    if len(out) != 1:
        raise RuntimeError(f"expected one line, got {len(out)}")
    return elapsed * 1e3


async def _raw_async(size: int) -> float:
    data = _frame(size)
    pieces = [data[i : i + 1] for i in range(len(data))]
    reader = asyncio.StreamReader(limit=2 * LARGE)
    start = time.perf_counter()
    task = asyncio.create_task(reader.readuntil(b"\r\n"))
    await asyncio.sleep(0)  # the reader is waiting, as in a real read loop
    for piece in pieces:
        reader.feed_data(piece)
        await asyncio.sleep(0)  # let the waiting readuntil look at the new byte
    frame = await task
    elapsed = time.perf_counter() - start
    if len(frame) != len(data):
        raise RuntimeError("raw baseline read a wrong frame")
    return elapsed * 1e3


def _raw_ms(size: int) -> float:
    return asyncio.run(_raw_async(size))


def run(runs: int) -> list[Figure]:
    figures: list[Figure] = []
    raw_small, raw_small_runs = median_of(runs, lambda: _raw_ms(SMALL))
    raw_large, raw_large_runs = median_of(runs, lambda: _raw_ms(LARGE))
    raw_ratio = raw_large / raw_small
    for label, measure in (("FrameDecoder", _decoder_ms), ("registry lines", _registry_ms)):
        small, small_runs = median_of(runs, lambda m=measure: m(SMALL))  # type: ignore[misc]
        large, large_runs = median_of(runs, lambda m=measure: m(LARGE))  # type: ignore[misc]
        figures += [
            Figure(
                f"framing: {label}, 8 KiB byte by byte",
                "ms",
                small,
                raw_small,
                higher_is_better=False,
                runs=small_runs,
                baseline_runs=raw_small_runs,
            ),
            Figure(
                f"framing: {label}, 64 KiB byte by byte",
                "ms",
                large,
                raw_large,
                higher_is_better=False,
                runs=large_runs,
                baseline_runs=raw_large_runs,
            ),
            Figure(
                f"framing: {label}, 64 KiB / 8 KiB time",
                "x (8=linear)",
                large / small,
                raw_ratio,
                higher_is_better=False,
                note="about 8 when linear in the bytes fed, about 64 when quadratic",
            ),
        ]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    print_table(run(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
