"""Rules of the package's shape that code review would otherwise have to remember."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import bridge

PACKAGE = Path(bridge.__file__).resolve().parent
ROOT = PACKAGE.parent

# The Python API that code outside the repository relies on (DESIGN.md, "a contract").
CONTRACT = ["load_model", "Network", "ModelError", "train", "evaluate", "predict",
            "save_network", "load_network", "network_to_edn", "datasets", "jvm"]


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_public_api_holds_the_contract():
    assert set(CONTRACT) <= set(bridge.__all__)
    for name in bridge.__all__:
        assert getattr(bridge, name) is not None, name


def test_import_bridge_needs_no_java():
    code = "import sys, bridge; print('jpype' in sys.modules, 'bridge.training' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "False"]


def test_only_bridge_jvm_imports_jpype():
    offenders = [p for p in modules() if "jvm" not in p.relative_to(PACKAGE).parts
                 and any(n == "jpype" or n.startswith("jpype.") for n in imported_names(p))]
    assert offenders == []


def test_no_pickle_and_no_torch_load():
    offenders = []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        if {"pickle", "dill", "cloudpickle"} & imported_names(path):
            offenders.append(f"{path.name}: imports pickle")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "load"
                    and isinstance(node.value, ast.Name) and node.value.id == "torch"):
                offenders.append(f"{path.name}:{node.lineno}: torch.load")
    assert offenders == []


def test_edn_package_imports_nothing_above_it():
    for path in (PACKAGE / "edn").glob("*.py"):
        for name in imported_names(path):
            if name.startswith("bridge."):
                assert name.startswith(("bridge.edn", "bridge.errors")), (path.name, name)


def test_every_layer_module_is_imported_by_the_package():
    listed = (PACKAGE / "layers" / "__init__.py").read_text()
    for path in (PACKAGE / "layers").glob("*.py"):
        if path.stem.startswith("_") or path.stem in ("registry", "initializers"):
            continue
        assert path.stem in listed, f"bridge/layers/__init__.py does not import {path.stem}"


def test_the_wheel_ships_the_clojure_sources_and_the_models(tmp_path):
    """An installed wheel has no checkout beside it: setup.py copies jvm/src and
    edn_models into the package, where the classpath and the CLI look next."""
    import shutil
    import zipfile

    source = tmp_path / "source"  # a copy, so the build leaves the checkout untouched
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("bridge", "jvm", "edn_models"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("cortex_bridge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    src = ROOT / "jvm" / "src"
    clojure = {str(p.relative_to(src)) for p in src.rglob("*.clj")}
    assert {f"bridge/jvm_src/{name}" for name in clojure} <= names
    models = {p.name for p in (ROOT / "edn_models").glob("*.edn")}
    assert {f"bridge/models/{name}" for name in models} <= names
    assert not any(name.endswith(".pyc") for name in names)


def test_the_readme_layout_matches_the_tree():
    """Every package of bridge/ is in the README's Layout section, and every file or
    folder the section names exists."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout"):]
    block = layout[layout.index("```") + 3:]
    block = block[:block.index("```")]
    packages = {p.name for p in (ROOT / "bridge").iterdir()
                if p.is_dir() and any(p.glob("*.py"))}
    listed = set(re.findall(r"^  ([a-z_]+)/", block, re.M))
    assert packages <= listed, f"not in the README's Layout: {sorted(packages - listed)}"
    assert listed <= packages, f"in the Layout but not in bridge/: {sorted(listed - packages)}"
    for module in re.findall(r"\b([a-z_]+\.py)\b", block):
        assert list((ROOT / "bridge").rglob(module)) or list((ROOT / "examples").glob(module)), \
            f"the Layout names {module}, which does not exist"


def test_make_test_runs_ruff_and_mypy_before_pytest():
    """The README's test command lints and type-checks first (fail fast), with the tools
    pinned in the test extra so every checkout runs the same versions."""
    tomllib = pytest.importorskip("tomllib")
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").split("\ntest:", 1)[1]
    recipe = [line.strip() for line in lines.splitlines()[1:] if line.startswith("\t")]
    assert recipe[:3] == [".venv/bin/ruff check .", ".venv/bin/mypy",
                          ".venv/bin/python -m pytest -p no:faulthandler -q"], recipe
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pinned = {spec.split("==")[0] for spec in project["project"]["optional-dependencies"]["test"]
              if "==" in spec}
    assert {"ruff", "mypy"} <= pinned
    assert project["tool"]["mypy"]["files"] == ["bridge"]
