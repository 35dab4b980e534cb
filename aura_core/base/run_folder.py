"""A run folder: the one place that names its files, and its lifecycle — the resolved params.yaml it starts from, the
files its stages write (metrics.json, one section per notebook), and the prepared training and dev rows 01 writes once
for 02 and 03 to read.

No other module spells a run file's name: they ask a `RunFolder` for the path (`RunFolder(d).metrics`) or the content
(`.read_params()`, `.read_metrics()`, `.stress()`), so renaming a file or reading an older layout touches this module.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import yaml

from aura_core.base.io import atomic_write_text, jsonable, read_json, write_json
from aura_core.base.params import Params, dump, load, resolve_data_dir, to_dict
from aura_core.base.results import StressScores

NOTEBOOKS = ["01_data_prep", "02_train", "03_tune", "04_stress_test", "05_compare"]   # a run's stages, in order


class RunFolder:
    """The files of one run (or one grid cell, or one post-training view). Paths are attributes; the JSON and YAML
    ones are read through methods that name the file in their errors."""
    PARAMS, METRICS, RUN, STATE, TRAIN = "params.yaml", "metrics.json", "run.json", "run_state.json", "train.json"
    EPOCHS, STEPS, INDEX, REPORT, CLAIM = "epochs.csv", "steps.csv", "index.html", "report.html", "claim.json"
    PREDICTIONS, EPOCH_PREDICTIONS, CHECKPOINTS = "predictions", "epoch_predictions", "checkpoints"
    HTML, FIGURES, NOTEBOOK_COPIES, PREPARED = "html", "figures", "notebooks", "prepared"
    RESUME, RESCORE, BROWSER_CHECK = "resume.safetensors", "rescore.json", "browser_check.json"
    FAILED, QUEUED = "failed.json", "queued.json"   # a grid cell's: its last attempt failed / it waits in a queue
    BOTTOM_LINE = "bottom_line.md"   # a grid's compare folder: the verdict and seven answers 05_compare writes
    MODEL = "model.json"   # `aura evaluate`'s folder: what is scored (absent: the run's own selected checkpoint)
    LOCK, REUSED = ".claim.lock", "reused.json"      # who trains it (with CLAIM) / the finished run it was copied from
    GRID_BOOKKEEPING = (LOCK, CLAIM, FAILED, QUEUED)   # a grid's own records of a cell, not its training's
    PAGES = (REPORT, INDEX)   # a folder's front pages, in the order a reader opens them
    # what the stages produce, so a re-run into the same folder never shows a previous run's results
    ARTIFACTS = (METRICS, STEPS, EPOCHS, TRAIN, INDEX, RUN, STATE, f"{CHECKPOINTS}/{RESUME}", f"{PREPARED}/prepared.json")
    EVIDENCE_FILES = (PARAMS, METRICS, STATE, TRAIN, RUN, EPOCHS, STEPS, REUSED)   # a finished cell's record, never weights
    EVIDENCE_FOLDERS = (PREDICTIONS, EPOCH_PREDICTIONS)                      # their CSVs

    def __init__(self, path: "str | Path | RunFolder"):
        self.path = Path(path.path if isinstance(path, RunFolder) else path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --- paths ---
    params = property(lambda self: self.path / self.PARAMS)
    metrics = property(lambda self: self.path / self.METRICS)
    run_info = property(lambda self: self.path / self.RUN)
    state = property(lambda self: self.path / self.STATE)
    train_info = property(lambda self: self.path / self.TRAIN)
    epochs = property(lambda self: self.path / self.EPOCHS)
    steps = property(lambda self: self.path / self.STEPS)
    report = property(lambda self: self.path / self.REPORT)
    index = property(lambda self: self.path / self.INDEX)
    claim = property(lambda self: self.path / self.CLAIM)
    bottom_line = property(lambda self: self.path / self.BOTTOM_LINE)
    model = property(lambda self: self.path / self.MODEL)
    lock = property(lambda self: self.path / self.LOCK)
    reused = property(lambda self: self.path / self.REUSED)
    failed = property(lambda self: self.path / self.FAILED)
    queued = property(lambda self: self.path / self.QUEUED)
    rescore = property(lambda self: self.path / self.RESCORE)
    browser_check = property(lambda self: self.path / self.BROWSER_CHECK)
    predictions = property(lambda self: self.path / self.PREDICTIONS)
    epoch_predictions = property(lambda self: self.path / self.EPOCH_PREDICTIONS)
    checkpoints = property(lambda self: self.path / self.CHECKPOINTS)
    resume = property(lambda self: self.checkpoints / self.RESUME)
    html = property(lambda self: self.path / self.HTML)
    figures = property(lambda self: self.path / self.FIGURES)
    notebook_copies = property(lambda self: self.path / self.NOTEBOOK_COPIES)
    prepared = property(lambda self: self.path / self.PREPARED)

    def prediction(self, key: str) -> Path:
        """The scored rows of one set (a tier key, dev, goemotions_test) at the run's selected epoch."""
        return self.predictions / f"{key}.csv"

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"

    def page(self, notebook: str) -> Path:
        """A notebook's exported HTML page."""
        return self.html / f"{notebook}.html"

    def notebook_copy(self, notebook: str) -> Path:
        return self.notebook_copies / f"{notebook}.ipynb"

    # --- contents ---
    # a grid's compare folder holds its one executed notebook (05_compare) and its page at the top level
    grid_notebook = property(lambda self: self.path / f"{NOTEBOOKS[-1]}.ipynb")
    grid_page = property(lambda self: self.path / f"{NOTEBOOKS[-1]}.html")

    def has_params(self) -> bool:
        return self.params.is_file()

    def read_params(self, overrides: list[str] | None = None) -> Params:
        return load(self.params, overrides)

    def write_params(self, p: Params) -> None:
        dump(p, self.params)

    def read_metrics(self) -> dict:
        return read_json(self.metrics)

    def stress(self) -> StressScores:
        return StressScores.from_json(self.read_metrics()["stress"], str(self.metrics))

    def completed(self) -> list[str] | None:
        """The notebooks run_state.json says finished; None when the run never started."""
        return read_json(self.state)["completed"] if self.state.is_file() else None

    def write_completed(self, done: list[str]) -> None:
        write_json(self.state, {"completed": done})

    def read_run_info(self) -> dict:
        """run.json (the profile, each notebook's seconds), or {} for a run that has not written it."""
        return read_json(self.run_info) if self.run_info.is_file() else {}

    def notebook_seconds(self) -> dict:
        return self.read_run_info().get("notebook_seconds", {})

    def training_progress(self) -> str:
        """Where a running or interrupted training stands, from steps.csv as written so far: 'epoch 3/5, step 4,388
        of ≈ 8,645' (the total from the first epoch's steps once it is done), or '' before the first logged step."""
        if not self.steps.is_file():
            return ""
        rows = [line.split(",") for line in self.steps.read_text(encoding="utf-8").splitlines()]
        if len(rows) < 2 or "step" not in rows[0] or "epoch" not in rows[0]:
            return ""
        i, e = rows[0].index("step"), rows[0].index("epoch")
        done = [(int(r[i]), int(r[e])) for r in rows[1:] if len(r) == len(rows[0]) and r[i].isdigit() and r[e].isdigit()]
        if not done:
            return ""
        step, epoch = done[-1]
        epochs = self.read_params().epochs if self.has_params() else None
        text = f"epoch {epoch}/{epochs}" if epochs else f"epoch {epoch}"
        first = max((s for s, ep in done if ep == 1), default=None)
        total = f" of ≈ {first * epochs:,}" if epochs and first and epoch > 1 else ""
        return f"{text}, step {step:,}{total}"

    def finished(self) -> bool:
        """All five notebooks ran and the metrics are written."""
        return self.metrics.is_file() and self.completed() == NOTEBOOKS

    def clear_results(self) -> None:
        for name in self.ARTIFACTS:
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.epoch_predictions, ignore_errors=True)  # a previous run's epochs are not this run's


def load_run_params(run_dir: str | Path) -> Params:
    """The resolved params a run was started with (written by `aura run`)."""
    return RunFolder(run_dir).read_params()


def init_run_dir(profile: str | Path, run_dir: str | Path, overrides: list[str] | None = None) -> Params:
    """Resolve a profile into run_dir/params.yaml, pinning the data dir, and clear a previous run's results."""
    p = load(profile, overrides)
    if p.data_dir is None:
        p.data_dir = str(resolve_data_dir(p))
    resolve_data_dir(p)
    run = RunFolder(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    run.clear_results()
    run.write_params(p)
    return p


def open_run(run_dir: str | Path, profile: str | Path | None = None) -> Params:
    """For notebooks: the run folder's params.yaml (papermill, `aura run`), or, opened by hand in JupyterLab on a new
    folder, the given profile resolved into it."""
    run = RunFolder(run_dir)
    if run.has_params():
        return run.read_params()
    if profile is None:
        raise FileNotFoundError(f"{run.params} not found and no profile given")
    return init_run_dir(profile, run_dir)


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
    folder = RunFolder(run_dir).prepared
    for name, df in frames.items():
        atomic_write_text(folder / f"{name}.json", json.dumps(_frame_json(df), default=jsonable))
    atomic_write_text(folder / "prepared.json", json.dumps({"params_digest": params_digest(p), "frames": list(frames),
                                                            **info}, default=jsonable, indent=1))


def load_prepared(run_dir: str | Path, p: Params) -> tuple[dict[str, pd.DataFrame], dict] | None:
    """(frames, info) when the run folder holds rows prepared from these params; None otherwise."""
    folder = RunFolder(run_dir).prepared
    if not (folder / "prepared.json").is_file():
        return None
    info = read_json(folder / "prepared.json")
    if info.pop("params_digest") != params_digest(p):
        return None
    frames = {name: _frame_from_json(read_json(folder / f"{name}.json")) for name in info.pop("frames")}
    return frames, info
