"""Figures for the notebooks; each returns the figure and saves a PNG into the run's figures/ folder."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from aura_core.base.results import StressScores
from aura_core.base.run_folder import RunFolder
from aura_core.measures.metrics import macro_f1_by_threshold, toxicity_metrics

TASK_COLORS = {"toxicity": "tab:red", "emotion": "tab:blue"}


def save(fig, run_dir: str | Path, name: str) -> Path:
    path = RunFolder(run_dir).figure(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _smooth(s: pd.Series, n: int) -> pd.Series:
    return s.rolling(max(1, n), min_periods=1).mean()


def loss_curves(steps: pd.DataFrame, run_dir) -> plt.Figure:
    """Total loss and each task's loss per optimizer step (light: raw, dark: rolling mean)."""
    win = max(1, len(steps) // 50)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    axes[0].plot(steps["step"], steps["total"], color="0.75", lw=0.8)
    axes[0].plot(steps["step"], _smooth(steps["total"], win), color="black", label="total (weighted)")
    axes[0].set(title="Total loss", xlabel="optimizer step", ylabel="loss")
    for t, c in TASK_COLORS.items():
        if f"loss_{t}" in steps:
            axes[1].plot(steps["step"], steps[f"loss_{t}"], color=c, alpha=0.25, lw=0.8)
            axes[1].plot(steps["step"], _smooth(steps[f"loss_{t}"], win), color=c, label=f"L_{t} (cross-entropy)")
    axes[1].set(title="Task losses", xlabel="optimizer step")
    for ax in axes:
        ax.legend()
        _epoch_lines(ax, steps)
    save(fig, run_dir, "loss_curves")
    return fig


def _epoch_lines(ax, steps: pd.DataFrame) -> None:
    for s in steps.groupby("epoch")["step"].max().iloc[:-1]:
        ax.axvline(s, color="0.85", ls=":", lw=1)


def sigma_trajectories(steps: pd.DataFrame, run_dir, partner_b_epochs: list[dict] | None = None,
                       learned_weight: str = "half_inverse_variance") -> plt.Figure:
    """σ_i per step, and both candidate "learned weights" (1/(2σ_i²) solid, 1/σ_i² dotted); Partner B's end-of-epoch
    weights as markers on the convention `learned_weight` names."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    shown = {"half_inverse_variance": ("1/(2σ²)", lambda s: 0.5 * np.exp(-s), "-"),
             "inverse_variance": ("1/σ²", lambda s: np.exp(-s), ":")}
    for t, c in TASK_COLORS.items():
        if f"sigma_{t}" in steps:
            axes[0].plot(steps["step"], steps[f"sigma_{t}"], color=c, label=f"σ_{t}")
        if f"s_{t}" in steps:
            for key, (label, to_w, style) in shown.items():
                axes[1].plot(steps["step"], to_w(steps[f"s_{t}"]), color=c, linestyle=style,
                             label=f"this run: {label} {t}" + (" (compared)" if key == learned_weight else ""))
        if partner_b_epochs and f"weight_{t}" in partner_b_epochs[0] and f"s_{t}" in steps:
            n_ep = max(len(partner_b_epochs), 1)
            span = steps["step"].max()
            xs = [span * e["epoch"] / n_ep for e in partner_b_epochs]
            axes[1].scatter(xs, [e[f"weight_{t}"] for e in partner_b_epochs], color=c, marker="D",
                            edgecolor="black", zorder=3, label=f"Partner B reported, {t} (epoch ends, rescaled)")
    # fixed lower bounds and generous upper bounds, so runs of different paradigms read on the same axes
    axes[0].set(title="σ_i = exp(s_i / 2)", xlabel="optimizer step",
                ylim=(0, max([1.5] + [steps[c].max() * 1.05 for c in steps if c.startswith("sigma_")])))
    axes[1].set(title=f"Learned weight: 1/(2σ_i²) solid, 1/σ_i² dotted; compared: {shown[learned_weight][0]}",
                xlabel="optimizer step", ylim=(0, 2.2))
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # equal or fixed weighting: nothing is learned
            ax.text(0.5, 0.5, "no learned loss weights in this run", ha="center", transform=ax.transAxes)
        _epoch_lines(ax, steps)
    save(fig, run_dir, "sigma_trajectories")
    return fig


def epochs_vs_partner_b(epochs: pd.DataFrame, partner_b_epochs: list[dict], run_dir) -> plt.Figure:
    pb = pd.DataFrame(partner_b_epochs)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for ax, ours, theirs, title in ((axes[0], "train_loss", "train_loss", "Train loss (epoch mean)"),
                                    (axes[1], "val_tox_macro_f1", "val_tox_f1", "Val toxicity F1"),
                                    (axes[2], "val_emo_macro_f1", "val_emo_f1", "Val emotion F1")):
        ax.plot(epochs["epoch"], epochs[ours], "o-", color="black", label="this run")
        ax.plot(pb["epoch"], pb[theirs], "s--", color="tab:orange", label="Partner B")
        ax.set(title=title, xlabel="epoch")
        ax.legend()
    save(fig, run_dir, "epochs_vs_partner_b")
    return fig


def tier_bars(table: pd.DataFrame, run_dir) -> plt.Figure:
    rows = table[table["level"].str.match(r"^(L\d|X\d)$")]
    long = rows.melt(id_vars=["level", "dataset"], value_vars=["Partner A (claimed)", "Partner B (reproduced)",
                                                               "this run"], var_name="source", value_name="macro-F1")
    long = long.dropna(subset=["macro-F1"])
    # "L2 Jigsaw (scored here: Civil Comments sample …)" is longer than a bar group: wrapped, the labels do not overlap
    long["tier"] = [textwrap.fill(f"{lvl} {name}", 28) for lvl, name in zip(long["level"], long["dataset"])]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    sns.barplot(long, x="tier", y="macro-F1", hue="source", ax=ax)
    ax.set(ylim=(0, 1), title="Toxicity macro-F1 per tier", xlabel="")
    save(fig, run_dir, "tiers")
    return fig


def class_balance(cards: list[dict], run_dir) -> plt.Figure:
    fig, axes = plt.subplots(1, len(cards), figsize=(4 * len(cards), 3.2))
    for ax, c in zip(axes, cards):
        ax.bar(list(c["classes"]), list(c["classes"].values()), color="tab:gray")
        ax.set_title(f"{c['dataset']} ({c['rows']} rows)", fontsize=10)
        ax.tick_params(axis="x", rotation=45)
    save(fig, run_dir, "class_balance")
    return fig


def threshold_diagnostics(y: np.ndarray, p: np.ndarray, chosen: float, run_dir, title: str = "") -> plt.Figure:
    """Validation macro-F1 against the threshold, the PR curve, and a reliability diagram (10 equal-width bins)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    t, f1 = macro_f1_by_threshold(y, p)
    axes[0].plot(t, f1, color="black")
    for x, style, lab in ((0.5, ":", "0.5"), (chosen, "--", f"chosen {chosen:.3f}")):
        axes[0].axvline(x, ls=style, color="tab:red" if style == "--" else "0.5",
                        label=f"{lab}: F1 {toxicity_metrics(y, p, x)['macro_f1']:.3f}")
    axes[0].set(title=f"Macro-F1 vs threshold {title}".strip(), xlabel="threshold on P(toxic)", ylabel="macro-F1",
                xlim=(0, 1))
    axes[0].legend()
    prec, rec, _ = precision_recall_curve(y, p)
    axes[1].plot(rec, prec, color="tab:blue")
    axes[1].axhline(np.mean(y), color="0.6", ls=":", label=f"base rate {np.mean(y):.2f}")
    axes[1].set(title=f"PR curve (AP {average_precision_score(y, p):.3f})", xlabel="recall", ylabel="precision",
                xlim=(0, 1), ylim=(0, 1.02))
    axes[1].legend()
    frac, mean_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    axes[2].plot([0, 1], [0, 1], color="0.6", ls=":")
    axes[2].plot(mean_pred, frac, "o-", color="tab:green")
    axes[2].set(title="Reliability diagram", xlabel="mean P(toxic) in bin", ylabel="fraction toxic", xlim=(0, 1),
                ylim=(0, 1))
    save(fig, run_dir, "threshold_diagnostics")
    return fig


def _per_tier(scores: StressScores, width: float, height: float) -> tuple[plt.Figure, list]:
    """One panel per scored tier, side by side: the figure and its (axis, TierScore) pairs."""
    tiers = scores.available()
    fig, axes = plt.subplots(1, len(tiers), figsize=(width * len(tiers), height), squeeze=False)
    return fig, list(zip(axes[0], tiers))


def score_histograms(scores: StressScores, run_dir) -> plt.Figure:
    """P(toxic) by true label per available tier, with the threshold used."""
    fig, panels = _per_tier(scores, 4.2, 3.4)
    for ax, t in panels:
        pred = pd.read_csv(RunFolder(run_dir).prediction(t.key))
        for label, color, name in ((0, "tab:blue", "non-toxic"), (1, "tab:red", "toxic")):
            ax.hist(pred.loc[pred["label"] == label, "p_toxic"], bins=20, range=(0, 1), alpha=0.55, color=color,
                    density=True, label=f"true {name}")
        ax.axvline(scores.threshold, color="black", ls="--", label=f"threshold {scores.threshold:.2f}")
        ax.set(title=f"{t.level} {t.name}", xlabel="P(toxic)")
        ax.legend(fontsize=8)
    save(fig, run_dir, "score_histograms")
    return fig


def confusion_matrices(scores: StressScores, run_dir) -> plt.Figure:
    fig, panels = _per_tier(scores, 3.2, 3)
    for ax, t in panels:
        c = t.anatomy["confusion"]
        sns.heatmap([[c["tn"], c["fp"]], [c["fn"], c["tp"]]], annot=True, fmt="d", cbar=False, cmap="Blues", ax=ax,
                    xticklabels=["pred 0", "pred 1"], yticklabels=["true 0", "true 1"])
        ax.set_title(f"{t.level} {t.name}", fontsize=10)
    save(fig, run_dir, "confusion_matrices")
    return fig


def shortcut_probe(scores: StressScores, run_dir) -> plt.Figure | None:
    """Mean P(toxic) per Ekman class on held-out GoEmotions rows, beside OLID OFF vs NOT."""
    probe = scores.shortcut
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 1]})
    ge = probe.get("goemotions_mean_p_toxic", {})
    if ge:
        colors = ["tab:red" if k in ("anger", "disgust") else "tab:green" if k in ("joy", "neutral") else "0.6"
                  for k in ge]
        axes[0].bar(list(ge), list(ge.values()), color=colors)
        axes[0].set_title(f"GoEmotions test: mean P(toxic) by emotion (gap anger+disgust − joy+neutral = "
                          f"{probe['shortcut_gap']:+.3f})", fontsize=10)
    else:
        axes[0].text(0.5, 0.5, probe.get("goemotions_note", "no GoEmotions rows"), ha="center", wrap=True)
    ol = probe.get("olid_mean_p_toxic", {})
    if ol:
        axes[1].bar(list(ol), list(ol.values()), color=["tab:red", "tab:green"])
        axes[1].set_title(f"OLID test (gap {probe['olid_gap']:+.3f})", fontsize=10)
    top = max([*ge.values(), *ol.values(), 0.1]) * 1.15
    for ax in axes:
        ax.set_ylim(0, min(1.0, top))
        ax.set_ylabel("mean P(toxic)")
    save(fig, run_dir, "shortcut_probe")
    return fig


def attribution_plot(attrib: pd.DataFrame, run_dir, gap: dict | None = None) -> plt.Figure:
    """Change in macro-F1 per factor and tier (against the baseline or the factor's `vs`), with 95% CIs, over a band
    showing how far re-seeding alone moved the same tier and, given `gap` (tier → Partner A − Partner B), a line at
    the change that would close the partners' gap."""
    a = attrib.dropna(subset=["change"]) if "change" in attrib else attrib
    tiers = [t for t in ("L1", "L2", "L3", "ΔF1") if t in set(a.get("tier", []))]
    fig, axes = plt.subplots(1, max(len(tiers), 1), figsize=(4 * max(len(tiers), 1), 0.5 * a["factor"].nunique() + 2),
                             squeeze=False, sharey=True)
    for ax, t in zip(axes[0], tiers):
        d = a[a["tier"] == t]
        ypos = range(len(d))
        seed = d.loc[d["factor"] == "seed", "change"]
        if len(seed):  # what re-seeding alone did, as a band either side of 0
            ax.axvspan(-abs(seed.iloc[0]), abs(seed.iloc[0]), color="0.9", label="± what the seed alone moved")
        ax.errorbar(d["change"], ypos, xerr=[d["change"] - d["ci_low"], d["ci_high"] - d["change"]], fmt="o",
                    color="black", capsize=3)
        ax.axvline(0, color="0.6", ls=":")
        g = dict(gap or {})
        if "L1" in g and "L3" in g:
            g["ΔF1"] = g["L1"] - g["L3"]
        if t in g:
            ax.axvline(g[t], color="tab:red", ls="--", lw=1, label="Partner A − Partner B")
        ax.set(title=t, xlabel="change in macro-F1", yticks=list(ypos), yticklabels=list(d["factor"]))
    fig.suptitle("Change when only that factor changes (95% CI over seeds and items)", fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=8, frameon=False)
    save(fig, run_dir, "attribution")
    return fig


def sigma_overlay(series: dict[str, pd.DataFrame], run_dir) -> plt.Figure:
    """Learned weight 1/(2σ²) per step for each configuration (first seed), same axes for all. Runs without learned
    σ (fixed or equal weights, single task) have no trajectory and are left out rather than drawn as flat lines."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), sharey=True)  # y follows the data: small moves stay visible
    for label, steps in series.items():
        for ax, t in zip(axes, ("toxicity", "emotion")):
            if f"s_{t}" in steps:
                ax.plot(steps["step"] / steps["step"].max(), steps[f"weight_{t}"], label=label)
    for ax, t in zip(axes, ("toxicity", "emotion")):
        ax.set(title=f"Learned weight 1/(2σ²), {t}", xlabel="fraction of training")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    save(fig, run_dir, "sigma_overlay")
    return fig


def tradeoff(table: pd.DataFrame, run_dir, x: str = "L1", y: str = "emotion") -> plt.Figure | None:
    """Toxicity (L1) against emotion macro-F1 per configuration, mean ± sd over seeds: a gain on one task bought with
    the other shows up as a point moving along the diagonal. Configurations with the same numbers (e.g. ones that
    only change the threshold share the trained model's emotion F1) are one point, named together."""
    pts = table[table["tier"].isin([x, y])].pivot(index="config", columns="tier", values=["mean", "sd"])
    if pts.empty or ("mean", x) not in pts or ("mean", y) not in pts:
        return None
    pts = pts.dropna(subset=[("mean", x), ("mean", y)])
    order = [c for c in dict.fromkeys(table["config"]) if c in pts.index]
    points: dict[tuple, list[str]] = {}
    for label in order:
        points.setdefault((round(pts.loc[label, ("mean", x)], 4), round(pts.loc[label, ("mean", y)], 4)), []).append(label)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for labels in points.values():
        r = pts.loc[labels[0]]
        ax.errorbar(r[("mean", x)], r[("mean", y)], xerr=r[("sd", x)], yerr=r[("sd", y)], fmt="o", capsize=3,
                    label=" = ".join(labels))
    ax.set(xlabel=f"{x} toxicity macro-F1", ylabel="emotion macro-F1 (GoEmotions test, 7 classes)",
           title="Task trade-off per configuration (mean ± sd over seeds)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    save(fig, run_dir, "tradeoff")
    return fig


def target_group_plot(groups: pd.DataFrame, run_dir) -> plt.Figure | None:
    """ToxiGen macro-F1 per target group with 95% CIs, one marker per configuration: which groups a change helps."""
    if groups.empty:
        return None
    order = groups.groupby("target_group")["value"].mean().sort_values().index.tolist()
    labels = list(dict.fromkeys(groups["config"]))
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.5))
    for i, label in enumerate(labels):
        d = groups[groups["config"] == label].set_index("target_group").reindex(order)
        y = np.arange(len(order)) + (i - (len(labels) - 1) / 2) * 0.25
        ax.errorbar(d["value"], y, xerr=[d["value"] - d["ci_low"], d["ci_high"] - d["value"]], fmt="o", ms=4,
                    capsize=2, label=label)
    ax.set(yticks=range(len(order)), yticklabels=order, xlabel="L3 (ToxiGen) macro-F1, mean over seeds, 95% CI")
    ax.legend(fontsize=8)
    save(fig, run_dir, "target_groups")
    return fig
