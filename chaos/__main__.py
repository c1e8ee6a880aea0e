"""``python -m chaos``: run the chaos suite, print its table, exit 1 if a goal fails."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from typing import Any, TypeVar

from . import fuzz, kills, owners, partition

T = TypeVar("T")

GOAL_RECOVERY_P99 = 0.5
GOAL_RSS_GROWTH_MIB = 10.0
GOAL_REGISTRY_KILLS = 50
GOAL_DETECTION_TRAFFIC = partition.ACK_TIMEOUT + 0.5
GOAL_DETECTION_SILENT = 10.0
GOAL_NEXT_COMMAND = 2.0


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Goals:
    """Collects failed goals."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failed.append(what)


def report_kills(results: list[kills.KillResult], goals: Goals) -> None:
    header = [
        "scenario",
        "kills",
        "commands",
        "done",
        "typed errors",
        "untyped",
        "hangs",
        "stuck",
        "recovery p50",
        "recovery p99",
    ]
    rows = []
    for r in results:
        s = r.stream
        p99 = _quantile(r.recovery, 0.99)
        rows.append(
            [
                r.name,
                r.kills,
                s.commands,
                s.done,
                sum(s.typed.values()),
                sum(s.untyped.values()),
                s.hangs,
                r.stuck,
                _ms(_quantile(r.recovery, 0.5)),
                _ms(p99),
            ]
        )
        goals.check(s.hangs == 0, f"{r.name}: {s.hangs} hangs")
        goals.check(not s.untyped, f"{r.name}: untyped errors {dict(s.untyped)}")
        goals.check(r.stuck == 0, f"{r.name}: stuck clients ({'; '.join(r.notes)})")
        goals.check(
            p99 is not None and p99 <= GOAL_RECOVERY_P99,
            f"{r.name}: recovery p99 {_ms(p99)} > {GOAL_RECOVERY_P99 * 1000:.0f} ms",
        )
    print(_table(rows, header))
    for r in results:
        if r.stream.typed:
            print(f"  {r.name}: typed errors {dict(r.stream.typed)}")


def report_fuzz(results: list[fuzz.FuzzResult], goals: Goals) -> None:
    header = [
        "fuzz target",
        "frames",
        "typed errors",
        "untyped",
        "alive after",
        "RSS before",
        "RSS after",
    ]
    rows = [
        [
            r.name,
            r.frames,
            r.typed or "-",
            sum(r.untyped.values()),
            r.alive,
            f"{r.rss_before:.1f} MiB",
            f"{r.rss_after:.1f} MiB",
        ]
        for r in results
    ]
    print(_table(rows, header))
    total = sum(r.frames for r in results)
    print(f"  hostile frames in all: {total}")
    for r in results:
        goals.check(r.alive, f"fuzz {r.name}: did not answer afterwards ({'; '.join(r.notes)})")
        goals.check(not r.untyped, f"fuzz {r.name}: untyped errors {dict(r.untyped)}")
        goals.check(
            r.rss_growth <= GOAL_RSS_GROWTH_MIB, f"fuzz {r.name}: RSS grew {r.rss_growth:.1f} MiB"
        )


def report_owners(result: owners.OwnerResult, cross: owners.CrossUserResult, goals: Goals) -> None:
    print(
        f"owner deaths: {result.registered}/{result.owners} registered, all entries gone "
        f"{_ms(result.gone_after) + ' after kill -9' if result.gone_after is not None else 'NOT'}"
    )
    goals.check(result.registered == result.owners, "owner deaths: not every owner registered")
    goals.check(result.gone_after is not None, "owner deaths: entries outlived their owners")
    if not cross.ran:
        print(f"cross-user: {'; '.join(cross.notes)}")
        return
    print(
        f"cross-user: an untrusted entry won a lookup: {cross.untrusted_won}; "
        f"the trusted entry was found: {cross.trusted_found}"
    )
    goals.check(not cross.untrusted_won, f"cross-user: {'; '.join(cross.notes)}")
    goals.check(cross.trusted_found, "cross-user: the trusted entry was not found")


def report_partition(results: list[partition.PartitionResult], goals: Goals) -> None:
    if not results[0].ran:
        print(f"cable pulls: {'; '.join(results[0].notes)}")
        return
    header = [
        "cable pulled at",
        "traffic",
        "out for",
        "detection",
        "controller",
        "reconnection",
        "next command",
    ]
    rows = [
        [
            r.name,
            "yes" if p.traffic else "no",
            f"{p.down_for:.1f} s",
            _ms(p.detection),
            _ms(p.controller_detection),
            _ms(p.reconnection),
            _ms(p.next_command),
        ]
        for r in results
        for p in r.pulls
    ]
    print(_table(rows, header))
    for r in results:
        _partition_summary(r, goals)


def _partition_summary(result: partition.PartitionResult, goals: Goals) -> None:
    outcomes = result.outcomes
    untyped = [o for o in outcomes if not o.typed]
    slow = [o for o in outcomes if o.duration > partition.COMMAND_BOUND]
    kinds = Counter(type(o.error).__name__ for o in outcomes if o.error is not None)
    late = len(result.executed_after_timeout)
    done = sum(o.error is None for o in outcomes)
    print(
        f"  {result.name}: commands {len(outcomes)}, done {done}, "
        f"timed out without ACK {result.timed_out_unknown}, untyped {len(untyped)}, "
        f"over {partition.COMMAND_BOUND:.1f} s {len(slow)}, executed after their timeout {late}"
        + ("" if result.static_neighbours else " (for information)")
    )
    print(f"    typed errors {dict(kinds)}")
    name = f"cable pulls {result.name}"
    goals.check(result.stuck == 0, f"{name}: stuck ({'; '.join(result.notes)})")
    goals.check(not untyped, f"{name}: untyped errors {[repr(o.error) for o in untyped]}")
    goals.check(not slow, f"{name}: {len(slow)} commands over {partition.COMMAND_BOUND} s")
    goals.check(result.timed_out_unknown > 0, f"{name}: no command timed out (nothing tested)")
    if result.static_neighbours:
        goals.check(late == 0, f"{name}: executed after their timeout: {late}")
    for p in result.pulls:
        bound = GOAL_DETECTION_TRAFFIC if p.traffic else GOAL_DETECTION_SILENT
        kind = f"{name}, {'with' if p.traffic else 'no'} traffic"
        goals.check(
            p.detection is not None and p.detection <= bound,
            f"{kind}: detection {_ms(p.detection)} > {bound * 1000:.0f} ms",
        )
        if not p.traffic:
            goals.check(
                p.controller_detection is not None and p.controller_detection <= bound,
                f"{kind}: controller detection {_ms(p.controller_detection)}",
            )
        goals.check(
            p.next_command is not None and p.next_command <= GOAL_NEXT_COMMAND,
            f"{kind}: next command {_ms(p.next_command)} after the reconnection",
        )


async def _partitions(args: argparse.Namespace) -> list[partition.PartitionResult]:
    results = [await partition.cable_pulls(args.cable_pulls)]
    if results[0].ran:
        results.append(await partition.cable_pulls(2, static_neighbours=False, silent=False))
    return results


async def main(args: argparse.Namespace) -> int:
    goals = Goals()
    started = time.monotonic()
    if args.only == "partition":
        report_partition(await _partitions(args), goals)
        return _verdict(goals, started)
    kill_results = [
        await kills.sim_on_fixed_ports(args.fixed_kills),
        await kills.sim_through_registry(args.registry_kills),
        await kills.registry_kills(args.daemon_kills),
    ]
    goals.check(
        kill_results[1].kills >= min(args.registry_kills, GOAL_REGISTRY_KILLS),
        f"only {kill_results[1].kills} registry-mediated kills",
    )
    fuzz_results = [
        await fuzz.sim_target(args.frames),
        await fuzz.communicator_target(args.frames),
        *await fuzz.registry_target(args.frames // 2),
    ]
    owner_result = await owners.owner_deaths(args.owners)
    cross = await owners.cross_user()
    pulls = await _partitions(args)
    print()
    report_kills(kill_results, goals)
    print()
    report_fuzz(fuzz_results, goals)
    print()
    if owner_result is not None and cross is not None:
        report_owners(owner_result, cross, goals)
    print()
    report_partition(pulls, goals)
    return _verdict(goals, started)


def _verdict(goals: Goals, started: float) -> int:
    print(f"\nchaos suite took {time.monotonic() - started:.0f} s")
    if goals.failed:
        print("\nFAILED goals:")
        for failure in goals.failed:
            print(f"  - {failure}")
        return 1
    print("\nall goals met")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument(
        "--fixed-kills",
        type=int,
        default=15,
        help="kills of the simulator on fixed ports (default %(default)s)",
    )
    parser.add_argument(
        "--registry-kills",
        type=int,
        default=GOAL_REGISTRY_KILLS,
        help="kills of the simulator found through the registry (default %(default)s)",
    )
    parser.add_argument(
        "--daemon-kills",
        type=int,
        default=10,
        help="kills of the registry daemon (default %(default)s)",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=70_000,
        help="hostile frames per mount target; half per registry dialect (default %(default)s)",
    )
    parser.add_argument(
        "--owners", type=int, default=100, help="owner processes killed (default %(default)s)"
    )
    parser.add_argument(
        "--cable-pulls",
        type=int,
        default=len(partition.EXTRA_DOWN),
        help="cable pulls under traffic, then one without (root; default %(default)s)",
    )
    parser.add_argument(
        "--only",
        choices=["partition"],
        help="run one scenario only",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
