"""Confidence intervals: a single run settles nothing (BERT fine-tuning moves by points across seeds alone).

Percentile bootstrap over test items (scipy.stats.bootstrap, seeded, ≥ 1000 resamples), the paired bootstrap for the
difference of two runs scored on the same items, seed summaries, and a hierarchical bootstrap (seeds and items) for the
difference between two configurations run with several seeds each.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

from aura_core.base.results import DELTA

N_RESAMPLES = 1000


def binary_macro_f1(y: np.ndarray, pred: np.ndarray, axis: int = -1) -> np.ndarray:
    """Macro-F1 of 0/1 predictions along `axis` (vectorised, for the bootstrap); 0 for a class with no support."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    tp = (y * pred).sum(axis)
    fp = ((1 - y) * pred).sum(axis)
    fn = (y * (1 - pred)).sum(axis)
    tn = ((1 - y) * (1 - pred)).sum(axis)
    return _macro_f1_of_counts(tp, fp, fn, tn)


def item_weights(rng: np.random.Generator, n_items: int, n_draws: int) -> np.ndarray:
    """How often each item appears in each of n_draws bootstrap resamples of n_items items (draws × items): a
    resample's confusion counts are then one matrix product (resampled_macro_f1) instead of a gather per draw."""
    idx = rng.integers(0, n_items, (n_draws, n_items))
    idx += np.arange(0, n_draws * n_items, n_items)[:, None]   # in place: each draw counts into its own row
    return np.bincount(idx.ravel(), minlength=n_draws * n_items).astype(np.float32).reshape(n_draws, n_items)


def resampled_macro_f1(y: np.ndarray, preds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro-F1 of each row of 0/1 `preds` (runs × items) under each row of item `weights` (draws × items, from
    item_weights): draws × runs. Equal to binary_macro_f1(y[items], preds[:, items]) for the resample `items`. The
    products run in float32 (twice as fast) and are exact: integer counts far below 2**24; the ratios in float64."""
    y, preds = np.asarray(y, np.float32), np.atleast_2d(np.asarray(preds, np.float32))
    runs = len(preds)
    counts = (np.asarray(weights, np.float32) @ np.vstack([y, preds * y, preds]).T).astype(float)  # one pass over w
    positives, tp, flagged = counts[:, :1], counts[:, 1:1 + runs], counts[:, 1 + runs:]
    fp, fn = flagged - tp, positives - tp
    tn = weights.sum(1, keepdims=True) - positives - fp
    return _macro_f1_of_counts(tp, fp, fn, tn)


def _macro_f1_of_counts(tp, fp, fn, tn) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_pos = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f1_neg = np.where(2 * tn + fp + fn > 0, 2 * tn / (2 * tn + fp + fn), 0.0)
    return (f1_pos + f1_neg) / 2


def bootstrap_ci(y: np.ndarray, pred: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES,
                 level: float = 0.95) -> dict:
    """Macro-F1 with a percentile bootstrap CI over test items."""
    y, pred = np.asarray(y), np.asarray(pred)
    res = sps.bootstrap((y, pred), binary_macro_f1, paired=True, vectorized=True, n_resamples=n_resamples,
                        confidence_level=level, method="percentile", random_state=np.random.default_rng(seed))
    return {"value": float(binary_macro_f1(y, pred)), "ci_low": float(res.confidence_interval.low),
            "ci_high": float(res.confidence_interval.high), "level": level, "n_resamples": n_resamples}


def seed_summary(values) -> dict:
    """Mean ± sd (ddof 1) and min–max over seeds."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if not len(v):
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": int(len(v)), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference" from resampled differences: 2·(1 + k)/(B + 1), k the draws on
    the smaller side of 0 (Davison & Hinkley's +1, so p ≥ 2/(B + 1) and never 0), capped at 1; 1 when every draw is
    exactly 0 (two arms that predict the same on every resample carry no evidence of a difference)."""
    d = np.asarray(draws, float)
    if not len(d) or np.all(d == 0):
        return 1.0
    k = min(int(np.sum(d <= 0)), int(np.sum(d >= 0)))
    return float(min(1.0, 2 * (1 + k) / (len(d) + 1)))


def draw_chunks(n_draws: int, n_items: int, cells: int = 4_000_000) -> list[tuple[int, int]]:
    """(start, size) blocks of bootstrap draws whose draws × items weight matrix stays near `cells` entries."""
    size = max(1, min(n_draws, cells // max(n_items, 1)))
    return [(i, min(size, n_draws - i)) for i in range(0, n_draws, size)]


def seed_mean(f1: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Per draw, the mean F1 over that draw's resampled seeds: f1 is draws × seeds, seeds draws × n (indices)."""
    return np.take_along_axis(f1, seeds, axis=1).mean(1)


def resamples_for_holm(m: int, alpha: float = 0.05, floor: int = N_RESAMPLES, margin: int = 10) -> int:
    """Bootstrap resamples for a family of m tests under Holm: B + 1 > 2·margin·m/alpha (400·m at 0.05), so the
    smallest attainable two-sided p, 2/(B + 1), is under a tenth of Holm's first threshold alpha/m. With B + 1 just over
    2m/alpha a test passes only when not one draw crosses 0, so a p a quarter of the threshold fails one run in five
    by Monte Carlo noise alone; at ten times that B such a test fails about 1 run in 1,000 (k ≥ 9 of λ = 2.5)."""
    return max(floor, int(np.ceil(2 * margin * m / alpha)))


def hierarchical_effects(tiers: dict, n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = 0.95,
                         delta: tuple[str, str] | None = DELTA, paired: bool = False) -> dict:
    """Per tier, mean-over-seeds F1(a) − F1(b), and the change in ΔF1 = F1(L1) − F1(L3), from the same draws.

    tiers: {level: (y, preds_a[seeds × items], preds_b[seeds × items])}, all tiers with the same seeds per config.
    Each draw resamples seeds (shared across tiers: a seed is one trained model) and each tier's items (shared by both
    arms: they are scored on the same rows). paired=True when row k of a and of b is the same seed (seed k fixes the
    data split, initialisation and data order; a post-training view is the same model): one seed draw for both arms,
    so what the seed moves in both cancels. Otherwise a's and b's seeds are drawn independently."""
    rng = np.random.default_rng(seed)
    data = {k: (np.asarray(y), np.asarray(a, float), np.asarray(b, float)) for k, (y, a, b) in tiers.items()}
    na, nb = (len(next(iter(data.values()))[i]) for i in (1, 2))
    if paired and na != nb:
        raise ValueError(f"paired effects need the same seeds in both arms, got {na} and {nb}")
    point = {k: float(binary_macro_f1(y, a).mean() - binary_macro_f1(y, b).mean()) for k, (y, a, b) in data.items()}
    draws = {k: np.empty(n_resamples) for k in data}
    for start, size in draw_chunks(n_resamples, max(len(y) for y, _, _ in data.values())):
        sa = rng.integers(0, na, (size, na))
        sb = sa if paired else rng.integers(0, nb, (size, nb))
        for k, (y, a, b) in data.items():
            w = item_weights(rng, len(y), size)
            draws[k][start:start + size] = (seed_mean(resampled_macro_f1(y, a, w), sa)
                                            - seed_mean(resampled_macro_f1(y, b, w), sb))
    if delta and all(t in data for t in delta):
        point["ΔF1"] = point[delta[0]] - point[delta[1]]
        draws["ΔF1"] = draws[delta[0]] - draws[delta[1]]
    alpha = (1 - level) / 2
    return {k: {"diff": point[k], "ci_low": float(np.quantile(d, alpha)), "ci_high": float(np.quantile(d, 1 - alpha)),
                "ci90_low": float(np.quantile(d, 0.05)), "ci90_high": float(np.quantile(d, 0.95)),
                "p_le_0": float(np.mean(d <= 0)), "p_two_sided": bootstrap_p(d), "paired": paired,
                "n_resamples": n_resamples} for k, d in draws.items()}


def hierarchical_mean(y: np.ndarray, preds: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0,
                      level: float = 0.95) -> dict:
    """Mean-over-seeds macro-F1 with a CI resampling seeds and items."""
    y, A = np.asarray(y), np.atleast_2d(np.asarray(preds, float))
    rng = np.random.default_rng(seed)
    draws = np.empty(n_resamples)
    for start, size in draw_chunks(n_resamples, len(y)):
        seeds = rng.integers(0, len(A), (size, len(A)))
        draws[start:start + size] = seed_mean(resampled_macro_f1(y, A, item_weights(rng, len(y), size)), seeds)
    alpha = (1 - level) / 2
    return {"value": float(binary_macro_f1(y, A).mean()), "ci_low": float(np.quantile(draws, alpha)),
            "ci_high": float(np.quantile(draws, 1 - alpha))}


def multiclass_macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over all n_classes (absent classes count 0), from one bincount: fast enough to bootstrap."""
    cm = np.bincount(np.asarray(y) * n_classes + np.asarray(pred), minlength=n_classes * n_classes).reshape(n_classes,
                                                                                                          n_classes)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def bootstrap_ci_multiclass(y: np.ndarray, pred: np.ndarray, n_classes: int, seed: int = 0,
                            n_resamples: int = N_RESAMPLES, level: float = 0.95) -> dict:
    y, pred = np.asarray(y), np.asarray(pred)
    res = sps.bootstrap((y, pred), lambda a, b: multiclass_macro_f1(a, b, n_classes), paired=True, vectorized=False,
                        n_resamples=n_resamples, confidence_level=level, method="percentile",
                        random_state=np.random.default_rng(seed))
    return {"value": multiclass_macro_f1(y, pred, n_classes), "ci_low": float(res.confidence_interval.low),
            "ci_high": float(res.confidence_interval.high), "level": level, "n_resamples": n_resamples}


def paired_seed_equivalence(a, b, margin: float, level: float = 0.90) -> dict:
    """b − a over seeds run in both arms (seed k fixes the data split, initialisation and data order in both, so the
    differences are paired): their mean with a two-sided Student t interval at `level`, and the two one-sided tests
    (TOST) against ±margin. Equivalent (at α = (1 − level)/2 per side) when the interval lies inside (−margin, margin);
    a difference whose interval holds 0 but crosses a margin is "not shown equivalent", never "equal"."""
    d = np.asarray(b, float) - np.asarray(a, float)
    n = len(d)
    if n < 2 or not np.all(np.isfinite(d)):
        raise ValueError(f"paired_seed_equivalence: need ≥ 2 finite paired seeds, got {list(d)}")
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))
    t = float(sps.t.ppf(1 - (1 - level) / 2, n - 1))
    if se == 0:
        p_low = p_high = 0.0 if abs(mean) < margin else 1.0
    else:
        p_low = float(sps.t.sf((mean + margin) / se, n - 1))    # H0: difference ≤ −margin
        p_high = float(sps.t.cdf((mean - margin) / se, n - 1))  # H0: difference ≥ +margin
    low, high = mean - t * se, mean + t * se
    return {"n": n, "mean_diff": mean, "sd_diff": float(d.std(ddof=1)), "ci_low": low, "ci_high": high,
            "level": level, "margin": float(margin), "p_tost": max(p_low, p_high),
            "equivalent": bool(-margin < low and high < margin), "excludes_0": bool(low > 0 or high < 0)}


def _clipped(low: float, high: float, bounds: tuple[float, float] | None) -> tuple[float, float]:
    """An interval cut to the range the quantity can take (an F1 lies in [0, 1]): what is cut off holds no value, so
    the coverage is unchanged."""
    return (low, high) if bounds is None else (max(low, bounds[0]), min(high, bounds[1]))


def seed_t_interval(values, level: float = 0.95, bounds: tuple[float, float] | None = None) -> dict:
    """Student t interval for the mean over seeds (each seed one trained model's score): exact under normal seed
    noise, where a percentile bootstrap of 3 seed means covers ~75% at nominal 95%. bounds: the quantity's range."""
    v = np.asarray(values, float)
    n = len(v)
    if n < 2:
        return {"low": None, "high": None, "level": level}
    half = float(sps.t.ppf(1 - (1 - level) / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    low, high = _clipped(float(v.mean() - half), float(v.mean() + half), bounds)
    return {"low": low, "high": high, "level": level}


def item_variance(y: np.ndarray, pred: np.ndarray, n_resamples: int = 200, seed: int = 0) -> float:
    """Bootstrap variance of one run's macro-F1 over test items (how much a single run's score moves with the rows
    it happens to be scored on); vectorised over resamples."""
    y, pred = np.asarray(y), np.asarray(pred)
    idx = np.random.default_rng(seed).integers(0, len(y), (n_resamples, len(y)))
    return float(np.var(binary_macro_f1(y[idx], pred[idx]), ddof=1))


def one_run_prediction_interval(values, item_var: float = 0.0, level: float = 0.95,
                                bounds: tuple[float, float] | None = None) -> dict:
    """Where a single new run of this configuration would land: mean ± t(n−1) · sqrt(sd²·(1 + 1/n) + item_var), sd
    over the n seeds, cut to `bounds`. A partner's claimed number is one run, so it is compared with this, not with a
    CI of a mean."""
    v = np.asarray(values, float)
    n = len(v)
    if n < 2:
        return {"low": None, "high": None, "level": level}
    half = float(sps.t.ppf(1 - (1 - level) / 2, n - 1) * np.sqrt(v.var(ddof=1) * (1 + 1 / n) + item_var))
    low, high = _clipped(float(v.mean() - half), float(v.mean() + half), bounds)
    return {"low": low, "high": high, "level": level}


def equivalence_word(ci90_low: float, ci90_high: float, margin: float | None, significant: bool) -> str:
    """The three-way reading of a difference: "equivalent within ±m" when its 90% interval lies inside ±margin (two
    one-sided tests at 5%; "…, though not 0" when it is also significant), "different" when significant (after the
    report's Holm), else "undetermined". The one reading every equivalence statement of the report uses."""
    inside = margin is not None and np.isfinite(margin) and margin > 0 and -margin < ci90_low and ci90_high < margin
    if inside:
        return f"equivalent within ±{margin:.3f}" + (", though not 0" if significant else "")
    return "different" if significant else "undetermined"
