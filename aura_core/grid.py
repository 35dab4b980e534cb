"""`aura grid`: a base profile × configurations × seeds, every cell an ordinary run folder.

A grid file (params/grids/<name>.yaml):

    name: diagnosis
    base: ../cpu.yaml                  # profile, relative to the grid file
    seeds: [1, 2, 3]
    baseline: partner_b                # the configuration every factor is compared with
    configs:                           # a listed set: one factor changed per configuration ...
      - {label: partner_b, set: {}}
      - {label: interleaved, factor: "paradigm (pseudo-labels, batch composition)", set: {paradigm: interleaved}}
    # ... or a cartesian product instead of configs:
    # factors: {paradigm: [paired, interleaved], threshold: [0.5, tuned]}

Cells run in outputs/grids/<name>/<label>__seed<seed>/. A finished cell (all five notebooks done) is skipped on a
re-run; --shard i/n takes every n-th cell (each cell in exactly one shard: SLURM arrays, several machines); --jobs N
runs N cells at once on one machine, splitting its cores between them.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import yaml

from . import epoch_predictions, reuse, scheduler
from .cell_claim import describe, holder, is_held, try_claim
from .results import run_scores
from .factors import factor_name
from .io import atomic_write_text, read_json, write_json
from .params import POST_TRAINING_KEYS, ParamError, load, read_profile, to_dict, training_changes
from .run_folder import RunFolder
from .runner import KERNEL_ARGS, default_notebooks_dir, export_html
from .single_report import write_grid_report


@dataclass
class Config:
    label: str
    overrides: dict
    factor: str | None = None
    vs: str | None = None  # the configuration this one is compared with (default: the grid's baseline)
    view_of: str | None = None  # a post-training view: scored from that config's trainings, never trained itself


@dataclass
class Grid:
    name: str
    path: Path
    base: Path
    seeds: list[int]
    configs: list[Config]
    baseline: str
    root: Path = field(default=Path("outputs/grids"))
    # extra (factor, config, vs) contrasts over cells the configs already hold, e.g. masked vs interleaved
    comparisons: list[tuple[str, str, str]] = field(default_factory=list)
    # the configurations that train (a factorial with post_training: its training factors only); default: every
    # config that is not a view
    trainings: list[Config] = field(default_factory=list)
    shapley: dict | None = None  # {from, to}: the two configurations whose difference the Shapley values split
    reuse: list[str] = field(default_factory=list)  # grids under the same root whose finished trainings it adopts
    # {factor, from, to, across}: one factor's effect (from → to) at each level of another factor, and how it moves
    effect_across: dict | None = None
    # a multiverse: the sampled universes (switch → value) and the factor under test {key, from, to}
    multiverse: list[dict] = field(default_factory=list)
    multiverse_factor: dict | None = None

    def __post_init__(self):
        if not self.trainings:
            self.trainings = [c for c in self.configs if not c.view_of]

    def contrasts(self) -> list[tuple[str, str, str]]:
        """Every (factor, config, vs) the attribution measures: each config with a factor; in a factorial, each
        configuration one setting away from the baseline (named after that param; masked training is the
        pseudo-label question); then the comparisons."""
        listed = [(c.factor, c.label, c.vs or self.baseline) for c in self.configs if c.factor and c.label != self.baseline]
        if self.multiverse:   # exactly the factor's effect inside each universe
            return listed + list(self.comparisons)
        base = next(c for c in self.configs if c.label == self.baseline).overrides
        auto = []
        for c in self.configs:
            if c.factor or c.label == self.baseline:
                continue
            diff = [k for k in set(c.overrides) | set(base) if c.overrides.get(k) != base.get(k)]
            if len(diff) == 1:
                auto.append((factor_name(diff[0], c.overrides.get(diff[0])), c.label, self.baseline))
        return listed + auto + list(self.comparisons)

    @property
    def dir(self) -> Path:
        return self.root / self.name


@dataclass
class Cell:
    config: Config
    seed: int
    dir: Path                                   # the folder holding the training this cell reads
    choice: dict = field(default_factory=dict)  # post-training keys scored from that folder's epoch predictions

    @property
    def id(self) -> str:
        return f"{_slug(self.config.label)}__seed{self.seed}"

    @property
    def is_view(self) -> bool:
        return bool(self.choice)

    @property
    def overrides(self) -> dict:
        return {**self.config.overrides, "seed": self.seed}

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.dir)


GRID_KEEP_CHECKPOINTS = "selected"  # a finished cell keeps its selected weights (enough to --rescore), no resume state
RUNS_FILE = "runs.jsonl"  # one line per `aura grid` run: its measured wall clock
GRID_KEYS = {"name", "base", "seeds", "configs", "factors", "post_training", "baseline", "description", "comparisons",
             "shapley", "reuse", "effect_across", "multiverse"}


def load_grid(path: str | Path, root: str | Path = "outputs/grids") -> Grid:
    """A grid file read and checked whole: every key, every reference between configurations, and every
    configuration resolved into params, so a misspelling fails now rather than hours into a run."""
    path = Path(path)
    raw = _read_grid_file(path)
    configs, trainings = _factor_configs(raw, path)
    universes, mv_factor = [], None
    if "multiverse" in raw:
        universes, mv_factor, generated = multiverse_configs(raw["multiverse"], path)
        configs += generated
        trainings += generated
    listed = _listed_configs(raw, path)   # after the product: in a factorial, controls and other causes
    configs += listed
    trainings += [c for c in listed if not c.view_of]
    labels = [c.label for c in configs]
    if len(set(labels)) != len(labels):
        raise ParamError(f"{path}: duplicate config labels")
    baseline = raw.get("baseline", labels[0])
    comparisons = _comparisons(raw, path)
    for ref in [baseline] + [c.vs for c in configs if c.vs] + [x for _, a, b in comparisons for x in (a, b)]:
        if ref not in labels:
            raise ParamError(f"{path}: baseline/vs/comparison {ref!r} is not a config label ({labels})")
    _resolve_views(configs, trainings, listed, path)
    shapley, reuse, effect = _analysis_keys(raw, path, labels)
    grid = Grid(str(raw["name"]), path, (path.parent / raw["base"]).resolve(), [int(s) for s in raw["seeds"]],
                configs, baseline, Path(root), comparisons, trainings, shapley, reuse, effect, universes, mv_factor)
    for c in configs + grid.trainings:  # every configuration must resolve: a misspelled key fails now, not hours in
        p = load(grid.base, {**c.overrides, "seed": grid.seeds[0]})
        if c in grid.trainings and not p.epoch_predictions and any(v.view_of == c.label for v in configs):
            raise ParamError(f"{path}: config {c.label!r} has views but epoch_predictions: false")
    return grid


def _read_grid_file(path: Path) -> dict:
    if not path.is_file():
        raise ParamError(f"{path}: grid file not found")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(raw) - GRID_KEYS
    if unknown:
        raise ParamError(f"{path}: unknown grid key(s) {sorted(unknown)}; valid: {sorted(GRID_KEYS)}")
    for key in ("name", "base", "seeds"):
        if key not in raw:
            raise ParamError(f"{path}: grid key '{key}' is required")
    if "configs" not in raw and "factors" not in raw and "multiverse" not in raw:
        raise ParamError(f"{path}: give 'configs' (a listed set), 'factors' (a cartesian product) or both")
    if "post_training" in raw and "factors" not in raw:
        raise ParamError(f"{path}: post_training goes with factors; in a configs list give a view "
                         f"{{label, view_of: <config>, set: {{threshold: tuned}}}}")
    return raw


def _factor_configs(raw: dict, path: Path) -> tuple[list[Config], list[Config]]:
    """(configurations, trainings) of the cartesian product; with post_training its training factors train and
    every mix with the post-training choices is a view of one of them."""
    if "factors" not in raw:
        return [], []
    product = product_configs(raw["factors"])
    post = raw.get("post_training") or {}
    bad = set(post) - set(POST_TRAINING_KEYS) or set(post) & set(raw["factors"])
    if bad:
        raise ParamError(f"{path}: post_training: {sorted(bad)} — only {list(POST_TRAINING_KEYS)}, and not also "
                         f"in factors")
    configs = [Config(f"{t.label},{v.label}" if v.label else t.label, {**t.overrides, **v.overrides},
                      view_of=t.label if post else None) for t in product for v in product_configs(post)]
    return configs, (product if post else list(configs))


def _listed_configs(raw: dict, path: Path) -> list[Config]:
    listed = []
    for i, c in enumerate(raw.get("configs") or []):
        if not isinstance(c, dict) or "label" not in c or set(c) - {"label", "set", "factor", "vs", "view_of"}:
            raise ParamError(f"{path}: configs[{i}]: expected {{label, set, factor, vs, view_of}}, got {c!r}")
        listed.append(Config(str(c["label"]), dict(c.get("set") or {}), c.get("factor"), c.get("vs"), c.get("view_of")))
    return listed


def _comparisons(raw: dict, path: Path) -> list[tuple[str, str, str]]:
    out = []
    for i, c in enumerate(raw.get("comparisons") or []):
        if not isinstance(c, dict) or set(c) != {"factor", "config", "vs"}:
            raise ParamError(f"{path}: comparisons[{i}]: expected {{factor, config, vs}}, got {c!r}")
        out.append((str(c["factor"]), str(c["config"]), str(c["vs"])))
    return out


def _resolve_views(configs: list[Config], trainings: list[Config], listed: list[Config], path: Path) -> None:
    """Each view names a configuration that trains; a listed view sets post-training keys only, over its target's."""
    by_label = {c.label: c for c in trainings}
    for c in configs:
        if c.view_of is None:
            continue
        target = by_label.get(c.view_of)
        if target is None:
            raise ParamError(f"{path}: config {c.label!r}: view_of {c.view_of!r} is not a config that trains")
        if c in listed:
            other = set(c.overrides) - set(POST_TRAINING_KEYS)
            if other:
                raise ParamError(f"{path}: config {c.label!r} is a view of {c.view_of!r} and may set only "
                                 f"{list(POST_TRAINING_KEYS)}, not {sorted(other)}")
            c.overrides = {**target.overrides, **c.overrides}


def _analysis_keys(raw: dict, path: Path, labels: list[str]) -> tuple[dict | None, list[str], dict | None]:
    """shapley (from/to configurations), reuse (other grids' names) and effect_across, checked."""
    shapley = raw.get("shapley")
    if shapley is not None and (not isinstance(shapley, dict) or set(shapley) != {"from", "to"}
                                or not {shapley["from"], shapley["to"]} <= set(labels)):
        raise ParamError(f"{path}: shapley: expected {{from: <config label>, to: <config label>}}, got {shapley!r}")
    reuse = raw.get("reuse") or []
    if not isinstance(reuse, list) or not all(isinstance(r, str) and r and "/" not in r for r in reuse) \
            or raw["name"] in reuse:
        raise ParamError(f"{path}: reuse: expected a list of other grids' names (folders under the grid root), "
                         f"got {reuse!r}")
    effect = raw.get("effect_across")
    if effect is not None:
        levels = raw.get("factors") or {}
        if not isinstance(effect, dict) or set(effect) != {"factor", "from", "to", "across"} \
                or effect["factor"] not in levels or effect["across"] not in levels \
                or effect["factor"] == effect["across"] or len(levels[effect["across"]]) < 2 \
                or not {effect["from"], effect["to"]} <= set(levels[effect["factor"]]):
            raise ParamError(f"{path}: effect_across: expected {{factor, from, to, across}}: two of the grid's factors, "
                             f"from/to levels of the first, ≥ 2 levels of the second; got {effect!r}")
    return shapley, reuse, effect


def multiverse_configs(spec: dict, path: Path) -> tuple[list[dict], dict, list[Config]]:
    """`multiverse: {universes: N, seed: S, switches: {param: [values]}, factor: {param: [from, to]}}` — N universes
    drawn without replacement from the product of the switches (seeded: the same file gives the same universes), each
    trained with the factor at both values, so the factor's effect is a paired contrast inside each universe
    (Steegen et al. 2016; Bell et al. 2022). Configs `u01,<param>=<from>` and `u01,<param>=<to>` (factor
    `universe:u01`, vs the first)."""
    if not isinstance(spec, dict) or set(spec) != {"universes", "seed", "switches", "factor"}:
        raise ParamError(f"{path}: multiverse: expected {{universes, seed, switches, factor}}, got {spec!r}")
    switches, factor = spec["switches"], spec["factor"]
    if not isinstance(switches, dict) or not switches or not all(isinstance(v, list) and len(v) >= 2
                                                                  for v in switches.values()):
        raise ParamError(f"{path}: multiverse: switches: expected {{param: [≥ 2 values]}}, got {switches!r}")
    if not isinstance(factor, dict) or len(factor) != 1 or len(next(iter(factor.values()))) != 2 \
            or next(iter(factor)) in switches:
        raise ParamError(f"{path}: multiverse: factor: expected {{param: [from, to]}} not among the switches, "
                         f"got {factor!r}")
    keys = list(switches)
    product = list(itertools.product(*(switches[k] for k in keys)))
    n = int(spec["universes"])
    if not 1 <= n <= len(product):
        raise ParamError(f"{path}: multiverse: universes: {n} is not in 1..{len(product)} (the switches' product)")
    picks = np.random.default_rng(int(spec["seed"])).choice(len(product), size=n, replace=False)
    universes = [dict(zip(keys, product[i])) for i in sorted(picks)]
    key, (start, end) = next(iter(factor.items()))
    configs = []
    for u, universe in enumerate(universes, 1):
        ref = Config(f"u{u:02d},{key}={start}", {**universe, key: start})
        configs += [ref, Config(f"u{u:02d},{key}={end}", {**universe, key: end}, f"universe:u{u:02d}", ref.label)]
    return universes, {"key": key, "from": start, "to": end}, configs


def product_configs(factors: dict) -> list[Config]:
    """The cartesian product of factor levels as configurations labelled key=value,…; one empty config for {}."""
    keys = list(factors)
    return [Config(",".join(f"{k}={v}" for k, v in zip(keys, values)), dict(zip(keys, values)))
            for values in itertools.product(*(factors[k] for k in keys))]


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", label)


def training_cells(grid: Grid) -> list[Cell]:
    """One per training (training config × seed): what `aura grid` runs, claims, resumes and reports the state of."""
    return [Cell(c, s, grid.dir / f"{_slug(c.label)}__seed{s}") for c in grid.trainings for s in grid.seeds]


def cells(grid: Grid) -> list[Cell]:
    """One per reported configuration × seed. A view reads its training's folder under its post-training choice;
    a view that has a finished folder of its own (a grid run before views existed) reads that, as trained."""
    out = []
    for c in grid.configs:
        for s in grid.seeds:
            own = grid.dir / f"{_slug(c.label)}__seed{s}"
            if c.view_of is None or own.is_dir():
                out.append(Cell(c, s, own))
                continue
            p = load(grid.base, {**c.overrides, "seed": s})
            out.append(Cell(c, s, grid.dir / f"{_slug(c.view_of)}__seed{s}", {k: getattr(p, k) for k in POST_TRAINING_KEYS}))
    return out


def shard(all_cells: list[Cell], spec: str | None) -> list[Cell]:
    """'i/n' (1-based): cells i, i+n, i+2n, … of the fixed cell order."""
    if not spec:
        return all_cells
    m = re.fullmatch(r"(\d+)/(\d+)", spec)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ParamError(f"--shard {spec!r}: expected i/n with 1 <= i <= n")
    i, n = int(m.group(1)), int(m.group(2))
    return [c for k, c in enumerate(all_cells) if k % n == i - 1]


def finished(cell: Cell) -> bool:
    """Its folder's five notebooks have run (and, for a view, the folder holds the epoch predictions it reads)."""
    return cell.run.finished() and (not cell.is_view or bool(epoch_predictions.epochs(cell.dir)))


def reusable(grid: Grid, cell: Cell) -> Path | None:
    """A finished training of a grid named in `reuse` that is exactly this cell's, when this cell never started."""
    if not grid.reuse or cell.run.state.is_file():
        return None
    return reuse.find([grid.root / name for name in grid.reuse], load(grid.base, run_overrides(grid, cell)))


def cell_metrics(cell: Cell) -> dict:
    """The cell's metrics.json, or for a view, the metrics its training gives under its post-training choice."""
    if not cell.is_view:
        return cell.run.read_metrics()
    from .post_training import view_metrics   # torch and transformers: not for `--status`
    return view_metrics(cell.dir, cell.run.read_params(), cell.choice)


def first_baseline_cell(grid: Grid) -> Cell | None:
    """The baseline's first finished seed: the cell whose run stands for the grid where one run is needed."""
    return next((c for c in cells(grid) if c.config.label == grid.baseline and finished(c)), None)


def stale_keys(grid: Grid, cell: Cell) -> list[str]:
    """Params in which an existing cell folder was trained differently from what the grid file asks for now (edited
    after it ran). Keys that only decide what it is scored on (EVALUATION_ONLY) are not stale: `--rescore` them."""
    if not cell.run.has_params():
        return []
    return [k for k in training_changes(to_dict(cell.run.read_params()), to_dict(load(grid.base, cell.overrides)))
            if k not in reuse.NAMING_KEYS]


def refuse_stale(grid: Grid, cells_: list[Cell], why: str = "") -> None:
    """Never skip, resume, submit or re-score a cell that ran under other params than the grid file gives now: its
    numbers would be mislabelled. One ParamError naming the folder and the keys."""
    for c in cells_:
        keys = stale_keys(grid, c)
        if keys:
            raise ParamError(f"{c.dir}: ran with other params than {grid.path} gives now ({', '.join(keys)}){why}; "
                             f"move the folder away or give the grid another name")


def run_overrides(grid: Grid, cell: Cell) -> dict:
    """What a cell's `aura run` sets over the grid's profile. Unless the profile or config says otherwise, grid cells
    keep only their selected weights once finished (keep_checkpoints: selected), and a training that no view of the
    grid reads stores no epoch predictions (two passes over every test set saved)."""
    overrides = dict(cell.overrides)
    profile = read_profile(grid.base)
    if "keep_checkpoints" not in overrides and "keep_checkpoints" not in profile:
        overrides["keep_checkpoints"] = GRID_KEEP_CHECKPOINTS
    if "epoch_predictions" not in overrides and "epoch_predictions" not in profile \
            and not any(c.view_of == cell.config.label for c in grid.configs):
        overrides["epoch_predictions"] = False
    return overrides


def cell_command(grid: Grid, cell: Cell) -> list[str]:
    """`aura run` for one cell (--resume when an earlier attempt left a run state)."""
    cmd = [sys.executable, "-m", "aura_core.cli", "run", str(grid.base), "--out", str(cell.dir)]
    if cell.run.state.is_file():
        cmd.append("--resume")  # a cell interrupted earlier continues where it stopped
    overrides = run_overrides(grid, cell)
    for k, v in overrides.items():
        cmd += ["--set", f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"]
    return cmd


def ignore_scheduler_warning() -> None:
    """In the cell's `aura run` (before exec; inherited by its kernels): SLURM's advance warning (USR2, submitit's
    `--signal`) goes to every process of the job, and is for the task that submitit runs to act on (requeue on
    preemption, executors.py), not a reason for the training to die."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def run_cell(grid: Grid, cell: Cell, threads: int, log_dir: Path) -> str:
    """Claim the cell and run it with `aura run` in a subprocess that holds the claim; returns 'ok', 'skipped: …'
    (another live process holds it, or finished it meanwhile), 'interrupted: …' (its run was killed by a signal, as a
    scheduler stops a job: it resumes on the next run) or 'failed: <last error line>' (also in failed.json)."""
    claim = try_claim(cell.dir)
    if claim is None:
        return f"skipped: held by {describe(holder(cell.dir))}"
    try:
        if claim.took_over:
            print(f"[grid] {cell.id}: taking over the claim of {describe(claim.took_over)}: its process is gone",
                  flush=True)
        if finished(cell):
            return "skipped: finished by another process"
        source = reusable(grid, cell)
        if source is not None:
            reuse.adopt(source, cell.dir)
            return f"reused: {source} (trained exactly as this cell; copied, not trained again)"
        for stale in (cell.run.failed, cell.run.queued):  # this attempt replaces the last one's record
            stale.unlink(missing_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / f"{cell.id}.log", "w") as log:
            rc = subprocess.run(cell_command(grid, cell), stdout=log, stderr=subprocess.STDOUT, env=env,
                                pass_fds=(claim.fd,), preexec_fn=ignore_scheduler_warning).returncode
        if rc == 0:
            return "ok"
        if rc < 0:  # killed by a signal (cancelled, preempted, timed out): interrupted, resumable, not a failure
            return f"interrupted: its run was killed by {signal.Signals(-rc).name}"
        lines = [line for line in (log_dir / f"{cell.id}.log").read_text().strip().splitlines()
                 if line.strip() and "%|" not in line]   # the last line that is not a progress bar
        status = f"failed: {lines[-1] if lines else f'exit {rc}'}"
        write_json(cell.run.failed, {"status": status, "log": str(log_dir / f"{cell.id}.log"),
                                            "at": time.strftime("%Y-%m-%d %H:%M:%S")})
        return status
    finally:
        claim.release()


def expected_work(grid: Grid, cell: Cell) -> tuple[int, bool]:
    """What orders the cells, not a time estimate: training rows × epochs (a row count left to the whole set counts as
    the largest), then whether it also stores test-set predictions for views."""
    p = load(grid.base, run_overrides(grid, cell))
    whole = 10 ** 9
    rows = (p.olid_train_rows or whole) + ((p.goemotions_train_rows or whole) if "emotion" in p.tasks else 0)
    return rows * p.epochs, p.epoch_predictions


def longest_first(grid: Grid, pending: list[Cell]) -> list[Cell]:
    """The cells in decreasing expected work, ties in grid order: with --jobs N the workers take cells in this order,
    so the last to start are the shortest and no worker waits long on the others at the end (the fidelity grid's
    10,000-row cells first, the factorial's single-task control last)."""
    work = {c.id: expected_work(grid, c) for c in pending}
    return sorted(pending, key=lambda c: work[c.id], reverse=True)


def run_grid(grid: Grid, jobs: int = 1, shard_spec: str | None = None, dry_run: bool = False) -> pd.DataFrame:
    todo = shard(training_cells(grid), shard_spec)
    refuse_stale(grid, todo)
    status = {}
    pending = []
    for c in todo:
        if finished(c):
            status[c.id] = "finished earlier (skipped)"
        else:
            pending.append(c)
    pending = longest_first(grid, pending)
    print(f"[grid] {grid.name}: {len(todo)} cells in this shard, {len(todo) - len(pending)} finished, "
          f"{len(pending)} to run with {jobs} job(s)", flush=True)
    if dry_run:
        for c in pending:
            source = reusable(grid, c)
            print(f"[grid] would reuse {source} for {c.id}" if source else f"[grid] would run {c.id}: {c.overrides}")
        return summarize(grid)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    started = time.time()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for c, st in zip(pending, pool.map(lambda c: run_cell(grid, c, threads, grid.dir / "logs"), pending)):
                status[c.id] = st
                print(f"[grid] {c.id}: {st}", flush=True)
        write_json(grid.dir / f"status{'' if not shard_spec else '_' + shard_spec.replace('/', 'of')}.json", status)
        return finish_grid(grid, status)
    finally:
        log_invocation(grid, started, jobs, shard_spec, pending, status)


def log_invocation(grid: Grid, started: float, jobs: int, shard_spec: str | None, pending: list[Cell],
                   status: dict[str, str]) -> None:
    """One line of <grid>/runs.jsonl per `aura grid` that ran: when, with how many jobs on how many cores, which
    cells it ran and how they ended, whether it rendered — a grid's wall clock is measured, not reconstructed from
    file times (benchmarks/grid_times.py reads it). Ctrl-C logs what ran so far; a killed process leaves no line."""
    report = RunFolder(grid.dir / "compare").report
    line = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "ended": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.time() - started, 1), "jobs": jobs,
            "cpus": os.cpu_count(), "shard": shard_spec, "ran": [c.id for c in pending],
            "ended_as": {c.id: status.get(c.id, "interrupted") for c in pending},
            "rendered": report.is_file() and report.stat().st_mtime >= started}
    grid.dir.mkdir(parents=True, exist_ok=True)
    with open(grid.dir / RUNS_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")


def finish_grid(grid: Grid, status: dict[str, str]) -> pd.DataFrame:
    """Summary; the grid view once every cell has finished (by whichever process: one renders it); failures raised."""
    table = summarize(grid)
    if (table["status"] == "finished").all():
        claim = try_claim(grid.dir / "compare")
        if claim is None:
            print(f"[grid] compare: being rendered by {describe(holder(grid.dir / 'compare'))}", flush=True)
        else:
            try:
                render_compare(grid)
            finally:
                claim.release()
    failed = {k: v for k, v in status.items() if v.startswith("failed")}
    if failed:
        raise RuntimeError(f"{len(failed)} grid cell(s) failed, first: {next(iter(failed))}: {next(iter(failed.values()))}")
    return table


def cell_scores(metrics: dict) -> dict:
    stress = metrics.get("stress", {})
    out = run_scores(metrics)
    out["threshold"] = stress.get("threshold")
    out["shortcut_gap"] = stress.get("summary", {}).get("shortcut_gap")
    for level, r in stress.get("summary", {}).get("pred_over_true_pos_rate", {}).items():
        out[f"pred/true {level}"] = r
    out["selected_epoch"] = metrics.get("train", {}).get("selected_epoch")
    return out


def cell_table(grid: Grid) -> pd.DataFrame:
    """One row per cell (missing or unfinished cells included, with their status) and its headline numbers."""
    rows = []
    for c in cells(grid):
        row = {"config": c.config.label, "factor": c.config.factor, "seed": c.seed, "cell": c.id,
               "reads": c.dir.name if c.is_view else "", "disk_mb": 0.0 if c.is_view else round(disk_bytes(c.dir) / 1e6, 1)}
        if finished(c):
            row |= {"status": "finished", **cell_scores(cell_metrics(c))}
        elif c.is_view and finished(Cell(c.config, c.seed, c.dir)):
            row["status"] = f"not finished: {c.dir.name} was trained before epoch predictions were stored; train it again"
        else:
            row["status"] = "not finished"
        rows.append(row)
    return pd.DataFrame(rows)


def disk_bytes(folder: Path) -> int:
    """Bytes of every file under folder (0 when absent)."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) if Path(folder).is_dir() else 0


def cell_state(cell: Cell) -> str:
    """What the cell folder says: finished, running (a live process holds its claim), failed (last attempt),
    queued (submitted to an executor, not started), interrupted (resumes on the next run) or pending."""
    if finished(cell):
        return "finished"
    if is_held(cell.dir):
        return "running"
    if cell.run.failed.is_file():
        return "failed"
    if cell.run.queued.is_file():
        return "failed" if ended_job(cell) else "queued"
    if cell.run.state.is_file():
        return "interrupted"
    return "pending"


def ended_job(cell: Cell) -> Path | None:
    """The log of the submitit job a queued cell was given, when that job has ended (submitit wrote its result)
    without the cell ever starting: it died before claiming it."""
    queued = read_json(cell.run.queued)
    job = queued.get("job_id")
    if not job:
        return None
    folder = cell.dir.parent / "submitit" / str(job)
    return folder / f"{job}_0_log.err" if (folder / f"{job}_0_result.pkl").is_file() else None


def grid_status(grid: Grid) -> pd.DataFrame:
    """`aura grid --status`: one row per cell, read from the cell folders and, for cells submitted to SLURM, from the
    scheduler (the `scheduler` column: its state of the cell's newest job). A queued cell whose job the scheduler no
    longer knows is `lost`; one whose job ended before the cell started is `failed`, named as the scheduler names it."""
    cells_ = training_cells(grid)
    jobs = {c.id: scheduler.last_job(c.dir) for c in cells_}
    said = scheduler.job_states(jobs)
    rows = []
    for c in cells_:
        state, detail, job = cell_state(c), "", jobs[c.id]
        word = said.get(c.id, "")
        if state == "running":
            detail = describe(holder(c.dir))
        elif state == "failed" and c.run.failed.is_file():
            detail = read_json(c.run.failed)["status"]
        elif state == "failed":
            detail = f"its job ended before the cell started: see {ended_job(c).relative_to(grid.dir)}"
        elif state == "interrupted" and word and word not in scheduler.ENDED | {scheduler.LOST, scheduler.GONE}:
            # stopped mid-run, and its job is back in the queue (preempted and requeued): that job resumes it
            state, detail = "queued", f"requeued: job {job['job_id']} ({word}) resumes it when it runs"
        elif state == "queued" and word in (scheduler.LOST, scheduler.GONE):
            state, detail = "lost", (f"job {job['job_id']}: the scheduler no longer knows it (not queued, "
                                     + ("not in its accounting" if word == scheduler.LOST else "no accounting to ask")
                                     + "); submit the grid again")
        elif state == "queued" and word in scheduler.ENDED:
            state, detail = "failed", f"job {job['job_id']} ended ({word}) before the cell started"
        elif state == "queued":
            detail = f"job {read_json(c.run.queued).get('job_id')}"
        elif state == "finished" and c.run.reused.is_file():
            detail = f"reused from {read_json(c.run.reused)['from']}"
        rows.append({"cell": c.id, "state": state, "scheduler": f"{word} (job {job['job_id']})" if word else "",
                     "detail": detail, "disk_mb": round(disk_bytes(c.dir) / 1e6, 1)})
    return pd.DataFrame(rows)


def summarize(grid: Grid) -> pd.DataFrame:
    """cell_table written as the grid's summary.csv / summary.json."""
    table = cell_table(grid)
    grid.dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(grid.dir / "summary.csv", table.to_csv(index=False))
    write_json(grid.dir / "summary.json", {"grid": grid.name, "base": str(grid.base), "baseline": grid.baseline,
                                           "seeds": grid.seeds, "disk_mb": round(disk_bytes(grid.dir) / 1e6, 1),
                                           "cells": table.to_dict("records")})
    return table


def short_names(grid: Grid) -> dict[str, str]:
    """A factorial's configurations named by what they change from the baseline (which is `baseline`): the generated
    text reads `validation=separate`, not five settings. Listed configurations keep their labels; {} when nothing
    would be shorter."""
    base = next(c for c in grid.configs if c.label == grid.baseline)
    if base.label != ",".join(f"{k}={v}" for k, v in base.overrides.items()):
        return {}
    out = {}
    for c in grid.configs:
        if c.label == ",".join(f"{k}={v}" for k, v in c.overrides.items()):
            out[c.label] = ",".join(f"{k}={v}" for k, v in c.overrides.items() if base.overrides.get(k) != v) or "baseline"
    return out


def shorten(grid: Grid, text: str) -> str:
    """`label` → `short name` in generated text (run folder names, never in backticks, are left as they are)."""
    names = short_names(grid)
    for label in sorted(names, key=len, reverse=True):
        text = text.replace(f"`{label}`", f"`{names[label]}`")
    return text


def shorten_frame(grid: Grid, df: pd.DataFrame) -> pd.DataFrame:
    """The same short names in a table's `config` / `vs` columns and `config` index level (tables and plot legends of
    the grid view), so a 48-configuration table fits the page."""
    names = short_names(grid)
    if not names or df.empty:
        return df
    out = df.copy()
    for col in ("config", "vs"):
        if col in out.columns:
            out[col] = out[col].map(lambda x: names.get(x, x))
    if "config" in out.index.names:
        out = out.rename(index=names, level="config")
    return out


def partial_note(grid: Grid) -> str:
    """'' once every cell has finished; else how far the grid is, said wherever its evidence is shown. Views with no
    finished training are named by that training (a factorial's eight choices of one training are one entry)."""
    all_cells = cells(grid)
    done = [c for c in all_cells if finished(c)]
    if len(done) == len(all_cells):
        return ""
    started = {c.config.label for c in done}
    missing = [c for c in grid.configs if c.label not in started]
    named = list(dict.fromkeys(f"{c.view_of} (all {sum(v.view_of == c.view_of for v in missing)} views)"
                               if c.view_of else c.label for c in missing))
    return (f"Partial grid: {len(done)} of {len(all_cells)} cells finished; every number below is over the finished "
            f"seeds only" + (f", and {len(missing)} configuration(s) have none yet: {'; '.join(named)}"
                             if missing else "") + ".")


def render_compare(grid: Grid) -> Path:
    """05_compare in grid view, executed into <grid>/compare/ (the single-run tables show the baseline's first seed)."""


    first = first_baseline_cell(grid)
    if first is None:
        raise ParamError(f"{grid.path}: no finished cell of the baseline {grid.baseline!r} to render the compare from")
    out = grid.dir / "compare"
    out.mkdir(parents=True, exist_ok=True)
    write_json(RunFolder(out).metrics, cell_metrics(first))  # a view's numbers when the baseline is a view
    p = first.run.read_params()
    p.claims = load(grid.base).claims  # the grid's claims file now, not the path the cell saw on its machine
    RunFolder(out).write_params(p)
    nb = RunFolder(out).grid_notebook
    # paths relative to the kernel's cwd (the compare folder): the page shows no path of this machine
    pm.execute_notebook(str(default_notebooks_dir() / "05_compare.ipynb"), str(nb), kernel_name="python3",
                        parameters={"run_dir": ".", "grid_file": os.path.relpath(grid.path.resolve(), out.resolve()),
                                    "grid_root": os.path.relpath(grid.root.resolve(), out.resolve())},
                        progress_bar=False, cwd=str(out), extra_arguments=KERNEL_ARGS)
    export_html(nb, RunFolder(out).grid_page, out)
    report = write_grid_report(out, grid)
    print(f"[grid] compare: {RunFolder(out).grid_page}; one file to send: {report} "
          f"({report.stat().st_size / 1e6:.1f} MB)", flush=True)
    return out
