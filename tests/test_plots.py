"""Every figure renders for multi-task and single-task runs (no σ columns) alike."""
import pandas as pd
import pytest

from aura_core import plots
from aura_core.compare import load_claims
from conftest import REPO


@pytest.mark.parametrize("columns", [["weight_toxicity"],
                                     ["s_toxicity", "sigma_toxicity", "weight_toxicity", "s_emotion", "sigma_emotion",
                                      "weight_emotion", "loss_emotion"]])
def test_training_figures_render_with_or_without_sigma(tmp_path, columns):
    steps = pd.DataFrame({"step": range(1, 7), "epoch": [1, 1, 1, 2, 2, 2], "total": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
                          "loss_toxicity": 0.5, **{c: 0.5 for c in columns}})
    claims = load_claims(REPO / "params" / "claims.yaml")
    plots.loss_curves(steps, tmp_path)
    plots.sigma_trajectories(steps, tmp_path, claims["partner_b_epochs"])
    epochs = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.8, 0.5], "val_tox_macro_f1": [0.6, 0.7],
                           "val_emo_macro_f1": [None, None]})
    plots.epochs_vs_partner_b(epochs, claims["partner_b_epochs"], tmp_path)
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {"loss_curves.png", "sigma_trajectories.png",
                                                                  "epochs_vs_partner_b.png"}


def test_tradeoff_plot_marks_every_configuration_with_both_scores(tmp_path):
    from aura_core import plots
    table = pd.DataFrame([
        {"config": "a", "tier": "L1", "mean": 0.72, "sd": 0.01}, {"config": "a", "tier": "emotion", "mean": 0.30, "sd": 0.02},
        {"config": "b", "tier": "L1", "mean": 0.79, "sd": 0.01}, {"config": "b", "tier": "emotion", "mean": 0.27, "sd": 0.01},
        {"config": "single", "tier": "L1", "mean": 0.80, "sd": 0.01}])  # no emotion head: left out, not plotted as 0
    fig = plots.tradeoff(table, tmp_path)
    labels = sorted(t.get_text() for t in fig.axes[0].texts)
    assert labels == ["a", "b"] and (tmp_path / "figures" / "tradeoff.png").is_file()
    assert plots.tradeoff(table[table["tier"] == "L1"], tmp_path) is None
