"""Statistics on constructed data with known truth."""
import numpy as np
import pytest
from sklearn.metrics import f1_score

from aura_core.base.stats import binary_macro_f1, bootstrap_ci, hierarchical_effects, seed_summary


def effect(y, preds_a, preds_b):
    """One tier's mean-over-seeds F1(a) − F1(b) with its CI (seeds and items resampled)."""
    return hierarchical_effects({"tier": (y, preds_a, preds_b)}, seed=0)["tier"]


def test_vectorised_macro_f1_matches_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, (5, 200)), rng.integers(0, 2, (5, 200))
    ours = binary_macro_f1(y, p)
    assert np.allclose(ours, [f1_score(a, b, average="macro") for a, b in zip(y, p)])
    assert binary_macro_f1(np.zeros(4), np.zeros(4)) == 0.5   # class 1 absent: its F1 counts as 0


def classifier(n, accuracy, rng):
    y = rng.integers(0, 2, n)
    return y, np.where(rng.random(n) < accuracy, y, 1 - y)


def test_bootstrap_ci_covers_the_true_f1_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = 0
    for k in range(60):   # true macro-F1 of a symmetric 80%-accurate classifier on balanced data is 0.8
        y, pred = classifier(400, 0.8, rng)
        ci = bootstrap_ci(y, pred, seed=k)
        hits += ci["ci_low"] <= 0.8 <= ci["ci_high"]
        assert ci["ci_low"] <= ci["value"] <= ci["ci_high"]
    assert 0.85 <= hits / 60 <= 1.0


def test_bootstrap_ci_narrows_with_more_items():
    rng = np.random.default_rng(2)
    w = [(lambda c: c["ci_high"] - c["ci_low"])(bootstrap_ci(*classifier(n, 0.75, rng), seed=0)) for n in (200, 3200)]
    assert w[1] < w[0] / 3    # ~1/sqrt(16) = 1/4


def test_paired_bootstrap_over_items_sign_and_width():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    better = np.where(rng.random(2000) < 0.85, y, 1 - y)
    worse = np.where(rng.random(2000) < 0.70, y, 1 - y)
    d = effect(y, [better], [worse])  # one model each: a paired bootstrap over the same items
    assert d["diff"] > 0.1 and d["ci_low"] > 0 and d["p_le_0"] == 0.0
    same = effect(y, [better], [better.copy()])
    assert same["diff"] == 0 and same["ci_low"] == same["ci_high"] == 0
    # pairing: two near-identical systems differ by a tiny amount with a CI far narrower than either's own CI
    tweak = better.copy()
    tweak[:10] = 1 - tweak[:10]
    paired = effect(y, [better], [tweak])
    own = bootstrap_ci(y, better, seed=0)
    assert (paired["ci_high"] - paired["ci_low"]) < (own["ci_high"] - own["ci_low"]) / 3


def test_seed_summary():
    s = seed_summary([0.70, 0.72, 0.74, None])
    assert s == {"n": 3, "mean": pytest.approx(0.72), "sd": pytest.approx(0.02), "min": 0.70, "max": 0.74}
    assert seed_summary([])["mean"] is None


def test_hierarchical_effect_widens_with_seed_spread():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 1000)

    def runs(acc_list):
        return [np.where(rng.random(1000) < a, y, 1 - y) for a in acc_list]
    steady = effect(y, runs([0.8, 0.8, 0.8]), runs([0.7, 0.7, 0.7]))
    noisy = effect(y, runs([0.9, 0.8, 0.7]), runs([0.8, 0.7, 0.6]))
    assert steady["ci_low"] > 0 and steady["diff"] == pytest.approx(0.1, abs=0.03)
    assert (noisy["ci_high"] - noisy["ci_low"]) > 1.5 * (steady["ci_high"] - steady["ci_low"])


def test_multiclass_macro_f1_and_its_ci():
    from aura_core.base.stats import bootstrap_ci_multiclass, multiclass_macro_f1
    rng = np.random.default_rng(5)
    y = rng.integers(0, 7, 3000)
    pred = np.where(rng.random(3000) < 0.6, y, rng.integers(0, 7, 3000))
    assert multiclass_macro_f1(y, pred, 7) == pytest.approx(f1_score(y, pred, average="macro", labels=range(7)))
    assert multiclass_macro_f1(np.array([0, 1]), np.array([0, 1]), 7) == pytest.approx(2 / 7)  # absent classes: 0
    ci = bootstrap_ci_multiclass(y, pred, 7, seed=0)
    assert ci["ci_low"] < ci["value"] < ci["ci_high"] and ci["ci_high"] - ci["ci_low"] < 0.06


def test_paired_seed_equivalence_interval_covers_at_its_nominal_level_and_tost_holds_alpha():
    """Simulation: normal per-seed differences, 3 seeds as in the parity grid. The 90% t interval covers the true mean
    ≈ 90% of the time; at a true difference on the margin, TOST calls equivalence ≤ 5% of the time."""
    from aura_core.base.stats import paired_seed_equivalence
    rng = np.random.default_rng(0)
    n_sim, covered, false_equiv = 4000, 0, 0
    for _ in range(n_sim):
        a = rng.normal(0.70, 0.02, 3)
        b = a + rng.normal(0.004, 0.01, 3)
        r = paired_seed_equivalence(a, b, margin=0.02)
        covered += r["ci_low"] <= 0.004 <= r["ci_high"]
        on_margin = paired_seed_equivalence(a, a + rng.normal(0.02, 0.01, 3), margin=0.02)
        false_equiv += on_margin["equivalent"]
    assert abs(covered / n_sim - 0.90) < 0.015
    assert false_equiv / n_sim <= 0.05 + 0.01


def test_paired_seed_equivalence_pairs_the_seeds():
    """A shared seed effect cancels: arms far apart across seeds but 0.001 apart within each are equivalent."""
    from aura_core.base.stats import paired_seed_equivalence
    a = np.array([0.60, 0.70, 0.80])
    r = paired_seed_equivalence(a, a + np.array([0.001, 0.0015, 0.0005]), margin=0.01)
    assert r["equivalent"] and r["excludes_0"] and abs(r["mean_diff"] - 0.001) < 1e-12
    loose = paired_seed_equivalence(a, a + np.array([0.03, -0.03, 0.0]), margin=0.01)
    assert not loose["equivalent"] and not loose["excludes_0"]
    with pytest.raises(ValueError, match="≥ 2 finite paired seeds"):
        paired_seed_equivalence([0.5], [0.6], 0.01)


def test_bootstrap_p_is_never_zero_and_is_one_when_every_draw_is_zero():
    from aura_core.base.stats import bootstrap_p, resamples_for_holm
    assert bootstrap_p(np.zeros(999)) == 1.0                       # both arms identical on every resample
    assert bootstrap_p(np.full(999, 0.01)) == pytest.approx(2 / 1000)  # every draw above 0: the floor 2/(B + 1)
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = rng.normal(rng.normal(0, 0.02), 0.01, 1999)
        assert 2 / 2000 <= bootstrap_p(d) <= 1.0
    m = 48
    b = resamples_for_holm(m)
    assert b + 1 > 400 * m and 2 / (b + 1) < 0.05 / m / 10         # the smallest p, a tenth of Holm's first bar


def test_the_resamples_resolve_a_p_well_under_holms_bar_not_just_a_p_of_zero_draws():
    """A difference whose true two-sided p is a quarter of alpha/m (m = 48): at B = 40·m it passes only when no
    draw crosses 0 (about 4 runs in 5); at resamples_for_holm's B in at least 99% of 300."""
    from scipy import stats as sps

    from aura_core.base.stats import bootstrap_p, resamples_for_holm
    m, alpha = 48, 0.05
    z = sps.norm.isf(alpha / m / 4 / 2)                            # P(draw ≤ 0) = p/2 for draws ~ N(z, 1)
    rng = np.random.default_rng(7)

    def passes(b: int) -> float:
        return np.mean([m * bootstrap_p(rng.normal(z, 1, b)) < alpha for _ in range(300)])
    assert 0.6 < passes(40 * m) < 0.95                           # the earlier B: 1 + 2m/alpha
    assert passes(resamples_for_holm(m)) >= 0.99                  # fails ≈ 1 run in 1,000 (Poisson tail)


def test_paired_seeds_give_a_narrower_interval_on_a_view_of_the_same_models():
    """A post-training view is the same models: b = a with a few more positives. Seeds differ a lot, the view's
    change is the same in each; paired resampling cancels the seed spread, independent resampling does not."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 600)
    seeds = [np.where(rng.random(600) < acc, y, 1 - y) for acc in (0.62, 0.75, 0.88)]
    view = [np.where((y == 1) & (rng.random(600) < 0.3), 1, s) for s in seeds]
    tiers = {"tier": (y, view, seeds)}
    paired = hierarchical_effects(tiers, n_resamples=600, paired=True)["tier"]
    unpaired = hierarchical_effects(tiers, n_resamples=600, paired=False)["tier"]
    assert paired["diff"] == unpaired["diff"] and paired["paired"] and not unpaired["paired"]
    width = lambda e: e["ci_high"] - e["ci_low"]
    assert width(unpaired) > 2 * width(paired)
    assert paired["ci_low"] > 0 and unpaired["ci_low"] < 0            # detected only when the seeds are paired
    with pytest.raises(ValueError, match="same seeds"):
        hierarchical_effects({"tier": (y, view[:2], seeds)}, n_resamples=10, paired=True)


def test_seed_t_interval_and_one_run_prediction_interval_cover_at_nominal_over_3_seed_grids():
    """2,000 synthetic 3-seed configurations with normal seed noise: the 95% t interval covers the true mean and the
    95% prediction interval covers a fresh single run, each within ±3 points of 95%."""
    from aura_core.base.stats import one_run_prediction_interval, seed_t_interval
    rng = np.random.default_rng(7)
    n, hit_mean, hit_run = 2000, 0, 0
    for _ in range(n):
        mu, sd = rng.uniform(0.4, 0.8), rng.uniform(0.005, 0.08)
        seeds, new_run = rng.normal(mu, sd, 3), rng.normal(mu, sd)
        t = seed_t_interval(seeds)
        pi = one_run_prediction_interval(seeds)
        hit_mean += t["low"] <= mu <= t["high"]
        hit_run += pi["low"] <= new_run <= pi["high"]
    assert abs(hit_mean / n - 0.95) < 0.03 and abs(hit_run / n - 0.95) < 0.03


def test_intervals_are_cut_to_the_range_of_an_f1_and_keep_their_coverage():
    """Two seeds near the top of the range: t(1) = 12.7 makes the raw intervals run past 1; cut to [0, 1] they lose
    nothing they covered (2,000 simulated 2-seed configurations near the bounds)."""
    from aura_core.base.stats import one_run_prediction_interval, seed_t_interval
    pi = one_run_prediction_interval([0.95, 0.99], bounds=(0.0, 1.0))
    raw = one_run_prediction_interval([0.95, 0.99])
    assert raw["high"] > 1 and pi["high"] == 1.0 and pi["low"] == raw["low"]
    assert seed_t_interval([0.01, 0.05], bounds=(0.0, 1.0))["low"] == 0.0
    rng = np.random.default_rng(3)
    n, hit_cut, hit_raw = 2000, 0, 0
    for _ in range(n):
        mu, sd = rng.uniform(0.85, 0.97), rng.uniform(0.005, 0.03)
        seeds, new_run = np.clip(rng.normal(mu, sd, 2), 0, 1), min(rng.normal(mu, sd), 1.0)
        cut, raw = one_run_prediction_interval(seeds, bounds=(0.0, 1.0)), one_run_prediction_interval(seeds)
        hit_cut += cut["low"] <= new_run <= cut["high"]
        hit_raw += raw["low"] <= new_run <= raw["high"]
    assert hit_cut == hit_raw and abs(hit_cut / n - 0.95) < 0.03


def test_item_noise_widens_the_prediction_interval():
    from aura_core.base.stats import item_variance, one_run_prediction_interval
    rng = np.random.default_rng(1)
    y, pred = classifier(300, 0.8, rng)
    var = item_variance(y, pred)
    assert 0.0005 < var < 0.003                          # sd of a 300-row macro-F1 near 0.8: ≈ 0.02–0.05
    seeds = [0.70, 0.71, 0.72]
    assert (one_run_prediction_interval(seeds, var)["high"] - one_run_prediction_interval(seeds)["high"]) > 0.01


def test_equivalence_word_reads_different_equivalent_and_undetermined():
    from aura_core.base.stats import equivalence_word
    assert equivalence_word(0.01, 0.05, 0.02, significant=True) == "different"
    assert equivalence_word(0.001, 0.004, 0.02, significant=True) == "equivalent within ±0.020, though not 0"
    assert equivalence_word(-0.005, 0.006, 0.02, significant=False) == "equivalent within ±0.020"
    assert equivalence_word(-0.03, 0.01, 0.02, significant=False) == "undetermined"     # holds 0, crosses the margin
    assert equivalence_word(-0.001, 0.001, None, significant=False) == "undetermined"   # no declared margin: no claim


def test_a_weighted_resample_scores_exactly_as_the_resampled_items():
    """item_weights counts each draw's resampled items; resampled_macro_f1 then scores every draw × run from one
    product. Both must equal scoring the explicit resample, bit for bit (the counts are integers, exact in float32)."""
    from aura_core.base.stats import item_weights, resampled_macro_f1
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 500)
    preds = (rng.random((3, 500)) < 0.3 + 0.4 * y).astype(int)
    weights = item_weights(np.random.default_rng(11), 500, 40)
    items = np.random.default_rng(11).integers(0, 500, (40, 500))          # the same draws, as indices
    assert weights.shape == (40, 500) and np.array_equal(weights.sum(1), np.full(40, 500))
    expected = np.array([[binary_macro_f1(y[it], p[it]) for p in preds] for it in items])
    assert np.array_equal(resampled_macro_f1(y, preds, weights), expected)
    assert np.array_equal(resampled_macro_f1(y, preds[0], weights)[:, 0], expected[:, 0])   # one run: a 1-row matrix
