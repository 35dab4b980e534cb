"""The stages the five notebooks call. Each reads the run folder's params.yaml and writes its section of metrics.json."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as D
from . import preprocess
from .batching import paired_frame, training_frame
from .evaluate import emotion_metrics, predict, toxicity_metrics, tune_threshold
from .io import atomic_write_text, read_json, update_json
from .params import ParamError, Params, load
from .tiers import EVAL_SAMPLE_SEED, Tier, load_tiers, shown_path  # noqa: F401  (Tier, load_tiers: the notebooks' names)

# The files the stages produce, so a re-run into the same folder never shows a previous run's results.
RUN_ARTIFACTS = ["metrics.json", "steps.csv", "epochs.csv", "train.json", "index.html", "run.json", "run_state.json",
                 "checkpoints/resume.safetensors"]


def load_run_params(run_dir: str | Path) -> Params:
    """The resolved params a run was started with (written by `aura run`)."""
    return load(Path(run_dir) / "params.yaml")


def init_run_dir(profile: str | Path, run_dir: str | Path, overrides: list[str] | None = None) -> Params:
    """Resolve a profile into run_dir/params.yaml, pinning the data dir, and clear a previous run's results."""
    from .data import resolve_data_dir
    from .params import dump
    p = load(profile, overrides)
    if p.data_dir is None:
        p.data_dir = str(resolve_data_dir(p))
    resolve_data_dir(p)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_ARTIFACTS:
        (run_dir / name).unlink(missing_ok=True)
    dump(p, run_dir / "params.yaml")
    return p


def preflight(p: Params) -> None:
    """Everything a run reads, checked before any kernel starts, so bad input fails in one line naming the file and
    row (or key): the encoder, the training and dev data, and every tier's files (absent tiers are fine)."""
    from .model import check_encoder
    check_encoder(p.encoder)
    prepare(p)
    load_tiers(p)


def open_run(run_dir: str | Path, profile: str | Path | None = None) -> Params:
    """For notebooks: the run folder's params.yaml (papermill, `aura run`), or, opened by hand in JupyterLab on a new
    folder, the given profile resolved into it."""
    if (Path(run_dir) / "params.yaml").is_file():
        return load_run_params(run_dir)
    if profile is None:
        raise FileNotFoundError(f"{run_dir}/params.yaml not found and no profile given")
    return init_run_dir(profile, run_dir)


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "metrics.json"


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
    root = D.resolve_data_dir(p)
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
    summary["applied_in_this_run"] = p.paradigm == "paired" and "emotion" in p.tasks
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


def cards_table(cards: list[dict]) -> pd.DataFrame:
    rows = []
    for c in cards:
        rows.append({"dataset": c["dataset"], "rows": c["rows"],
                     "classes": ", ".join(f"{k} {v}" for k, v in c["classes"].items()),
                     "positive rate": None if c["positive_rate"] is None else round(c["positive_rate"], 3),
                     "words median / p95": f"{c['words_median']:.0f} / {c['words_p95']:.0f}",
                     "removed by a rule": "; ".join(f"{k}: {v}" for k, v in c["dropped"].items()) or "none",
                     "subsampled": c["subsampled"] or "no", "source": c["source"], "split": c["split"]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------------------------
# 03 tune / 04 stress: the trained model

def validation_rows(p: Params, dev: pd.DataFrame) -> np.ndarray:
    """The dev rows the toxicity validation uses: all paired rows, or OLID dev only (validation = separate)."""
    return np.ones(len(dev), bool) if p.validation == "paired" else (dev["source"] == "olid").to_numpy()


def choose_threshold(p: Params, y_val: np.ndarray, p_val: np.ndarray) -> dict:
    """The decision threshold: the fixed param, or tuned to maximise macro-F1 on validation rows (never a test set)."""
    if p.threshold == "tuned":
        return {"threshold": tune_threshold(y_val, p_val), "rule": f"tuned on the {p.validation} validation set"}
    return {"threshold": float(p.threshold), "rule": "fixed"}


def tune(p: Params, run_dir: str | Path, scorer, dev: pd.DataFrame) -> dict:
    """03: validation metrics of the scored model and the threshold 04 uses. A scorer with no dev predictions (a
    predictions file) can only take a fixed threshold."""
    from .scoring import DEV, selected_epoch
    if not scorer.covers(DEV):
        if p.threshold == "tuned":
            raise ParamError(f"threshold = tuned needs validation predictions, and {scorer.description} has none; "
                             f"give a number (--set threshold=0.5)")
        result = {"threshold": float(p.threshold), "rule": f"fixed ({scorer.description}: no validation rows)",
                  "validation": None, "selected_epoch": selected_epoch(run_dir)}
        update_json(metrics_path(run_dir), "tune", result)
        return result
    probs = scorer.predict(dev, DEV)
    pt = probs["toxicity"][:, 1]
    val = validation_rows(p, dev)
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
        pred["emotion_pred"] = probs["emotion"].argmax(1)
    atomic_write_text(Path(run_dir) / "predictions" / "dev.csv", pred.to_csv(index=False))
    update_json(metrics_path(run_dir), "tune", result)
    return result


def stress_test(p: Params, run_dir: str | Path, scorer) -> dict:
    """Per tier at the tuned threshold: metrics, error anatomy and the most confident errors; the GoEmotions-test
    emotion F1 (models with an emotion head); the domain-shortcut probe; ΔF1 = L1 − L3."""
    from .anatomy import confident_errors, run_summary, shortcut_probe, tier_anatomy
    from .scoring import GOEMOTIONS_TEST
    from .stats import bootstrap_ci, bootstrap_ci_multiclass
    from .tiers import text_sha1
    run_dir = Path(run_dir)
    threshold = read_json(metrics_path(run_dir))["tune"]["threshold"]
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
            entry["metrics"] = toxicity_metrics(y, pt, threshold)
            ci = bootstrap_ci(y, (pt >= threshold).astype(int), seed=EVAL_SAMPLE_SEED)
            entry["metrics"]["macro_f1_ci"] = [ci["ci_low"], ci["ci_high"]]
            entry["anatomy"] = tier_anatomy(y, pt, threshold)
            entry["errors"] = confident_errors(tier.frame, pt, threshold)
            keep = [c for c in ("id", "text_sha1", "label", "target_group", "raw_label") if c in tier.frame]
            atomic_write_text(run_dir / "predictions" / f"{tier.key}.csv",
                              tier.frame[keep].assign(p_toxic=pt).to_csv(index=False))
            if tier.key == "olid":
                olid_scores = (pt, y)
        result["tiers"][tier.key] = entry
    f1 = {e["level"]: e["metrics"]["macro_f1"] for e in result["tiers"].values() if e["available"]}
    result["delta_f1"] = f1["L1"] - f1["L3"] if "L1" in f1 and "L3" in f1 else None
    ge_scores = (None, None)
    if scorer.covers(GOEMOTIONS_TEST) and "emotion" in p.tasks:  # the single-task control reads no GoEmotions file
        root = D.resolve_data_dir(p)
        ge = D.load_goemotions(root, "test", p.emotion_multilabel, p.allow_hub)
        ge = D.stratified_sample(ge.assign(text_sha1=[text_sha1(t) for t in ge["text"]]), p.eval_max_rows,
                                 EVAL_SAMPLE_SEED)
        ge = preprocess.apply(ge, p.preprocess)
        probs = scorer.predict(ge, GOEMOTIONS_TEST)
        ge_scores = (probs["toxicity"][:, 1], ge["label"].to_numpy())
        pred = ge[["id", "text_sha1", "label"]].assign(p_toxic=ge_scores[0])
        if "emotion" in probs:
            ci = bootstrap_ci_multiclass(ge["label"].to_numpy(), probs["emotion"].argmax(1), len(D.EKMAN),
                                         seed=EVAL_SAMPLE_SEED)
            result["emotion_goemotions_test"] = {**emotion_metrics(ge["label"].to_numpy(), probs["emotion"]),
                                                 "macro_f1_ci": [ci["ci_low"], ci["ci_high"]],
                                                 "subsampled": ge.attrs.get("subsampled", "")}
            pred["emotion_pred"] = probs["emotion"].argmax(1)
        atomic_write_text(run_dir / "predictions" / f"{GOEMOTIONS_TEST}.csv", pred.to_csv(index=False))
    if "emotion_goemotions_test" not in result:
        result["emotion_goemotions_test"] = {"not_applicable": (
            f"single-task run (tasks: {p.tasks})" if tuple(p.tasks) == scorer.tasks else
            f"{scorer.description} has no emotion output")}
    result["shortcut"] = shortcut_probe(ge_scores[0], ge_scores[1], *olid_scores)
    result["summary"] = run_summary(result)
    update_json(metrics_path(run_dir), "stress", result)
    return result


def emotion_summary(stress: dict) -> str:
    emo = stress["emotion_goemotions_test"]
    if "not_applicable" in emo:
        return f"Emotion head: not applicable ({emo['not_applicable']})."
    ci = emo.get("macro_f1_ci")
    ci_text = f" [95% CI {ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return (f"Emotion head, GoEmotions test ({emo['n']} rows): 7-class macro-F1 **{emo['macro_f1']:.4f}**{ci_text}, "
            f"accuracy {emo['accuracy']:.4f}. (The official GoEmotions protocol is multi-label, sigmoid at 0.3; "
            f"this 7-way softmax score is not directly comparable to published GoEmotions numbers.)")


def tier_table(stress: dict) -> pd.DataFrame:
    rows = []
    for key, e in stress["tiers"].items():
        m = e.get("metrics", {})
        ci = m.get("macro_f1_ci")
        rows.append({"level": e["level"], "tier": e["name"], "rows": m.get("n"),
                     "macro-F1": m.get("macro_f1"), "95% CI": f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else None, "toxic F1": m.get("pos_f1"), "accuracy": m.get("accuracy"),
                     "ROC-AUC": m.get("roc_auc"), "true pos. rate": m.get("true_pos_rate"),
                     "pred. pos. rate": m.get("pred_pos_rate"),
                     "status": "ok" if e["available"] else e["reason"]})
    return pd.DataFrame(rows)


def data_prep(p: Params, run_dir: str | Path) -> Prepared:
    prep = prepare(p)
    update_json(metrics_path(run_dir), "data", {"cards": prep.cards, "pseudo_labels": prep.pseudo_labels,
                                                "paradigm": p.paradigm, "preprocess": p.preprocess,
                                                "train_rows": len(prep.train), "dev_rows": len(prep.dev)})
    return prep


def train_here(p: Params, run_dir: str | Path, resume: bool = False):
    """Prepare the data and train in this process: the single-process path, and what each DDP process runs."""
    from .train import train
    prep = prepare(p)
    return train(p, run_dir, prep.train, prep.dev, resume=resume)


def train_stage(p: Params, run_dir: str | Path, resume: bool = False):
    """Train in this process, or, when num_processes > 1, in that many DDP processes started by accelerate launch
    (`aura train <run_dir>`), whose result files are then read back."""
    from . import distributed
    from .train import TrainResult
    if p.num_processes > 1 and not distributed.launched():
        distributed.launch(run_dir, p.num_processes, resume, p.device)
        info = read_json(Path(run_dir) / "train.json")
        result = TrainResult(Path(run_dir), pd.read_csv(Path(run_dir) / "epochs.csv"), info["selected_epoch"],
                             Path(run_dir) / info["checkpoint"], info["seconds"], info["samples_per_s"], info["steps"])
    else:
        result = train_here(p, run_dir, resume)
    update_json(metrics_path(run_dir), "train", {
        **read_json(Path(run_dir) / "train.json"), "epochs": result.epochs.to_dict("records")})
    return result
