"""What training stores of each epoch, so a post-training choice is scored later instead of trained again: the dev
predictions every epoch, and the test sets' either every epoch (score_epochs: every) or only for the epochs a
post-training choice can still select (selectable: their weights are kept until training ends, then scored and
dropped). Training hands each finished epoch here and calls `finish` once; the policy lives in this one place.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from torch import nn

from aura_core.base.params import Params
from aura_core.training import epoch_predictions
from aura_core.training.checkpoints import WeightFiles
from aura_core.training.validation import selectable_epochs

Predict = Callable[[pd.DataFrame], dict[str, np.ndarray]]


class EpochScoring:
    def __init__(self, p: Params, run_dir: Path, score_sets: dict[str, pd.DataFrame], weights: WeightFiles):
        self.p, self.run_dir, self.score_sets, self.weights = p, run_dir, score_sets, weights
        self.active = p.epoch_predictions
        self.multilabel = p.emotion_target == "multilabel"
        self.selectable = self.active and p.score_epochs == "selectable" and bool(score_sets)

    def after_epoch(self, epoch: int, dev_df: pd.DataFrame, dev_probs: dict[str, np.ndarray], predict: Predict,
                    model: nn.Module, weighting: nn.Module) -> None:
        """Main process, after validation: store the epoch's dev predictions, then score the test sets now (every)
        or keep the weights that may be needed (selectable)."""
        if not self.active:
            return
        epoch_predictions.write(self.run_dir, epoch, epoch_predictions.DEV, dev_df, dev_probs, self.multilabel)
        if self.p.score_epochs == "every":
            for name, rows in self.score_sets.items():
                epoch_predictions.write(self.run_dir, epoch, name, rows, predict(rows), self.multilabel)
        elif self.selectable:
            # an epoch that is now the best under no (validation, threshold) never becomes it later
            self.weights.save(epoch, model, weighting)
            self.weights.keep_epochs(selectable_epochs(self.run_dir, self.p))

    def finish(self, predict: Predict, model: nn.Module, weighting: nn.Module) -> None:
        """selectable: the test sets scored with the kept weights of each epoch a post-training choice can select
        (what `every` would have stored for them, bit for bit), those weights dropped, and the last epoch's put back
        in the model."""
        if not self.selectable:
            return
        for epoch in selectable_epochs(self.run_dir, self.p):
            folder = epoch_predictions.folder(self.run_dir, epoch)
            if all((folder / f"{name}.csv").is_file() for name in self.score_sets):
                continue  # scored before an interruption
            self.weights.load(epoch, model, weighting)
            for name, rows in self.score_sets.items():
                epoch_predictions.write(self.run_dir, epoch, name, rows, predict(rows), self.multilabel)
        self.weights.load("last", model, weighting)
        self.weights.keep_epochs()
