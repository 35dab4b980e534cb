"""The emotion head scored as GoEmotions is labelled, multi-label (emotion_target: multilabel): a row's classes are a
set (loaders.label_set: one int, bit c for class c), the head predicts every class whose sigmoid reaches the
threshold (the GoEmotions protocol: 0.3), and macro-F1 averages the seven per-class binary F1s (Demszky et al. 2020
report their Ekman-level results this way). Numbers only: no model, no torch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as sps

from aura_core.base.stats import N_RESAMPLES
from aura_core.data.loaders import EKMAN
from aura_core.data.tiers import EVAL_SAMPLE_SEED

N_CLASSES = len(EKMAN)
PROB_COLUMNS = [f"p_{name}" for name in EKMAN]   # a multilabel run's stored per-class sigmoids (epoch_predictions)


def multi_hot(sets, n_classes: int = N_CLASSES) -> np.ndarray:
    """(rows, classes) 0/1 matrix of label sets; a negative set (IGNORE: no emotion label) is an error."""
    s = np.asarray(sets, dtype=np.int64)
    if (s < 0).any():
        raise ValueError(f"multi_hot: {int((s < 0).sum())} row(s) carry no emotion label set (negative value)")
    return ((s[..., None] >> np.arange(n_classes)) & 1).astype(np.int8)


def sets_above(probs: np.ndarray, threshold: float) -> np.ndarray:
    """The predicted set of each row: every class whose probability is at least the threshold (maybe none)."""
    hot = np.asarray(probs) >= threshold
    return (hot.astype(np.int64) << np.arange(hot.shape[-1])).sum(-1)


def macro_f1(true_hot: np.ndarray, pred_hot: np.ndarray) -> np.ndarray:
    """Mean over classes of the binary F1 (a class with no true and no predicted row counts 0, as sklearn's
    zero_division=0), along the last two axes: (…, rows, classes) → (…); vectorised for the bootstrap."""
    t, p = true_hot.astype(np.int64), pred_hot.astype(np.int64)
    tp = (t * p).sum(-2)
    denom = t.sum(-2) + p.sum(-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return f1.mean(-1)


def scores(true_sets, pred_sets) -> dict:
    """Multi-label macro- and micro-F1, exact-match (subset) accuracy and per-class F1 over the rows."""
    from sklearn.metrics import f1_score
    t, p = multi_hot(true_sets), multi_hot(pred_sets)
    return {
        "n": int(len(t)),
        "macro_f1": float(macro_f1(t, p)),
        "micro_f1": float(f1_score(t, p, average="micro", zero_division=0)),
        "exact_match": float((t == p).all(1).mean()) if len(t) else None,
        "per_class_f1": [float(x) for x in f1_score(t, p, average=None, labels=range(N_CLASSES), zero_division=0)],
        "mean_predicted_classes": float(p.sum(1).mean()) if len(t) else None,
        "rows_with_no_class": int((p.sum(1) == 0).sum()),
    }


def test_metrics(true_sets, pred_sets, threshold: float, seed: int = EVAL_SAMPLE_SEED,
                 n_resamples: int = N_RESAMPLES, level: float = 0.95) -> dict:
    """`scores` on a test set, with macro-F1's percentile bootstrap CI over its items (nominal `level`)."""
    t, p = multi_hot(true_sets), multi_hot(pred_sets)
    out = {**scores(true_sets, pred_sets), "threshold": float(threshold)}
    if len(t) > 1:
        rows = np.arange(len(t))
        res = sps.bootstrap((rows,), lambda i, axis=-1: macro_f1(t[i], p[i]), vectorized=True,
                            n_resamples=n_resamples, batch=100, confidence_level=level, method="percentile",
                            random_state=np.random.default_rng(seed))
        out["macro_f1_ci"] = [float(res.confidence_interval.low), float(res.confidence_interval.high)]
        out["ci_level"], out["n_resamples"] = level, n_resamples
    return out


def stored_probabilities(df: pd.DataFrame) -> np.ndarray | None:
    """A multilabel run's per-class sigmoids from a stored predictions frame, or None (a single-label run stores only
    its argmax)."""
    if not all(c in df for c in PROB_COLUMNS):
        return None
    return df[PROB_COLUMNS].to_numpy(np.float32)
