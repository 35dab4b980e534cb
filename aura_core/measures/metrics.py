"""The metrics every table reports, from labels and scores alone (no model, no torch): a tier's toxicity metrics
with their item-bootstrap CI, the emotion head's 7-class scores with theirs, and the threshold rules' search. Every
stage that scores — 04's stress test, a post-training view, validation — calls these, so a number means the same
wherever it is printed."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from aura_core.base.stats import bootstrap_ci, bootstrap_ci_multiclass
from aura_core.data.loaders import EKMAN
from aura_core.data.tiers import EVAL_SAMPLE_SEED
from aura_core.measures import multilabel  # the items' bootstrap never depends on the training seed

N_EMOTION_CLASSES = len(EKMAN)   # Ekman's six and neutral


def toxicity_metrics(y_true: np.ndarray, p_toxic: np.ndarray, threshold: float = 0.5) -> dict:
    """Macro-F1 (OLID's official metric), toxic-class F1, accuracy and ROC-AUC at a decision threshold."""
    y_true = np.asarray(y_true).astype(int)
    y_pred = (np.asarray(p_toxic) >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "n": int(len(y_true)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=[0, 1], zero_division=0)),
        "pos_f1": float(f1_score(y_true, y_pred, pos_label=1, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "roc_auc": float(roc_auc_score(y_true, p_toxic)) if both else None,
        "true_pos_rate": float(y_true.mean()) if len(y_true) else None,
        "pred_pos_rate": float(y_pred.mean()) if len(y_true) else None,
        "threshold": float(threshold),
    }


def emotion_metrics(y_true: np.ndarray, probs: np.ndarray, n_classes: int = N_EMOTION_CLASSES) -> dict:
    return emotion_scores(y_true, probs.argmax(-1), n_classes)


def emotion_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_EMOTION_CLASSES) -> dict:
    """7-class macro-F1 (absent classes count 0), accuracy and per-class F1 of predicted classes."""
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    labels = list(range(n_classes))
    return {
        "n": int(len(y_true)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class_f1": [float(x) for x in f1_score(y_true, y_pred, average=None, labels=labels, zero_division=0)],
    }


def macro_f1_by_threshold(y_true: np.ndarray, p_toxic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary macro-F1 at every distinct score used as threshold (predict toxic when p >= t), in one pass.

    Returns (thresholds ascending, macro-F1 at each)."""
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_toxic, dtype=float)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), len(ps) - 1]   # last index of each run of equal scores
    tp = np.cumsum(ys)[last].astype(float)
    fp = (last + 1) - tp
    pos, neg = y.sum(), len(y) - y.sum()
    fn, tn = pos - tp, neg - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_pos = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f1_neg = np.where(2 * tn + fn + fp > 0, 2 * tn / (2 * tn + fn + fp), 0.0)
    return ps[last][::-1], ((f1_pos + f1_neg) / 2)[::-1]


def tune_threshold(y_true: np.ndarray, p_toxic: np.ndarray) -> float:
    """The threshold maximising macro-F1; ties go to the one closest to 0.5. Call it on validation data only."""
    thresholds, f1 = macro_f1_by_threshold(y_true, p_toxic)
    best = np.flatnonzero(np.isclose(f1, f1.max()))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def tier_metrics(y_true: np.ndarray, p_toxic: np.ndarray, threshold: float) -> dict:
    """A tier's toxicity metrics at the threshold, with macro-F1's 95% percentile bootstrap CI over its items."""
    metrics = toxicity_metrics(y_true, p_toxic, threshold)
    ci = bootstrap_ci(y_true, (np.asarray(p_toxic) >= threshold).astype(int), seed=EVAL_SAMPLE_SEED)
    return {**metrics, "macro_f1_ci": [ci["ci_low"], ci["ci_high"]]}


def emotion_test_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """The emotion head's 7-class scores on a test set, with macro-F1's 95% percentile bootstrap CI over its items."""
    ci = bootstrap_ci_multiclass(y_true, y_pred, N_EMOTION_CLASSES, seed=EVAL_SAMPLE_SEED)
    return {**emotion_scores(y_true, y_pred, N_EMOTION_CLASSES), "macro_f1_ci": [ci["ci_low"], ci["ci_high"]]}


def emotion_test_section(label: np.ndarray, emotion_probs: np.ndarray, label_sets: np.ndarray | None = None,
                         threshold: float | None = None) -> dict:
    """The stress section's emotion scores on GoEmotions test: the 7-class single-label scores of the argmax against
    each row's first class; with a multilabel head (its sigmoids, the rows' label sets and emotion_threshold) also
    the GoEmotions protocol's multi-label scores under "multilabel"."""
    out = emotion_test_metrics(label, np.asarray(emotion_probs).argmax(1))
    if threshold is not None:
        out["multilabel"] = multilabel.test_metrics(label_sets, multilabel.sets_above(emotion_probs, threshold),
                                                    threshold)
    return out
