"""The results layer (aura_core/base/results.py): every stress section on record reads into score objects and writes back
unchanged; an older section is named, not half-read; the rules once re-derived by each reader (ΔF1, whether a tier's
rows are the partners') give one answer everywhere."""
import copy
import html
import json

import numpy as np
import pytest
from conftest import REPO

from aura_core.base.params import dump, load
from aura_core.base.results import RUN_COLUMNS, OlderMetricsError, RunMetrics, StressScores, TierScore, delta_f1
from aura_core.evidence import diagnosis
from aura_core.reporting import single_report

SHIPPED = sorted((REPO / "outputs" / "grids").glob("*/*/metrics.json"))


def test_every_shipped_stress_section_round_trips_exactly():
    assert SHIPPED, "no shipped evidence to read"
    for path in SHIPPED:
        stress = json.loads(path.read_text())["stress"]
        scores = StressScores.from_json(stress, str(path))
        assert json.dumps(scores.to_json()) == json.dumps(stress), path            # same keys, order and values
        f1 = {e["level"]: e["metrics"]["macro_f1"] for e in stress["tiers"].values() if e["available"]}
        assert scores.f1() == f1
        assert scores.delta_f1 == pytest.approx(stress["delta_f1"], abs=0), path   # ΔF1 as 04 stored it


def test_delta_f1_on_numbers_arrays_and_missing_levels():
    assert delta_f1({"L1": 0.8, "L2": 0.6, "L3": 0.5}) == pytest.approx(0.3)
    np.testing.assert_allclose(delta_f1({"L1": [0.8, 0.7], "L3": np.array([0.5, 0.6])}), [0.3, 0.1])
    assert delta_f1({"L1": 0.8, "L2": 0.6}) is None and delta_f1({"L1": 0.8, "L3": None}) is None


def stress_section(provenance: dict) -> dict:
    metrics = {"n": 10, "macro_f1": 0.7, "macro_f1_ci": [0.6, 0.8]}
    tier = {"level": "L2", "name": "their L2", "available": True, "reason": "",
            "provenance": {"file": "l2.csv", "rows": 10, **provenance}, "metrics": metrics}
    olid = {**tier, "level": "L1", "name": "OLID test", "provenance": {"file": "olid.tsv", "rows": 10,
                                                                       "partners_rows": True}}
    return {"threshold": 0.5, "scored": "x", "tiers": {"olid": olid, "l2": tier}, "delta_f1": None}


@pytest.mark.parametrize("provenance, theirs", [
    ({"partners_rows": True}, True), ({"partners_rows": False, "note": "x"}, False),
    ({}, True),                                            # scored before provenance said: no note meant theirs
    ({"note": "a public stand-in, not the partners' rows"}, False),
])
def test_a_tiers_rows_are_the_partners_by_one_rule(provenance, theirs):
    assert TierScore.from_json("l2", stress_section(provenance)["tiers"]["l2"]).partners_rows is theirs
    assert ("L2" in StressScores.from_json(stress_section(provenance)).comparable_levels()) is theirs


def test_the_run_report_and_the_grid_report_agree_on_an_older_runs_stand_in(tmp_path, monkeypatch):
    """A run scored before partners_rows existed, on a stand-in (its provenance has a note): the grid report called
    its level not comparable, the run report called it comparable. Both now read TierScore.partners_rows."""
    run = tmp_path / "run"
    run.mkdir()
    dump(load(REPO / "params" / "smoke.yaml"), run / "params.yaml")
    stress = stress_section({"note": "a public stand-in, not the partners' rows"})
    (run / "metrics.json").write_text(json.dumps({"stress": stress}))
    words = html.unescape(single_report.run_bottom_line(run))
    assert "L2 (their L2): 0.700, on other rows than the partners' — level not comparable." in words
    assert "L1 (OLID test): 0.700 [95% CI 0.600, 0.800]" in words

    class FirstCell:
        dir = run
    monkeypatch.setattr(diagnosis, "first_baseline_cell", lambda grid: FirstCell)
    assert diagnosis.comparable_tiers(grid=None) == {"L1"}


def test_an_older_stress_section_is_named_not_half_read():
    old = copy.deepcopy(stress_section({}))
    del old["tiers"]["l2"]["level"]
    with pytest.raises(OlderMetricsError, match=r"runs/x/metrics.json: stress.tiers.l2 has no 'level'"):
        StressScores.from_json(old, "runs/x/metrics.json")
    with pytest.raises(OlderMetricsError, match=r"runs/y/metrics.json: its stress section has no tiers"):
        StressScores.from_json({"macro_f1": 0.7}, "runs/y/metrics.json")


def test_a_tier_that_was_not_scored_has_no_numbers():
    t = TierScore.from_json("l3", {"level": "L3", "available": False, "reason": "file missing"})
    assert (t.macro_f1, t.macro_f1_ci, t.to_json()) == (None, None, {"level": "L3", "available": False,
                                                                     "reason": "file missing"})


def test_best_is_the_first_epoch_reaching_the_maximum():
    from aura_core.training.validation import best_epoch
    assert best_epoch({1: 0.5, 2: 0.7, 3: 0.7, 4: 0.6}) == 2          # a tie keeps the earlier epoch (strict >)
    assert best_epoch({1: 0.5}) == 1 and best_epoch({3: 0.2, 4: 0.1}) == 3
    assert best_epoch({1: float("nan"), 2: 0.1}) == 2                  # NaN never improves


def test_a_claim_is_inside_above_or_below_an_interval_bounds_included():
    from aura_core.base.results import claim_side
    assert [claim_side(x, 0.6, 0.8) for x in (0.6, 0.7, 0.8, 0.81, 0.59)] == ["inside"] * 3 + ["above", "below"]
    assert claim_side(0.7, None, None) == "outside"


def test_a_runs_metrics_read_whole_give_the_headline_and_the_cell_row():
    path = SHIPPED[0]
    metrics = json.loads(path.read_text())
    run = RunMetrics.from_json(metrics, str(path))
    stress = metrics["stress"]
    f1 = {e["level"]: e["metrics"]["macro_f1"] for e in stress["tiers"].values() if e["available"]}
    assert run.headline() == {**{lv: f1.get(lv) for lv in ("L1", "L2", "L3")}, "ΔF1": stress["delta_f1"],
                              "emotion": stress["emotion_goemotions_test"].get("macro_f1")}
    row = run.cell_row()
    assert list(row)[:8] == ["L1", "L2", "L3", "ΔF1", "emotion", "threshold", "shortcut_gap", "pred/true L1"]
    assert row["selected_epoch"] == metrics["train"]["selected_epoch"] and row["threshold"] == stress["threshold"]
    assert RunMetrics.from_json({"train": {"selected_epoch": 2}}).headline() == dict.fromkeys(RUN_COLUMNS)  # before 04
