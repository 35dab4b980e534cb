"""Error anatomy and the domain-shortcut probe, on predictions and a stand-in model with known answers."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO

from aura_core.base import run_folder
from aura_core.base.io import update_json
from aura_core.measures.anatomy import anatomy_table, confident_errors, shortcut_probe, tier_anatomy
from aura_core.running import pipeline
from aura_core.scoring.scorers import ModelScorer
from aura_core.training.model import load_tokenizer


def test_tier_anatomy_on_a_constructed_prediction_set():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([.9, .8, .3, .2, .7, .1, .1, .1, .1, .1])  # TP 2, FN 2, FP 1, TN 5 at 0.5
    a = tier_anatomy(y, p, 0.5)
    assert a["confusion"] == {"tn": 5, "fp": 1, "fn": 2, "tp": 2}
    assert (a["true_pos_rate"], a["pred_pos_rate"]) == (0.4, 0.3)
    assert a["pred_over_true_pos_rate"] == pytest.approx(0.75)
    assert a["toxic_precision"] == pytest.approx(2 / 3) and a["toxic_recall"] == pytest.approx(0.5)
    assert a["toxic_f1"] == pytest.approx(4 / 7)
    assert a["macro_f1"] == pytest.approx((4 / 7 + 10 / 13) / 2)      # non-toxic F1 = 2·5/(2·5+1+2)
    assert a["roc_auc"] == pytest.approx(22 / 24)       # 22 of the 24 (toxic, non-toxic) pairs ranked right
    assert a["pr_auc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 5) / 4)  # precision at each toxic row, by rank


def test_threshold_problem_vs_ranking_problem_are_told_apart():
    y = np.array([0] * 8 + [1] * 4)
    ranked_well_cut_badly = np.r_[np.linspace(0.01, 0.1, 8), np.linspace(0.2, 0.3, 4)]
    a = tier_anatomy(y, ranked_well_cut_badly, 0.5)
    assert a["roc_auc"] == 1.0 and a["pr_auc"] == 1.0 and a["pred_over_true_pos_rate"] == 0.0 and a["toxic_f1"] == 0
    b = tier_anatomy(y, np.full(12, 0.3), 0.5)
    assert b["roc_auc"] == 0.5


def test_confident_errors_pick_the_most_confident_mistakes():
    frame = pd.DataFrame({"text": list("abcdef"), "label": [1, 1, 1, 0, 0, 0], "target_group": list("xyzxyz")})
    errs = confident_errors(frame, np.array([0.05, 0.4, 0.9, 0.95, 0.6, 0.1]), 0.5, k=1)
    assert [(e["error"], e["text"], e["target_group"]) for e in errs] == [("false negative", "a", "x"),
                                                                         ("false positive", "d", "x")]


def test_shortcut_probe_on_known_scores():
    emo = np.array([0, 1, 3, 6, 2])                         # anger, disgust, joy, neutral, fear
    p = np.array([0.1, 0.3, 0.2, 0.0, 0.9])
    out = shortcut_probe(p, emo, np.array([0.8, 0.2, 0.6]), np.array([1, 0, 1]))
    assert out["shortcut_gap"] == pytest.approx((0.1 + 0.3) / 2 - (0.2 + 0.0) / 2)
    assert out["goemotions_mean_p_toxic"]["fear"] == 0.9
    assert out["olid_mean_p_toxic"] == {"OFF": pytest.approx(0.7), "NOT": pytest.approx(0.2)}
    assert shortcut_probe(None, None, None, None)["shortcut_gap"] is None


class StandIn(torch.nn.Module):
    """P(toxic) = sigmoid(3) when the text contains the word 'gross' or 'idiot', else sigmoid(-3)."""

    tasks = ["toxicity", "emotion"]

    def __init__(self, tok):
        super().__init__()
        self.flag = torch.tensor([tok.convert_tokens_to_ids(w) for w in ("gross", "idiot")])

    def forward(self, input_ids, attention_mask):
        hit = torch.isin(input_ids, self.flag).any(1).float()
        tox = torch.stack([torch.zeros_like(hit), 6 * hit - 3], 1)
        return {"toxicity": tox, "emotion": torch.zeros(len(input_ids), 7)}


@pytest.mark.slow
def test_probe_and_anatomy_through_the_stress_test_with_a_stand_in_model(fixture_data, tiny_encoder, tmp_path):
    prof = tmp_path / "p.yaml"
    prof.write_text(yaml.safe_dump({"data_dir": str(fixture_data), "encoder": tiny_encoder, "allow_hub": False,
                                    "claims": str(REPO / "params" / "claims.yaml")}))
    p = run_folder.init_run_dir(prof, tmp_path / "run")
    update_json(run_folder.RunFolder(tmp_path / "run").metrics, "tune", {"threshold": 0.5})
    tok = load_tokenizer(tiny_encoder)
    stress = pipeline.stress_test(p, tmp_path / "run", ModelScorer(StandIn(tok), tok, "cpu", p, "stand-in"))
    hi, lo = 1 / (1 + math.exp(-3)), 1 / (1 + math.exp(3))
    probe = stress.shortcut
    # fixture GoEmotions test: anger "WHY THE FUCK…" (lo), disgust "so gross" (hi), joy/neutral rows (lo)
    assert probe["goemotions_mean_p_toxic"]["disgust"] == pytest.approx(hi, rel=1e-5)
    assert probe["goemotions_mean_p_toxic"]["anger"] == pytest.approx(lo, rel=1e-5)
    assert probe["shortcut_gap"] == pytest.approx((hi + lo) / 2 - lo, rel=1e-5)
    # fixture OLID test has no flagged word: every row scores lo, nothing predicted toxic
    olid = stress.tiers["olid"].anatomy
    assert olid["pred_pos_rate"] == 0 and olid["confusion"] == {"tn": 2, "fp": 0, "fn": 1, "tp": 0}
    assert stress.summary["pred_over_true_pos_rate"]["L1"] == 0.0
    assert stress.tiers["olid"].errors[0]["error"] == "false negative"
    # the partners' L2 fixture: both toxic rows hold a flagged word, neither non-toxic row does
    assert stress.tiers["partners_jigsaw"].anatomy["confusion"] == {"tn": 2, "fp": 0, "fn": 0, "tp": 2}
    table = anatomy_table(stress)
    assert list(table["tier"]) == ["L1 OLID test", "L2 Civil Comments sample (partners' 'Jigsaw')",
                                   "L3 ToxiGen test (partners' file)", "X1 ToxiGen annotated train (mean_gt_2.75)"]
    assert (table["status"] == "ok").all()
