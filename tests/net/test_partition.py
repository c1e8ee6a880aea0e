"""A pulled cable between two network namespaces (root only; see tests/netns.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mountcomm import Communicator
from mountcomm.exceptions import ConnectionClosedError
from mountcomm.protocol import commands
from mountcomm.sockets import DEFAULT_TCP_KEEPALIVE, DEFAULT_TCP_USER_TIMEOUT

from ..netns import NamespaceLoop, VethNetwork, require_root, veth_network
from .helpers import STD_TIMEOUT

USER_TIMEOUT = 1.0
"""TCP_USER_TIMEOUT of the traffic test [s]."""
SLACK = 2.0
"""Allowance over a kernel bound for retransmission timer granularity [s]."""


class LossRecorder:
    """A connect_callback noting when the client and the server were seen lost."""

    def __init__(self) -> None:
        self.client_lost_at: float | None = None
        self.server_lost_at: float | None = None
        self.both_lost = asyncio.Event()

    def __call__(self, comm: Communicator) -> None:
        now = time.monotonic()
        if not comm.client_connected and self.client_lost_at is None and comm.client_writer:
            self.client_lost_at = now
        if not comm.server_connected and self.server_lost_at is None and comm.server_writer:
            self.server_lost_at = now
        if self.client_lost_at is not None and self.server_lost_at is not None:
            self.both_lost.set()


async def make_side(name: str, address: str, read_replies: bool, **kwargs: Any) -> Any:
    """A Communicator listening on ``address`` (runs inside its namespace's loop)."""
    recorder = LossRecorder()
    comm = Communicator(name, None, 0, address, 0, None, read_replies, False, recorder, **kwargs)
    await asyncio.wait_for(comm.wait_server_port(), STD_TIMEOUT)
    return comm, recorder


async def connect(comm: Communicator, host: str, port: int) -> None:
    comm.client_host = host
    await asyncio.wait_for(comm.connect(port=port), STD_TIMEOUT)


async def connected_sides(
    net: VethNetwork, la: NamespaceLoop, lb: NamespaceLoop, **kwargs: Any
) -> tuple[Communicator, LossRecorder, Communicator, LossRecorder]:
    """A controller-side Communicator in a, a console-side one in b, connected both ways."""
    a, a_rec = await la.run(make_side, "a", net.a.address, False, **kwargs)
    b, b_rec = await lb.run(make_side, "b", net.b.address, True, **kwargs)
    await asyncio.gather(
        la.run(connect, a, net.b.address, b.server_port),
        lb.run(connect, b, net.a.address, a.server_port),
    )
    return a, a_rec, b, b_rec


async def write_until_closed(comm: Communicator) -> tuple[float, str]:
    """Write commands every 50 ms until the connection ends; return when and how."""
    sequence_id = 1
    while True:
        try:
            await comm.write(commands.Enable(sequence_id=sequence_id))
        except ConnectionClosedError as e:
            return time.monotonic(), type(e).__name__
        sequence_id += 1
        await asyncio.sleep(0.05)


async def read_one(comm: Communicator) -> Any:
    return await asyncio.wait_for(comm.read(), STD_TIMEOUT)


async def close(comm: Communicator) -> None:
    await comm.close()


async def test_pulled_cable_with_traffic_ends_the_writer_within_the_user_timeout() -> None:
    require_root()
    with veth_network() as net:
        async with net.a.loop() as la, net.b.loop() as lb:
            a, _, b, b_rec = await connected_sides(
                net, la, lb, tcp_user_timeout=USER_TIMEOUT, tcp_keepalive=None
            )
            try:
                writing = asyncio.ensure_future(lb.run(write_until_closed, b))
                assert isinstance(await la.run(read_one, a), commands.Enable)  # traffic flows
                net.set_link(up=False)
                pulled = time.monotonic()
                ended_at, error = await asyncio.wait_for(writing, USER_TIMEOUT + SLACK + 1)
                assert error == "ConnectionClosedError"
                assert ended_at - pulled <= USER_TIMEOUT + SLACK
                # The loss was reported through the callback, before the write failed.
                assert b_rec.client_lost_at is not None and b_rec.client_lost_at <= ended_at
            finally:
                await asyncio.gather(la.run(close, a), lb.run(close, b))


async def test_pulled_cable_without_traffic_is_noticed_by_keepalive() -> None:
    """Default settings: both sides see both connections lost within 10 s."""
    require_root()
    bound = max(DEFAULT_TCP_KEEPALIVE.detection_time, DEFAULT_TCP_USER_TIMEOUT) + SLACK
    assert bound <= 10
    with veth_network() as net:
        async with net.a.loop() as la, net.b.loop() as lb:
            a, a_rec, b, b_rec = await connected_sides(net, la, lb)
            try:
                net.set_link(up=False)
                pulled = time.monotonic()

                async def wait_both_lost(recorder: LossRecorder) -> None:
                    await asyncio.wait_for(recorder.both_lost.wait(), bound + 1)

                await asyncio.gather(la.run(wait_both_lost, a_rec), lb.run(wait_both_lost, b_rec))
                for rec in (a_rec, b_rec):
                    assert rec.client_lost_at is not None and rec.server_lost_at is not None
                    assert max(rec.client_lost_at, rec.server_lost_at) - pulled <= bound
            finally:
                await asyncio.gather(la.run(close, a), lb.run(close, b))
