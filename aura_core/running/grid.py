"""`aura grid`: a base profile × configurations × seeds, every cell an ordinary run folder.

A grid file (params/grids/<name>.yaml):

    name: diagnosis
    base: ../cpu.yaml                  # profile, relative to the grid file
    seeds: [1, 2, 3]
    baseline: partner_b                # the configuration every factor is compared with
    configs:                           # a listed set: one factor changed per configuration ...
      - {label: partner_b, set: {}}
      - {label: interleaved, factor: "paradigm (pseudo-labels, batch composition)", set: {paradigm: interleaved}}
    # ... or a cartesian product instead of configs:
    # factors: {paradigm: [paired, interleaved], threshold: [0.5, tuned]}

Cells run in outputs/grids/<name>/<label>__seed<seed>/. A finished cell (all five notebooks done) is skipped on a
re-run; --shard i/n takes every n-th cell (each cell in exactly one shard: SLURM arrays, several machines); --jobs N
runs N cells at once on one machine, splitting its cores between them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import papermill as pm
import yaml

from aura_core.base.io import atomic_write_text, read_json, write_json
from aura_core.base.params import ParamError, load, read_profile, to_dict, training_changes
from aura_core.base.run_folder import RunFolder
from aura_core.grids.cell_claim import describe, holder, try_claim
from aura_core.grids.cells import (
    Cell,
    cell_metrics,
    cell_state,
    cell_table,
    disk_bytes,
    ended_job,
    finished,
    first_baseline_cell,
    shard,
    training_cells,
)
from aura_core.grids.spec import Grid
from aura_core.reporting.single_report import write_grid_report
from aura_core.running import reuse, scheduler
from aura_core.running.runner import KERNEL_ARGS, default_notebooks_dir, export_html

GRID_KEEP_CHECKPOINTS = "selected"  # a finished cell keeps its selected weights (enough to --rescore), no resume state


RUNS_FILE = "runs.jsonl"  # one line per `aura grid` run: its measured wall clock


def reusable(grid: Grid, cell: Cell) -> Path | None:
    """A finished training of a grid named in `reuse` that is exactly this cell's, when this cell never started."""
    if not grid.reuse or cell.run.state.is_file():
        return None
    return reuse.find([grid.root / name for name in grid.reuse], load(grid.base, run_overrides(grid, cell)))


def stale_keys(grid: Grid, cell: Cell) -> list[str]:
    """Params in which an existing cell folder was trained differently from what the grid file asks for now (edited
    after it ran). Keys that only decide what it is scored on (EVALUATION_ONLY) are not stale: `--rescore` them."""
    if not cell.run.has_params():
        return []
    return [k for k in training_changes(to_dict(cell.run.read_params()), to_dict(load(grid.base, cell.overrides)))
            if k not in reuse.NAMING_KEYS]


def refuse_stale(grid: Grid, cells_: list[Cell], why: str = "") -> None:
    """Never skip, resume, submit or re-score a cell that ran under other params than the grid file gives now: its
    numbers would be mislabelled. One ParamError naming the folder and the keys."""
    for c in cells_:
        keys = stale_keys(grid, c)
        if keys:
            raise ParamError(f"{c.dir}: ran with other params than {grid.path} gives now ({', '.join(keys)}){why}; "
                             f"move the folder away or give the grid another name")


def run_overrides(grid: Grid, cell: Cell) -> dict:
    """What a cell's `aura run` sets over the grid's profile. Unless the profile or config says otherwise, grid cells
    keep only their selected weights once finished (keep_checkpoints: selected), and a training that no view of the
    grid reads stores no epoch predictions (two passes over every test set saved)."""
    overrides = dict(cell.overrides)
    profile = read_profile(grid.base)
    if "keep_checkpoints" not in overrides and "keep_checkpoints" not in profile:
        overrides["keep_checkpoints"] = GRID_KEEP_CHECKPOINTS
    if "epoch_predictions" not in overrides and "epoch_predictions" not in profile \
            and not any(c.view_of == cell.config.label for c in grid.configs):
        overrides["epoch_predictions"] = False
    return overrides


def cell_command(grid: Grid, cell: Cell) -> list[str]:
    """`aura run` for one cell (--resume when an earlier attempt left a run state)."""
    cmd = [sys.executable, "-m", "aura_core.cli", "run", str(grid.base), "--out", str(cell.dir)]
    if cell.run.state.is_file():
        cmd.append("--resume")  # a cell interrupted earlier continues where it stopped
    overrides = run_overrides(grid, cell)
    for k, v in overrides.items():
        cmd += ["--set", f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"]
    return cmd


def ignore_scheduler_warning() -> None:
    """In the cell's `aura run` (before exec; inherited by its kernels): SLURM's advance warning (USR2, submitit's
    `--signal`) goes to every process of the job, and is for the task that submitit runs to act on (requeue on
    preemption, executors.py), not a reason for the training to die."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def run_cell(grid: Grid, cell: Cell, threads: int, log_dir: Path) -> str:
    """Claim the cell and run it with `aura run` in a subprocess that holds the claim; returns 'ok', 'skipped: …'
    (another live process holds it, or finished it meanwhile), 'interrupted: …' (its run was killed by a signal, as a
    scheduler stops a job: it resumes on the next run) or 'failed: <last error line>' (also in failed.json)."""
    claim = try_claim(cell.dir)
    if claim is None:
        return f"skipped: held by {describe(holder(cell.dir))}"
    try:
        if claim.took_over:
            print(f"[grid] {cell.id}: taking over the claim of {describe(claim.took_over)}: its process is gone",
                  flush=True)
        if finished(cell):
            return "skipped: finished by another process"
        source = reusable(grid, cell)
        if source is not None:
            reuse.adopt(source, cell.dir)
            return f"reused: {source} (trained exactly as this cell; copied, not trained again)"
        for stale in (cell.run.failed, cell.run.queued):  # this attempt replaces the last one's record
            stale.unlink(missing_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / f"{cell.id}.log", "w") as log:
            rc = subprocess.run(cell_command(grid, cell), stdout=log, stderr=subprocess.STDOUT, env=env,
                                pass_fds=(claim.fd,), preexec_fn=ignore_scheduler_warning).returncode
        if rc == 0:
            return "ok"
        if rc < 0:  # killed by a signal (cancelled, preempted, timed out): interrupted, resumable, not a failure
            return f"interrupted: its run was killed by {signal.Signals(-rc).name}"
        lines = [line for line in (log_dir / f"{cell.id}.log").read_text().strip().splitlines()
                 if line.strip() and "%|" not in line]   # the last line that is not a progress bar
        status = f"failed: {lines[-1] if lines else f'exit {rc}'}"
        write_json(cell.run.failed, {"status": status, "log": str(log_dir / f"{cell.id}.log"),
                                            "at": time.strftime("%Y-%m-%d %H:%M:%S")})
        return status
    finally:
        claim.release()


def expected_work(grid: Grid, cell: Cell) -> tuple[int, bool]:
    """What orders the cells, not a time estimate: training rows × epochs (a row count left to the whole set counts as
    the largest), then whether it also stores test-set predictions for views."""
    p = load(grid.base, run_overrides(grid, cell))
    whole = 10 ** 9
    rows = (p.olid_train_rows or whole) + ((p.goemotions_train_rows or whole) if "emotion" in p.tasks else 0)
    return rows * p.epochs, p.epoch_predictions


def longest_first(grid: Grid, pending: list[Cell]) -> list[Cell]:
    """The cells in decreasing expected work, ties in grid order: with --jobs N the workers take cells in this order,
    so the last to start are the shortest and no worker waits long on the others at the end (the fidelity grid's
    10,000-row cells first, the factorial's single-task control last)."""
    work = {c.id: expected_work(grid, c) for c in pending}
    return sorted(pending, key=lambda c: work[c.id], reverse=True)


def run_grid(grid: Grid, jobs: int = 1, shard_spec: str | None = None, dry_run: bool = False) -> pd.DataFrame:
    todo = shard(training_cells(grid), shard_spec)
    refuse_stale(grid, todo)
    status = {}
    pending = []
    for c in todo:
        if finished(c):
            status[c.id] = "finished earlier (skipped)"
        else:
            pending.append(c)
    pending = longest_first(grid, pending)
    print(f"[grid] {grid.name}: {len(todo)} cells in this shard, {len(todo) - len(pending)} finished, "
          f"{len(pending)} to run with {jobs} job(s)", flush=True)
    if dry_run:
        for c in pending:
            source = reusable(grid, c)
            print(f"[grid] would reuse {source} for {c.id}" if source else f"[grid] would run {c.id}: {c.overrides}")
        return summarize(grid)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    started = time.time()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for c, st in zip(pending, pool.map(lambda c: run_cell(grid, c, threads, grid.dir / "logs"), pending)):
                status[c.id] = st
                print(f"[grid] {c.id}: {st}", flush=True)
        write_json(grid.dir / f"status{'' if not shard_spec else '_' + shard_spec.replace('/', 'of')}.json", status)
        return finish_grid(grid, status, ran=bool(pending))
    finally:
        log_invocation(grid, started, jobs, shard_spec, pending, status)


def log_invocation(grid: Grid, started: float, jobs: int, shard_spec: str | None, pending: list[Cell],
                   status: dict[str, str]) -> None:
    """One line of <grid>/runs.jsonl per `aura grid` that ran: when, with how many jobs on how many cores, which
    cells it ran and how they ended, whether it rendered — a grid's wall clock is measured, not reconstructed from
    file times (benchmarks/grid_times.py reads it). Ctrl-C logs what ran so far; a killed process leaves no line."""
    report = RunFolder(grid.dir / "compare").report
    line = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "ended": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.time() - started, 1), "jobs": jobs,
            "cpus": os.cpu_count(), "shard": shard_spec, "ran": [c.id for c in pending],
            "ended_as": {c.id: status.get(c.id, "interrupted") for c in pending},
            "rendered": report.is_file() and report.stat().st_mtime >= started}
    grid.dir.mkdir(parents=True, exist_ok=True)
    with open(grid.dir / RUNS_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")


def report_is_current(grid: Grid) -> bool:
    """The grid view was rendered after the grid file, its base profile and every training cell's metrics and params
    last changed: a finished grid run again (to continue, or by a chain of grids) need not render it again."""
    report = RunFolder(grid.dir / "compare").report
    if not report.is_file():
        return False
    inputs = [grid.path, grid.base, *(f for c in training_cells(grid) for f in (c.run.metrics, c.run.params))]
    return report.stat().st_mtime >= max(f.stat().st_mtime for f in inputs if f.is_file())


def finish_grid(grid: Grid, status: dict[str, str], ran: bool = True) -> pd.DataFrame:
    """Summary; the grid view once every cell has finished (by whichever process: one renders it), unless this
    invocation ran nothing and the view is newer than everything it reads (`--render` renders it regardless, e.g.
    after a code change); failures raised."""
    table = summarize(grid)
    all_finished = (table["status"] == "finished").all()
    if all_finished and not ran and report_is_current(grid):
        print(f"[grid] compare: up to date ({RunFolder(grid.dir / 'compare').report} is newer than every cell; "
              f"--render renders it again)", flush=True)
    elif all_finished:
        claim = try_claim(grid.dir / "compare")
        if claim is None:
            print(f"[grid] compare: being rendered by {describe(holder(grid.dir / 'compare'))}", flush=True)
        else:
            try:
                render_compare(grid)
            finally:
                claim.release()
    failed = {k: v for k, v in status.items() if v.startswith("failed")}
    if failed:
        raise RuntimeError(f"{len(failed)} grid cell(s) failed, first: {next(iter(failed))}: {next(iter(failed.values()))}")
    return table


def grid_status(grid: Grid) -> pd.DataFrame:
    """`aura grid --status`: one row per cell, read from the cell folders and, for cells submitted to SLURM, from the
    scheduler (the `scheduler` column: its state of the cell's newest job). A queued cell whose job the scheduler no
    longer knows is `lost`; one whose job ended before the cell started is `failed`, named as the scheduler names it."""
    cells_ = training_cells(grid)
    jobs = {c.id: scheduler.last_job(c.dir) for c in cells_}
    said = scheduler.job_states(jobs)
    rows = []
    for c in cells_:
        state, detail, job = cell_state(c), "", jobs[c.id]
        word = said.get(c.id, "")
        if state == "running":
            detail = "; ".join(x for x in (describe(holder(c.dir)), c.run.training_progress()) if x)
        elif state == "failed" and c.run.failed.is_file():
            detail = read_json(c.run.failed)["status"]
        elif state == "failed":
            detail = f"its job ended before the cell started: see {ended_job(c).relative_to(grid.dir)}"
        elif state == "interrupted" and word and word not in scheduler.ENDED | {scheduler.LOST, scheduler.GONE}:
            # stopped mid-run, and its job is back in the queue (preempted and requeued): that job resumes it
            state, detail = "queued", f"requeued: job {job['job_id']} ({word}) resumes it when it runs"
        elif state == "interrupted":
            progress = c.run.training_progress()
            detail = f"stopped at {progress}; resumes from its last checkpoint" if progress else ""
        elif state == "queued" and word in (scheduler.LOST, scheduler.GONE):
            state, detail = "lost", (f"job {job['job_id']}: the scheduler no longer knows it (not queued, "
                                     + ("not in its accounting" if word == scheduler.LOST else "no accounting to ask")
                                     + "); submit the grid again")
        elif state == "queued" and word in scheduler.ENDED:
            state, detail = "failed", f"job {job['job_id']} ended ({word}) before the cell started"
        elif state == "queued":
            detail = f"job {read_json(c.run.queued).get('job_id')}"
        elif state == "finished" and c.run.reused.is_file():
            detail = f"reused from {read_json(c.run.reused)['from']}"
        rows.append({"cell": c.id, "state": state, "scheduler": f"{word} (job {job['job_id']})" if word else "",
                     "detail": detail, "disk_mb": round(disk_bytes(c.dir) / 1e6, 1)})
    return pd.DataFrame(rows)


def summarize(grid: Grid) -> pd.DataFrame:
    """cell_table written as the grid's summary.csv / summary.json."""
    table = cell_table(grid)
    grid.dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(grid.dir / "summary.csv", table.to_csv(index=False))
    write_json(grid.dir / "summary.json", {"grid": grid.name, "base": str(grid.base), "baseline": grid.baseline,
                                           "seeds": grid.seeds, "disk_mb": round(disk_bytes(grid.dir) / 1e6, 1),
                                           "cells": table.to_dict("records")})
    return table


def render_compare(grid: Grid) -> Path:
    """05_compare in grid view, executed into <grid>/compare/ (the single-run tables show the baseline's first seed)."""


    first = first_baseline_cell(grid)
    if first is None:
        raise ParamError(f"{grid.path}: no finished cell of the baseline {grid.baseline!r} to render the compare from")
    out = grid.dir / "compare"
    out.mkdir(parents=True, exist_ok=True)
    write_json(RunFolder(out).metrics, cell_metrics(first))  # a view's numbers when the baseline is a view
    p = first.run.read_params()
    p.claims = load(grid.base).claims  # the grid's claims file now, not the path the cell saw on its machine
    RunFolder(out).write_params(p)
    nb = RunFolder(out).grid_notebook
    # paths relative to the kernel's cwd (the compare folder): the page shows no path of this machine
    pm.execute_notebook(str(default_notebooks_dir() / "05_compare.ipynb"), str(nb), kernel_name="python3",
                        parameters={"run_dir": ".", "grid_file": os.path.relpath(grid.path.resolve(), out.resolve()),
                                    "grid_root": os.path.relpath(grid.root.resolve(), out.resolve())},
                        progress_bar=False, cwd=str(out), extra_arguments=KERNEL_ARGS)
    export_html(nb, RunFolder(out).grid_page, out)
    report = write_grid_report(out, grid)
    print(f"[grid] compare: {RunFolder(out).grid_page}; one file to send: {report} "
          f"({report.stat().st_size / 1e6:.1f} MB)", flush=True)
    return out
