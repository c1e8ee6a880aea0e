"""The protocol layer does no I/O: it imports neither asyncio nor socket (DESIGN §1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mountcomm.protocol
from tests.timing import UNIT

from .. import imports

FORBIDDEN = ("asyncio", "socket")
PROTOCOL_DIR = Path(mountcomm.protocol.__file__).parent
MODULES = sorted(PROTOCOL_DIR.glob("*.py"))
ALLOWED_MOUNTCOMM = ("mountcomm.protocol", "mountcomm.exceptions")
"""What the protocol layer may import from mountcomm: itself and the exception tree."""


def test_import_loads_neither_asyncio_nor_socket() -> None:
    code = textwrap.dedent(
        """
        import sys
        import mountcomm.protocol
        from mountcomm.protocol import commands, fields, framing, messages, replies, sequence
        from mountcomm.protocol.commands import COMMANDS
        COMMANDS[403](position=1.0).encode()
        bad = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
        print(",".join(bad))
        """
    ).format(forbidden=set(FORBIDDEN))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30 * UNIT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_modules_found() -> None:
    names = {path.stem for path in MODULES}
    assert {"__init__", "commands", "enums", "fields", "framing", "messages", "replies"} <= names


def imported_modules(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative ones resolved)."""
    return imports.imported_modules(path, ("mountcomm", "protocol"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_no_io(path: Path) -> None:
    for name in imported_modules(path):
        assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_no_higher_layer(path: Path) -> None:
    for name in imported_modules(path):
        if name.split(".")[0] == "mountcomm":
            assert name.startswith(ALLOWED_MOUNTCOMM), f"{path.name} imports {name}"


def test_scanner_resolves_relative_imports() -> None:
    names = imported_modules(PROTOCOL_DIR / "__init__.py")
    assert "mountcomm.protocol.framing" in names
    assert "mountcomm.exceptions" in imported_modules(PROTOCOL_DIR / "framing.py")


def test_scanner_on_a_bad_module(tmp_path: Path) -> None:
    """The AST scan notices forbidden imports in every form."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import asyncio.streams\nfrom socket import socket\nfrom ..net import server\n"
        "import importlib\nimportlib.import_module('ssl')\n"
    )
    names = imported_modules(bad)
    assert "asyncio.streams" in names
    assert "socket" in names
    assert "mountcomm.net" in names
    assert "ssl" in names
