"""Everything an interrupted training run needs to continue exactly where it stopped, in one file.

resume.safetensors holds the tensors (model, loss-weighting s_i, optimizer moments, RNG and data-order generator states);
its metadata holds the rest as JSON (optimizer groups, scheduler, GradScaler, position in the data order, epoch table so
far). One file written atomically: a crash mid-write leaves the previous state, never a half-written pair. No pickle.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save

from .io import atomic_write_bytes

FILE = "resume.safetensors"


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


def save_state(run_dir: Path, model, weighting, opt, sched, scaler, loop: dict, loader_generator=None) -> None:
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tensors |= {f"weighting.{k}": v.detach().contiguous().cpu() for k, v in weighting.state_dict().items()}
    opt_tensors, opt_meta = _optimizer_tensors(opt)
    rng_tensors, rng_meta = rng_state()
    tensors |= opt_tensors | rng_tensors
    if loop.get("epoch_generator_state") is not None:
        tensors["loader.generator"] = loop["epoch_generator_state"]
    meta = {"loop": {k: v for k, v in loop.items() if k != "epoch_generator_state"}, "optimizer": opt_meta,
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "rng": rng_meta}
    atomic_write_bytes(Path(run_dir) / "checkpoints" / FILE,
                       save(tensors, metadata={"aura_resume": json.dumps(meta, default=_plain)}))


def load_state(run_dir: Path, model, weighting, opt, sched, scaler) -> dict | None:
    """Restore everything into the given objects and return the loop position, or None when there is no state."""
    path = Path(run_dir) / "checkpoints" / FILE
    if not path.is_file():
        return None
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["aura_resume"])
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    weighting.load_state_dict({k[10:]: v for k, v in tensors.items() if k.startswith("weighting.")})
    _restore_optimizer(opt, tensors, meta["optimizer"])
    sched.load_state_dict(meta["scheduler"])
    if meta["scaler"]:
        scaler.load_state_dict(meta["scaler"])
    set_rng_state(tensors, meta["rng"])
    loop = meta["loop"]
    loop["epoch_generator_state"] = tensors.get("loader.generator")
    return loop


def _plain(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if torch.is_tensor(o):
        return o.item() if o.numel() == 1 else o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
