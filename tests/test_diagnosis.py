"""Attribution and the generated answers on a small synthetic grid with known effects."""
import json
import re
import shutil
import zlib

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, write_metrics
from scipy import stats as sps

from aura_core.base.factors import QUESTIONS, UNASKED
from aura_core.base.params import ParamError, load
from aura_core.base.results import TierScore
from aura_core.base.run_folder import NOTEBOOKS, RunFolder
from aura_core.evidence import diagnosis as Dg
from aura_core.evidence.compare import load_claims
from aura_core.evidence.factorial import seeds_needed
from aura_core.grids.cells import cells
from aura_core.grids.spec import load_grid
from aura_core.reporting import answers as A

ev_of = Dg.GridEvidence.of   # the evidence the words read, from the tables a test builds

RNG = np.random.default_rng(0)
N = 600
Y = {"L1": RNG.integers(0, 2, N), "L3": RNG.integers(0, 2, N)}
GROUPS = np.array(["women", "black", "jewish"])[RNG.integers(0, 3, N)]


def write_cell(cell, accuracy):
    """A finished cell whose predictions are right with the given probability per tier. Its noise is drawn from a
    generator seeded by the cell's name, so a cell's rows do not depend on which tests (of any module that imports
    this) ran before it."""
    rng = np.random.default_rng(zlib.crc32(cell.dir.name.encode()))
    cell.dir.mkdir(parents=True)
    (cell.dir / "run_state.json").write_text(json.dumps({"completed": NOTEBOOKS}))
    (cell.dir / "predictions").mkdir()
    tiers, f1 = {}, {}
    for level, key in (("L1", "olid"), ("L3", "toxigen")):
        y = Y[level]
        right = rng.random(N) < accuracy[level]
        p = np.where(right, y, 1 - y) * 0.8 + 0.1
        df = pd.DataFrame({"label": y, "p_toxic": p})
        if key == "toxigen":
            df["target_group"] = GROUPS
        df.to_csv(cell.dir / "predictions" / f"{key}.csv", index=False)
        f1[level] = float(Dg.binary_macro_f1(y, p >= 0.5))
        tiers[key] = TierScore(key, level, key, metrics={"macro_f1": f1[level]})
    tiers["jigsaw"] = TierScore("jigsaw", "L2", "Jigsaw", available=False, reason="not available: x")
    write_metrics(cell.dir, [tiers["olid"], tiers["toxigen"], tiers["jigsaw"]])


@pytest.fixture
def grid(tmp_path):
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "syn", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3], "baseline": "partner_b",
        "configs": [{"label": "partner_b", "set": {}},
                    {"label": "tuned", "factor": "threshold", "set": {"threshold": "tuned"}},
                    {"label": "interleaved", "factor": "paradigm", "set": {"paradigm": "interleaved"}}],
        "comparisons": [{"factor": "batch_composition", "config": "interleaved", "vs": "tuned"}]}))
    g = load_grid(tmp_path / "g.yaml", tmp_path / "out")
    acc = {"partner_b": {"L1": 0.72, "L3": 0.60}, "tuned": {"L1": 0.82, "L3": 0.66}, "interleaved": {"L1": 0.72, "L3": 0.60}}
    for c in cells(g):
        write_cell(c, acc[c.config.label])
    return g


def test_attribution_finds_the_factor_that_matters_and_not_the_one_that_does_not(grid):
    a = Dg.attribution(grid, n_resamples=300).set_index(["factor", "tier"])
    assert a.loc[("threshold", "L1"), "change"] == pytest.approx(0.10, abs=0.04)
    assert a.loc[("threshold", "L1"), "excludes_0"] and a.loc[("threshold", "L1"), "ci_low"] > 0
    assert not a.loc[("paradigm", "L1"), "excludes_0"]
    assert a.loc[("threshold", "ΔF1"), "change"] == pytest.approx(
        a.loc[("threshold", "L1"), "change"] - a.loc[("threshold", "L3"), "change"])
    assert "tuned__seed1" in a.loc[("threshold", "L1"), "cells"]
    # a comparison between two non-baseline configs, over the cells they already hold: interleaved is ~0.10 below tuned
    assert a.loc[("batch_composition", "L1"), "vs"] == "tuned"
    assert a.loc[("batch_composition", "L1"), "change"] == pytest.approx(-0.10, abs=0.04)


def test_config_table_seed_ranges_and_claims(grid):
    t = Dg.config_table(grid, load_claims(REPO / "params/claims.yaml"), n_resamples=200)
    row = t[(t["config"] == "partner_b") & (t["tier"] == "L1")].iloc[0]
    assert row["seeds"] == 3 and row["min"] <= row["mean"] <= row["max"] and row["ci_low"] < row["mean"] < row["ci_high"]
    assert row["partner_a"] == 0.7917 and row["partner_a in seed range"] is False    # seeds right 72% of the time
    # a claim equal to the lowest seed's F1 (computed from that seed's stored predictions) is in range: bounds count
    seed_f1 = [Dg.binary_macro_f1(d["label"], d["p_toxic"] >= 0.5) for d in
               (pd.read_csv(c.dir / "predictions" / "olid.csv") for c in cells(grid) if c.config.label == "partner_b")]
    claims = load_claims(REPO / "params/claims.yaml")
    claims["tiers"]["L1"] |= {"partner_a": float(min(seed_f1)), "partner_b": 0.95}
    t = Dg.config_table(grid, claims, n_resamples=200)
    row = t[(t["config"] == "partner_b") & (t["tier"] == "L1")].iloc[0]
    assert (row["partner_a in seed range"], row["partner_b in seed range"]) == (True, False)
    assert set(t["tier"]) >= {"L1", "L3", "ΔF1", "emotion"} and "L2" not in set(t["tier"])


def test_target_groups_cover_every_group(grid):
    g = Dg.target_groups(grid, "partner_b", n_resamples=200)
    assert sorted(g["target_group"]) == ["black", "jewish", "women"] and g["rows"].sum() == N


def test_answers_cite_runs_and_say_when_inconclusive(grid):
    claims = load_claims(REPO / "params/claims.yaml")
    ans = dict(A.answers(ev_of(grid, claims, Dg.config_table(grid, claims, 200), Dg.attribution(grid, 300))))
    assert len(ans) == 7
    q5 = next(v for k, v in ans.items() if k.startswith("5."))
    assert "plausible contributor" in q5 and "tuned__seed1" in q5
    q1 = next(v for k, v in ans.items() if k.startswith("1."))
    assert "inconclusive" in q1 or "does not explain" in q1
    assert "`paradigm`" in q1 and "`batch_composition`" in q1       # both factors behind question 1 answered
    assert next(v for k, v in ans.items() if k.startswith("4.")).startswith("Not tested")
    assert "over 3 seeds" in next(v for k, v in ans.items() if k.startswith("6."))


def test_mechanism_table_per_configuration(grid):
    assert not (grid.dir / "summary.csv").exists()    # mid-grid: nothing summarised yet, the table still works
    m = Dg.mechanism_table(grid).set_index("config")
    assert list(m.index) == ["partner_b", "tuned", "interleaved"] and (m["seeds"] == 3).all()
    assert m.loc["partner_b", "shortcut_gap"] == "0.000 ± 0.000"


def test_headline_is_config_by_tier_in_grid_order(grid):
    h = Dg.headline(Dg.config_table(grid, load_claims(REPO / "params/claims.yaml"), n_resamples=100))
    assert list(h.index) == ["partner_b", "tuned", "interleaved"]
    assert list(h.columns) == ["seeds", "L1", "L3", "ΔF1", "emotion"] and (h["seeds"] == 3).all()
    mean, sd = (float(x) for x in h.loc["tuned", "L1"].split(" ± "))
    assert mean == pytest.approx(0.82, abs=0.04) and 0 <= sd < 0.05
    table = Dg.config_table(grid, load_claims(REPO / "params/claims.yaml"), n_resamples=100)
    no_emotion_head = table[~((table["config"] == "tuned") & (table["tier"] == "emotion"))]
    assert Dg.headline(no_emotion_head).loc["tuned", "emotion"] == "—"


@pytest.fixture
def speed_grid(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "speed", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3], "baseline": "base",
        "configs": [{"label": "base", "set": {}},
                    {"label": "grouped", "factor": "group_by_length", "set": {"group_by_length": True}},
                    {"label": "grouped_broken", "factor": "group_by_length", "set": {"group_by_length": True,
                                                                                       "threshold": 0.4}}]}))
    g = load_grid(tmp_path / "s.yaml", tmp_path / "out")
    acc = {"base": {"L1": 0.72, "L3": 0.60}, "grouped_broken": {"L1": 0.86, "L3": 0.70}}
    by_id = {c.id: c for c in cells(g)}
    for c in cells(g):
        if c.config.label == "grouped":  # a pure speed-up: each seed's predictions as the baseline's
            shutil.copytree(by_id[f"base__seed{c.seed}"].dir, c.dir)
        else:
            write_cell(c, acc[c.config.label])
    return g


def test_speed_parity_passes_a_switch_that_leaves_f1_alone_and_fails_one_that_moves_it(speed_grid):
    attrib = Dg.attribution(speed_grid, n_resamples=300)
    par = Dg.speed_parity(attrib, speed_grid)
    ok, broken = (par[par["config"] == c].set_index("tier") for c in ("grouped", "grouped_broken"))
    assert ok.loc["L1", "parity"] and ok.loc["L3", "parity"] and ok.loc["L1", "verdict"].startswith("equivalent within")
    assert not broken.loc["L1", "parity"] and broken.loc["L1", "change"] > 0.08
    assert broken.loc["L1", "verdict"] == "different" and (par["seeds"] == 3).all()
    # no per-seed scores (no grid given): never called equivalent on a CI that merely holds 0
    assert not Dg.speed_parity(attrib)["parity"].any()


def test_markdown_summary_reports_progress_headline_and_attribution(grid):
    text = A.markdown_summary(Dg.evidence(grid, n_resamples=100))
    assert text.startswith("Grid `syn`: 9/9 cells finished")
    assert "| partner_b " in text and "0.8" in text                      # tuned's L1 ≈ 0.82 appears in the headline
    assert "| threshold " in text and "| batch_composition " in text
    assert "Bottom line:" in text and "**What carries the gap.** " in text


def test_answers_say_pending_not_untested_while_a_config_has_no_finished_cell(grid):
    import shutil as sh
    for c in cells(grid):
        if c.config.label == "tuned":
            sh.rmtree(c.dir)
    claims = load_claims(REPO / "params/claims.yaml")
    ans = dict(A.answers(ev_of(grid, claims, Dg.config_table(grid, claims, 100), Dg.attribution(grid, 100))))
    q5 = next(v for k, v in ans.items() if k.startswith("5."))
    assert "pending" in q5 and "`tuned`" in q5 and "Not tested" not in q5


def attrib_rows(factor, changes, half=0.01):
    """Attribution rows for one factor: tier → (change, excludes_0), CI ± half around the change."""
    return [{"factor": factor, "config": f"cfg_{factor}", "vs": "partner_b", "tier": t, "change": c,
             "ci_low": c - half, "ci_high": c + half, "excludes_0": ex, "cells": f"cfg_{factor}__seed1"}
            for t, (c, ex) in changes.items()]


def test_a_share_whose_ci_spans_the_material_line_is_neither_minor_nor_plausible(grid):
    """Verdict words follow the interval's bounds: 13% of the gap with a CI up to 27% is not "minor at most"."""
    claims = load_claims(REPO / "params/claims.yaml")
    attrib = pd.DataFrame(attrib_rows("threshold", {"L1": (0.01, True), "L3": (0.004, False)}, 0.01))
    table = Dg.config_table(grid, claims, 100)
    q5 = dict((k.split(".")[0], v) for k, v in A.answers(ev_of(grid, claims, table, attrib)))["5"]
    assert "minor contributor" not in q5 and "plausible" not in q5 and "undetermined at this grid's size" in q5
    holm = pd.DataFrame(attrib_rows("pseudo_labels", {"L1": (0.06, True), "L3": (0.05, True)})).assign(
        survives_holm=False)   # CI excludes 0 but not significant after Holm: no direction is claimed
    q2 = dict((k.split(".")[0], v) for k, v in A.answers(ev_of(grid, claims, table, holm)))["2"]
    assert "plausible contributor" not in q2 and "but not after Holm adjustment" in q2 and "undetermined" in q2


def test_answers_tell_toward_away_mixed_and_minor_apart(grid):
    """Against the report's gap (A − B: L1 +0.075, L3 +0.115), each verdict follows from the sign and size alone."""
    claims = load_claims(REPO / "params/claims.yaml")
    attrib = pd.DataFrame(
        attrib_rows("pseudo_labels", {"L1": (0.06, True), "L3": (0.05, True)})        # 80% / 43% of the gap
        + attrib_rows("preprocess", {"L1": (-0.06, True), "L3": (0.01, True)})        # away on L1, toward on L3
        + attrib_rows("threshold", {"L1": (0.01, True), "L3": (0.004, False)}, 0.005)  # 13% [7%, 20%] of L1's gap
        + attrib_rows("selection", {"L1": (-0.03, True), "L3": (-0.001, False)})      # away only
        + attrib_rows("validation", {"L1": (0.02, False), "L3": (0.01, False)}))      # nothing detectable
    ans = {k.split(".")[0]: v for k, v in A.answers(ev_of(grid, claims, Dg.config_table(grid, claims, 100), attrib))}
    assert "a plausible contributor" in ans["2"] and "L1 (80% [67%, 94%] of the A−B gap)" in ans["2"]
    assert ans["4"].count("Mixed") == 1 and "L1 away" in ans["4"] and "plausible" not in ans["4"]
    assert "minor contributor at most" in ans["5"] and "L1 (13% [7%, 20%] of the A−B gap)" in ans["5"]
    assert "away from Partner A's numbers" in ans["7"] and "does not explain the gap" in ans["7"]
    assert "inconclusive, not evidence of absence" in ans["3"]


def test_answers_place_the_changed_config_beside_partner_a_and_show_what_moved_inside(grid):
    claims = load_claims(REPO / "params/claims.yaml")
    table = Dg.config_table(grid, claims, 200)
    q5 = dict(A.answers(ev_of(grid, claims, table, Dg.attribution(grid, 200))))[QUESTIONS[4][1]]
    row = table[(table["config"] == "tuned") & (table["tier"] == "L1")].iloc[0]
    where = "inside" if row["pi_low"] <= 0.7917 <= row["pi_high"] else ("above" if 0.7917 > row["pi_high"] else "below")
    assert f"With `tuned`: L1 {row['mean']:.3f}" in q5 and f"Partner A's 0.792 is {where}" in q5
    assert f"a single run would land in [{row['pi_low']:.3f}, {row['pi_high']:.3f}] (95% prediction interval)" in q5
    assert row["pi_low"] < row["t_low"] < row["mean"] < row["t_high"] < row["pi_high"]   # one run is wider than a mean
    assert "Inside the model (`partner_b` → `tuned`, seed means): shortcut gap 0.000 → 0.000" in q5


def test_verdict_names_the_factor_that_carries_the_gap_and_the_limits(grid):
    claims = load_claims(REPO / "params/claims.yaml")
    table, attrib = Dg.config_table(grid, claims, 200), Dg.attribution(grid, 300)
    v = A.verdict(ev_of(grid, claims, table, attrib))
    carry = v.split("**What carries the gap.**")[1].split("**Limits.**")[0]
    assert "`threshold`" in carry and "`paradigm`" not in carry           # tuned: +0.10 L1, interleaved: no effect
    assert "**Partner B.** The baseline `partner_b` (3 seeds): L1" in v and "Partner B's 0.717 is" in v
    dist = {c: (table[(table["config"] == c) & table["tier"].isin(["L1", "L3"])]["mean"]
                - table[(table["config"] == c) & table["tier"].isin(["L1", "L3"])]["partner_a"]).abs().mean()
            for c in ("partner_b", "tuned", "interleaved")}
    assert f"(L1, L3; mean distance {min(dist.values()):.3f}): `{min(dist, key=dist.get)}`" in v
    assert "selected among 3 configurations on these same test tiers, so its distance is optimistic" in v
    assert "L2 (Jigsaw) not tested: x." in v                            # the fixture's reason, passed through


def test_a_tier_scored_on_other_rows_is_never_set_beside_the_partners_levels(grid):
    """ToxiGen here is not the partners' test split: its level is reported, not compared; its changes still count."""
    for c in cells(grid):
        m = json.loads((c.dir / "metrics.json").read_text())
        m["stress"]["tiers"]["toxigen"]["provenance"] = {"file": "$AURA_DATA_DIR/toxigen/annotated_train.csv",
                                                         "partners_rows": False}
        (c.dir / "metrics.json").write_text(json.dumps(m))
    claims = load_claims(REPO / "params/claims.yaml")
    table, attrib = Dg.config_table(grid, claims, 100), Dg.attribution(grid, 200)
    assert Dg.comparable_tiers(grid) == {"L1"}
    v = A.verdict(ev_of(grid, claims, table, attrib))
    assert "(Partner B's 0.401 is on other rows: not comparable)" in v and "(L1; mean distance" in v
    assert "L3 (toxigen, $AURA_DATA_DIR/toxigen/annotated_train.csv) is not the file the partners scored" in v
    l1 = table[table["tier"] == "L1"].assign(off=lambda d: (d["mean"] - 0.7917).abs()).sort_values("off")
    assert list(Dg.distance_to_partner_a(table, {"L1"}).index) == list(l1["config"])
    q5 = dict(A.answers(ev_of(grid, claims, table, attrib)))[QUESTIONS[4][1]]
    assert "(Partner A's 0.517 is on other rows: not comparable)" in q5 and "L3 +" in q5   # the change is still given


def test_runs_scored_before_partners_rows_existed_read_their_note(grid):
    """metrics.json written before `partners_rows`: a provenance note still marks a tier as scored on other rows."""
    for c in cells(grid):
        m = json.loads((c.dir / "metrics.json").read_text())
        m["stress"]["tiers"]["toxigen"]["provenance"] = {"note": "ToxiGen's test split is absent"}
        (c.dir / "metrics.json").write_text(json.dumps(m))
    assert Dg.comparable_tiers(grid) == {"L1"}


def test_the_seed_is_a_row_of_the_attribution_best_minus_worst_seed_with_an_item_ci(grid):
    claims = load_claims(REPO / "params/claims.yaml")
    table = Dg.config_table(grid, claims, 100).set_index(["config", "tier"])
    attrib = Dg.attribution(grid, 300)
    seed = attrib[attrib["factor"] == "seed"].set_index("tier")
    assert list(seed.index) == ["L1", "L3", "ΔF1"]
    for tier in ("L1", "L3", "ΔF1"):
        row = table.loc[("partner_b", tier)]
        assert seed.loc[tier, "change"] == pytest.approx(row["max"] - row["min"])
        assert seed.loc[tier, "ci_low"] <= seed.loc[tier, "change"] <= seed.loc[tier, "ci_high"]
    assert "(largest of 3 seeds)" in seed.loc["L1", "cells"] and seed.loc["L1", "cells"].startswith("partner_b__seed")
    q6 = dict(A.answers(ev_of(grid, claims, Dg.config_table(grid, claims, 100), attrib)))[QUESTIONS[5][1]]
    assert f"L1 {seed.loc['L1', 'change']:+.3f} [" in q6 and "Seed range (best minus worst of the seeds, a selected pair" in q6
    sd = table.loc[("partner_b", "L1"), "sd"]
    half = sps.t.ppf(0.975, 2) * np.sqrt(2 * sd ** 2 + 2 * table.loc[("partner_b", "L1"), "item_var"])
    assert f"L1 sd {sd:.3f} over 3 seeds: two single runs differ by up to ±{half:.3f}" in q6
    carry = A.verdict(ev_of(grid, claims, Dg.config_table(grid, claims, 100), attrib)).split("carries the gap.**")[1]
    assert "`seed`" not in carry.split("**Limits.**")[0]                 # a spread is not a direction


def test_target_group_table_and_plot_across_configurations(grid, tmp_path):
    from aura_core.reporting import plots
    t = Dg.target_group_table(grid, ["partner_b", "tuned", "partner_b"], 100)
    assert list(dict.fromkeys(t["config"])) == ["partner_b", "tuned"] and len(t) == 6
    assert (t.groupby("config")["rows"].sum() == N).all()
    tuned = t[t["config"] == "tuned"]["value"].mean()
    assert tuned > t[t["config"] == "partner_b"]["value"].mean() + 0.03   # tuned is the more accurate config on L3
    fig = plots.target_group_plot(t, tmp_path)
    assert [x.get_text() for x in fig.axes[0].get_legend().get_texts()] == ["partner_b", "tuned"]
    assert plots.target_group_plot(pd.DataFrame(), tmp_path) is None


def synthetic_factorial(tmp_path):
    """paradigm × threshold, 3 seeds, finished cells: interleaved moves L1 by +0.10, the threshold nothing."""
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fac", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3],
        "factors": {"paradigm": ["paired", "interleaved"], "threshold": [0.5, "tuned"]},
        "shapley": {"from": "paradigm=paired,threshold=0.5", "to": "paradigm=interleaved,threshold=tuned"}},
        sort_keys=False))
    g = load_grid(tmp_path / "f.yaml", tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.82 if c.config.overrides["paradigm"] == "interleaved" else 0.72, "L3": 0.60})
    return g


def test_shapley_attribution_over_a_synthetic_factorial_adds_up_and_is_holm_adjusted(tmp_path):
    """paradigm moves L1 by +0.10 alone, threshold nothing; Shapley finds that and the values sum to the change."""
    g = synthetic_factorial(tmp_path)
    assert [(f, c) for f, c, _ in g.contrasts()] == [("threshold", "paradigm=paired,threshold=tuned"),
                                                     ("paradigm", "paradigm=interleaved,threshold=0.5")]
    start, end = "paradigm=paired,threshold=0.5", "paradigm=interleaved,threshold=tuned"
    table, inter = Dg.shapley_attribution(g, start, end, n_resamples=300)
    rows = table.set_index(["factor", "tier"])
    assert rows.loc[("paradigm", "L1"), "shapley"] == pytest.approx(0.10, abs=0.04)
    assert rows.loc[("paradigm", "L1"), "survives_holm"]
    assert rows.loc[("threshold", "L1"), "ci_low"] < 0 < rows.loc[("threshold", "L1"), "ci_high"]
    for tier in ("L1", "L3", "ΔF1"):
        part = table[table["tier"] == tier]
        assert part["shapley"].sum() == pytest.approx(part["total_change"].iloc[0])
    assert (table["p_holm"] >= table["p"]).all() and set(inter["factors"]) == {"paradigm × threshold"}
    claims = load_claims(REPO / "params" / "claims.yaml")
    ans = dict(A.answers(ev_of(g, claims, Dg.config_table(g, claims, 100), Dg.attribution(g, 100), (table, inter))))
    q1, q5 = ans[QUESTIONS[0][1]], ans[QUESTIONS[4][1]]
    assert "changing only this (config `paradigm=interleaved` vs `baseline`" in q1     # one-at-a-time, named by its change
    assert "runs paradigm=interleaved,threshold=0.5__seed1" in q1                        # the folders as they are
    assert "its Shapley share of the change from Partner B's configuration" in q1 and "`paradigm`" in q1
    assert "(not significant after Holm)" in q5
    bottom = A.verdict(ev_of(g, claims, Dg.config_table(g, claims, 100), Dg.attribution(g, 100)))
    assert bottom.startswith("Configurations are named by what they change from the baseline, "
                             "`paradigm=paired,threshold=0.5`.") and "The baseline (3 seeds)" in bottom
    words = A.shapley_summary(table, inter)
    assert "L1 (change +0.0" in words or "L1 (change +0.1" in words
    assert "`threshold` " in words and "(not significant after Holm)" in words
    assert "That the factors add up is not shown by this" in words
    incomplete, _ = Dg.shapley_attribution(g, start, "paradigm=interleaved,threshold=0.5", n_resamples=10)
    assert list(incomplete["shapley"]) and len(incomplete) == 3       # one factor: a one-factor "factorial"
    shutil.rmtree(next(c for c in cells(g) if c.config.label == "paradigm=paired,threshold=tuned").dir)
    broken, _ = Dg.shapley_attribution(g, start, end, n_resamples=10)
    assert "not a full factorial" in broken["note"].iloc[0]


def test_unasked_causes_are_answered_in_their_own_section(grid, tmp_path):
    claims = load_claims(REPO / "params" / "claims.yaml")
    attrib = Dg.attribution(grid, 100).assign(factor=lambda d: d["factor"].replace({"paradigm": "focal_loss"}))
    unasked = A.unasked_answers(ev_of(grid, claims, Dg.config_table(grid, claims, 100), attrib))
    assert [t for t, _ in unasked] == ["Focal loss (γ = 2) for the toxicity head"]
    assert "`focal_loss` — changing only this (config `interleaved` vs `partner_b`" in unasked[0][1]


def test_shipped_factorial_and_fidelity_grids():
    from aura_core.grids.cells import training_cells
    fac = load_grid(REPO / "params" / "grids" / "factorial.yaml")
    assert len(training_cells(fac)) == (6 + 5) * 3 and len(fac.configs) == 48 + 5
    assert {c.config.factor for c in training_cells(fac)} >= {"uncertainty_form", "focal_loss", "sigmoid_head",
                                                             "single_learning_rate", "multitask"}
    unasked = load_grid(REPO / "params" / "grids" / "unasked.yaml")
    assert {k for k, _ in UNASKED} <= {c.factor for c in fac.configs} | {c.factor for c in unasked.configs}
    assert len(training_cells(unasked)) == 10 * 3 and unasked.reuse == ["factorial"]  # 2 reused + 4 switches × 2
    by = {c.label: c.overrides for c in unasked.configs}
    assert by["masked_pooler"] == {"paradigm": "masked", "pooling": "pooler"}        # one change from its reference
    from aura_core.grids.naming import short_names
    names = short_names(fac)
    assert len(names) == 48 and "single_task" not in names and names[fac.baseline] == "baseline"
    assert names[fac.shapley["to"]] == "paradigm=interleaved,threshold=tuned,validation=separate,selection=best"
    fid = load_grid(REPO / "params" / "grids" / "fidelity.yaml")
    assert sorted(c.overrides["goemotions_train_rows"] for c in fid.configs) == [3000, 3000, 10000, 10000]
    assert fid.effect_across == {"factor": "paradigm", "from": "paired", "to": "masked", "across": "goemotions_train_rows"}


def test_an_inconclusive_answer_says_how_many_seeds_would_settle_it(grid):
    claims = load_claims(REPO / "params" / "claims.yaml")
    ans = dict(A.answers(ev_of(grid, claims, Dg.config_table(grid, claims, 100), Dg.attribution(grid, 100))))
    q1 = ans[QUESTIONS[0][1]]
    assert "inconclusive" in q1 and "Power of the paired t-test on per-seed differences: " in q1
    m = re.search(r"(\d+) seeds per configuration \((\d+) at the sd's 80% upper bound\) would detect a change of "
                  r"25% of the A−B gap on (L\d) \((0\.\d+)\)", q1)
    assert m and int(m.group(2)) >= int(m.group(1))          # the sd's upper bound asks for at least as many
    gap = Dg.claim_gap(claims)[m.group(3)]
    assert float(m.group(4)) == pytest.approx(0.25 * abs(gap), abs=5e-4)


@pytest.mark.slow
def test_aso_table_orders_a_real_effect_and_not_a_null_one(grid):
    aso = Dg.aso_table(grid, Dg.attribution(grid, 100)).set_index(["factor", "tier"])
    real, null = aso.loc[("threshold", "L1")], aso.loc[("paradigm", "L1")]
    assert real["eps_changed_over_ref"] < 0.2 and real["eps_ref_over_changed"] > 0.8   # tuned: +0.10 in every seed
    assert null["eps_changed_over_ref"] > 0.2 and null["eps_ref_over_changed"] > 0.2   # the same accuracy: no order
    assert (aso["aso_reading"] == "uninformative (< 5 seeds per arm)").all()          # 3 seeds: said, not read


def test_attribution_p_values_are_holm_adjusted_and_the_answers_say_what_survives(grid):
    claims = load_claims(REPO / "params" / "claims.yaml")
    a = Dg.attribution(grid, 300)
    tests = a.dropna(subset=["p"])
    assert (tests["p_holm"] >= tests["p"]).all() and len(tests) == 9        # 3 contrasts × (L1, L3, ΔF1)
    real = a.set_index(["factor", "tier"]).loc[("threshold", "L1")]
    assert real["p"] < 0.01 and real["survives_holm"]
    assert a[a["factor"] == "seed"]["p"].isna().all()                        # a spread, not a test
    ans = dict(A.answers(ev_of(grid, claims, Dg.config_table(grid, claims, 100), a)))
    assert "After Holm adjustment across the grid's factor × tier tests: L1" in ans[QUESTIONS[4][1]]


def test_factorial_table_sets_every_post_training_choice_beside_its_training(tmp_path):
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fac", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2],
        "factors": {"paradigm": ["paired", "masked"]},
        "post_training": {"threshold": [0.5, "tuned"], "selection": ["last", "best"]},
        "configs": [{"label": "single", "factor": "multitask", "set": {"tasks": ["toxicity"], "weighting": "equal"}}]},
        sort_keys=False))
    g = load_grid(tmp_path / "f.yaml", tmp_path / "out")
    table = pd.DataFrame([{"config": c.label, "tier": tier, "mean": 0.5 + i / 100 + (tier == "L3") / 10, "sd": 0.01}
                          for i, c in enumerate(g.configs) for tier in ("L1", "L3")])
    out = Dg.factorial_table(g, table, ("L1", "L3"))
    assert out.columns.name == "threshold / selection"
    assert list(out.columns) == ["0.5/last", "0.5/best", "tuned/last", "tuned/best"]
    assert list(out.index) == [(t, p) for t in ("L1", "L3") for p in ("paradigm=paired", "paradigm=masked")]
    assert out.loc[("L1", "paradigm=masked"), "tuned/best"] == "0.570 ± 0.010"      # config 7 of the 8 views
    assert out.loc[("L3", "paradigm=paired"), "0.5/last"] == "0.600 ± 0.010"
    assert Dg.factorial_table(load_grid(grid_file_listed(tmp_path), tmp_path / "out"), table).empty


def test_factorial_table_of_listed_views_that_set_different_keys(tmp_path):
    """The diagnosis grid's shape: views that each set some post-training keys. A key a view leaves unset has its
    training's value (here the profile's: 0.5, paired, last), so every view has a column and none is dropped."""
    (tmp_path / "d.yaml").write_text(yaml.safe_dump({
        "name": "d", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1], "baseline": "b",
        "configs": [{"label": "b", "set": {}},
                    {"label": "tuned", "factor": "threshold", "view_of": "b", "set": {"threshold": "tuned"}},
                    {"label": "tuned_sep", "factor": "validation", "vs": "tuned", "view_of": "b",
                     "set": {"threshold": "tuned", "validation": "separate"}},
                    {"label": "best", "factor": "selection", "view_of": "b", "set": {"selection": "best"}}]},
        sort_keys=False))
    g = load_grid(tmp_path / "d.yaml", tmp_path / "out")
    smoke = load(REPO / "params" / "smoke.yaml")
    assert (smoke.threshold, smoke.validation, smoke.selection) == (0.5, "paired", "last")
    table = pd.DataFrame([{"config": c.label, "tier": "L1", "mean": 0.6 + i / 100, "sd": 0.01}
                          for i, c in enumerate(g.configs)])
    out = Dg.factorial_table(g, table, ("L1",))
    assert out.columns.name == "threshold / validation / selection"
    assert list(out.columns) == ["tuned/paired/last", "tuned/separate/last", "0.5/paired/best"]
    assert out.loc[("L1", "b"), "tuned/separate/last"] == "0.620 ± 0.010"


def grid_file_listed(tmp_path):
    (tmp_path / "l.yaml").write_text(yaml.safe_dump({"name": "l", "base": str(REPO / "params" / "smoke.yaml"),
                                                     "seeds": [1], "configs": [{"label": "b"}]}))
    return tmp_path / "l.yaml"


def test_a_grid_rendered_before_it_ends_says_so_first(grid, tmp_path):
    from aura_core.grids.cells import partial_note
    assert partial_note(grid) == ""
    for c in cells(grid):
        if c.config.label == "interleaved" or c.id == "tuned__seed3":
            shutil.rmtree(c.dir)
    note = partial_note(grid)
    assert note == ("Partial grid: 5 of 9 cells finished; every number below is over the finished seeds only, and 1 "
                    "configuration(s) have none yet: interleaved.")
    text = A.write_bottom_line(Dg.evidence(grid, n_resamples=50), tmp_path)
    assert text.startswith(f"**{note}**") and (tmp_path / RunFolder.BOTTOM_LINE).read_text().startswith(f"## Bottom line\n\n**{note}**")


def test_a_partial_factorial_names_its_missing_views_by_their_training(tmp_path):
    from aura_core.grids.cells import partial_note
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fac", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1],
        "factors": {"paradigm": ["paired", "masked"]}, "post_training": {"threshold": [0.5, "tuned"]},
        "configs": [{"label": "single", "set": {"tasks": ["toxicity"], "weighting": "equal"}}]}, sort_keys=False))
    g = load_grid(tmp_path / "f.yaml", tmp_path / "out")
    from aura_core.grids.cells import training_cells
    paired = next(c for c in training_cells(g) if c.config.label == "paradigm=paired")
    write_cell(paired, {"L1": 0.7, "L3": 0.6})
    (paired.dir / "epoch_predictions" / "epoch1").mkdir(parents=True)     # its two views read this training
    assert partial_note(g) == ("Partial grid: 2 of 5 cells finished; every number below is over the finished seeds "
                               "only, and 3 configuration(s) have none yet: paradigm=masked (all 2 views); single.")


def test_a_switch_that_scores_identically_is_worded_by_what_it_changes(grid):
    """Identical macro-F1 on every tier and seed. A post-training switch (the threshold) then acts only together with
    another. A training switch (the paradigm) changed the model, only too little to flip a decision: not zero."""
    by_id = {c.id: c for c in cells(grid)}
    for label in ("interleaved", "tuned"):   # their cells become copies of the baseline's, seed by seed
        for seed in grid.seeds:
            shutil.rmtree(by_id[f"{label}__seed{seed}"].dir)
            shutil.copytree(by_id[f"partner_b__seed{seed}"].dir, by_id[f"{label}__seed{seed}"].dir)
    claims = load_claims(REPO / "params/claims.yaml")
    ans = dict(A.answers(ev_of(grid, claims, Dg.config_table(grid, claims, 100), Dg.attribution(grid, 100))))
    q1 = next(v for k, v in ans.items() if k.startswith("1."))
    assert "`paradigm` — changing only this" in q1 and "not enough to flip one decision" in q1
    assert "It changes nothing on its own" not in q1
    assert "would detect" not in q1.split("`batch_composition`")[0]     # no seed count for an effect that is exactly 0
    q5 = next(v for k, v in ans.items() if k.startswith("5."))
    assert "`threshold` — changing only this" in q5 and "It changes nothing on its own" in q5
    assert A.config_changes(grid, "interleaved", "partner_b") == ["paradigm"]
    assert A.config_changes(grid, "tuned", "partner_b") == ["threshold"]


def test_effect_across_levels_finds_an_effect_that_grows_with_the_share_and_says_where_b_lies(tmp_path):
    """masked helps L1 by +0.05 at 3,000 GoEmotions rows and by +0.20 at 10,000: the per-level changes, their move
    (the interaction, CI excluding 0 on L1, including 0 on L3 where nothing moves) and Partner B's ratio."""
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fid", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3],
        "factors": {"paradigm": ["paired", "masked"], "goemotions_train_rows": [100, 400]},
        "effect_across": {"factor": "paradigm", "from": "paired", "to": "masked", "across": "goemotions_train_rows"}},
        sort_keys=False))
    g = load_grid(tmp_path / "f.yaml", tmp_path / "out")
    gain = {("paired", 100): 0.0, ("masked", 100): 0.05, ("paired", 400): 0.0, ("masked", 400): 0.20}
    for c in cells(g):
        o = c.config.overrides
        write_cell(c, {"L1": 0.70 + gain[(o["paradigm"], o["goemotions_train_rows"])], "L3": 0.60})
    per_level, moves = Dg.effect_across(g, n_resamples=300)
    l1 = per_level[per_level["tier"] == "L1"].set_index("goemotions_train_rows")
    assert l1.loc[100, "change"] == pytest.approx(0.05, abs=0.04) and l1.loc[400, "change"] == pytest.approx(0.20, abs=0.05)
    assert l1.loc[100, "config"] == "paradigm=masked,goemotions_train_rows=100"
    assert l1.loc[100, "vs"] == "paradigm=paired,goemotions_train_rows=100"
    smoke = load(REPO / "params" / "smoke.yaml")
    assert l1.loc[400, "goemotions_per_olid_row"] == pytest.approx(400 / smoke.olid_train_rows, abs=0.01)
    m = moves.set_index("tier")
    assert m.loc["L1", "ci_low"] > 0 and m.loc["L1", "interaction"] == pytest.approx(
        l1.loc[400, "change"] - l1.loc[100, "change"])
    assert m.loc["L3", "ci_low"] < 0 < m.loc["L3", "ci_high"]
    claims = load_claims(REPO / "params" / "claims.yaml")
    ev = Dg.evidence(g, claims, n_resamples=300)                    # the family adjusted once, with the attribution
    text = A.effect_across_text(g, claims, *ev.effect)
    assert text.startswith("**How `paradigm` paired → masked moves with `goemotions_train_rows`.**")
    assert "It moves significantly (after Holm over the report's family) on L1" in text
    l3 = ev.effect[1].set_index("tier").loc["L3"]
    # the move's per-seed sd, from each seed's own four cells, is what its power calculation reads
    per = Dg.cell_table(g).set_index(["config", "seed"])["L3"]
    name = "paradigm={},goemotions_train_rows={}".format
    move = [per[(name("masked", 400), k)] - per[(name("paired", 400), k)] - per[(name("masked", 100), k)]
            + per[(name("paired", 100), k)] for k in (1, 2, 3)]
    assert l3["seed_sd"] == pytest.approx(np.std(move, ddof=1)) and l3["seeds"] == 3
    assert l3["reading"] == "undetermined"          # L3 does not move, and 3 seeds cannot show it within ±1 sd
    gap = claims["tiers"]["L3"]["partner_a"] - claims["tiers"]["L3"]["partner_b"]
    n, upper = seeds_needed(np.std(move, ddof=1), 2, 0.25 * abs(gap), max_seeds=1000)
    assert l3["seeds_for_power"] == f"{n or '> 1,000'} ({upper or '> 1,000'})"
    assert (l3["seeds_needed"], l3["seeds_needed_upper"]) == (n or np.inf, upper or np.inf)
    assert f"(undetermined; {l3['seeds_for_power']} seeds for 80% power)" in text
    assert "Seeds for 80% power: per configuration, for the paired t-test" in text
    assert ev.effect[1].set_index("tier").loc["L1", "seeds_for_power"] == ""    # a determined move needs none
    assert ev.effect[1].set_index("tier").loc["L1", "reading"] == "different"
    assert ev.holm_family == ev.attrib["p"].notna().sum() + ev.effect[0]["p"].notna().sum() + len(ev.effect[1])
    raw = A.effect_across_text(g, claims, per_level, moves)         # not adjusted: no move is claimed
    assert "whether the effect carries unchanged across these mixes is undetermined" in raw
    assert "Partner B trained on 43,410 GoEmotions and 13,240 OLID rows: 3.3 GoEmotions rows per OLID row." in text
    from aura_core.base.params import dump
    first = next(c for c in cells(g) if c.config.label == g.baseline)
    dump(load(g.base, {**first.config.overrides, "seed": first.seed}), first.dir / "params.yaml")
    limits = A._limits(g, Dg.comparable_tiers(g))   # the rows of every cell, not the baseline's only
    assert f"on {smoke.olid_train_rows} olid, 100 or 400 goemotions training rows" in limits
    assert f"for {smoke.epochs} epochs" in limits
    for c in cells(g):
        if c.config.label == "paradigm=masked,goemotions_train_rows=400":
            shutil.rmtree(c.dir)
    per_level, moves = Dg.effect_across(g, n_resamples=50)
    assert "cells not finished" in set(per_level["note"].dropna()) and moves.empty
    assert "at goemotions_train_rows=400" in A.effect_across_text(g, claims, per_level, moves)
    assert "**How `paradigm` paired → masked moves with `goemotions_train_rows`.**" in A.markdown_summary(Dg.evidence(g, n_resamples=50))


@pytest.mark.parametrize("spec", [{"factor": "paradigm", "from": "paired", "to": "interleaved", "across": "seed"},
                                  {"factor": "paradigm", "from": "paired", "to": "nope", "across": "goemotions_train_rows"},
                                  {"factor": "paradigm", "from": "paired", "to": "masked"}])
def test_a_wrong_effect_across_is_refused_naming_the_key(tmp_path, spec):
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fid", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1],
        "factors": {"paradigm": ["paired", "masked"], "goemotions_train_rows": [100, 400]}, "effect_across": spec}))
    with pytest.raises(ParamError, match="f.yaml: effect_across: expected"):
        load_grid(tmp_path / "f.yaml", tmp_path / "out")


def test_the_grid_view_names_a_factorials_configurations_by_their_change_in_tables_too(tmp_path, capsys):
    """Tables and legends of the grid view say `threshold=tuned`, not every setting of the configuration."""
    from aura_core.grids.naming import shorten_frame
    from aura_core.reporting import grid_view
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fac", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2],
        "factors": {"paradigm": ["paired", "interleaved"], "threshold": [0.5, "tuned"]}}, sort_keys=False))
    g = load_grid(tmp_path / "f.yaml", tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.8, "L3": 0.6})
        pd.DataFrame({"step": [1, 2], "s_toxicity": [0.0, 0.1], "weight_toxicity": [0.5, 0.45]}).to_csv(
            c.dir / "steps.csv", index=False)
    frame = pd.DataFrame({"config": ["paradigm=paired,threshold=tuned", "other"], "vs": g.baseline, "x": [1, 2]})
    short = shorten_frame(g, frame)
    assert list(short["config"]) == ["threshold=tuned", "other"] and set(short["vs"]) == {"baseline"}
    indexed = shorten_frame(g, frame.set_index("config"))
    assert list(indexed.index) == ["threshold=tuned", "other"] and list(frame["config"])[0].startswith("paradigm=")
    claims = load_claims(REPO / "params" / "claims.yaml")
    grid_view.show(Dg.GridEvidence(g, claims, Dg.config_table(g, claims, 50), Dg.attribution(g, 50)), tmp_path / "run")
    shown = capsys.readouterr().out
    assert "paradigm=interleaved,threshold=tuned" in shown                     # one that changes both: named so
    assert "paradigm=paired,threshold=tuned" not in shown and "threshold=tuned" in shown
    assert (tmp_path / "run" / "figures").is_dir()


def test_one_report_computes_the_shapley_bootstrap_once(tmp_path, monkeypatch, capsys):
    """The bottom line, the seven answers and the grid view all show the Shapley split: one bootstrap serves them."""
    from aura_core.reporting import grid_view
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fac", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2],
        "factors": {"paradigm": ["paired", "interleaved"], "threshold": [0.5, "tuned"]},
        "shapley": {"from": "paradigm=paired,threshold=0.5", "to": "paradigm=interleaved,threshold=tuned"}},
        sort_keys=False))
    g = load_grid(tmp_path / "f.yaml", tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.82 if c.config.overrides["paradigm"] == "interleaved" else 0.72, "L3": 0.6})
        pd.DataFrame({"step": [1, 2], "s_toxicity": [0.0, 0.1], "weight_toxicity": [0.5, 0.45]}).to_csv(
            c.dir / "steps.csv", index=False)
    calls, real = [], Dg.shapley_attribution
    counted = lambda *a, **k: calls.append(a) or real(*a, **{**k, "n_resamples": 50})  # noqa: E731
    monkeypatch.setattr(Dg, "shapley_attribution", counted)
    claims = load_claims(REPO / "params" / "claims.yaml")
    ev = Dg.evidence(g, claims, 50)
    bottom = A.write_bottom_line(ev, tmp_path)
    grid_view.show(ev, tmp_path / "run")
    assert len(calls) == 1 and "Attribution that adds up" in bottom
    assert "its Shapley share of the change" in (tmp_path / "bottom_line.md").read_text()


def test_attribution_pairs_shared_seeds_draws_enough_for_holm_and_never_reports_p_0(tmp_path):
    """Two configurations whose cells predict identically (e.g. a view that changes nothing): p = 1, not 0 with a
    [0, 0] CI; the table says it paired the seeds and which B it used (≥ 40 × its 9 tests)."""
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "same", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3], "baseline": "b",
        "configs": [{"label": "b", "set": {}}, {"label": "same", "factor": "threshold", "set": {"threshold": 0.4}},
                    {"label": "other", "factor": "paradigm", "set": {"paradigm": "masked"}}]}))
    g = load_grid(tmp_path / "g.yaml", tmp_path / "out")
    by = {c.id: c for c in cells(g)}
    for c in cells(g):
        if c.config.label != "same":
            write_cell(c, {"L1": 0.7 + 0.05 * c.seed, "L3": 0.6})
    for s in (1, 2, 3):
        shutil.copytree(by[f"b__seed{s}"].dir, by[f"same__seed{s}"].dir)
    a = Dg.attribution(g, n_resamples=100).set_index(["factor", "tier"])
    same = a.loc[("threshold", "L1")]
    assert same["change"] == 0 and same["p"] == 1.0 and not same["survives_holm"]
    assert bool(same["paired_seeds"]) and same["n_resamples"] >= 40 * 8


def test_the_paper_tables_report_what_the_evidence_supports_as_markdown_and_booktabs(grid, tmp_path):
    claims = load_claims(REPO / "params/claims.yaml")
    ev = Dg.evidence(grid, claims, 100)
    results, ablation = A.paper_tables(ev)
    assert results["configuration"].iloc[0] == "partner_b" and results["role"].iloc[0].startswith("as stated (baseline)")
    row = ev.table[(ev.table["config"] == "partner_b") & (ev.table["tier"] == "L1")].iloc[0]
    assert results["L1"].iloc[0] == f"{row['mean']:.3f} ± {row['sd']:.3f} [{row['t_low']:.3f}, {row['t_high']:.3f}]"
    closest = Dg.distance_to_partner_a(ev.table, Dg.comparable_tiers(grid)).index[0]
    assert "selected on the test tiers" in results.set_index("configuration").loc[closest, "role"]
    by = ablation.set_index("factor")
    holm = ev.attrib.set_index(["factor", "tier"]).loc[("threshold", "L1"), "survives_holm"]
    assert by.loc["threshold", "L1"].endswith("†") == bool(holm) and not by.loc["paradigm", "L1"].endswith("†")
    section = A.write_paper_tables(ev, tmp_path)
    assert section.startswith("## What to report in the paper") and "3 seeds per configuration" in section
    tex = (tmp_path / "paper_ablation.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "threshold" in tex
    assert (tmp_path / "paper_results.md").read_text().startswith("| configuration")
    A.write_bottom_line(ev, tmp_path)
    assert "## What to report in the paper" in (tmp_path / "bottom_line.md").read_text()


def test_a_one_seed_grid_says_it_has_no_prediction_interval_and_shows_no_zero_sd(tmp_path):
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "one", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1], "baseline": "b",
        "configs": [{"label": "b", "set": {}}, {"label": "t", "factor": "threshold", "set": {"threshold": 0.4}}]}))
    g = load_grid(tmp_path / "g.yaml", tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.7, "L3": 0.6})
    claims = load_claims(REPO / "params/claims.yaml")
    ev = Dg.evidence(g, claims, 50)
    v = A.verdict(ev)
    assert "(1 seed): one seed, so no prediction interval for a single run" in v
    results, _ = A.paper_tables(ev)
    assert results["L1"].str.endswith("(one seed)").all() and not results["L1"].str.contains("±").any()


def test_the_limits_name_every_configurations_own_epochs_and_encoder(tmp_path):
    """A configuration that trains longer than the baseline: the limits say both epoch counts, not the baseline's."""
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "ep", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1], "baseline": "short",
        "configs": [{"label": "short", "set": {}}, {"label": "long", "set": {"epochs": 60}}]}))
    g = load_grid(tmp_path / "g.yaml", tmp_path / "out")
    from aura_core.base.params import dump
    for c in cells(g):
        write_cell(c, {"L1": 0.7, "L3": 0.6})
        dump(load(g.base, {**c.config.overrides, "seed": c.seed}), c.dir / "params.yaml")
    smoke = load(REPO / "params" / "smoke.yaml")
    assert f"Every cell trains `{smoke.encoder}` for {smoke.epochs} or 60 epochs on " in A._limits(g, Dg.comparable_tiers(g))


def test_a_results_page_carries_the_answers_the_shapley_split_and_the_paper_tables(tmp_path, grid):
    """docs/results pages say what the grid view says: the questions a grid tests (and which it does not), the
    causes the comparison report did not ask about, the Shapley split with its interactions, and the paper tables,
    each the same text the words module gives for that evidence."""
    from aura_core.reporting.results_page import evidence_sections, page
    g = synthetic_factorial(tmp_path)
    claims = load_claims(REPO / "params" / "claims.yaml")
    ev = Dg.evidence(g, claims, 50)
    sections = dict(evidence_sections(ev))
    questions = sections["The comparison report's questions"]
    for q, a in A.answers(ev):
        if a.startswith("Not tested"):
            assert f"**{q}**" not in questions and q in questions.split("Not tested by this grid:")[1]
        else:
            assert f"**{q}** {a}" in questions
    shap = sections["Shapley attribution: `paradigm=paired,threshold=0.5` → `paradigm=interleaved,threshold=tuned`"]
    assert shap.startswith(A.shapley_summary(*ev.shapley))
    assert re.search(r"\| paradigm\s+\| L1\s+\|\s+0\.1", shap) or re.search(r"\| paradigm\s+\| L1\s+\|\s+0\.0[5-9]", shap)
    assert "| paradigm × threshold " in shap                                  # the interaction table
    paper = sections["What the evidence supports reporting"]
    results, ablation = A.paper_tables(ev)
    assert results.to_markdown(index=False) in paper and ablation.to_markdown(index=False) in paper
    assert "Candidate causes the comparison report did not ask about" not in sections    # none tested here
    text = page(ev)
    assert all(f"## {title}" in text for title in sections)
    # a grid that tests an unasked cause gets that section, worded as unasked_answers words it
    attrib = Dg.attribution(grid, 50).assign(factor=lambda d: d["factor"].replace({"paradigm": "focal_loss"}))
    unasked_ev = ev_of(grid, claims, Dg.config_table(grid, claims, 50), attrib)
    unasked = dict(evidence_sections(unasked_ev))["Candidate causes the comparison report did not ask about"]
    (title, answer), = A.unasked_answers(unasked_ev)
    assert unasked == f"**{title}.** {answer}"


def test_the_undetermined_interactions_say_how_many_seeds_would_settle_them():
    """The Shapley summary's count of undetermined interactions carries the range of seeds their power calculation
    asks for, and how many no practical number of seeds would settle."""
    inter = pd.DataFrame({"factors": ["a × b"] * 4, "tier": ["L1", "L2", "L3", "ΔF1"],
                          "interaction": [0.01, 0.05, 0.0, 0.01], "ci_low": [-0.01, 0.03, -0.02, -0.01],
                          "ci_high": [0.03, 0.07, 0.02, 0.03], "survives_holm": [False, True, False, False],
                          "reading": ["undetermined", "different", "undetermined", "undetermined"],
                          "seeds_needed": [12, np.nan, np.inf, 4], "seeds_needed_upper": [55, np.nan, np.inf, 9]})
    table = pd.DataFrame({"factor": ["a", "b"], "tier": ["L1", "L1"], "shapley": [0.02, 0.01], "ci_low": [0.01, 0.0],
                          "ci_high": [0.03, 0.02], "survives_holm": [True, False], "total_change": [0.03, 0.03]})
    text = A.shapley_summary(table, inter)
    assert "3 undetermined (to detect 25% of the A−B gap with 80% power the paired t-test would need 4–12 seeds per " \
           "configuration at the observed seed sd, and more than 1,000 for 1 of them" in text
    assert A.power_range(inter.assign(seeds_needed=np.nan)) == "no power calculation: too few seeds"
    assert A.power_range(inter.drop(columns="seeds_needed")) == "no power calculation: too few seeds"
    assert "more than 1,000 for 1 of them" in A.power_range(inter.assign(seeds_needed=[np.inf, np.nan, np.nan, np.nan]))
    assert "seeds_needed" not in A.as_printed(inter) and "seeds_needed_upper" not in A.as_printed(inter)


def test_the_bottom_line_names_an_unasked_cause_that_carries_the_gap_by_the_same_rule(tmp_path, grid):
    """Class weights (a cause the comparison report does not ask about) move L1 and L3 toward Partner A by +0.10: the
    bottom line says so beside the report's own causes, under the same rule; a grid without one says nothing more."""
    (tmp_path / "u.yaml").write_text(yaml.safe_dump({
        "name": "u", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3], "baseline": "partner_b",
        "configs": [{"label": "partner_b", "set": {}},
                    {"label": "weighted", "factor": "toxicity_class_weights",
                     "set": {"toxicity_class_weights": "inverse_frequency"}}]}))
    u = load_grid(tmp_path / "u.yaml", tmp_path / "out")
    acc = {"partner_b": {"L1": 0.72, "L3": 0.60}, "weighted": {"L1": 0.82, "L3": 0.70}}   # ΔF1 unmoved
    for c in cells(u):
        write_cell(c, acc[c.config.label])
    claims = load_claims(REPO / "params/claims.yaml")
    v = A.verdict(ev_of(u, claims, Dg.config_table(u, claims, 200), Dg.attribution(u, 300)))
    carry = v.split("**What carries the gap.**")[1].split("**Limits.**")[0]
    assert carry.startswith(" None of the comparison report's candidate causes")
    assert "Of the causes the report did not ask about, the same rule picks: `toxicity_class_weights` (+0." in carry
    plain = A.verdict(ev_of(grid, claims, Dg.config_table(grid, claims, 200), Dg.attribution(grid, 300)))
    assert "did not ask about" not in plain


def test_directions_and_carries_gap_follow_the_reports_rule():
    """The one rule every "carries" verdict reads: significant toward Partner A on some tier by at least
    MATERIAL_SHARE of the gap at the CI's lower bound, and significant away on none. A non-significant change counts
    neither way; a share whose lower bound is under the line does not carry."""
    gap = {"L1": 0.10, "L2": 0.20}

    def rows(*changes):   # (tier, change, ci_low, ci_high), significance from the CI (no Holm column)
        df = pd.DataFrame(changes, columns=["tier", "change", "ci_low", "ci_high"])
        return df.assign(excludes_0=(df.ci_low > 0) | (df.ci_high < 0))

    toward, away = Dg.directions(rows(("L1", 0.05, 0.03, 0.07), ("L2", -0.01, -0.03, 0.01)), gap)
    assert set(toward) == {"L1"} and away == []
    assert toward["L1"] == pytest.approx((0.5, 0.3, 0.7))
    assert Dg.carries_gap(toward, away)
    toward, away = Dg.directions(rows(("L1", 0.05, 0.03, 0.07), ("L2", -0.05, -0.07, -0.02)), gap)
    assert away == ["L2"] and not Dg.carries_gap(toward, away)            # away on one tier: never carries
    toward, away = Dg.directions(rows(("L1", 0.03, 0.01, 0.05)), gap)     # share [10%, 50%]: under the line at its low
    assert set(toward) == {"L1"} and not Dg.carries_gap(toward, away)
    assert not Dg.carries_gap(*Dg.directions(rows(("L1", 0.05, -0.01, 0.11)), gap))   # CI holds 0: no direction
    toward, away = Dg.directions(rows(("L1", -0.05, -0.07, -0.03)), {"L1": -0.10})    # a negative gap: sign-aware
    assert toward["L1"] == pytest.approx((0.5, 0.3, 0.7)) and Dg.carries_gap(toward, away)
