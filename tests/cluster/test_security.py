"""Daemons reach an etcd that requires TLS client certificates, or a user and password."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from mountcomm.registry.client import PortRegistry
from mountcomm.registry.cluster import ClusterSettings
from mountcomm.registry.server import RegistryServer
from mountcomm.testing.etcd import EtcdServer, etcd_binary
from tests.timing import UNIT

from .conftest import HOST_A, HOST_B, TTL, T, running


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30 * UNIT)


def make_certificates(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem", cwd=d)  # fmt: skip


@pytest.fixture
async def tls_etcd(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certificates(certs)
    server = EtcdServer(
        tmp_path,
        tls=(str(certs / "server.pem"), str(certs / "server.key"), str(certs / "ca.pem")),
    )
    async with running(server):
        yield server, certs


async def test_daemons_share_entries_through_an_etcd_that_requires_client_certificates(
    tls_etcd,
):
    etcd, certs = tls_etcd
    settings = ClusterSettings(
        etcd.endpoints,
        ttl=TTL,
        op_timeout=2 * UNIT,
        ca_file=str(certs / "ca.pem"),
        cert_file=str(certs / "client.pem"),
        key_file=str(certs / "client.key"),
    )
    async with (
        RegistryServer(HOST_A, 0, pool=None, cluster=settings) as a,
        RegistryServer(HOST_B, 0, pool=None, cluster=settings) as b,
    ):
        await a.cluster.wait_connected(T)
        await b.cluster.wait_connected(T)
        async with PortRegistry(HOST_A, a.port) as on_a, PortRegistry(HOST_B, b.port) as on_b:
            with socket.socket() as sock:
                sock.bind((HOST_A, 0))
                port = sock.getsockname()[1]
                await on_a.register("svc", port)
                assert await on_b.wait_for("svc", timeout=T) == port


async def test_a_daemon_without_a_client_certificate_stays_stale_and_says_why(tls_etcd):
    etcd, certs = tls_etcd
    settings = ClusterSettings(etcd.endpoints, op_timeout=1.0 * UNIT, ca_file=str(certs / "ca.pem"))
    async with RegistryServer(HOST_A, 0, pool=None, cluster=settings) as a:
        with pytest.raises(TimeoutError):
            await a.cluster.wait_connected(2.0)
        async with PortRegistry(HOST_A, a.port) as on_a:
            status = (await on_a.status()).cluster
            assert status is not None and status.stale is True and status.error
            # local work goes on
            assert (await on_a.allocate("local")).host == HOST_A


def etcdctl(etcd: EtcdServer, *args: str) -> None:
    binary = Path(etcd_binary()).with_name("etcdctl")
    subprocess.run(
        [str(binary), f"--endpoints=http://{etcd.host}:{etcd.client_port}", *args],
        check=True,
        capture_output=True,
        timeout=30 * UNIT,
    )


async def test_daemons_log_in_to_an_etcd_with_authentication(etcd, tmp_path):
    await asyncio.to_thread(etcdctl, etcd, "user", "add", "root", "--new-user-password=rootpw")
    await asyncio.to_thread(etcdctl, etcd, "auth", "enable")
    good = ClusterSettings(etcd.endpoints, ttl=TTL, user="root", password="rootpw")
    bad = ClusterSettings(etcd.endpoints, op_timeout=1.0 * UNIT, user="root", password="wrong")
    async with (
        RegistryServer(HOST_A, 0, pool=None, cluster=good) as a,
        RegistryServer(HOST_B, 0, pool=None, cluster=bad) as b,
    ):
        await a.cluster.wait_connected(T)
        with pytest.raises(TimeoutError):
            await b.cluster.wait_connected(2.0)
        assert b.cluster.stale and "auth" in (b.cluster.last_error or "").lower()
