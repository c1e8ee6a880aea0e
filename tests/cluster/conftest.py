"""Fixtures of the cluster tests: a private etcd, and registry daemons as hosts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mountcomm.registry.cluster import ClusterSettings
from mountcomm.registry.server import RegistryServer
from mountcomm.testing.etcd import EtcdServer, EtcdUnavailableError

TTL = 2
"""Lease TTL of the test daemons [s] (short, to see a host's death quickly)."""


@pytest.fixture
async def etcd(tmp_path) -> AsyncIterator[EtcdServer]:
    """A private etcd on free loopback ports, with a temporary data directory."""
    server = EtcdServer(tmp_path)
    try:
        await server.start()
    except EtcdUnavailableError as e:
        await server.close()
        pytest.skip(f"etcd cannot run here: {e}")
    try:
        yield server
    finally:
        await server.close()


def cluster_settings(etcd: EtcdServer, ttl: int = TTL) -> ClusterSettings:
    """Settings of a daemon of the test cluster."""
    return ClusterSettings(etcd.endpoints, ttl=ttl, op_timeout=1.0)


def daemon(etcd: EtcdServer, host: str, **kwargs) -> RegistryServer:
    """A registry daemon serving (and advertised) on ``host``, in the test cluster."""
    return RegistryServer(host, 0, pool=None, cluster=cluster_settings(etcd), **kwargs)
