"""The training loop, to read top to bottom: `train` at the end walks the steps of `Training`.

AdamW with three groups (encoder at lr_encoder, heads at lr_heads, loss-weighting s_i at lr_loss_weights without weight
decay), OneCycleLR over optimizer steps, gradient accumulation, fp16 autocast + GradScaler on CUDA, validation on the
dev set after every epoch, a per-step CSV log and safetensors checkpoints in the run folder.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from aura_core.base.io import atomic_write_text, write_json
from aura_core.base.params import Params
from aura_core.base.run_folder import RunFolder
from aura_core.measures.multilabel import multi_hot
from aura_core.training import checkpoints, distributed
from aura_core.training.batching import SOURCE_TASK, LengthGroupedSampler, TaskBatchSampler, TokenizedRows, make_loader
from aura_core.training.checkpoints import WeightFiles
from aura_core.training.epoch_scoring import EpochScoring
from aura_core.training.evaluate import predict
from aura_core.training.losses import LossWeighting, weighting_from_params
from aura_core.training.model import AuraModel, build_model, load_tokenizer
from aura_core.training.paradigms import IGNORE, PARADIGMS
from aura_core.training.validation import best_epoch, validate


def progress_bar(iterable, **kw):
    """tqdm widgets in JupyterLab; under `aura run` (AURA_PROGRESS=plain) a plain bar refreshed rarely, on the
    terminal only: the rendered notebook keeps the per-epoch summary lines."""
    if os.environ.get("AURA_PROGRESS") == "plain":
        from tqdm import tqdm

        # the kernel process's own stderr: the terminal of `aura run` (or a grid cell's log), never the notebook page
        return tqdm(iterable, file=sys.__stderr__, mininterval=15, ascii=True, **kw)
    from tqdm.auto import tqdm
    return tqdm(iterable, **kw)


def set_seed(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def resolve_device(p: Params) -> torch.device:
    if p.device == "cuda" or (p.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def autocast_dtype(p: Params, device: torch.device) -> torch.dtype | None:
    """None = no autocast. auto: fp16 on CUDA (the comparison report's FP16), fp32 on CPU."""
    choice = p.precision if p.precision != "auto" else ("fp16" if device.type == "cuda" else "fp32")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[choice]


def build_optimizer(model: AuraModel, weighting: LossWeighting, p: Params) -> torch.optim.AdamW:
    def no_decay(name: str) -> bool:
        if p.weight_decay_scope == "all":
            return False
        return name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name

    enc = list(model.encoder.named_parameters())
    heads = list(model.heads.named_parameters())
    if p.learning_rates == "single":  # one rate for every parameter, the encoder's
        p = dataclasses.replace(p, lr_heads=p.lr_encoder, lr_loss_weights=p.lr_encoder)
    groups = [
        {"name": "encoder", "params": [w for n, w in enc if not no_decay(n)], "lr": p.lr_encoder,
         "weight_decay": p.weight_decay},
        {"name": "encoder_no_decay", "params": [w for n, w in enc if no_decay(n)], "lr": p.lr_encoder,
         "weight_decay": 0.0},
        {"name": "heads", "params": [w for n, w in heads if not no_decay(n)], "lr": p.lr_heads,
         "weight_decay": p.weight_decay},
        {"name": "heads_no_decay", "params": [w for n, w in heads if no_decay(n)], "lr": p.lr_heads,
         "weight_decay": 0.0},
    ]
    if list(weighting.parameters()):
        groups.append({"name": "loss_weights", "params": list(weighting.parameters()), "lr": p.lr_loss_weights,
                       "weight_decay": p.weight_decay if p.weight_decay_scope == "all" else 0.0})
    return torch.optim.AdamW([g for g in groups if g["params"]], fused=p.fused_adamw or None)


def build_scheduler(opt: torch.optim.Optimizer, p: Params, total_steps: int):
    if p.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                               total_steps=max(total_steps, 2), pct_start=p.onecycle_pct_start)


def toxicity_loss(logits: torch.Tensor, y: torch.Tensor, kind: str = "cross_entropy", gamma: float = 2.0,
                  class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss over the rows with a toxicity label: cross-entropy (softmax head) or binary cross-entropy (one-logit
    sigmoid head), or their focal form (Lin et al. 2017), each row's term scaled by (1 − p_true)^γ. With class_weights
    (w_0, w_1), the weighted mean Σ w_y·ℓ / Σ w_y, as torch's cross_entropy(weight=…) takes it (focal: w as α)."""
    keep = y != IGNORE
    logits, y = logits[keep].float(), y[keep]
    if logits.shape[-1] == 1:
        log_p1 = nn.functional.logsigmoid(logits[:, 0])
        log_p_true = torch.where(y == 1, log_p1, nn.functional.logsigmoid(-logits[:, 0]))
    else:
        log_p_true = torch.log_softmax(logits, -1).gather(1, y[:, None])[:, 0]
    terms = -((1 - log_p_true.exp()) ** gamma * log_p_true) if kind == "focal" else -log_p_true
    if class_weights is None:
        return terms.mean()
    w = class_weights.to(terms.device, terms.dtype)[y]
    return (w * terms).sum() / w.sum()


def toxicity_class_weights(labels, rule: str) -> torch.Tensor | None:
    """w_c = n / (2·n_c) over the rows with a toxicity label (rule inverse_frequency), None for none; a class with no
    row is an error naming the rule (its weight would be infinite)."""
    if rule == "none":
        return None
    y = np.asarray(labels)
    y = y[y != IGNORE]
    counts = np.bincount(y.astype(int), minlength=2)[:2]
    if (counts == 0).any():
        raise ValueError(f"toxicity_class_weights: {rule}: the training rows hold no row of class "
                         f"{int(np.flatnonzero(counts == 0)[0])}")
    return torch.tensor(len(y) / (2 * counts), dtype=torch.float32)


def emotion_class_weights(labels, rule: str, target: str, n_classes: int = 7) -> torch.Tensor | None:
    """The emotion loss's per-class weights over the rows with an emotion label (None for rule none). single: w_c =
    n / (n_classes·n_c) for cross-entropy; multilabel (labels are label sets): pos_weight_c = (n − n_c) / n_c, the
    negatives per positive of each class's binary cross-entropy. A class with no row is an error naming the rule."""
    if rule == "none":
        return None
    y = np.asarray(labels, dtype=np.int64)
    y = y[y != IGNORE]
    counts = (multi_hot(y, n_classes).sum(0) if target == "multilabel"
              else np.bincount(y, minlength=n_classes)[:n_classes])
    if (counts == 0).any():
        raise ValueError(f"emotion_class_weights: {rule}: the training rows hold no row of emotion class "
                         f"{int(np.flatnonzero(counts == 0)[0])}")
    w = (len(y) - counts) / counts if target == "multilabel" else len(y) / (n_classes * counts)
    return torch.tensor(w, dtype=torch.float32)


def emotion_multilabel_loss(logits: torch.Tensor, sets: torch.Tensor,
                            pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of one sigmoid per class against the multi-hot target decoded from each row's label set
    (bit c = class c), mean over rows × classes, over the rows with an emotion label."""
    keep = sets != IGNORE
    logits, sets = logits[keep].float(), sets[keep]
    target = ((sets[:, None] >> torch.arange(logits.shape[-1], device=sets.device)) & 1).float()
    return nn.functional.binary_cross_entropy_with_logits(
        logits, target, pos_weight=None if pos_weight is None else pos_weight.to(logits.device))


def task_losses(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], toxicity: str = "cross_entropy",
                gamma: float = 2.0, class_weights: torch.Tensor | None = None, emotion_target: str = "single",
                emotion_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Loss per task over the rows that carry that task's label (toxicity: `toxicity_loss`; emotion: cross-entropy,
    or binary cross-entropy on label sets for emotion_target multilabel); a task with no such row is left out."""
    out = {}
    for t, y in labels.items():
        if t in logits and (y != IGNORE).any():
            if t == "toxicity" and (toxicity != "cross_entropy" or logits[t].shape[-1] == 1 or class_weights is not None):
                out[t] = toxicity_loss(logits[t], y, toxicity, gamma, class_weights)
            elif t == "emotion" and emotion_target == "multilabel":
                out[t] = emotion_multilabel_loss(logits[t], y, emotion_weights)
            elif t == "emotion" and emotion_weights is not None:
                out[t] = nn.functional.cross_entropy(logits[t].float(), y, weight=emotion_weights.to(logits[t].device),
                                                     ignore_index=IGNORE)
            else:
                out[t] = nn.functional.cross_entropy(logits[t].float(), y, ignore_index=IGNORE)
    return out


class TrainStep(nn.Module):
    """Forward pass to weighted loss in one module, so DDP sees every parameter that gets a gradient (encoder, heads
    and the loss-weighting s_i) and all-reduces them together."""

    def __init__(self, model: AuraModel, weighting: LossWeighting, amp_dtype: torch.dtype | None, device_type: str,
                 toxicity: str = "cross_entropy", gamma: float = 2.0, class_weights: torch.Tensor | None = None,
                 emotion_target: str = "single", emotion_weights: torch.Tensor | None = None):
        super().__init__()
        self.model, self.weighting, self.amp_dtype, self.device_type = model, weighting, amp_dtype, device_type
        self.toxicity, self.gamma, self.class_weights = toxicity, gamma, class_weights
        self.emotion_target, self.emotion_weights = emotion_target, emotion_weights

    def forward(self, ids, mask, labels):
        with torch.autocast(self.device_type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            logits = self.model(ids, mask)
        losses = task_losses(logits, labels, self.toxicity, self.gamma, self.class_weights, self.emotion_target,
                             self.emotion_weights)
        return self.weighting(losses), losses


def make_train_loader(rows: TokenizedRows, train_df: pd.DataFrame, p: Params):
    """paired / masked: shuffled mixed batches; interleaved: single-task batches from TaskBatchSampler. Either grouped
    by length when group_by_length."""
    if not PARADIGMS[p.paradigm].single_task_batches:
        if p.group_by_length:
            return make_loader(rows, p.batch_size, shuffle=False, seed=p.seed, num_workers=p.num_workers,
                               batch_sampler=LengthGroupedSampler([len(x) for x in rows.input_ids], p.batch_size, p.seed))
        return make_loader(rows, p.batch_size, shuffle=True, seed=p.seed, num_workers=p.num_workers)
    sources = train_df["source"].to_numpy()
    sampler = TaskBatchSampler({task: np.flatnonzero(sources == src) for src, task in SOURCE_TASK.items()},
                               p.batch_size, p.task_sampling, p.sampling_temperature, p.seed,
                               lengths=[len(x) for x in rows.input_ids] if p.group_by_length else None)
    return make_loader(rows, p.batch_size, shuffle=False, seed=p.seed, num_workers=p.num_workers,
                       batch_sampler=sampler)


@dataclass
class TrainResult:
    run_dir: Path
    epochs: pd.DataFrame
    selected_epoch: int
    checkpoint: Path
    seconds: float
    samples_per_s: float
    steps: int


class TrainingDiverged(RuntimeError):
    """A non-finite loss or a runaway s_i; the message names the step and task and the last good checkpoint."""


@dataclass
class LoopState:
    """Where training stands. It is the JSON side of the resume state (checkpoints.save_state): a resumed run starts
    from exactly this."""
    epoch: int = 1                   # the epoch in progress, or the next to start
    batches_done: int = 0            # micro-batches of that epoch already trained on
    step: int = 0                    # optimizer steps taken
    seen: int = 0                    # training rows seen
    epoch_losses: list = field(default_factory=list)  # total loss of each step of the epoch in progress
    epochs: list = field(default_factory=list)        # one record per finished epoch (→ epochs.csv)
    best_value: float = -math.inf    # the best selection_metric so far …
    selected_best: int = 1           # … and its epoch
    elapsed: float = 0.0             # seconds trained before this process started
    sampler_epoch: int | None = None  # the batch sampler's epoch counter when the epoch in progress started


class StepLog:
    """steps.csv: one flushed row per logged optimizer step, appended to on resume (main process only)."""

    def __init__(self, path: Path, resumed_at_step: int | None):
        self.path, self.writer = path, None
        if resumed_at_step is not None:
            self._truncate(resumed_at_step)
        self.file = open(path, "a" if resumed_at_step is not None else "w", newline="")
        if resumed_at_step is not None and path.stat().st_size:
            self.writer = csv.DictWriter(self.file, fieldnames=pd.read_csv(path, nrows=0).columns.tolist(),
                                         extrasaction="ignore", restval="")

    def write(self, record: dict) -> None:
        if self.writer is None:
            self.writer = csv.DictWriter(self.file, fieldnames=list(record), extrasaction="ignore", restval="")
            self.writer.writeheader()
        self.writer.writerow(record)
        self.file.flush()

    def close(self) -> None:
        self.file.close()

    def _truncate(self, step: int) -> None:
        """Keep the rows up to the state we resume from. A kill can leave a partial last line: only complete rows
        (every field present, numeric step) survive."""
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        header, kept = rows[0], []
        for r in rows[1:]:
            if len(r) == len(header) and r[0].isdigit() and int(r[0]) <= step and r[header.index("total")] != "":
                kept.append(r)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header] + kept)
        atomic_write_text(self.path, buf.getvalue())


class Training:
    """One training run: its objects, built in a fixed order (so a seed gives the same run), and the steps of the
    loop that `train` walks through: start_epoch → accumulate (per micro-batch) → optimizer_step → end_epoch →
    write_outputs."""

    def __init__(self, p: Params, run_dir: Path, train_df: pd.DataFrame, resume: bool,
                 score_sets: dict[str, pd.DataFrame] | None = None):
        self.p, self.run_dir, self.files = p, run_dir, RunFolder(run_dir)
        self.weights = WeightFiles(run_dir)
        self.weights.folder.mkdir(parents=True, exist_ok=True)
        self.epoch_scoring = EpochScoring(p, run_dir, score_sets or {}, self.weights)
        set_seed(p.seed, p.deterministic)
        self.dist = distributed.setup(p.device)  # single process unless started by accelerate launch
        self.device = self.dist.device or resolve_device(p)
        self.amp_dtype = autocast_dtype(p, self.device)

        self.tokenizer = load_tokenizer(p.encoder)
        self.model = build_model(p, self.device).to(self.device)
        self.weighting = weighting_from_params(p, p.tasks).to(self.device)
        if self.dist.rank:  # same initial weights everywhere (seeded above), own dropout stream per process
            torch.manual_seed(p.seed + self.dist.rank)
        # multilabel: the emotion label of a row is its label set (paradigms: emotion_set)
        label_columns = {"emotion": "emotion_set"} if p.emotion_target == "multilabel" else {}
        loader = make_train_loader(TokenizedRows.from_frame(train_df, p.tasks, self.tokenizer, p.max_length,
                                                            label_columns), train_df, p)
        self.sampler = loader.batch_sampler if isinstance(loader.batch_sampler,
                                                          (TaskBatchSampler, LengthGroupedSampler)) else None
        self.loader = distributed.shard_loader(loader, self.dist)  # each process: its slice of every global batch
        weights = toxicity_class_weights(train_df["toxicity"], p.toxicity_class_weights) \
            if "toxicity" in p.tasks else None
        emotion_weights = emotion_class_weights(train_df[label_columns.get("emotion", "emotion")],
                                                p.emotion_class_weights, p.emotion_target) \
            if "emotion" in p.tasks else None
        self.step_fn = distributed.wrap(TrainStep(self.model, self.weighting, self.amp_dtype, self.device.type,
                                                  p.toxicity_loss, p.focal_gamma, weights, p.emotion_target,
                                                  emotion_weights), self.dist)
        steps_per_epoch = -(-len(self.loader) // p.grad_accum)
        total_steps = steps_per_epoch * p.epochs if p.max_steps is None else min(p.max_steps, steps_per_epoch * p.epochs)
        self.opt = build_optimizer(self.model, self.weighting, p)
        self.sched = build_scheduler(self.opt, p, total_steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16 and self.device.type == "cuda")
        self.clipped = [w for g in self.opt.param_groups if g["name"] != "loss_weights" for w in g["params"]]

        self.state, self.resumed = LoopState(), False
        restored = checkpoints.load_state(run_dir, self.model, self.weighting, self.opt, self.sched, self.scaler) \
            if resume else None
        if restored:
            loop, generator_state = restored
            self.state, self.resumed = LoopState(**loop), True
            if generator_state is not None:
                self.loader.generator.set_state(generator_state)
            if self.sampler is not None:
                self.sampler.epoch = self.state.sampler_epoch
            print(f"resuming at epoch {self.state.epoch}, batch {self.state.batches_done}, step {self.state.step}",
                  flush=True)
        self.log = StepLog(self.files.steps, self.state.step if self.resumed else None) if self.dist.main else None
        self.t0 = time.time() - self.state.elapsed

    # -- the epoch ------------------------------------------------------------------------------------------------------
    def start_epoch(self, epoch: int):
        """The epoch's batches (a progress bar over the loader); on the resumed epoch, the batches already trained on
        are skipped by `accumulate`'s caller."""
        st = self.state
        self.skip = st.batches_done if epoch == st.epoch else 0
        st.epoch, st.batches_done = epoch, self.skip
        st.epoch_losses = list(st.epoch_losses) if self.skip else []
        # the data order's generator and the sampler's counter as the epoch starts: what a resume replays from
        self.epoch_generator = self.loader.generator.get_state().clone() if self.loader.generator is not None else None
        st.sampler_epoch = self.sampler.epoch if self.sampler is not None else None
        self.accum, self.rows_since_sync = {}, 0
        self.step_fn.train()
        self.bar = progress_bar(self.loader, desc=f"epoch {epoch}/{self.p.epochs}", total=len(self.loader))
        return self.bar

    def accumulate(self, batch: dict) -> bool:
        """Forward and backward one micro-batch, adding its losses to the step's; True when it ends an optimizer step
        (every grad_accum micro-batches, and the epoch's last)."""
        p, st = self.p, self.state
        ids, mask = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
        labels = {t: y.to(self.device) for t, y in batch["labels"].items()}
        ends_step = (st.batches_done + 1) % p.grad_accum == 0 or st.batches_done + 1 == len(self.loader)
        with self.dist.no_sync(self.step_fn, skip_sync=not ends_step):
            total, losses = self.step_fn(ids, mask, labels)
            if "loss_scale" in batch:  # a DDP slice: scaled so the mean over processes is the global batch's mean
                total, losses = total * batch["loss_scale"], {t: v * batch["loss_scale"] for t, v in losses.items()}
            self.scaler.scale(total / p.grad_accum).backward()
        st.batches_done += 1
        self.rows_since_sync += batch.get("real_rows", len(ids))
        self.accum["total"] = self.accum.get("total", 0.0) + total.detach() / p.grad_accum
        for t, v in losses.items():
            self.accum[f"loss_{t}"] = self.accum.get(f"loss_{t}", 0.0) + v.detach() / p.grad_accum
        return ends_step

    def optimizer_step(self) -> None:
        """Check the step's losses, clip, step the optimizer and the schedule, then check the s_i, log and save the
        resume state when due."""
        p, st = self.p, self.state
        values = self._checked_losses()
        if p.max_grad_norm:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.clipped, p.max_grad_norm, foreach=True)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        self.sched.step()
        st.step += 1
        st.epoch_losses.append(values["total"])
        logged = self.weighting.log_values()
        runaway = [t for t in p.tasks if abs(logged.get(f"s_{t}", 0.0)) > p.max_abs_log_var]
        if runaway:
            raise TrainingDiverged(f"step {st.step} (epoch {st.epoch}): s_{runaway[0]} = "
                                   f"{logged[f's_{runaway[0]}']:.3g} ran past ±{p.max_abs_log_var} (max_abs_log_var); "
                                   f"stopped, last good checkpoint kept in {self.weights.folder}")
        if st.step % p.log_every == 0 and self.dist.main:
            self.log.write({"step": st.step, "epoch": st.epoch, "samples": st.seen,
                            "elapsed_s": round(time.time() - self.t0, 3), **values, **logged,
                            **{f"lr_{g['name']}": g["lr"] for g in self.opt.param_groups
                               if not g["name"].endswith("no_decay")}})
        self.accum = {}
        if p.checkpoint_every and st.step % p.checkpoint_every == 0 and st.batches_done < len(self.loader):
            self.save_resume_state()

    def _checked_losses(self) -> dict:
        """The step's losses. Host sync only when the numbers are needed: every step on CPU (free there), else at log
        and checkpoint steps; always before the update, so a non-finite loss never reaches the weights. With several
        processes they are means over them (rows a sum), so every process takes the same decision."""
        p, st, nxt = self.p, self.state, self.state.step + 1
        if not (self.device.type == "cpu" or nxt % p.log_every == 0
                or (p.checkpoint_every and nxt % p.checkpoint_every == 0) or st.batches_done == len(self.loader)
                or (p.max_steps is not None and nxt >= p.max_steps)):
            return self.accum
        self.accum, rows = self.dist.reduce_logged(self.accum, self.rows_since_sync)
        st.seen, self.rows_since_sync = st.seen + rows, 0
        values = {k: float(v) for k, v in self.accum.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            task = next((k[5:] for k in bad if k.startswith("loss_")), "total (loss weighting)")
            raise TrainingDiverged(f"step {nxt} (epoch {st.epoch}, batch {st.batches_done}): non-finite loss in task "
                                   f"{task}; stopped before the update, last good checkpoint kept in {self.weights.folder}")
        return values

    def reached_max_steps(self) -> bool:
        return self.p.max_steps is not None and self.state.step >= self.p.max_steps

    def end_epoch(self, dev_df: pd.DataFrame) -> None:
        """Validate, store the epoch's predictions, record the epoch, save last (and best) weights and the resume
        state for the next epoch."""
        p, st, dist = self.p, self.state, self.dist
        self.bar.close()
        dev_probs = self.predict(dev_df) if dist.main else None
        val = dist.broadcast(validate(self.model, self.tokenizer, dev_df, p, self.device, self.amp_dtype, dev_probs)
                             if dist.main else None)
        if dist.main:
            self.epoch_scoring.after_epoch(st.epoch, dev_df, dev_probs, self.predict, self.model, self.weighting)
        losses = [float(x) for x in st.epoch_losses]
        st.epochs.append({"epoch": st.epoch, "steps": st.step, "train_loss": float(np.mean(losses)) if losses else None,
                          **val, **self.weighting.log_values()})
        if dist.main:
            self.weights.save("last", self.model, self.weighting)
        if best_epoch({e["epoch"]: e[p.selection_metric] for e in st.epochs}) == st.epoch:
            st.best_value, st.selected_best = val[p.selection_metric], st.epoch
            if dist.main:
                self.weights.save("best", self.model, self.weighting)
        finished = st.epoch
        st.epoch, st.batches_done, st.epoch_losses = finished + 1, 0, []
        self.epoch_generator = self.loader.generator.get_state().clone() if self.loader.generator is not None else None
        st.sampler_epoch = self.sampler.epoch if self.sampler is not None else None
        self.save_resume_state()
        if dist.main:
            print(f"epoch {finished}: " + ", ".join(f"{k}={v:.4f}" for k, v in st.epochs[-1].items()
                                                    if isinstance(v, float)), flush=True)

    def predict(self, rows: pd.DataFrame) -> dict[str, np.ndarray]:
        return predict(self.model, self.tokenizer, rows["text"].tolist(), self.p.eval_batch_size, self.p.max_length,
                       self.device, self.amp_dtype)

    def save_resume_state(self) -> None:
        if not self.dist.main:
            return
        loop = asdict(self.state) | {"epoch_losses": [float(x) for x in self.state.epoch_losses],
                                     "elapsed": time.time() - self.t0}
        checkpoints.save_state(self.run_dir, self.model, self.weighting, self.opt, self.sched, self.scaler, loop,
                               self.epoch_generator)

    def write_outputs(self, train_rows: int) -> TrainResult:
        """epochs.csv and train.json (main process), and the result every process returns."""
        p, st = self.p, self.state
        seconds = time.time() - self.t0
        selected = st.selected_best if p.selection == "best" else st.epochs[-1]["epoch"]
        checkpoint = self.weights.selected(p.selection)
        table = pd.DataFrame(st.epochs)
        if self.dist.main:
            self.log.close()
            atomic_write_text(self.files.epochs, table.to_csv(index=False))
            write_json(self.files.train_info, {
                "selection": p.selection, "selection_metric": p.selection_metric, "selected_epoch": selected,
                "checkpoint": str(checkpoint.relative_to(self.run_dir)), "steps": st.step, "samples_seen": st.seen,
                "train_rows": train_rows, "seconds": seconds, "samples_per_s": st.seen / seconds,
                "resumed": self.resumed, "device": str(self.device), "processes": self.dist.world,
                "autocast": str(self.amp_dtype), "torch": torch.__version__,
            })
        return TrainResult(self.run_dir, table, selected, checkpoint, seconds, st.seen / seconds, st.step)


def train(p: Params, run_dir: str | Path, train_df: pd.DataFrame, dev_df: pd.DataFrame,
          resume: bool = False, score_sets: dict[str, pd.DataFrame] | None = None) -> TrainResult:
    """Train on `train_df` (text + one column per task, IGNORE where absent), validating on `dev_df` each epoch.

    With resume=True, continue from checkpoints/resume.safetensors when it exists (model, optimizer, scheduler, s_i,
    RNG states and the position in the data order), so the result equals an uninterrupted run with the same seed.
    score_sets: test sets scored on every epoch, or on the selectable ones (score_epochs; epoch_predictions.py)."""
    run = Training(p, Path(run_dir), train_df, resume, score_sets)
    for epoch in range(run.state.epoch, p.epochs + 1):
        for i, batch in enumerate(run.start_epoch(epoch)):
            if i < run.skip:  # trained on before the interruption
                continue
            if run.accumulate(batch):
                run.optimizer_step()
                if run.reached_max_steps():
                    break
        run.end_epoch(dev_df)
        if run.reached_max_steps():
            break
    if run.dist.main:
        run.epoch_scoring.finish(run.predict, run.model, run.weighting)
    return run.write_outputs(len(train_df))
