"""``async with`` closes what a failed start had opened."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mountcomm import ClientServerPair, MockController
from mountcomm.protocol import Source
from mountcomm.telemetry.record import Recorder

HOST = "127.0.0.1"


@pytest.fixture
def taken_port():  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_mock_controller_failed_start_leaves_nothing_open(taken_port: int) -> None:
    controller = MockController((Source.CSC, Source.EUI), command_ports={Source.EUI: taken_port})
    with pytest.raises(OSError):
        async with controller:
            pass
    await controller.close()  # still idempotent


async def test_pair_failed_start_is_closed(taken_port: int) -> None:
    pair = ClientServerPair("clash", None, 0, HOST, taken_port, None, connect=False)
    with pytest.raises(OSError):
        async with pair:
            pass
    assert pair.done_task.done()


def test_closing_closes_on_the_way_out_even_after_an_error(tmp_path: Path) -> None:
    with Recorder(tmp_path / "r.jsonl") as recorder:
        recorder.write({"type": "note"})
    assert recorder._file.closed
    with pytest.raises(ValueError, match="inside"), Recorder(tmp_path / "r.jsonl") as again:
        raise ValueError("inside")
    assert again._file.closed
    again.close()  # idempotent


async def test_proxy_failed_start_closes_everything(taken_port: int, tmp_path: Path) -> None:
    from mountcomm import MountProxy

    proxy = MountProxy(
        HOST,
        {Source.CSC: 9, Source.EUI: 11},
        command_ports={Source.EUI: taken_port},
        record=tmp_path / "r.jsonl",
    )
    with pytest.raises(OSError):
        async with proxy:
            pass
    assert proxy.done_task.done()
    assert proxy.recording is not None and proxy.recording.closed
    await proxy.close()  # still idempotent
