"""DDP under accelerate launch, on CPU with 2 gloo processes, against the same run in one process."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from aura_core.base import run_folder
from aura_core.base.io import read_json
from aura_core.running import pipeline
from aura_core.training.batching import LengthGroupedSampler
from aura_core.training.distributed import ShardedBatches


def test_shards_cover_every_row_of_every_batch_exactly_once():
    def sampler():
        return LengthGroupedSampler(list(np.arange(23) % 7), batch_size=6, seed=0)
    global_batches = list(sampler())
    shards = [list(ShardedBatches(sampler(), r, 3)) for r in range(3)]
    assert len(ShardedBatches(sampler(), 0, 3)) == len(global_batches) == 4
    for k, batch in enumerate(global_batches):
        parts = [shards[r][k] for r in range(3)]
        assert sorted(i for part in parts for i, _ in part) == sorted(batch)  # the same global batch, split
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        # DDP averages (scale × slice mean) over processes: that must be the global batch's mean, whatever the sizes
        x = np.random.default_rng(k).normal(size=23)
        ddp_mean = np.mean([part[0][1] * x[[i for i, _ in part]].mean() for part in parts])
        assert ddp_mean == pytest.approx(x[batch].mean())


def test_a_batch_smaller_than_the_process_count_gives_the_spare_process_a_zero_weight_row():
    assert [list(ShardedBatches([[7]], r, 2)) for r in range(2)] == [[[(7, 2.0)]], [[(7, 0.0)]]]


def test_shards_pass_the_epoch_counter_through_for_resume():
    inner = LengthGroupedSampler([1, 2, 3, 4], 2, 0)
    sharded = ShardedBatches(inner, 1, 2)
    list(sharded)
    assert sharded.epoch == inner.epoch == 1
    sharded.epoch = 5
    assert inner.epoch == 5


@pytest.fixture(scope="module")
def dropout_free_encoder(tmp_path_factory, tiny_encoder):
    """The tiny encoder without dropout: one process and two then differ only in floating-point summation order."""
    d = tmp_path_factory.mktemp("tiny_bert_nodrop")
    shutil.copytree(tiny_encoder, d, dirs_exist_ok=True)
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d)


@pytest.mark.slow
@pytest.mark.parametrize("paradigm", ["paired", "interleaved"])
def test_two_gloo_processes_take_the_same_steps_and_agree_with_one(fixture_data, dropout_free_encoder, tmp_path,
                                                                   paradigm):
    runs = {}
    for n in (1, 2):
        prof = tmp_path / f"p{n}.yaml"
        prof.write_text(yaml.safe_dump({
            "name": f"ddp{n}", "data_dir": str(fixture_data), "encoder": dropout_free_encoder, "epochs": 2,
            "batch_size": 4, "grad_accum": 2, "max_length": 32, "olid_dev_fraction": 0.3, "device": "cpu",
            "allow_hub": False, "dropout": 0.0, "lr_encoder": 1e-3, "lr_heads": 1e-2, "paradigm": paradigm,
            "num_processes": n, "claims": str(REPO / "params" / "claims.yaml")}))
        run_dir = tmp_path / f"run{n}"
        p = run_folder.init_run_dir(prof, run_dir)
        pipeline.data_prep(p, run_dir)
        result = pipeline.train_stage(p, run_dir)
        runs[n] = (result, read_json(run_dir / "train.json"), pd.read_csv(run_dir / "steps.csv"))
    (r1, info1, steps1), (r2, info2, steps2) = runs[1], runs[2]
    assert info2["processes"] == 2 and info1["processes"] == 1
    assert r2.steps == r1.steps > 0 and info2["samples_seen"] == info1["samples_seen"]
    assert len(steps2) == len(steps1)
    # same global batches, gradients averaged over the two halves: the trajectories agree to float tolerance
    np.testing.assert_allclose(steps2["total"], steps1["total"], rtol=1e-3, atol=1e-4)
    s_cols = [c for c in steps1 if c.startswith("s_")]
    np.testing.assert_allclose(steps2[s_cols], steps1[s_cols], atol=1e-4)
    for col in ("val_tox_macro_f1", "train_loss"):
        np.testing.assert_allclose(r2.epochs[col], r1.epochs[col], atol=1e-3)
    assert (tmp_path / "run2" / "checkpoints" / "last.safetensors").is_file()


@pytest.mark.slow
def test_aura_run_trains_with_two_processes_from_the_notebook(fixture_data, tiny_encoder, tmp_path):
    """The same path a user takes: `aura run --set num_processes=2`; 02_train launches DDP and reads its result."""
    import subprocess
    import sys
    prof = tmp_path / "p.yaml"
    prof.write_text(yaml.safe_dump({"name": "ddp", "data_dir": str(fixture_data), "encoder": tiny_encoder, "epochs": 1,
                                    "batch_size": 8, "olid_dev_fraction": 0.3, "allow_hub": False, "device": "cpu",
                                    "claims": str(REPO / "params" / "claims.yaml")}))
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "aura_core.cli", "run", str(prof), "--out", str(out), "--set",
                        "num_processes=2"], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert read_json(out / "train.json")["processes"] == 2
    nb = (out / "notebooks" / "02_train.ipynb").read_text()
    assert "training with 2 processes" in nb and "Trained " in nb
    assert read_json(out / "metrics.json")["stress"]["tiers"]["olid"]["available"]
