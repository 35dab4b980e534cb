"""Post-training choices as views of a trained run, not new runs.

Which epoch is evaluated (`selection`), which validation set picks it and tunes the threshold (`validation`) and the
threshold rule (`threshold`) change no weight. From a run's stored epoch predictions (epoch_predictions.py), `view`
scores any combination exactly as 03 and 04 would have for a run trained with it: the same validation metrics pick the
epoch (first maximum, as training keeps best.safetensors), the same rule picks the threshold, the same metrics and
bootstrap CIs score each tier.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
from pathlib import Path

import pandas as pd

from aura_core.base.file_memo import FileMemo, version
from aura_core.base.params import POST_TRAINING_KEYS, Params, build
from aura_core.base.results import StressScores, TierPredictions, delta_f1
from aura_core.base.run_folder import RunFolder
from aura_core.data.tiers import levels
from aura_core.measures import multilabel
from aura_core.measures.anatomy import run_summary, score_tier, shortcut_probe
from aura_core.measures.metrics import emotion_test_metrics, emotion_test_section
from aura_core.training import epoch_predictions as E
from aura_core.training.epoch_predictions import GOEMOTIONS_TEST
from aura_core.training.validation import choose_threshold, selected_epoch, validation_rows

KEYS = POST_TRAINING_KEYS  # the params a view may change (their role in params.py)


def with_choice(p: Params, choice: dict) -> Params:
    """p with the post-training keys of `choice` (checked like any param; another key is an error)."""
    other = set(choice) - set(KEYS)
    if other:
        raise ValueError(f"post-training choice: {sorted(other)} change training, not only its evaluation "
                         f"(allowed: {list(KEYS)})")
    checked = build(Params, {**{k: getattr(p, k) for k in KEYS}, **choice}, "post-training choice")
    return dataclasses.replace(p, **{k: getattr(checked, k) for k in KEYS})


def _memoized(score):
    """A grid's tables score the same view many times (config table, attribution, Shapley, answers, mechanism): each
    (run, params, choice) is computed once while the files it reads are unchanged; callers get a copy."""
    memo = FileMemo()

    @functools.wraps(score)
    def once(run_dir: str | Path, p: Params, choice: dict | None = None):
        run_dir = Path(run_dir).resolve()
        run = RunFolder(run_dir)
        read = [run.metrics, *sorted(run.epoch_predictions.rglob("*.csv")), *sorted(run.predictions.glob("*.csv"))]
        key = (str(run_dir), repr(sorted((choice or {}).items())), repr(p), version(*read))
        return memo(key, lambda: score(run_dir, p, choice))
    return once


_scored = FileMemo()  # per (stored set, threshold): the views of one training share most of their epochs and thresholds


def _tier_scores(run_dir: Path, epoch: int, key: str, threshold: float) -> dict:
    """score_tier of one stored tier of one epoch at one threshold."""
    def compute():
        df = E.read(run_dir, epoch, key)
        return score_tier(df["label"].to_numpy(), df["p_toxic"].to_numpy(), threshold)
    return _scored(("tier", version(E.folder(run_dir, epoch) / f"{key}.csv"), float(threshold)), compute)


def _emotion_scores(run_dir: Path, epoch: int, emotion_threshold: float) -> dict | None:
    """The emotion F1 section of one epoch's GoEmotions test predictions (None when the run stored no emotion)."""
    def compute():
        ge = E.read(run_dir, epoch, GOEMOTIONS_TEST)
        probs = multilabel.stored_probabilities(ge)
        if probs is not None:   # a multilabel run: both scores, at the view's emotion_threshold
            return emotion_test_section(ge["label"].to_numpy(), probs, ge["label_set"].to_numpy(), emotion_threshold)
        if "emotion_pred" in ge:
            return emotion_test_metrics(ge["label"].to_numpy(), ge["emotion_pred"].to_numpy())
        return None
    return _scored(("emotion", version(E.folder(run_dir, epoch) / f"{GOEMOTIONS_TEST}.csv"), emotion_threshold),
                   compute)


def _check_scored(run_dir: Path, epoch: int, q: Params) -> None:
    """A run trained with score_epochs: selectable stored the test sets' predictions of the epochs a choice can
    select (validation.selectable_epochs); a choice that selects another one (a fixed threshold other than 0.5 and the
    trained one) is an error, not a view without tiers."""
    scored = E.scored_epochs(run_dir)
    if scored and epoch not in scored:
        raise ValueError(f"{run_dir}: the choice {dict((k, getattr(q, k)) for k in KEYS)} selects epoch {epoch}, "
                         f"whose test-set predictions were not stored (score_epochs: selectable stored epochs "
                         f"{scored}); train with score_epochs: every to view it")


@_memoized
def view(run_dir: str | Path, p: Params, choice: dict | None = None) -> dict:
    """The run scored under a post-training choice: {choice, epoch, threshold, rule, tiers: {key: {level, name?,
    metrics}}, delta_f1, emotion_goemotions_test}, each number as 03/04 compute it."""
    q = with_choice(p, choice or {})
    epoch, val = selected_epoch(run_dir, q)
    dev = E.read(run_dir, epoch, E.DEV)
    tox_rows, _ = validation_rows(q, dev)
    rule = choose_threshold(q, dev["toxicity"].to_numpy()[tox_rows], dev["p_toxic"].to_numpy()[tox_rows])
    thr = rule["threshold"]
    out = {"choice": {k: getattr(q, k) for k in KEYS}, "epoch": epoch, "threshold": thr, "rule": rule["rule"],
           "validation_metrics": val[epoch], "tiers": {}}
    stored = set(p.tiers) | {t["name"] for t in p.extra_tiers}
    _check_scored(run_dir, epoch, q)
    for key, level in levels(p):
        if key not in stored or not (E.folder(run_dir, epoch) / f"{key}.csv").is_file():
            continue
        out["tiers"][key] = {"level": level, **_tier_scores(run_dir, epoch, key, thr)}
    out["delta_f1"] = delta_f1({e["level"]: e["metrics"]["macro_f1"] for e in out["tiers"].values()})
    if (E.folder(run_dir, epoch) / f"{GOEMOTIONS_TEST}.csv").is_file():
        emotion = _emotion_scores(run_dir, epoch, q.emotion_threshold)
        if emotion is not None:
            out["emotion_goemotions_test"] = emotion
    return out


def choices(space: dict[str, list]) -> list[dict]:
    """Every combination of a post-training space, e.g. {threshold: [0.5, tuned], validation: [paired, separate]}."""
    keys = list(space)
    return [dict(zip(keys, values)) for values in itertools.product(*(space[k] for k in keys))]


@_memoized
def view_metrics(run_dir: str | Path, p: Params, choice: dict) -> dict:
    """The run's metrics.json as if 03 and 04 had run under `choice`: the stress section's tiers (metrics, CI,
    anatomy), threshold, ΔF1, emotion F1, domain-shortcut probe and summary, and the train section's selected epoch —
    so every table that reads a run's metrics reads a view the same way."""
    run_dir = Path(run_dir)
    own = RunFolder(run_dir).read_metrics()
    v = view(run_dir, p, choice)
    stress = {**own["stress"], "threshold": v["threshold"], "delta_f1": v["delta_f1"], "choice": v["choice"],
              "tiers": {}}
    for key, e in own["stress"]["tiers"].items():
        entry = {k: e[k] for k in ("level", "name", "available", "reason", "provenance") if k in e}
        if key in v["tiers"]:
            entry["metrics"], entry["anatomy"] = v["tiers"][key]["metrics"], v["tiers"][key]["anatomy"]
        else:
            entry["available"] = False
            entry.setdefault("reason", "no stored epoch predictions for this tier")
        stress["tiers"][key] = entry
    if "emotion_goemotions_test" in v:
        stress["emotion_goemotions_test"] = v["emotion_goemotions_test"]
    ge, olid = (E.folder(run_dir, v["epoch"]) / f"{name}.csv" for name in (GOEMOTIONS_TEST, "olid"))
    if ge.is_file() and olid.is_file():
        g, o = E.read(run_dir, v["epoch"], GOEMOTIONS_TEST), E.read(run_dir, v["epoch"], "olid")
        stress["shortcut"] = shortcut_probe(g["p_toxic"].to_numpy(), g["label"].to_numpy(), o["p_toxic"].to_numpy(),
                                            o["label"].to_numpy())
    stress["summary"] = run_summary(StressScores.from_json(stress))
    return {**own, "stress": stress, "train": {**own.get("train", {}), "selected_epoch": v["epoch"]}}


@_memoized
def view_tier_predictions(run_dir: str | Path, p: Params, choice: dict) -> dict[str, TierPredictions]:
    """level → TierPredictions under `choice`, as diagnosis.tier_predictions reads a trained run (the
    frame keeps the run's own prediction columns, e.g. target_group, joined on the row id)."""
    run_dir = Path(run_dir)
    v = view(run_dir, p, choice)
    out = {}
    for key, e in v["tiers"].items():
        df = E.read(run_dir, v["epoch"], key)
        own = RunFolder(run_dir).prediction(key)
        if own.is_file():
            extra = pd.read_csv(own, dtype={"id": str}).drop(columns=["label", "p_toxic"], errors="ignore")
            df = df.merge(extra, on="id", how="left", validate="one_to_one")
        out[e["level"]] = TierPredictions.at_threshold(df, v["threshold"])
    return out
