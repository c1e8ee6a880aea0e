"""MountClient: run() against a minimal peer, sequential and with 100 in flight.

The baseline is the raw asyncio round trip of ``round_trip.py`` (write + drain,
readuntil for ACK and DONE), measured in the same run.
"""

from __future__ import annotations

import asyncio
import time

import round_trip
from common import Figure, medians_alternating
from mountcomm.protocol import commands, replies
from mountcomm.testing.harness import mount_client_with_peer

N = 5_000
IN_FLIGHT = 100


async def _ours(in_flight: int) -> float:
    async with mount_client_with_peer() as (mount, peer):

        async def controller() -> None:
            while True:
                cmd = await peer.read()
                seq = cmd.sequence_id  # type: ignore[attr-defined]
                await peer.write(replies.AckReply(sequence_id=seq))
                await peer.write(replies.DoneReply(sequence_id=seq))

        task = asyncio.create_task(controller())
        try:
            start = time.perf_counter()
            if in_flight == 1:
                for _ in range(N):
                    await mount.run(commands.ElevationAxisMove(position=45))
            else:
                sem = asyncio.Semaphore(in_flight)

                async def one() -> None:
                    async with sem:
                        await mount.run(commands.ElevationAxisMove(position=45))

                await asyncio.gather(*(one() for _ in range(N)))
            elapsed = time.perf_counter() - start
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return N / elapsed


def run(runs: int) -> list[Figure]:
    (raw, raw_runs), (seq, seq_runs), (par, par_runs) = medians_alternating(
        runs,
        lambda: asyncio.run(round_trip._raw())[0],
        lambda: asyncio.run(_ours(1)),
        lambda: asyncio.run(_ours(IN_FLIGHT)),
    )
    return [
        Figure(
            "MountClient.run(), sequential",
            "cmd/s",
            seq,
            raw,
            runs=seq_runs,
            baseline_runs=raw_runs,
        ),
        Figure(
            f"MountClient.run(), {IN_FLIGHT} in flight",
            "cmd/s",
            par,
            raw,
            runs=par_runs,
            baseline_runs=raw_runs,
            note="baseline: raw sequential round trip",
        ),
    ]
