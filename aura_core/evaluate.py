"""Inference and the metrics every table reports."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from .batching import PadCollator, TokenizedRows


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the classes; a one-logit (sigmoid) head becomes the two columns (1 − p, p)."""
    if logits.shape[-1] == 1:
        p = torch.sigmoid(logits.float())
        return torch.cat([1 - p, p], -1)
    return torch.softmax(logits.float(), -1)


@torch.inference_mode()
def predict(model, tokenizer, texts: list[str], batch_size: int = 64, max_length: int = 128,
            device: str | torch.device = "cpu", amp_dtype: torch.dtype | None = None) -> dict[str, np.ndarray]:
    """Class probabilities per task, in the order of `texts`. Rows are sorted by length so batches pad little; bf16
    autocast when amp_dtype is given (the run's `precision`)."""
    model.eval()
    ds = TokenizedRows(texts, {}, tokenizer, max_length)
    order = np.argsort([len(x) for x in ds.input_ids], kind="stable")
    collate = PadCollator(ds.pad_id)
    out: dict[str, list[np.ndarray]] = {t: [] for t in model.tasks}
    for start in range(0, len(order), batch_size):
        batch = collate([(ds.input_ids[i], {}) for i in order[start:start + batch_size]])
        dev_type = torch.device(device).type
        with torch.autocast(dev_type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        for t, v in logits.items():
            out[t].append(class_probabilities(v).cpu().numpy())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return {t: (np.concatenate(v)[inverse] if v else np.zeros((0, 2))) for t, v in out.items()}


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


def emotion_metrics(y_true: np.ndarray, probs: np.ndarray, n_classes: int = 7) -> dict:
    return emotion_scores(y_true, probs.argmax(-1), n_classes)


def emotion_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 7) -> dict:
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
