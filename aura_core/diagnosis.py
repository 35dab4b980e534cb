"""A finished grid as evidence: per-configuration numbers over seeds with CIs, factor attribution against the baseline,
target-group breakdown, and a written answer to each of the seed report's seven questions generated from the numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .grid import Grid, cells, finished, summarize
from .io import read_json
from .stats import binary_macro_f1, hierarchical_effects, hierarchical_mean, seed_summary

TIERS = ["L1", "L2", "L3"]
# the seed report's questions ← the factor keys (grid configs / comparisons) whose attribution answers each
QUESTIONS = [
    (("paradigm", "batch_composition"),
     "1. Training paradigm: interleaved single-task batches or joint paired batches?"),
    (("pseudo_labels",), "2. Pseudo-labelling: did OLID rows carry emotion labels and GoEmotions rows toxicity labels?"),
    (("validation",), "3. Validation: separate toxicity and emotion sets, or a combined paired set?"),
    (("preprocess",), "4. Preprocessing: any differences in text cleaning or tokenisation?"),
    (("threshold",), "5. Threshold: was the 0.5 toxicity threshold tuned on validation data?"),
    (("seed",), "6. Random seed: was a fixed seed used, and how much does the seed alone move the numbers?"),
    (("selection",), "7. Model selection: which epoch was evaluated?"),
]


def tier_predictions(cell_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray, pd.DataFrame]]:
    """level → (y, 0/1 predictions at the run's threshold, the prediction frame) for every available tier."""
    m = read_json(cell_dir / "metrics.json")["stress"]
    out = {}
    for key, e in m["tiers"].items():
        if e["available"]:
            df = pd.read_csv(cell_dir / "predictions" / f"{key}.csv")
            out[e["level"]] = (df["label"].to_numpy(), (df["p_toxic"] >= m["threshold"]).astype(int).to_numpy(), df)
    return out


def _by_config(grid: Grid) -> dict[str, list]:
    groups: dict[str, list] = {c.label: [] for c in grid.configs}
    for c in cells(grid):
        if finished(c):
            groups[c.config.label].append(c)
    return groups


def config_table(grid: Grid, claims: dict, n_resamples: int = 1000) -> pd.DataFrame:
    """Per configuration and tier: mean ± sd and min–max over seeds, a CI over seeds and items, the partners' numbers
    and whether each claimed number lies inside the reproduced seed range."""
    rows = []
    for label, cs in _by_config(grid).items():
        if not cs:
            rows.append({"config": label, "tier": "—", "seeds": 0, "note": "no finished cell"})
            continue
        preds = [tier_predictions(c.dir) for c in cs]
        metrics = [read_json(c.dir / "metrics.json")["stress"] for c in cs]
        for level in TIERS + ["ΔF1", "emotion"]:
            if level in TIERS:
                if not all(level in p for p in preds):
                    continue
                y = preds[0][level][0]
                vals = [binary_macro_f1(p[level][0], p[level][1]) for p in preds]
                ci = hierarchical_mean(y, [p[level][1] for p in preds], n_resamples)
            elif level == "ΔF1":
                vals, ci = [m.get("delta_f1") for m in metrics], None
            else:
                vals, ci = [m.get("emotion_goemotions_test", {}).get("macro_f1") for m in metrics], None
            s = seed_summary(vals)
            if not s["n"]:
                continue
            row = {"config": label, "tier": level, "seeds": s["n"], "mean": s["mean"], "sd": s["sd"],
                   "min": s["min"], "max": s["max"], "ci_low": ci["ci_low"] if ci else None,
                   "ci_high": ci["ci_high"] if ci else None}
            claim = claims["tiers"].get(level, {})
            for who in ("partner_a", "partner_b"):
                if who in claim:
                    row[who] = claim[who]
                    row[f"{who} in seed range"] = bool(s["min"] <= claim[who] <= s["max"])
            rows.append(row)
    return pd.DataFrame(rows)


def attribution(grid: Grid, n_resamples: int = 1000) -> pd.DataFrame:
    """For each configuration that changes one factor: the change in L1/L2/L3 F1 and ΔF1 against the baseline, with a
    CI over seeds and items (stats.hierarchical_effects), as one row per factor and tier."""
    groups = _by_config(grid)
    rows = []
    for factor, label, ref in grid.contrasts():
        base = [tier_predictions(c.dir) for c in groups[ref]]
        other = [tier_predictions(c.dir) for c in groups[label]]
        if not other or not base:
            rows.append({"factor": factor, "config": label, "vs": ref, "tier": "—", "note": "cells not finished"})
            continue
        tiers = {lvl: (base[0][lvl][0], [p[lvl][1] for p in other], [p[lvl][1] for p in base])
                 for lvl in TIERS if all(lvl in p for p in other + base)}
        for lvl, e in hierarchical_effects(tiers, n_resamples).items():
            rows.append({"factor": factor, "config": label, "vs": ref, "tier": lvl, "change": e["diff"],
                         "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                         "excludes_0": bool(e["ci_low"] > 0 or e["ci_high"] < 0),
                         "cells": ", ".join(c.id for c in groups[label])})
    return pd.DataFrame(rows)


def target_groups(grid: Grid, label: str, n_resamples: int = 1000) -> pd.DataFrame:
    """L3 (ToxiGen) macro-F1 per target group for one configuration: mean over seeds with a CI."""
    preds = [tier_predictions(c.dir) for c in _by_config(grid)[label]]
    if not preds or "L3" not in preds[0] or "target_group" not in preds[0]["L3"][2]:
        return pd.DataFrame()
    groups = preds[0]["L3"][2]["target_group"].to_numpy()
    rows = []
    for g in sorted(set(groups)):
        m = groups == g
        ci = hierarchical_mean(preds[0]["L3"][0][m], [p["L3"][1][m] for p in preds], n_resamples)
        rows.append({"target_group": g, "rows": int(m.sum()), "toxic": int(preds[0]["L3"][0][m].sum()), **ci})
    return pd.DataFrame(rows).sort_values("value")


def _fmt(e: pd.Series) -> str:
    return f"{e['change']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]"


def answers(grid: Grid, claims: dict, attrib: pd.DataFrame, table: pd.DataFrame) -> list[tuple[str, str]]:
    """One paragraph per question of the seed report, generated from the numbers, citing the runs it rests on."""
    gap = {t: claims["tiers"][t]["partner_a"] - claims["tiers"][t]["partner_b"] for t in TIERS if t in claims["tiers"]}
    out = []
    for keys, question in QUESTIONS:
        if keys == ("seed",):
            base = table[(table["config"] == grid.baseline) & table["tier"].isin(TIERS)]
            if base.empty or base["seeds"].max() < 2:
                out.append((question, "Inconclusive: the baseline needs at least two seeds to measure seed spread."))
                continue
            parts = [f"{r.tier} spans {r['min']:.3f}–{r['max']:.3f} (sd {r.sd:.3f}) over {r.seeds} seeds"
                     for _, r in base.iterrows()]
            covers = [r.tier for _, r in base.iterrows() if r.tier in gap and (r["max"] - r["min"]) >= abs(gap[r.tier])]
            verdict = (f"The seed alone moves {', '.join(covers)} as much as the A−B gap there, so a single-seed "
                       f"comparison cannot separate the partners on {'it' if len(covers) == 1 else 'them'}."
                       if covers else "The seed spread is smaller than the A−B gap on every tier: seeds alone do "
                                      "not explain the discrepancy.")
            out.append((question, f"Baseline `{grid.baseline}`: {'; '.join(parts)}. {verdict} Both partners should "
                                  "report several seeds; this project fixes seed and data order (`deterministic`)."))
            continue
        paragraphs = [_answer_factor(key, attrib, gap) for key in keys]
        tested = [x for x in paragraphs if x]
        out.append((question, " ".join(tested) if tested else
                    f"Not tested: the grid has no configuration with factor {' or '.join(f'`{k}`' for k in keys)}."))
    return out


def _answer_factor(key: str, attrib: pd.DataFrame, gap: dict) -> str | None:
    """One factor's evidence as a sentence: its change per tier with CI, and what that says about the A−B gap."""
    rows = attrib[attrib["factor"] == key] if not attrib.empty else attrib
    if rows.empty:
        return None
    if "change" not in rows or rows["change"].isna().all():
        return (f"`{key}` — pending: the cells of config `{rows['config'].iloc[0]}` (vs `{rows['vs'].iloc[0]}`) have "
                f"not finished; re-run the grid to complete them.")
    rows = rows.dropna(subset=["change"])
    lines, toward = [], []
    for _, r in rows.iterrows():
        lines.append(f"{r.tier} {_fmt(r)}")
        if r.tier in gap and r.excludes_0 and np.sign(r.change) == np.sign(gap[r.tier]):
            toward.append(f"{r.tier} ({abs(r.change) / abs(gap[r.tier]):.0%} of the A−B gap)")
    if toward:
        verdict = f"It moves the numbers toward Partner A's on {', '.join(toward)}: a plausible contributor."
    elif rows["excludes_0"].any():
        verdict = "Its effect is detectable but does not point toward Partner A's numbers: it does not explain the gap."
    else:
        verdict = "No effect is detectable at this grid's size (every CI includes 0): inconclusive, not evidence of absence."
    return (f"`{key}` — changing only this (config `{rows['config'].iloc[0]}` vs `{rows['vs'].iloc[0]}`, runs "
            f"{rows['cells'].iloc[0]}): {'; '.join(lines)} (change in macro-F1, 95% CI over seeds and items). {verdict}")


def mechanism_table(grid: Grid) -> pd.DataFrame:
    """Per configuration, over seeds: the domain-shortcut gap and each tier's predicted/true positive rate (mean ± sd),
    the two numbers that tell a threshold problem and a learned shortcut apart (see aura_core/anatomy.py)."""
    summary = summarize(grid)  # the cells as they are now (also mid-grid), not a summary.csv from an earlier run
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
    return out


# factors that are speed switches, not candidate causes: they must leave F1 where the seed puts it
SPEED_FACTORS = ("group_by_length",)


def speed_parity(attrib: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """For each speed switch and tier: its change in F1 with CI beside the baseline's seed range (max − min). Parity =
    the CI includes 0 and |change| is within the seed range: the switch moves F1 less than re-seeding does."""
    if attrib.empty or "change" not in attrib:
        return pd.DataFrame()
    rows = []
    for _, r in attrib[attrib["factor"].isin(SPEED_FACTORS)].dropna(subset=["change"]).iterrows():
        base = table[(table["config"] == r["vs"]) & (table["tier"] == r["tier"])]
        spread = float(base["max"].iloc[0] - base["min"].iloc[0]) if len(base) else float("nan")
        rows.append({"factor": r["factor"], "config": r["config"], "tier": r["tier"], "change": r["change"], "ci_low": r["ci_low"],
                     "ci_high": r["ci_high"], f"seed range of {r['vs']}": spread,
                     "parity": bool(not r["excludes_0"] and abs(r["change"]) <= spread)})
    return pd.DataFrame(rows)


def markdown_summary(grid: Grid, n_resamples: int = 1000) -> str:
    """The grid's evidence so far as markdown (`aura grid --summary`): for a README, an issue, or a look mid-grid."""
    from .compare import load_claims
    from .params import load
    claims = load_claims(load(grid.base).claims)
    table = config_table(grid, claims, n_resamples)
    attrib = attribution(grid, n_resamples)
    done = sum(finished(c) for c in cells(grid))
    parts = [f"Grid `{grid.name}`: {done}/{len(cells(grid))} cells finished; seeds {grid.seeds}; baseline "
             f"`{grid.baseline}`.", "", "Macro-F1, mean ± sd over the finished seeds:", "",
             headline(table).to_markdown()]
    if "change" in attrib:
        a = attrib.dropna(subset=["change"])
        a = a.assign(change=[f"{r.change:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" for r in a.itertuples()])
        parts += ["", "Change when only that factor changes (95% CI over seeds and items):", "",
                  a.pivot(index=["factor", "config", "vs"], columns="tier", values="change").reset_index()
                  .to_markdown(index=False)]
    parity = speed_parity(attrib, table)
    if not parity.empty:
        parts += ["", "Speed switches, F1 parity within the seed spread:", "",
                  parity.round(4).to_markdown(index=False)]
    return "\n".join(parts)
