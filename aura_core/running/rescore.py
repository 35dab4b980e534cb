"""Score trained models again without training them: `aura evaluate` (any model, or predictions made elsewhere, into a
new run folder) and `aura grid --rescore` (every finished cell of a grid, on the tiers its params declare now).

An evaluated folder is an ordinary run folder (params.yaml, metrics.json, notebooks 03–05 rendered, index.html), so it
can stand as a `reference_runs` row in any 05_compare; its model.json says what was scored.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd

from aura_core import PROJECT_DIR
from aura_core.base.io import read_json, update_json, write_json
from aura_core.base.params import (
    SCORING_KEYS,
    ParamError,
    Params,
    changed_keys,
    load,
    resolve_data_dir,
    to_dict,
    training_changes,
)
from aura_core.base.run_folder import RunFolder
from aura_core.data.tiers import load_tiers
from aura_core.grids.cells import finished, shard, training_cells
from aura_core.reporting.report import write_index
from aura_core.reporting.single_report import write_run_report
from aura_core.running.grid import refuse_stale, render_compare, summarize
from aura_core.running.runner import execute
from aura_core.scoring.scorers import PredictionFileScorer
from aura_core.training.model import check_encoder
from aura_core.training.validation import check_threshold_rule

EVALUATE_NOTEBOOKS = ["03_tune", "04_stress_test", "05_compare"]
RESCORE_NOTEBOOKS = ["04_stress_test", "05_compare"]
DEFAULT_PROFILE = PROJECT_DIR / "params" / "base.yaml"


def describe_model(model: str | Path) -> dict:
    """What MODEL is: an AURA run folder, an AURA checkpoint (.safetensors) or a Hugging Face classifier folder."""
    model = Path(model).resolve()
    if model.is_file() and model.suffix == ".safetensors":
        run = model.parent.parent if model.parent.name == RunFolder.CHECKPOINTS else model.parent
        return {"kind": "aura_checkpoint", "path": str(model), "description": f"AURA checkpoint {model.name}",
                "source_run": str(run) if RunFolder(run).has_params() else None}
    if model.is_dir() and RunFolder(model).has_params() and RunFolder(model).train_info.is_file():
        info = read_json(RunFolder(model).train_info)
        return {"kind": "aura_checkpoint", "path": str(model / info["checkpoint"]), "source_run": str(model),
                "description": f"AURA run {model.name} ({info['checkpoint']})", "selected_epoch": info["selected_epoch"]}
    if model.is_dir() and (model / "config.json").is_file():
        return {"kind": "hf", "path": str(model), "description": f"Hugging Face model {model.name}"}
    raise ParamError(f"{model}: not an aura run folder (params.yaml + train.json), an aura checkpoint (.safetensors) "
                     f"or a Hugging Face model folder (config.json)")


def evaluation_params(info: dict, profile: str | Path | None, overrides: list[str] | None) -> Params:
    """The params an evaluation runs under. An AURA model keeps the params it was trained with (encoder, heads,
    pooling, preprocessing); only SCORING_KEYS may change. Other models take a profile (default params/base.yaml)."""
    src = info.get("source_run")
    if info["kind"] == "aura_checkpoint" and src and profile is None:
        trained = RunFolder(src).read_params()
        p = RunFolder(src).read_params(overrides)
        if p.data_dir == trained.data_dir and not (p.data_dir and Path(p.data_dir).is_dir()):
            p.data_dir = None  # the run came from another machine: the data of this one (AURA_DATA_DIR)
        training = [k for k in changed_keys(to_dict(trained), to_dict(p)) if k not in SCORING_KEYS]
        if training:
            raise ParamError(f"--set {', '.join(training)}: changes how the model was trained; `aura evaluate` scores "
                             f"it as trained (only {', '.join(SCORING_KEYS)} may change)")
        return p
    if info["kind"] == "aura_checkpoint" and profile is None:
        raise ParamError(f"{info['path']}: no run folder beside the checkpoint; give the params it was trained with "
                         f"(--profile)")
    return load(profile or DEFAULT_PROFILE, overrides)


def evaluate(model: str | Path | None, out: str | Path, profile: str | Path | None = None,
             overrides: list[str] | None = None, predictions: str | Path | None = None,
             notebooks_dir: str | Path | None = None, log_output: bool = False) -> Path:
    """`aura evaluate`: 03's threshold rule, 04 on every declared tier, 05 against the claims, into a new run folder."""
    if (model is None) == (predictions is None):
        raise ParamError("give MODEL or --predictions FILE.csv (one of them)")
    if predictions is not None:
        scorer = PredictionFileScorer(predictions)
        info = {"kind": "predictions", "path": str(Path(predictions).resolve()), "description": scorer.description}
    else:
        info = describe_model(model)
    p = evaluation_params(info, profile, overrides)
    out = Path(out).resolve()
    if not any(o.split("=", 1)[0].strip() == "name" for o in overrides or []):
        p.name = out.name
    if info["kind"] == "predictions":
        check_threshold_rule(p, False, f"{predictions} (a predictions file)")   # before any notebook runs
        scorer.check_sets(list(p.tiers) + [t["name"] for t in p.extra_tiers])
    p.data_dir = str(resolve_data_dir(p))
    if info["kind"] == "aura_checkpoint":
        check_encoder(p.encoder)
    load_tiers(p)  # every tier file checked before any kernel starts
    out.mkdir(parents=True, exist_ok=True)
    run = RunFolder(out)
    for name in (*RunFolder.ARTIFACTS, RunFolder.MODEL, RunFolder.RESCORE):   # its stored epochs stay: nothing lost
        (run / name).unlink(missing_ok=True)
    run.write_params(p)
    write_json(run.model, info)
    src = RunFolder(info["source_run"]) if info.get("source_run") else None
    if src is not None and src.metrics.is_file():  # how it was trained, shown beside how it scores
        trained = src.read_metrics()
        for section in ("data", "train"):
            if section in trained:
                update_json(run.metrics, section, trained[section])
        for name in (RunFolder.EPOCHS, RunFolder.STEPS):
            if (src / name).is_file():
                shutil.copy(src / name, run / name)
    execute(out, EVALUATE_NOTEBOOKS, notebooks_dir, log_output)
    write_index(out)
    print(f"[aura] report: {write_run_report(out)}; index: {run.index}", flush=True)
    return out


def rescore_cell(run_dir: Path, now: Params, notebooks_dir: str | Path | None = None) -> list[str]:
    """Re-run 04 and 05 of a finished run under params that differ only in EVALUATION_ONLY keys (threshold and
    checkpoint as chosen when it ran); returns the keys that changed, recorded in rescore.json. Nothing changed:
    nothing to do."""
    run = RunFolder(run_dir)
    saved = run.read_params()
    blocked = training_changes(to_dict(saved), to_dict(now))   # data_dir and claims never count (NOT_COMPUTED)
    if blocked:
        raise ParamError(f"{run_dir}: {', '.join(blocked)} changed since it ran; that needs a new training, not a "
                         f"re-score")
    now.data_dir = str(resolve_data_dir(now))
    changed = changed_keys(to_dict(saved), to_dict(now))
    if not changed:
        return []  # scored under these very params already
    run.write_params(now)
    done = run.completed()
    timings = run.notebook_seconds()
    execute(run_dir, RESCORE_NOTEBOOKS, notebooks_dir, done=[n for n in done if n not in RESCORE_NOTEBOOKS],
            timings=timings)
    history = read_json(run.rescore)["history"] if run.rescore.is_file() else []
    write_json(run.rescore, {"history": history + [{"when": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                                 "changed": changed}]})
    write_index(run_dir)
    write_run_report(run_dir)
    return changed


def rescore_grid(grid, shard_spec: str | None = None, notebooks_dir: str | Path | None = None):
    """`aura grid --rescore`: every finished cell of the shard re-scored on the tiers the grid's params declare now;
    then the summary and, when every cell has finished, the grid view are rendered again."""
    todo = shard(training_cells(grid), shard_spec)
    refuse_stale(grid, todo, ": a re-score cannot absorb that")
    status = {}
    for c in todo:
        if not finished(c):
            status[c.id] = "not finished (run `aura grid` first): skipped"
            print(f"[grid] {c.id}: {status[c.id]}", flush=True)
            continue
        t0 = time.time()
        changed = rescore_cell(c.dir, load(grid.base, c.overrides), notebooks_dir)
        status[c.id] = (f"re-scored in {time.time() - t0:.0f} s (changed: {', '.join(changed)})" if changed else
                        "up to date: its params already declare these tiers")
        print(f"[grid] {c.id}: {status[c.id]}", flush=True)
    table = summarize(grid)
    if (table["status"] == "finished").all():
        render_compare(grid)
    return pd.DataFrame([{"cell": k, "rescore": v} for k, v in status.items()])
