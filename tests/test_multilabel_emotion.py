"""emotion_target: multilabel (issue: the choices nobody wrote down): GoEmotions rows keep every Ekman class, the head
trains one sigmoid per class with binary cross-entropy (optional pos_weight), and it is scored both ways: the
single-label macro-F1 and the GoEmotions protocol's multi-label one, from the model or from stored predictions."""
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score
from torch.nn import functional as F

from aura_core.base.params import ParamError, Params, build
from aura_core.data import loaders as D
from aura_core.measures import multilabel as M
from aura_core.training import train as T
from aura_core.training.paradigms import IGNORE, masked_frame, paired_frame

JOY, ANGER, FEAR, SURPRISE, NEUTRAL = (D.EKMAN.index(e) for e in ("joy", "anger", "fear", "surprise", "neutral"))


def test_loader_keeps_every_ekman_class_of_a_row(fixture_data):
    ge = D.load_goemotions(fixture_data, "train", "first", allow_hub=False).set_index("id")
    assert ge.loc["id3", "label"] == JOY                              # labels 17,2: joy first …
    assert ge.loc["id3", "label_set"] == (1 << JOY) | (1 << ANGER)    # … and anger kept in the set
    assert ge.loc["id5", "label_set"] == 1 << FEAR                    # fear + nervousness: one Ekman class
    assert ge.loc["id1", "label_set"] == 1 << NEUTRAL
    assert list(M.multi_hot([ge.loc["id3", "label_set"]])[0]) == [1, 0, 0, 1, 0, 0, 0]


def test_paradigm_frames_carry_the_label_sets(fixture_data):
    ge = D.load_goemotions(fixture_data, "train", "first", allow_hub=False)
    olid = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
    paired, masked = paired_frame(olid, ge), masked_frame(olid, ge)
    assert (paired.loc[paired.source == "olid", "emotion_set"] == 1 << NEUTRAL).all()   # the pseudo-label, as a set
    assert (masked.loc[masked.source == "olid", "emotion_set"] == IGNORE).all()
    for frame in (paired, masked):
        assert list(frame.loc[frame.source == "goemotions", "emotion_set"]) == list(ge["label_set"])


def test_sets_above_threshold_and_macro_f1_match_sklearn():
    rng = np.random.default_rng(0)
    probs = rng.random((300, 7))
    pred = M.sets_above(probs, 0.3)
    assert np.array_equal(M.multi_hot(pred), (probs >= 0.3).astype(np.int8))
    truth = rng.integers(0, 128, 300)
    t, p = M.multi_hot(truth), M.multi_hot(pred)
    assert M.macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
    assert M.scores(truth, pred)["micro_f1"] == pytest.approx(f1_score(t, p, average="micro"))
    # a class nobody has nor predicts counts 0, as sklearn's zero_division=0
    t[:, 2] = p[:, 2] = 0
    assert M.macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
    # vectorised over a leading (resample) axis
    idx = rng.integers(0, 300, (5, 300))
    assert np.allclose(M.macro_f1(t[idx], p[idx]), [M.macro_f1(t[i], p[i]) for i in idx])
    with pytest.raises(ValueError, match="carry no emotion label set"):
        M.multi_hot([3, IGNORE])


def test_multilabel_loss_is_bce_on_the_decoded_multi_hot_targets():
    logits = torch.tensor([[1.0, -2.0, 0.5, 0.0, 3.0, -1.0, 0.2], [0.1] * 7, [9.0] * 7, [-0.3] * 7])
    sets = torch.tensor([(1 << 0) | (1 << 4), 1 << 6, IGNORE, 0b0101010])
    target = torch.tensor([[1, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 1, 0, 1, 0, 1, 0]], dtype=torch.float32)
    keep = torch.tensor([0, 1, 3])
    pw = torch.tensor([1.0, 2.0, 3.0, 0.5, 1.5, 4.0, 0.25])
    x, z = logits[keep], target
    by_hand = -(pw * z * F.logsigmoid(x) + (1 - z) * F.logsigmoid(-x)).mean()   # torch's pos_weight convention
    assert torch.allclose(T.emotion_multilabel_loss(logits, sets, pw), by_hand)
    plain = -(z * F.logsigmoid(x) + (1 - z) * F.logsigmoid(-x)).mean()
    routed = T.task_losses({"emotion": logits}, {"emotion": sets}, emotion_target="multilabel")["emotion"]
    assert torch.allclose(routed, plain)


def test_emotion_class_weights_both_targets():
    sets = np.array([1 << 0, (1 << 0) | (1 << 1), 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, IGNORE])
    pos = T.emotion_class_weights(sets, "inverse_frequency", "multilabel")
    assert torch.allclose(pos, torch.tensor([5 / 2, 6 / 1, 6, 6, 6, 6, 6], dtype=torch.float32))  # negatives/positive
    single = np.array([0, 0, 1, 2, 3, 4, 5, 6, IGNORE])
    w = T.emotion_class_weights(single, "inverse_frequency", "single")
    assert torch.allclose(w, torch.tensor([8 / 14] + [8 / 7] * 6, dtype=torch.float32))
    assert T.emotion_class_weights(single, "none", "single") is None
    with pytest.raises(ValueError, match="no row of emotion class 6"):
        T.emotion_class_weights(np.array([0, 1, 2, 3, 4, 5]), "inverse_frequency", "single")
    logits = torch.randn(8, 7)
    y = torch.tensor(single[:8])
    weighted = T.task_losses({"emotion": logits}, {"emotion": y}, emotion_weights=w)["emotion"]
    assert torch.allclose(weighted, F.cross_entropy(logits, y, weight=w))


def test_multilabel_needs_the_emotion_head():
    with pytest.raises(ParamError, match="'emotion_target'.*needs the emotion head"):
        build(Params, {"tasks": ["toxicity"], "emotion_target": "multilabel"}, "p.yaml")


def test_bootstrap_ci_of_multilabel_macro_f1_covers_at_its_nominal_level():
    """Items drawn from a fixed population of (truth, prediction) pairs: the 95% percentile CI over items should
    hold the population's macro-F1 about 95% of the time."""
    rng = np.random.default_rng(1)
    n_pop = 200_000
    truth = M.sets_above(rng.random((n_pop, 7)) * np.linspace(0.5, 1.2, 7), 0.7)
    noise = rng.random((n_pop, 7)) < 0.25
    pred = M.sets_above(np.abs(M.multi_hot(truth) - noise), 0.5)
    target = M.macro_f1(M.multi_hot(truth), M.multi_hot(pred))
    reps, hits = 200, 0
    for r in range(reps):
        i = rng.integers(0, n_pop, 400)
        ci = M.test_metrics(truth[i], pred[i], 0.5, seed=r, n_resamples=500)["macro_f1_ci"]
        hits += ci[0] <= target <= ci[1]
    assert 0.89 <= hits / reps <= 0.99, hits / reps


@pytest.mark.slow
def test_a_multilabel_run_trains_scores_both_ways_and_views_reproduce_it(mini_run):
    from aura_core.base.run_folder import RunFolder
    from aura_core.scoring import post_training
    from aura_core.training import epoch_predictions as E
    p, run_dir, tuned, stress = mini_run(emotion_target="multilabel", emotion_class_weights="inverse_frequency")
    emo = stress.emotion
    assert {"macro_f1", "macro_f1_ci", "multilabel"} <= set(emo)
    ml = emo["multilabel"]
    assert ml["threshold"] == 0.3 and ml["ci_level"] == 0.95 and 0 <= ml["macro_f1"] <= 1
    assert ml["macro_f1_ci"][0] <= ml["macro_f1"] <= ml["macro_f1_ci"][1]
    assert "multilabel" in tuned["goemotions_dev_emotion"]
    # stored: every class's sigmoid (rows need not sum to 1) and the true label sets
    ge = E.read(run_dir, E.epochs(run_dir)[-1], E.GOEMOTIONS_TEST)
    probs = M.stored_probabilities(ge)
    assert probs.shape[1] == 7 and not np.allclose(probs.sum(1), 1.0)
    assert "label_set" in ge and "emotion_pred" not in ge
    truth = D.load_goemotions(Path(p.data_dir), "test", "first", allow_hub=False).set_index("id")["label_set"]
    assert list(ge["label_set"]) == list(truth.loc[ge["id"]])
    dev = E.read(run_dir, 1, E.DEV)
    assert "emotion_set" in dev and M.stored_probabilities(dev) is not None
    epochs = pd.read_csv(RunFolder(run_dir).epochs)
    assert epochs["val_emo_multilabel_macro_f1"].notna().all()
    # 04's numbers come back from the stored predictions (the post-training view of the run's own choice)
    view = post_training.view(run_dir, p)["emotion_goemotions_test"]
    assert view["multilabel"]["macro_f1"] == pytest.approx(ml["macro_f1"])
    assert view["macro_f1"] == pytest.approx(emo["macro_f1"])
    # the selected checkpoint reloads into a multi-label head that gives back the stored sigmoids
    from aura_core.running import pipeline
    from aura_core.scoring import scorers
    scorer, rows = scorers.load_scorer(run_dir, p), pipeline.goemotions_test_rows(p)
    reloaded = scorer.checkpoint.predict(rows, E.GOEMOTIONS_TEST)["emotion"]
    assert reloaded.shape == (len(rows), 7)
    assert np.allclose(reloaded, scorer.predict(rows, E.GOEMOTIONS_TEST)["emotion"], atol=1e-6)
    # the threshold is scored afterwards: at 0 every class is predicted, so every row's set is all seven
    low = post_training.view(run_dir, dataclasses.replace(p, emotion_threshold=1e-9))
    assert low["emotion_goemotions_test"]["multilabel"]["mean_predicted_classes"] == pytest.approx(7.0)


@pytest.mark.slow
def test_a_single_label_run_stores_and_scores_as_before(mini_run):
    from aura_core.training import epoch_predictions as E
    p, run_dir, _, stress = mini_run()
    assert "multilabel" not in stress.emotion
    ge = E.read(run_dir, E.epochs(run_dir)[-1], E.GOEMOTIONS_TEST)
    assert "emotion_pred" in ge and M.stored_probabilities(ge) is None


def test_the_emotion_line_gives_both_scores_of_a_multilabel_run():
    from aura_core.base.results import StressScores
    from aura_core.reporting import tables
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(1, 128, 50), rng.integers(0, 128, 50)
    emo = {"n": 50, "macro_f1": 0.41, "accuracy": 0.5, "macro_f1_ci": [0.3, 0.5],
           "multilabel": M.test_metrics(truth, pred, 0.3, n_resamples=200)}
    line = tables.emotion_summary(StressScores.from_json({"threshold": 0.5, "tiers": {},
                                                          "emotion_goemotions_test": emo}))
    ml = emo["multilabel"]
    assert "single-label macro-F1 **0.4100**" in line and f"macro-F1 **{ml['macro_f1']:.4f}**" in line
    assert "sigmoid ≥ 0.3" in line and "95% CI" in line and "not directly comparable" not in line
