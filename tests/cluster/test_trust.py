"""The trust model of lookups applies to other hosts' entries: by the uid their daemon verified."""

from __future__ import annotations

import asyncio
import pwd

import pytest

from mountcomm.registry.client import ANY_USER, PortRegistry

from ..as_nobody import Nobody
from .conftest import HOST_A, HOST_B, T, two_hosts


async def test_remote_entries_are_trusted_by_the_uid_their_daemon_verified(etcd, nobody: Nobody):
    nobody_uid = pwd.getpwnam("nobody").pw_uid
    async with (
        two_hosts(etcd) as (a, b),
        nobody.registered(HOST_A, a.port, 1111),
        PortRegistry(HOST_A, a.port) as on_a,
        PortRegistry(HOST_B, b.port, timeout=T) as on_b,
    ):
        # B sees nobody's entry on A (find and list show every owner) ...
        async with on_b.watch(service="mount.csc.command", trusted_users=ANY_USER) as seen:
            first = await asyncio.wait_for(anext(seen), T)
        assert (first.host, first.port, first.user) == (HOST_A, 1111, "nobody")
        [found] = await on_b.find(service="mount.csc.command")
        assert (found.host, found.user) == (HOST_A, "nobody")
        # ... with the uid A verified, as published
        [record] = b.cluster.view.records()
        assert (record.user, record.uid) == ("nobody", nobody_uid)
        # but a lookup made to connect does not take it: nobody is not trusted
        with pytest.raises(TimeoutError):
            await on_b.wait_for("mount.csc.command", timeout=0.3)
        # unless the caller trusts that user
        trusted = await on_b.wait_for("mount.csc.command", timeout=T, trusted_users=["nobody"])
        assert trusted == 1111
        # root's entry on A is trusted on B (root, and the caller's own user)
        waiter = asyncio.create_task(on_b.wait_for("mount.csc.command", timeout=T))
        await on_a.register("mount.csc.command", 2222)
        assert await asyncio.wait_for(waiter, T) == 2222
        async with on_b.watch(service="mount.csc.command") as events:
            entry = await asyncio.wait_for(anext(events), T)
            assert (entry.host, entry.port, entry.user) == (HOST_A, 2222, "root")
            assert [(e.host, e.port) for e in events.entries] == [(HOST_A, 2222)]
