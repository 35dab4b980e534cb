"""Atomic file writes: an interrupted write never leaves a file that looks complete."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes it 0600; a report is written to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=jsonable) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def update_json(path: str | os.PathLike, key: str, value: Any) -> None:
    """Set one top-level key of a JSON object file (each notebook owns its own section of metrics.json)."""
    path = Path(path)
    obj = read_json(path) if path.exists() else {}
    obj[key] = value
    write_json(path, obj)


def jsonable(o: Any) -> Any:
    """The JSON default hook of every file the project writes: NumPy scalars and arrays, paths, torch tensors."""
    import numpy as np
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    torch = sys.modules.get("torch")  # never imported for this: a tensor can only exist when torch already is
    if torch is not None and torch.is_tensor(o):
        return o.item() if o.numel() == 1 else o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
