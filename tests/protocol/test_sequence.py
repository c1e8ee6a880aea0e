"""Sequence ids: per-connection generators and the process-wide one (DESIGN §3).

Ids are unique across connections and processes: every generator starts at a
random id in 1 … 2**31 - 1 and wraps to 1; a command built without an id draws
from one process-wide generator.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest

from mountcomm.protocol import (
    MAX_SEQUENCE_ID,
    SequenceIdGenerator,
    commands,
    next_sequence_id,
    sequence,
)
from tests.timing import UNIT


def test_max_is_largest_signed_32_bit_int() -> None:
    assert MAX_SEQUENCE_ID == 2**31 - 1


def test_counts_up_from_an_explicit_start() -> None:
    assert list(itertools.islice(SequenceIdGenerator(1), 5)) == [1, 2, 3, 4, 5]
    assert list(itertools.islice(SequenceIdGenerator(start=77), 3)) == [77, 78, 79]


def test_default_start_is_random_and_in_range() -> None:
    starts = {next(SequenceIdGenerator()) for _ in range(20)}
    assert all(1 <= s <= MAX_SEQUENCE_ID for s in starts)
    # 20 draws from 2**31 values: a repeat (or a fixed start such as 1) means no randomness.
    assert len(starts) == 20


def test_is_an_iterator() -> None:
    gen = SequenceIdGenerator(10)
    assert iter(gen) is gen
    assert next(gen) == 10
    assert [i for i, _ in zip(gen, range(2), strict=False)] == [11, 12]


def test_wraps_to_one() -> None:
    gen = SequenceIdGenerator(start=MAX_SEQUENCE_ID - 2)
    assert [next(gen) for _ in range(5)] == [
        MAX_SEQUENCE_ID - 2,
        MAX_SEQUENCE_ID - 1,
        MAX_SEQUENCE_ID,
        1,
        2,
    ]


def test_instances_are_independent() -> None:
    a, b = SequenceIdGenerator(1), SequenceIdGenerator(1)
    assert [next(a) for _ in range(3)] == [1, 2, 3]
    assert next(b) == 1
    assert next(a) == 4


@pytest.mark.parametrize("start", [0, -1, MAX_SEQUENCE_ID + 1])
def test_start_out_of_range(start: int) -> None:
    with pytest.raises(ValueError, match="start"):
        SequenceIdGenerator(start=start)


# ---- the process-wide generator ------------------------------------------------------


def test_process_wide_ids_are_consecutive_and_wrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sequence, "_process_counter", [itertools.count(MAX_SEQUENCE_ID - 1)])
    assert [next_sequence_id() for _ in range(4)] == [MAX_SEQUENCE_ID - 1, MAX_SEQUENCE_ID, 1, 2]


def test_commands_built_without_an_id_draw_from_the_process_generator() -> None:
    first = commands.Enable()
    second = commands.AzimuthAxisStop()
    third = commands.ElevationAxisMove(position=40)
    assert first.sequence_id != 0
    assert second.sequence_id == first.sequence_id % MAX_SEQUENCE_ID + 1
    assert third.sequence_id == second.sequence_id % MAX_SEQUENCE_ID + 1
    assert next_sequence_id() == third.sequence_id % MAX_SEQUENCE_ID + 1


def test_explicit_ids_are_kept_and_do_not_consume_the_generator() -> None:
    before = next_sequence_id()
    assert commands.Enable(sequence_id=0).sequence_id == 0
    assert commands.Enable(sequence_id=5).sequence_id == 5
    assert commands.Enable(sequence_id=None).sequence_id == before + 1  # None: draw one
    assert next_sequence_id() == before + 2


def test_parsed_commands_keep_their_wire_id() -> None:
    cmd = commands.Enable(sequence_id=42)
    parsed = commands.parse_command(cmd.fields())
    assert parsed.sequence_id == 42


PRINT_ID = "from mountcomm.protocol import commands; print(commands.Enable().sequence_id)"


def test_two_processes_start_at_different_ids() -> None:
    ids = [
        int(
            subprocess.run(
                [sys.executable, "-c", PRINT_ID],
                capture_output=True,
                text=True,
                check=True,
                timeout=30 * UNIT,
            ).stdout
        )
        for _ in range(2)
    ]
    assert ids[0] != ids[1]


FORK_SCRIPT = """
import os
from mountcomm.protocol import next_sequence_id
next_sequence_id()
read_fd, write_fd = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write_fd, str(next_sequence_id()).encode())
    os._exit(0)
os.close(write_fd)
child = int(os.read(read_fd, 64))
os.waitpid(pid, 0)
print(child, next_sequence_id())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_does_not_repeat_the_parent_ids() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        timeout=30 * UNIT,
    ).stdout
    child_id, parent_id = map(int, out.split())
    # Without reseeding after fork, the child's id would equal the parent's next one.
    assert child_id != parent_id
