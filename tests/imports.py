"""An AST scan of the imports of a module file, for the layering tests."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import mountcomm

ROOT = Path(mountcomm.__file__).resolve().parent
"""The directory of the ``mountcomm`` package."""


def module_name(path: Path) -> str:
    """Dotted name of the module in file ``path`` under `ROOT` (a package for ``__init__``)."""
    parts = path.resolve().relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> list[str]:
    """The package that relative imports in ``path`` start from."""
    name = module_name(path).split(".")
    return name if path.name == "__init__.py" else name[:-1]


def called_name(call: ast.Call) -> str:
    """``f`` for ``f(...)`` and ``x.f(...)``."""
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def raw_imports(path: Path, package: Sequence[str]) -> list[tuple[str, str | None]]:
    """Each import of ``path`` as ``(absolute module, name taken from it or None)``.

    Relative imports are resolved against ``package``; ``import_module("x")``
    and ``__import__("x")`` calls count as imports of ``x``.
    """
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found += [(module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Call) and called_name(node) in ("import_module", "__import__"):
            found += [
                (a.value, None) for a in node.args if isinstance(getattr(a, "value", None), str)
            ]
    return found


def imported_modules(path: Path, package: Sequence[str]) -> list[str]:
    """Every name ``path`` imports: each module, and ``module.name`` for each name taken."""
    names: list[str] = []
    for module, name in raw_imports(path, package):
        names.append(module)
        if name is not None:
            names.append(f"{module}.{name}")
    return names
