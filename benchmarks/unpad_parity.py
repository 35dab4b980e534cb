"""F1 parity and time of the padding-free pass, from a finished params/grids/unpad_parity.yaml (or any grid with a
`padded` and an `unpadded` config over the same seeds): per tier, each arm's mean ± sd over seeds, the paired per-seed
difference (unpadded − padded; a seed fixes the data split, initialisation and data order in both) with its 90% t
interval, and the equivalence test (TOST, α = 0.05 per side) against a margin of one seed sd of the padded arm. Then
each cell's wall time over the five notebooks (what `make report` runs) and 02_train's.

    python benchmarks/unpad_parity.py params/grids/unpad_parity.yaml [--root outputs/grids] [--out docs/results/unpad_equivalence.md]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from aura_core import grids as G
from aura_core.base.io import read_json
from aura_core.base.results import LEVELS, run_scores
from aura_core.base.run_folder import RunFolder
from aura_core.base.stats import paired_seed_equivalence

MEASURES = ("L1", "L2", "L3", "ΔF1", "emotion", "L1 AUC", "L2 AUC", "L3 AUC")


def scores(run: RunFolder) -> dict:
    """run_scores' macro-F1s, plus each level's ROC-AUC: the threshold-free check where a level's F1 sits at the
    all-negative floor (the cpu profile flags under 1% of L2/L3 rows, so their F1 barely moves whatever changes)."""
    out = run_scores(run.read_metrics())
    for t in run.stress().available():
        if t.level in LEVELS:
            out[f"{t.level} AUC"] = t.metrics.get("roc_auc")
    return out


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def arm_cells(grid: G.Grid, label: str) -> dict[int, G.Cell]:
    cells = {c.seed: c for c in G.training_cells(grid) if c.config.label == label}
    if not cells:
        raise SystemExit(f"{grid.path}: no config labelled {label!r} (expected 'padded' and 'unpadded')")
    return cells


def parity_table(grid: G.Grid, a: str = "padded", b: str = "unpadded") -> pd.DataFrame:
    ca, cb = arm_cells(grid, a), arm_cells(grid, b)
    seeds = sorted(s for s in set(ca) & set(cb) if G.finished(ca[s]) and G.finished(cb[s]))
    if len(seeds) < 2:
        raise SystemExit(f"{grid.dir}: {len(seeds)} seed(s) finished in both arms; parity needs ≥ 2")
    sa = {s: scores(ca[s].run) for s in seeds}
    sb = {s: scores(cb[s].run) for s in seeds}
    rows = []
    for m in MEASURES:
        va = np.array([sa[s].get(m) for s in seeds], float)
        vb = np.array([sb[s].get(m) for s in seeds], float)
        if not (np.isfinite(va).all() and np.isfinite(vb).all()):
            continue
        margin = float(va.std(ddof=1))
        r = paired_seed_equivalence(va, vb, margin)
        verdict = ("equivalent within one seed sd" if r["equivalent"] else
                   "differs (90% CI excludes 0)" if r["excludes_0"] else
                   "not shown equivalent (CI holds 0 but crosses the margin)")
        rows.append({"measure": m, f"{a} mean ± sd": f"{va.mean():.4f} ± {va.std(ddof=1):.4f}",
                     f"{b} mean ± sd": f"{vb.mean():.4f} ± {vb.std(ddof=1):.4f}",
                     "paired diff": round(r["mean_diff"], 4), "90% CI": f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]",
                     "margin (seed sd)": round(margin, 4), "p (TOST)": p_text(r["p_tost"]), "verdict": verdict})
    return pd.DataFrame(rows), seeds


def flag_rates(grid: G.Grid) -> dict[str, tuple[float, float]]:
    """{level: (mean predicted positive rate, true positive rate)} over the grid's finished cells."""
    rates: dict[str, list] = {}
    for c in G.training_cells(grid):
        if not G.finished(c):
            continue
        for t in c.run.stress().available():
            if t.level in LEVELS:
                rates.setdefault(t.level, []).append((t.metrics["pred_pos_rate"], t.metrics["true_pos_rate"]))
    return {lv: tuple(np.mean(v, axis=0)) for lv, v in sorted(rates.items())}


def time_table(grid: G.Grid, a: str = "padded", b: str = "unpadded") -> pd.DataFrame:
    rows = []
    for label in (a, b):
        for s, c in sorted(arm_cells(grid, label).items()):
            seconds = c.run.notebook_seconds()
            if "05_compare" not in seconds:
                continue
            train = read_json(c.run.train_info)
            rows.append({"config": label, "seed": s, "five notebooks (min)": sum(seconds.values()) / 60,
                         "02_train (min)": seconds["02_train"] / 60, "samples/s (training)": train["samples_per_s"]})
    df = pd.DataFrame(rows)
    return df


PAIRS = (("padded", "unpadded"), ("unpadded", "unpadded_bf16"))   # (reference, speed switch on) where both exist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grid", help="The grid file (padded and unpadded configs over the same seeds).")
    ap.add_argument("--root", default="outputs/grids", help="Folder holding the grid's folder.")
    ap.add_argument("--out", help="Also write the page here (markdown).")
    a = ap.parse_args()
    grid = G.load_grid(a.grid, a.root)
    labels = {c.label for c in grid.configs}
    lines = [f"# Padding-free pass and bf16: F1 parity and time ({grid.name})", "",
             f"Generated by `python benchmarks/unpad_parity.py {a.grid} --root {a.root}` from the grid's cells "
             f"(profile {grid.base.name}).", "",
             "Paired over seeds (switch on − off; a seed fixes the data split, initialisation and data order in both), "
             "90% Student t interval; equivalence = the interval inside ± one seed sd of the reference arm (TOST, "
             "α = 0.05 per side). With 3 seeds the interval is wide: 'not shown equivalent' means the evidence is too "
             "thin to call the two equal, not that they differ.", ""]
    flagged = flag_rates(grid)
    lines += ["Share of each level's rows the cells flag toxic (mean over every finished cell; the rows' true rate "
              "beside it): " + "; ".join(f"{lv} {r:.1%} (true {t:.1%})" for lv, (r, t) in flagged.items()) + ". A "
              "level flagged near 0% sits at the all-negative floor of macro-F1, where its F1 barely moves whatever "
              "changes: its AUC row is the check that carries information there.", ""]
    for ref, on in PAIRS:
        if {ref, on} <= labels:
            parity, seeds = parity_table(grid, ref, on)
            lines += [f"## {on} vs {ref} (seeds {seeds})", "", parity.to_markdown(index=False), ""]
    times = pd.concat([time_table(grid, ref, on) for ref, on in PAIRS if {ref, on} <= labels]).drop_duplicates(
        ["config", "seed"])
    means = times.groupby("config", sort=False)[["five notebooks (min)", "02_train (min)",
                                                 "samples/s (training)"]].mean()
    lines += ["## Time per cell, as the grid ran it", "",
              "Not an idle-machine timing: the cells ran two at a time or beside other work on the same two cores "
              "(runs.jsonl in the grid folder has each invocation). `python benchmarks/report_time.py` measures "
              "`make report` before and after on an idle machine.", "",
              times.round(2).to_markdown(index=False), "", "Means:", "", means.round(2).to_markdown(), ""]
    for ref, on in PAIRS:
        if {ref, on} <= set(means.index):
            r = means.loc[ref] / means.loc[on]
            lines.append(f"- {on} vs {ref}: five notebooks {r['five notebooks (min)']:.2f}× faster, 02_train "
                         f"{r['02_train (min)']:.2f}×.")
    page = "\n".join(lines) + "\n"
    print(page)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(page)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
