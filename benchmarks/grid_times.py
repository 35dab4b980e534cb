"""A grid's measured wall clock and where it went: each `aura grid` run (<grid>/runs.jsonl), each cell's notebook
times, the cells' sum packed on the jobs, by kind of training.

    python benchmarks/grid_times.py params/grids/factorial.yaml [--root outputs/grids] [--since 2026-12-03T09:30:00]

A training "read by views" stores epoch predictions (its post-training views are scored from them); "no views" is a
control or a cause trained as its own run. Reused cells (adopted from another grid) took no time here and are left
out. A grid folder from before runs.jsonl reports its cells only. --since keeps the runs and cells of one measurement
when a folder holds earlier ones.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

from aura_core import grids as G
from aura_core.base.io import read_json
from aura_core.running import grid as R
from aura_core.training import epoch_predictions as E


def runs(grid: G.Grid, since: str | None = None) -> pd.DataFrame:
    """One row per logged `aura grid` run."""
    path = grid.dir / R.RUNS_FILE
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []
    df = pd.DataFrame([{"started": r["started"], "ended": r["ended"], "minutes": r["seconds"] / 60, "jobs": r["jobs"],
                        "cpus": r["cpus"], "cells run": len(r["ran"]), "rendered": r["rendered"],
                        "not ok": sum(not s.startswith(("ok", "reused")) for s in r["ended_as"].values())}
                       for r in lines])
    return df[df["started"] >= since] if since and len(df) else df


def cells(grid: G.Grid, since: str | None = None) -> pd.DataFrame:
    """One row per finished training cell trained here: kind, minutes over its five notebooks, 02_train's share,
    the epochs whose test-set predictions it stored."""
    viewed = {c.view_of for c in grid.configs if c.view_of}
    rows = []
    for c in G.training_cells(grid):
        run = c.dir / "run.json"
        if not run.is_file() or (c.dir / "reused.json").is_file():
            continue
        seconds = read_json(run).get("notebook_seconds", {})
        if "05_compare" not in seconds:
            continue
        ended = pd.Timestamp(os.path.getmtime(run), unit="s").strftime("%Y-%m-%dT%H:%M:%S")
        if since and ended < since:
            continue
        rows.append({"cell": c.id, "kind": "read by views" if c.config.label in viewed else "no views",
                     "minutes": sum(seconds.values()) / 60, "02_train_min": seconds["02_train"] / 60,
                     "test-scored epochs": len(E.scored_epochs(c.dir)), "ended": ended})
    return pd.DataFrame(rows)


def report(grid: G.Grid, since: str | None = None, jobs: int | None = None) -> str:
    r, c = runs(grid, since), cells(grid, since)
    jobs = jobs or (int(r["jobs"].max()) if len(r) else 1)
    out = [f"## {grid.name}: {len(c)} trainings timed"]
    if len(r):
        out += ["", r.to_markdown(index=False, floatfmt=".1f"), "",
                f"**Wall clock: {r['minutes'].sum():.1f} min** over {len(r)} run(s) of `aura grid`."]
    if len(c):
        by_kind = c.groupby("kind").agg(cells=("cell", "size"), mean_min=("minutes", "mean"),
                                        min_min=("minutes", "min"), max_min=("minutes", "max"),
                                        test_scored_epochs=("test-scored epochs", "mean"))
        out += ["", by_kind.to_markdown(floatfmt=".2f"), "",
                f"Sum of the cells' own times: {c['minutes'].sum():.1f} min; packed on {jobs} job(s): "
                f"{c['minutes'].sum() / jobs:.1f} min (the wall clock's floor without the render)."]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("grid", type=Path, help="the grid file (params/grids/<name>.yaml)")
    ap.add_argument("--root", type=Path, default=Path("outputs/grids"), help="where grid folders live")
    ap.add_argument("--since", default=None, help="ISO time: only runs started and cells finished from then on")
    ap.add_argument("--jobs", type=int, default=None, help="jobs to pack the cells on (default: the runs' largest)")
    a = ap.parse_args()
    print(report(G.load_grid(a.grid, a.root), a.since, a.jobs))


if __name__ == "__main__":
    main()
