"""``mountcomm registry --cluster`` and ``mountcomm ports`` across hosts; the config keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import socket
import subprocess
import sys

import pytest

from mountcomm import config
from mountcomm.cli import main
from mountcomm.cli.registry import add_arguments, cluster_settings
from mountcomm.protocol.enums import Source
from mountcomm.registry.client import PortRegistry

from .conftest import HOST_A, HOST_B, T, start_daemon_process


def run_ports(*args: str) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["ports", *args]) == 0
    return out.getvalue()


async def test_ports_on_b_shows_a_entries_with_a_host_and_the_cluster_status(etcd):
    proc_a, port_a = await start_daemon_process(etcd, HOST_A)
    proc_b, port_b = await start_daemon_process(etcd, HOST_B)
    try:
        async with PortRegistry(HOST_A, port_a) as on_a, PortRegistry(HOST_B, port_b) as on_b:
            with socket.socket() as sock:
                sock.bind((HOST_A, 0))
                port = sock.getsockname()[1]
                await on_a.register("mount.csc.command", port)
                assert await on_b.wait_for("mount.csc.command", timeout=T) == port
                where = ("--host", HOST_B, "--port", str(port_b))
                table = await asyncio.to_thread(run_ports, *where)
                assert table.splitlines()[0].split() == ["HOST", "PORT", "SERVICE", "USER"]
                assert table.splitlines()[1].split()[:3] == [HOST_A, str(port), "mount.csc.command"]
                rows = json.loads(await asyncio.to_thread(run_ports, *where, "--json"))
                assert [(r["host"], r["port"]) for r in rows] == [(HOST_A, port)]
                shown = await asyncio.to_thread(run_ports, *where, "--status", "--json")
                status = json.loads(shown)
                assert status["cluster"]["stale"] is False
                assert status["cluster"]["advertise_host"] == HOST_B
                assert status["cluster"]["remote_entries"] == 1
                text = await asyncio.to_thread(run_ports, *where, "--status")
                assert f"cluster: {etcd.url}: up to date" in text
    finally:
        for proc in (proc_a, proc_b):
            proc.kill()
            await proc.wait()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cluster_settings_come_from_flags_over_the_config(tmp_path):
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    cfg = config.from_dict(
        {
            "registry": {
                "cluster": {"url": "etcd://e1:2379,e2:2379", "user": "reg", "ttl": 4},
                "advertise_host": "10.0.0.5",
            }
        }
    )
    assert cfg.registry_advertise_host == "10.0.0.5"
    s = cluster_settings(parse("--etcd-password-file", str(password)), cfg)
    assert s is not None
    assert (s.endpoints, s.user, s.password, s.ttl) == (
        (("e1", 2379), ("e2", 2379)),
        "reg",
        "s3cret",
        4,
    )
    s = cluster_settings(parse("--cluster", "etcd://x:1", "--lease-ttl", "2"), config.Config())
    assert s is not None and (s.endpoints, s.ttl) == ((("x", 1),), 2)
    assert cluster_settings(parse(), config.Config()) is None
    short = config.from_dict({"registry": {"cluster": "etcd://h:1"}})
    assert short.registry_cluster == {"url": "etcd://h:1"}


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"url": "http://h:1"}, "registry.cluster.url"),
        ({"user": "u"}, "registry.cluster.url"),
        ({"url": "etcd://h:1", "ttl": 9}, "registry.cluster.ttl"),
        ({"url": "etcd://h:1", "colour": 1}, "registry.cluster.colour"),
    ],
)
def test_bad_cluster_config_names_the_key(value, key):
    with pytest.raises(config.ConfigError, match=key):
        config.from_dict({"registry": {"cluster": value}})


def test_registry_refuses_a_bad_cluster_url():
    # A process of its own: the command configures logging for its whole process.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mountcomm.cli",
            "registry",
            "--port",
            "0",
            "--cluster",
            "http://h:1",
        ],
        capture_output=True,
        text=True,
        timeout=T * 3,
        check=False,
    )
    assert done.returncode == 2
    assert "cluster" in done.stderr and "etcd://" in done.stderr


async def run_cli(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mountcomm.cli", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 3 * T)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_sim_on_a_commanded_and_monitored_from_b_by_name(etcd):
    procs = []
    try:
        proc_a, port_a = await start_daemon_process(etcd, HOST_A)
        procs.append(proc_a)
        proc_b, port_b = await start_daemon_process(etcd, HOST_B)
        procs.append(proc_b)
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mountcomm.cli", "sim", "--registry", f"{HOST_A}:{port_a}",
            "--host", HOST_A, "--service-prefix", "lab",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(sim)
        assert sim.stdout is not None
        ready = await asyncio.wait_for(sim.stdout.readline(), T)
        assert b"ready" in ready, ready
        via_b = ("--registry", f"{HOST_B}:{port_b}", "--service-prefix", "lab")
        code, out, err = await run_cli(
            "command", *via_b, "--host", HOST_B, "--reply-host", HOST_B, "--timeout", str(T),
            "AskForCommand", f"commander={int(Source.CSC)}",
        )  # fmt: skip
        assert code == 0, (out, err)
        assert "ACK" in out
        code, out, err = await run_cli("monitor", *via_b, "--count", "1", "--json")
        assert code == 0, (out, err)
        assert json.loads(out.splitlines()[-1])
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


def test_registry_address():
    from mountcomm.cli.registry_option import registry_address

    assert registry_address("10.0.0.1:30001") == ("10.0.0.1", 30001)
    assert registry_address("reg.example") == ("reg.example", 30000)
    assert registry_address("[::1]:5") == ("::1", 5)
    for bad in ("h:x", "h:0", ":5", "h:70000"):
        with pytest.raises(argparse.ArgumentTypeError):
            registry_address(bad)
