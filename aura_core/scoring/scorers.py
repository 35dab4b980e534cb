"""What 03 and 04 score: one interface over an AURA checkpoint, a Hugging Face classifier and a file of predictions.

Every model reaches the tables through the same threshold rule, metrics, CIs and anatomy, so Partner A's checkpoint,
any public toxicity classifier and this project's runs are compared by one code path (`aura evaluate`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from aura_core.base.io import read_json
from aura_core.base.params import ParamError, Params
from aura_core.base.run_folder import RunFolder
from aura_core.measures import multilabel
from aura_core.training import epoch_predictions
from aura_core.training.checkpoints import load_weights
from aura_core.training.epoch_predictions import DEV, GOEMOTIONS_TEST
from aura_core.training.evaluate import predict
from aura_core.training.losses import weighting_from_params
from aura_core.training.model import TASK_CLASSES, build_model, load_tokenizer
from aura_core.training.train import autocast_dtype, resolve_device


class Scorer:
    """Class probabilities for the rows of a named set (a tier key, 'dev' or 'goemotions_test')."""

    tasks: tuple[str, ...] = ("toxicity",)   # heads the model has; 'emotion' adds the GoEmotions emotion F1
    description: str = ""

    def covers(self, set_name: str) -> bool:
        return True

    def predict(self, rows: pd.DataFrame, set_name: str, keys_in_set: set | None = None) -> dict[str, np.ndarray]:
        """{"toxicity": (n, 2) probabilities, "emotion": (n, 7) when the model has that head}, in row order."""
        raise NotImplementedError


class ModelScorer(Scorer):
    """A torch model whose forward(input_ids, attention_mask) returns logits per task (AuraModel, HFToxicity)."""

    def __init__(self, model, tokenizer, device, p: Params, description: str):
        self.model, self.tokenizer, self.device, self.p = model, tokenizer, torch.device(device), p
        self.amp = autocast_dtype(p, self.device)
        self.tasks, self.description = tuple(model.tasks), description

    def predict(self, rows, set_name, keys_in_set=None):
        return predict(self.model, self.tokenizer, rows["text"].tolist(), self.p.eval_batch_size, self.p.max_length,
                       self.device, self.amp)


# ----------------------------------------------------------------------------------------------------------------------
# Hugging Face sequence classifiers

NEGATIVE_PREFIXES = ("non", "not", "no_", "no-", "no ", "neutral", "normal", "clean")
TOXIC_WORDS = ("toxic", "offensive", "hate", "off", "abusive")


def toxic_index(id2label: dict, num_labels: int, choice: str | None, where: str) -> int:
    """Which output of a classifier means 'toxic': the param toxic_output (a label name or an index), else the one
    label whose name says so (toxic / offensive / hate / OFF / abusive, not 'non-toxic')."""
    labels = {int(i): str(name) for i, name in id2label.items()}
    if num_labels == 1:
        return 0  # one logit: sigmoid = P(toxic)
    if choice is not None:
        if str(choice).isdigit() and int(choice) in labels:
            return int(choice)
        hits = [i for i, n in labels.items() if n.lower() == str(choice).lower()]
        if hits:
            return hits[0]
        raise ParamError(f"{where}: toxic_output {choice!r} is neither a label nor an index of {labels}")
    hits = [i for i, n in labels.items()
            if any(w in n.lower() for w in TOXIC_WORDS) and not n.lower().startswith(NEGATIVE_PREFIXES)]
    if len(hits) != 1:
        raise ParamError(f"{where}: cannot tell which output is toxic from id2label {labels}; give it with "
                         f"--set toxic_output=<label or index>")
    return hits[0]


def hf_toxicity(folder: str | Path, p: Params):
    """A Hugging Face sequence-classification model as a one-task model whose softmax is (1 − P(toxic), P(toxic))."""
    class HFToxicity(nn.Module):
        tasks = ("toxicity",)

        def __init__(self, clf, index: int):
            super().__init__()
            self.clf, self.index = clf, index

        def forward(self, input_ids, attention_mask):
            logits = self.clf(input_ids=input_ids, attention_mask=attention_mask).logits.float()
            if logits.shape[-1] == 1:
                p_toxic = torch.sigmoid(logits[:, 0])
            else:
                p_toxic = torch.softmax(logits, -1)[:, self.index]
            p_toxic = p_toxic.clamp(1e-7, 1 - 1e-7)
            return {"toxicity": torch.stack([torch.log1p(-p_toxic), torch.log(p_toxic)], -1)}

    clf = AutoModelForSequenceClassification.from_pretrained(str(folder))
    index = toxic_index(clf.config.id2label, clf.config.num_labels, p.toxic_output, f"{folder}/config.json")
    return HFToxicity(clf, index), clf.config.id2label.get(index, str(index)) if clf.config.num_labels > 1 else "sigmoid"


# ----------------------------------------------------------------------------------------------------------------------
# predictions made elsewhere

class PredictionFileScorer(Scorer):
    """A CSV with columns tier (a tier key, or goemotions_test), id or text_sha1 (see tiers.text_sha1), p_toxic."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"predictions file {self.path} not found")
        try:
            df = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            raise ParamError(f"{self.path}: not a readable CSV ({str(e).splitlines()[0]})") from None
        missing = [c for c in ("tier", "p_toxic") if c not in df]
        if missing or not {"id", "text_sha1"} & set(df):
            raise ParamError(f"{self.path}: needs columns tier, p_toxic and id or text_sha1; has {list(df.columns)}")
        df["line"] = np.arange(len(df)) + 2  # the header is line 1
        p_toxic = pd.to_numeric(df["p_toxic"], errors="coerce")
        bad = df[p_toxic.isna() | (p_toxic < 0) | (p_toxic > 1)]
        if len(bad):
            r = bad.iloc[0]
            raise ParamError(f"{self.path}:{r['line']}: p_toxic {r['p_toxic']!r} is not a probability in [0, 1]")
        df["p_toxic"] = p_toxic
        df["key"] = [self._key(r) for r in df.to_dict("records")]
        dup = df[df.duplicated(["tier", "key"])]
        if len(dup):
            r = dup.iloc[0]
            raise ParamError(f"{self.path}:{r['line']}: a second prediction for tier {r['tier']!r} row {r['key']!r}")
        self.df = df
        self.description = f"predictions file {self.path.name}"

    def _key(self, r: dict) -> str:
        if r.get("id", "") != "":
            return f"id:{r['id']}"
        if r.get("text_sha1", "") != "":
            return f"sha1:{r['text_sha1']}"
        raise ParamError(f"{self.path}:{r['line']}: neither id nor text_sha1 given")

    def check_sets(self, declared: list[str]) -> None:
        """Every tier named in the file must be a declared one: a misspelt name is an error, not a skipped tier."""
        known = set(declared) | {GOEMOTIONS_TEST}
        unknown = self.df[~self.df["tier"].isin(known)]
        if len(unknown):
            r = unknown.iloc[0]
            raise ParamError(f"{self.path}:{r['line']}: tier {r['tier']!r} is not a declared tier "
                             f"({sorted(known)}); declare it in params `tiers` or drop those rows")

    def covers(self, set_name):
        return bool((self.df["tier"] == set_name).any())

    def predict(self, rows, set_name, keys_in_set=None):
        sub = self.df[self.df["tier"] == set_name]
        row_keys = [f"id:{i}" for i in rows["id"]] if "id" in rows else []
        sha_keys = [f"sha1:{s}" for s in rows["text_sha1"]] if "text_sha1" in rows else []
        known = set(keys_in_set or []) | set(row_keys) | set(sha_keys)
        unknown = sub[~sub["key"].isin(known)]
        if len(unknown):
            r = unknown.iloc[0]
            raise ParamError(f"{self.path}:{r['line']}: {len(unknown)} prediction(s) for tier {set_name!r} match no "
                             f"row of it, first {r['key']!r}")
        by_key = dict(zip(sub["key"], sub["p_toxic"]))
        p = np.array([by_key.get(a, by_key.get(b, np.nan)) for a, b in
                      zip(row_keys or [None] * len(rows), sha_keys or [None] * len(rows))], dtype=float)
        if np.isnan(p).any():
            first = int(np.flatnonzero(np.isnan(p))[0])
            raise ParamError(f"{self.path}: tier {set_name!r}: no prediction for {int(np.isnan(p).sum())} of "
                             f"{len(rows)} rows, first id {rows['id'].iloc[first] if 'id' in rows else '?'}"
                             f"{' / text_sha1 ' + rows['text_sha1'].iloc[first] if 'text_sha1' in rows else ''}")
        return {"toxicity": np.c_[1 - p, p]}


class StoredEpochScorer(Scorer):
    """A run's selected checkpoint, read from the predictions training stored for that epoch (epoch_predictions.py)
    instead of predicted again: the same float32 probabilities, without a second pass over every tier. A set whose
    stored rows are not the rows asked for (a tier declared or re-cut after training) goes to the checkpoint."""

    def __init__(self, run_dir: Path, epoch: int, tasks: tuple[str, ...], load_checkpoint):
        self.run_dir, self.epoch, self.tasks, self._load = Path(run_dir), epoch, tuple(tasks), load_checkpoint
        self._model_scorer: ModelScorer | None = None
        self.description = f"this run's selected checkpoint (epoch {epoch}, predictions stored in training)"

    @property
    def checkpoint(self) -> ModelScorer:
        if self._model_scorer is None:
            self._model_scorer = self._load()
        return self._model_scorer

    @property
    def model(self):
        return self.checkpoint.model

    def stored(self, rows: pd.DataFrame, set_name: str) -> pd.DataFrame | None:
        """The stored predictions for exactly these rows, in their order, else None."""
        if not (epoch_predictions.folder(self.run_dir, self.epoch) / f"{set_name}.csv").is_file():
            return None
        df = epoch_predictions.read(self.run_dir, self.epoch, set_name)
        keys = ["source", "toxicity", "emotion"] if set_name == DEV else ["id"]
        if len(df) != len(rows) or any(k not in rows for k in keys):
            return None
        same = all((df[k].astype(str).to_numpy() == rows[k].astype(str).to_numpy()).all() for k in keys)
        return df if same else None

    def predict(self, rows, set_name, keys_in_set=None):
        df = self.stored(rows, set_name)
        if df is None:
            return self.checkpoint.predict(rows, set_name, keys_in_set)
        p = df["p_toxic"].to_numpy(np.float32)
        out = {"toxicity": np.c_[1 - p, p]}
        emotion = multilabel.stored_probabilities(df)   # a multilabel run: every class's sigmoid
        if emotion is not None:
            out["emotion"] = emotion
        elif "emotion_pred" in df:  # a single-label run: argmax is all 03/04 read of the emotion probabilities
            out["emotion"] = np.eye(TASK_CLASSES["emotion"], dtype=np.float32)[df["emotion_pred"].to_numpy(int)]
        return out


# ----------------------------------------------------------------------------------------------------------------------

def selected_epoch(run_dir: str | Path) -> int | None:
    """The epoch of the scored checkpoint, when it is an AURA one trained by this project."""
    run = RunFolder(run_dir)
    info = read_json(run.model) if run.model.is_file() else None
    if info is None and run.train_info.is_file():
        return read_json(run.train_info)["selected_epoch"]
    return info.get("selected_epoch") if info else None


def load_scorer(run_dir: str | Path, p: Params) -> Scorer:
    """The scorer of a run folder: its own selected checkpoint (02_train), or what model.json names (aura evaluate)."""
    run = RunFolder(run_dir)
    if run.model.is_file():
        info = read_json(run.model)
    else:
        info = {"kind": "aura_checkpoint", "path": str(run / read_json(run.train_info)["checkpoint"]),
                "description": "this run's selected checkpoint"}
    if info["kind"] not in SCORER_KINDS:
        raise ParamError(f"{run.model}: unknown kind {info['kind']!r}; expected one of {sorted(SCORER_KINDS)}")
    return SCORER_KINDS[info["kind"]](run, info, p)


def _predictions_scorer(run: RunFolder, info: dict, p: Params) -> Scorer:
    scorer = PredictionFileScorer(info["path"])
    scorer.check_sets(list(p.tiers) + [t["name"] for t in p.extra_tiers])
    return scorer


def _hf_scorer(run: RunFolder, info: dict, p: Params) -> Scorer:
    device = resolve_device(p)
    model, toxic = hf_toxicity(info["path"], p)
    return ModelScorer(model.to(device).eval(), AutoTokenizer.from_pretrained(info["path"]), device, p,
                       f"{info['description']} (toxic output: {toxic})")


def _checkpoint_scorer(run: RunFolder, info: dict, p: Params) -> Scorer:
    """An AURA checkpoint; the run's own selected epoch is read from its stored predictions when it has them."""
    device = resolve_device(p)
    if not Path(info["path"]).is_file():
        raise FileNotFoundError(f"{info['path']}: the weights to score are not there (a run kept with "
                                f"keep_checkpoints: none keeps none); train it again")

    def checkpoint() -> ModelScorer:
        model = build_model(p, device)
        load_weights(Path(info["path"]), model, weighting_from_params(p, p.tasks))
        return ModelScorer(model.to(device).eval(), load_tokenizer(p.encoder), device, p, info["description"])

    epoch = selected_epoch(run.path)
    if run.model.is_file() or epoch not in epoch_predictions.epochs(run.path):
        return checkpoint()
    return StoredEpochScorer(run.path, epoch, p.tasks, checkpoint)


# what a run folder's model.json may name ("kind"), each one function (run, model.json, params) → Scorer
SCORER_KINDS: dict[str, Callable[[RunFolder, dict, Params], Scorer]] = {
    "aura_checkpoint": _checkpoint_scorer, "hf": _hf_scorer, "predictions": _predictions_scorer}
