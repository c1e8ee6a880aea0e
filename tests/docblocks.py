"""Collect and run the fenced code blocks of the Markdown documentation.

The conventions (written out for contributors in doc/contributing.md):

* Every fenced block is tagged with one of `KINDS`:

  - ``python``: run. A file's python blocks run in order in one shared
    namespace (a later block may use what an earlier one defined). A block
    with a top-level ``await`` runs in its own event loop (``asyncio.run``);
    so objects bound to a loop do not carry over to the next block. A block
    that defines ``test_*`` functions at top level is a pytest module: the
    file's test blocks run together through ``pytester`` in pytest-asyncio's
    strict mode, each block as its own module.
  - ``console``: lines starting with ``$ `` are shell commands, run in order
    (``mountcomm`` is the installed command); the other lines are their
    expected output.
  - ``output``: what the nearest python block above it prints, exactly.
  - ``text``: not code (a synopsis, a tree, a wire dialogue, sample output of
    a command that is not run). Never run.

* A python block must use every function it defines at top level (an
  example whose ``main`` is never called shows nothing).
* A python or console block that must not run starts with the line
  ``# not run: REASON``, visible to readers. The test lists every such block
  (`EXCLUDED` in tests/test_docs.py), so that the exclusions cannot grow
  unnoticed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("python", "console", "output", "text")
NOT_RUN = "# not run:"
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


class DocError(ValueError):
    """A documentation file breaks the block conventions."""


@dataclass
class Block:
    """One fenced block of a Markdown file."""

    path: str
    line: int
    """1-based line number of the opening fence."""
    kind: str
    text: str
    expected_output: str | None = None
    """The text of the ``output`` block that belongs to this one, if any."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        """The reason given by a ``# not run:`` first line, else None."""
        first = self.text.split("\n", 1)[0]
        if first.startswith(NOT_RUN):
            reason = first[len(NOT_RUN) :].strip()
            if not reason:
                raise DocError(f"{self.where}: '{NOT_RUN}' needs a reason")
            return reason
        return None

    @property
    def is_pytest_module(self) -> bool:
        """Whether the block defines ``test_*`` functions at top level."""
        tree = ast.parse(self.text)
        return any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            for node in tree.body
        )


@dataclass
class Doc:
    """The blocks of one Markdown file."""

    path: str
    blocks: list[Block] = field(default_factory=list)
    error: str | None = None
    """Why the file breaks the conventions (its blocks are then not run)."""

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.kind in ("python", "console")]

    @property
    def excluded(self) -> list[Block]:
        return [b for b in self.runnable if b.skip_reason is not None]


def parse_blocks(text: str, path: str) -> Doc:
    """Split Markdown ``text`` into its fenced blocks and attach output blocks.

    Raises
    ------
    DocError
        On an untagged or unknown block, an unclosed fence, or an ``output``
        block with no python block above it.
    """
    doc = Doc(path)
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not (
            lines[i].startswith(fence[0] * len(fence)) and not lines[i].strip(fence[0]).strip()
        ):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise DocError(f"{path}:{start + 1}: unclosed code fence")
        i += 1
        kind = info.split()[0] if info else ""
        if kind not in KINDS:
            raise DocError(
                f"{path}:{start + 1}: tag the block with one of {', '.join(KINDS)}"
                f" (found {kind or 'no tag'!r})"
            )
        doc.blocks.append(Block(path, start + 1, kind, "\n".join(body) + "\n"))
    _attach_outputs(doc)
    return doc


def _attach_outputs(doc: Doc) -> None:
    owner: Block | None = None
    for block in doc.blocks:
        if block.kind == "python":
            owner = block
        elif block.kind == "output":
            if owner is None or owner.expected_output is not None:
                raise DocError(f"{block.where}: an output block needs a python block above it")
            if owner.skip_reason is not None:
                raise DocError(f"{block.where}: output of a block that is not run")
            owner.expected_output = block.text


def collect(root: Path, names: list[str]) -> list[Doc]:
    """Parse each Markdown file ``names`` (relative to ``root``).

    A file that breaks the conventions gives a `Doc` with ``error`` set and no blocks.
    """
    docs = []
    for name in names:
        try:
            doc = parse_blocks((root / name).read_text(), name)
            for block in doc.blocks:
                _ = block.skip_reason
        except DocError as e:
            doc = Doc(name, error=str(e))
        docs.append(doc)
    return docs


def run_python(block: Block, namespace: dict[str, Any]) -> str:
    """Run one python block in ``namespace``; return what it printed.

    A block with a top-level ``await`` runs in a new event loop.
    """
    code = compile(
        block.text,
        f"<{block.where}>",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = eval(code, namespace)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    return out.getvalue()


def uncalled_functions(doc: Doc) -> list[str]:
    """Functions that a page's python blocks define at top level and never use.

    An example that defines ``main`` and never calls it runs without error
    and shows nothing; this finds it. Test functions (pytest modules) are
    left to pytest.
    """
    blocks = [
        b
        for b in doc.runnable
        if b.kind == "python" and b.skip_reason is None and not b.is_pytest_module
    ]
    trees = [ast.parse(block.text) for block in blocks]
    loads = [
        {
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        }
        for tree in trees
    ]
    problems = []
    for i, (block, tree) in enumerate(zip(blocks, trees, strict=True)):
        used = set().union(*loads[i:])  # in this block or a later one
        problems.extend(
            f"{block.where}: {node.name}() is defined but never called"
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in used
        )
    return problems


def console_commands(block: Block) -> list[tuple[str, str]]:
    """The ``(command, expected output)`` pairs of a console block."""
    pairs: list[tuple[str, str]] = []
    for line in block.text.splitlines(keepends=True):
        if line.startswith("$ "):
            pairs.append((line[2:].strip(), ""))
        elif pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + line)
        elif line.strip():
            raise DocError(f"{block.where}: a console block starts with a '$ ' command")
    return pairs
