"""What the validation set is and what it decides: the per-epoch dev metrics (epoch selection) and the threshold.

The `validation` switch is decided here only: paired (Partner B) = every dev row with the pseudo-labels (GoEmotions
rows count as non-toxic, OLID rows as emotion neutral); separate = OLID dev for toxicity, GoEmotions dev for emotion.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from aura_core.base.file_memo import FileMemo, version
from aura_core.base.params import ParamError, Params
from aura_core.base.run_folder import RunFolder
from aura_core.measures import multilabel
from aura_core.measures.metrics import emotion_scores, toxicity_metrics, tune_threshold
from aura_core.training import epoch_predictions as E

if TYPE_CHECKING:
    import torch

VALIDATIONS = ("paired", "separate")


def validation_rows(p: Params, dev: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(toxicity rows, emotion rows) of the paired dev frame that the `validation` switch validates on."""
    if p.validation == "paired":
        every = np.ones(len(dev), bool)
        return every, every
    return (dev["source"] == "olid").to_numpy(), (dev["source"] == "goemotions").to_numpy()


def epoch_threshold(p: Params) -> float:
    """Per-epoch validation uses the fixed threshold, or 0.5 when it is tuned later (03_tune) on the final model."""
    return 0.5 if p.threshold == "tuned" else float(p.threshold)


def choose_threshold(p: Params, y_val: np.ndarray, p_val: np.ndarray) -> dict:
    """The decision threshold: the fixed param, or tuned to maximise macro-F1 on validation rows (never a test set)."""
    if p.threshold == "tuned":
        return {"threshold": tune_threshold(y_val, p_val), "rule": f"tuned on the {p.validation} validation set"}
    return {"threshold": float(p.threshold), "rule": "fixed"}


def validate(model, tokenizer, dev: pd.DataFrame, p: Params, device, amp_dtype: torch.dtype | None,
             probs: dict[str, np.ndarray] | None = None) -> dict:
    """The per-epoch dev metrics of a model (or of its dev probabilities, when given)."""
    if probs is None:
        # torch: only when a model is given (post-training views read stored predictions)
        from aura_core.training.evaluate import predict
        probs = predict(model, tokenizer, dev["text"].tolist(), p.eval_batch_size, p.max_length, device, amp_dtype)
    emo = probs.get("emotion")
    return dev_metrics(dev, probs["toxicity"][:, 1], emo.argmax(1) if emo is not None else None, p,
                       emo if p.emotion_target == "multilabel" else None)


def dev_metrics(dev: pd.DataFrame, p_toxic: np.ndarray, emotion_pred: np.ndarray | None, p: Params,
                emotion_probs: np.ndarray | None = None) -> dict:
    """Dev metrics, both ways: *_paired over every dev row with the pseudo-labels (Partner B), *_olid / *_goemotions
    on each source's own labels. val_tox_macro_f1, val_emo_macro_f1 and val_tox_roc_auc follow the switch. From
    predictions alone, so post_training.py re-validates any epoch under either validation choice. With a multilabel
    head's per-class sigmoids, val_emo_multilabel_macro_f1 (GoEmotions protocol at emotion_threshold) follows the
    switch too; it is reported, never a selection metric."""
    thr = epoch_threshold(p)
    y_tox, y_emo = dev["toxicity"].to_numpy(), dev["emotion"].to_numpy()
    olid, goemo = (dev["source"] == "olid").to_numpy(), (dev["source"] == "goemotions").to_numpy()
    out = {"val_tox_macro_f1_paired": toxicity_metrics(y_tox, p_toxic, thr)["macro_f1"],
           "val_tox_macro_f1_olid": toxicity_metrics(y_tox[olid], p_toxic[olid], thr)["macro_f1"]}
    if emotion_pred is not None:
        out["val_emo_macro_f1_paired"] = emotion_scores(y_emo, emotion_pred)["macro_f1"]
        if goemo.any():
            out["val_emo_macro_f1_goemotions"] = emotion_scores(y_emo[goemo], emotion_pred[goemo])["macro_f1"]
    tox_rows, emo_rows = validation_rows(p, dev)
    tox = toxicity_metrics(y_tox[tox_rows], p_toxic[tox_rows], thr)
    out["val_tox_macro_f1"] = tox["macro_f1"]
    out["val_emo_macro_f1"] = (emotion_scores(y_emo[emo_rows], emotion_pred[emo_rows])["macro_f1"]
                               if emotion_pred is not None and emo_rows.any() else None)
    out["val_tox_roc_auc"] = tox["roc_auc"]
    if emotion_probs is not None and "emotion_set" in dev:
        true_sets, pred_sets = dev["emotion_set"].to_numpy(), multilabel.sets_above(emotion_probs, p.emotion_threshold)
        out["val_emo_multilabel_macro_f1"] = (multilabel.scores(true_sets[emo_rows], pred_sets[emo_rows])["macro_f1"]
                                              if emo_rows.any() else None)
    return out


def check_threshold_rule(p: Params, has_validation_rows: bool, scored: str) -> None:
    """threshold: tuned searches validation predictions; what has none (a predictions file) takes a number."""
    if p.threshold == "tuned" and not has_validation_rows:
        raise ParamError(f"{scored}: threshold = tuned needs validation predictions, and it has none; give a number "
                         f"(--set threshold=0.5)")


def selected_epoch(run_dir: str | Path, q: Params) -> tuple[int, dict[int, dict]]:
    """The epoch `q` evaluates, decided from the stored dev predictions (epoch_predictions.py), and every epoch's
    validation metrics under q's validation set. best: the first epoch reaching the maximum of q.selection_metric
    (strict >), as training keeps best.safetensors."""
    epochs = E.epochs(run_dir)
    if not epochs:
        raise FileNotFoundError(f"{RunFolder(run_dir).epoch_predictions}: no stored epoch predictions")
    val = {e: stored_dev_metrics(run_dir, e, q) for e in epochs}
    if q.selection == "last":
        return epochs[-1], val
    return best_epoch({e: val[e][q.selection_metric] for e in epochs}), val


_validated = FileMemo()


def stored_dev_metrics(run_dir: str | Path, epoch: int, q: Params) -> dict:
    """dev_metrics of one epoch's stored dev predictions. Kept per file version and the settings dev_metrics reads
    (validation set, per-epoch threshold, emotion target and threshold): the views of one training re-validate the
    same epochs under two or four such settings, not under each of their eight choices."""
    def compute():
        dev = E.read(run_dir, epoch, E.DEV)
        probs = multilabel.stored_probabilities(dev)
        pred = probs.argmax(1) if probs is not None else \
            dev["emotion_pred"].to_numpy() if "emotion_pred" in dev else None
        return dev_metrics(dev, dev["p_toxic"].to_numpy(), pred, q, probs)
    settings = (q.validation, epoch_threshold(q), q.emotion_target, q.emotion_threshold)
    return _validated((version(E.folder(run_dir, epoch) / f"{E.DEV}.csv"), settings), compute)


def best_epoch(metric_by_epoch: dict[int, float]) -> int:
    """selection: best — the first epoch reaching the maximum (strict >). The one rule: training applies it after
    each epoch (which weights best.safetensors holds), a post-training view to the stored predictions."""
    best, best_value = next(iter(metric_by_epoch)), -np.inf
    for epoch, value in metric_by_epoch.items():
        if value > best_value:
            best, best_value = epoch, value
    return best


def selectable_epochs(run_dir: str | Path, p: Params) -> list[int]:
    """Every epoch a post-training choice can evaluate: the last, and the best under each validation set with the
    per-epoch threshold of each threshold choice (the trained one, tuned → 0.5, and 0.5). A view with another fixed
    threshold may select another epoch; post_training.view says so instead of scoring it."""
    last = E.epochs(run_dir)[-1]
    thresholds = {epoch_threshold(p), 0.5}
    return sorted({last} | {selected_epoch(run_dir, dataclasses.replace(p, selection="best", validation=v,
                                                                     threshold=t))[0]
                            for v in VALIDATIONS for t in thresholds})
