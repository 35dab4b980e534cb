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

from aura_core.base.results import DELTA
from aura_core.base.stats import binary_macro_f1, bootstrap_p, draw_chunks, item_weights, resampled_macro_f1, seed_mean

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


def shapley_bootstrap(tiers: dict, factors: list[Hashable], n_resamples: int = 1000, seed: int = 0,
                      level: float = 0.95, delta: tuple[str, str] | None = DELTA) -> dict:
    """Per tier (and for ΔF1 = L1 − L3), Shapley values and pairwise interactions of mean-over-seeds macro-F1, with
    CIs from the hierarchical bootstrap.

    tiers: {level: (y, {subset: 0/1 predictions [seeds × items]})}, the same items in every configuration and the same
    seed indices (seed s is one training of each configuration). Each draw resamples the seeds once (shared by every
    configuration and tier: a seed is one set of trained models) and each tier's items, recomputes every
    configuration's F1, then the values; ΔF1's values are L1's minus L3's from the same draws."""
    rng = np.random.default_rng(seed)
    data = {t: (np.asarray(y), {s: np.asarray(a, float) for s, a in preds.items()}) for t, (y, preds) in tiers.items()}
    n_seeds = len(next(iter(next(iter(data.values()))[1].values())))
    per_seed = {t: {s: binary_macro_f1(y, a) for s, a in mats.items()} for t, (y, mats) in data.items()}
    points = {t: {s: float(f.mean()) for s, f in fs.items()} for t, fs in per_seed.items()}
    keys = list(data) + (["ΔF1"] if delta and all(t in data for t in delta) else [])

    def values(f: dict) -> tuple[dict, dict]:
        return shapley(f, factors), interactions(f, factors)
    point = {t: values(points[t]) for t in data}
    seeds_of = {t: values(per_seed[t]) for t in data}   # both are linear in f: each seed's own values, mean = point
    for d in (point, seeds_of) if "ΔF1" in keys else ():
        d["ΔF1"] = tuple({k: d[delta[0]][n][k] - d[delta[1]][n][k] for k in d[delta[0]][n]} for n in range(2))
    draws = {t: ({i: np.empty(n_resamples) for i in factors}, {pair: np.empty(n_resamples) for pair in point[t][1]})
             for t in keys}
    for start, size in draw_chunks(n_resamples, max(len(y) for y, _ in data.values())):
        seeds = rng.integers(0, n_seeds, (size, n_seeds))
        per_tier = {}
        for t, (y, mats) in data.items():
            w = item_weights(rng, len(y), size)
            per_tier[t] = values({s: seed_mean(resampled_macro_f1(y, a, w), seeds) for s, a in mats.items()})
        if "ΔF1" in keys:
            per_tier["ΔF1"] = tuple({k: per_tier[delta[0]][n][k] - per_tier[delta[1]][n][k]
                                     for k in per_tier[delta[0]][n]} for n in range(2))
        for t in keys:
            for n in range(2):
                for k, v in per_tier[t][n].items():
                    draws[t][n][k][start:start + size] = v
    alpha = (1 - level) / 2

    def summary(value: float, d: np.ndarray, by_seed: np.ndarray) -> dict:
        return {"value": value, "ci_low": float(np.quantile(d, alpha)), "ci_high": float(np.quantile(d, 1 - alpha)),
                "ci90_low": float(np.quantile(d, 0.05)), "ci90_high": float(np.quantile(d, 0.95)),  # for TOST at 5%
                "p_two_sided": bootstrap_p(d), "n_resamples": n_resamples,
                "seed_sd": float(np.std(by_seed, ddof=1)) if n_seeds > 1 else float("nan"), "seeds": n_seeds}
    out = {}
    for t in keys:
        f = points[t] if t in points else None
        total = (f[Subset(factors)] - f[Subset()]) if f else (
            points[delta[0]][Subset(factors)] - points[delta[0]][Subset()]
            - points[delta[1]][Subset(factors)] + points[delta[1]][Subset()])
        out[t] = {"total": total,
                  "shapley": {i: summary(point[t][0][i], draws[t][0][i], seeds_of[t][0][i]) for i in factors},
                  "interactions": {pair: summary(point[t][1][pair], draws[t][1][pair], seeds_of[t][1][pair])
                                   for pair in point[t][1]}}
    return out


def holm(pvalues: dict) -> dict:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), same keys."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(order), 0.0, {}
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[key]))
        out[key] = running
    return out


def seeds_needed(sd: float, df: int, delta: float, power: float = 0.8,
                 max_seeds: int = 10_000) -> tuple[int | None, int | None]:
    """Seeds for the paired t-test to detect `delta` with `power`, at the per-seed sd and at its 80% upper confidence
    bound (an sd from 3 seeds has 2 degrees of freedom, so the point value alone is optimistic); None past max_seeds."""
    upper = sd * math.sqrt(df / sps.chi2.ppf(0.2, df))
    return (seeds_for_power(sd, delta, power, max_seeds=max_seeds),
            seeds_for_power(upper, delta, power, max_seeds=max_seeds))


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


ASO_TAU = 0.2        # deepsig's recommended rejection threshold for ε_min
ASO_MIN_SEEDS = 5    # below this per arm ASO's bootstrap of the score distributions says little (Ulmer et al. 2022)


def aso_epsilon(scores_a, scores_b, seed: int = 0, confidence_level: float = 0.95, num_comparisons: int = 1) -> float:
    """ε_min of Almost Stochastic Order (Dror et al. 2019; del Barrio et al. 2018) via deepsig (Ulmer et al. 2022): an
    upper bound on how far a's score distribution violates dominating b's. ε_min < τ (ASO_TAU = 0.2, deepsig's
    recommendation) reads "a almost stochastically dominates b"; ε_min ≥ τ says only that there is no evidence that a
    dominates b — never that b dominates a (ask that with the arguments swapped). Computed on per-seed scores."""
    from deepsig import aso  # GPL-3.0: imported only here, when an ASO comparison is asked for
    return float(aso(np.asarray(scores_a, float), np.asarray(scores_b, float), confidence_level=confidence_level,
                     num_comparisons=num_comparisons, seed=seed, show_progress=False, num_jobs=1))
