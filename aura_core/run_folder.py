"""A run folder's lifecycle: the resolved params.yaml it starts from, the files its stages write (metrics.json, one
section per notebook), and the prepared training and dev rows 01 writes once for 02 and 03 to read.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import yaml

from .data import resolve_data_dir
from .io import atomic_write_text, jsonable, read_json
from .params import Params, dump, load, to_dict

# The files the stages produce, so a re-run into the same folder never shows a previous run's results.
RUN_ARTIFACTS = ["metrics.json", "steps.csv", "epochs.csv", "train.json", "index.html", "run.json", "run_state.json",
                 "checkpoints/resume.safetensors", "prepared/prepared.json"]
PREPARED = "prepared"
NOTEBOOKS = ["01_data_prep", "02_train", "03_tune", "04_stress_test", "05_compare"]   # a run's stages, in order


def load_run_params(run_dir: str | Path) -> Params:
    """The resolved params a run was started with (written by `aura run`)."""
    return load(Path(run_dir) / "params.yaml")


def init_run_dir(profile: str | Path, run_dir: str | Path, overrides: list[str] | None = None) -> Params:
    """Resolve a profile into run_dir/params.yaml, pinning the data dir, and clear a previous run's results."""
    p = load(profile, overrides)
    if p.data_dir is None:
        p.data_dir = str(resolve_data_dir(p))
    resolve_data_dir(p)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_ARTIFACTS:
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "epoch_predictions", ignore_errors=True)  # a previous run's epochs are not this run's
    dump(p, run_dir / "params.yaml")
    return p


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
# the prepared rows: written once per params, read by every later stage

def params_digest(p: Params) -> str:
    """What the prepared rows were made from: a digest of every resolved param (a change to any key prepares anew)."""
    return hashlib.sha256(yaml.safe_dump(to_dict(p), sort_keys=True).encode()).hexdigest()[:16]


def _frame_json(df: pd.DataFrame) -> dict:
    return {"dtypes": {c: str(t) for c, t in df.dtypes.items()}, "columns": df.to_dict("list")}


def _frame_from_json(obj: dict) -> pd.DataFrame:
    return pd.DataFrame(obj["columns"], columns=list(obj["dtypes"])).astype(obj["dtypes"])


def save_prepared(run_dir: str | Path, p: Params, frames: dict[str, pd.DataFrame], info: dict) -> None:
    """The frames (exact dtypes, no pickle) and the JSON facts beside them; prepared.json, written last, marks them
    complete for these params."""
    folder = Path(run_dir) / PREPARED
    for name, df in frames.items():
        atomic_write_text(folder / f"{name}.json", json.dumps(_frame_json(df), default=jsonable))
    atomic_write_text(folder / "prepared.json", json.dumps({"params_digest": params_digest(p), "frames": list(frames),
                                                            **info}, default=jsonable, indent=1))


def load_prepared(run_dir: str | Path, p: Params) -> tuple[dict[str, pd.DataFrame], dict] | None:
    """(frames, info) when the run folder holds rows prepared from these params; None otherwise."""
    folder = Path(run_dir) / PREPARED
    if not (folder / "prepared.json").is_file():
        return None
    info = read_json(folder / "prepared.json")
    if info.pop("params_digest") != params_digest(p):
        return None
    frames = {name: _frame_from_json(read_json(folder / f"{name}.json")) for name in info.pop("frames")}
    return frames, info
