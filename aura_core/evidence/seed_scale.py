"""What the seed-scale grid (params/grids/seed_scale.yaml: Partner B's data and schedule on MiniLM) says beside the
cpu proxy: each configuration's numbers against the claimed ones (a claim is one run: a prediction interval for one
run), the pseudo-label effect at both scales, what moved inside the model, the learned loss weights on the axes of
Partner B's epoch table under both conventions, and the time it took. Each function returns a table; `sections`
turns them into the grid's results page (reporting/results_page.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aura_core.base.stats import seed_summary
from aura_core.evidence.diagnosis import GridEvidence, cells_by_config, config_change, mechanism_table
from aura_core.evidence.timing import training_record
from aura_core.evidence.weight_convention import CONVENTIONS
from aura_core.grids import Grid, finished, training_cells

LEVELS_SHOWN = ("L1", "L2", "L3", "ΔF1")


def masked_label(grid: Grid, label: str) -> str:
    """The configuration that is `label` with masked training in place of paired (the rest unchanged)."""
    return label.replace("paradigm=paired", "paradigm=masked")


@dataclass(frozen=True)
class Arm:
    """A configuration set against one partner's claimed numbers."""
    label: str
    name: str
    partner: str   # partner_a | partner_b


def arms(grid: Grid) -> list[Arm]:
    """Partner B as stated (the baseline) against B; masked training with B's other choices, and the Partner-A
    candidate this grid can train (the Shapley end point), against A."""
    out = [Arm(grid.baseline, "B as stated (paired)", "partner_b"),
           Arm(masked_label(grid, grid.baseline), "masked, B's other choices", "partner_a")]
    if grid.shapley:
        out.append(Arm(grid.shapley["to"], "A candidate (masked, tuned, separate, best)", "partner_a"))
    return out


def claims_table(ev: GridEvidence) -> pd.DataFrame:
    """Per arm and level: mean ± sd over seeds, the 95% prediction interval for one new run, the partner's claimed
    number and whether that one run lies inside the interval."""
    rows = []
    for arm in arms(ev.grid):
        t = ev.table[ev.table["config"] == arm.label] if len(ev.table) else ev.table
        for level in LEVELS_SHOWN:
            r = t[t["tier"] == level]
            if r.empty:
                continue
            r = r.iloc[0]
            claim = ev.claims["tiers"].get(level, {}).get(arm.partner)
            pi = (r.get("pi_low"), r.get("pi_high"))
            known = pi[0] is not None and np.isfinite(pi[0])
            rows.append({"configuration": arm.name, "level": level, "seeds": int(r["seeds"]),
                         "mean ± sd": f"{r['mean']:.3f} ± {r['sd']:.3f}" if r["seeds"] > 1 else f"{r['mean']:.3f}",
                         "95% one-run PI": f"[{pi[0]:.3f}, {pi[1]:.3f}]" if known else "— (needs ≥ 2 seeds)",
                         "claimed": f"{claim:.4f} ({'A' if arm.partner == 'partner_a' else 'B'})" if claim is not None
                         else "—",
                         "claim inside PI": ("yes" if pi[0] <= claim <= pi[1] else "no")
                         if known and claim is not None else "—"})
    return pd.DataFrame(rows)


def pseudo_label_effect(grid: Grid, masked: str, paired: str, n_resamples: int = 1000) -> dict | None:
    """masked − paired per level, paired over the seeds both arms ran (stats.hierarchical_effects), or None."""
    return config_change(cells_by_config(grid), masked, paired, n_resamples)


def effect_table(ev: GridEvidence, proxy: tuple[Grid, str, str] | None = None) -> pd.DataFrame:
    """The pseudo-label effect (masked − paired, B's other choices) at Partner B's scale, with its Holm-adjusted p from
    the grid's one family, beside the proxy's (a grid with a masked and a paired configuration, e.g. unasked)."""
    a = ev.attrib
    masked = masked_label(ev.grid, ev.grid.baseline)
    rows = a[(a.get("config") == masked) & (a.get("vs") == ev.grid.baseline)] if len(a) and "config" in a else a
    proxy_effect = pseudo_label_effect(*proxy) if proxy else None
    out = []
    for level in LEVELS_SHOWN:
        r = rows[rows["tier"] == level] if len(rows) else rows
        row = {"level": level}
        if len(r) and "change" in r and pd.notna(r.iloc[0].get("change")):
            r = r.iloc[0]
            row |= {"seed scale: masked − paired": f"{r['change']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
                    "p (Holm)": f"{r['p_holm']:.3g}" if pd.notna(r.get("p_holm")) else "—",
                    "verdict": ("masked higher" if r["change"] > 0 else "masked lower")
                    if r.get("survives_holm") else "not shown different"}
        else:
            row |= {"seed scale: masked − paired": "— (cells not finished)", "p (Holm)": "—", "verdict": "—"}
        e = (proxy_effect or {}).get(level)
        row["proxy: masked − paired"] = (f"{e['diff']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]" if e
                                         else "— (no proxy grid here)")
        out.append(row)
    return pd.DataFrame(out)


def inside_table(ev: GridEvidence) -> pd.DataFrame:
    """What moved inside the model, per arm: predicted/true positive rate per level, the domain-shortcut gap and the
    decision threshold, mean ± sd over seeds."""
    mech = mechanism_table(ev.grid)
    wanted = {a.label: a.name for a in arms(ev.grid)}
    mech = mech[mech["config"].isin(wanted)].copy() if len(mech) else mech
    if mech.empty:
        return mech
    cells = ev.cells[ev.cells["status"] == "finished"]
    mech["threshold"] = [_mean_sd(cells[cells["config"] == c]["threshold"]) for c in mech["config"]]
    mech["config"] = mech["config"].map(wanted)
    return mech.rename(columns={"config": "configuration"})


def _mean_sd(values) -> str:
    s = seed_summary(list(values))
    return "—" if s["mean"] is None else f"{s['mean']:.3f} ± {s['sd']:.3f}"


def weight_trajectories(grid: Grid, claims: dict) -> pd.DataFrame:
    """The learned loss weights at each epoch end (s = log σ² from epochs.csv), mean over each trained paradigm's
    seeds, under both conventions, beside Partner B's reported weights for the same epoch."""
    reported = {int(r["epoch"]): r for r in claims.get("partner_b_epochs") or []}
    per: dict[tuple, list] = {}
    for c in training_cells(grid):
        if not finished(c) or not c.run.epochs.is_file():
            continue
        paradigm = c.run.read_params().paradigm
        ep = pd.read_csv(c.run.epochs)
        for _, r in ep.iterrows():
            for task in ("toxicity", "emotion"):
                if f"s_{task}" in r and pd.notna(r[f"s_{task}"]):
                    per.setdefault((paradigm, int(r["epoch"]), task), []).append(float(r[f"s_{task}"]))
    rows = []
    for (paradigm, epoch, task), s in sorted(per.items()):
        row = {"paradigm": paradigm, "epoch": epoch, "task": task, "seeds": len(s),
               "Partner B reported": reported.get(epoch, {}).get(f"weight_{task}")}
        for key, (label, to_weight, _) in CONVENTIONS.items():
            w = to_weight(np.asarray(s))
            row[label] = float(w.mean())
            row[f"{label} sd"] = float(w.std(ddof=1)) if len(w) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def convention_fit(traj: pd.DataFrame) -> pd.DataFrame:
    """Per paradigm and convention: the largest |ours − Partner B's| over the reported epochs and tasks, and whether
    the weights rise as B's do (B's go up every epoch)."""
    rows = []
    have = traj.dropna(subset=["Partner B reported"]) if len(traj) else traj
    for paradigm, g in have.groupby("paradigm", sort=False) if len(have) else []:
        for key, (label, _, _) in CONVENTIONS.items():
            gap = (g[label] - g["Partner B reported"]).abs()
            rising = all(np.all(np.diff(t.sort_values("epoch")[label].to_numpy()) > 0) for _, t in g.groupby("task"))
            rows.append({"paradigm": paradigm, "convention": label, "epochs compared": int(g["epoch"].nunique()),
                         "max |ours − B|": float(gap.max()), "mean |ours − B|": float(gap.mean()),
                         "rises every epoch like B's": rising})
    return pd.DataFrame(rows)


def convention_verdict(fit: pd.DataFrame) -> str:
    """Which reading of the learned weight traces Partner B's epoch table, per paradigm, in words from convention_fit."""
    out = []
    for paradigm, g in fit.groupby("paradigm", sort=False) if len(fit) else []:
        g = g.sort_values("mean |ours − B|")
        best, other = g.iloc[0], g.iloc[-1]
        out.append(f"With {paradigm} training, {best['convention']} comes closest to Partner B's weights (mean gap "
                   f"{best['mean |ours − B|']:.3f}, largest {best['max |ours − B|']:.3f} over "
                   f"{best['epochs compared']} epochs); {other['convention']} misses them by "
                   f"{other['mean |ours − B|']:.3f} on average.")
    return " ".join(out)


# What could still explain Partner B's numbers when B's configuration, trained at B's scale, does not reach them: each
# with the run that would test it.
LEFT_TO_TEST = [
    ("the encoder", "bert-base-uncased (110M parameters) against MiniLM (22M)",
     "the same grid with `--set encoder=bert-base-uncased` on a GPU box (`params/grids/diagnosis_paper.yaml` is the "
     "proxy's version)"),
    ("precision", "fp16 autocast on CUDA (the comparison report's setting) against fp32 on CPU",
     "`precision: fp16` on a GPU box, or `precision: bf16` here as a first look"),
    ("choices the comparison report does not state", "pooling, class weights, weight-decay scope, the emotion target, "
     "dropout, warm-up share, the toxicity loss and head",
     "the multiverse grid (`params/grids/multiverse.yaml`) and the one-change grid `params/grids/unasked.yaml`"),
    ("the decision threshold and the epoch", "a tuned threshold or another epoch",
     "already views of this grid (threshold, validation, selection): see the summary above"),
]


def left_to_test(ev: GridEvidence) -> str:
    """Whether Partner B's L2/L3 are out of reach of B's configuration at B's scale, worded no stronger than the 95%
    one-run prediction interval: above it, "does not reach"; above every seed but inside it, "not shown yet". Either
    way, what is left that could explain B's numbers, each with the run that would test it."""
    t = ev.table[ev.table["config"] == ev.grid.baseline] if len(ev.table) else ev.table
    above_pi, above_seeds = [], []
    for level in ("L2", "L3"):
        r = t[t["tier"] == level] if len(t) else t
        claim = ev.claims["tiers"].get(level, {}).get("partner_b")
        if not len(r) or claim is None or not claim > r.iloc[0]["max"]:
            continue
        r = r.iloc[0]
        pi = (r.get("pi_low"), r.get("pi_high"))
        known = pi[1] is not None and np.isfinite(pi[1])
        text = f"{level} {r['mean']:.3f} ± {r['sd']:.3f} (highest seed {r['max']:.3f}) against B's {claim:.3f}"
        if known and claim > pi[1]:
            above_pi.append(f"{text}, above the one-run interval [{pi[0]:.3f}, {pi[1]:.3f}]")
        else:
            above_seeds.append(text + (f", inside the one-run interval [{pi[0]:.3f}, {pi[1]:.3f}]" if known else ""))
    if not above_pi and not above_seeds:
        return ("Partner B's L2 and L3 lie within the seeds of B's configuration trained at B's scale: nothing is left "
                "to explain on those levels.")
    n = int(t["seeds"].max())
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    parts = []
    if above_pi:
        parts.append(f"**B as stated, trained at B's scale, does not reach B's numbers** ({seeds}): {'; '.join(above_pi)}.")
    if above_seeds:
        parts.append(f"**Above every seed so far, but not shown out of reach** ({seeds}; more seeds narrow the "
                     f"interval): {'; '.join(above_seeds)}.")
    return (" ".join(parts) + " What is left that could explain B's numbers, and the run that would test each:\n\n"
            + "\n".join(f"- **{what}** ({detail}): {how}." for what, detail, how in LEFT_TO_TEST))


def timing_table(grid: Grid) -> pd.DataFrame:
    """Each trained cell: optimizer steps (per epoch and in all), training rows seen, training time (summed over the
    runs of a cell stopped and resumed) and speed, as the grid ran it (two cells at a time on the same cores), in
    hours (timing.training_record, read once for every grid's time section)."""
    rows = [{"cell": r["cell"], "steps": r["steps"], "steps per epoch": r["steps per epoch"],
             "rows seen": r["rows seen"], "02_train (h)": r["train_s"] / 3600, "samples/s": r["samples/s"],
             "s/step median": r["s/step median"], "s/step fastest decile": r["s/step fastest decile"],
             "at the fastest decile (h)": r["steps"] * r["s/step fastest decile"] / 3600, "device": r["device"],
             "stopped and resumed": r["stopped and resumed"]}
            for r in filter(None, map(training_record, training_cells(grid)))]
    return pd.DataFrame(rows)


def sections(ev: GridEvidence, proxy: tuple[Grid, str, str] | None = None) -> list[tuple[str, str]]:
    """(title, markdown) for the seed-scale grid's results page."""
    claims = ev.claims
    b_steps = claims.get("partner_b_steps_per_epoch_estimate")
    traj = weight_trajectories(ev.grid, claims)
    fit = convention_fit(traj)
    timing = timing_table(ev.grid)
    out = [
        ("Against the claimed numbers",
         "A claimed number is one run, so it is set against the 95% prediction interval for one new run of the "
         "configuration (seed sd and item noise; stats.one_run_prediction_interval), not against a CI of the mean. "
         "Partner B: 0.7171 / 0.6091 / 0.4014; Partner A: 0.7917 / 0.7744 / 0.5168 (L1 / L2 / L3).\n\n"
         + _md(claims_table(ev))),
        ("The pseudo-label effect at both scales",
         "masked − paired with Partner B's other choices (threshold 0.5, paired validation, last epoch), per level: "
         "the difference of seed means with its 95% interval over seeds (paired) and items, and its p adjusted once "
         "with every other test of this grid (Holm). The proxy column is the cpu profile's (3,000 + 3,000 rows, 3 "
         "epochs) where its grid is on this machine.\n\n" + _md(effect_table(ev, proxy))),
        ("What moved inside the model",
         "pred/true: the share of a level's rows flagged toxic over its true share (1 = as many flags as toxic rows; "
         "near 0 = the model flags almost nothing there). shortcut gap: mean P(toxic) of GoEmotions anger + disgust "
         "rows minus joy + neutral rows (a learned 'emotional = toxic' shortcut when large).\n\n"
         + _md(inside_table(ev))),
        ("Learned loss weights on Partner B's axes",
         f"Per epoch end, mean over seeds, both readings of the learned s = log σ²: ½·exp(−s) (the comparison "
         f"report's formula 1/(2σ²)) and exp(−s) (1/σ²). Partner B reported 1.10 → 1.97 (toxicity) and 1.05 → 1.74 (emotion) over "
         f"{len(claims.get('partner_b_epochs') or [])} epochs of about {b_steps} steps.\n\n" + _md(traj)
         + ("\n\nHow close each convention comes to Partner B's numbers:\n\n" + _md(fit) + "\n\n"
            + convention_verdict(fit) if len(fit) else "")),
        ("What is left to explain", left_to_test(ev)),
        ("Time",
         f"Partner B's table implies about {b_steps} optimizer steps per epoch (all OLID and GoEmotions train rows, "
         f"batch 16 × 2); these cells hold out the OLID dev rows the validation needs, so an epoch is a little "
         f"shorter. Two cells trained at a time on the same two cores, so a cell alone would train faster; at "
         f"times other work (the test suite, paused grids) shared the cores too, which `02_train` includes. The "
         f"pace columns read steps.csv in windows of 100 steps: the fastest decile is the pace of the stretches "
         f"with only the two cells on the cores, and steps × it estimates such a cell.\n\n"
         + _md(timing)
         + (f"\n\nIn all: {timing['02_train (h)'].sum():.1f} h of training over {len(timing)} cells as run; "
            f"{timing['at the fastest decile (h)'].sum():.1f} h at the fastest-decile pace, i.e. "
            f"≈ {timing['at the fastest decile (h)'].sum() / 2:.1f} h of wall clock for these cells two at a time."
            if len(timing) else "")),
    ]
    return out


def _md(df: pd.DataFrame) -> str:
    return "_(no finished cell yet)_" if df is None or df.empty else df.to_markdown(index=False, floatfmt=".3f")


# the cpu proxy's paired and masked trainings, in the grids that train them (3,000 + 3,000 rows, 3 epochs, 3 seeds):
# grid file → (masked label, paired label); the first with finished cells of both beside this grid is used
PROXIES = {"unasked.yaml": ("masked", "paired"),
           "factorial.yaml": ("paradigm=masked,preprocess=none,threshold=0.5,validation=paired,selection=last",
                              "paradigm=paired,preprocess=none,threshold=0.5,validation=paired,selection=last")}


def proxy_grid(grid: Grid) -> tuple[Grid, str, str] | None:
    """The cpu proxy's masked and paired configurations (PROXIES) when a grid that trains them has finished cells
    of both under this grid's root, else None."""
    from aura_core import PROJECT_DIR
    from aura_core.grids import load_grid
    for name, (masked, paired) in PROXIES.items():
        path = PROJECT_DIR / "params" / "grids" / name
        if not path.is_file() or not (grid.root / path.stem).is_dir():
            continue
        proxy = load_grid(path, grid.root)
        groups = cells_by_config(proxy)
        if groups.get(masked) and groups.get(paired):
            return proxy, masked, paired
    return None
