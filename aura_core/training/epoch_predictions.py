"""Each epoch's predictions on the dev rows and on every test set, next to the epoch table.

A post-training choice — which epoch is evaluated, which validation set picks it and tunes the threshold, which
threshold — changes no weight. With these files it is scored afterwards (post_training.py) instead of trained again.

<run>/epoch_predictions/epoch<k>/<set>.csv, one row per row of the set in the order the set is loaded (dev: every
epoch; the test sets: every epoch, or with score_epochs: selectable only the epochs a post-training choice can select):
- dev.csv: source, toxicity, emotion (the prepared dev labels), p_toxic[, emotion_pred];
- <tier>.csv and goemotions_test.csv: id, label, p_toxic[, emotion_pred].
A multilabel run (emotion_target: multilabel) stores, in place of emotion_pred, each class's sigmoid p_anger …
p_neutral (multilabel.PROB_COLUMNS: any emotion_threshold can be scored afterwards) and the true label set
(dev: emotion_set; goemotions_test: label_set).
p_toxic is written as the float64 value of the model's float32 output, so reading it back as float32 gives the exact
numbers the model produced (and the tables the exact metrics).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from aura_core.base.io import atomic_write_text
from aura_core.base.run_folder import RunFolder
from aura_core.measures.multilabel import PROB_COLUMNS

DEV = "dev"
GOEMOTIONS_TEST = "goemotions_test"  # the set the emotion F1 and the domain-shortcut probe are scored on


def folder(run_dir: str | Path, epoch: int) -> Path:
    return RunFolder(run_dir).epoch_predictions / f"epoch{epoch}"


def write(run_dir: str | Path, epoch: int, name: str, rows: pd.DataFrame, probs: dict[str, np.ndarray],
          multilabel: bool = False) -> None:
    """rows: the set's frame (dev: source/toxicity/emotion; a test set: id/label), probs: predict()'s output;
    multilabel: probs["emotion"] holds one sigmoid per class (stored whole, with the rows' true label sets)."""
    keep = ["source", "toxicity", "emotion"] if name == DEV else ["id", "label"]
    if multilabel and "emotion" in probs:
        keep += [c for c in ("emotion_set", "label_set") if c in rows]
    out = rows[keep].reset_index(drop=True).assign(p_toxic=probs["toxicity"][:, 1].astype(np.float64))
    if "emotion" in probs and multilabel:
        out[PROB_COLUMNS] = probs["emotion"].astype(np.float64)
    elif "emotion" in probs:
        out["emotion_pred"] = probs["emotion"].argmax(1)
    atomic_write_text(folder(run_dir, epoch) / f"{name}.csv", out.to_csv(index=False))


def read(run_dir: str | Path, epoch: int, name: str) -> pd.DataFrame:
    """One set's predictions of one epoch; p_toxic as the model's float32 values. Parsed once per file version: a
    grid's tables read the same views many times (callers get a copy to change freely)."""
    path = folder(run_dir, epoch) / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stored predictions of epoch {epoch} for {name!r} (runs trained before "
                                f"epoch predictions were stored, or with epoch_predictions: false, have none)")
    return _parsed(str(path), path.stat().st_mtime_ns, name != DEV).copy()


@functools.lru_cache(maxsize=256)
def _parsed(path: str, mtime_ns: int, keyed: bool) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"id": str} if keyed else None, keep_default_na=False)
    probs = {c: df[c].astype(np.float32) for c in PROB_COLUMNS if c in df}
    return df.assign(p_toxic=df["p_toxic"].astype(np.float32), **probs)


def epochs(run_dir: str | Path) -> list[int]:
    """The epochs whose predictions are stored, in order."""
    root = RunFolder(run_dir).epoch_predictions
    return sorted(int(d.name.removeprefix("epoch")) for d in root.glob("epoch*") if d.is_dir()) if root.is_dir() else []


def scored_epochs(run_dir: str | Path) -> list[int]:
    """The epochs whose predictions on some test set are stored (every epoch, or with score_epochs: selectable the
    epochs a post-training choice can select)."""
    return [e for e in epochs(run_dir) if any(f.stem != DEV for f in folder(run_dir, e).glob("*.csv"))]
