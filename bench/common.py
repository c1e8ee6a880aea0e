"""Shared helpers of the benchmark scripts: timing, medians, the result table."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def _raise_allocator_threshold() -> None:
    """Put glibc's allocator in the state where a 256 KiB object comes from the heap.

    asyncio's plain protocols get a fresh bytes object of up to 256 KiB per
    socket read. glibc serves that with mmap (and unmaps it when the object
    shrinks), about 15 us per read, until the process frees one large
    mmapped block, which raises its threshold for good. Whether that happened
    depended on what ran earlier in the process, so the raw baselines were
    fast or slow by the order of the benchmarks; freeing one such block here
    gives every baseline its fast case.
    """
    block = bytes(1024 * 1024)
    del block


_raise_allocator_threshold()


@dataclass
class Figure:
    """One measured figure next to its raw asyncio baseline."""

    name: str
    unit: str
    ours: float
    baseline: float | None = None
    higher_is_better: bool = True
    runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / baseline for rates, baseline / ours for durations (> 1 means faster)."""
        if self.baseline in (None, 0) or self.ours == 0:
            return None
        assert self.baseline is not None
        return self.ours / self.baseline if self.higher_is_better else self.baseline / self.ours


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def medians_alternating(
    runs: int, *measures: Callable[[], float]
) -> list[tuple[float, list[float]]]:
    """Run each measure ``runs`` times, taking turns, and return each one's median and runs.

    Round ``i`` runs every measure once, in the given order for even ``i`` and
    reversed for odd ``i``, so that a change in the shared machine's load falls
    on all sides alike instead of on whichever was measured last.
    """
    values: list[list[float]] = [[] for _ in measures]
    for i in range(runs):
        order = list(enumerate(measures))
        if i % 2:
            order.reverse()
        for k, measure in order:
            values[k].append(measure())
    return [(statistics.median(v), v) for v in values]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def print_table(figures: list[Figure]) -> None:
    header = f"{'figure':<44} {'unit':<12} {'mountcomm':>12} {'raw asyncio':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for f in figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
        print(f"{f.name:<44} {f.unit:<12} {fmt(f.ours):>12} {fmt(f.baseline):>12} {ratio:>7}")
        if f.note:
            print(f"{'':<46}{f.note}")


def write_results(figures: list[Figure], path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
