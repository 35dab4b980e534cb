"""Every figure renders for multi-task and single-task runs (no σ columns) alike."""
import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from aura_core.evidence.compare import load_claims
from aura_core.reporting import plots


@pytest.mark.parametrize("columns", [["weight_toxicity"],
                                     ["s_toxicity", "sigma_toxicity", "weight_toxicity", "s_emotion", "sigma_emotion",
                                      "weight_emotion", "loss_emotion"]])
def test_training_figures_render_with_or_without_sigma(tmp_path, columns):
    steps = pd.DataFrame({"step": range(1, 7), "epoch": [1, 1, 1, 2, 2, 2], "total": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
                          "loss_toxicity": 0.5, **{c: 0.5 for c in columns}})
    claims = load_claims(REPO / "params" / "claims.yaml")
    learned = "s_emotion" in columns
    loss = plots.loss_curves(steps, tmp_path)
    total, tasks = loss.axes
    assert list(total.lines[0].get_ydata()) == steps["total"].tolist()        # raw total loss, then its mean
    assert [t.get_text() for t in tasks.get_legend().get_texts()] == (
        ["L_toxicity (cross-entropy)", "L_emotion (cross-entropy)"] if learned else ["L_toxicity (cross-entropy)"])
    assert [ln.get_xdata()[0] for ln in total.lines if ln.get_linestyle() == ":"] == [3]   # the epoch boundary
    sigma = plots.sigma_trajectories(steps, tmp_path, claims["partner_b_epochs"])
    if learned:      # σ_i per task, both conventions per task, and Partner B's five epoch-end weights as markers
        assert len([ln for ln in sigma.axes[0].lines if ln.get_label().startswith("σ_")]) == 2
        assert sorted(len(c.get_offsets()) for c in sigma.axes[1].collections) == [5, 5]
        assert sigma.axes[1].lines[0].get_ydata()[0] == pytest.approx(0.5 * np.exp(-0.5))   # 1/(2σ²) at s = 0.5
    else:            # nothing learned: said on the figure, no curve drawn
        curves = [ln for ln in sigma.axes[1].lines if ln.get_linestyle() != ":"]   # ":" marks the epoch ends
        assert not curves and "no learned loss weights" in sigma.axes[1].texts[0].get_text()
    epochs = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.8, 0.5], "val_tox_macro_f1": [0.6, 0.7],
                           "val_emo_macro_f1": [None, None]})
    per_epoch = plots.epochs_vs_partner_b(epochs, claims["partner_b_epochs"], tmp_path)
    ours, theirs = per_epoch.axes[1].lines[:2]
    assert list(ours.get_ydata()) == [0.6, 0.7] and len(theirs.get_ydata()) == len(claims["partner_b_epochs"])
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {"loss_curves.png", "sigma_trajectories.png",
                                                                  "epochs_vs_partner_b.png"}


def test_tradeoff_plot_marks_every_configuration_with_both_scores(tmp_path):
    from aura_core.reporting import plots
    table = pd.DataFrame([
        {"config": "a", "tier": "L1", "mean": 0.72, "sd": 0.01}, {"config": "a", "tier": "emotion", "mean": 0.30, "sd": 0.02},
        {"config": "b", "tier": "L1", "mean": 0.79, "sd": 0.01}, {"config": "b", "tier": "emotion", "mean": 0.27, "sd": 0.01},
        {"config": "single", "tier": "L1", "mean": 0.80, "sd": 0.01},  # no emotion head: left out, not plotted as 0
        {"config": "a_tuned", "tier": "L1", "mean": 0.72, "sd": 0.01},  # same numbers as a: one point, both names
        {"config": "a_tuned", "tier": "emotion", "mean": 0.30, "sd": 0.02}])
    fig = plots.tradeoff(table, tmp_path)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["a = a_tuned", "b"] and (tmp_path / "figures" / "tradeoff.png").is_file()
    assert plots.tradeoff(table[table["tier"] == "L1"], tmp_path) is None


def test_attribution_plot_draws_the_seed_band_and_the_partners_gap_per_tier(tmp_path):
    rows = [{"factor": f, "tier": t, "change": c, "ci_low": c - 0.02, "ci_high": c + 0.02}
            for f, ch in (("seed", {"L1": 0.03, "L3": -0.01}), ("paradigm", {"L1": 0.08, "L3": 0.2}))
            for t, c in ch.items()]
    fig = plots.attribution_plot(pd.DataFrame(rows), tmp_path, {"L1": 0.075, "L3": 0.115})
    l1, l3 = fig.axes[:2]
    assert [a.get_title() for a in (l1, l3)] == ["L1", "L3"]
    band = l3.patches[0]                                              # ± |seed change| around 0, on each tier's own scale
    assert band.get_x() == pytest.approx(-0.01) and band.get_x() + band.get_width() == pytest.approx(0.01)
    gap_lines = [ln.get_xdata()[0] for ln in l1.lines if ln.get_label() == "Partner A − Partner B"]
    assert gap_lines == [pytest.approx(0.075)]
    assert (tmp_path / "figures" / "attribution.png").is_file()


def test_sigma_overlay_draws_learned_weights_only(tmp_path):
    learned = pd.DataFrame({"step": [1, 2, 3], "s_toxicity": [0.0, -0.01, -0.02], "weight_toxicity": [0.5, 0.505, 0.51],
                            "s_emotion": [0.0, 0.01, 0.02], "weight_emotion": [0.5, 0.495, 0.49]})
    fixed = pd.DataFrame({"step": [1, 2, 3], "weight_toxicity": [1.0, 1.0, 1.0]})  # single task, equal weights
    fig = plots.sigma_overlay({"paired": learned, "single_task": fixed}, tmp_path)
    assert [[ln.get_label() for ln in ax.lines] for ax in fig.axes] == [["paired"], ["paired"]]
    assert fig.axes[0].get_ylim()[1] < 0.6                                # the axis follows the small moves


def test_the_per_tier_figures_draw_one_panel_per_scored_tier(tmp_path):
    from aura_core.base.results import StressScores, TierScore
    confusion = {"tn": 5, "fp": 1, "fn": 2, "tp": 3}
    tiers = [TierScore("olid", "L1", "OLID test", anatomy={"confusion": confusion}),
             TierScore("toxigen", "L3", "ToxiGen", anatomy={"confusion": {"tn": 1, "fp": 0, "fn": 0, "tp": 9}}),
             TierScore("jigsaw", "L2", "Jigsaw", available=False, reason="not available: no file")]
    scores = StressScores(0.4, {t.key: t for t in tiers})
    (tmp_path / "predictions").mkdir()
    for key in ("olid", "toxigen"):
        pd.DataFrame({"label": [0, 1, 1], "p_toxic": [0.1, 0.7, 0.3]}).to_csv(tmp_path / "predictions" / f"{key}.csv")
    cm = plots.confusion_matrices(scores, tmp_path)
    assert [a.get_title() for a in cm.axes] == ["L1 OLID test", "L3 ToxiGen"]          # the absent tier: no panel
    assert [t.get_text() for t in cm.axes[0].texts] == ["5", "1", "2", "3"]            # tn fp / fn tp, as counted
    hist = plots.score_histograms(scores, tmp_path)
    assert len(hist.axes) == 2 and hist.axes[1].lines[0].get_xdata()[0] == pytest.approx(0.4)   # the threshold used
