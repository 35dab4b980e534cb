"""`aura grid --executor slurm|local`: one submitit job-array task per cell that is not finished.

Each task claims its cell and runs it as `aura grid` would (grid.run_cell), so a cell is trained once however many
submissions overlap, and a task that is cancelled, preempted, requeued or timed out leaves a resume state that the
next task for that cell continues from. What each cell was given is kept in its jobs.json (scheduler.record_job), so
`aura grid --status` can ask the scheduler what became of it.

Preemption and time limits: SLURM signals the job (USR2, `--signal`) before it stops it. On preemption submitit
requeues the job and the requeued task resumes the cell. On a time limit the task does not requeue itself (a cell that
cannot finish inside the limit would loop): it trains on until the scheduler stops it (TIMEOUT), and
`aura grid --executor slurm` resubmits it, with a longer `timeout_min=` if need be, to resume.
"""
from __future__ import annotations

import os
import re
import signal
import time

import pandas as pd
import yaml

from aura_core.base.io import read_json, write_json
from aura_core.base.params import ParamError
from aura_core.grids.cells import cell_state, shard, training_cells
from aura_core.grids.spec import Grid, load_grid
from aura_core.running.grid import finish_grid, grid_status, refuse_stale, run_cell
from aura_core.running.scheduler import record_job, wait_until_known

LOCAL_EXECUTOR_KEYS = {"timeout_min", "gpus_per_node", "visible_gpus", "tasks_per_node", "nodes"}
SLURM_ALIASES = {"timeout_min": "time", "name": "job_name"}  # submitit's generic names → SlurmExecutor's
RESUBMIT = ("pending", "failed", "interrupted", "lost")       # the cell states a submission takes


def executor_parameters(options: list[str], executor: str) -> tuple[dict, list[str]]:
    """--slurm key=value → (the executor's parameters, keys the local executor ignores). Keys are SlurmExecutor's
    (partition, gpus_per_node, cpus_per_task, mem, time, array_parallelism, account, qos, …; a slurm_ prefix is
    dropped), plus submitit's generic timeout_min, mem_gb and name."""
    params, ignored = {}, []
    for item in options:
        if "=" not in item:
            raise ParamError(f"--slurm {item!r}: expected key=value")
        key, value = item.split("=", 1)
        key = key.strip().removeprefix("slurm_")
        if key in ("time", "timeout_min"):   # not YAML: it reads "1:30:00" as a base-60 integer (5400)
            key, value = "timeout_min", slurm_minutes(value, item)
        else:
            value = yaml.safe_load(value)
        if executor == "slurm":
            if key == "mem_gb":
                key, value = "mem", f"{value}GB"
            params[SLURM_ALIASES.get(key, key)] = value
        elif key in LOCAL_EXECUTOR_KEYS:
            params[key] = value
        else:
            ignored.append(key)
    return params, ignored


def slurm_minutes(spelled: str, item: str) -> int:
    """A time limit in whole minutes (rounded up), from any of SLURM's forms: minutes, minutes:seconds,
    hours:minutes:seconds, days-hours, days-hours:minutes, days-hours:minutes:seconds. submitit wants minutes: it
    computes when the task times out from them."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", spelled.strip())
    if not m:
        raise ParamError(f"--slurm {item!r}: not a SLURM time limit (minutes, MM:SS, HH:MM:SS or D-HH:MM:SS)")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is not None:       # days-hours[:minutes[:seconds]]
        hours, minutes, seconds = a, b or 0, c or 0
    elif c is not None:        # hours:minutes:seconds
        hours, minutes, seconds = a, b, c
    else:                      # minutes[:seconds]
        hours, minutes, seconds = 0, a, b or 0
    total = ((days or 0) * 24 + hours) * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ParamError(f"--slurm {item!r}: a time limit must be longer than zero")
    return -(-total // 60)


def let_the_scheduler_stop_a_timed_out_task() -> None:
    """Inside a submitit SLURM task: keep submitit's requeue on preemption, but on a time limit neither requeue nor
    stop early: the cell trains on until SLURM stops it (TIMEOUT), leaving its resume state (module docstring)."""
    handler = signal.getsignal(signal.SIGUSR2)
    owner = getattr(handler, "__self__", None)
    if owner is None or not hasattr(owner, "has_timed_out"):
        return  # not under submitit's SLURM signal handling (the local executor, a plain call)

    def on_signal(signum, frame):
        if owner.has_timed_out():
            print("[grid] the job's time limit is near: the cell trains on until the scheduler stops it; resubmit the "
                  "grid to resume it", flush=True)
            return
        handler(signum, frame)  # preempted: submitit requeues the job, and the requeued task resumes the cell

    signal.signal(signal.SIGUSR2, on_signal)


def run_cell_job(grid_path: str, root: str, cell_id: str) -> str:
    """One array task: the cell named cell_id of the grid, claimed and run on the task's cores. A cell that fails
    raises, so that the scheduler records the task as FAILED."""
    let_the_scheduler_stop_a_timed_out_task()
    grid = load_grid(grid_path, root)
    cell = next(c for c in training_cells(grid) if c.id == cell_id)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = int(os.environ.get("SLURM_CPUS_PER_TASK", cores))
    status = run_cell(grid, cell, threads, grid.dir / "logs")
    if status.startswith("failed"):
        raise RuntimeError(f"{cell_id}: {status}")
    return status


def submit_grid(grid: Grid, executor: str, options: list[str] | None = None, wait: bool = True,
                shard_spec: str | None = None) -> pd.DataFrame | None:
    """Submit one job-array task per cell in a RESUBMIT state (as --status reads it) through submitit (executor
    "slurm", or "local": submitit's local executor, the same code path without a cluster). wait=False returns once
    submitted (`--status` then follows it from the cell folders and the scheduler)."""
    import submitit
    mine = shard(training_cells(grid), shard_spec)
    refuse_stale(grid, mine)   # finished cells too: the grid view would show their numbers under the wrong params
    states = grid_status(grid).set_index("cell")["state"]
    todo = [c for c in mine if states[c.id] in RESUBMIT]
    print(f"[grid] {grid.name}: submitting {len(todo)} cell(s) to the {executor} executor", flush=True)
    if not todo:
        return finish_grid(grid, {}) if wait else None
    submitted = time.strftime("%Y-%m-%d %H:%M:%S")
    for c in todo:  # written before submission: a task that starts at once removes it when it claims the cell
        write_json(c.run.queued, {"job_id": None, "executor": executor, "submitted": submitted})
    params, ignored = executor_parameters(options or [], executor)
    if ignored:
        print(f"[grid] the local executor ignores: {', '.join(ignored)}", flush=True)
    folder = grid.dir / "submitit" / "%j"
    if executor == "slurm":
        ex = submitit.SlurmExecutor(folder=folder)
        ex.update_parameters(**{"job_name": f"aura-{grid.name}", "time": 24 * 60, **params})
    else:
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(**{"timeout_min": 24 * 60, **params})
    jobs = ex.map_array(run_cell_job, [str(grid.path.resolve())] * len(todo), [str(grid.root.resolve())] * len(todo),
                        [c.id for c in todo])
    for c, job in zip(todo, jobs):
        record_job(c.dir, job.job_id, executor, submitted)
        queued = c.run.queued
        try:  # the job id, unless the task has started (and removed the file) already
            write_json(queued, {**read_json(queued), "job_id": job.job_id})
        except FileNotFoundError:
            pass
        print(f"[grid] {c.id}: queued as job {job.job_id}", flush=True)
    if executor == "slurm":
        wait_until_known([job.job_id for job in jobs])
    if not wait:
        return None
    status = {}
    for c, job in zip(todo, jobs):
        try:
            status[c.id] = job.result()
        except Exception as e:  # the task died or was stopped (cancelled, timed out): its log is in the submitit folder
            status[c.id] = f"failed: job {job.job_id}: {type(e).__name__}: {str(e).strip().splitlines()[-1][:200]}"
            if not c.run.failed.is_file() and cell_state(c) != "finished":
                write_json(c.run.failed, {"status": status[c.id], "at": time.strftime("%Y-%m-%d %H:%M:%S")})
        print(f"[grid] {c.id}: {status[c.id]}", flush=True)
    return finish_grid(grid, status)

