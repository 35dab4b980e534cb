"""A grid file read and checked whole: its configurations (listed, a factorial product or a multiverse), seeds, baseline,
comparisons and analyses, as the Grid every later stage reads."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from aura_core.base.factors import factor_name
from aura_core.base.params import POST_TRAINING_KEYS, ParamError, load


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
