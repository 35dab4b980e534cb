"""The multiverse grid kind: universes sampled from the implementation switches, the factor's effect in each."""
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from test_diagnosis import write_cell

from aura_core.base.params import ParamError, load
from aura_core.evidence import diagnosis as Dg
from aura_core.evidence.compare import load_claims
from aura_core.grids.cells import cells
from aura_core.grids.spec import load_grid
from aura_core.reporting import answers as A

SWITCHES = {"pooling": ["cls", "mean", "pooler"], "toxicity_head": ["softmax", "sigmoid"],
            "weighting": ["kendall", "kendall_exp"], "weight_decay_scope": ["matrices", "all"]}


def multiverse_file(tmp_path, universes=5, seed=3, **over):
    spec = {"name": "mv", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1],
            "multiverse": {"universes": universes, "seed": seed, "switches": SWITCHES,
                           "factor": {"paradigm": ["paired", "masked"]}}, **over}
    (tmp_path / "mv.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return tmp_path / "mv.yaml"


def test_universes_are_reproducible_shared_by_both_values_and_valid_params(tmp_path):
    g = load_grid(multiverse_file(tmp_path), tmp_path / "out")
    again = load_grid(multiverse_file(tmp_path), tmp_path / "out")
    other = load_grid(multiverse_file(tmp_path, seed=4), tmp_path / "out")
    assert g.multiverse == again.multiverse and g.multiverse != other.multiverse
    assert len(g.multiverse) == 5 and len({tuple(u.values()) for u in g.multiverse}) == 5   # without replacement
    by = {c.label: c.overrides for c in g.configs}
    for u, universe in enumerate(g.multiverse, 1):
        paired, masked = by[f"u{u:02d},paradigm=paired"], by[f"u{u:02d},paradigm=masked"]
        assert {k: v for k, v in paired.items() if k != "paradigm"} == universe == \
               {k: v for k, v in masked.items() if k != "paradigm"}
        load(g.base, masked)                                          # every universe a valid param set
    assert [f for f, _, _ in g.contrasts()] == [f"universe:u{u:02d}" for u in range(1, 6)]   # no other test
    assert g.baseline == "u01,paradigm=paired" and len(g.trainings) == 10


@pytest.mark.parametrize("bad, fragment", [
    ({"universes": 99}, "universes: 99 is not in 1..24"),
    ({"switches": {"pooling": ["cls"]}}, "switches: expected"),
    ({"factor": {"pooling": ["cls", "mean"]}}, "factor: expected"),
])
def test_a_bad_multiverse_fails_at_load_naming_the_key(tmp_path, bad, fragment):
    spec = {"universes": 5, "seed": 1, "switches": SWITCHES, "factor": {"paradigm": ["paired", "masked"]}, **bad}
    (tmp_path / "mv.yaml").write_text(yaml.safe_dump({"name": "mv", "base": str(REPO / "params" / "smoke.yaml"),
                                                      "seeds": [1], "multiverse": spec}))
    with pytest.raises(ParamError, match=fragment):
        load_grid(tmp_path / "mv.yaml", tmp_path)


def test_the_robustness_count_on_a_constructed_multiverse(tmp_path):
    """masked lifts L1 and L3 by a large share of the A−B gap in every universe but those with the sigmoid head,
    where it changes nothing: the verdict holds exactly in the softmax universes, and toxicity_head explains the
    effect's spread."""
    g = load_grid(multiverse_file(tmp_path, universes=6, seed=0), tmp_path / "out")
    for c in cells(g):
        o = c.config.overrides
        lift = 0.12 if (o["paradigm"] == "masked" and o["toxicity_head"] == "softmax") else 0.0
        write_cell(c, {"L1": 0.67 + lift, "L3": 0.40 + lift})   # paired near B's 0.717 / 0.401, lifted near A's
    claims = load_claims(REPO / "params" / "claims.yaml")
    ev = Dg.evidence(g, claims, 100)
    table = Dg.multiverse_table(g, ev.attrib, Dg.claim_gap(claims))
    softmax = table["toxicity_head"] == "softmax"
    assert table.loc[softmax, "holds"].all() and not table.loc[~softmax, "holds"].any()
    imp = ev.importance
    assert imp["switch"].iloc[0] == "toxicity_head" and imp["effect L1"].iloc[0] > 0.7
    assert imp.set_index("switch").loc["toxicity_head", "paradigm=masked L1"] > 0.7   # it moves masked's numbers
    assert imp.set_index("switch").loc["toxicity_head", "paradigm=paired L1"] < 0.7   # not paired's
    assert imp["chance"].iloc[0] == pytest.approx(1 / 5)                             # 2 levels, 6 universes
    text = A.multiverse_text(ev)
    assert f"in {int(softmax.sum())} of 6 finished universes" in text and "on L1 `toxicity_head` (η²" in text
    # each level over the universes: masked's L1 is lifted by 0.12 in the softmax universes, paired's never
    spread = ev.mv_spread.set_index(["paradigm", "level"])
    assert spread.loc[("paired", "L1"), "universes"] == 6 and spread.loc[("masked", "L1"), "universes"] == 6
    assert spread.loc[("masked", "L1"), "max"] > spread.loc[("paired", "L1"), "max"] + 0.05
    # nearest Partner A (0.792 / – / 0.517): a lifted masked universe; nearest Partner B (0.717 / – / 0.401): not one
    near = ev.mv_closest
    first_a, first_b = near[near.partner == "A"].iloc[0], near[near.partner == "B"].iloc[0]
    assert first_a["paradigm"] == "masked" and first_a["toxicity_head"] == "softmax"
    assert not (first_b["paradigm"] == "masked" and first_b["toxicity_head"] == "softmax")
    assert (near.groupby("partner")["mean distance"].apply(lambda d: d.is_monotonic_increasing)).all()
    assert "Nearest partner a:" not in text and f"earest Partner A: {first_a['universe']} with paradigm=masked" in text


def test_the_shipped_multiverse_grid_loads_with_forty_trainings():
    g = load_grid(REPO / "params" / "grids" / "multiverse.yaml")
    assert len(g.multiverse) == 20 and len(g.trainings) == 40 and g.multiverse_factor["key"] == "paradigm"
    assert len({tuple(u.values()) for u in g.multiverse}) == 20
    assert load(g.base).unpad == "auto" and load(g.base).group_by_length is False


def test_the_grid_view_shows_the_multiverse(tmp_path, monkeypatch):
    from aura_core.reporting import grid_view
    g = load_grid(multiverse_file(tmp_path, universes=3, seed=1), tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.70 + (0.1 if c.config.overrides["paradigm"] == "masked" else 0), "L3": 0.55})
        pd.DataFrame({"step": [1, 2], "s_toxicity": [0.0, 0.1], "weight_toxicity": [0.5, 0.45]}).to_csv(
            c.dir / "steps.csv", index=False)
    shown = []
    monkeypatch.setattr(grid_view, "display", lambda x: shown.append(getattr(x, "data", None) or str(x)))
    grid_view.show(Dg.evidence(g, load_claims(REPO / "params" / "claims.yaml"), 50), tmp_path / "run")
    text = "\n".join(shown)
    assert "Multiverse: `paradigm` paired → masked in each of 3 sampled universes" in text
    assert "finished universes" in text and "u01" in text


def test_the_multiverse_results_page_has_every_section(tmp_path):
    from aura_core.reporting.results_page import page
    g = load_grid(multiverse_file(tmp_path, universes=3, seed=1, name="multiverse"), tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.70 + (0.1 if c.config.overrides["paradigm"] == "masked" else 0), "L3": 0.55})
    text = page(Dg.evidence(g, load_claims(REPO / "params" / "claims.yaml"), 50))
    for title in ("Robustness", "The effect in each universe", "Each level over the universes",
                  "The universes nearest each partner", "Which switch moves the numbers",
                  "The effect averaged over the universes"):
        assert f"## {title}" in text, title
    assert "finished universes" in text and "| u01 " in text and "_(no finished universe yet)_" not in text


@pytest.mark.slow
def test_a_smoke_size_multiverse_trains_end_to_end(tmp_path, fixture_data, tiny_encoder):
    """The shipped multiverse file's keys over its own profile, at smoke size: 2 universes (seed 1: cls pooling with
    the multi-label emotion head, the pooler with the single-label one) × paired/masked on fixture rows and the tiny
    encoder; the grid view renders and the results page counts the universes."""
    import subprocess
    import sys

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "extends": str(REPO / "params" / "cpu_multiverse.yaml"), "name": "mv_smoke", "data_dir": str(fixture_data),
        "encoder": tiny_encoder, "allow_hub": False, "epochs": 1, "batch_size": 8, "olid_dev_fraction": 0.3,
        "claims": str(REPO / "params" / "claims.yaml")}))
    spec = yaml.safe_load((REPO / "params" / "grids" / "multiverse.yaml").read_text())
    spec["base"] = "base.yaml"
    spec["multiverse"].update(universes=2, seed=1, switches={"pooling": ["cls", "pooler"],
                                                             "emotion_target": ["single", "multilabel"]})
    (tmp_path / "multiverse.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    g = load_grid(tmp_path / "multiverse.yaml", tmp_path / "out")
    assert {u["emotion_target"] for u in g.multiverse} == {"single", "multilabel"}
    cli = [sys.executable, "-m", "aura_core.cli", "grid", str(tmp_path / "multiverse.yaml"), "--root",
           str(tmp_path / "out")]
    r = subprocess.run(cli + ["--jobs", "2"], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    summary = pd.read_csv(tmp_path / "out/multiverse/summary.csv")
    assert len(summary) == 4 and (summary["status"] == "finished").all()
    assert (tmp_path / "out/multiverse/compare/report.html").is_file()
    multi = next(c for c in cells(g) if c.config.overrides["emotion_target"] == "multilabel")
    assert "multilabel" in c_metrics(multi)["stress"]["emotion_goemotions_test"]
    r = subprocess.run(cli + ["--results", str(tmp_path / "docs")], capture_output=True, text=True, timeout=900,
                       cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    page = (tmp_path / "docs/multiverse.md").read_text()
    assert "of 2 finished universes" in page and "## The universes nearest each partner" in page


def c_metrics(cell):
    import json
    return json.loads((cell.dir / "metrics.json").read_text())


def _lifted_multiverse(tmp_path, lift, universes=6):
    """A constructed multiverse whose masked cells are right more often by lift(universe index, overrides)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    g = load_grid(multiverse_file(tmp_path, universes=universes, seed=0), tmp_path / "out")
    index = {c.label: int(c.label[1:3]) for c in g.configs}
    for c in cells(g):
        up = lift(index[c.config.label], c.config.overrides) if c.config.overrides["paradigm"] == "masked" else 0.0
        write_cell(c, {"L1": 0.67 + up, "L3": 0.40 + up})
    return g, Dg.evidence(g, load_claims(REPO / "params" / "claims.yaml"), 200)


def test_the_average_over_universes_is_the_mean_contrast_and_joins_the_family(tmp_path):
    """The average is the mean over universes of each universe's own change, read by the words as the pseudo-label
    cause (question 2), in the report's one Holm family, and it replaces the per-universe rows in the verdict."""
    g, ev = _lifted_multiverse(tmp_path, lambda u, o: 0.10 + 0.01 * u)
    avg = ev.mv_average.set_index("tier")
    per = ev.multiverse.set_index("universe")
    for tier in ("L1", "L3", "ΔF1"):
        assert avg.loc[tier, "change"] == pytest.approx(per[tier].mean(), abs=1e-12)
        assert avg.loc[tier, "ci_low"] < avg.loc[tier, "change"] < avg.loc[tier, "ci_high"]
        assert avg.loc[tier, "pi_low"] < avg.loc[tier, "ci_low"] and avg.loc[tier, "pi_high"] > avg.loc[tier, "ci_high"]
    assert set(avg["factor"]) == {"pseudo_labels"} and avg["universes"].eq(6).all()
    assert avg["survives_holm"].notna().all()
    assert ev.holm_family == ev.attrib["p"].notna().sum() + ev.mv_average["p"].notna().sum()
    assert not ev.contrasts["factor"].astype(str).str.startswith("universe:").any()
    question2 = dict(A.answers(ev))[next(q for keys, q in A.QUESTIONS if "pseudo_labels" in keys)]
    assert question2.startswith("`pseudo_labels`") and "95% CI over universes and items" in question2
    assert "Not tested" in dict(A.answers(ev))[next(q for keys, q in A.QUESTIONS if keys == ("paradigm", "batch_composition"))]
    bottom = A.verdict(ev)
    carries = bottom.split("**What carries the gap.**")[1].split("**")[0]
    assert "`pseudo_labels`" in carries and "universe:" not in bottom


def test_the_robustness_paragraph_reads_the_prediction_interval(tmp_path):
    """A lift near 0.1 in every universe: the new-universe interval lies above a quarter of the gap, so the verdict
    holds whichever choice is made. A lift only where the head is softmax: the average still carries the gap, but a
    new universe could land at 0, so the paragraph says it is not shown to hold whichever choice is made."""
    _, every = _lifted_multiverse(tmp_path / "a", lambda u, o: 0.10 + 0.005 * u)
    text = A.multiverse_text(every)
    assert "averaged over 6 finished universes" in text and "the verdict holds whichever of these choices" in text
    assert "in 6 of 6 finished universes" in text
    _, some = _lifted_multiverse(tmp_path / "b", lambda u, o: 0.14 if o["toxicity_head"] == "softmax" else 0.0)
    text = A.multiverse_text(some)
    assert "the verdict is not shown to hold whichever of these choices is made" in text
    assert "on L1, L3 it could go either way" in text
    pi = some.mv_average.set_index("tier").loc["L1"]
    assert pi["pi_low"] < 0 < pi["pi_high"]
    page_rows = A.average_table(some.mv_average)
    assert list(page_rows["tier"]) == list(some.mv_average["tier"]) and page_rows["universes"].eq(6).all()


def test_the_multiverse_intervals_cover_at_least_nominal_over_20_universes():
    """300 synthetic 20-universe multiverses (normal per-universe lifts, items of shared difficulty, fresh test items
    each time). The 95% prediction interval covers a new universe's change on the same items within 4 points of 95%.
    The 95% CI of the average (universes × items, paired by universe) covers the true average lift at least at its
    nominal level: it is conservative, as it counts each run's item noise twice (in the spread over universes and in
    the item resampling); measured 99% here. 300 runs: ±2.5 points of Monte Carlo error."""
    from scipy.special import expit, logit

    from aura_core.base.stats import binary_macro_f1, hierarchical_effects, one_run_prediction_interval
    rng = np.random.default_rng(11)
    n_items, n_universes, mu, tau, base = 400, 20, 0.06, 0.03, 0.70

    def runs(y, difficulty, accuracies):   # each run right on an item with a probability the item's difficulty shifts
        p = expit(logit(np.asarray(accuracies))[:, None] + difficulty[None, :])
        return np.where(rng.random(p.shape) < p, y, 1 - y)

    def test_set():
        return rng.integers(0, 2, n_items), rng.normal(0, 1, n_items)

    def lifts(n):
        return np.clip(rng.normal(mu, tau, n), -0.6, 0.29)

    truth = float(np.mean([np.subtract(*binary_macro_f1(y, runs(y, b, [base + lifts(1)[0], base])))
                           for y, b in (test_set() for _ in range(3000))]))
    hit_ci = hit_pi = 0
    reps = 300
    for _ in range(reps):
        y, b = test_set()
        masked, paired = runs(y, b, base + lifts(n_universes + 1)), runs(y, b, np.full(n_universes + 1, base))
        e = hierarchical_effects({"L1": (y, masked[:-1], paired[:-1])}, n_resamples=400, delta=None,
                                 paired=True)["L1"]
        change = binary_macro_f1(y, masked) - binary_macro_f1(y, paired)
        pi = one_run_prediction_interval(change[:-1])
        hit_ci += e["ci_low"] <= truth <= e["ci_high"]
        hit_pi += pi["low"] <= change[-1] <= pi["high"]
    assert hit_ci / reps >= 0.94 and abs(hit_pi / reps - 0.95) < 0.04, (hit_ci / reps, hit_pi / reps)


def test_the_new_universe_reading_names_each_level_by_where_its_interval_lies():
    """Partner A − B gaps 0.075 / 0.165 / 0.115: L2's interval clears a quarter of its gap, L3's is toward A but may
    fall short, L1's straddles 0. The verdict holds only on L2; with L1 wholly away it is not shown to hold at all."""
    gap = {"L1": 0.075, "L2": 0.165, "L3": 0.115}
    rows = pd.DataFrame({"tier": ["L1", "L2", "L3", "ΔF1"], "pi_low": [-0.02, 0.05, 0.01, -0.3],
                         "pi_high": [0.10, 0.50, 0.30, 0.1], "universes": 20})
    text = A.new_universe_text(rows, gap)
    assert "on L2 it would carry at least 25% of the gap toward Partner A" in text
    assert "on L3 it would point toward Partner A, possibly by less than 25%" in text
    assert "on L1 it could go either way" in text and "ΔF1" not in text
    assert "the verdict holds on L2 whichever of these choices is made, and is not shown to on L1" in text
    away = A.new_universe_text(rows.assign(pi_high=[-0.01, 0.5, 0.3, 0.1]), gap)
    assert "on L1 it would move away" in away and "the verdict is not shown to hold whichever" in away
    every = A.new_universe_text(rows.assign(pi_low=[0.03, 0.05, 0.04, -0.3]), gap)
    assert every.endswith("So the verdict holds whichever of these choices is made.")
