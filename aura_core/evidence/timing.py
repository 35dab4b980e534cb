"""How long a grid's trainings took as they ran: the numbers behind every grid time the README and docs quote.

Each finished training cell records its notebooks' seconds (run.json), 02_train's own time summed over the runs of a
cell stopped and resumed (train.json) and one row per optimizer step with the elapsed time (steps.csv). The grids ran
two cells at a time on two cores, at times beside other work (the test suite, paused grids), so the recorded times
are what happened; the fastest decile of the step pace estimates a cell with only the grid on the cores.
"""
from __future__ import annotations

from pathlib import Path

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


def training_record(cell) -> dict | None:
    """What a finished training cell recorded of its time (None while unfinished): steps in all and per epoch, rows
    seen, 02_train's seconds summed over resumptions, the other notebooks' seconds, speed, the step pace (median and
    fastest decile), device, whether it was stopped and resumed, and the grid it was adopted from ('' if trained)."""
    if not finished(cell) or not cell.run.train_info.is_file():
        return None
    info = read_json(cell.run.train_info)
    ep = pd.read_csv(cell.run.epochs) if cell.run.epochs.is_file() else pd.DataFrame()
    per_epoch = np.diff(np.r_[0, ep["steps"].to_numpy()]) if "steps" in ep else []
    median, fast = step_pace(pd.read_csv(cell.run.steps, usecols=["step", "elapsed_s"])) \
        if cell.run.steps.is_file() else (np.nan, np.nan)
    notebooks = cell.run.read_run_info().get("notebook_seconds", {})
    return {"cell": cell.dir.name, "steps": info["steps"],
            "steps per epoch": ", ".join(str(int(n)) for n in per_epoch) if len(per_epoch) else "—",
            "rows seen": info.get("samples_seen"), "train_s": info["seconds"],
            "other_s": sum(s for name, s in notebooks.items() if name != "02_train"),
            "samples/s": info["samples_per_s"], "s/step median": median, "s/step fastest decile": fast,
            "device": info.get("device"), "stopped and resumed": bool(info.get("resumed")),
            "adopted from": adopted_from(cell)}


def adopted_from(cell) -> str:
    """'<grid>/<cell>' a `reuse`d training was copied from ('' if this grid trained it): the grid folder's name, not
    the path of the machine it was copied on."""
    if not cell.run.reused.is_file():
        return ""
    source = Path(read_json(cell.run.reused).get("from") or "another grid/?")
    return f"{source.parent.name}/{source.name}"


def cell_times(grid: Grid) -> pd.DataFrame:
    """One row per finished training this grid trained itself (a training adopted from another grid with `reuse`
    is that grid's time, listed with where it came from and left out of the sums): minutes of 02_train and of the
    other notebooks, and 02_train at the fastest-decile step pace."""
    rows = []
    for r in filter(None, map(training_record, training_cells(grid))):
        if r["adopted from"]:
            rows.append({"cell": r["cell"], "adopted from": r["adopted from"]})
            continue
        fast = r["s/step fastest decile"]
        rows.append({"cell": r["cell"], "adopted from": "", "steps": r["steps"], "02_train (min)": r["train_s"] / 60,
                     "other notebooks (min)": r["other_s"] / 60, "samples/s": r["samples/s"],
                     "s/step fastest decile": fast,
                     "02_train at that pace (min)": r["steps"] * fast / 60 if np.isfinite(fast) else np.nan,
                     "stopped and resumed": r["stopped and resumed"]})
    return pd.DataFrame(rows)


def shown(t: pd.DataFrame) -> pd.DataFrame:
    """The table as the page prints it: steps as integers, minutes and paces to 2 decimals, resumed as yes/no, and an
    adopted training's own columns blank (its time is the other grid's)."""
    def cell(col: str, x) -> str:
        if isinstance(x, str) or x is None or (isinstance(x, float) and np.isnan(x)):
            return x if isinstance(x, str) else ""
        if col == "steps":
            return f"{int(x):,}"
        if col == "stopped and resumed":
            return "yes" if x else "no"
        return f"{x:.2f}"
    return pd.DataFrame({c: [cell(c, x) for x in t[c]] for c in t.columns})


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
            + shown(t).to_markdown(index=False, disable_numparse=True))
    if len(own):
        as_run = own["02_train (min)"].sum() + own["other notebooks (min)"].sum()
        paced = own["02_train at that pace (min)"].sum() + own["other notebooks (min)"].sum()
        text += (f"\n\nIn all: {len(own)} trainings, {as_run / 60:.1f} h of cell time as run "
                 f"(≈ {as_run / 60 / jobs:.1f} h of wall clock {jobs} at a time); at the fastest-decile pace "
                 f"{paced / 60:.1f} h (≈ {paced / 60 / jobs:.1f} h of wall clock {jobs} at a time).")
    if adopted:
        text += f" {adopted} trainings were adopted from another grid (`reuse`) and cost this grid none."
    return text
