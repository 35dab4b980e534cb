"""Which quantity Partner B's "learned weights" are, judged by how far s = log σ² can move.

The report gives weights tox 1.10 → 1.97 and emo 1.05 → 1.74 without defining them. Under 1/(2σ²) = ½·exp(−s) a run
starting at s = 0 begins at 0.5; under 1/σ² = exp(−s) at 1.0. Adam moves a parameter by at most about its learning
rate per optimizer step (|m̂/√v̂| ≈ 1 for a gradient of steady sign), so after k steps |s − s₀| ≲ Σ lr: a reported
weight that needs more movement than the schedule allows is not that convention's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CONVENTIONS = {
    "half_inverse_variance": ("1/(2σ²) = ½·exp(−s)", lambda s: 0.5 * np.exp(-s), lambda w: -np.log(2 * w)),
    "inverse_variance": ("1/σ² = exp(−s)", lambda s: np.exp(-s), lambda w: -np.log(w)),
}


def weight(s, convention: str):
    return CONVENTIONS[convention][1](np.asarray(s, dtype=float))


def onecycle_lrs(max_lr: float, total_steps: int, pct_start: float = 0.3) -> np.ndarray:
    """The learning rate of every optimizer step under torch's OneCycleLR (the comparison report's scheduler)."""
    import torch
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=max(total_steps, 2),
                                                pct_start=pct_start)
    lrs = np.empty(total_steps)
    for i in range(total_steps):
        lrs[i] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    return lrs


def reach_by_epoch(lrs: np.ndarray, steps_per_epoch: int | list[int]) -> list[float]:
    """Σ lr up to the end of each epoch: the most |s − s₀| can have moved by then."""
    ends = np.cumsum(steps_per_epoch if isinstance(steps_per_epoch, list) else
                     [steps_per_epoch] * int(np.ceil(len(lrs) / steps_per_epoch)))
    return [float(lrs[:min(e, len(lrs))].sum()) for e in ends]


def check(reported: list[dict], reach: list[float], s0: float = 0.0) -> pd.DataFrame:
    """Per reported epoch, task and convention: the s the weight needs, the movement that takes, the most the
    schedule allows, and whether the weight is reachable."""
    rows = []
    for r in reported:
        e = int(r["epoch"])
        if e > len(reach):
            continue
        for task in ("toxicity", "emotion"):
            if f"weight_{task}" not in r:
                continue
            for conv, (label, _, to_s) in CONVENTIONS.items():
                s = float(to_s(r[f"weight_{task}"]))
                rows.append({"epoch": e, "task": task, "reported weight": r[f"weight_{task}"], "convention": label,
                             "key": conv, "s needed": s, "|s − s0| needed": abs(s - s0),
                             "Σ lr so far (max |Δs|)": reach[e - 1], "reachable": abs(s - s0) <= reach[e - 1]})
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame, schedule: str) -> str:
    """One sentence per convention: consistent at every epoch, or the first epoch it cannot be."""
    out = []
    for conv, g in table.groupby("key", sort=False):
        label = CONVENTIONS[conv][0]
        bad = g[~g["reachable"]]
        if bad.empty:
            out.append(f"{label}: consistent with {schedule} at every reported epoch.")
        else:
            r = bad.iloc[0]
            worst = (g["|s − s0| needed"] / g["Σ lr so far (max |Δs|)"]).max()
            out.append(f"{label}: not reachable under {schedule}: the {r['task']} weight {r['reported weight']:.2f} "
                       f"at epoch {r['epoch']} needs |Δs| = {r['|s − s0| needed']:.3f}, the schedule allows at most "
                       f"{r['Σ lr so far (max |Δs|)']:.3f} (at worst {worst:.1f}× the bound).")
    return " ".join(out)


def section(steps: pd.DataFrame, p, claims: dict) -> tuple[str, pd.DataFrame]:
    """02_train's answer: which convention Partner B's weights are consistent with, under this run's own schedule
    (steps.csv) and under Partner B's stated one (OneCycleLR to lr_loss_weights over their steps)."""
    reported = claims.get("partner_b_epochs") or []
    if not reported or "lr_loss_weights" not in steps or "s_toxicity" not in steps:
        return "No learned loss weights in this run (or no reported weights to compare): nothing to decide.", pd.DataFrame()
    per_epoch = steps.groupby("epoch").size().tolist()
    own = check(reported, reach_by_epoch(steps["lr_loss_weights"].to_numpy(), per_epoch))
    cfg = claims.get("partner_b_config", {})
    n = int(claims.get("partner_b_steps_per_epoch_estimate", per_epoch[0]))
    epochs = int(cfg.get("epochs", len(per_epoch)))
    theirs = check(reported, reach_by_epoch(onecycle_lrs(p.lr_loss_weights, n * epochs, p.onecycle_pct_start), n))
    moved = steps.groupby("epoch")[["s_toxicity", "s_emotion"]].last().abs().max().max()
    allowed = reach_by_epoch(steps["lr_loss_weights"].to_numpy(), per_epoch)[-1]
    text = (f"**This run's schedule** ({sum(per_epoch)} steps, peak lr {p.lr_loss_weights:g}): "
            f"{verdict(own, 'this run')} **Partner B's stated schedule** ({epochs} epochs × {n} steps, OneCycleLR to "
            f"{p.lr_loss_weights:g}): {verdict(theirs, 'their schedule')} In this run s actually moved "
            f"{moved:.3f} against a bound of {allowed:.3f} (ratio {moved / allowed:.2f}; Adam can exceed lr per step "
            f"while gradients grow, so read a small excess as consistent). The comparison plots "
            f"`{p.learned_weight}` ({CONVENTIONS[p.learned_weight][0]}; param `learned_weight`).")
    return text, pd.concat([own.assign(schedule="this run"), theirs.assign(schedule="Partner B's stated")])
