"""Shapley values, interactions, Holm, power and ASO on constructed data with known answers."""
import itertools
import math

import numpy as np
import pytest

from aura_core.base.stats import binary_macro_f1
from aura_core.evidence import factorial as F

FACTORS = ["paradigm", "validation", "threshold", "selection"]
MAIN = {"paradigm": 0.06, "validation": -0.01, "threshold": 0.03, "selection": 0.0}


def design(interaction=0.0):
    """Every subset of the factors → a score: main effects plus one paradigm × threshold interaction."""
    return {frozenset(s): 0.60 + sum(MAIN[i] for i in s) + (interaction if {"paradigm", "threshold"} <= set(s) else 0)
            for r in range(len(FACTORS) + 1) for s in itertools.combinations(FACTORS, r)}


def test_shapley_values_add_up_and_split_an_interaction_equally():
    f = design(interaction=0.04)
    values = F.shapley(f, FACTORS)
    assert sum(values.values()) == pytest.approx(f[frozenset(FACTORS)] - f[frozenset()])
    assert values["paradigm"] == pytest.approx(0.06 + 0.02) and values["threshold"] == pytest.approx(0.03 + 0.02)
    assert values["validation"] == pytest.approx(-0.01) and values["selection"] == pytest.approx(0.0, abs=1e-12)
    inter = F.interactions(f, FACTORS)
    assert inter[("paradigm", "threshold")] == pytest.approx(0.04)
    assert all(v == pytest.approx(0.0, abs=1e-12) for k, v in inter.items() if k != ("paradigm", "threshold"))


def test_an_additive_design_has_no_interaction_and_shapley_equals_the_main_effects():
    f = design()
    assert F.shapley(f, FACTORS) == pytest.approx(MAIN)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in F.interactions(f, FACTORS).values())


def test_shapley_bootstrap_on_predictions_with_known_effects():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1500)
    factors = ["a", "b"]
    accuracy = {frozenset(): 0.70, frozenset({"a"}): 0.80, frozenset({"b"}): 0.70, frozenset({"a", "b"}): 0.80}
    preds = {s: np.array([np.where(rng.random(len(y)) < acc, y, 1 - y) for _ in range(3)]) for s, acc in accuracy.items()}
    res = F.shapley_bootstrap({"L1": (y, preds), "L3": (y, preds)}, factors, n_resamples=200)["L1"]
    assert res["shapley"]["a"]["value"] + res["shapley"]["b"]["value"] == pytest.approx(res["total"])
    assert res["shapley"]["a"]["ci_low"] > 0.05 and res["shapley"]["a"]["p_two_sided"] < 0.01     # a matters
    assert res["shapley"]["b"]["ci_low"] < 0 < res["shapley"]["b"]["ci_high"]                      # b does not
    inter = res["interactions"][("a", "b")]
    assert inter["ci_low"] < 0 < inter["ci_high"]
    rng = np.random.default_rng(1)
    y3 = rng.integers(0, 2, 1500)    # L3: only b matters there, so ΔF1's values are a's gain and b's loss
    acc3 = {frozenset(): 0.60, frozenset({"a"}): 0.60, frozenset({"b"}): 0.70, frozenset({"a", "b"}): 0.70}
    preds3 = {s: np.array([np.where(rng.random(len(y3)) < acc, y3, 1 - y3) for _ in range(3)]) for s, acc in acc3.items()}
    both = F.shapley_bootstrap({"L1": (y, preds), "L3": (y3, preds3)}, factors, n_resamples=200)
    delta = both["ΔF1"]["shapley"]
    for k in factors:
        assert delta[k]["value"] == pytest.approx(both["L1"]["shapley"][k]["value"] - both["L3"]["shapley"][k]["value"])
    assert delta["a"]["ci_low"] > 0 and delta["b"]["ci_high"] < 0
    assert both["ΔF1"]["total"] == pytest.approx(both["L1"]["total"] - both["L3"]["total"])
    # each value's per-seed sd (what a power calculation reads): the two-factor formulas on each seed's own F1s
    f = {t: {s: binary_macro_f1(yy, p) for s, p in pp.items()}
         for t, (yy, pp) in {"L1": (y, preds), "L3": (y3, preds3)}.items()}
    a, b, ab, none = frozenset({"a"}), frozenset({"b"}), frozenset({"a", "b"}), frozenset()
    for t in ("L1", "L3"):
        inter_seeds = f[t][ab] - f[t][a] - f[t][b] + f[t][none]
        shapley_a = 0.5 * (f[t][a] - f[t][none]) + 0.5 * (f[t][ab] - f[t][b])
        assert both[t]["interactions"][("a", "b")]["seed_sd"] == pytest.approx(np.std(inter_seeds, ddof=1))
        assert both[t]["shapley"]["a"]["seed_sd"] == pytest.approx(np.std(shapley_a, ddof=1))
        assert both[t]["interactions"][("a", "b")]["seeds"] == 3
    inter_of = {t: f[t][ab] - f[t][a] - f[t][b] + f[t][none] for t in f}
    d_inter = inter_of["L1"] - inter_of["L3"]
    assert both["ΔF1"]["interactions"][("a", "b")]["seed_sd"] == pytest.approx(np.std(d_inter, ddof=1))


def test_holm_on_constructed_p_values():
    p = {"x": 0.01, "y": 0.04, "z": 0.03, "w": 0.005}
    # sorted: w .005×4 = .02, x .01×3 = .03, z .03×2 = .06, y .04×1 = .04 → monotone .06
    assert F.holm(p) == pytest.approx({"w": 0.02, "x": 0.03, "z": 0.06, "y": 0.06})
    assert F.holm({"only": 0.7}) == {"only": 0.7} and F.holm({"a": 0.6, "b": 0.9})["a"] == 1.0


def test_seeds_for_power_follows_the_t_test():
    n = F.seeds_for_power(sd_diff=0.02, delta=0.02)          # effect of one sd: about 10 paired seeds
    assert n == 10
    assert F.seeds_for_power(0.01, 0.02) < n < F.seeds_for_power(0.04, 0.02)
    assert F.seeds_for_power(1.0, 0.02, max_seeds=50) is None
    # the sd of 3 seeds has 2 degrees of freedom: at its 80% upper bound (× sqrt(2 / chi2_0.2(2)) ≈ × 2.12) more seeds
    n, upper = F.seeds_needed(0.02, 2, 0.02)
    assert n == F.seeds_for_power(0.02, 0.02) and upper == F.seeds_for_power(0.02 * math.sqrt(2 / 0.4463), 0.02)
    assert upper > 3 * n          # a 2.12× sd needs ≈ 4.5× the seeds
    assert F.seeds_needed(1.0, 2, 0.02, max_seeds=50) == (None, None)


def test_aso_orders_clearly_separated_seed_distributions():
    rng = np.random.default_rng(1)
    better, worse = rng.normal(0.80, 0.01, 5), rng.normal(0.70, 0.01, 5)
    assert F.aso_epsilon(better, worse) < 0.2 and F.aso_epsilon(worse, better) > 0.8
    same_a, same_b = rng.normal(0.75, 0.01, 8), rng.normal(0.75, 0.01, 8)
    # equal distributions: neither direction dominates (ε ≥ τ both ways), which is not "the other one is better"
    assert F.aso_epsilon(same_a, same_b) > F.ASO_TAU and F.aso_epsilon(same_b, same_a) > F.ASO_TAU
