"""doc/architecture.md's layer table is true: it names every module, and no module
imports from a layer above its own."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import imports

DOC = imports.ROOT.parents[1] / "doc" / "architecture.md"
MODULES = {imports.module_name(path): path for path in sorted(imports.ROOT.rglob("*.py"))}
"""Every module of the package (packages under their own name) -> its file."""

ANYWHERE = {("mountcomm", "__version__")}
"""Names any layer may import: defined by the root package before any submodule loads."""


@dataclass(frozen=True)
class Row:
    """One row of the layer table."""

    level: int
    package: str
    modules: frozenset[str]
    links: tuple[str, ...]


def table_lines(text: str) -> list[list[str]]:
    """The cells of each body row of the first table under the layer heading text."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    header, rule, *body = rows
    assert header[:2] == ["layer", "modules"], header
    assert set("".join(rule)) <= set("-: "), rule
    return body


def parse_rows(text: str) -> list[Row]:
    """The layer table of ``text``, bottom layer first."""
    rows: list[Row] = []
    for level, cells in enumerate(table_lines(text)):
        package = re.findall(r"`([\w.]+)`", cells[0])[0]
        names = set(re.findall(r"`([\w.]+)`", re.sub(r"\([^)]*\)", "", cells[1])))
        modules = {package if name == "__init__" else f"{package}.{name}" for name in names}
        if package != "mountcomm":
            modules.add(package)
        links = tuple(re.findall(r"\]\(([^)]+)\)", cells[-1]))
        rows.append(Row(level, package, frozenset(modules), links))
    return rows


ROWS = parse_rows(DOC.read_text(encoding="utf-8"))


def level_of() -> dict[str, int]:
    """Module -> level of the row that names it (named in at most one row)."""
    levels: dict[str, int] = {}
    for row in ROWS:
        for module in row.modules & MODULES.keys():
            assert module not in levels, f"{module} is named in two rows"
            levels[module] = row.level
    return levels


LEVELS = level_of()


def test_table_names_every_module() -> None:
    missing = sorted(MODULES.keys() - LEVELS.keys())
    assert not missing, f"doc/architecture.md's layer table does not name {missing}"


def test_table_names_only_modules() -> None:
    """Every name in a modules cell (outside remarks) is a module: none left after a rename."""
    for row in ROWS:
        stale = sorted(row.modules - MODULES.keys())
        assert not stale, f"row {row.package}: no such module {stale}"


def target_of(module: str, name: str | None) -> str | None:
    """The mountcomm module an import refers to, or None (not mountcomm, or allowed)."""
    if (module, name) in ANYWHERE or module.partition(".")[0] != "mountcomm":
        return None
    candidate = f"{module}.{name}" if name else module
    while candidate not in MODULES:
        candidate = candidate.rpartition(".")[0]
    return candidate


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_higher_layer(module: str) -> None:
    path = MODULES[module]
    assert module in LEVELS, f"{module} is not in doc/architecture.md's layer table"
    for imported, name in imports.raw_imports(path, imports.package_of(path)):
        target = target_of(imported, name)
        if target is None:
            continue
        assert target in LEVELS, f"{module} imports {target}, not in the layer table"
        assert LEVELS[target] <= LEVELS[module], (
            f"{module} (layer {ROWS[LEVELS[module]].package}) imports {target} "
            f"(layer {ROWS[LEVELS[target]].package}, a later row of the table)"
        )


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown page."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row.level}-{row.package}")
def test_each_row_links_its_documentation(row: Row) -> None:
    """One hop from the table to the page that covers the layer."""
    assert row.links, f"row {row.package} links no page"
    for link in row.links:
        target, _, anchor = link.partition("#")
        page = (DOC.parent / target).resolve()
        assert page.is_file(), f"row {row.package} links {link}: no such page"
        if anchor:
            assert anchor in anchors(page), f"row {row.package} links {link}: no such heading"


def test_parser_on_a_small_table() -> None:
    text = (
        "intro\n\n| layer | modules | knows about | documented in |\n|---|---|---|---|\n"
        "| `mountcomm` (base) | `exceptions`, `_lazy` (`lazy`, names) | stdlib | [a](a.md) |\n"
        "| `mountcomm.net` | `streams`, `devices.axis` | asyncio, `LineSplitter` | [b](b.md#x) |\n"
        "\nafter | not a row\n"
    )
    base, net = parse_rows(text)
    assert base.modules == {"mountcomm.exceptions", "mountcomm._lazy"}
    assert (base.level, base.package, base.links) == (0, "mountcomm", ("a.md",))
    assert net.modules == {"mountcomm.net", "mountcomm.net.streams", "mountcomm.net.devices.axis"}
    assert net.links == ("b.md#x",)


def test_target_resolution() -> None:
    assert target_of("mountcomm", "log") == "mountcomm.log"
    assert target_of("mountcomm.protocol.enums", "Source") == "mountcomm.protocol.enums"
    assert target_of("mountcomm", "__version__") is None
    assert target_of("mountcomm", "MountClient") == "mountcomm"
    assert target_of("asyncio", None) is None


SMALL_PACKAGES = ("mountcomm.net", "mountcomm.commanding")
"""Packages whose modules stay small and keep to their own private state."""

SMALL_MODULE_LINES = 550
"""The size from which a module usually holds two concepts (doc/architecture.md)."""


def private_reaches(tree: ast.AST) -> list[str]:
    """``x._name`` for ``x`` other than ``self``, ``cls``, ``super()``: reaching in."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_private_reaches_are_found() -> None:
    tree = ast.parse("self._a\ncls._b\nsuper()._c\nx.__doc__\nother._d\nself.x._e\n")
    assert private_reaches(tree) == ["line 5: other._d", "line 6: self.x._e"]


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.startswith(SMALL_PACKAGES)), ids=str
)
def test_net_and_commanding_modules_are_small_and_keep_to_themselves(module: str) -> None:
    text = MODULES[module].read_text(encoding="utf-8")
    assert len(text.splitlines()) <= SMALL_MODULE_LINES, f"{module} is over the size limit"
    reaches = private_reaches(ast.parse(text))
    assert not reaches, f"{module} reaches into another object's private state: {reaches}"
