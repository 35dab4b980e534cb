"""Attribution that adds up, over a full factorial: exact Shapley values of each factor for the change from Partner B's
stated configuration to the Partner-A candidate, two-factor interactions, Holm-adjusted tests, Almost Stochastic Order
between seed distributions, and the seeds a test would need.

A factorial design gives the score f(S) of every subset S of the factors switched from B's value to the candidate's.
The Shapley value of factor i averages its marginal change f(S ∪ {i}) − f(S) over the orders in which the factors
could be switched; the values sum exactly to f(all) − f(none). The Shapley interaction index of i and j averages
f(S ∪ ij) − f(S ∪ i) − f(S ∪ j) + f(S) the same way: 0 in an additive design.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Hashable

import numpy as np
from scipy import stats as sps

from .stats import binary_macro_f1

Subset = frozenset


def _weights(k: int, size: int, others: int) -> float:
    """|S|!(k − |S| − others)!/(k − others + 1)!: the Shapley weight of a subset S of the remaining factors."""
    return math.factorial(size) * math.factorial(k - size - others) / math.factorial(k - others + 1)


def shapley(f: Callable[[Subset], float] | dict, factors: list[Hashable]) -> dict:
    """Exact Shapley value of each factor; f maps a frozenset of switched factors to a score (every subset needed)."""
    value = f.__getitem__ if isinstance(f, dict) else f
    k, out = len(factors), {}
    for i in factors:
        rest = [x for x in factors if x != i]
        out[i] = sum(_weights(k, len(s), 1) * (value(Subset(s) | {i}) - value(Subset(s)))
                     for r in range(k) for s in itertools.combinations(rest, r))
    return out


def interactions(f: Callable[[Subset], float] | dict, factors: list[Hashable]) -> dict:
    """Shapley interaction index of every pair (Grabisch 1997): how much more (or less) i and j change the score
    together than apart, averaged over the settings of the other factors."""
    value = f.__getitem__ if isinstance(f, dict) else f
    k, out = len(factors), {}
    for i, j in itertools.combinations(factors, 2):
        rest = [x for x in factors if x not in (i, j)]
        out[(i, j)] = sum(
            _weights(k, len(s), 2) * (value(Subset(s) | {i, j}) - value(Subset(s) | {i}) - value(Subset(s) | {j})
                                      + value(Subset(s)))
            for r in range(k - 1) for s in itertools.combinations(rest, r))
    return out


def shapley_bootstrap(y: np.ndarray, preds: dict[Subset, np.ndarray], factors: list[Hashable],
                      n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Shapley values and pairwise interactions of macro-F1 with CIs from the hierarchical bootstrap.

    preds: for every subset, 0/1 predictions [seeds × items] on the same items (the same seed indices in every
    configuration: seed s is one training of each). Each draw resamples seeds (jointly across configurations) and
    items (jointly), recomputes every configuration's mean-over-seeds F1, then the values."""
    y = np.asarray(y)
    mats = {s: np.asarray(a, float) for s, a in preds.items()}
    n_seeds = len(next(iter(mats.values())))
    point_f = {s: float(binary_macro_f1(y, a).mean()) for s, a in mats.items()}
    point_v, point_i = shapley(point_f, factors), interactions(point_f, factors)
    rng = np.random.default_rng(seed)
    draws_v = {i: np.empty(n_resamples) for i in factors}
    draws_i = {pair: np.empty(n_resamples) for pair in point_i}
    for b in range(n_resamples):
        seeds, items = rng.integers(0, n_seeds, n_seeds), rng.integers(0, len(y), len(y))
        fb = {s: float(binary_macro_f1(y[items], a[seeds][:, items]).mean()) for s, a in mats.items()}
        for i, v in shapley(fb, factors).items():
            draws_v[i][b] = v
        for pair, v in interactions(fb, factors).items():
            draws_i[pair][b] = v
    alpha = (1 - level) / 2

    def summary(point: float, d: np.ndarray) -> dict:
        return {"value": point, "ci_low": float(np.quantile(d, alpha)), "ci_high": float(np.quantile(d, 1 - alpha)),
                "p_two_sided": float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))}
    return {"total": point_f[Subset(factors)] - point_f[Subset()],
            "shapley": {i: summary(point_v[i], draws_v[i]) for i in factors},
            "interactions": {pair: summary(point_i[pair], draws_i[pair]) for pair in point_i}}


def holm(pvalues: dict) -> dict:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), same keys."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(order), 0.0, {}
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[key]))
        out[key] = running
    return out


def seeds_for_power(sd_diff: float, delta: float = 0.02, power: float = 0.8, alpha: float = 0.05,
                    max_seeds: int = 10_000) -> int | None:
    """Seeds per configuration for a paired two-sided t-test on per-seed differences (sd `sd_diff`) to detect a change
    of `delta` with the given power; None when even max_seeds would not."""
    if sd_diff <= 0:
        return 2
    for n in range(2, max_seeds + 1):
        df, nc = n - 1, delta / sd_diff * math.sqrt(n)
        crit = sps.t.ppf(1 - alpha / 2, df)
        achieved = sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
        if achieved >= power:
            return n
    return None


def aso_epsilon(scores_a, scores_b, seed: int = 0, confidence_level: float = 0.95, num_comparisons: int = 1) -> float:
    """ε_min of Almost Stochastic Order (Dror et al. 2019; del Barrio et al. 2018) via deepsig (Ulmer et al. 2022):
    0 means a stochastically dominates b, 0.5 no order, 1 b dominates a; < 0.5 is the usual threshold for "a is
    better". Computed on the per-seed scores of two configurations."""
    from deepsig import aso  # GPL-3.0: imported only here, when an ASO comparison is asked for
    return float(aso(np.asarray(scores_a, float), np.asarray(scores_b, float), confidence_level=confidence_level,
                     num_comparisons=num_comparisons, seed=seed, show_progress=False, num_jobs=1))
