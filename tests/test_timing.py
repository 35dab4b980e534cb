"""A grid's time as it ran: the step pace read from steps.csv, each training's minutes, and the sums the README and
docs quote (tests on constructed cells with known times)."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from test_diagnosis import write_cell

from aura_core import grids as G
from aura_core.evidence import timing


def test_step_pace_reads_the_uncontended_stretches_of_steps_csv():
    """1,000 steps at 1 s a step, then 500 at 3 s (the cores shared): the median window is the common pace, the
    fastest decile the uncontended one; a step logged twice (re-done after a resume) counts
    once, as its later row."""
    elapsed = np.r_[np.arange(1, 1001) * 1.0, 1000 + np.arange(1, 501) * 3.0]
    steps = pd.DataFrame({"step": np.arange(1, 1501), "elapsed_s": elapsed})
    assert timing.step_pace(steps) == pytest.approx((1.0, 1.0))
    contended = steps.assign(elapsed_s=np.r_[np.arange(1, 401) * 1.0, 400 + np.arange(1, 1101) * 3.0])
    median, fast = timing.step_pace(contended)
    assert median == pytest.approx(3.0) and fast == pytest.approx(1.0)
    older = steps.head(1000).assign(elapsed_s=np.arange(1, 1001) * 5.0)   # as logged before a resume re-did them
    assert timing.step_pace(pd.concat([older, steps])) == pytest.approx((1.0, 1.0))
    assert np.isnan(timing.step_pace(steps.head(50))[0])                       # too few steps for one window


def finish_training(cell, seconds, steps, pace, other=(10.0, 20.0, 30.0, 40.0), resumed=False):
    """A finished training cell that took `seconds` in 02_train over `steps` steps at `pace` s a step, and `other`
    seconds in the other four notebooks."""
    write_cell(cell, {"L1": 0.8, "L3": 0.6})
    (cell.dir / "train.json").write_text(json.dumps({"steps": steps, "seconds": seconds, "samples_per_s": 32.0,
                                                     "samples_seen": steps * 32,
                                                     "resumed": resumed}))
    names = ["01_data_prep", "03_tune", "04_stress_test", "05_compare"]
    (cell.dir / "run.json").write_text(json.dumps({"notebook_seconds": {"02_train": seconds,
                                                                         **dict(zip(names, other))}}))
    pd.DataFrame({"step": np.arange(1, steps + 1), "elapsed_s": np.arange(1, steps + 1) * pace}).to_csv(
        cell.dir / "steps.csv", index=False)


def test_cell_times_and_the_sums_the_docs_quote(tmp_path):
    """Two trainings of 600 s in 02_train (300 steps at 1.5 s; the other notebooks 100 s) and one adopted from another
    grid: the table lists all three, the sums count the two this grid trained, and the wall clock halves them."""
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "t", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3], "baseline": "a",
        "configs": [{"label": "a", "set": {}}]}))
    grid = G.load_grid(tmp_path / "g.yaml", tmp_path / "out")
    one, two, three = G.training_cells(grid)
    finish_training(one, 600.0, 300, 1.5)
    finish_training(two, 900.0, 300, 1.5, resumed=True)   # 900 s as run (stopped, resumed), 1.5 s a step when it ran
    finish_training(three, 600.0, 300, 1.5)
    (three.dir / "reused.json").write_text(json.dumps({"from": "/elsewhere/factorial/a__seed3"}))
    t = timing.cell_times(grid).set_index("cell")
    assert t.loc[one.dir.name, "02_train (min)"] == pytest.approx(10.0)
    assert t.loc[one.dir.name, "other notebooks (min)"] == pytest.approx(100 / 60)
    assert t.loc[two.dir.name, "02_train at that pace (min)"] == pytest.approx(300 * 1.5 / 60)
    assert bool(t.loc[two.dir.name, "stopped and resumed"])
    assert t.loc[three.dir.name, "adopted from"] == "factorial/a__seed3"
    text = timing.time_text(grid)
    as_run = (600 + 900 + 2 * 100) / 3600
    paced = (2 * 450 + 2 * 100) / 3600
    assert f"In all: 2 trainings, {as_run:.1f} h of cell time as run (≈ {as_run / 2:.1f} h of wall clock" in text
    assert f"at the fastest-decile pace {paced:.1f} h (≈ {paced / 2:.1f} h of wall clock" in text
    assert "1 trainings were adopted from another grid" in text


def test_an_adopted_training_stays_adopted_in_the_shipped_evidence(tmp_path):
    """The export carries reused.json: a page rendered from outputs/grids/ names the adopted training and leaves it out
    of the sums, as the page rendered from the grid's own folders does."""
    from aura_core.running import evidence_export
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "t", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2], "baseline": "a",
        "configs": [{"label": "a", "set": {}}]}))
    grid = G.load_grid(tmp_path / "g.yaml", tmp_path / "out")
    one, two = G.training_cells(grid)
    finish_training(one, 600.0, 300, 1.5)
    finish_training(two, 600.0, 300, 1.5)
    (two.dir / "reused.json").write_text(json.dumps({"from": "/elsewhere/factorial/a__seed2"}))
    for cell in (one, two):
        (cell.dir / "params.yaml").write_text("seed: 1\n")
    evidence_export.export(grid, tmp_path / "shipped")
    assert (tmp_path / "shipped" / "t" / two.dir.name / "reused.json").is_file()
    evidence_export.restore(tmp_path / "shipped" / "t")     # as `aura grid --render` does on a fresh clone
    shipped = G.load_grid(tmp_path / "g.yaml", tmp_path / "shipped")
    assert timing.time_text(shipped) == timing.time_text(grid)
    assert "In all: 1 trainings" in timing.time_text(shipped) and "factorial/a__seed2" in timing.time_text(shipped)


def test_a_grid_with_no_finished_training_says_so(tmp_path):
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "t", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1], "baseline": "a",
        "configs": [{"label": "a", "set": {}}]}))
    assert timing.time_text(G.load_grid(tmp_path / "g.yaml", tmp_path / "out")) == "_(no finished training yet)_"
