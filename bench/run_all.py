"""Run every benchmark and print one table; write bench/results/latest.json.

Each figure is the median of several runs and stands next to a raw asyncio
baseline (plain open_connection / start_server, write + drain per message,
readuntil(b"\\r\\n"), identical bytes) measured in the same process and run.

Usage: ``python bench/run_all.py [--runs N] [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import Figure, print_table, write_results
from mountcomm import log

BENCHMARKS = [
    "codec",
    "framing",
    "one_way",
    "round_trip",
    "mount_client",
    "pairs",
    "connect",
    "proxy",
    "registry",
    "cluster",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median); >= 3")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3 (figures are medians)")
    log.configure(level="error")
    figures: list[Figure] = []
    for name in args.only or BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # benchmark not present in this checkout
            raise
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(module.run(args.runs))
    print_table(figures)
    path = write_results(figures)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
