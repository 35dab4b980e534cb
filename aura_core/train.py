"""The training loop: the seed's configuration, one readable function.

AdamW with three groups (encoder at lr_encoder, heads at lr_heads, loss-weighting s_i at lr_loss_weights without weight
decay), OneCycleLR over optimizer steps, gradient accumulation, fp16 autocast + GradScaler on CUDA, validation on the
dev set after every epoch, a per-step CSV log and safetensors checkpoints in the run folder.
"""
from __future__ import annotations

import csv
import io
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import distributed
from .batching import IGNORE, SOURCE_TASK, LengthGroupedSampler, TaskBatchSampler, TokenizedRows, make_loader
from .evaluate import emotion_metrics, predict, toxicity_metrics
from .io import atomic_write_text, write_json
from .losses import LossWeighting, weighting_from_params
from .model import AuraModel, load_tokenizer
from .params import Params

TASKS = ["toxicity", "emotion"]  # the multi-task default; a run's own list is p.tasks
VAL_METRICS = ["val_tox_macro_f1", "val_emo_macro_f1", "val_tox_roc_auc", "val_tox_macro_f1_paired",
               "val_tox_macro_f1_olid", "val_emo_macro_f1_paired", "val_emo_macro_f1_goemotions"]


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
    """None = no autocast. auto: fp16 on CUDA (the seed's FP16), fp32 on CPU."""
    choice = p.precision if p.precision != "auto" else ("fp16" if device.type == "cuda" else "fp32")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[choice]


def build_optimizer(model: AuraModel, weighting: LossWeighting, p: Params) -> torch.optim.AdamW:
    def no_decay(name: str) -> bool:
        return name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name

    enc = list(model.encoder.named_parameters())
    heads = list(model.heads.named_parameters())
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
                       "weight_decay": 0.0})
    return torch.optim.AdamW([g for g in groups if g["params"]], fused=p.fused_adamw or None)


def build_scheduler(opt: torch.optim.Optimizer, p: Params, total_steps: int):
    if p.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                               total_steps=max(total_steps, 2), pct_start=p.onecycle_pct_start)


def task_losses(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cross-entropy per task over the rows that carry that task's label; a task with no such row is left out."""
    out = {}
    for t, y in labels.items():
        if t in logits and (y != IGNORE).any():
            out[t] = nn.functional.cross_entropy(logits[t].float(), y, ignore_index=IGNORE)
    return out


class TrainStep(nn.Module):
    """Forward pass to weighted loss in one module, so DDP sees every parameter that gets a gradient (encoder, heads
    and the loss-weighting s_i) and all-reduces them together."""

    def __init__(self, model: AuraModel, weighting: LossWeighting, amp_dtype: torch.dtype | None, device_type: str):
        super().__init__()
        self.model, self.weighting, self.amp_dtype, self.device_type = model, weighting, amp_dtype, device_type

    def forward(self, ids, mask, labels):
        with torch.autocast(self.device_type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            logits = self.model(ids, mask)
        losses = task_losses(logits, labels)
        return self.weighting(losses), losses


def save_checkpoint(path: Path, model: nn.Module, weighting: LossWeighting) -> None:
    """One safetensors file: model.* and weighting.* tensors (no pickle)."""
    from safetensors.torch import save
    state = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    state |= {f"weighting.{k}": v.detach().contiguous().cpu() for k, v in weighting.state_dict().items()}
    from .io import atomic_write_bytes
    atomic_write_bytes(path, save(state))


def load_checkpoint(path: Path, model: nn.Module, weighting: LossWeighting | None = None) -> None:
    from safetensors.torch import load_file
    state = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    if weighting is not None:
        weighting.load_state_dict({k[10:]: v for k, v in state.items() if k.startswith("weighting.")})


def validation_threshold(p: Params) -> float:
    """Per-epoch validation uses the fixed threshold, or 0.5 when it is tuned later (03_tune) on the final model."""
    return 0.5 if p.threshold == "tuned" else float(p.threshold)


def validate(model: AuraModel, tokenizer, dev: pd.DataFrame, p: Params, device) -> dict:
    """Dev metrics, both ways: *_paired over every dev row with the pseudo-labels (Partner B), *_olid / *_goemotions
    on each source's own labels. val_tox_macro_f1 / val_emo_macro_f1 follow the `validation` switch."""
    probs = predict(model, tokenizer, dev["text"].tolist(), p.eval_batch_size, p.max_length, device,
                    autocast_dtype(p, torch.device(device)))
    thr = validation_threshold(p)
    y_tox, y_emo = dev["toxicity"].to_numpy(), dev["emotion"].to_numpy()
    olid, goemo = (dev["source"] == "olid").to_numpy(), (dev["source"] == "goemotions").to_numpy()
    paired_tox = toxicity_metrics(y_tox, probs["toxicity"][:, 1], thr)
    out = {"val_tox_macro_f1_paired": paired_tox["macro_f1"]}
    olid_tox = toxicity_metrics(y_tox[olid], probs["toxicity"][olid, 1], thr)
    out["val_tox_macro_f1_olid"] = olid_tox["macro_f1"]
    if "emotion" in probs:
        out["val_emo_macro_f1_paired"] = emotion_metrics(y_emo, probs["emotion"])["macro_f1"]
        if goemo.any():
            out["val_emo_macro_f1_goemotions"] = emotion_metrics(y_emo[goemo], probs["emotion"][goemo])["macro_f1"]
    if p.validation == "paired":
        out["val_tox_macro_f1"], out["val_emo_macro_f1"] = out["val_tox_macro_f1_paired"], out.get("val_emo_macro_f1_paired")
        out["val_tox_roc_auc"] = paired_tox["roc_auc"]
    else:
        out["val_tox_macro_f1"], out["val_emo_macro_f1"] = out["val_tox_macro_f1_olid"], out.get("val_emo_macro_f1_goemotions")
        out["val_tox_roc_auc"] = olid_tox["roc_auc"]
    return out


def make_train_loader(rows: TokenizedRows, train_df: pd.DataFrame, p: Params):
    """paired / masked: shuffled mixed batches; interleaved: single-task batches from TaskBatchSampler. Either grouped
    by length when group_by_length."""
    if p.paradigm != "interleaved":
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


def _truncate_step_log(path: Path, step: int) -> None:
    """Keep the step-log rows up to the state we resume from. The log is append-only (one flushed row per step), so a
    kill can leave a partial last line: only complete rows (every field present, numeric step) survive."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, kept = rows[0], []
    for r in rows[1:]:
        if len(r) == len(header) and r[0].isdigit() and int(r[0]) <= step and r[header.index("total")] != "":
            kept.append(r)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header] + kept)
    atomic_write_text(path, buf.getvalue())


def train(p: Params, run_dir: str | Path, train_df: pd.DataFrame, dev_df: pd.DataFrame,
          resume: bool = False) -> TrainResult:
    """Train on `train_df` (text + one column per task, IGNORE where absent), validating on `dev_df` each epoch.

    With resume=True, continue from checkpoints/resume.safetensors when it exists (model, optimizer, scheduler, s_i,
    RNG states and the position in the data order), so the result equals an uninterrupted run with the same seed."""
    from .resume import load_state, save_state
    if p.selection_metric not in VAL_METRICS:
        raise ValueError(f"param 'selection_metric': {p.selection_metric!r} is not one of {VAL_METRICS}")
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    set_seed(p.seed, p.deterministic)
    dist = distributed.setup(p.device)  # single process unless started by accelerate launch
    device = dist.device or resolve_device(p)
    amp_dtype = autocast_dtype(p, device)

    tokenizer = load_tokenizer(p.encoder)
    model = AuraModel(p.encoder, tuple(p.tasks), p.pooling, p.dropout).to(device)
    weighting = weighting_from_params(p, p.tasks).to(device)
    if dist.rank:  # same initial weights everywhere (seeded above), own dropout stream per process
        torch.manual_seed(p.seed + dist.rank)
    rows = TokenizedRows.from_frame(train_df, p.tasks, tokenizer, p.max_length)
    loader = make_train_loader(rows, train_df, p)
    task_sampler = loader.batch_sampler if isinstance(loader.batch_sampler, (TaskBatchSampler, LengthGroupedSampler)) \
        else None
    loader = distributed.shard_loader(loader, dist)  # each process: its slice of every global batch
    step_fn = distributed.wrap(TrainStep(model, weighting, amp_dtype, device.type), dist)
    steps_per_epoch = -(-len(loader) // p.grad_accum)
    total_steps = steps_per_epoch * p.epochs if p.max_steps is None else min(p.max_steps, steps_per_epoch * p.epochs)
    opt = build_optimizer(model, weighting, p)
    sched = build_scheduler(opt, p, total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16 and device.type == "cuda")
    params_to_clip = [w for g in opt.param_groups if g["name"] != "loss_weights" for w in g["params"]]

    loop = {"epoch": 1, "batches_done": 0, "step": 0, "seen": 0, "epoch_losses": [], "epochs": [],
            "best_value": -np.inf, "selected_best": 1, "elapsed": 0.0}
    restored = load_state(run_dir, model, weighting, opt, sched, scaler) if resume else None
    if restored:
        loop = restored
        if dist.main:
            _truncate_step_log(run_dir / "steps.csv", loop["step"])
        if loop["epoch_generator_state"] is not None:
            loader.generator.set_state(loop["epoch_generator_state"])
        if task_sampler is not None:
            task_sampler.epoch = loop["sampler_epoch"]
        print(f"resuming at epoch {loop['epoch']}, batch {loop['batches_done']}, step {loop['step']}", flush=True)
    step_log = open(run_dir / "steps.csv", "a" if restored else "w", newline="") if dist.main else None
    writer = None
    if dist.main and restored and (run_dir / "steps.csv").stat().st_size:
        writer = csv.DictWriter(step_log, fieldnames=pd.read_csv(run_dir / "steps.csv", nrows=0).columns.tolist(),
                                extrasaction="ignore", restval="")
    step, seen, epochs = loop["step"], loop["seen"], loop["epochs"]
    t0 = time.time() - loop["elapsed"]

    def checkpoint_loop(epoch: int, batches_done: int, epoch_losses: list, gen_state, sampler_epoch) -> None:
        if not dist.main:
            return
        save_state(run_dir, model, weighting, opt, sched, scaler, {
            "epoch": epoch, "batches_done": batches_done, "step": step, "seen": seen,
            "epoch_losses": [float(x) for x in epoch_losses],
            "epochs": epochs, "best_value": loop["best_value"], "selected_best": loop["selected_best"],
            "elapsed": time.time() - t0, "epoch_generator_state": gen_state, "sampler_epoch": sampler_epoch})

    for epoch in range(loop["epoch"], p.epochs + 1):
        step_fn.train()
        skip = loop["batches_done"] if epoch == loop["epoch"] else 0
        epoch_losses = list(loop["epoch_losses"]) if skip else []
        gen_state = loader.generator.get_state().clone() if loader.generator is not None else None
        sampler_epoch = task_sampler.epoch if task_sampler is not None else None
        micro, accum, rows_since_sync = skip, {}, 0
        bar = progress_bar(loader, desc=f"epoch {epoch}/{p.epochs}", total=len(loader))
        for i, batch in enumerate(bar):
            if i < skip:  # already trained on before the interruption
                continue
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            labels = {t: y.to(device) for t, y in batch["labels"].items()}
            ends_step = (micro + 1) % p.grad_accum == 0 or micro + 1 == len(loader)
            with dist.no_sync(step_fn, skip_sync=not ends_step):
                total, losses = step_fn(ids, mask, labels)
                if "loss_scale" in batch:  # a DDP slice: scaled so the mean over processes is the global batch's mean
                    total, losses = total * batch["loss_scale"], {t: v * batch["loss_scale"] for t, v in losses.items()}
                scaler.scale(total / p.grad_accum).backward()
            micro += 1
            rows_since_sync += batch.get("real_rows", len(ids))
            accum["total"] = accum.get("total", 0.0) + total.detach() / p.grad_accum
            for t, v in losses.items():
                accum[f"loss_{t}"] = accum.get(f"loss_{t}", 0.0) + v.detach() / p.grad_accum
            if micro % p.grad_accum and micro != len(loader):
                continue
            # Host sync only when the numbers are needed: every step on CPU (free there), else at log and checkpoint
            # steps. Always before the optimizer step, so a non-finite loss never reaches the weights.
            # With several processes the logged numbers are means over them (and rows a sum), so every process takes
            # the same decision on a non-finite loss.
            nxt = step + 1
            if device.type == "cpu" or nxt % p.log_every == 0 or (p.checkpoint_every and nxt % p.checkpoint_every == 0) \
                    or micro == len(loader) or (p.max_steps is not None and nxt >= p.max_steps):
                accum, rows = dist.reduce_logged(accum, rows_since_sync)
                seen, rows_since_sync = seen + rows, 0
                values = {k: float(v) for k, v in accum.items()}
                bad = [k for k, v in values.items() if not math.isfinite(v)]
                if bad:
                    task = next((k[5:] for k in bad if k.startswith("loss_")), "total (loss weighting)")
                    raise TrainingDiverged(f"step {nxt} (epoch {epoch}, batch {i + 1}): non-finite loss in task "
                                           f"{task}; stopped before the update, last good checkpoint kept in {ckpt_dir}")
            else:
                values = accum
            if p.max_grad_norm:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params_to_clip, p.max_grad_norm, foreach=True)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
            step += 1
            epoch_losses.append(values["total"])
            logged = weighting.log_values()
            runaway = [t for t in p.tasks if abs(logged.get(f"s_{t}", 0.0)) > p.max_abs_log_var]
            if runaway:
                raise TrainingDiverged(f"step {step} (epoch {epoch}): s_{runaway[0]} = {logged[f's_{runaway[0]}']:.3g} "
                                       f"ran past ±{p.max_abs_log_var} (max_abs_log_var); stopped, last good "
                                       f"checkpoint kept in {ckpt_dir}")
            if step % p.log_every == 0 and dist.main:
                rec = {"step": step, "epoch": epoch, "samples": seen, "elapsed_s": round(time.time() - t0, 3),
                       **values, **logged,
                       **{f"lr_{g['name']}": g["lr"] for g in opt.param_groups if not g["name"].endswith("no_decay")}}
                if writer is None:
                    writer = csv.DictWriter(step_log, fieldnames=list(rec), extrasaction="ignore", restval="")
                    writer.writeheader()
                writer.writerow(rec)
                step_log.flush()
            accum = {}
            if p.checkpoint_every and step % p.checkpoint_every == 0 and micro < len(loader):
                checkpoint_loop(epoch, micro, epoch_losses, gen_state, sampler_epoch)
            if p.max_steps is not None and step >= p.max_steps:
                break
        bar.close()
        val = dist.broadcast(validate(model, tokenizer, dev_df, p, device) if dist.main else None)
        epochs.append({"epoch": epoch, "steps": step, "train_loss": float(np.mean([float(x) for x in epoch_losses])) if epoch_losses else None,
                       **val, **weighting.log_values()})
        if dist.main:
            save_checkpoint(ckpt_dir / "last.safetensors", model, weighting)
        if val[p.selection_metric] > loop["best_value"]:
            loop["best_value"], loop["selected_best"] = val[p.selection_metric], epoch
            if dist.main:
                save_checkpoint(ckpt_dir / "best.safetensors", model, weighting)
        loop["batches_done"] = 0
        checkpoint_loop(epoch + 1, 0, [], loader.generator.get_state().clone() if loader.generator is not None
                        else None, task_sampler.epoch if task_sampler is not None else None)
        if dist.main:
            print(f"epoch {epoch}: " + ", ".join(f"{k}={v:.4f}" for k, v in epochs[-1].items()
                                                   if isinstance(v, float)), flush=True)
        if p.max_steps is not None and step >= p.max_steps:
            break
    seconds = time.time() - t0
    selected = loop["selected_best"] if p.selection == "best" else epochs[-1]["epoch"]
    checkpoint = ckpt_dir / ("best.safetensors" if p.selection == "best" else "last.safetensors")
    table = pd.DataFrame(epochs)
    if not dist.main:
        return TrainResult(run_dir, table, selected, checkpoint, seconds, seen / seconds, step)
    step_log.close()
    atomic_write_text(run_dir / "epochs.csv", table.to_csv(index=False))
    write_json(run_dir / "train.json", {
        "selection": p.selection, "selection_metric": p.selection_metric, "selected_epoch": selected,
        "checkpoint": str(checkpoint.relative_to(run_dir)), "steps": step, "samples_seen": seen,
        "train_rows": len(train_df), "seconds": seconds, "samples_per_s": seen / seconds,
        "resumed": bool(restored), "device": str(device), "processes": dist.world, "autocast": str(amp_dtype), "torch": torch.__version__,
    })
    return TrainResult(run_dir, table, selected, checkpoint, seconds, seen / seconds, step)
