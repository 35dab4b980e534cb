"""A grid's cells (configuration × seed, a training or a post-training view of one) and what each cell folder says:
finished or not, its state, its metrics and headline numbers."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from aura_core.base.io import read_json
from aura_core.base.params import POST_TRAINING_KEYS, ParamError, load
from aura_core.base.results import RunMetrics
from aura_core.base.run_folder import RunFolder
from aura_core.grids.cell_claim import is_held
from aura_core.grids.spec import Config, Grid
from aura_core.training import epoch_predictions


@dataclass
class Cell:
    config: Config
    seed: int
    dir: Path                                   # the folder holding the training this cell reads
    choice: dict = field(default_factory=dict)  # post-training keys scored from that folder's epoch predictions

    @property
    def id(self) -> str:
        return f"{_slug(self.config.label)}__seed{self.seed}"

    @property
    def is_view(self) -> bool:
        return bool(self.choice)

    @property
    def overrides(self) -> dict:
        return {**self.config.overrides, "seed": self.seed}

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.dir)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", label)


def training_cells(grid: Grid) -> list[Cell]:
    """One per training (training config × seed): what `aura grid` runs, claims, resumes and reports the state of."""
    return [Cell(c, s, grid.dir / f"{_slug(c.label)}__seed{s}") for c in grid.trainings for s in grid.seeds]


def cells(grid: Grid) -> list[Cell]:
    """One per reported configuration × seed. A view reads its training's folder under its post-training choice;
    a view that has a finished folder of its own (a grid run before views existed) reads that, as trained."""
    out = []
    for c in grid.configs:
        for s in grid.seeds:
            own = grid.dir / f"{_slug(c.label)}__seed{s}"
            if c.view_of is None or own.is_dir():
                out.append(Cell(c, s, own))
                continue
            p = load(grid.base, {**c.overrides, "seed": s})
            out.append(Cell(c, s, grid.dir / f"{_slug(c.view_of)}__seed{s}", {k: getattr(p, k) for k in POST_TRAINING_KEYS}))
    return out


def shard(all_cells: list[Cell], spec: str | None) -> list[Cell]:
    """'i/n' (1-based): cells i, i+n, i+2n, … of the fixed cell order."""
    if not spec:
        return all_cells
    m = re.fullmatch(r"(\d+)/(\d+)", spec)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ParamError(f"--shard {spec!r}: expected i/n with 1 <= i <= n")
    i, n = int(m.group(1)), int(m.group(2))
    return [c for k, c in enumerate(all_cells) if k % n == i - 1]


def finished(cell: Cell) -> bool:
    """Its folder's five notebooks have run (and, for a view, the folder holds the epoch predictions it reads)."""
    return cell.run.finished() and (not cell.is_view or bool(epoch_predictions.epochs(cell.dir)))


def cell_metrics(cell: Cell) -> dict:
    """The cell's metrics.json, or for a view, the metrics its training gives under its post-training choice."""
    if not cell.is_view:
        return cell.run.read_metrics()
    from aura_core.scoring.post_training import view_metrics  # torch and transformers: not for `--status`
    return view_metrics(cell.dir, cell.run.read_params(), cell.choice)


def first_baseline_cell(grid: Grid) -> Cell | None:
    """The baseline's first finished seed: the cell whose run stands for the grid where one run is needed."""
    return next((c for c in cells(grid) if c.config.label == grid.baseline and finished(c)), None)


def cell_scores(metrics: dict) -> dict:
    return RunMetrics.from_json(metrics).cell_row()


def cell_table(grid: Grid) -> pd.DataFrame:
    """One row per cell (missing or unfinished cells included, with their status) and its headline numbers."""
    rows = []
    for c in cells(grid):
        row = {"config": c.config.label, "factor": c.config.factor, "seed": c.seed, "cell": c.id,
               "reads": c.dir.name if c.is_view else "", "disk_mb": 0.0 if c.is_view else round(disk_bytes(c.dir) / 1e6, 1)}
        if finished(c):
            row |= {"status": "finished", **cell_scores(cell_metrics(c))}
        elif c.is_view and finished(Cell(c.config, c.seed, c.dir)):
            row["status"] = f"not finished: {c.dir.name} was trained before epoch predictions were stored; train it again"
        else:
            row["status"] = "not finished"
        rows.append(row)
    return pd.DataFrame(rows)


def disk_bytes(folder: Path) -> int:
    """Bytes of every file under folder (0 when absent)."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) if Path(folder).is_dir() else 0


def cell_state(cell: Cell) -> str:
    """What the cell folder says: finished, running (a live process holds its claim), failed (last attempt),
    queued (submitted to an executor, not started), interrupted (resumes on the next run) or pending."""
    if finished(cell):
        return "finished"
    if is_held(cell.dir):
        return "running"
    if cell.run.failed.is_file():
        return "failed"
    if cell.run.queued.is_file():
        return "failed" if ended_job(cell) else "queued"
    if cell.run.state.is_file():
        return "interrupted"
    return "pending"


def ended_job(cell: Cell) -> Path | None:
    """The log of the submitit job a queued cell was given, when that job has ended (submitit wrote its result)
    without the cell ever starting: it died before claiming it."""
    queued = read_json(cell.run.queued)
    job = queued.get("job_id")
    if not job:
        return None
    folder = cell.dir.parent / "submitit" / str(job)
    return folder / f"{job}_0_log.err" if (folder / f"{job}_0_result.pkl").is_file() else None


def partial_note(grid: Grid) -> str:
    """'' once every cell has finished; else how far the grid is, said wherever its evidence is shown. Views with no
    finished training are named by that training (a factorial's eight choices of one training are one entry)."""
    all_cells = cells(grid)
    done = [c for c in all_cells if finished(c)]
    if len(done) == len(all_cells):
        return ""
    started = {c.config.label for c in done}
    missing = [c for c in grid.configs if c.label not in started]
    named = list(dict.fromkeys(f"{c.view_of} (all {sum(v.view_of == c.view_of for v in missing)} views)"
                               if c.view_of else c.label for c in missing))
    return (f"Partial grid: {len(done)} of {len(all_cells)} cells finished; every number below is over the finished "
            f"seeds only" + (f", and {len(missing)} configuration(s) have none yet: {'; '.join(named)}"
                             if missing else "") + ".")
