"""Crash and resume, divergence guards, atomic and pickle-free files."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import frames, tiny_params

from aura_core.base.io import atomic_write_text
from aura_core.training import train as T

CHILD = """
import sys, pandas as pd
sys.path.insert(0, {tests!r})
from conftest import frames, tiny_params
from aura_core.training import train as T
p = tiny_params({enc!r}, epochs=2, checkpoint_every=3, batch_size=4, grad_accum=2)
T.train(p, {run!r}, frames(150), frames(4), resume={resume})
"""


def child(enc, run, resume):
    code = CHILD.format(tests=os.path.dirname(__file__), enc=enc, run=str(run), resume=resume)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tiny_encoder, tmp_path):
    ref = child(tiny_encoder, tmp_path / "ref", False)
    assert ref.wait(timeout=300) == 0, ref.stderr.read()[-2000:]
    victim = child(tiny_encoder, tmp_path / "run", False)
    state, log = tmp_path / "run" / "checkpoints" / "resume.safetensors", tmp_path / "run" / "steps.csv"
    deadline = time.time() + 120
    while time.time() < deadline:    # kill once a mid-epoch state exists and a few more steps have been logged
        if state.exists() and log.exists() and sum(1 for _ in open(log)) > 10:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    assert not (tmp_path / "run" / "train.json").exists()           # it really died before finishing
    resumed = child(tiny_encoder, tmp_path / "run", True)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert "resuming at epoch 1" in out                              # mid-epoch, not from scratch
    def log(run):  # everything but the wall clock
        return pd.read_csv(tmp_path / run / "steps.csv").drop(columns="elapsed_s")
    pd.testing.assert_frame_equal(log("ref"), log("run"), check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ref/epochs.csv"), pd.read_csv(tmp_path / "run/epochs.csv"),
                                  check_exact=True)
    assert json.loads((tmp_path / "run/train.json").read_text())["resumed"] is True


@pytest.mark.slow
def test_nan_loss_stops_naming_step_and_task_and_keeps_the_last_good_checkpoint(tiny_encoder, tmp_path, monkeypatch):
    real = T.task_losses
    calls = {"n": 0}

    def poisoned(logits, labels, *args):
        out = real(logits, labels, *args)
        calls["n"] += 1
        if calls["n"] == 9:  # the 5th optimizer step's first micro-batch (grad_accum 2)
            out["emotion"] = out["emotion"] * float("nan")
        return out
    monkeypatch.setattr(T, "task_losses", poisoned)
    p = tiny_params(tiny_encoder, epochs=1, checkpoint_every=2)
    with pytest.raises(T.TrainingDiverged, match=r"step 5 \(epoch 1, batch 10\): non-finite loss in task emotion; stopped before the update"):
        T.train(p, tmp_path, frames(40), frames(4))
    from aura_core.training.checkpoints import load_state
    model = T.AuraModel(tiny_encoder)
    w = T.weighting_from_params(p, p.tasks)
    opt = T.build_optimizer(model, w, p)
    loop, _ = load_state(tmp_path, model, w, opt, T.build_scheduler(opt, p, 10), torch.amp.GradScaler("cuda", enabled=False))
    assert loop["step"] == 4 and all(torch.isfinite(v).all() for v in model.state_dict().values())


@pytest.mark.slow
def test_runaway_log_variance_stops_training(tiny_encoder, tmp_path):
    p = tiny_params(tiny_encoder, epochs=1, lr_loss_weights=5.0, max_abs_log_var=0.5, scheduler="constant")
    with pytest.raises(T.TrainingDiverged, match=r"step \d+ \(epoch 1\): s_(toxicity|emotion) = .* ran past ±0.5"):
        T.train(p, tmp_path, frames(40), frames(4))


@pytest.mark.slow
def test_checkpoints_are_safetensors_not_pickle(tiny_encoder, tmp_path):
    T.train(tiny_params(tiny_encoder, epochs=1, checkpoint_every=1), tmp_path, frames(8), frames(4))
    for f in (tmp_path / "checkpoints").iterdir():
        head = f.read_bytes()[:16]
        assert not head.startswith(b"PK") and not head.startswith(b"\x80"), f   # neither torch zip nor raw pickle
        from safetensors.torch import load_file
        assert load_file(str(f))


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")

    def fail(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_an_atomic_write_is_as_readable_as_a_plain_one(tmp_path):
    """mkstemp creates its file 0600; a report or page written atomically gets the mode any new file gets under the
    umask, so a colleague on a shared cluster can open report.html."""
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.html", "<html></html>")
        (tmp_path / "plain.html").write_text("<html></html>")
    finally:
        os.umask(old)
    mode = lambda name: (tmp_path / name).stat().st_mode & 0o777
    assert mode("report.html") == mode("plain.html") == 0o644


def test_resume_repairs_a_step_log_cut_mid_line(tmp_path):
    log = tmp_path / "steps.csv"
    log.write_text("step,epoch,total\n1,1,0.9\n2,1,0.8\n3,1,0.7\n4,1,0.6\n5,1,0.")   # killed while writing row 5
    T.StepLog(log, resumed_at_step=3).close()
    assert log.read_text() == "step,epoch,total\n1,1,0.9\n2,1,0.8\n3,1,0.7\n"
    log.write_text("step,epoch,total\n1,1,0.9\n2,1")
    T.StepLog(log, resumed_at_step=5).close()
    assert log.read_text() == "step,epoch,total\n1,1,0.9\n"
