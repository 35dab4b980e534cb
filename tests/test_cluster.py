"""Beyond one machine: cell claims that die with their process, submitit executors, grid status, disk budget."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import REPO, write_tiny_base

from aura_core import grids as G
from aura_core.base.params import ParamError
from aura_core.base.run_folder import NOTEBOOKS, RunFolder
from aura_core.grids import cell_claim
from aura_core.running import executors as E
from aura_core.running import grid as R
from aura_core.training.checkpoints import prune

CLAIM_AND_SLEEP = """
import sys, time
sys.path.insert(0, {repo!r})
from aura_core.grids.cell_claim import try_claim
claim = try_claim({cell!r})
print("claimed" if claim else "held", flush=True)
time.sleep(60 if claim else 0)
"""


def claimer(cell):
    return subprocess.Popen([sys.executable, "-c", CLAIM_AND_SLEEP.format(repo=str(REPO), cell=str(cell))],
                            stdout=subprocess.PIPE, text=True)


def test_a_claim_is_exclusive_and_dies_with_its_process(tmp_path):
    cell = tmp_path / "c__seed1"
    mine = cell_claim.try_claim(cell)
    assert mine is not None and cell_claim.is_held(cell)
    other = claimer(cell)
    assert other.stdout.readline().strip() == "held" and other.wait(timeout=30) == 0
    assert cell_claim.holder(cell)["pid"] == os.getpid()
    mine.release()
    assert not cell_claim.is_held(cell) and cell_claim.holder(cell) is None
    victim = claimer(cell)                         # claims, then is killed without releasing anything
    assert victim.stdout.readline().strip() == "claimed" and cell_claim.is_held(cell)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert not cell_claim.is_held(cell)             # the kernel dropped the lock with the process
    assert cell_claim.holder(cell)["pid"] == victim.pid   # its claim.json is left behind …
    taken = cell_claim.try_claim(cell)
    assert taken.took_over["pid"] == victim.pid     # … and taken over, saying whose it was
    taken.release()


def test_executor_options_map_to_submitit_parameters():
    options = ["partition=gpu", "gpus_per_node=1", "timeout_min=240", "array_parallelism=8", "slurm_account=nlp",
               "mem_gb=32"]
    assert E.executor_parameters(options, "slurm") == ({"partition": "gpu", "gpus_per_node": 1, "time": 240,
                                                        "array_parallelism": 8, "account": "nlp", "mem": "32GB"}, [])
    assert E.executor_parameters(options, "local") == ({"gpus_per_node": 1, "timeout_min": 240},
                                                       ["partition", "array_parallelism", "account", "mem_gb"])
    from submitit.slurm.slurm import SlurmExecutor, _make_sbatch_string
    params = E.executor_parameters(options, "slurm")[0]
    assert set(params) <= SlurmExecutor._valid_parameters()       # SlurmExecutor's own names (no SLURM here)
    sbatch = _make_sbatch_string(command="x", folder="/tmp/f", map_count=20, **params)   # what the job array asks for
    for line in ("--partition=gpu", "--gpus-per-node=1", "--time=240", "--array=0-19%8", "--account=nlp",
                 "--mem=32GB"):
        assert f"#SBATCH {line}\n" in sbatch, sbatch
    for spelled, minutes in (("90", 90), ("1:30:00", 90), ("0:30", 1), ("2:01", 3), ("2-00:00:00", 2880),
                             ("1-2", 1560), ("0-0:45", 45)):   # SLURM's forms, not YAML's base-60 integers
        for key in ("time", "timeout_min"):
            assert E.executor_parameters([f"{key}={spelled}"], "slurm")[0] == {"time": minutes}, spelled
            assert E.executor_parameters([f"{key}={spelled}"], "local")[0] == {"timeout_min": minutes}, spelled
    for bad in ("1:30pm", "0", "0:00", "soon"):
        with pytest.raises(ParamError, match=f"--slurm 'time={bad}': "):
            E.executor_parameters([f"time={bad}"], "slurm")
    with pytest.raises(ParamError, match="--slurm 'partition': expected key=value"):
        E.executor_parameters(["partition"], "slurm")


def fake_checkpoints(run, selected="checkpoints/best.safetensors"):
    (run / "checkpoints").mkdir(parents=True)
    for name, size in (("best.safetensors", 100), ("last.safetensors", 100), ("resume.safetensors", 300)):
        (run / "checkpoints" / name).write_bytes(b"x" * size)
    (run / "train.json").write_text(json.dumps({"checkpoint": selected}))


@pytest.mark.parametrize("keep, left, freed", [("all", ["best", "last", "resume"], 0), ("selected", ["best"], 400),
                                               ("none", None, 500)])
def test_keep_checkpoints(tmp_path, keep, left, freed):
    fake_checkpoints(tmp_path)
    assert prune(tmp_path, keep) == freed
    if left is None:
        assert not (tmp_path / "checkpoints").exists()
    else:
        assert sorted(f.name.split(".")[0] for f in (tmp_path / "checkpoints").iterdir()) == left


def test_a_run_kept_without_weights_says_so_when_scored(tmp_path):
    from aura_core.base.params import Params
    from aura_core.scoring.scorers import load_scorer
    fake_checkpoints(tmp_path)
    prune(tmp_path, "none")
    with pytest.raises(FileNotFoundError, match="best.safetensors: the weights to score are not there"):
        load_scorer(tmp_path, Params(device="cpu"))


def grid_file(tmp_path, fixture_data, tiny_encoder, configs, **base):
    write_tiny_base(tmp_path / "base.yaml", fixture_data, tiny_encoder, **base)
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({"name": "tg", "base": "base.yaml", "seeds": [5],
                                                     "baseline": configs[0]["label"], "configs": configs}))
    return tmp_path / "g.yaml"


TWO = [{"label": "paired", "set": {}}, {"label": "masked", "factor": "pseudo_labels", "set": {"paradigm": "masked"}}]


def aura_grid(tmp_path, *args, **kw):
    return subprocess.Popen([sys.executable, "-m", "aura_core.cli", "grid", str(tmp_path / "g.yaml"), "--root",
                             str(tmp_path / "out"), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO, **kw)


def test_cell_states_are_read_from_the_folders(tmp_path, fixture_data, tiny_encoder):
    g = G.load_grid(grid_file(tmp_path, fixture_data, tiny_encoder, TWO + [
        {"label": "c", "set": {"seed": 1}}, {"label": "d", "set": {"seed": 2}}, {"label": "e", "set": {"seed": 3}},
        {"label": "f", "set": {"seed": 4}}]), tmp_path / "out")
    a, b, c, d, e, f = G.cells(g)
    (a.dir).mkdir(parents=True)
    (a.dir / "run_state.json").write_text(json.dumps({"completed": NOTEBOOKS}))
    (a.dir / "metrics.json").write_text("{}")
    claim = cell_claim.try_claim(b.dir)
    c.dir.mkdir(parents=True)
    (c.dir / RunFolder.FAILED).write_text(json.dumps({"status": "failed: aura: error: boom"}))
    (d.dir).mkdir(parents=True)
    (d.dir / RunFolder.QUEUED).write_text(json.dumps({"job_id": "77"}))
    f.dir.mkdir(parents=True)                                  # queued, but its job died before starting the cell
    (f.dir / RunFolder.QUEUED).write_text(json.dumps({"job_id": "88"}))
    (g.dir / "submitit" / "88").mkdir(parents=True)
    (g.dir / "submitit" / "88" / "88_0_result.pkl").write_bytes(b"")
    status = R.grid_status(g).set_index("cell")
    claim.release()
    assert status["state"].tolist() == ["finished", "running", "failed", "queued", "pending", "failed"]
    assert status.loc[f.id, "detail"] == "its job ended before the cell started: see submitit/88/88_0_log.err"
    assert status.loc[b.id, "detail"].startswith(f"{os.uname().nodename} pid {os.getpid()}")
    assert status.loc[c.id, "detail"] == "failed: aura: error: boom" and status.loc[d.id, "detail"] == "job 77"


@pytest.mark.slow
def test_two_grid_processes_at_once_train_every_cell_exactly_once(tmp_path, fixture_data, tiny_encoder):
    grid_file(tmp_path, fixture_data, tiny_encoder, TWO)
    procs = [aura_grid(tmp_path, "--jobs", "1") for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for cell in ("paired__seed5", "masked__seed5"):
        trained = [o for o in outs if f"[grid] {cell}: ok" in o]
        assert len(trained) == 1, outs                      # exactly one process trained it …
        other = outs[1 - outs.index(trained[0])]
        assert (f"{cell}: skipped: held by" in other or f"{cell}: skipped: finished by another process" in other
                or "finished earlier" in other), other      # … the other saw it held or done
        log = (tmp_path / "out/tg/logs" / f"{cell}.log").read_text()
        assert log.count("[aura] 02_train done") == 1
    summary = json.loads((tmp_path / "out/tg/summary.json").read_text())
    assert [c["status"] for c in summary["cells"]] == ["finished", "finished"] and summary["disk_mb"] > 0
    ckpts = sorted(f.name for f in (tmp_path / "out/tg/paired__seed5/checkpoints").iterdir())
    assert ckpts == ["last.safetensors"]                    # grid default: only the selected weights are kept
    assert (tmp_path / "out/tg/compare/report.html").is_file()


@pytest.mark.slow
def test_a_grid_killed_mid_cell_is_taken_over_and_resumed(tmp_path, fixture_data, tiny_encoder):
    grid_file(tmp_path, fixture_data, tiny_encoder, TWO[:1])
    cell = tmp_path / "out/tg/paired__seed5"
    first = aura_grid(tmp_path, start_new_session=True)     # its own process group, as a SLURM job is
    deadline = time.time() + 300
    while time.time() < deadline and not (cell / "steps.csv").is_file():  # 01 done, training started
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)                    # the grid process and the training it started
    first.wait(timeout=30)
    deadline = time.time() + 30   # the grid process is reaped; its `aura run` child dies a moment later
    while cell_claim.is_held(cell) and time.time() < deadline:
        time.sleep(0.1)
    assert cell_claim.holder(cell) is not None and not cell_claim.is_held(cell)
    assert G.cell_state(G.cells(G.load_grid(tmp_path / "g.yaml", tmp_path / "out"))[0]) == "interrupted"
    again = aura_grid(tmp_path)
    out = again.communicate(timeout=900)[0]
    assert again.returncode == 0, out
    assert f"taking over the claim of {os.uname().nodename} pid {first.pid}" in out and "its process is gone" in out
    assert "[grid] paired__seed5: ok" in out
    log = (tmp_path / "out/tg/logs/paired__seed5.log").read_text()
    assert "01_data_prep: finished earlier, skipped (--resume)" in log   # continued, not started over
    assert json.loads((cell / "run_state.json").read_text())["completed"] == NOTEBOOKS


@pytest.mark.slow
def test_submitit_local_executor_runs_the_grid_and_status_follows_it(tmp_path, fixture_data, tiny_encoder):
    grid_file(tmp_path, fixture_data, tiny_encoder, TWO)
    sub = aura_grid(tmp_path, "--executor", "local", "--no-wait")
    out = sub.communicate(timeout=300)[0]
    assert sub.returncode == 0 and out.count("queued as job") == 2, out
    deadline, states = time.time() + 900, []
    while time.time() < deadline:
        st = aura_grid(tmp_path, "--status")
        text = st.communicate(timeout=60)[0]
        states.append(text)
        if "2 finished" in text or "failed" in text:
            break
        time.sleep(5)
    assert "2 finished" in states[-1], states[-1]
    assert any("running" in s or "queued" in s for s in states[:-1]) or len(states) == 1
    done = aura_grid(tmp_path, "--executor", "local")       # nothing pending: renders the grid view and returns
    out = done.communicate(timeout=600)[0]
    assert done.returncode == 0 and "submitting 0 cell(s)" in out, out
    assert (tmp_path / "out/tg/compare/report.html").is_file()


def fake_slurm(bin_dir, queue: str, accounting: str | None):
    """squeue and sacct stand-ins on PATH printing what the real ones print (-h -r -o '%i|%T'; -n -P -X JobID,State);
    accounting None: sacct fails as it does without slurmdbd."""
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(f"#!/bin/sh\nprintf '{queue}'\n")
    (bin_dir / "sacct").write_text("#!/bin/sh\n" + (f"printf '{accounting}'\n" if accounting is not None else
                                                    "echo 'sacct: error: accounting storage is disabled' >&2; exit 1\n"))
    for f in bin_dir.iterdir():
        f.chmod(0o755)


@pytest.mark.parametrize("accounting, expected", [
    ("7_0|COMPLETED\n7_1|CANCELLED by 0\n7_2|TIMEOUT\n8|OUT_OF_MEMORY\n",
     {"a": "COMPLETED", "b": "CANCELLED", "c": "TIMEOUT", "d": "OUT_OF_MEMORY", "e": "RUNNING", "f": "lost"}),
    (None, {"a": "gone", "b": "gone", "c": "gone", "d": "gone", "e": "RUNNING", "f": "gone"}),   # squeue alone
])
def test_job_states_read_squeue_and_sacct_and_call_unknown_jobs_lost(tmp_path, monkeypatch, accounting, expected):
    from aura_core.running import scheduler
    fake_slurm(tmp_path / "bin", "9_0|RUNNING\n", accounting)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    jobs = {cell: {"job_id": job, "executor": "slurm"} for cell, job in
            zip("abcdef", ["7_0", "7_1", "7_2", "8", "9_0", "10_3"])}
    jobs["g"] = {"job_id": "3", "executor": "local"}                         # not SLURM's: not asked
    assert scheduler.job_states(jobs | {"h": None}) == expected


def test_status_shows_the_schedulers_word_and_a_lost_queued_cell(tmp_path, fixture_data, tiny_encoder, monkeypatch):
    from aura_core.running import scheduler
    fake_slurm(tmp_path / "bin", "5_3|PENDING\n", "5_0|CANCELLED by 0\n5_1|FAILED\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    g = G.load_grid(grid_file(tmp_path, fixture_data, tiny_encoder, TWO + [{"label": "c", "set": {"seed": 1}},
                                                                           {"label": "d", "set": {"seed": 2}}]),
                    tmp_path / "out")
    interrupted, queued_failed, lost, requeued = G.cells(g)
    for cell, job in ((interrupted, "5_0"), (queued_failed, "5_1"), (lost, "5_2"), (requeued, "5_3")):
        cell.dir.mkdir(parents=True)
        scheduler.record_job(cell.dir, job, "slurm", "2026-12-06 10:00:00")
    for cell in (interrupted, requeued):   # stopped mid-run: 5_0 cancelled, 5_3 preempted and requeued (pending)
        (cell.dir / "run_state.json").write_text(json.dumps({"completed": NOTEBOOKS[:1]}))
    for cell, job in ((queued_failed, "5_1"), (lost, "5_2")):
        (cell.dir / RunFolder.QUEUED).write_text(json.dumps({"job_id": job, "executor": "slurm"}))
    status = R.grid_status(g).set_index("cell")
    assert status.loc[interrupted.id, ["state", "scheduler"]].tolist() == ["interrupted", "CANCELLED (job 5_0)"]
    assert status.loc[queued_failed.id, ["state", "scheduler"]].tolist() == ["failed", "FAILED (job 5_1)"]
    assert status.loc[queued_failed.id, "detail"] == "job 5_1 ended (FAILED) before the cell started"
    assert status.loc[lost.id, ["state", "scheduler"]].tolist() == ["lost", "lost (job 5_2)"]
    assert "the scheduler no longer knows it" in status.loc[lost.id, "detail"]
    # a requeued task will resume its cell: the cell waits for it, and a resubmission leaves it to that task
    assert status.loc[requeued.id, ["state", "scheduler"]].tolist() == ["queued", "PENDING (job 5_3)"]
    assert "requeued" in status.loc[requeued.id, "detail"]
    assert [c for c in status.index if status.loc[c, "state"] in E.RESUBMIT] == [interrupted.id, queued_failed.id,
                                                                                    lost.id]


@pytest.mark.parametrize("flags", [["--summary", "--status"], ["--render", "--executor", "local"],
                                   ["--status", "--dry-run"]])
def test_grid_actions_are_one_at_a_time(flags, capsys):
    from aura_core.cli import main
    with pytest.raises(SystemExit) as e:
        main(["grid", "params/grids/unpad_parity.yaml", *flags])
    assert e.value.code == 2
    assert "one action at a time" in capsys.readouterr().err
