"""`aura grid --executor slurm` on a real scheduler: slurmctld, slurmd and slurmdbd from Debian's packages
(tests/slurm/cluster.sh, one cluster for the whole test run). Every grid is submitted at the start, so the cluster's
cores are busy while the tests act on it: a task is requeued (preemption) and another cancelled mid-training, a cell
fails, a grid is submitted twice at once, a time limit is too short. Each test then checks what the scheduler says
(sacct) against `aura grid --status`, and that every interrupted cell resumed rather than restarted."""
import json
import pickle
import re
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
import yaml
from conftest import REPO, make_fixture_data, write_tiny_base

from aura_core.base.run_folder import NOTEBOOKS
from aura_core.running import scheduler

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
ONE_CORE = ["--slurm", "cpus_per_task=1"]
# paired trains long enough (60 epochs, ≈ 10 s, a resume state every step) to be requeued and cancelled mid-training
TWO = [{"label": "paired", "set": {"epochs": 60}},
       {"label": "masked", "factor": "pseudo_labels", "set": {"paradigm": "masked"}}]


def aura_grid(root, name, *args):
    return subprocess.Popen([sys.executable, "-m", "aura_core.cli", "grid", str(root / f"{name}.yaml"), "--root",
                             str(root / "out"), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)


def run(proc, timeout=600):
    out = proc.communicate(timeout=timeout)[0]
    assert proc.returncode == 0, out
    return out


def wait_for(what, check, timeout=420, every=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def job_of(cell_dir):
    return scheduler.last_job(cell_dir)["job_id"]


def sacct(job):
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job, "--format=State"], capture_output=True, text=True)
    return scheduler.state_word(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else ""


def finished(cell_dir):
    state = cell_dir / "run_state.json"
    return state.is_file() and json.loads(state.read_text())["completed"] == NOTEBOOKS


def mid_training(cell_dir):
    """Training has written a resume state and is still running (not yet at train.json)."""
    steps = cell_dir / "steps.csv"
    return ((cell_dir / "checkpoints" / "resume.safetensors").is_file() and steps.is_file()
            and len(steps.read_text().splitlines()) >= 3 and not (cell_dir / "train.json").is_file())


def status_rows(root, name):
    """`aura grid --status` as {cell: (state, scheduler word, job, detail)}."""
    out = run(aura_grid(root, name, "--status"), timeout=120)
    rows = {}
    for line in out.splitlines()[1:]:
        m = re.match(r"(\S+__seed\d+)\s+(\S+)\s+(?:(\S+) \(job (\S+)\))?\s*(.*?)\s+[\d.]+$", line)
        if m:
            rows[m[1]] = (m[2], m[3] or "", m[4] or "", m[5].strip())
    return rows


def task_results(grid_dir):
    """{job id: (outcome, value)} from every ended task's submitit result pickle."""
    return {f.parent.name: pickle.loads(f.read_bytes()) for f in (grid_dir / "submitit").glob("*/*_result.pkl")}


def scores(cell_dir):
    """What a run computed: every tier's scores and the tuned threshold."""
    metrics = json.loads((cell_dir / "metrics.json").read_text())
    return metrics["stress"]["tiers"], metrics["tune"]["threshold"]


@pytest.fixture(scope="module")
def cluster(slurm_cluster, tmp_path_factory, tiny_encoder):
    """Four grids submitted to the cluster at once (--no-wait), and everything the tests then do to them started in
    background threads, so that the waits overlap and the tests only read what happened:
    - `slow`, first (its cell holds a core from the start): a cell whose training alone takes ≈ 110 s (1,000 tiny
      epochs at ≈ 9 a second, after ≈ 15 s of data preparation and kernel starts) under a one-minute limit, which
      SLURM enforces 60–90 s in, so always mid-training; resubmitted once it is a TIMEOUT;
    - `a` (2 configs × 2 seeds, deterministic): one paired cell requeued (what a preemption does) and the other
      cancelled as soon as they train; resubmitted once the cancel is in sacct and the other three cells finished;
    - `ref`: the cancelled cell's twin, submitted twice at the same moment (the uninterrupted reference);
    - `bad`: a cell whose data folder does not exist."""
    root = tmp_path_factory.mktemp("slurm_grids")
    write_tiny_base(root / "base.yaml", make_fixture_data(root / "data"), tiny_encoder, deterministic=True,
                    checkpoint_every=1, epochs=2)
    grids = {"slow": ([9], [{"label": "long", "set": {"epochs": 1000}}]), "a": ([5, 6], TWO),
             "ref": ([6], TWO[:1]),
             "bad": ([7], [{"label": "broken", "set": {"data_dir": str(root / "no_data_here")}}])}
    for name, (seeds, configs) in grids.items():
        (root / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "seeds": seeds,
                                                           "baseline": configs[0]["label"], "configs": configs}))
    submitted = {"slow": run(aura_grid(root, "slow", "--executor", "slurm", "--no-wait", *ONE_CORE,
                                       "--slurm", "timeout_min=1"))}
    submitted["a"] = run(aura_grid(root, "a", "--executor", "slurm", "--no-wait", *ONE_CORE))
    a, slow = root / "out" / "a", root / "out" / "slow" / "long__seed9"
    done = {}   # what each background thread saw or did, or the error it met
    threads = [threading.Thread(target=interrupt_mid_training, args=(a / cell, cmd, done), daemon=True)
               for cell, cmd in (("paired__seed5", ["scontrol", "requeue"]), ("paired__seed6", ["scancel"]))]
    threads += [threading.Thread(target=resubmit_when, daemon=True, args=(root, "slow", done, lambda: (
                    sacct(job_of(slow)) == "TIMEOUT"
                    and status_rows(root, "slow")[slow.name][0] == "interrupted"))),
                threading.Thread(target=resubmit_when, daemon=True, args=(root, "a", done, lambda: (
                    "paired__seed6" in done and sacct(job_of(a / "paired__seed6")) == "CANCELLED"
                    and all(finished(a / c) for c in ("paired__seed5", "masked__seed5", "masked__seed6"))
                    and status_rows(root, "a")["paired__seed6"][0] == "interrupted")))]
    for t in threads:
        t.start()
    later = {"ref": [aura_grid(root, "ref", "--executor", "slurm", "--no-wait", *ONE_CORE) for _ in range(2)],
             "bad": aura_grid(root, "bad", "--executor", "slurm", "--no-wait", *ONE_CORE)}
    submitted |= {name: [run(p) for p in procs] if isinstance(procs, list) else run(procs)
                  for name, procs in later.items()}
    return SimpleNamespace(root=root, out=root / "out", submitted=submitted, done=done, threads=threads)


class Failed(str):
    """What a background thread met instead of doing its part."""


def interrupt_mid_training(cell_dir, command, done):
    """Wait until the cell trains (a resume state written, train.json not yet), then stop its job with command
    (scontrol requeue: what a preemption does; scancel); done[cell] = the job id, or an error."""
    try:
        wait_for(f"{cell_dir.name} mid-training", lambda: mid_training(cell_dir), 600, every=0.05)
        job = job_of(cell_dir)
        subprocess.run([*command, job], check=True, capture_output=True)
        done[cell_dir.name] = job
    except Exception as e:  # noqa: BLE001  (the test names it)
        done[cell_dir.name] = Failed(f"{type(e).__name__}: {e}")


def resubmit_when(root, name, done, ready):
    """Once ready(): done[name] = (`--status` rows just before, the output of `aura grid --executor slurm` resubmitting
    the grid and waiting for it), or the error met."""
    try:
        wait_for(f"grid {name} ready to resubmit", ready, 420, every=1)
        rows = status_rows(root, name)
        done[name] = (rows, run(aura_grid(root, name, "--executor", "slurm", *ONE_CORE)))
    except Exception as e:  # noqa: BLE001  (the test names it)
        done[name] = Failed(f"{type(e).__name__}: {e}")


def joined(cluster, *names):
    """What the background threads did for names, once they have all ended."""
    for t in cluster.threads:
        t.join(timeout=600)
    wrong = {n: cluster.done.get(n, "never ran") for n in names if n not in cluster.done
             or isinstance(cluster.done[n], Failed)}
    assert not wrong, wrong
    return [cluster.done[n] for n in names]


def test_requeued_and_cancelled_cells_resume_and_status_agrees_with_sacct(cluster):
    a = cluster.out / "a"
    preempted, cancelled = a / "paired__seed5", a / "paired__seed6"
    assert cluster.submitted["a"].count("queued as job") == 4
    (before, again), requeue_job, cancel_job = joined(cluster, "a", preempted.name, cancelled.name)
    assert before[cancelled.name][:3] == ("interrupted", "CANCELLED", cancel_job)   # --status named the cancel
    assert {before[c][:2] for c in (preempted.name, "masked__seed5", "masked__seed6")} == {("finished", "COMPLETED")}
    assert before[preempted.name][2] == requeue_job == job_of(preempted)           # the requeued task finished it
    assert "submitting 1 cell(s)" in again and f"{cancelled.name}: ok" in again, again   # only what is not finished
    assert again.count("[grid] compare:") == 1 and (a / "compare" / "report.html").is_file()
    rows = status_rows(cluster.root, "a")
    for cell, (state, said, job, _) in rows.items():
        assert job == job_of(a / cell) and said == sacct(job), (cell, rows[cell])   # --status says what sacct says
        assert (state, said) == ("finished", "COMPLETED"), (cell, rows[cell])
    assert job_of(cancelled) != cancel_job                                          # the resubmission's task
    for cell in ("paired__seed5", "paired__seed6", "masked__seed5", "masked__seed6"):
        resumed = json.loads((a / cell / "train.json").read_text())["resumed"]
        assert resumed == (cell in (preempted.name, cancelled.name)), cell          # resumed mid-training, not restarted
        assert (a / "logs" / f"{cell}.log").read_text().count("[aura] 02_train done") == 1
    ref = cluster.out / "ref" / cancelled.name
    wait_for("the reference cell", lambda: finished(ref))
    assert scores(cancelled) == scores(ref)                                         # = an uninterrupted run


def test_two_overlapping_submissions_train_each_cell_once(cluster):
    """Two submissions at the same moment: each takes the cell if it sees it pending, so the second takes it or not
    depending on when it reads the first's queued marker; whichever, the cell is trained exactly once (the cell
    claim) and every task the two submitted completes."""
    ref = cluster.out / "ref"
    queued = [out.count("queued as job") for out in cluster.submitted["ref"]]
    assert 1 <= sum(queued) <= 2 and max(queued) == 1, queued
    wait_for("both submissions' tasks", lambda: len(task_results(ref)) == sum(queued))
    results = task_results(ref)
    assert {outcome for outcome, _ in results.values()} == {"success"}, results
    assert all(sacct(job) == "COMPLETED" for job in results)
    assert finished(ref / "paired__seed6")
    assert (ref / "logs" / "paired__seed6.log").read_text().count("[aura] 02_train done") == 1
    assert json.loads((ref / "paired__seed6" / "train.json").read_text())["resumed"] is False
    said = sorted(value.split(":")[0] for _, value in results.values())
    assert said.count("ok") == 1, said                   # one task trained; the other, if any, found it held or done


def test_a_failing_cell_is_failed_in_sacct_and_named_in_status(cluster):
    bad = cluster.out / "bad" / "broken__seed7"
    wait_for("the failing task", lambda: sacct(job_of(bad)) == "FAILED")
    state, said, job, detail = status_rows(cluster.root, "bad")[bad.name]
    assert (state, said, job) == ("failed", "FAILED", job_of(bad))
    assert "no_data_here" in detail, detail                        # the cell's last error line
    # the other grids' cells, all finished, are checked by the other tests


def test_a_time_limit_is_a_timeout_and_resubmission_resumes(cluster):
    slow = cluster.out / "slow" / "long__seed9"
    ((before, again),) = joined(cluster, "slow")
    assert before[slow.name][:2] == ("interrupted", "TIMEOUT")
    assert "submitting 1 cell(s)" in again and "long__seed9: ok" in again, again
    assert "finished earlier, skipped (--resume)" in (cluster.out / "slow" / "logs" / "long__seed9.log").read_text()
    assert json.loads((slow / "train.json").read_text())["resumed"] is True
    assert finished(slow) and sacct(job_of(slow)) == "COMPLETED"
