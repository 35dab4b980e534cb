"""The grid's evidence in words: the bottom line (verdict) and an answer to each of the report's seven questions,
generated from diagnosis.py's numbers and citing the runs they rest on; `aura grid --summary` as markdown."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from aura_core.base.factors import QUESTIONS, SHAPLEY_PARAMS, UNASKED
from aura_core.base.io import atomic_write_text
from aura_core.base.params import POST_TRAINING_KEYS, changed_keys, load
from aura_core.base.results import claim_side
from aura_core.base.run_folder import RunFolder
from aura_core.evidence.diagnosis import (
    MATERIAL_SHARE,
    POWER_MAX_SEEDS,
    SPEED_FACTORS,
    TIERS,
    GridEvidence,
    carries_gap,
    directions,
    headline,
    share_text,
    significant,
)
from aura_core.evidence.factorial import seeds_needed
from aura_core.grids.cells import first_baseline_cell
from aura_core.grids.naming import short_names, shorten
from aura_core.grids.spec import Grid
from aura_core.reporting.tables import tier_legend


def _fmt(e: pd.Series) -> str:
    return f"{e['change']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]"


def answers(ev: GridEvidence) -> list[tuple[str, str]]:
    """One paragraph per question of the comparison report, generated from the evidence (computed once, never here),
    citing the runs it rests on."""
    grid, claims, attrib, table = ev.grid, ev.claims, ev.contrasts, ev.table
    gap, per_cell, comparable = ev.gap, ev.cells, ev.comparable
    shapley = ev.shapley[0] if grid.shapley else None
    out = []
    for keys, question in QUESTIONS:
        if keys == ("seed",):
            out.append((question, _answer_seed(grid, table, gap, attrib)))
            continue
        paragraphs = [_answer_factor(grid, key, attrib, gap, table, per_cell, claims, comparable) for key in keys]
        tested = [x for x in paragraphs if x] + [_shapley_line(shapley, keys)]
        tested = [x for x in tested if x]
        out.append((question, " ".join(tested) if tested else
                    f"Not tested: the grid has no configuration with factor {' or '.join(f'`{k}`' for k in keys)}."))
    return [(q, shorten(grid, a)) for q, a in out]


def _shapley_line(shapley: pd.DataFrame | None, keys: tuple) -> str:
    """The question's factor in the Shapley attribution of B → candidate: its share per tier, CI, Holm verdict."""
    if shapley is None or "shapley" not in shapley:
        return ""
    params = {SHAPLEY_PARAMS.get(k) for k in keys} - {None}
    rows = shapley[shapley["factor"].isin(params)]
    if rows.empty:
        return ""
    cells = "; ".join(f"{r.tier} {r.shapley:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] of {r.total_change:+.3f}"
                      f"{'' if r.survives_holm else ' (not significant after Holm)'}" for r in rows.itertuples())
    return (f"In the full factorial, its Shapley share of the change from Partner B's configuration to the Partner-A "
            f"candidate (`{rows['factor'].iloc[0]}`): {cells}.")


def unasked_answers(ev: GridEvidence) -> list[tuple[str, str]]:
    """The same evidence as `answers`, for the candidate causes the report did not ask about that the grid tested."""
    grid = ev.grid
    out = []
    for key, title in UNASKED:
        text = _answer_factor(grid, key, ev.contrasts, ev.gap, ev.table, ev.cells, ev.claims, ev.comparable)
        if text:
            out.append((title, text))
    return [(t, shorten(grid, a)) for t, a in out]


def effect_across_text(grid: Grid, claims: dict, per_level: pd.DataFrame, moves: pd.DataFrame) -> str:
    """The grid's `effect_across` in words: the effect at each level, how it moves from the first level to the last
    (CI of the interaction), and where Partner B's own mix of rows lies, so a reader can extrapolate the cpu numbers."""
    if per_level.empty:
        return ""
    spec = grid.effect_across
    factor, across = spec["factor"], spec["across"]
    title = f"How `{factor}` {spec['from']} → {spec['to']} moves with `{across}`"
    ci = "{:+.3f} [{:+.3f}, {:+.3f}]".format
    parts = []
    for level, g in per_level.groupby(across, sort=False):
        head = f"at {across}={level} ({g['goemotions_per_olid_row'].iloc[0]:g} GoEmotions rows per OLID row)"
        done = g.dropna(subset=["change"]) if "change" in g else g.iloc[:0]
        parts.append(f"{head}: " + ("; ".join(f"{r.tier} {ci(r.change, r.ci_low, r.ci_high)}" for r in done.itertuples())
                                    if len(done) else "cells not finished"))
    text = f"**{title}.** The change {spec['from']} → {spec['to']} (95% CI over seeds × items), " + " · ".join(parts) + "."
    if len(moves) and "interaction" in moves:
        first, last = per_level[across].iloc[0], per_level[across].iloc[-1]
        words = []
        sure = {r.tier: bool(getattr(r, "survives_holm", False)) for r in moves.itertuples()}
        for r in moves.itertuples():
            reading, power = getattr(r, "reading", None), getattr(r, "seeds_for_power", "")
            power = f"; {power} seeds for 80% power" if power else ""
            words.append(f"{r.tier} {ci(r.interaction, r.ci_low, r.ci_high)}"
                         + (f" ({reading}{power})" if reading and not sure[r.tier] else
                            "" if sure[r.tier] else " (not significant after Holm)"))
        moved = [t for t, ok in sure.items() if ok]
        text += (f" From {across}={first} to {across}={last} the change moves by (their interaction): "
                 + "; ".join(words) + ". "
                 + (f"It moves significantly (after Holm over the report's family) on {', '.join(moved)}: numbers "
                    "from the first mix do not carry unchanged to the last there." if moved else
                    "No move is significant after Holm: whether the effect carries unchanged across these mixes is "
                    "undetermined at this many seeds (not significant is not equal).")
                 + (f" Seeds for 80% power: per configuration, for the paired t-test on the per-seed interaction to "
                    f"detect {MATERIAL_SHARE:.0%} of the A−B gap (at the seed sd's 80% upper bound in brackets)."
                    if "seeds_for_power" in moves and moves["seeds_for_power"].astype(bool).any() else ""))
    rows = claims.get("partner_b_train_rows")
    if rows:
        text += (f" Partner B trained on {rows['goemotions']:,} GoEmotions and {rows['olid']:,} OLID rows: "
                 f"{rows['goemotions'] / rows['olid']:.1f} GoEmotions rows per OLID row.")
    return text


SEEDS_FOR_POWER = ("`seeds_for_power`, for an undetermined one: seeds per configuration for the paired t-test on its "
                   f"per-seed values to detect {MATERIAL_SHARE:.0%} of the A−B gap with 80% power, at the seed sd's "
                   "80% upper bound in brackets")


def power_range(inter: pd.DataFrame) -> str:
    """The seeds the undetermined interactions would need (`seeds_needed`), as a range over them."""
    need = inter["seeds_needed"].dropna() if "seeds_needed" in inter else pd.Series(dtype=float)
    finite, beyond = need[np.isfinite(need)], int(np.isinf(need).sum())
    if need.empty:
        return "no power calculation: too few seeds"
    text = (f"to detect {MATERIAL_SHARE:.0%} of the A−B gap with 80% power the paired t-test would need "
            + (f"{int(finite.min())}–{int(finite.max())} seeds per configuration at the observed seed sd"
               if len(finite) else ""))
    return text + (f"{', and ' if len(finite) else ''}more than {POWER_MAX_SEEDS:,} for {beyond} of them"
                   if beyond else "") + "; `seeds_for_power` in the table, at the sd's 80% upper bound in brackets"


def as_printed(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as pages and the grid view print it: the power calculation once, as `seeds_for_power` words."""
    return frame.drop(columns=["seeds_needed", "seeds_needed_upper"], errors="ignore")


def shapley_summary(table: pd.DataFrame, inter: pd.DataFrame) -> str:
    """The Shapley table in words: each factor's share of the B → candidate change per tier, and what survives Holm."""
    if table.empty or "shapley" not in table:
        return table["note"].iloc[0] if "note" in table else ""
    parts = []
    for tier, g in table.groupby("tier", sort=False):
        cells = "; ".join(f"`{r.factor}` {r.shapley:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
                          f"{'' if r.survives_holm else ' (not significant after Holm)'}" for r in g.itertuples())
        parts.append(f"{tier} (change {g['total_change'].iloc[0]:+.3f}): {cells}")
    strong = inter[inter["survives_holm"] == True] if len(inter) and "survives_holm" in inter else inter.iloc[:0]  # noqa: E712
    tail = ("Interactions significant after Holm over the report's family: " + "; ".join(
        f"{r.factors} on {r.tier} {r.interaction:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" for r in strong.itertuples())
        if len(strong) else "No two-factor interaction is significant after Holm over the report's family. That the "
        "factors add up is not shown by this (not significant is not equal; it would need an equivalence test).")
    if len(inter) and "reading" in inter:
        eq = [f"{r.factors} on {r.tier}" for r in inter.itertuples() if r.reading.startswith("equivalent")]
        und = sum(r.reading == "undetermined" for r in inter.itertuples())
        tail += (f" Equivalence (90% CI inside ± one baseline seed sd): {'; '.join(eq)} add up within that margin"
                 if eq else " No interaction is shown equivalent to 0 within one baseline seed sd") + (
                 f"; {und} undetermined ({power_range(inter)})." if und else ".")
    return ("Shapley values (each factor's exact share of the change, summing to it; 95% CI over seeds × items; "
            "Holm-adjusted across every factor × tier): " + " · ".join(parts) + ". " + tail)


def _answer_seed(grid: Grid, table: pd.DataFrame, gap: dict, attrib: pd.DataFrame) -> str:
    """How far seed (and item) noise alone could move two single runs of one configuration apart — the partners'
    numbers are one run each — against the A−B gap: the 95% prediction interval of the difference of two new runs,
    ± t(n−1)·√(2·sd² + 2·item variance). The best-minus-worst seed is shown as the range it is (a selected pair)."""
    base = table[(table["config"] == grid.baseline) & table["tier"].isin(TIERS)]
    if base.empty or base["seeds"].max() < 2:
        return "Inconclusive: the baseline needs at least two seeds to measure seed spread."
    parts, covers, beyond = [], [], []
    for _, r in base.iterrows():
        n = int(r.seeds)
        if n < 2:
            continue
        item_var = float(r.get("item_var", 0.0) or 0.0)
        half = float(sps.t.ppf(0.975, n - 1) * np.sqrt(2 * r.sd ** 2 + 2 * item_var))
        parts.append(f"{r.tier} sd {r.sd:.3f} over {n} seeds: two single runs differ by up to ±{half:.3f} "
                     f"(95% prediction interval of their difference)")
        if r.tier in gap:
            (covers if abs(gap[r.tier]) <= half else beyond).append(r.tier)
    seed = attrib[attrib["factor"] == "seed"] if "factor" in attrib else attrib
    ranges = [f"{r.tier} {_fmt(r)}" for _, r in seed.iterrows() if r.tier in TIERS]
    verdict = ((f"Seed and item noise alone could open the A−B gap on {', '.join(covers)}: one run per partner "
                f"cannot separate them there. " if covers else "")
               + (f"On {', '.join(beyond)} the A−B gap is larger than two single runs of one configuration differ by "
                  f"(95%): seeds alone do not explain it there." if beyond else ""))
    return (f"Baseline `{grid.baseline}`: {'; '.join(parts)}."
            + (f" Seed range (best minus worst of the seeds, a selected pair, so biased away from 0; item CI): "
               f"{'; '.join(ranges)}." if ranges else "")
            + f" {verdict.strip()} Both partners should report several seeds; this project fixes seed and data order "
              "(`deterministic`).")




def _answer_factor(grid: Grid, key: str, attrib: pd.DataFrame, gap: dict, table: pd.DataFrame,
                   per_cell: pd.DataFrame, claims: dict, comparable: set[str]) -> str | None:
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
    share = ", ".join(share_text(t, v) for t, v in toward.items())
    if toward and away:
        verdict = (f"Mixed: it moves {share} toward Partner A's numbers but {', '.join(away)} away from them, so it "
                   "cannot account for Partner A's numbers by itself.")
    elif carries_gap(toward, away):
        verdict = (f"It moves the numbers toward Partner A's on {share}, at least {MATERIAL_SHARE:.0%} of the gap "
                   "within its CI: a plausible contributor.")
    elif toward and max(v[2] for v in toward.values()) < MATERIAL_SHARE:
        verdict = (f"It moves the numbers toward Partner A's on {share}, under {MATERIAL_SHARE:.0%} of the gap "
                   "everywhere even at its CI's upper bound: a minor contributor at most.")
    elif toward:
        verdict = (f"It moves the numbers toward Partner A's on {share}; whether that is a minor or a material share "
                   f"(the {MATERIAL_SHARE:.0%} line) is undetermined at this grid's size.")
    elif away:
        verdict = (f"It moves {', '.join(away)} away from Partner A's numbers: this change does not explain the gap "
                   "(if anything the partner who made it would score lower).")
    elif any(significant(r) for r in rows.itertuples()):
        verdict = "Its effect is detectable but does not point toward Partner A's numbers: it does not explain the gap."
    elif rows["excludes_0"].any():
        verdict = (f"Its unadjusted CI excludes 0 on {', '.join(rows.loc[rows['excludes_0'], 'tier'])}, but not after "
                   "Holm adjustment over the grid's family of tests: undetermined, no direction is claimed.")
    elif _identical(config, ref, per_cell):
        verdict = ("It changes nothing on its own: both configurations score exactly the same macro-F1 on every tier "
                   "and seed (this switch acts only together with another, e.g. validation through a tuned threshold "
                   "or the best epoch; see its Shapley value and interactions)."
                   if set(config_changes(grid, config, ref)) <= set(POST_TRAINING_KEYS) else
                   "Both configurations score exactly the same macro-F1 on every tier and seed. It is a training "
                   "switch: whatever it changed in the model was not enough to flip one decision at the threshold on "
                   "these rows, so at this grid's size and schedule its effect is below what macro-F1 can show, not "
                   "shown to be zero.")
    else:
        verdict = ("No effect is detectable at this grid's size (every CI includes 0): inconclusive, not evidence of "
                   f"absence.{_seeds_to_settle(config, ref, per_cell, gap)}")
    if "survives_holm" in rows:
        kept = [r.tier for r in rows.itertuples() if r.excludes_0 and r.survives_holm is True]
        lost = [r.tier for r in rows.itertuples() if r.excludes_0 and r.survives_holm is not True]
        if kept or lost:
            verdict += (f" After Holm adjustment across the grid's factor × tier tests: {', '.join(kept) or 'none'} "
                        f"still significant" + (f"; {', '.join(lost)} no longer" if lost else "") + ".")
    lines = "; ".join(f"{r.tier} {_fmt(r)}" for _, r in rows.iterrows())
    over = "universes and items" if "universes" in rows and rows["universes"].notna().all() else "seeds and items"
    return (f"`{key}` — changing only this (config `{config}` vs `{ref}`, runs {rows['cells'].iloc[0]}): {lines} "
            f"(change in macro-F1, 95% CI over {over}). {verdict}{_with(config, _landing(config, table, claims, comparable))}"
            f"{_mechanism(config, ref, per_cell)}{new_universe_text(rows, gap)}")


def new_universe_text(rows: pd.DataFrame, gap: dict) -> str:
    """For an effect averaged over a multiverse's universes: where one run of the contrast in a new universe, drawn as
    these were, would land (95% prediction interval), in shares of the A−B gap, read per level: wholly at or above
    MATERIAL_SHARE of the gap toward Partner A ("carries"), wholly toward A but possibly less, either way, or wholly
    away. The verdict holds whichever choice is made only when some level carries and none can move away."""
    if "pi_low" not in rows:
        return ""
    rows = rows.dropna(subset=["pi_low", "pi_high"])
    parts, reads = [], {"carries": [], "toward": [], "either": [], "away": []}
    for r in rows.itertuples():
        if r.tier not in gap or not gap[r.tier]:
            continue
        lo, hi = sorted((r.pi_low / gap[r.tier], r.pi_high / gap[r.tier]))
        parts.append(f"{r.tier} [{r.pi_low:+.3f}, {r.pi_high:+.3f}] ({lo:.0%} to {hi:.0%} of the gap)")
        reads["carries" if lo >= MATERIAL_SHARE else "toward" if lo > 0 else "away" if hi < 0 else "either"].append(
            r.tier)
    if not parts:
        return ""
    said = []
    if reads["carries"]:
        said.append(f"on {', '.join(reads['carries'])} it would carry at least {MATERIAL_SHARE:.0%} of the gap toward "
                    "Partner A")
    if reads["toward"]:
        said.append(f"on {', '.join(reads['toward'])} it would point toward Partner A, possibly by less than "
                    f"{MATERIAL_SHARE:.0%} of the gap")
    if reads["either"]:
        said.append(f"on {', '.join(reads['either'])} it could go either way")
    if reads["away"]:
        said.append(f"on {', '.join(reads['away'])} it would move away from Partner A's numbers")
    if reads["carries"] and not (reads["either"] or reads["away"]):
        reading = "the verdict holds whichever of these choices is made"
    elif reads["carries"] and not reads["away"]:
        reading = (f"the verdict holds on {', '.join(reads['carries'])} whichever of these choices is made, and is not "
                   f"shown to on {', '.join(reads['either'])}")
    else:
        reading = "the verdict is not shown to hold whichever of these choices is made"
    n = int(rows["universes"].iloc[0])
    return (f" In one new universe drawn as these {n} were, a single run's change would land in: {'; '.join(parts)} "
            f"(95% prediction interval over the universes, on these test rows): {'; '.join(said)}. So {reading}.")


def config_changes(grid: Grid, config: str, ref: str) -> list[str]:
    """The params in which two configurations of the grid differ (a view: its training's keys and its own)."""
    by_label = {c.label: c for c in grid.configs}

    def keys(label: str) -> dict:
        c = by_label.get(label)
        if c is None:
            return {}
        return {**(by_label[c.view_of].overrides if c.view_of in by_label else {}), **c.overrides}
    return changed_keys(keys(config), keys(ref))


def _identical(config: str, ref: str, per_cell: pd.DataFrame) -> bool:
    """The two configurations' finished seeds score exactly equal on every tier (a switch that acts only through
    another, e.g. the validation set at a fixed threshold and the last epoch)."""
    if per_cell.empty or "status" not in per_cell:
        return False
    done = per_cell[per_cell["status"] == "finished"]
    a, b = (done[done["config"] == c].set_index("seed") for c in (config, ref))
    tiers = [t for t in TIERS if t in a and t in b]
    seeds = a.index.intersection(b.index)
    scored = [t for t in tiers if a.loc[seeds, t].notna().any()]
    return bool(scored) and all(a.loc[seeds, t].equals(b.loc[seeds, t]) for t in tiers)  # equals: NaN = NaN


def _seeds_to_settle(config: str, ref: str, per_cell: pd.DataFrame, gap: dict) -> str:
    """Seeds per configuration for the paired t-test on per-seed differences (config − ref, paired by seed: the test
    this report runs) to detect, with 80% power at α = 0.05, a change of MATERIAL_SHARE of the A−B gap on each tier;
    at the observed sd and at its 80% upper confidence bound (an sd from 3 seeds has 2 degrees of freedom)."""
    if per_cell.empty or "status" not in per_cell:
        return ""
    done = per_cell[per_cell["status"] == "finished"]
    a, b = (done[done["config"] == c].set_index("seed") for c in (config, ref))
    needs = {}
    for tier in TIERS:
        if tier in a and tier in b and gap.get(tier):
            diff = (a[tier] - b[tier]).dropna()
            if len(diff) >= 2:
                delta = MATERIAL_SHARE * abs(gap[tier])
                needs[tier] = (delta, *seeds_needed(float(diff.std(ddof=1)), len(diff) - 1, delta))
    if not needs:
        return ""
    worst = max(needs, key=lambda t: needs[t][1] or 10**9)
    delta, n, n_upper = needs[worst]
    if not n:
        return (f" The paired differences vary so much across seeds that no practical number of seeds would detect "
                f"{MATERIAL_SHARE:.0%} of the A−B gap on {worst} ({delta:.3f}).")
    upper = f"{n_upper} at the sd's 80% upper bound" if n_upper else "no practical number at the sd's 80% upper bound"
    return (f" Power of the paired t-test on per-seed differences: {n} seeds per configuration ({upper}) would "
            f"detect a change of {MATERIAL_SHARE:.0%} of the A−B gap on {worst} ({delta:.3f}) with 80% power.")


def _landing(config: str, table: pd.DataFrame, claims: dict, comparable: set[str], who: str = "partner_a") -> str:
    """Where the configuration's numbers land beside a partner's, per tier. A claimed number is one run, so it is set
    beside the 95% prediction interval for one run of the configuration (seed sd and item noise), not a CI of the
    mean (for tiers scored on other rows than the partners', only the level side by side)."""
    name = {"partner_a": "Partner A", "partner_b": "Partner B"}[who]
    parts = []
    for r in table[(table["config"] == config) & table["tier"].isin(TIERS)].itertuples():
        a = claims["tiers"].get(r.tier, {}).get(who)
        low, high = getattr(r, "pi_low", None), getattr(r, "pi_high", None)
        if a is None or low is None or pd.isna(low):
            continue
        if r.tier in comparable:
            where = claim_side(a, low, high)
            parts.append(f"{r.tier} {r.mean:.3f} ± {r.sd:.3f}, a single run would land in [{low:.3f}, {high:.3f}] "
                         f"(95% prediction interval); {name}'s {a:.3f} is {where}")
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


def verdict(ev: GridEvidence) -> str:
    """The grid's bottom line: does the baseline reproduce Partner B, which configuration comes closest to Partner A,
    which of the comparison report's candidate causes carry the gap, what the controls say, and what was not tested."""
    grid, claims, table, attrib = ev.grid, ev.claims, ev.table, ev.attrib
    gap, comparable = ev.gap, ev.comparable
    t = table[table["tier"].isin(TIERS)].dropna(subset=["mean"]) if "mean" in table else pd.DataFrame()
    if t.empty:
        return "No finished cell yet: nothing to conclude."
    out, named = [], short_names(grid)  # named: the preface below names the baseline once
    if (t["config"] == grid.baseline).any():
        seeds = int(t.loc[t["config"] == grid.baseline, "seeds"].max())
        baseline = "The baseline" if named else f"The baseline `{grid.baseline}`"
        landing = _landing(grid.baseline, table, claims, comparable, "partner_b") or (
            "one seed, so no prediction interval for a single run (it needs at least 2 seeds)")
        out.append(f"**Partner B.** {baseline} ({seeds} seed{'s' if seeds != 1 else ''}): {landing}.")
    dist = ev.distance
    if len(dist):
        best = dist.index[0]
        out.append(f"**Partner A.** Closest configuration on the tiers scored on the partners' rows "
                   f"({', '.join(sorted(comparable & set(gap)))}; mean distance {dist['off'].iloc[0]:.3f}): `{best}`, "
                   f"selected among {len(dist)} configurations on these same test tiers, so its distance is "
                   "optimistic (the minimum of many; a selection, not a prediction of where a new run lands)."
                   f"{_with(best, _landing(best, table, claims, comparable))}")
    attrib = ev.contrasts
    if "change" in attrib:
        causes = {k for keys, _ in QUESTIONS for k in keys}
        carry = _carriers(attrib, causes - {"seed"}, gap)
        unasked = _carriers(attrib, {k for k, _ in UNASKED}, gap)
        out.append("**What carries the gap.** " + (
            f"Of the comparison report's candidate causes, those significant after Holm that move every affected tier "
            f"toward Partner A by at least {MATERIAL_SHARE:.0%} of the A−B gap at their CI's lower bound: "
            f"{'; '.join(carry)}. The others were undetectable at this size, smaller, or moved the numbers away from "
            "Partner A's (see the answer to each question in 05_compare)." if carry else
            f"None of the comparison report's candidate causes moves the numbers toward Partner A's by at least "
            f"{MATERIAL_SHARE:.0%} of the gap at its CI's lower bound, significant after Holm.")
            + (f" Of the causes the report did not ask about, the same rule picks: {'; '.join(unasked)} (see "
               "'Candidate causes the comparison report did not ask about')." if unasked else ""))
        controls = attrib.dropna(subset=["change"])
        controls = controls[~controls["factor"].isin(causes | set(SPEED_FACTORS)) & controls["tier"].isin(TIERS)]
        lines = [f"`{factor}` (`{g['config'].iloc[0]}` vs `{g['vs'].iloc[0]}`): "
                 + "; ".join(f"{r.tier} {_fmt(r)}" for _, r in g.iterrows())
                 for factor, g in controls.groupby("factor", sort=False)]
        if lines:
            out.append("**Controls and combinations.** " + ". ".join(lines) + ".")
    out.append(_limits(grid, comparable))
    text = shorten(grid, "\n\n".join(x for x in out if x))
    if named:
        text = (f"Configurations are named by what they change from the baseline, `{grid.baseline}`.\n\n" + text)
    return text


def _carriers(attrib: pd.DataFrame, factors: set[str], gap: dict) -> list[str]:
    """The factors, of those named, significant after Holm that move every affected tier toward Partner A by at least
    MATERIAL_SHARE of the A−B gap at the CI's lower bound and no tier away: each with its changes and shares."""
    a = attrib.dropna(subset=["change"])
    out = []
    for factor, g in a[a["factor"].isin(factors)].groupby("factor", sort=False):
        toward, away = directions(g, gap)
        if carries_gap(toward, away):
            change = g.set_index("tier")["change"]
            out.append(f"`{factor}` ({', '.join(f'{change[t]:+.3f}: ' + share_text(t, v) for t, v in toward.items())})")
    return out


def _limits(grid: Grid, comparable: set[str]) -> str:
    """What the numbers are of: the setting every cell trained in, and each tier that is absent or not the partners'."""
    first = first_baseline_cell(grid)
    if first is None:
        return ""
    lines = []
    if RunFolder(first.dir).has_params():
        # each configuration's own params (the grid's base under its overrides): a grid that varies the epochs or a
        # row count (the fidelity grid) names every value it trained with, not the baseline's alone
        settings = [load(grid.base, c.overrides) for c in grid.configs]

        def values(key: str) -> str:
            return " or ".join(str(v) for v in dict.fromkeys(getattr(q, key) for q in settings) if v)
        rows = ", ".join(f"{values(k)} {k.split('_')[0]}" for k in ("olid_train_rows", "goemotions_train_rows")
                         if values(k))
        encoders = " or ".join(f"`{e}`" for e in dict.fromkeys(q.encoder for q in settings))
        lines.append(f"Every cell trains {encoders} for {values('epochs')} epochs on {rows or 'all'} training rows: "
                     "effects are of this setting, and their size can differ at the paper's (bert-base, full data).")
    for t in RunFolder(first.dir).stress().tiers.values():
        if t.level not in TIERS:
            continue
        if not t.available:
            lines.append(f"{t.level} ({t.name}) not tested: {t.reason.removeprefix('not available: ')}.")
        elif t.level not in comparable:
            lines.append(f"{t.level} ({t.name}, {t.provenance.get('file', '')}) is not the file the partners "
                         "scored: its level is not comparable with theirs; changes between configurations are "
                         "measured on the same rows.")
    return "**Limits.** " + " ".join(lines) if lines else ""


def markdown_summary(ev: GridEvidence) -> str:
    """The grid's evidence so far as markdown (`aura grid --summary`): for a README, an issue, or a look mid-grid."""
    grid, claims, table, attrib = ev.grid, ev.claims, ev.table, ev.contrasts
    done = int((ev.cells["status"] == "finished").sum()) if len(ev.cells) else 0
    parts = [f"Grid `{grid.name}`: {done}/{len(ev.cells)} cells finished; seeds {grid.seeds}; baseline "
             f"`{grid.baseline}`.", "", "Macro-F1, mean ± sd over the finished seeds:", "",
             headline(table).to_markdown(), "", "The file behind each level:", "", tier_legend(grid).to_markdown(index=False),
             "", "Bottom line:", "", verdict(ev)]
    if grid.effect_across:
        parts += ["", effect_across_text(grid, claims, *ev.effect)]
    if "change" in attrib:
        a = attrib.dropna(subset=["change"])
        a = a.assign(change=[f"{r.change:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" for r in a.itertuples()])
        over = "seeds and items" + ("; an average over the universes: universes and items" if grid.multiverse else "")
        parts += ["", f"Change when only that factor changes (95% CI over {over}):", "",
                  a.pivot(index=["factor", "config", "vs"], columns="tier", values="change").reset_index()
                  .to_markdown(index=False)]
    if not ev.speed.empty:
        parts += ["", "Speed switches, F1 equivalence (TOST on paired seeds, margin one seed sd of the reference):", "",
                  speed_table(ev.speed)]
    return "\n".join(parts)


def speed_table(speed: pd.DataFrame) -> str:
    """The speed switches' F1-equivalence rows (diagnosis.speed_parity) as the page prints them and
    docs/performance.md quotes them."""
    return speed.round(4).to_markdown(index=False)


PAPER_TABLES = ("paper_results", "paper_ablation")   # .md and .tex beside report.html


def paper_tables(ev: GridEvidence) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the evidence supports reporting, by the report's own rules. Results: the baseline (as stated), the
    `shapley` target and the configuration closest to Partner A (marked: selected on the test tiers), each tier as
    mean ± sd over seeds with the 95% t interval of the mean. Ablation: every one-change contrast, its change with
    the 95% CI, † where significant after Holm over the report's family."""
    table, grid = ev.table, ev.grid
    picks = [grid.baseline] + ([grid.shapley["to"]] if grid.shapley else [])
    dist = ev.distance
    if len(dist) and dist.index[0] not in picks:
        picks.append(dist.index[0])
    names = short_names(grid)
    rows = []
    for config in picks:
        t = table[(table["config"] == config) & table["tier"].isin(TIERS + ["ΔF1"])]
        if t.empty:
            continue
        roles = (["as stated (baseline)"] if config == grid.baseline else []) + (
            ["Shapley target"] if grid.shapley and config == grid.shapley["to"] else []) + (
            ["closest to Partner A (selected on the test tiers)"] if len(dist) and config == dist.index[0] else [])
        role = "; ".join(roles)
        row = {"configuration": names.get(config, config), "role": role, "seeds": int(t["seeds"].max())}
        for r in t.itertuples():
            interval = f" [{r.t_low:.3f}, {r.t_high:.3f}]" if pd.notna(getattr(r, "t_low", None)) else ""
            row[r.tier] = f"{r.mean:.3f} ± {r.sd:.3f}{interval}" if r.seeds >= 2 else f"{r.mean:.3f} (one seed)"
        rows.append(row)
    a = ev.contrasts.dropna(subset=["change"]) if "change" in ev.contrasts else ev.contrasts
    a = a[a["factor"] != "seed"] if len(a) else a
    ablation = []
    for (factor, config, ref), g in (a.groupby(["factor", "config", "vs"], sort=False) if len(a) else []):
        row = {"factor": factor, "change": names.get(config, config), "vs": names.get(ref, ref)}
        for r in g.itertuples():
            mark = "†" if getattr(r, "survives_holm", None) is True else ""
            row[r.tier] = f"{r.change:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]{mark}"
        ablation.append(row)
    return pd.DataFrame(rows), pd.DataFrame(ablation)


def write_paper_tables(ev: GridEvidence, compare_dir: str | Path) -> str:
    """The two tables as Markdown and LaTeX (booktabs) files beside report.html; returns the markdown section."""
    results, ablation = paper_tables(ev)
    notes = {"paper_results": "Mean ± sd over seeds [95% t interval of the mean].",
             "paper_ablation": f"Change in macro-F1 [95% CI over seeds × items]; † significant after Holm over the "
                               f"report's family of {ev.holm_family} tests."}
    parts = []
    for name, df in zip(PAPER_TABLES, (results, ablation)):
        md = df.to_markdown(index=False) if len(df) else "(no finished cells)"
        atomic_write_text(Path(compare_dir) / f"{name}.md", f"{md}\n\n{notes[name]}\n")
        tex = df.style.hide(axis="index").to_latex(hrules=True) if len(df) else "% no finished cells\n"
        atomic_write_text(Path(compare_dir) / f"{name}.tex", f"% {notes[name]}\n{tex}")
        parts.append(f"{md}\n\n{notes[name]}")
    limits = _limits(ev.grid, ev.comparable).removeprefix("**Limits.** ")
    seeds = max(len(ev.grid.seeds), 1)
    return ("## What to report in the paper\n\n" + "\n\n".join(parts)
            + f"\n\nTo state as limitations: {seeds} seed{'s' if seeds != 1 else ''} per configuration (a claimed number is one run: compare "
              f"it with the one-run prediction interval, not the mean's); {limits} (`paper_results.tex`, "
              "`paper_ablation.tex` and their .md beside report.html)")


def multiverse_text(ev: GridEvidence) -> str:
    """The robustness paragraph: the factor's effect averaged over the universes (CI, Holm) and predicted for a new
    universe (prediction interval), in how many universes it carries the A−B gap by the report's rules, which switch
    moves it most, and the universes nearest each partner."""
    grid, table = ev.grid, ev.multiverse
    if table.empty:
        return ""
    done = table.dropna(subset=["holds"])
    f = grid.multiverse_factor
    head = f"**Across implementations (multiverse).** `{f['key']}` {f['from']} → {f['to']}"
    if done.empty:
        return f"{head}: no universe has finished yet."
    holds = int(done["holds"].sum())
    imp = ev.importance
    top = _top_switches(imp, len(done))
    sampled = "" if len(done) == len(table) else f" ({len(table)} sampled)"
    count = (f"carries the A−B gap (significant after Holm, toward Partner A by ≥ {MATERIAL_SHARE:.0%} of the gap at the "
             f"CI's lower bound, away nowhere) in {holds} of {len(done)} finished universes{sampled}")
    avg = ev.mv_average
    if avg.empty:
        return f"{head} {count}.{top}{_nearest_universes(ev)}"
    rows = avg.dropna(subset=["change"])
    toward, away = directions(rows, ev.gap)
    lines = "; ".join(f"{r.tier} {_fmt(r)}{'' if significant(r) else ' (not significant after Holm)'}"
                      for _, r in rows.iterrows())
    if carries_gap(toward, away):
        reading = ("it carries the gap on average: "
                   + ", ".join(share_text(t, v) for t, v in toward.items()) + ", away nowhere")
    elif away:
        reading = f"on average it moves {', '.join(away)} away from Partner A's numbers"
    elif toward:
        reading = ("on average it moves the numbers toward Partner A's on "
                   + ", ".join(share_text(t, v) for t, v in toward.items())
                   + f", but not by {MATERIAL_SHARE:.0%} of the gap at the CI's lower bound")
    else:
        reading = "no average effect is detectable (not significant is not equal)"
    n = int(rows["universes"].iloc[0])
    of = f"of {len(table)} sampled; " if sampled else ""
    return (f"{head}, averaged over {n} finished universes ({of}drawn uniformly from the switches' product; "
            f"95% CI resampling universes and items, Holm over the report's family): {lines}; {reading}."
            f"{new_universe_text(rows, ev.gap)} Universe by universe, it {count}; each universe ran one seed, so its "
            f"own CI covers the test items and not the seed noise, which the average's CI carries.{top}"
            f"{_nearest_universes(ev)}")


def _top_switches(imp: pd.DataFrame, universes: int) -> str:
    """' The switch that moves the effect most: on L1 `pooling` (η² 0.41; chance alone 0.11), …' from
    ev.importance, per tier of the effect."""
    tiers = [c for c in imp.columns if c.startswith("effect ")] if len(imp) else []
    parts = []
    for col in tiers:
        best = imp.loc[imp[col].idxmax()]
        parts.append(f"on {col.removeprefix('effect ')} `{best['switch']}` (η² {best[col]:.2f}; chance alone "
                     f"{best['chance']:.2f})")
    return (f" The switch that moves the effect most (one-way η² over {universes} universes, descriptive): "
            + "; ".join(parts) + "." if parts else "")


def average_table(avg: pd.DataFrame) -> pd.DataFrame:
    """The multiverse average as pages and the grid view print it: per tier, the change with its 95% CI (Holm †),
    the 95% prediction interval for one run in a new universe, and how many universes moved each way."""
    if avg.empty:
        return avg
    return pd.DataFrame([{
        "tier": r.tier, "universes": int(r.universes),
        "change [95% CI]": f"{_fmt(r)}{'†' if significant(r) else ''}",
        "one run in a new universe [95% PI]": f"[{r.pi_low:+.3f}, {r.pi_high:+.3f}]",
        "universes up / down": f"{r.universes_up} / {r.universes_down}"} for _, r in avg.iterrows()])


def _nearest_universes(ev: GridEvidence) -> str:
    """' Nearest Partner A: u07 with masked (mean distance 0.012); nearest Partner B: …' from ev.mv_closest."""
    near = ev.mv_closest
    if near.empty:
        return ""
    key = ev.grid.multiverse_factor["key"]
    parts = []
    for who, g in near.groupby("partner", sort=True):
        r = g.iloc[0]
        parts.append(f"nearest Partner {who}: {r['universe']} with {key}={r[key]} (mean distance "
                     f"{r['mean distance']:.3f}, a selection among {len(ev.grid.configs)} configurations)")
    text = "; ".join(parts)
    return f" {text[0].upper()}{text[1:]}."


def write_bottom_line(ev: GridEvidence, compare_dir: str | Path) -> str:
    """The verdict and the seven answers as markdown, saved beside the grid view for report.html (so the report shows
    the very text the notebook computed); returns the verdict, which 05_compare shows first."""
    text = verdict(ev)
    note = ev.partial
    if note:
        text = f"**{note}**\n\n{text}"
    if ev.grid.shapley:
        text += "\n\n**Attribution that adds up.** " + shorten(ev.grid, shapley_summary(*ev.shapley))
    if ev.grid.effect_across:
        text += "\n\n" + effect_across_text(ev.grid, ev.claims, *ev.effect)
    if ev.grid.multiverse:
        text += "\n\n" + multiverse_text(ev)
    qa = "\n\n".join(f"**{q}** {a}" for q, a in answers(ev))
    unasked = unasked_answers(ev)
    if unasked:
        qa += ("\n\n## Candidate causes the comparison report did not ask about\n\n"
               + "\n\n".join(f"**{q}.** {a}" for q, a in unasked))
    paper = write_paper_tables(ev, compare_dir)
    atomic_write_text(RunFolder(compare_dir).bottom_line,
                      f"## Bottom line\n\n{text}\n\n{paper}\n\n## The seven questions\n\n{qa}\n")
    return text
