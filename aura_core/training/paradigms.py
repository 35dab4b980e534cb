"""The training paradigms: how OLID and GoEmotions rows become one training set and one batch stream.

Each paradigm is one entry in PARADIGMS: the rows it trains on (with or without pseudo-labels for the other task) and
whether its batches are single-task (interleaved, drawn by `task_sampling`) or mixed. The `paradigm` param accepts
every registered name; adding a paradigm touches this file only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from aura_core.data.loaders import NEUTRAL, label_set

IGNORE = -100  # label of a task a row does not carry (ignored by cross-entropy)


def emotion_sets(goemotions: pd.DataFrame):
    """Every Ekman class of each GoEmotions row (loaders.label_set); a hand-built frame without that column holds one
    class per row, its `label`."""
    if "label_set" in goemotions:
        return goemotions["label_set"].values
    return [label_set([c]) for c in goemotions["label"]]


def paired_frame(olid: pd.DataFrame, goemotions: pd.DataFrame) -> pd.DataFrame:
    """Partner B's paired set: OLID rows get emotion 6 (neutral), GoEmotions rows get toxicity 0 (non-toxic).
    emotion_set: every class of the row (multilabel training's target); {neutral} for OLID rows."""
    a = pd.DataFrame({"text": olid["text"].values, "toxicity": olid["label"].values,
                      "emotion": NEUTRAL, "emotion_set": label_set([NEUTRAL]), "source": "olid", "pseudo": "emotion"})
    b = pd.DataFrame({"text": goemotions["text"].values, "toxicity": 0, "emotion": goemotions["label"].values,
                      "emotion_set": emotion_sets(goemotions), "source": "goemotions", "pseudo": "toxicity"})
    return pd.concat([a, b], ignore_index=True)


def masked_frame(olid: pd.DataFrame, goemotions: pd.DataFrame) -> pd.DataFrame:
    """No pseudo-labels: each row carries only its own dataset's label; the other task is IGNORE."""
    a = pd.DataFrame({"text": olid["text"].values, "toxicity": olid["label"].values,
                      "emotion": IGNORE, "emotion_set": IGNORE, "source": "olid", "pseudo": "none"})
    b = pd.DataFrame({"text": goemotions["text"].values, "toxicity": IGNORE, "emotion": goemotions["label"].values,
                      "emotion_set": emotion_sets(goemotions), "source": "goemotions", "pseudo": "none"})
    return pd.concat([a, b], ignore_index=True)


@dataclass(frozen=True)
class Paradigm:
    rows: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]   # (OLID rows, GoEmotions rows) → training rows
    single_task_batches: bool   # True: each batch holds one task's rows (TaskBatchSampler); False: shuffled mixed rows
    pseudo_labels: bool         # every row carries a label for both tasks, the other dataset's one a pseudo-label
    description: str


PARADIGMS: dict[str, Paradigm] = {
    "paired": Paradigm(paired_frame, False, True, "Partner B's: joint batches, every row labelled for both tasks "
                       "(OLID rows emotion neutral, GoEmotions rows non-toxic)."),
    "masked": Paradigm(masked_frame, False, False, "joint batches without pseudo-labels: each row trains only its "
                       "own task's head (the other task's loss is masked)."),
    "interleaved": Paradigm(masked_frame, True, False, "single-task batches, each task's batches interleaved by "
                            "task_sampling (MT-DNN, jiant)."),
}


def training_frame(paradigm: str, olid: pd.DataFrame, goemotions: pd.DataFrame) -> pd.DataFrame:
    return PARADIGMS[paradigm].rows(olid, goemotions)


