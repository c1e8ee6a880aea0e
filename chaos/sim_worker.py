"""A simulated controller for the chaos suite, run as ``python -m chaos.sim_worker``.

It serves the CSC role with fast device timings and CSC holding command, so a
restarted controller accepts commands at once. With ``--registry-port`` it
advertises itself in the registry (new ports each start when the ports are 0)
and finds the console's reply port by name. It prints ``READY <command port>``
when it serves, and stops on SIGTERM (or dies on SIGKILL, which is the point).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from mountcomm import MockController, PortRegistry, Source
from mountcomm.sim import Timings


async def main(args: argparse.Namespace) -> None:
    registry = None
    if args.registry_port:
        registry = PortRegistry("127.0.0.1", args.registry_port, reconnect=True)
        await registry.connect()
    controller = MockController(
        [Source.CSC],
        command_ports={Source.CSC: args.command_port},
        reply_ports={Source.CSC: args.reply_port} if args.reply_port else None,
        timings=Timings.fast(),
        commander=Source.CSC,
        registry=registry,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with controller:
        print(f"READY {controller.command_port(Source.CSC)}", flush=True)
        await stop.wait()
    if registry is not None:
        await registry.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--command-port", type=int, default=0)
    parser.add_argument("--reply-port", type=int, default=0)
    parser.add_argument("--registry-port", type=int, default=0)
    asyncio.run(main(parser.parse_args()))
