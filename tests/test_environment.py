"""The lock (requirements.lock), the ranges (requirements.txt, pyproject.toml), environment.yml and the Makefile say
the same environment: every locked version satisfies every range, environment.yml installs the lock with the
Makefile's torch, and a report names the lock it ran with."""
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from aura_core.base import environment

REPO = Path(__file__).resolve().parents[1]
LOCK = environment.read_lock(REPO / "requirements.lock")


def makefile_var(name: str) -> str:
    m = re.search(rf"^{name}\s*:?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert m, f"Makefile has no {name}"
    return m.group(1)


def ranges(lines) -> list[Requirement]:
    return [Requirement(line.split("#", 1)[0].strip()) for line in lines if line.split("#", 1)[0].strip()]


def test_the_lock_pins_every_package_exactly_and_leaves_torch_to_its_own_line():
    assert len(LOCK) > 100 and "torch" not in LOCK
    assert {"transformers", "scikit-learn", "papermill", "submitit", "pytest"} <= set(LOCK)
    torch = Requirement(makefile_var("TORCH"))
    assert str(torch.specifier).startswith("==")


@pytest.mark.parametrize("source", ["requirements.txt", "pyproject.toml"])
def test_every_locked_version_satisfies_the_declared_ranges(source):
    if source == "requirements.txt":
        reqs = ranges((REPO / source).read_text().splitlines())
    else:
        project = tomllib.loads((REPO / source).read_text())["project"]
        reqs = ranges(project["dependencies"] + project["optional-dependencies"]["test"])
    torch = Requirement(makefile_var("TORCH")).specifier
    for r in reqs:
        if r.name == "torch":
            assert r.specifier.contains(str(torch).removeprefix("=="), prereleases=True), (source, r)
            continue
        locked = LOCK.get(environment.canonical(r.name))
        assert locked is not None, f"{source}: {r.name} is not in requirements.lock (run make lock)"
        assert r.specifier.contains(locked, prereleases=True), f"{source}: {r} but the lock has {locked}"


def test_environment_yml_installs_the_lock_with_the_makefiles_torch():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "python=3.11" in deps                                   # the lock is resolved for Python 3.11
    assert "-r requirements.lock" in pip and makefile_var("TORCH") in pip
    assert "--python-version 3.11" in (REPO / "Makefile").read_text()
    encoder = makefile_var("ENCODER_PKG")
    assert "==" in encoder and encoder in (REPO / "environment.yml").read_text()


def test_a_lock_line_that_is_not_an_exact_pin_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "requirements.lock"
    bad.write_text("numpy==2.0.0  # via x\n\npandas>=2\n")
    with pytest.raises(ValueError, match=r"requirements.lock:3: 'pandas>=2' is not an exact pin"):
        environment.read_lock(bad)


def test_the_summary_names_the_lock_digest_and_each_difference(tmp_path, monkeypatch):
    from importlib import metadata
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"pyyaml=={metadata.version('pyyaml')}\nnumpy==0.0.1\nno-such-package-aura==1.0\n")
    text = environment.summary(lock)
    assert text.startswith(f"sha256 {environment.lock_digest(lock)[:16]}")
    assert "2 installed package(s) differ" in text and "numpy" in text and "no-such-package-aura missing ≠ 1.0" in text
    lock.write_text(f"pyyaml=={metadata.version('pyyaml')}\n")
    assert environment.summary(lock).endswith("installed packages match it")
