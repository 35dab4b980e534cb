"""The shape of aura_core that review asked for and that nothing else would keep: short units, and layers that
import only the layers below them."""
import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

MAX_FUNCTION_LINES = 80


def test_no_function_in_aura_core_is_longer_than_80_lines():
    long = []
    for path in sorted((REPO / "aura_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_the_words_compute_no_numbers():
    """answers.py turns GridEvidence into words: it imports no function of the evidence layer that reads cells or
    resamples (each number is computed once, in diagnosis.evidence, and handed down)."""
    tree = ast.parse((REPO / "aura_core" / "reporting" / "answers.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.module in ("aura_core.evidence.diagnosis", "aura_core.grids.cells") for a in n.names}
    computing = {"evidence", "attribution", "config_table", "shapley_attribution", "effect_across", "cell_table",
                 "comparable_tiers", "claim_gap", "distance_to_partner_a", "multiverse_table", "switch_importance",
                 "speed_parity", "tier_predictions", "cells", "finished"}
    assert imported and not imported & computing, imported & computing


def test_every_aura_core_import_in_the_project_resolves():
    """Each `from aura_core.x import name` (modules, tests, benchmarks, notebooks, and the code a test hands a child
    process as a string; function-level ones included, which importing a module does not run) names a module that
    exists and a name it holds."""
    import importlib
    import json
    import textwrap
    files = [*(REPO / "aura_core").rglob("*.py"), *(REPO / "tests").glob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    sources = [(f, f.read_text()) for f in files] + [
        (nb, "".join(c["source"])) for nb in (REPO / "notebooks").glob("*.ipynb")
        for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    for path, src in list(sources):      # child-process code held in strings (test_reliability, test_cluster)
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and "import" in n.value and "aura_core" in n.value:
                try:
                    sources.append((path, textwrap.dedent(n.value).replace("{", "").replace("}", "")))
                    ast.parse(sources[-1][1])
                except SyntaxError:
                    sources.pop()
    bad = []
    for path, src in sources:
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or "").startswith("aura_core"):
                module = importlib.import_module(n.module)
                bad += [f"{path.name}:{n.lineno} {n.module}.{a.name}" for a in n.names
                        if not hasattr(module, a.name) and importlib.util.find_spec(f"{n.module}.{a.name}") is None]
    assert not bad, bad


def layers() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in config if c["type"] == "layers")["layers"]


def test_every_module_sits_in_a_layer_of_the_contract():
    """A module dropped into aura_core/ beside the layer packages would escape the contract."""
    packages = {name.removeprefix("aura_core.") for name in layers()}
    loose = [str(p.relative_to(REPO)) for p in (REPO / "aura_core").rglob("*.py")
             if p.relative_to(REPO / "aura_core").parts[0].removesuffix(".py") not in packages | {"__init__"}]
    assert not loose, loose
    tree = ast.parse((REPO / "aura_core" / "__init__.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
        [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imported == ["pathlib"], imported    # the package root imports no layer


def test_each_layer_imports_only_the_layers_below_it():
    """import-linter's layers contract (pyproject.toml), run as CI runs it."""
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.is_file() and not shutil.which("lint-imports"):
        pytest.skip("import-linter is not installed (pip install import-linter; it is in requirements.txt)")
    r = subprocess.run([str(exe) if exe.is_file() else "lint-imports"], cwd=REPO, capture_output=True, text=True,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and "1 kept, 0 broken" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]


def test_the_contract_catches_an_upward_import(tmp_path):
    """The check is live: a copy of the package where base imports running breaks the contract."""
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.is_file():
        pytest.skip("import-linter is not installed")
    shutil.copytree(REPO / "aura_core", tmp_path / "aura_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    io = tmp_path / "aura_core" / "base" / "io.py"
    io.write_text(io.read_text() + "\nfrom aura_core.running import pipeline  # noqa: E402 (upward, on purpose)\n")
    r = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "aura_core.base.io -> aura_core.running.pipeline" in r.stdout, r.stdout[-3000:]
