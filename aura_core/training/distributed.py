"""Data-parallel training (DDP) under `accelerate launch`: one process per device, each global batch split across them.

Every process builds the same data order from the same seed and takes a strided slice of each global batch; DDP
averages the gradients. A run with N processes therefore takes the same optimizer steps, on the same global batches of
`batch_size` rows, as a single-process run. Only process 0 validates, logs and writes files; the others receive its
validation numbers, so every process selects the same epoch.

`launch()` is what 02_train calls when num_processes > 1: it runs `aura train <run_dir>` under
`accelerate launch --multi_gpu` (torchrun underneath; on a CPU-only machine the processes use the gloo backend).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset


def launched() -> bool:
    """True inside a process started by accelerate launch / torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass
class Dist:
    """This process's place in the group. The single-process default makes every collective a no-op."""
    rank: int = 0
    world: int = 1
    device: torch.device | None = None  # the launcher's device for this process (None: single process decides)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def reduce_logged(self, accum: dict, rows: int) -> tuple[dict, int]:
        """Mean of the accumulated losses over processes and the total rows all of them consumed since the last call."""
        if self.world == 1:
            return accum, rows
        keys = sorted(accum)
        t = torch.stack([torch.as_tensor(accum[k], dtype=torch.float64).detach().cpu() for k in keys]
                        + [torch.tensor(float(rows), dtype=torch.float64)])
        t = t.to(self.device) if self.device is not None and self.device.type == "cuda" else t
        torch.distributed.all_reduce(t)
        t = t.cpu()
        return {k: t[i] / self.world for i, k in enumerate(keys)}, int(t[-1])

    def broadcast(self, obj):
        """Process 0's object on every process."""
        if self.world == 1:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def no_sync(self, module, skip_sync: bool):
        """Skip DDP's gradient all-reduce on micro-batches that do not end an accumulation."""
        return module.no_sync() if self.world > 1 and skip_sync else nullcontext()


def setup(device_choice: str) -> Dist:
    """Join the process group the launcher set up (gloo on CPU, NCCL on CUDA); single process outside a launch."""
    if not launched():
        return Dist()
    from accelerate import PartialState
    cpu = device_choice == "cpu" or not torch.cuda.is_available()
    state = PartialState(cpu=True, backend="gloo") if cpu else PartialState()
    return Dist(state.process_index, state.num_processes, torch.device("cpu") if cpu else state.device)


def wrap(module: torch.nn.Module, dist: Dist) -> torch.nn.Module:
    """DDP around the module whose parameters get gradients (model and loss weights together). Some parameters get
    none on some steps (the encoder's unused pooler; a head and its s_i on interleaved single-task batches or masked
    rows), hence find_unused_parameters."""
    if dist.world == 1:
        return module
    ids = [dist.device.index] if dist.device is not None and dist.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


class ShardedBatches:
    """Process `rank`'s strided slice (rows rank, rank+world, …) of every batch of an inner batch sampler, strided so
    that length-sorted batches give every process rows of similar length. Each index comes as (row, loss scale): the
    scale world·n_rank/n_batch makes DDP's mean over processes of the per-process mean losses equal the mean over the
    global batch when the slices differ in size. A batch with fewer rows than processes gives a process without a row
    of its own the batch's last row at scale 0: every process must join every step."""

    def __init__(self, batches, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for b in self.batches:
            b = list(b)
            part = b[self.rank::self.world]
            scale = self.world * len(part) / len(b)
            yield [(i, scale) for i in (part or b[-1:])]

    @property
    def epoch(self):  # resume reads and sets the inner sampler's epoch counter
        return self.batches.epoch

    @epoch.setter
    def epoch(self, value):
        self.batches.epoch = value


class _ScaledRows(Dataset):
    """Rows addressed as (index, loss scale), as ShardedBatches yields them."""

    def __init__(self, rows: Dataset):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        i, scale = key
        return self.rows[i], scale


class _ScaledCollator:
    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items):
        batch = self.collate([row for row, _ in items])
        batch["loss_scale"] = items[0][1]
        batch["real_rows"] = len(items) if items[0][1] > 0 else 0
        return batch


def shard_loader(loader: DataLoader, dist: Dist) -> DataLoader:
    """The same loader (dataset, collator, generator: the same global order) yielding this process's slices, each
    batch with its `loss_scale` and `real_rows`."""
    if dist.world == 1:
        return loader
    return DataLoader(_ScaledRows(loader.dataset), batch_sampler=ShardedBatches(loader.batch_sampler, dist.rank,
                                                                                 dist.world),
                      collate_fn=_ScaledCollator(loader.collate_fn), num_workers=loader.num_workers,
                      generator=loader.generator)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(run_dir: str | Path, num_processes: int, resume: bool = False, device: str = "auto") -> None:
    """Train the run in `run_dir` with `num_processes` DDP processes (accelerate launch), streaming their output."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "aura_core.cli", "train", str(run_dir)]
    if resume:
        cmd.append("--resume")
    env = dict(os.environ)
    if device == "cpu" or not torch.cuda.is_available():
        env["CUDA_VISIBLE_DEVICES"] = ""  # the gloo path, even on a GPU box when device = cpu
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // num_processes)))
    print(f"[aura] training with {num_processes} processes: {' '.join(cmd[1:])}", flush=True)
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            tail = (tail + [line.rstrip()])[-20:]
    if proc.returncode != 0:
        last = next((x for x in reversed(tail) if x.strip()), f"exit {proc.returncode}")
        raise RuntimeError(f"distributed training ({num_processes} processes) failed: {last}")

