"""A finished grid's evidence, shipped with the repository: what every table, interval and verdict is computed from.

A grid folder holds hours of training, but its verdicts are computed from a few small files per cell. `export` copies
exactly those (never weights, notebooks or pages) into `outputs/grids/<name>/` of the repository — the only files
there that git does not ignore — with every CSV gzipped (deterministically, so an unchanged file exports to the same
bytes) and a manifest naming each file and its SHA-256. `restore` inflates them again in a fresh clone, so that
`aura grid GRID --render` (or `--summary`) rebuilds the grid view, summary and bottom line without training.
"""
from __future__ import annotations

import gzip
import hashlib
import time
from pathlib import Path

from aura_core.base.io import atomic_write_bytes, read_json, write_json
from aura_core.base.run_folder import RunFolder
from aura_core.grids.cells import finished, training_cells
from aura_core.grids.spec import Grid

MANIFEST = "EVIDENCE.json"
MAX_BYTES = 1 << 20                                    # every shipped file under 1 MiB


class EvidenceError(RuntimeError):
    """A cell's evidence cannot ship (a file too large, a cell folder missing a file a table reads)."""


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)   # mtime 0: the same content gives the same bytes


def cell_files(cell_dir: Path) -> list[Path]:
    """The files of one finished training cell that the grid's tables read, relative to the cell folder."""
    out = [Path(name) for name in RunFolder.EVIDENCE_FILES if (cell_dir / name).is_file()]
    for folder in RunFolder.EVIDENCE_FOLDERS:   # their CSVs: the scored rows and each stored epoch's
        if (cell_dir / folder).is_dir():
            out += sorted(f.relative_to(cell_dir) for f in (cell_dir / folder).rglob("*.csv"))
    missing = [n for n in (RunFolder.PARAMS, RunFolder.METRICS, RunFolder.STATE) if Path(n) not in out]
    if missing:
        raise EvidenceError(f"{cell_dir}: finished but without {missing}: cannot export its evidence")
    return out


def export(grid: Grid, dest_root: str | Path) -> Path:
    """Copy every finished training cell's evidence into dest_root/<grid name>/ (CSVs gzipped) and write the manifest;
    cells not finished are listed in it as such (nothing is dropped silently). Returns the grid's evidence folder."""
    dest = Path(dest_root) / grid.name
    files, pending = {}, []
    for cell in training_cells(grid):
        if not finished(cell):
            pending.append(cell.id)
            continue
        for rel in cell_files(cell.dir):
            data = (cell.dir / rel).read_bytes()
            target = dest / cell.id / (f"{rel}.gz" if rel.suffix == ".csv" else rel)
            payload = _gzip(data) if rel.suffix == ".csv" else data
            if len(payload) >= MAX_BYTES:
                raise EvidenceError(f"{cell.dir / rel}: {len(payload) / 2**20:.2f} MiB compressed, over the 1 MiB a "
                                    "shipped file may have")
            if (cell.dir.resolve() / rel) != target.resolve():
                atomic_write_bytes(target, payload)
            files[str(target.relative_to(dest))] = hashlib.sha256(data).hexdigest()
    write_json(dest / MANIFEST, {"grid": grid.name, "grid_file": grid.path.name, "exported": time.strftime(
        "%Y-%m-%dT%H:%M:%S"), "cells": sorted({k.split("/")[0] for k in files}), "not_finished": pending,
        "files": files})
    return dest


def restore(grid_dir: str | Path) -> int:
    """Inflate each shipped `<file>.csv.gz` of a grid folder into `<file>.csv` where that is missing or differs from
    the manifest's hash; returns how many files were written. A folder without a manifest is left as it is."""
    grid_dir = Path(grid_dir)
    if not (grid_dir / MANIFEST).is_file():
        return 0
    written = 0
    for rel, sha in read_json(grid_dir / MANIFEST)["files"].items():
        if not rel.endswith(".csv.gz"):
            continue
        packed, plain = grid_dir / rel, grid_dir / rel.removesuffix(".gz")
        if not packed.is_file():
            raise EvidenceError(f"{packed}: listed in {grid_dir / MANIFEST} but not there")
        if plain.is_file() and hashlib.sha256(plain.read_bytes()).hexdigest() == sha:
            continue
        data = gzip.decompress(packed.read_bytes())
        if hashlib.sha256(data).hexdigest() != sha:
            raise EvidenceError(f"{packed}: its content does not match the hash in {grid_dir / MANIFEST}")
        atomic_write_bytes(plain, data)
        written += 1
    return written


def restore_grid(grid: Grid) -> int:
    """Inflate the shipped evidence of a grid and of the grids it may adopt trainings from (`reuse`), so that a grid
    continued in a fresh clone adopts a shipped training with its scored rows, not only its metrics."""
    return sum(restore(d) for d in [grid.dir, *(grid.root / name for name in grid.reuse)])
