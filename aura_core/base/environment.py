"""The environment a result came from: requirements.lock (every package at an exact version, written by `make lock`)
and how the running interpreter's packages compare with it, so a report can say whether it ran in the tested
environment."""
from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path

from aura_core import PROJECT_DIR

LOCK = PROJECT_DIR / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def canonical(name: str) -> str:
    """PEP 503's normalised name: lower case, runs of - _ . as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """{canonical name: exact version} of a lock file; a requirement that is not an exact pin is an error naming its
    line."""
    pins = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = _PIN.match(text)
        if not m:
            raise ValueError(f"{path}:{i}: {text!r} is not an exact pin (name==version)")
        pins[canonical(m.group(1))] = m.group(2)
    return pins


def lock_digest(path: Path = LOCK) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "no requirements.lock"


def differences(path: Path = LOCK) -> list[str]:
    """'name installed ≠ locked' for each locked package whose installed version differs (or is missing)."""
    out = []
    for name, version in read_lock(path).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            out.append(f"{name} {installed} ≠ {version}")
    return out


def summary(path: Path = LOCK) -> str:
    """One line for a provenance footer: the lock's sha256 and whether this interpreter matches it."""
    if not path.is_file():
        return "no requirements.lock beside the package"
    diff = differences(path)
    state = "installed packages match it" if not diff else \
        f"{len(diff)} installed package(s) differ: {', '.join(diff[:3])}{' …' if len(diff) > 3 else ''}"
    return f"sha256 {lock_digest(path)[:16]}; {state}"
