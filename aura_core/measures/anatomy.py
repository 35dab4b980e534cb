"""How a configuration fails, not only its score.

A macro-F1 cannot tell a threshold problem (ranking fine, cut-off wrong: ROC-AUC/PR-AUC high, predicted-positive rate
far from the true rate) from a ranking problem (AUCs near chance). These numbers can, per tier. The domain-shortcut probe
asks whether the toxicity head learned "not tweet-like, so not toxic": under the paired paradigm every GoEmotions row,
angry or not, is labelled non-toxic.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from aura_core.base.results import StressScores
from aura_core.data.loaders import EKMAN
from aura_core.measures.metrics import tier_metrics

ANGER_DISGUST = ("anger", "disgust")
JOY_NEUTRAL = ("joy", "neutral")


def tier_anatomy(y_true: np.ndarray, p_toxic: np.ndarray, threshold: float) -> dict:
    """Counts, rates, the confusion matrix, toxic-class P/R/F1, macro-F1 and both threshold-free AUCs."""
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_toxic, dtype=float)
    pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    prec, rec, f1, _ = precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    both = len(np.unique(y)) == 2
    true_rate, pred_rate = float(y.mean()), float(pred.mean())
    return {
        "rows": int(len(y)), "threshold": float(threshold),
        "true_pos_rate": true_rate, "pred_pos_rate": pred_rate,
        "pred_over_true_pos_rate": pred_rate / true_rate if true_rate else None,
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "toxic_precision": float(prec[1]), "toxic_recall": float(rec[1]), "toxic_f1": float(f1[1]),
        "macro_f1": float(np.mean(f1)),
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
    }


def score_tier(y_true: np.ndarray, p_toxic: np.ndarray, threshold: float) -> dict:
    """One tier's score from (labels, P(toxic), threshold): its metrics with their CI and its error anatomy. 04 and a
    post-training view both score a tier with this, so a view is a run's metrics built from stored predictions."""
    return {"metrics": tier_metrics(y_true, p_toxic, threshold), "anatomy": tier_anatomy(y_true, p_toxic, threshold)}


def confident_errors(frame: pd.DataFrame, p_toxic: np.ndarray, threshold: float, k: int = 5) -> list[dict]:
    """The k most confident false negatives (lowest score among toxic rows missed) and false positives (highest score
    among non-toxic rows flagged), with the target group where the tier has one. Text is returned raw: displays escape."""
    df = frame.assign(p_toxic=np.asarray(p_toxic, dtype=float))
    fn = df[(df["label"] == 1) & (df["p_toxic"] < threshold)].nsmallest(k, "p_toxic").assign(error="false negative")
    fp = df[(df["label"] == 0) & (df["p_toxic"] >= threshold)].nlargest(k, "p_toxic").assign(error="false positive")
    cols = ["error", "p_toxic", "label", "text"] + [c for c in ("target_group", "raw_label") if c in df]
    return pd.concat([fn, fp])[cols].to_dict("records")


def shortcut_probe(goemotions_p_toxic: np.ndarray | None, goemotions_emotion: np.ndarray | None,
                   olid_p_toxic: np.ndarray | None, olid_label: np.ndarray | None) -> dict:
    """The toxicity head's mean score per Ekman class on held-out GoEmotions rows and on OLID OFF vs NOT.

    shortcut_gap = mean P(toxic) on GoEmotions anger+disgust − mean on joy+neutral. A model that reads the *content*
    scores angry comments higher (gap clearly > 0); one that learned "Reddit-like, so non-toxic" scores them alike
    (gap ≈ 0) while still separating OLID OFF from NOT (olid_gap > 0).
    """
    out: dict = {}
    if goemotions_p_toxic is not None and len(goemotions_p_toxic):
        p, emo = np.asarray(goemotions_p_toxic, float), np.asarray(goemotions_emotion).astype(int)
        names = np.array(EKMAN)[emo]
        out["goemotions_mean_p_toxic"] = {e: float(p[names == e].mean()) for e in EKMAN if (names == e).any()}
        out["goemotions_rows"] = {e: int((names == e).sum()) for e in EKMAN}
        hi, lo = np.isin(names, ANGER_DISGUST), np.isin(names, JOY_NEUTRAL)
        out["shortcut_gap"] = float(p[hi].mean() - p[lo].mean()) if hi.any() and lo.any() else None
    else:
        out["shortcut_gap"] = None
        out["goemotions_note"] = "not applicable: no GoEmotions rows scored (single-task run reads no GoEmotions file)"
    if olid_p_toxic is not None and len(olid_p_toxic):
        p, y = np.asarray(olid_p_toxic, float), np.asarray(olid_label).astype(int)
        out["olid_mean_p_toxic"] = {"OFF": float(p[y == 1].mean()), "NOT": float(p[y == 0].mean())}
        out["olid_gap"] = out["olid_mean_p_toxic"]["OFF"] - out["olid_mean_p_toxic"]["NOT"]
    return out


def run_summary(scores: StressScores) -> dict:
    """The two numbers a grid compares per run: the shortcut gap and each tier's predicted/true positive rate."""
    return {"shortcut_gap": scores.shortcut.get("shortcut_gap"),
            "pred_over_true_pos_rate": {t.level: t.anatomy["pred_over_true_pos_rate"]
                                        for t in scores.tiers.values() if t.anatomy}}


def anatomy_table(scores: StressScores) -> pd.DataFrame:
    rows = []
    for t in scores.tiers.values():
        if not t.available:
            rows.append({"tier": f"{t.level} {t.name}", "status": t.reason})
            continue
        a = t.anatomy
        c = a["confusion"]
        rows.append({"tier": f"{t.level} {t.name}", "rows": a["rows"], "threshold": a["threshold"],
                     "true pos. rate": a["true_pos_rate"], "pred. pos. rate": a["pred_pos_rate"],
                     "pred/true": a["pred_over_true_pos_rate"], "TN": c["tn"], "FP": c["fp"], "FN": c["fn"],
                     "TP": c["tp"], "toxic P": a["toxic_precision"], "toxic R": a["toxic_recall"],
                     "toxic F1": a["toxic_f1"], "macro-F1": a["macro_f1"], "ROC-AUC": a["roc_auc"],
                     "PR-AUC": a["pr_auc"], "status": "ok"})
    return pd.DataFrame(rows)
