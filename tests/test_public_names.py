"""Every package's public names: ``__all__``, ``_LAZY`` and the ``TYPE_CHECKING`` imports agree."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import mountcomm

ROOT = Path(mountcomm.__file__).resolve().parent
PACKAGES = sorted(
    ".".join(("mountcomm", *init.parent.relative_to(ROOT).parts))
    for init in ROOT.rglob("__init__.py")
)
NOT_LAZY = {"__version__"}  # defined in the package itself


def package_tree(package: str) -> ast.Module:
    path = ROOT.joinpath(*package.split(".")[1:], "__init__.py")
    return ast.parse(path.read_text(encoding="utf-8"))


def assigned(tree: ast.Module, name: str) -> ast.expr | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
    return None


def type_checking_imports(tree: ast.Module, package: str) -> dict[str, str]:
    """Name -> absolute module of each ``from .x import name`` under ``if TYPE_CHECKING:``."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.unparse(stmt)
                base = package.split(".")
                base = base[: len(base) - stmt.level + 1] if stmt.level else []
                module = ".".join([*base, *([stmt.module] if stmt.module else [])])
                for alias in stmt.names:
                    found[alias.asname or alias.name] = module
    return found


def test_packages_are_found() -> None:
    assert {"mountcomm", "mountcomm.registry", "mountcomm.sim", "mountcomm.net"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lazy_and_type_checking_names_agree(package: str) -> None:
    tree = package_tree(package)
    all_node = assigned(tree, "__all__")
    lazy_node = assigned(tree, "_LAZY")
    if lazy_node is None:
        assert not type_checking_imports(tree, package)
        return
    assert all_node is not None, f"{package} has _LAZY but no __all__"
    public = set(ast.literal_eval(all_node))
    lazy = ast.literal_eval(lazy_node)
    assert set(lazy) == public - NOT_LAZY, f"{package}: _LAZY and __all__ differ"
    imports = type_checking_imports(tree, package)
    assert set(imports) == set(lazy), f"{package}: TYPE_CHECKING imports and _LAZY differ"
    for name, module in imports.items():
        assert lazy[name] == module, f"{package}.{name}: _LAZY says {lazy[name]}, import {module}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", ()):
        assert getattr(module, name) is not None, f"{package}.{name}"


@pytest.mark.parametrize("package", [p for p in PACKAGES if assigned(package_tree(p), "_LAZY")])
def test_dir_shows_only_public_names(package: str) -> None:
    module = importlib.import_module(package)
    assert dir(module) == sorted(module.__all__)


def test_dir_of_the_top_level_package() -> None:
    names = dir(mountcomm)
    assert "MountClient" in names and "__version__" in names
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
    assert "TYPE_CHECKING" not in names and "lazy_attributes" not in names
