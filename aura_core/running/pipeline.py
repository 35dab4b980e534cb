"""The stages the five notebooks call, in order: prepare the rows (01), train (02), tune the threshold (03), score
every tier (04). Each reads the run folder's params.yaml and writes its section of metrics.json (run_folder.py); the
tables and text the notebooks show from those sections are in tables.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aura_core.base.io import atomic_write_text, read_json, update_json
from aura_core.base.params import Params, resolve_data_dir
from aura_core.base.results import StressScores
from aura_core.base.run_folder import RunFolder, load_prepared, save_prepared
from aura_core.data import loaders as D
from aura_core.data import preprocess
from aura_core.data.tiers import EVAL_SAMPLE_SEED, load_tiers, shown_path, text_sha1
from aura_core.measures import multilabel
from aura_core.measures.anatomy import confident_errors, run_summary, score_tier, shortcut_probe
from aura_core.measures.metrics import emotion_metrics, emotion_test_section, toxicity_metrics
from aura_core.scoring.scorers import selected_epoch
from aura_core.training import distributed
from aura_core.training.epoch_predictions import DEV, GOEMOTIONS_TEST
from aura_core.training.model import check_encoder
from aura_core.training.paradigms import PARADIGMS, paired_frame, training_frame
from aura_core.training.train import TrainResult, train
from aura_core.training.validation import check_threshold_rule, choose_threshold, validation_rows


def preflight(p: Params, run_dir: str | Path) -> None:
    """Everything a run reads, checked before any kernel starts, so bad input fails in one line naming the file and
    row (or key): the encoder, the training and dev data (prepared here, once, for the notebooks), and every tier's
    files (absent tiers are fine)."""
    check_encoder(p.encoder)
    prepared(p, run_dir)
    load_tiers(p)


# ----------------------------------------------------------------------------------------------------------------------
# 01 data prep

@dataclass
class Prepared:
    train: pd.DataFrame   # training rows for the paradigm: text, toxicity, emotion (IGNORE = absent), source, pseudo
    dev: pd.DataFrame     # paired dev rows (pseudo-labels included; `source` lets each validation mode pick its rows)
    cards: list[dict]
    pseudo_labels: dict   # what the paired paradigm adds, counted
    pseudo_examples: pd.DataFrame  # rows whose pseudo-label contradicts their real label's spirit


def prepare(p: Params) -> Prepared:
    root = resolve_data_dir(p)
    olid_tr, olid_dev = D.olid_train_dev(root, p.olid_dev_fraction, p.seed, p.allow_hub)
    olid_tr = D.stratified_sample(olid_tr, p.olid_train_rows, p.seed)
    olid_dev = D.stratified_sample(olid_dev, p.dev_rows, p.seed)
    cards = [D.card(olid_tr, "OLID train", ["NOT", "OFF"]), D.card(olid_dev, "OLID dev", ["NOT", "OFF"])]
    if "emotion" in p.tasks:
        ge_tr = D.stratified_sample(D.load_goemotions(root, "train", p.emotion_multilabel, p.allow_hub),
                                    p.goemotions_train_rows, p.seed)
        ge_dev = D.stratified_sample(D.load_goemotions(root, "dev", p.emotion_multilabel, p.allow_hub), p.dev_rows,
                                     p.seed)
        cards += [D.card(ge_tr, "GoEmotions train", D.EKMAN), D.card(ge_dev, "GoEmotions dev", D.EKMAN)]
    else:  # the single-task control reads no GoEmotions file
        ge_tr = ge_dev = pd.DataFrame({"text": pd.Series(dtype=str), "label": pd.Series(dtype=int)})
    for c in cards:  # $AURA_DATA_DIR/…: a report never carries the paths of the machine it ran on
        c["source"] = shown_path(c["source"], root) if Path(c["source"]).is_absolute() else c["source"]
    olid_tr, olid_dev, ge_tr, ge_dev = (preprocess.apply(df, p.preprocess) for df in (olid_tr, olid_dev, ge_tr, ge_dev))
    train, dev = training_frame(p.paradigm, olid_tr, ge_tr), paired_frame(olid_dev, ge_dev)
    summary, examples = pseudo_label_noise(olid_tr, ge_tr, p.seed)
    summary["applied_in_this_run"] = PARADIGMS[p.paradigm].pseudo_labels and "emotion" in p.tasks
    return Prepared(train, dev, cards, summary, examples)


ANGER_DISGUST = [D.EKMAN.index("anger"), D.EKMAN.index("disgust")]


def pseudo_label_noise(olid: pd.DataFrame, goemotions: pd.DataFrame, seed: int, n_examples: int = 5):
    """How often the paired paradigm's pseudo-labels contradict the real labels' spirit: OLID OFF tweets declared
    emotionally neutral, GoEmotions anger/disgust comments declared non-toxic; with a few examples of each."""
    off = olid[olid["label"] == 1]
    angry = goemotions[goemotions["label"].isin(ANGER_DISGUST)]
    summary = {
        "olid_rows_labelled_neutral": int(len(olid)),
        "olid_OFF_labelled_neutral": int(len(off)),
        "olid_OFF_share": float(len(off) / max(len(olid), 1)),
        "goemotions_rows_labelled_nontoxic": int(len(goemotions)),
        "goemotions_anger_or_disgust_labelled_nontoxic": int(len(angry)),
        "goemotions_anger_or_disgust_share": float(len(angry) / max(len(goemotions), 1)),
    }
    ex = pd.concat([
        off.sample(min(n_examples, len(off)), random_state=seed).assign(
            real_label="OLID: OFF (offensive)", pseudo_label="emotion: neutral"),
        angry.sample(min(n_examples, len(angry)), random_state=seed).assign(
            real_label=lambda d: [f"GoEmotions: {D.EKMAN[i]}" for i in d["label"]], pseudo_label="toxicity: 0"),
    ])[["real_label", "pseudo_label", "text"]].reset_index(drop=True)
    return summary, ex


# ----------------------------------------------------------------------------------------------------------------------
# 03 tune / 04 stress: the trained model

def tune(p: Params, run_dir: str | Path, scorer, dev: pd.DataFrame) -> dict:
    """03: validation metrics of the scored model and the threshold 04 uses. A scorer with no dev predictions (a
    predictions file) can only take a fixed threshold."""
    check_threshold_rule(p, scorer.covers(DEV), scorer.description)
    if not scorer.covers(DEV):
        result = {"threshold": float(p.threshold), "rule": f"fixed ({scorer.description}: no validation rows)",
                  "validation": None, "selected_epoch": selected_epoch(run_dir)}
        update_json(RunFolder(run_dir).metrics, "tune", result)
        return result
    probs = scorer.predict(dev, DEV)
    pt = probs["toxicity"][:, 1]
    val, _ = validation_rows(p, dev)
    y_val, p_val = dev["toxicity"].to_numpy()[val], pt[val]
    choice = choose_threshold(p, y_val, p_val)
    olid = (dev["source"] == "olid").to_numpy()
    result = {
        **choice,
        "validation": p.validation,
        "validation_at_threshold": toxicity_metrics(y_val, p_val, choice["threshold"]),
        "validation_at_0.5": toxicity_metrics(y_val, p_val, 0.5),
        "selected_epoch": selected_epoch(run_dir),
        "paired_dev_toxicity": toxicity_metrics(dev["toxicity"].to_numpy(), pt, choice["threshold"]),
        "olid_dev_toxicity": toxicity_metrics(dev["toxicity"].to_numpy()[olid], pt[olid], choice["threshold"]),
    }
    pred = dev[["source", "toxicity", "emotion"]].assign(p_toxic=pt)
    if "emotion" in probs:
        result["paired_dev_emotion"] = emotion_metrics(dev["emotion"].to_numpy(), probs["emotion"])
        result["goemotions_dev_emotion"] = emotion_metrics(dev["emotion"].to_numpy()[~olid], probs["emotion"][~olid])
        if p.emotion_target == "multilabel":
            sets = multilabel.sets_above(probs["emotion"], p.emotion_threshold)
            result["goemotions_dev_emotion"]["multilabel"] = multilabel.scores(
                dev["emotion_set"].to_numpy()[~olid], sets[~olid])
            pred["emotion_set"] = dev["emotion_set"].to_numpy()
            pred[multilabel.PROB_COLUMNS] = probs["emotion"]
        else:
            pred["emotion_pred"] = probs["emotion"].argmax(1)
    atomic_write_text(RunFolder(run_dir).prediction(DEV), pred.to_csv(index=False))
    update_json(RunFolder(run_dir).metrics, "tune", result)
    return result


def stress_test(p: Params, run_dir: str | Path, scorer) -> StressScores:
    """Per tier at the tuned threshold: metrics, error anatomy and the most confident errors; the GoEmotions-test
    emotion F1 (models with an emotion head); the domain-shortcut probe; ΔF1 = L1 − L3."""
    run = RunFolder(run_dir)
    threshold = run.read_metrics()["tune"]["threshold"]
    result = {"threshold": threshold, "scored": scorer.description, "tiers": {}}
    olid_scores = (None, None)
    for tier in load_tiers(p):
        if tier.frame is not None and not scorer.covers(tier.key):
            tier.frame, tier.reason = None, f"not scored: {scorer.description} has no rows of this tier"
        entry = {"level": tier.level, "name": tier.name, "available": tier.frame is not None,
                 "reason": tier.reason, "provenance": tier.provenance}
        if tier.frame is not None:
            y = tier.frame["label"].to_numpy()
            pt = scorer.predict(tier.frame, tier.key, tier.keys_in_file)["toxicity"][:, 1]
            entry.update(score_tier(y, pt, threshold))
            entry["errors"] = confident_errors(tier.frame, pt, threshold)
            keep = [c for c in ("id", "text_sha1", "label", "target_group", "raw_label") if c in tier.frame]
            atomic_write_text(run.prediction(tier.key),
                              tier.frame[keep].assign(p_toxic=pt).to_csv(index=False))
            if tier.key == "olid":
                olid_scores = (pt, y)
        result["tiers"][tier.key] = entry
    result["delta_f1"] = StressScores.from_json(result).delta_f1
    ge_scores = (None, None)
    if scorer.covers(GOEMOTIONS_TEST) and "emotion" in p.tasks:  # the single-task control reads no GoEmotions file
        ge = goemotions_test_rows(p)
        probs = scorer.predict(ge, GOEMOTIONS_TEST)
        ge_scores = (probs["toxicity"][:, 1], ge["label"].to_numpy())
        pred = ge[["id", "text_sha1", "label"]].assign(p_toxic=ge_scores[0])
        if "emotion" in probs:
            ml = p.emotion_target == "multilabel"
            result["emotion_goemotions_test"] = {
                **emotion_test_section(ge["label"].to_numpy(), probs["emotion"],
                                       ge["label_set"].to_numpy() if ml else None, p.emotion_threshold if ml else None),
                "subsampled": ge.attrs.get("subsampled", "")}
            if ml:
                pred["label_set"] = ge["label_set"].to_numpy()
                pred[multilabel.PROB_COLUMNS] = probs["emotion"]
            else:
                pred["emotion_pred"] = probs["emotion"].argmax(1)
        atomic_write_text(run.prediction(GOEMOTIONS_TEST), pred.to_csv(index=False))
    if "emotion_goemotions_test" not in result:
        result["emotion_goemotions_test"] = {"not_applicable": (
            f"single-task run (tasks: {p.tasks})" if tuple(p.tasks) == scorer.tasks else
            f"{scorer.description} has no emotion output")}
    result["shortcut"] = shortcut_probe(ge_scores[0], ge_scores[1], *olid_scores)
    result["summary"] = run_summary(StressScores.from_json(result))
    update_json(run.metrics, "stress", result)
    return StressScores.from_json(result)


def goemotions_test_rows(p: Params) -> pd.DataFrame:
    """The GoEmotions test rows 04 scores (emotion F1, domain-shortcut probe): capped and preprocessed like a tier."""
    ge = D.load_goemotions(resolve_data_dir(p), "test", p.emotion_multilabel, p.allow_hub)
    ge = D.stratified_sample(ge.assign(text_sha1=[text_sha1(t) for t in ge["text"]]), p.eval_max_rows,
                             EVAL_SAMPLE_SEED)
    return preprocess.apply(ge, p.preprocess)


def epoch_score_sets(p: Params) -> dict[str, pd.DataFrame]:
    """What every epoch is scored on besides dev (epoch_predictions.py): each available tier and, with an emotion
    head, the GoEmotions test rows."""
    if not p.epoch_predictions:
        return {}
    sets = {t.key: t.frame for t in load_tiers(p) if t.frame is not None}
    if "emotion" in p.tasks:
        sets[GOEMOTIONS_TEST] = goemotions_test_rows(p)
    return sets


def prepared(p: Params, run_dir: str | Path) -> Prepared:
    """The run's prepared rows: read from the run folder when prepared there from these params, else prepared and
    written there (once per `aura run`: the preflight prepares, 01 to 03 read)."""
    cached = load_prepared(run_dir, p)
    if cached is not None:
        frames, info = cached
        return Prepared(frames["train"], frames["dev"], info["cards"], info["pseudo_labels"], frames["pseudo_examples"])
    prep = prepare(p)
    save_prepared(run_dir, p, {"train": prep.train, "dev": prep.dev, "pseudo_examples": prep.pseudo_examples},
                  {"cards": prep.cards, "pseudo_labels": prep.pseudo_labels})
    return prep


def data_prep(p: Params, run_dir: str | Path) -> Prepared:
    """01: the prepared rows and their data cards, recorded in metrics.json."""
    prep = prepared(p, run_dir)
    update_json(RunFolder(run_dir).metrics, "data", {"cards": prep.cards, "pseudo_labels": prep.pseudo_labels,
                                                "paradigm": p.paradigm, "preprocess": p.preprocess,
                                                "train_rows": len(prep.train), "dev_rows": len(prep.dev)})
    return prep


def train_here(p: Params, run_dir: str | Path, resume: bool = False) -> TrainResult:
    """Train in this process on the run's prepared rows: the single-process path, and what each DDP process runs."""
    prep = prepared(p, run_dir)
    return train(p, run_dir, prep.train, prep.dev, resume=resume, score_sets=epoch_score_sets(p))


def train_stage(p: Params, run_dir: str | Path, resume: bool = False) -> TrainResult:
    """02: train in this process, or, when num_processes > 1, in that many DDP processes started by accelerate launch
    (`aura train <run_dir>`), whose result files are then read back."""
    if p.num_processes > 1 and not distributed.launched():
        distributed.launch(run_dir, p.num_processes, resume, p.device)
        run = RunFolder(run_dir)
        info = read_json(run.train_info)
        result = TrainResult(run.path, pd.read_csv(run.epochs), info["selected_epoch"], run / info["checkpoint"],
                             info["seconds"], info["samples_per_s"], info["steps"])
    else:
        result = train_here(p, run_dir, resume)
    run = RunFolder(run_dir)
    update_json(run.metrics, "train", {**read_json(run.train_info), "epochs": result.epochs.to_dict("records")})
    return result
