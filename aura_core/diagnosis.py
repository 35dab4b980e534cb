"""A finished grid as evidence: per-configuration numbers over seeds with CIs, factor attribution against the baseline,
target-group breakdown, and a written answer to each of the seed report's seven questions generated from the numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .grid import Grid, cell_table, cells, finished, first_baseline_cell
from .io import read_json
from .params import load
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


# factors that are speed switches, not candidate causes: they must leave F1 where the seed puts it
SPEED_FACTORS = ("group_by_length",)


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
    return pd.DataFrame(rows + seed_rows(grid, groups.get(grid.baseline, []), n_resamples))


def seed_rows(grid: Grid, base_cells: list, n_resamples: int = 1000) -> list[dict]:
    """The seed as a factor: per tier, the baseline's best seed minus its worst (only the seed changes), with a
    paired bootstrap CI over items. The largest of several pairs, so it is the most the seed moved a tier here."""
    if len(base_cells) < 2:
        return []
    preds = [tier_predictions(c.dir) for c in base_cells]
    levels = [lvl for lvl in TIERS if all(lvl in p for p in preds)]
    f1 = {lvl: [float(binary_macro_f1(p[lvl][0], p[lvl][1])) for p in preds] for lvl in levels}
    if "L1" in f1 and "L3" in f1:
        f1["ΔF1"] = [a - b for a, b in zip(f1["L1"], f1["L3"])]
    rows = []
    for tier, values in f1.items():
        hi, lo = int(np.argmax(values)), int(np.argmin(values))
        pair = {lvl: (preds[0][lvl][0], [preds[hi][lvl][1]], [preds[lo][lvl][1]]) for lvl in levels}
        e = hierarchical_effects(pair, n_resamples)[tier]
        rows.append({"factor": "seed", "config": grid.baseline, "vs": grid.baseline, "tier": tier, "change": e["diff"],
                     "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                     "excludes_0": bool(e["ci_low"] > 0 or e["ci_high"] < 0),
                     "cells": f"{base_cells[hi].id} − {base_cells[lo].id} (largest of {len(base_cells)} seeds)"})
    return rows


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
    gap = claim_gap(claims)
    per_cell, comparable = cell_table(grid), comparable_tiers(grid)
    out = []
    for keys, question in QUESTIONS:
        if keys == ("seed",):
            out.append((question, _answer_seed(grid, table, gap, attrib)))
            continue
        paragraphs = [_answer_factor(key, attrib, gap, table, per_cell, claims, comparable) for key in keys]
        tested = [x for x in paragraphs if x]
        out.append((question, " ".join(tested) if tested else
                    f"Not tested: the grid has no configuration with factor {' or '.join(f'`{k}`' for k in keys)}."))
    return out


def comparable_tiers(grid: Grid) -> set[str]:
    """Tiers scored on the partners' own test rows (provenance partners_rows): only their levels can be set
    beside the partners' numbers; every tier's changes between configurations are still measured on shared rows."""
    first = first_baseline_cell(grid)
    if first is None:
        return set(TIERS)
    tiers = read_json(first.dir / "metrics.json")["stress"]["tiers"].values()
    return {e["level"] for e in tiers if e["available"] and e.get("provenance", {}).get(
        "partners_rows", not e.get("provenance", {}).get("note"))}  # runs before partners_rows: "no note" meant theirs


def tier_legend(grid: Grid) -> pd.DataFrame:
    """level → tier → file → rows, as the baseline's first finished seed was scored (all cells share the tiers)."""
    from .tiers import legend
    first = first_baseline_cell(grid)
    return legend(read_json(first.dir / "metrics.json")["stress"]["tiers"]) if first else pd.DataFrame()


def claim_gap(claims: dict) -> dict[str, float]:
    """Partner A − Partner B per tier: the gap each factor is measured against."""
    return {t: claims["tiers"][t]["partner_a"] - claims["tiers"][t]["partner_b"] for t in TIERS if t in claims["tiers"]}


def _answer_seed(grid: Grid, table: pd.DataFrame, gap: dict, attrib: pd.DataFrame) -> str:
    base = table[(table["config"] == grid.baseline) & table["tier"].isin(TIERS)]
    if base.empty or base["seeds"].max() < 2:
        return "Inconclusive: the baseline needs at least two seeds to measure seed spread."
    parts = [f"{r.tier} spans {r['min']:.3f}–{r['max']:.3f} (sd {r.sd:.3f}) over {r.seeds} seeds"
             for _, r in base.iterrows()]
    seed = attrib[attrib["factor"] == "seed"] if "factor" in attrib else attrib
    pairs = [f"{r.tier} {_fmt(r)}{'' if r.excludes_0 else ' (within item noise)'}"
             for _, r in seed.iterrows() if r.tier in TIERS]
    covers = [r.tier for _, r in base.iterrows() if r.tier in gap and (r["max"] - r["min"]) >= abs(gap[r.tier])]
    verdict = (f"The seed alone moves {', '.join(covers)} as much as the A−B gap there, so a single-seed comparison "
               f"cannot separate the partners on {'it' if len(covers) == 1 else 'them'}." if covers else
               "The seed spread is smaller than the A−B gap on every tier: seeds alone do not explain the discrepancy.")
    return (f"Baseline `{grid.baseline}`: {'; '.join(parts)}."
            + (f" Best minus worst seed, same test items (paired bootstrap): {'; '.join(pairs)}." if pairs else "")
            + f" {verdict} Both partners should report several seeds; this project fixes seed and data order "
              "(`deterministic`).")


# a factor that closes less than this share of the A−B gap on every tier is called minor
MATERIAL_SHARE = 0.25


def _answer_factor(key: str, attrib: pd.DataFrame, gap: dict, table: pd.DataFrame, per_cell: pd.DataFrame,
                   claims: dict, comparable: set[str]) -> str | None:
    """One factor's evidence: its change per tier with CI, which way that moves the numbers relative to the A−B gap,
    where the changed configuration lands beside Partner A's claims, and what moved inside the model."""
    rows = attrib[attrib["factor"] == key] if not attrib.empty else attrib
    if rows.empty:
        return None
    if "change" not in rows or rows["change"].isna().all():
        return (f"`{key}` — pending: the cells of config `{rows['config'].iloc[0]}` (vs `{rows['vs'].iloc[0]}`) have "
                f"not finished; re-run the grid to complete them.")
    rows = rows.dropna(subset=["change"])
    config, ref = rows["config"].iloc[0], rows["vs"].iloc[0]
    toward, away = directions(rows, gap)
    share = ", ".join(f"{t} ({v:.0%} of the A−B gap)" for t, v in toward.items())
    if toward and away:
        verdict = (f"Mixed: it moves {share} toward Partner A's numbers but {', '.join(away)} away from them, so it "
                   "cannot account for Partner A's numbers by itself.")
    elif toward and max(toward.values()) >= MATERIAL_SHARE:
        verdict = f"It moves the numbers toward Partner A's on {share}: a plausible contributor."
    elif toward:
        verdict = (f"It moves the numbers toward Partner A's on {share}, under {MATERIAL_SHARE:.0%} of the gap "
                   "everywhere: a minor contributor at most.")
    elif away:
        verdict = (f"It moves {', '.join(away)} away from Partner A's numbers: this change does not explain the gap "
                   "(if anything the partner who made it would score lower).")
    elif rows["excludes_0"].any():
        verdict = "Its effect is detectable but does not point toward Partner A's numbers: it does not explain the gap."
    else:
        verdict = "No effect is detectable at this grid's size (every CI includes 0): inconclusive, not evidence of absence."
    lines = "; ".join(f"{r.tier} {_fmt(r)}" for _, r in rows.iterrows())
    return (f"`{key}` — changing only this (config `{config}` vs `{ref}`, runs {rows['cells'].iloc[0]}): {lines} "
            f"(change in macro-F1, 95% CI over seeds and items). {verdict}{_with(config, _landing(config, table, claims, comparable))}"
            f"{_mechanism(config, ref, per_cell)}")


def directions(rows: pd.DataFrame, gap: dict) -> tuple[dict[str, float], list[str]]:
    """Of one factor's attribution rows, the tiers it moves toward Partner A's numbers (→ share of the A−B gap it
    closes) and those it moves away from them; only changes whose CI excludes 0 count."""
    toward, away = {}, []
    for r in rows.itertuples():
        if r.tier not in gap or not gap[r.tier] or not r.excludes_0:
            continue
        if np.sign(r.change) == np.sign(gap[r.tier]):
            toward[r.tier] = abs(r.change) / abs(gap[r.tier])
        else:
            away.append(r.tier)
    return toward, away


def _landing(config: str, table: pd.DataFrame, claims: dict, comparable: set[str], who: str = "partner_a") -> str:
    """Where the configuration's numbers land beside a partner's, per tier: inside its 95% CI or not (for tiers scored
    on other rows than the partners', only the level side by side)."""
    name = {"partner_a": "Partner A", "partner_b": "Partner B"}[who]
    parts = []
    for r in table[(table["config"] == config) & table["tier"].isin(TIERS)].itertuples():
        a = claims["tiers"].get(r.tier, {}).get(who)
        if a is None or pd.isna(r.ci_low):
            continue
        if r.tier in comparable:
            where = "inside" if r.ci_low <= a <= r.ci_high else ("above" if a > r.ci_high else "below")
            parts.append(f"{r.tier} {r.mean:.3f} ± {r.sd:.3f} ({name}'s {a:.3f} is {where} its CI)")
        else:
            parts.append(f"{r.tier} {r.mean:.3f} ± {r.sd:.3f} ({name}'s {a:.3f} is on other rows: not comparable)")
    return "; ".join(parts)


def _with(config: str, landing: str) -> str:
    return f" With `{config}`: {landing}." if landing else ""


def _mechanism(config: str, ref: str, per_cell: pd.DataFrame) -> str:
    """What changed inside: decision threshold, domain-shortcut gap, ToxiGen predicted/true positive rate, and the
    emotion head's macro-F1 (the other side of a trade-off), as seed means."""
    if per_cell.empty or "status" not in per_cell:
        return ""
    done = per_cell[per_cell["status"] == "finished"]
    means = {c: done[done["config"] == c].mean(numeric_only=True) for c in (ref, config)}
    parts = []
    for col, label in (("threshold", "threshold"), ("shortcut_gap", "shortcut gap"),
                       ("pred/true L3", "ToxiGen predicted/true positive rate"), ("emotion", "emotion macro-F1")):
        a, b = (means[c].get(col, np.nan) for c in (ref, config))
        if pd.notna(a) and pd.notna(b) and not (col == "threshold" and abs(a - b) < 1e-9):
            parts.append(f"{label} {a:.3f} → {b:.3f}")
    return f" Inside the model (`{ref}` → `{config}`, seed means): {', '.join(parts)}." if parts else ""


def verdict(grid: Grid, claims: dict, table: pd.DataFrame, attrib: pd.DataFrame) -> str:
    """The grid's bottom line: does the baseline reproduce Partner B, which configuration comes closest to Partner A,
    which of the seed report's candidate causes carry the gap, what the controls say, and what was not tested."""
    gap, comparable = claim_gap(claims), comparable_tiers(grid)
    t = table[table["tier"].isin(TIERS)].dropna(subset=["mean"]) if "mean" in table else pd.DataFrame()
    if t.empty:
        return "No finished cell yet: nothing to conclude."
    out = []
    if (t["config"] == grid.baseline).any():
        seeds = int(t.loc[t["config"] == grid.baseline, "seeds"].max())
        out.append(f"**Partner B.** The baseline `{grid.baseline}` ({seeds} seeds): "
                   f"{_landing(grid.baseline, table, claims, comparable, 'partner_b')}.")
    dist = distance_to_partner_a(table, comparable)
    if len(dist):
        best = dist.index[0]
        out.append(f"**Partner A.** Closest configuration on the tiers scored on the partners' rows "
                   f"({', '.join(sorted(comparable & set(gap)))}; mean distance {dist['off'].iloc[0]:.3f}): `{best}`."
                   f"{_with(best, _landing(best, table, claims, comparable))}")
    if "change" in attrib:
        causes = {k for keys, _ in QUESTIONS for k in keys}
        a = attrib.dropna(subset=["change"])
        carry = []
        for factor, g in a[a["factor"].isin(causes - {"seed"})].groupby("factor", sort=False):
            toward, away = directions(g, gap)
            if toward and not away:
                change = g.set_index("tier")["change"]
                carry.append(f"`{factor}` ({', '.join(f'{t} {change[t]:+.3f} ({v:.0%})' for t, v in toward.items())})")
        out.append("**What carries the gap.** " + (
            f"Of the seed report's candidate causes, those whose CI excludes 0 and which move every affected tier "
            f"toward Partner A (share of the A−B gap): {'; '.join(carry)}. The others were undetectable at this size or "
            "moved the numbers away from Partner A's (see the answer to each question in 05_compare)." if carry else
            "None of the seed report's candidate causes moves the numbers toward Partner A's with a CI excluding 0."))
        controls = attrib.dropna(subset=["change"])
        controls = controls[~controls["factor"].isin(causes | set(SPEED_FACTORS)) & controls["tier"].isin(TIERS)]
        lines = [f"`{factor}` (`{g['config'].iloc[0]}` vs `{g['vs'].iloc[0]}`): "
                 + "; ".join(f"{r.tier} {_fmt(r)}" for _, r in g.iterrows())
                 for factor, g in controls.groupby("factor", sort=False)]
        if lines:
            out.append("**Controls and combinations.** " + ". ".join(lines) + ".")
    out.append(_limits(grid))
    return "\n\n".join(x for x in out if x)


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


def _limits(grid: Grid) -> str:
    """What the numbers are of: the setting every cell trained in, and each tier that is absent or not the partners'."""
    first = first_baseline_cell(grid)
    if first is None:
        return ""
    lines = []
    if (first.dir / "params.yaml").is_file():
        p = load(first.dir / "params.yaml")
        rows = ", ".join(f"{getattr(p, k)} {k.split('_')[0]}" for k in ("olid_train_rows", "goemotions_train_rows")
                         if getattr(p, k, None))
        lines.append(f"Every cell trains `{p.encoder}` for {p.epochs} epochs on {rows or 'all'} training rows: effects "
                     "are of this setting, and their size can differ at the paper's (bert-base, full data).")
    comparable = comparable_tiers(grid)
    for e in read_json(first.dir / "metrics.json")["stress"]["tiers"].values():
        if e["level"] not in TIERS:
            continue
        if not e["available"]:
            lines.append(f"{e['level']} ({e['name']}) not tested: {e['reason'].removeprefix('not available: ')}.")
        elif e["level"] not in comparable:
            lines.append(f"{e['level']} ({e['name']}, {e['provenance'].get('file', '')}) is not the file the partners "
                         "scored: its level is not comparable with theirs; changes between configurations are "
                         "measured on the same rows.")
    return "**Limits.** " + " ".join(lines) if lines else ""


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
    claims = load_claims(load(grid.base).claims)
    table = config_table(grid, claims, n_resamples)
    attrib = attribution(grid, n_resamples)
    done = sum(finished(c) for c in cells(grid))
    parts = [f"Grid `{grid.name}`: {done}/{len(cells(grid))} cells finished; seeds {grid.seeds}; baseline "
             f"`{grid.baseline}`.", "", "Macro-F1, mean ± sd over the finished seeds:", "",
             headline(table).to_markdown(), "", "The file behind each level:", "", tier_legend(grid).to_markdown(index=False),
             "", "Bottom line:", "", verdict(grid, claims, table, attrib)]
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
