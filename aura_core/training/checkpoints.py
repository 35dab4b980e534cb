"""Every file of trained weights and training state, in one place; safetensors throughout, no pickle.

Two kinds of file, both written atomically (a crash mid-write leaves the previous file, never half of one):

- weights (checkpoints/last.safetensors, best.safetensors): the model and the loss-weighting s_i, what scoring loads;
- the resume state (checkpoints/resume.safetensors): the weights plus the optimizer moments, RNG and data-order
  generator states as tensors, and as JSON metadata the optimizer groups, scheduler, GradScaler and the loop position
  (train.LoopState), so an interrupted run continues exactly where it stopped.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save
from torch import nn

from aura_core.base.io import atomic_write_bytes, jsonable
from aura_core.base.run_folder import RunFolder

MODEL, WEIGHTING = "model", "weighting"  # tensor-name prefixes: "model.encoder...", "weighting.log_vars"


def pack(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's state under `prefix.`, as contiguous CPU tensors (what safetensors stores)."""
    return {f"{prefix}.{k}": v.detach().contiguous().cpu() for k, v in module.state_dict().items()}


def unpack(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The state dict stored under `prefix.`, names without it."""
    return {k.removeprefix(f"{prefix}."): v for k, v in tensors.items() if k.startswith(f"{prefix}.")}


def save_weights(path: Path, model: nn.Module, weighting: nn.Module) -> None:
    atomic_write_bytes(path, save(pack(MODEL, model) | pack(WEIGHTING, weighting)))


def load_weights(path: Path, model: nn.Module, weighting: nn.Module | None = None) -> None:
    tensors = load_file(str(path))
    model.load_state_dict(unpack(tensors, MODEL))
    if weighting is not None:
        weighting.load_state_dict(unpack(tensors, WEIGHTING))


# ----------------------------------------------------------------------------------------------------------------------
# the resume state

def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for key, v in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_state() -> tuple[dict, dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors |= {f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
    py = random.getstate()
    return tensors, {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [py[0], list(py[1]), py[2]]}


def set_rng_state(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def save_state(run_dir: Path, model, weighting, opt, sched, scaler, loop: dict,
               generator_state: torch.Tensor | None) -> None:
    """`loop` is the JSON side of the loop position; `generator_state` the data order's generator at the epoch start."""
    opt_tensors, opt_meta = _optimizer_tensors(opt)
    rng_tensors, rng_meta = rng_state()
    tensors = pack(MODEL, model) | pack(WEIGHTING, weighting) | opt_tensors | rng_tensors
    if generator_state is not None:
        tensors["loader.generator"] = generator_state
    meta = {"loop": loop, "optimizer": opt_meta, "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
            "rng": rng_meta}
    atomic_write_bytes(RunFolder(run_dir).resume,
                       save(tensors, metadata={"aura_resume": json.dumps(meta, default=jsonable)}))


def load_state(run_dir: Path, model, weighting, opt, sched, scaler) -> tuple[dict, torch.Tensor | None] | None:
    """Restore everything into the given objects; return (loop position, data-order generator state), or None when
    the run folder holds no resume state."""
    path = RunFolder(run_dir).resume
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["aura_resume"])
    tensors = load_file(str(path))
    model.load_state_dict(unpack(tensors, MODEL))
    weighting.load_state_dict(unpack(tensors, WEIGHTING))
    _restore_optimizer(opt, tensors, meta["optimizer"])
    sched.load_state_dict(meta["scheduler"])
    if meta["scaler"]:
        scaler.load_state_dict(meta["scaler"])
    set_rng_state(tensors, meta["rng"])
    return meta["loop"], tensors.get("loader.generator")


class WeightFiles:
    """The weight files of one run's checkpoints/ folder and the rule of which are kept: last (every epoch), best
    (when the selection metric improves), epoch<k> (only while a post-training choice can still select epoch k)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(run_dir).checkpoints

    def path(self, which: str | int) -> Path:
        """"last", "best", or an epoch number."""
        return self.folder / (f"epoch{which}.safetensors" if isinstance(which, int) else f"{which}.safetensors")

    def save(self, which: str | int, model: nn.Module, weighting: nn.Module) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        save_weights(self.path(which), model, weighting)

    def load(self, which: str | int, model: nn.Module, weighting: nn.Module | None = None) -> None:
        load_weights(self.path(which), model, weighting)

    def epochs(self) -> list[int]:
        return sorted(int(f.stem.removeprefix("epoch")) for f in self.folder.glob("epoch*.safetensors"))

    def keep_epochs(self, keep: set[int] | frozenset[int] = frozenset()) -> None:
        """Drop every per-epoch weight file but those of `keep`."""
        for epoch in self.epochs():
            if epoch not in keep:
                self.path(epoch).unlink()

    def selected(self, selection: str) -> Path:
        """The weights a run's selection rule ("best" or "last") evaluates."""
        return self.path("best" if selection == "best" else "last")


def prune(run_dir: Path, keep: str) -> int:
    """Once a run has finished: keep all checkpoint files, only the selected weights (train.json names them), or
    none. Returns the bytes freed."""
    run = RunFolder(run_dir)
    folder = run.checkpoints
    if keep == "all" or not folder.is_dir():
        return 0
    selected = json.loads(run.train_info.read_text())["checkpoint"]
    freed = 0
    for f in sorted(folder.iterdir()):
        if keep == "none" or f.relative_to(run_dir).as_posix() != selected:
            freed += f.stat().st_size
            f.unlink()
    if keep == "none":
        folder.rmdir()
    return freed
