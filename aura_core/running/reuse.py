"""Trainings another grid already finished, taken instead of trained again.

A grid's `reuse: [<grid name>, …]` names grid folders under the same root whose finished cells it may adopt: a cell
whose params compute exactly what this cell's would (every computed key equal, seed included; only the run's name and
description may differ). The fidelity grid's 3,000-row cells are the factorial's (paired|masked, no preprocessing)
cells, for instance, so running the factorial first halves what the fidelity grid trains.

An adopted cell is a copy, not a link: the two grids stay independent folders (send, move or delete either). Weights
are hard-linked where the file system allows (they are never rewritten in place); `reused.json` says where the cell
came from.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from aura_core.base.io import read_json, write_json
from aura_core.base.params import Params, changed_keys, to_dict
from aura_core.base.run_folder import RunFolder
from aura_core.training import epoch_predictions

NAMING_KEYS = ("name", "description")          # what a run is called, not what it computes


def differences(trained: Params, wanted: Params) -> list[str]:
    """The computed params in which a finished run differs from the one wanted (empty: it is that run)."""
    return [k for k in changed_keys(to_dict(trained), to_dict(wanted)) if k not in NAMING_KEYS]


def find(sources: list[Path], wanted: Params) -> Path | None:
    """The first finished run folder in the source grids that trained exactly `wanted` (and, when `wanted` stores
    epoch predictions, stored them: its views read them)."""
    for root in sources:
        for run in sorted(d for d in Path(root).glob("*") if RunFolder(d).has_params()):
            if not RunFolder(run).finished():
                continue
            if differences(RunFolder(run).read_params(), wanted):
                continue
            if wanted.epoch_predictions and not epoch_predictions.epochs(run):
                continue
            return run
    return None


def adopt(source: Path, cell_dir: Path) -> None:
    """Copy a finished run into this grid's cell folder (weights hard-linked), with reused.json naming the source."""
    source, cell_dir = Path(source).resolve(), Path(cell_dir)
    for f in sorted(source.rglob("*")):
        if f.is_dir() or f.name in RunFolder.GRID_BOOKKEEPING or f.name == RunFolder.REUSED:
            continue
        out = cell_dir / f.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        if f.suffix == ".safetensors":
            try:
                os.link(f, out)
                continue
            except OSError:  # another file system: copy
                pass
        shutil.copy2(f, out)
    was_reused = RunFolder(source).reused
    origin = read_json(was_reused)["from"] if was_reused.is_file() else str(source)
    write_json(RunFolder(cell_dir).reused, {"from": origin, "at": time.strftime("%Y-%m-%d %H:%M:%S")})
