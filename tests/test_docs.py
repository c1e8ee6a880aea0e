"""Every code block of README.md and doc/*.md runs, and prints what the doc shows.

The conventions are those of tests/docblocks.py (and doc/contributing.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.timing import UNIT

from .docblocks import (
    Block,
    Doc,
    DocError,
    collect,
    console_commands,
    parse_blocks,
    run_python,
    uncalled_functions,
)
from .user_project import STRICT_MODE_ARGS as USER_PROJECT_ARGS

ROOT = Path(__file__).parent.parent
DOC_NAMES = ["README.md", *sorted(f"doc/{p.name}" for p in (ROOT / "doc").glob("*.md"))]

CONTROLLER = "needs a mount controller on localhost, at the ports of config/mountcomm.yaml"
EXCLUDED = [
    ("README.md", CONTROLLER),
    ("doc/telemetry.md", CONTROLLER),
    ("doc/commanding.md", "needs a mount controller at mount-controller:50005"),
    ("doc/performance.md", "takes minutes; the benchmarks are not tests"),
    ("doc/registry.md", "serves the conventional port 30000 until terminated"),
    ("doc/registry.md", "starts a daemon on the conventional port 30000 in the background"),
    ("doc/registry.md", "fragment: `connect_to` and `disconnect` stand for your own code"),
    ("doc/registry.md", "needs a registry daemon on port 30000 and a peer named mount_pxi"),
    ("doc/registry.md", "needs a registry daemon on port 30000"),
    ("README.md", "starts etcd on port 2379 and two daemons on port 30000 in the background"),
    ("README.md", "needs the etcd and the two daemons started above"),
    ("README.md", "needs the etcd and the two daemons started above"),
    ("doc/cluster.md", "runs on two hosts of a cluster (hostA, hostB)"),
    ("doc/cluster.md", "a production etcd member, one of three machines"),
    ("doc/cluster.md", "a production daemon, with its TLS files and etcd password"),
    ("doc/cluster.md", "needs a daemon in a cluster on port 30000"),
    ("doc/cluster.md", "needs the production etcd cluster of the deployment above"),
]
"""(file, reason) of every block marked ``# not run:``: add here when you add one."""

DOCS = collect(ROOT, DOC_NAMES)

STRICT_MODE_ARGS = (
    *USER_PROJECT_ARGS,
    "-o",
    "asyncio_default_fixture_loop_scope=function",
    "-q",
)
"""A user's project (see `tests.user_project`), with the fixtures' loop scope set."""


def test_every_doc_is_collected() -> None:
    assert "README.md" in DOC_NAMES and "doc/simulator.md" in DOC_NAMES
    assert sum(len(doc.runnable) for doc in DOCS) > 20


@pytest.mark.parametrize("doc", DOCS, ids=[d.path for d in DOCS])
def test_docs_follow_the_conventions(doc: Doc) -> None:
    assert doc.error is None, doc.error


def test_exclusions_are_the_listed_ones() -> None:
    found = [(b.path, b.skip_reason) for doc in DOCS for b in doc.excluded]
    assert sorted(found) == sorted(EXCLUDED)


@pytest.mark.parametrize("doc", DOCS, ids=[d.path for d in DOCS])
def test_examples_call_what_they_define(doc: Doc) -> None:
    assert uncalled_functions(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=[d.path for d in DOCS])
def test_python_blocks_run(doc: Doc) -> None:
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    wrong: list[str] = []
    for block in doc.runnable:
        if block.kind != "python" or block.skip_reason or block.is_pytest_module:
            continue
        try:
            printed = run_python(block, namespace)
        except Exception as e:
            raise AssertionError(f"{block.where}: the example raised {e!r}") from e
        if block.expected_output is not None and printed != block.expected_output:
            wrong.append(f"{block.where}: printed {printed!r}")
    assert not wrong, "\n".join(wrong)


def test_pytest_blocks_pass_in_strict_mode(pytester: pytest.Pytester) -> None:
    blocks = [b for d in DOCS for b in d.runnable if b.kind == "python" and b.is_pytest_module]
    assert {b.path for b in blocks} >= {"README.md", "doc/user-guide.md", "doc/registry.md"}
    pytester.makepyfile(
        **{f"test_{Path(b.path).stem}_{b.line}".replace("-", "_"): b.text for b in blocks}
    )
    result = pytester.runpytest_inprocess(*STRICT_MODE_ARGS)
    tests = sum(b.text.count("def test_") for b in blocks)
    result.assert_outcomes(passed=tests)


CONSOLE = [b for d in DOCS for b in d.runnable if b.kind == "console" and not b.skip_reason]


@pytest.mark.parametrize("block", CONSOLE, ids=[b.where for b in CONSOLE])
def test_console_blocks_run(block: Block) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for command, expected in console_commands(block):
        result = subprocess.run(
            command,
            shell=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=30 * UNIT,
            check=False,
        )
        assert result.returncode == 0, f"{block.where}: {command}: {result.stderr}"
        assert result.stdout == expected, f"{block.where}: {command}: {result.stdout!r}"


def test_readme_starts_with_the_two_commands() -> None:
    # A text block (never run: `make test` runs this very suite, and
    # tests/cli/test_demo.py runs the demo), holding exactly the two commands.
    first = DOCS[0].blocks[0]
    assert first.kind == "text" and first.line == 3
    commands = first.text.splitlines()
    assert len(commands) == 2
    assert commands[0].startswith("make demo") and commands[1].startswith("make test")


# The conventions themselves, on small documents.


def test_output_block_belongs_to_the_python_block_above() -> None:
    doc = parse_blocks("```python\nprint(1)\n```\nprose\n```output\n1\n```\n", "x.md")
    assert doc.blocks[0].expected_output == "1\n"
    assert run_python(doc.blocks[0], {}) == "1\n"


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("```\nx\n```\n", "tag the block"),
        ("```py\nx\n```\n", "tag the block"),
        ("```python\nx\n", "unclosed"),
        ("```output\n1\n```\n", "needs a python block"),
        ("```python\n# not run: hardware\n```\n```output\n1\n```\n", "not run"),
        ("```python\n# not run:\nx\n```\n", "needs a reason"),
    ],
)
def test_broken_conventions_are_reported(markdown: str, message: str) -> None:
    with pytest.raises(DocError, match=message):
        parse_blocks(markdown, "x.md").blocks[0].skip_reason  # noqa: B018


def test_a_function_never_called_is_reported() -> None:
    markdown = (
        "```python\nmain()\n```\n"
        "```python\nasync def main():\n    pass\n```\n"
        "```python\ndef helper():\n    pass\n```\n"
        "```python\nhelper()\n```\n"
    )
    assert uncalled_functions(parse_blocks(markdown, "x.md")) == [
        "x.md:4: main() is defined but never called"
    ]


def test_top_level_await_runs_in_its_own_loop() -> None:
    block = parse_blocks("```python\nimport asyncio\nawait asyncio.sleep(0)\n```\n", "x.md")
    namespace: dict[str, Any] = {}
    run_python(block.blocks[0], namespace)
    assert "asyncio" in namespace


def test_console_block_splits_commands_and_output() -> None:
    doc = parse_blocks("```console\n$ echo a\na\n$ true\n```\n", "x.md")
    assert console_commands(doc.blocks[0]) == [("echo a", "a\n"), ("true", "")]
