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


# ---- no import cycle; little reaching into other objects' private state ---------------------


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (under ``if TYPE_CHECKING:`` too)."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = (
            target_of(m, name) for m, name in imports.raw_imports(path, imports.package_of(path))
        )
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_on_a_small_graph() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_type_checking_imports_are_in_the_graph(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .client import X\n"
    )
    assert ("mountcomm.registry.client", "X") in imports.raw_imports(
        path, ["mountcomm", "registry"]
    )


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, f"modules that import each other in a circle: {found}"


MAX_PRIVATE_ACCESSES = 10
"""Most places in the package that read or call another object's private member."""

PRIVATE_ACCESS_REASON = re.compile(r"#.*private-access: \S")


def _module_names(tree: ast.Module) -> set[str]:
    """Names the module itself defines at its top level (its functions and classes)."""
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def private_accesses(source: str) -> list[tuple[int, str]]:
    """``(line, expression)`` of each ``<expr>._name`` in ``source`` that reaches into
    another object: not ``self``/``cls``/``super()``, not a name this module defines,
    not a dunder."""
    tree = ast.parse(source)
    own = _module_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        value = node.value
        if isinstance(value, ast.Name) and (value.id in ("self", "cls") or value.id in own):
            continue
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "super":
            continue
        found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_private_access_finder() -> None:
    source = (
        "import sys\nclass A:\n    def f(self, other):\n"
        "        self._x; cls._y; super()._z; other.__dict__; A._m\n"
        "        other._w; self.conn._v; sys._getframe()\n"
    )
    assert private_accesses(source) == [
        (5, "other._w"),
        (5, "self.conn._v"),
        (5, "sys._getframe"),
    ]


def test_little_reaching_into_private_state() -> None:
    """At most `MAX_PRIVATE_ACCESSES` places, each saying why on its line."""
    places = []
    for module, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, expr in private_accesses(path.read_text(encoding="utf-8")):
            places.append(f"{module}:{lineno}: {expr}")
            assert PRIVATE_ACCESS_REASON.search(lines[lineno - 1]), (
                f"{module}:{lineno}: {expr} reaches into another object's private state "
                "without a '# private-access: reason' comment on its line"
            )
    assert len(places) <= MAX_PRIVATE_ACCESSES, places


SMALL_PACKAGES = ("mountcomm.net", "mountcomm.commanding")
"""Packages whose modules stay small and keep to their own private state."""

SMALL_MODULE_LINES = 550
"""The size from which a module usually holds two concepts (doc/architecture.md)."""


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.startswith(SMALL_PACKAGES)), ids=str
)
def test_net_and_commanding_modules_are_small_and_keep_to_themselves(module: str) -> None:
    text = MODULES[module].read_text(encoding="utf-8")
    assert len(text.splitlines()) <= SMALL_MODULE_LINES, f"{module} is over the size limit"
    reaches = private_accesses(text)
    assert not reaches, f"{module} reaches into another object's private state: {reaches}"
