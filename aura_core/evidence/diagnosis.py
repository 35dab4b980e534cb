"""A finished grid as numbers: per-configuration results over seeds with CIs, factor attribution against the baseline,
the seed as a factor, target-group breakdown, mechanism and speed-parity tables. answers.py puts them into words.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml

from aura_core.base.factors import factor_name
from aura_core.base.params import load
from aura_core.base.results import LEVELS, RunMetrics, TierPredictions, claim_side, delta_f1
from aura_core.base.run_folder import RunFolder
from aura_core.base.stats import (
    binary_macro_f1,
    equivalence_word,
    hierarchical_effects,
    hierarchical_mean,
    item_variance,
    one_run_prediction_interval,
    paired_seed_equivalence,
    resamples_for_holm,
    seed_summary,
    seed_t_interval,
)
from aura_core.evidence import multiverse
from aura_core.evidence.compare import load_claims
from aura_core.evidence.factorial import ASO_MIN_SEEDS, ASO_TAU, aso_epsilon, holm, seeds_needed, shapley_bootstrap
from aura_core.grids.cells import Cell, cell_metrics, cell_table, cells, finished, first_baseline_cell, partial_note
from aura_core.grids.spec import Grid
from aura_core.scoring.post_training import KEYS as POST_TRAINING_KEYS
from aura_core.scoring.post_training import view_tier_predictions

TIERS = list(LEVELS)
MATERIAL_SHARE = 0.25   # a factor that closes less than this share of the A−B gap on every tier is called minor
POWER_MAX_SEEDS = 1_000  # past this many seeds per configuration a power calculation says "> 1,000"
# factors that are speed switches, not candidate causes: they must leave F1 where the seed puts it
SPEED_FACTORS = ("group_by_length", "unpad", "precision")


@dataclass
class GridEvidence:
    """A grid's numbers, computed once for everything that shows them (the verdict, the answers, the grid view in
    05_compare and report.html): the per-configuration table, the factor attribution, the Shapley split and the
    effect_across table. Every test a verdict rests on (attribution, Shapley values, interactions, effect_across and
    its move) is one declared Holm family: adjusted once, here (`holm_family` tests)."""
    grid: Grid
    claims: dict
    table: pd.DataFrame   # config_table
    attrib: pd.DataFrame  # attribution
    shapley: tuple[pd.DataFrame, pd.DataFrame] = (pd.DataFrame(), pd.DataFrame())   # shapley_attribution
    effect: tuple[pd.DataFrame, pd.DataFrame] = (pd.DataFrame(), pd.DataFrame())    # effect_across
    holm_family: int = 0
    n_resamples: int = 1000
    # what the words and the view both read, derived once from the above (GridEvidence.of)
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)       # cell_table: each cell's status and scores
    comparable: set = field(default_factory=set)                    # levels scored on the partners' own rows
    gap: dict = field(default_factory=dict)                         # Partner A − Partner B per level
    distance: pd.DataFrame = field(default_factory=pd.DataFrame)    # each configuration's distance to Partner A
    speed: pd.DataFrame = field(default_factory=pd.DataFrame)       # the speed switches' F1 equivalence
    multiverse: pd.DataFrame = field(default_factory=pd.DataFrame)  # the factor's effect in each universe
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)  # each switch's share of that effect's spread
    mv_spread: pd.DataFrame = field(default_factory=pd.DataFrame)   # L1/L2/L3 over the universes, per factor value
    mv_closest: pd.DataFrame = field(default_factory=pd.DataFrame)  # the universes nearest each partner's claims
    mv_average: pd.DataFrame = field(default_factory=pd.DataFrame)  # the factor's effect averaged over the universes
    partial: str = ""                                               # how far an unfinished grid is ('' when done)

    @classmethod
    def of(cls, grid: Grid, claims: dict, table: pd.DataFrame, attrib: pd.DataFrame,
           shapley: tuple[pd.DataFrame, pd.DataFrame] = (pd.DataFrame(), pd.DataFrame()),
           effect: tuple[pd.DataFrame, pd.DataFrame] = (pd.DataFrame(), pd.DataFrame()),
           holm_family: int = 0, n_resamples: int = 1000,
           mv_average: pd.DataFrame | None = None) -> "GridEvidence":
        """The evidence with everything derived from it: the one place the words' numbers come from."""
        comparable, gap = comparable_tiers(grid), claim_gap(claims)
        mv = multiverse_table(grid, attrib, gap) if grid.multiverse else pd.DataFrame()
        done = mv.dropna(subset=["holds"]) if len(mv) else mv
        importance = (switch_importance(multiverse.by_universe(grid, table, done), list(grid.multiverse[0]),
                                        multiverse.measured_columns(grid)) if len(done) else pd.DataFrame())
        return cls(grid, claims, table, attrib, shapley, effect, holm_family, n_resamples, cell_table(grid),
                   comparable, gap, distance_to_partner_a(table, comparable), speed_parity(attrib, grid), mv,
                   importance, multiverse.distribution(grid, table), multiverse.closest(grid, table, comparable),
                   pd.DataFrame() if mv_average is None else mv_average, partial_note(grid))

    @property
    def contrasts(self) -> pd.DataFrame:
        """The one-change contrasts the words read: the attribution, where a multiverse's per-universe rows give way
        to the factor's effect averaged over the universes (the rows of each universe have their own table)."""
        if not self.grid.multiverse or "factor" not in self.attrib:
            return self.attrib
        own = self.attrib[~self.attrib["factor"].astype(str).str.startswith("universe:")]
        return pd.concat([own, self.mv_average], ignore_index=True) if len(self.mv_average) else own


def family_bound(grid: Grid) -> int:
    """An upper bound on the report's family of tests (factor × tier and ΔF1 each): one per contrast, per Shapley
    value and interaction of the grid's `shapley` change, per effect_across level and its move; sizes the bootstrap
    so that its smallest p can pass Holm over the whole family."""
    per = len(TIERS) + 1
    m = len(list(grid.contrasts())) * per
    if grid.shapley:
        configs = {c.label: c.overrides for c in grid.configs}
        a, b = configs[grid.shapley["from"]], configs[grid.shapley["to"]]
        f = sum(a.get(k) != b.get(k) for k in set(a) | set(b))
        m += (f + f * (f - 1) // 2) * per
    if grid.effect_across:
        levels = {c.overrides.get(grid.effect_across["across"]) for c in grid.configs}
        m += (len(levels) + 1) * per
    if grid.multiverse:
        m += per   # the factor's effect averaged over the universes
    return m


def adjust_family(frames: list[pd.DataFrame]) -> int:
    """Holm over every row with a p-value in these frames together (one family); writes p_holm and survives_holm
    into each frame in place and returns the family's size."""
    tests = {(i, j): float(p) for i, f in enumerate(frames) if len(f) and "p" in f
             for j, p in f["p"].items() if pd.notna(p)}
    adjusted = holm(tests) if tests else {}
    for i, f in enumerate(frames):
        if len(f) and "p" in f:
            f["p_holm"] = [adjusted.get((i, j)) for j in f.index]
            f["survives_holm"] = [bool(adjusted[(i, j)] < 0.05) if (i, j) in adjusted else None for j in f.index]
    return len(tests)


def evidence(grid: Grid, claims: dict | None = None, n_resamples: int = 1000) -> GridEvidence:
    """claims: the partners' numbers; default, the claims file of the grid's base profile."""
    claims = claims if claims is not None else load_claims(load(grid.base).claims)
    b = resamples_for_holm(family_bound(grid), floor=n_resamples)
    attrib = attribution(grid, b)
    s = grid.shapley
    shap = shapley_attribution(grid, s["from"], s["to"], n_resamples=b) if s else (pd.DataFrame(), pd.DataFrame())
    effect = effect_across(grid, b)
    average = multiverse_average(grid, b) if grid.multiverse else pd.DataFrame()
    tested = [attrib, shap[0] if "shapley" in shap[0] else pd.DataFrame(), shap[1], effect[0], effect[1], average]
    m = adjust_family(tested)
    table = config_table(grid, claims, n_resamples)
    margins, deltas = seed_margins(table, grid.baseline), material_deltas(claims)
    for f in (shap[1], effect[1]):   # interactions and the effect's move: different / equivalent within ±m / undetermined
        if len(f) and "ci90_low" in f:
            f["reading"] = [equivalence_word(r.ci90_low, r.ci90_high, margins.get(r.tier), bool(r.survives_holm))
                            for r in f.itertuples()]
            f["margin"] = [margins.get(r.tier) for r in f.itertuples()]
            if "seed_sd" in f:
                need = [power_need(r, deltas) for r in f.itertuples()]
                f["seeds_needed"], f["seeds_needed_upper"] = [n for n, _ in need], [u for _, u in need]
                f["seeds_for_power"] = [power_words(n, u) for n, u in need]
    return GridEvidence.of(grid, claims, table, attrib, shap, effect, m, b, average)


def material_deltas(claims: dict) -> dict[str, float]:
    """The change worth detecting per tier: MATERIAL_SHARE of the A−B gap (ΔF1: of the gap in A's and B's ΔF1)."""
    gap = claim_gap(claims)
    if "L1" in gap and "L3" in gap:
        gap["ΔF1"] = gap["L1"] - gap["L3"]
    return {t: MATERIAL_SHARE * abs(g) for t, g in gap.items() if g}


def power_need(r, deltas: dict[str, float]) -> tuple[float, float]:
    """For an undetermined interaction: seeds per configuration the paired t-test on its per-seed values needs to
    detect MATERIAL_SHARE of the A−B gap with 80% power, at the seed sd and at the sd's 80% upper bound; inf past
    POWER_MAX_SEEDS, NaN where no calculation applies (a determined reading, one seed, no gap for the tier)."""
    if getattr(r, "reading", "") != "undetermined" or r.tier not in deltas or not r.seeds > 1 \
            or not np.isfinite(r.seed_sd):
        return math.nan, math.nan
    n, upper = seeds_needed(r.seed_sd, int(r.seeds) - 1, deltas[r.tier], max_seeds=POWER_MAX_SEEDS)
    return (float(n) if n else math.inf), (float(upper) if upper else math.inf)


def power_words(n: float, upper: float) -> str:
    """`seeds_for_power` as the tables show it: 'n (n at the sd's upper bound)', '> 1,000' past the cap, '' for none."""
    if math.isnan(n):
        return ""
    word = lambda v: f"> {POWER_MAX_SEEDS:,}" if math.isinf(v) else f"{int(v)}"
    return f"{word(n)} ({word(upper)})"


def seed_margins(table: pd.DataFrame, config: str) -> dict[str, float]:
    """The declared equivalence margin per tier: one seed sd of `config` (the baseline), the spread re-seeding alone
    gives; ΔF1's from its own per-seed values."""
    if table.empty or "sd" not in table:
        return {}
    rows = table[(table["config"] == config) & table["sd"].notna()]
    return {r.tier: float(r.sd) for r in rows.itertuples() if r.sd > 0}


def tier_predictions(cell: Cell) -> dict[str, TierPredictions]:
    """level → TierPredictions at the run's threshold for every available tier; for a post-training view, from the
    training's stored epoch predictions under the view's choice."""
    run = RunFolder(cell.dir)
    if cell.is_view:
        return view_tier_predictions(run.path, run.read_params(), cell.choice)
    stress = run.stress()
    return {t.level: TierPredictions.at_threshold(pd.read_csv(run.prediction(t.key)), stress.threshold)
            for t in stress.available()}


def cells_by_config(grid: Grid) -> dict[str, list]:
    """Each configuration's finished cells (one per seed), keyed by label; a configuration with none maps to []."""
    groups: dict[str, list] = {c.label: [] for c in grid.configs}
    for c in cells(grid):
        if finished(c):
            groups[c.config.label].append(c)
    return groups


def config_table(grid: Grid, claims: dict, n_resamples: int = 1000) -> pd.DataFrame:
    """Per configuration and tier: mean ± sd and min–max over seeds, a CI over seeds and items (ci_*), the 95% t
    interval of the seed mean (t_*), the 95% prediction interval for one new run (pi_*: seed sd and item noise), the
    partners' numbers, and whether each claimed number — one run — lies inside that prediction interval."""
    rows = []
    for label, cs in cells_by_config(grid).items():
        if not cs:
            rows.append({"config": label, "tier": "—", "seeds": 0, "note": "no finished cell"})
            continue
        preds = [tier_predictions(c) for c in cs]
        scores = [RunMetrics.from_json(cell_metrics(c), str(c.dir)).stress for c in cs]
        for level in TIERS + ["ΔF1", "emotion"]:
            if level in TIERS:
                if not all(level in p for p in preds):
                    continue
                y = preds[0][level].labels
                vals = [binary_macro_f1(p[level].labels, p[level].predicted) for p in preds]
                ci = hierarchical_mean(y, [p[level].predicted for p in preds], n_resamples)
                item_var = float(np.mean([item_variance(p[level].labels, p[level].predicted) for p in preds]))
            elif level == "ΔF1":
                vals, ci, item_var = [s.stored_delta_f1 for s in scores], None, 0.0
            else:
                vals, ci, item_var = [s.emotion_f1 for s in scores], None, 0.0
            s = seed_summary(vals)
            if not s["n"]:
                continue
            finite = [v for v in vals if v is not None and np.isfinite(v)]
            bounds = (-1.0, 1.0) if level == "ΔF1" else (0.0, 1.0)   # an F1 lies in [0, 1], a difference of two
            t, pi = seed_t_interval(finite, bounds=bounds), one_run_prediction_interval(finite, item_var, bounds=bounds)
            row = {"config": label, "tier": level, "seeds": s["n"], "mean": s["mean"], "sd": s["sd"],
                   "min": s["min"], "max": s["max"], "ci_low": ci["ci_low"] if ci else None,
                   "ci_high": ci["ci_high"] if ci else None, "t_low": t["low"], "t_high": t["high"],
                   "pi_low": pi["low"], "pi_high": pi["high"], "item_var": item_var}
            claim = claims["tiers"].get(level, {})
            for who in ("partner_a", "partner_b"):
                if who in claim:
                    row[who] = claim[who]
                    row[f"{who} in seed range"] = claim_side(claim[who], s["min"], s["max"]) == "inside"
                    if pi["low"] is not None:
                        row[f"{who} in one-run PI"] = claim_side(claim[who], pi["low"], pi["high"]) == "inside"
            rows.append(row)
    return pd.DataFrame(rows)


def attribution(grid: Grid, n_resamples: int = 1000) -> pd.DataFrame:
    """For each configuration that changes one factor: the change in L1/L2/L3 F1 and ΔF1 against the baseline, with a
    CI over seeds and items (stats.hierarchical_effects), as one row per factor and tier; p-values (two-sided, from
    the same bootstrap) Holm-adjusted across every factor × tier test of the table (the seed rows excluded: they are
    a spread, not a hypothesis)."""
    groups = cells_by_config(grid)
    rows = []
    contrasts = list(grid.contrasts())
    # every factor × tier test of the table is one Holm family; enough resamples that its smallest p can pass Holm
    n_resamples = resamples_for_holm(len(contrasts) * (len(TIERS) + 1), floor=n_resamples)
    for factor, label, ref in contrasts:
        effects = config_change(groups, label, ref, n_resamples)
        if effects is None:
            rows.append({"factor": factor, "config": label, "vs": ref, "tier": "—", "note": "cells not finished"})
            continue
        for lvl, e in effects.items():
            rows.append({"factor": factor, "config": label, "vs": ref, "tier": lvl, "change": e["diff"],
                         "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                         "excludes_0": bool(e["ci_low"] > 0 or e["ci_high"] < 0),
                         "p": e["p_two_sided"], "paired_seeds": e["paired"], "n_resamples": e["n_resamples"],
                         "cells": ", ".join(c.id for c in groups[label])})
    tested = [i for i, r in enumerate(rows) if "p" in r]
    adjusted = holm({i: rows[i]["p"] for i in tested})
    for i in tested:
        rows[i]["p_holm"] = adjusted[i]
        rows[i]["survives_holm"] = bool(adjusted[i] < 0.05)
    return pd.DataFrame(rows + seed_rows(grid, groups.get(grid.baseline, []), n_resamples))


def config_change(groups: dict[str, list], label: str, ref: str, n_resamples: int = 1000) -> dict | None:
    """Per tier and ΔF1, config `label` minus config `ref` (mean over seeds) with a CI over seeds and items; None while
    either has no finished cell."""
    a_cells, b_cells = ({c.seed: c for c in groups.get(x) or []} for x in (label, ref))
    if not a_cells or not b_cells:
        return None
    shared = sorted(set(a_cells) & set(b_cells))
    paired = len(shared) >= 2 and set(a_cells) == set(b_cells)  # the same seeds: pair them (seed k = one split + init)
    a_seeds, b_seeds = (shared, shared) if paired else (sorted(a_cells), sorted(b_cells))
    other, base = [tier_predictions(a_cells[s]) for s in a_seeds], [tier_predictions(b_cells[s]) for s in b_seeds]
    tiers = {lvl: (base[0][lvl].labels, [p[lvl].predicted for p in other], [p[lvl].predicted for p in base])
             for lvl in TIERS if all(lvl in p for p in other + base)}
    return hierarchical_effects(tiers, n_resamples, paired=paired)


def seed_rows(grid: Grid, base_cells: list, n_resamples: int = 1000) -> list[dict]:
    """The seed as a factor: per tier, the baseline's best seed minus its worst (only the seed changes), with a
    paired bootstrap CI over items. The largest of several pairs, so it is the most the seed moved a tier here."""
    if len(base_cells) < 2:
        return []
    preds = [tier_predictions(c) for c in base_cells]
    levels = [lvl for lvl in TIERS if all(lvl in p for p in preds)]
    f1 = {lvl: [float(binary_macro_f1(p[lvl].labels, p[lvl].predicted)) for p in preds] for lvl in levels}
    if delta_f1(f1) is not None:
        f1["ΔF1"] = list(delta_f1(f1))
    rows = []
    for tier, values in f1.items():
        hi, lo = int(np.argmax(values)), int(np.argmin(values))
        pair = {lvl: (preds[0][lvl].labels, [preds[hi][lvl].predicted], [preds[lo][lvl].predicted])
                for lvl in levels}
        e = hierarchical_effects(pair, n_resamples)[tier]
        rows.append({"factor": "seed", "config": grid.baseline, "vs": grid.baseline, "tier": tier, "change": e["diff"],
                     "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                     "excludes_0": bool(e["ci_low"] > 0 or e["ci_high"] < 0),
                     "cells": f"{base_cells[hi].id} − {base_cells[lo].id} (largest of {len(base_cells)} seeds)"})
    return rows


def target_groups(grid: Grid, label: str, n_resamples: int = 1000) -> pd.DataFrame:
    """L3 (ToxiGen) macro-F1 per target group for one configuration: mean over seeds with a CI."""
    preds = [tier_predictions(c) for c in cells_by_config(grid)[label]]
    if not preds or "L3" not in preds[0] or "target_group" not in preds[0]["L3"].rows:
        return pd.DataFrame()
    groups = preds[0]["L3"].rows["target_group"].to_numpy()
    rows = []
    for g in sorted(set(groups)):
        m = groups == g
        ci = hierarchical_mean(preds[0]["L3"].labels[m], [p["L3"].predicted[m] for p in preds], n_resamples)
        rows.append({"target_group": g, "rows": int(m.sum()), "toxic": int(preds[0]["L3"].labels[m].sum()), **ci})
    return pd.DataFrame(rows).sort_values("value")


def comparable_tiers(grid: Grid) -> set[str]:
    """Tiers scored on the partners' own test rows (provenance partners_rows): only their levels can be set
    beside the partners' numbers; every tier's changes between configurations are still measured on shared rows."""
    first = first_baseline_cell(grid)
    if first is None:
        return set(TIERS)
    return RunFolder(first.dir).stress().comparable_levels()


def claim_gap(claims: dict) -> dict[str, float]:
    """Partner A − Partner B per tier: the gap each factor is measured against."""
    return {t: claims["tiers"][t]["partner_a"] - claims["tiers"][t]["partner_b"] for t in TIERS if t in claims["tiers"]}


def significant(r) -> bool:
    """The verdict's test: Holm-adjusted where the row was in the family (survives_holm), else its CI excludes 0."""
    holm_ok = getattr(r, "survives_holm", None)
    return bool(holm_ok) if isinstance(holm_ok, (bool, np.bool_)) else bool(r.excludes_0)


def directions(rows: pd.DataFrame, gap: dict) -> tuple[dict[str, tuple[float, float, float]], list[str]]:
    """Of one factor's attribution rows, the tiers it moves toward Partner A's numbers (→ the share of the A−B gap it
    closes, with that share's CI from the change's CI: (share, low, high)) and those it moves away from them. Only
    changes that are significant after Holm (or, outside a family, whose CI excludes 0) count."""
    toward, away = {}, []
    for r in rows.itertuples():
        if r.tier not in gap or not gap[r.tier] or not significant(r):
            continue
        if np.sign(r.change) == np.sign(gap[r.tier]):
            lo, hi = sorted((r.ci_low / gap[r.tier], r.ci_high / gap[r.tier]))
            toward[r.tier] = (r.change / gap[r.tier], lo, hi)
        else:
            away.append(r.tier)
    return toward, away


def carries_gap(toward: dict[str, tuple[float, float, float]], away: list[str]) -> bool:
    """The report's one rule for "the factor carries the A−B gap", from `directions`: toward Partner A on some tier by
    at least MATERIAL_SHARE of the gap at the CI's lower bound, and away on none. Every verdict that says "carries"
    (a factor's answer, "What carries the gap", a universe, the multiverse average) reads it here, so they cannot drift apart."""
    return bool(toward) and not away and max(v[1] for v in toward.values()) >= MATERIAL_SHARE


def share_text(tier: str, share: tuple[float, float, float]) -> str:
    """A share of the gap is never printed without its CI."""
    return f"{tier} ({share[0]:.0%} [{share[1]:.0%}, {share[2]:.0%}] of the A−B gap)"


def distance_to_partner_a(table: pd.DataFrame, tiers: set[str] | None = None) -> pd.DataFrame:
    """Per configuration: mean |reproduced − Partner A| over the given tiers it shares with A's claims, nearest first
    (configurations scored on fewer tiers are left out, so the distance is over the same tiers for all)."""
    t = table[table["tier"].isin(TIERS if tiers is None else tiers)] if "tier" in table else pd.DataFrame()
    t = t.dropna(subset=["mean"]) if "mean" in t else pd.DataFrame()
    if t.empty or "partner_a" not in t:
        return pd.DataFrame(columns=["off", "tiers"])
    dist = t.dropna(subset=["partner_a"]).assign(off=lambda d: (d["mean"] - d["partner_a"]).abs())
    dist = dist.groupby("config", sort=False).agg(off=("off", "mean"), tiers=("tier", "count"))
    return dist[dist["tiers"] == dist["tiers"].max()].sort_values("off", kind="stable")


def target_group_table(grid: Grid, labels: list[str], n_resamples: int = 1000) -> pd.DataFrame:
    """target_groups for several configurations, long format with a `config` column (for one table and one plot)."""
    frames = [target_groups(grid, label, n_resamples).assign(config=label) for label in dict.fromkeys(labels)]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def mechanism_table(grid: Grid) -> pd.DataFrame:
    """Per configuration, over seeds: the domain-shortcut gap and each tier's predicted/true positive rate (mean ± sd),
    the two numbers that tell a threshold problem and a learned shortcut apart (see aura_core/anatomy.py)."""
    summary = cell_table(grid)  # the cells as they are now (also mid-grid), not a summary.csv from an earlier run
    summary = summary[summary["status"] == "finished"]
    cols = ["shortcut_gap"] + [c for c in summary.columns if c.startswith("pred/true")]
    rows = []
    for label, g in summary.groupby("config", sort=False):
        row = {"config": label, "seeds": len(g)}
        for c in cols:
            s = seed_summary(g[c].tolist())
            row[c] = None if s["mean"] is None else f"{s['mean']:.3f} ± {s['sd']:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def headline(table: pd.DataFrame, tiers: tuple[str, ...] = ("L1", "L2", "L3", "ΔF1", "emotion")) -> pd.DataFrame:
    """config × tier, "mean ± sd" over seeds: the one table a reader looks at first (full numbers in config_table)."""
    t = table[table["tier"].isin(tiers)].copy()
    if t.empty:
        return pd.DataFrame()
    t["cell"] = [f"{m:.3f} ± {s:.3f}" if pd.notna(s) else f"{m:.3f}" for m, s in zip(t["mean"], t["sd"])]
    out = t.pivot(index="config", columns="tier", values="cell")
    order = list(dict.fromkeys(table["config"]))
    out = out.reindex(index=[c for c in order if c in out.index], columns=[c for c in tiers if c in out.columns])
    out.insert(0, "seeds", t.groupby("config")["seeds"].max().reindex(out.index).astype(int))
    return out.fillna("—")  # e.g. no emotion head in a single-task configuration


def factorial_table(grid: Grid, table: pd.DataFrame, tiers: tuple[str, ...] = ("L1", "L2", "L3", "ΔF1")) -> pd.DataFrame:
    """A factorial's configurations as (tier, training) × post-training choice, "mean ± sd" over seeds: the 48 of the
    factorial on one screen, each column one choice of the keys its views vary (in the column header's order). A
    listed view that leaves a key unset (`tuned_threshold` sets no `validation`) has its training's value there."""
    views = [c for c in grid.configs if c.view_of]
    configs, base = {c.label: c.overrides for c in grid.configs}, load(grid.base)

    def value(v, k) -> str:
        return str(v.overrides[k] if k in v.overrides else configs.get(v.view_of, {}).get(k, getattr(base, k)))
    keys = [k for k in dict.fromkeys(k for c in views for k in c.overrides if k in POST_TRAINING_KEYS)
            if len({value(v, k) for v in views}) > 1]
    if not views or not keys:
        return pd.DataFrame()
    cell = {(r["config"], r["tier"]): f"{r['mean']:.3f} ± {r['sd']:.3f}" if pd.notna(r["sd"]) else f"{r['mean']:.3f}"
            for _, r in table.iterrows() if "mean" in r and pd.notna(r["mean"])}
    trainings = list(dict.fromkeys(v.view_of for v in views))
    columns = list(dict.fromkeys("/".join(value(v, k) for k in keys) for v in views))
    out = pd.DataFrame(index=pd.MultiIndex.from_product([list(tiers), trainings], names=["tier", "training"]),
                       columns=pd.Index(columns, name=" / ".join(keys)), dtype=object)
    for v in views:
        col = "/".join(value(v, k) for k in keys)
        for tier in tiers:
            out.loc[(tier, v.view_of), col] = cell.get((v.label, tier), "—")
    return out.fillna("—")


def speed_parity(attrib: pd.DataFrame, grid: Grid | None = None, margin: float | None = None) -> pd.DataFrame:
    """For each speed switch and tier: is F1 equivalent with and without it? Two one-sided tests (TOST, α = 0.05 per
    side) on the per-seed paired differences (seed k: the same split and initialisation in both arms) against ±margin,
    by default one seed sd of the reference arm. "equivalent within ±m" when the 90% interval lies inside, "different"
    when it excludes 0, else "undetermined" (not significant is not equal). Without the grid's cells (no per-seed
    scores) every row is undetermined."""
    if attrib.empty or "change" not in attrib:
        return pd.DataFrame()
    per_cell = cell_table(grid) if grid is not None else pd.DataFrame()
    done = per_cell[per_cell["status"] == "finished"] if len(per_cell) else per_cell
    rows = []
    for _, r in attrib[attrib["factor"].isin(SPEED_FACTORS)].dropna(subset=["change"]).iterrows():
        row = {"factor": r["factor"], "config": r["config"], "vs": r["vs"], "tier": r["tier"]}
        col = r["tier"]
        if len(done) and col in done:
            on = done[done["config"] == r["config"]].set_index("seed")[col].dropna()
            ref = done[done["config"] == r["vs"]].set_index("seed")[col].dropna()
            seeds = sorted(set(on.index) & set(ref.index))
        else:
            seeds = []
        if len(seeds) >= 2:
            m = float(ref.loc[seeds].std(ddof=1)) if margin is None else float(margin)
            e = paired_seed_equivalence(ref.loc[seeds].to_numpy(), on.loc[seeds].to_numpy(), m)
            verdict = equivalence_word(e["ci_low"], e["ci_high"], m, e["excludes_0"])
            row |= {"seeds": len(seeds), "change": e["mean_diff"], "ci90_low": e["ci_low"], "ci90_high": e["ci_high"],
                    "margin": m, "p_tost": e["p_tost"], "verdict": verdict, "parity": bool(e["equivalent"])}
        else:
            row |= {"seeds": len(seeds), "change": r["change"], "verdict": "undetermined (fewer than 2 paired seeds)",
                    "parity": False}
        rows.append(row)
    return pd.DataFrame(rows)


def _key(overrides: dict) -> str:
    return yaml.safe_dump(overrides, sort_keys=True)


def shapley_attribution(grid: Grid, start: str, end: str, n_resamples: int = 1000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact Shapley values of every factor in which configuration `end` differs from `start` (e.g. Partner B's stated
    configuration → the Partner-A candidate), per tier and for ΔF1, summing to the change end − start, with CIs over
    seeds and items and Holm-adjusted p-values across every (factor × tier) test; and every two-factor interaction.
    Needs the full factorial between the two: every mix of their settings as a configuration with finished cells."""
    configs = {c.label: c for c in grid.configs}
    a, b = configs[start].overrides, configs[end].overrides
    factors = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    groups, by_key = cells_by_config(grid), {_key(c.overrides): c.label for c in grid.configs}
    subsets, missing = {}, []
    for r in range(len(factors) + 1):
        for s in itertools.combinations(factors, r):
            target = {**a, **{k: b[k] for k in s}}
            label = by_key.get(_key({k: v for k, v in target.items() if k in a or k in s}))
            if label is None or len(groups.get(label, [])) != len(grid.seeds):
                missing.append(", ".join(f"{k}={target[k]}" for k in factors))
                continue
            subsets[frozenset(s)] = label
    if missing:
        note = f"not a full factorial with finished cells between `{start}` and `{end}`: missing {missing[:3]}"
        return pd.DataFrame([{"note": note}]), pd.DataFrame()
    preds = {s: [tier_predictions(c) for c in sorted(groups[label], key=lambda c: c.seed)]
             for s, label in subsets.items()}
    tiers = {lvl: (preds[frozenset()][0][lvl].labels,
                   {s: [p[lvl].predicted for p in ps] for s, ps in preds.items()})
             for lvl in TIERS if all(lvl in p for ps in preds.values() for p in ps)}
    n_tests = len(factors) * (len(tiers) + 1)  # factor × tier (and ΔF1): the table's Holm family
    res = shapley_bootstrap(tiers, factors, resamples_for_holm(n_tests, floor=n_resamples))
    rows = [{"factor": f, "tier": t, "shapley": v["value"], "ci_low": v["ci_low"], "ci_high": v["ci_high"],
             "p": v["p_two_sided"], "total_change": r["total"]}
            for t, r in res.items() for f, v in r["shapley"].items()]
    table = pd.DataFrame(rows)
    adjusted = holm({(r.factor, r.tier): r.p for r in table.itertuples()})
    table["p_holm"] = [adjusted[(r.factor, r.tier)] for r in table.itertuples()]
    table["survives_holm"] = table["p_holm"] < 0.05
    inter = pd.DataFrame([{"factors": f"{i} × {j}", "tier": t, "interaction": v["value"], "ci_low": v["ci_low"],
                           "ci_high": v["ci_high"], "ci90_low": v["ci90_low"], "ci90_high": v["ci90_high"],
                           "p": v["p_two_sided"], "seed_sd": v["seed_sd"], "seeds": v["seeds"]}
                          for t, r in res.items() for (i, j), v in r["interactions"].items()])
    return table, inter


def effect_across(grid: Grid, n_resamples: int = 1000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grid's `effect_across`: one factor's effect (from → to, every other setting the baseline's) at each level of
    another factor, per tier and for ΔF1 with a CI over seeds and items, beside each level's GoEmotions rows per OLID
    row; and how the effect moves from the first level to the last (their interaction, with its CI). E.g. the
    pseudo-label effect at 3,000 and at 10,000 GoEmotions rows: does the cpu proxy's 1:1 mix carry to B's 3.3:1?"""
    spec = grid.effect_across
    if not spec:
        return pd.DataFrame(), pd.DataFrame()
    factor, across = spec["factor"], spec["across"]
    base = next(c for c in grid.configs if c.label == grid.baseline).overrides
    by_key, groups = {_key(c.overrides): c.label for c in grid.configs}, cells_by_config(grid)
    levels = list(dict.fromkeys(c.overrides[across] for c in grid.configs if across in c.overrides))

    def label(level, setting):
        return by_key.get(_key({**base, across: level, factor: setting}))

    rows = []
    for level in levels:
        to, ref = label(level, spec["to"]), label(level, spec["from"])
        p = load(grid.base, {**base, across: level})
        head = {across: level, "goemotions_per_olid_row": round(p.goemotions_train_rows / p.olid_train_rows, 2),
                "config": to, "vs": ref}
        effects = config_change(groups, to, ref, n_resamples) if to and ref else None
        if effects is None:
            rows.append({**head, "tier": "—", "note": "cells not finished"})
            continue
        for tier, e in effects.items():
            rows.append({**head, "tier": tier, "change": e["diff"], "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                         "excludes_0": bool(e["ci_low"] > 0 or e["ci_high"] < 0), "p": e["p_two_sided"]})
    start, end = label(levels[0], spec["from"]), label(levels[-1], spec["to"])
    _, moves = shapley_attribution(grid, start, end, n_resamples) if start and end else (None, pd.DataFrame())
    return pd.DataFrame(rows), moves.drop(columns="factors", errors="ignore")


def aso_table(grid: Grid, attrib: pd.DataFrame, confidence_level: float = 0.95) -> pd.DataFrame:
    """Almost Stochastic Order beside the bootstrap, per factor and tier, in both directions: ε_min of the changed
    configuration's per-seed macro-F1 over its reference's and the reverse, Bonferroni-corrected inside deepsig for
    every comparison of the table (2 per row). The reading: "changed ≻ reference" or "reference ≻ changed" when that
    direction's ε_min < τ = 0.2, else "no order shown" (not "equal"); "uninformative" below 5 seeds per arm."""
    if attrib.empty or "change" not in attrib:
        return pd.DataFrame()
    per_cell = cell_table(grid)
    done = per_cell[per_cell["status"] == "finished"]
    rows = attrib.dropna(subset=["change"])
    rows = rows[rows["tier"].isin(TIERS) & (rows["factor"] != "seed")]
    out = []
    for r in rows.itertuples():
        a = done.loc[done["config"] == r.config, r.tier].dropna().to_numpy()
        b = done.loc[done["config"] == r.vs, r.tier].dropna().to_numpy()
        if len(a) >= 2 and len(b) >= 2:
            kw = dict(confidence_level=confidence_level, num_comparisons=2 * len(rows))
            ab, ba = aso_epsilon(a, b, **kw), aso_epsilon(b, a, **kw)
            reading = ("uninformative (< 5 seeds per arm)" if min(len(a), len(b)) < ASO_MIN_SEEDS else
                       "changed ≻ reference" if ab < ASO_TAU else "reference ≻ changed" if ba < ASO_TAU else
                       "no order shown")
            out.append({"factor": r.factor, "config": r.config, "vs": r.vs, "tier": r.tier, "seeds": min(len(a), len(b)),
                        "eps_changed_over_ref": ab, "eps_ref_over_changed": ba, "aso_reading": reading})
    return pd.DataFrame(out)


def multiverse_table(grid: Grid, attrib: pd.DataFrame, gap: dict) -> pd.DataFrame:
    """One row per universe of a multiverse grid: its switch values, the factor's effect per tier (change [95% CI],
    significant after the report's Holm where attrib carries it) and whether the verdict "the factor carries the A−B
    gap" holds there by the report's rules: significant toward Partner A on some tier by at least MATERIAL_SHARE of the
    gap at the CI's lower bound, and away on none."""
    if not grid.multiverse or attrib.empty or "change" not in attrib:
        return pd.DataFrame()
    rows = []
    for u, universe in enumerate(grid.multiverse, 1):
        g = attrib[(attrib["factor"] == f"universe:u{u:02d}")].dropna(subset=["change"])
        row = {"universe": f"u{u:02d}", **universe}
        if g.empty:
            rows.append({**row, "holds": None, "note": "cells not finished"})
            continue
        for r in g.itertuples():
            row[r.tier] = r.change
            row[f"{r.tier} CI"] = f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]" + ("†" if significant(r) else "")
        toward, away = directions(g, gap)
        row["holds"] = carries_gap(toward, away)
        rows.append(row)
    return pd.DataFrame(rows)


def multiverse_average(grid: Grid, n_resamples: int = 1000, level: float = 0.95) -> pd.DataFrame:
    """The factor's effect averaged over the finished universes, per tier and ΔF1, as attribution rows (factor: the
    registry's name for the change, e.g. pseudo_labels for paired → masked), so the verdict's rules read it as any
    contrast: mean over universes of F1(to) − F1(from) with a 95% CI resampling universes (both values of one universe
    together: a paired contrast) and test items (stats.hierarchical_effects with universes in the place of seeds).

    Each universe's own contrast rests on one seed: its CI covers the items only. Here the spread over universes
    carries the seed noise too, so this is the interval that speaks for the implementation space; it is conservative
    (each run's item noise counts twice: in that spread and in the item resampling; 99% at nominal 95% in
    test_multiverse's simulation). The universes are a
    uniform sample of the switch product, so the average is over that space with every combination equally likely,
    not over the implementations people actually write. Also per tier: the 95% prediction interval for one run of the
    contrast in a new universe drawn the same way (mean ± t(n−1)·sd·√(1 + 1/n) over the per-universe changes, on these
    test rows), and how many universes moved each way. Needs two finished universes. Each (universe, seed) pair is
    one resampled unit: exact for one seed a universe (the shipped grid); with several, a universe's seeds are
    resampled as if they were separate universes, which narrows the CI."""
    key, start, end = grid.multiverse_factor["key"], grid.multiverse_factor["from"], grid.multiverse_factor["to"]
    groups = cells_by_config(grid)
    units = []
    for u in range(1, len(grid.multiverse) + 1):
        a = {c.seed: c for c in groups.get(f"u{u:02d},{key}={end}") or []}
        b = {c.seed: c for c in groups.get(f"u{u:02d},{key}={start}") or []}
        units += [(f"u{u:02d}", tier_predictions(a[s]), tier_predictions(b[s])) for s in sorted(set(a) & set(b))]
    if len(units) < 2:
        return pd.DataFrame()
    levels = [lvl for lvl in TIERS if all(lvl in a and lvl in b for _, a, b in units)]
    tiers = {lvl: (units[0][1][lvl].labels, [a[lvl].predicted for _, a, _ in units],
                   [b[lvl].predicted for _, _, b in units]) for lvl in levels}
    effects = hierarchical_effects(tiers, n_resamples, level=level, paired=True)
    per_unit = {lvl: np.array([float(binary_macro_f1(y, pa) - binary_macro_f1(y, pb)) for pa, pb in zip(a, b)])
                for lvl, (y, a, b) in tiers.items()}
    if delta_f1(per_unit) is not None:
        per_unit["ΔF1"] = np.asarray(delta_f1(per_unit))
    universes = sorted({u for u, _, _ in units})
    rows = []
    for tier, e in effects.items():
        d = per_unit[tier]
        pi = one_run_prediction_interval(d, level=level, bounds=None if tier == "ΔF1" else (-1.0, 1.0))
        rows.append({"factor": factor_name(key, end), "config": f"{key}={end} (each universe)",
                     "vs": f"{key}={start} (each universe)", "tier": tier, "change": e["diff"],
                     "ci_low": e["ci_low"], "ci_high": e["ci_high"], "ci90_low": e["ci90_low"],
                     "ci90_high": e["ci90_high"], "excludes_0": bool(e["ci_low"] > 0 or e["ci_high"] < 0),
                     "p": e["p_two_sided"], "paired_seeds": True, "n_resamples": e["n_resamples"],
                     "cells": f"{universes[0]}–{universes[-1]}: {len(universes)} universes, {len(units)} cells a side",
                     "universes": len(universes), "pi_low": pi["low"], "pi_high": pi["high"],
                     "universes_up": int((d > 0).sum()), "universes_down": int((d < 0).sum())})
    return pd.DataFrame(rows)


def switch_importance(frame: pd.DataFrame, switches: list[str], columns: list[str]) -> pd.DataFrame:
    """Which implementation switches move the numbers most across universes: for each switch and each measured column
    (the factor's effect per tier, and each tier's macro-F1 under each value of the factor), the share of that column's
    variance over universes its levels explain (η², one-way). Descriptive, not a test: with n universes a switch of k
    levels explains (k − 1)/(n − 1) by chance alone on average (the `chance` column), and one-way shares of
    correlated switches overlap. Sorted by the mean η² over the effect's columns."""
    rows = []
    for s in switches:
        row = {"switch": s, "levels": int(frame[s].nunique()) if s in frame else 0}
        for col in columns:
            t = frame.dropna(subset=[col]) if col in frame else pd.DataFrame()
            if len(t) < 3:
                continue
            total = float(((t[col] - t[col].mean()) ** 2).sum())
            groups = t.groupby(s)[col]
            between = float((groups.count() * (groups.mean() - t[col].mean()) ** 2).sum())
            row[col] = between / total if total else 0.0
            row["chance"] = (groups.ngroups - 1) / (len(t) - 1)
        rows.append(row)
    out = pd.DataFrame(rows)
    measured = [c for c in columns if c in out]
    if not measured:
        return pd.DataFrame()
    effect = [c for c in measured if c.startswith("effect ")] or measured
    order = out[effect].mean(axis=1).sort_values(ascending=False, kind="stable").index
    return out.loc[order, ["switch", "levels", "chance", *measured]].reset_index(drop=True)
