"""Habits of the code base that review would otherwise have to remember (issue 12): no
import circles, no internal module going through the package facade, small functions,
every exception class in errors.py, one Keyword -> str helper."""

from __future__ import annotations

import ast
from pathlib import Path

import bridge

PACKAGE = Path(bridge.__file__).resolve().parent
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.AST) -> set[str]:
    """The bridge modules a file imports, anywhere in it (also inside functions)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n in MODULES}


def test_no_import_circles_between_modules():
    """Function-level imports count too: a circle hidden in a function is still one.
    Packages' __init__ files are left out (they gather their submodules by design)."""
    graph = {name: _imports(_tree(path)) - PACKAGES - {name}
             for name, path in MODULES.items() if name not in PACKAGES}
    circles = set()

    def visit(name: str, path: list[str]) -> None:
        for other in graph.get(name, ()):
            if other in path:
                circles.add(" -> ".join(path[path.index(other):] + [other]))
            elif len(path) < 8:
                visit(other, path + [other])

    for name in graph:
        visit(name, [name])
    assert not circles, "\n".join(sorted(circles))


def test_no_internal_module_imports_the_package_facade():
    """Inside the package, ``import bridge`` (or a name ``bridge/__init__`` hands out) hides
    which module a name comes from and invites circles; import the module itself."""
    offenders = []
    for name, path in MODULES.items():
        if name == "bridge":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Import) and any(a.name == "bridge" for a in node.names):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "bridge" and node.level == 0:
                # a submodule by name is fine; a name the facade resolves lazily is not
                for alias in node.names:
                    if f"bridge.{alias.name}" not in MODULES:
                        offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                                         f"from bridge import {alias.name}")
    assert offenders == []


def test_functions_are_short():
    long = []
    for path in MODULES.values():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                docstring = (isinstance(body[0], ast.Expr)
                             and isinstance(body[0].value, ast.Constant)
                             and isinstance(body[0].value.value, str))
                start = body[0].end_lineno + 1 if docstring and len(body) > 1 else body[0].lineno
                lines = node.end_lineno - start + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                                f"{node.name}: {lines} lines")
    assert long == []


def test_every_exception_class_lives_in_errors_py():
    builtin = {"Exception", "ValueError", "RuntimeError", "KeyboardInterrupt", "UserWarning",
               "TypeError", "KeyError", "OSError", "Warning", "LookupError"}
    ours = {node.name for node in ast.walk(_tree(PACKAGE / "errors.py"))
            if isinstance(node, ast.ClassDef)}
    offenders = []
    for name, path in MODULES.items():
        if path.name == "errors.py":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & (builtin | ours):
                    offenders.append(f"{name}.{node.name}")
    assert offenders == []


def test_one_keyword_to_str_helper():
    """``key_name`` (bridge.edn.types) is the one spelling of "a keyword's name, or the
    string as it is"."""
    offenders = []
    for name, path in MODULES.items():
        if name == "bridge.edn.types":  # key_name's own home
            continue
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            if ".full if isinstance(" in line and "Keyword)" in line:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{number}")
    assert offenders == []
