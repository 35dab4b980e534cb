"""What the scheduler says about a grid's jobs: every job a cell was given (kept in the cell folder, so a cell's
history outlives its queued marker), and the scheduler's own state of each, from `sacct` (accounting) or, where
accounting is not set up, `squeue` (jobs it still holds).

A cell folder says what the cell did (finished, interrupted, failed, queued); the scheduler says what happened to the
job (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, PREEMPTED, TIMEOUT, OUT_OF_MEMORY, …). `aura grid --status`
shows both, so a job the scheduler cancelled, timed out or forgot is named as the scheduler names it.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from aura_core.base.io import read_json, write_json

JOBS_FILE = "jobs.json"   # in a cell folder: every job it was given, oldest first
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "PREEMPTED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
         "DEADLINE", "REVOKED"}
LOST = "lost"             # a job the scheduler no longer knows (neither queued nor in its accounting)
GONE = "gone"             # not in the queue, and no accounting (sacct) to say how it ended


def record_job(cell_dir: Path, job_id: str, executor: str, submitted: str) -> None:
    """Append a job the cell was given to its jobs.json."""
    path = Path(cell_dir) / JOBS_FILE
    jobs = read_json(path) if path.is_file() else []
    write_json(path, jobs + [{"job_id": str(job_id), "executor": executor, "submitted": submitted}])


def last_job(cell_dir: Path) -> dict | None:
    """The newest job the cell was given ({job_id, executor, submitted}), or None when it never went to a scheduler."""
    path = Path(cell_dir) / JOBS_FILE
    jobs = read_json(path) if path.is_file() else []
    return jobs[-1] if jobs else None


def _run(cmd: list[str]) -> str | None:
    """A scheduler command's stdout, or None when it is not installed or fails (no controller, no accounting)."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def state_word(state: str) -> str:
    """sacct's 'CANCELLED by 0' → 'CANCELLED'; squeue's and sacct's other states as they are."""
    return state.split()[0].rstrip("+") if state.strip() else ""


def slurm_states(job_ids: list[str]) -> tuple[dict[str, str], bool] | None:
    """({job id: SLURM state} for the ids SLURM knows (array tasks as '<job>_<task>'), whether accounting answered);
    None when SLURM cannot be asked at all (no squeue, or its controller does not answer). squeue's word wins for
    live jobs; sacct adds ended ones."""
    ids = sorted({str(j) for j in job_ids if j})
    queue = _run(["squeue", "-h", "-r", "-o", "%i|%T"])
    if queue is None:
        return None
    states: dict[str, str] = {}
    accounting = _run(["sacct", "-n", "-P", "-X", "-j", ",".join(ids), "--format=JobID,State"]) if ids else ""
    for line in (accounting or "").splitlines():
        job, _, state = line.partition("|")
        if job in ids:
            states[job] = state_word(state)
    for line in queue.splitlines():
        job, _, state = line.partition("|")
        if job in ids:
            states[job] = state_word(state)
    return states, accounting is not None


def job_states(cells_jobs: dict[str, dict | None]) -> dict[str, str]:
    """{cell id: the scheduler's state of its newest job} for the cells given a SLURM job. A job SLURM does not know
    is LOST where accounting answers (it forgot the job), GONE where only the queue could be asked (it has left the
    queue, how is unknown). Cells of other executors, or when SLURM cannot be asked, are left out."""
    slurm = {cell: job for cell, job in cells_jobs.items() if job and job.get("executor") == "slurm"}
    if not slurm:
        return {}
    answer = slurm_states([job["job_id"] for job in slurm.values()])
    if answer is None:
        return {}
    states, accounting = answer
    return {cell: states.get(job["job_id"], LOST if accounting else GONE) for cell, job in slurm.items()}


def wait_until_known(job_ids: list[str], timeout_s: float = 30) -> None:
    """Accounting records a job a moment after sbatch returns: wait until squeue or sacct knows each id, so that a
    --status right after a submission does not call a job lost."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        answer = slurm_states(job_ids)
        if answer is None or all(j in answer[0] for j in job_ids):
            return
        time.sleep(0.5)
