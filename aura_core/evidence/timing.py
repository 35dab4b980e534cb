"""How long a grid's trainings took as they ran: the numbers behind every grid time the README and docs quote.

Each finished training cell records its notebooks' seconds (run.json), 02_train's own time summed over the runs of a
cell stopped and resumed (train.json) and one row per optimizer step with the elapsed time (steps.csv). The grids ran
two cells at a time on two cores, at times beside other work (the test suite, paused grids), so the recorded times
are what happened; the fastest decile of the step pace estimates a cell with only the grid on the cores.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from aura_core.base.io import read_json
from aura_core.grids import Grid, finished, training_cells


def step_pace(steps: pd.DataFrame, window: int = 100) -> tuple[float, float]:
    """Seconds per optimizer step over consecutive windows of `window` steps: (median, 10th percentile). The cells
    shared the cores with other work at times (tests, other cells), which the total time includes; the fastest
    decile of windows is the pace of the stretches when they did not, so steps × it estimates an uncontended cell."""
    t = steps.sort_values("step", kind="stable").drop_duplicates("step", keep="last")["elapsed_s"].to_numpy()
    if len(t) <= window:
        return np.nan, np.nan
    per_step = np.diff(t[::window]) / window
    per_step = per_step[per_step > 0]
    return (float(np.median(per_step)), float(np.quantile(per_step, 0.1))) if len(per_step) else (np.nan, np.nan)


def cell_times(grid: Grid) -> pd.DataFrame:
    """One row per finished training this grid trained itself (a training adopted from another grid with `reuse`
    is that grid's time, listed with where it came from and left out of the sums): minutes of 02_train and of the
    other notebooks, and 02_train at the fastest-decile step pace."""
    rows = []
    for c in training_cells(grid):
        if not finished(c) or not c.run.train_info.is_file():
            continue
        if c.run.reused.is_file():
            rows.append({"cell": c.dir.name, "adopted from": read_json(c.run.reused).get("from", "another grid")})
            continue
        info = read_json(c.run.train_info)
        notebooks = c.run.read_run_info().get("notebook_seconds", {})
        other = sum(s for name, s in notebooks.items() if name != "02_train")
        _, fast = step_pace(pd.read_csv(c.run.steps, usecols=["step", "elapsed_s"])) \
            if c.run.steps.is_file() else (np.nan, np.nan)
        rows.append({"cell": c.dir.name, "adopted from": "", "steps": info["steps"],
                     "02_train (min)": info["seconds"] / 60, "other notebooks (min)": other / 60,
                     "samples/s": info["samples_per_s"], "s/step fastest decile": fast,
                     "02_train at that pace (min)": info["steps"] * fast / 60 if np.isfinite(fast) else np.nan,
                     "stopped and resumed": bool(info.get("resumed"))})
    return pd.DataFrame(rows)


def time_text(grid: Grid, jobs: int = 2) -> str:
    """The grid's time section: each training's row and the sums, as run and at the fastest-decile pace, with the
    wall clock they imply for `jobs` cells at a time (views, the grid report and adopted trainings cost no training)."""
    t = cell_times(grid)
    if t.empty:
        return "_(no finished training yet)_"
    own = t[t["adopted from"] == ""] if "steps" in t else t.iloc[0:0]
    adopted = len(t) - len(own)
    text = (f"Each training this grid ran, as it ran ({jobs} cells at a time on the machine's cores; other work "
            f"shared them at times, which the recorded minutes include). `02_train at that pace` is the steps × the "
            f"fastest decile of 100-step windows of steps.csv: the cell with only the grid on the cores.\n\n"
            + t.to_markdown(index=False, floatfmt=".2f"))
    if len(own):
        as_run = own["02_train (min)"].sum() + own["other notebooks (min)"].sum()
        paced = own["02_train at that pace (min)"].sum() + own["other notebooks (min)"].sum()
        text += (f"\n\nIn all: {len(own)} trainings, {as_run / 60:.1f} h of cell time as run "
                 f"(≈ {as_run / 60 / jobs:.1f} h of wall clock {jobs} at a time); at the fastest-decile pace "
                 f"{paced / 60:.1f} h (≈ {paced / 60 / jobs:.1f} h of wall clock {jobs} at a time).")
    if adopted:
        text += f" {adopted} trainings were adopted from another grid (`reuse`) and cost this grid none."
    return text
