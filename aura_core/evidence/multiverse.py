"""A multiverse grid's numbers besides the factor's effect per universe (diagnosis.multiverse_table): how L1/L2/L3 are
spread over the universes for each value of the factor, and which universes land nearest each partner's claims (the
implementation choices that would reproduce a partner's numbers, if any does)."""
from __future__ import annotations

import pandas as pd

from aura_core.grids import Grid

LEVELS = ("L1", "L2", "L3", "ΔF1")


def split_label(grid: Grid, label: str) -> tuple[str, str] | None:
    """'u03,paradigm=masked' → ('u03', 'masked'); None for a label that is not a universe's."""
    key = grid.multiverse_factor["key"] if grid.multiverse_factor else None
    universe, _, rest = label.partition(",")
    if not key or not rest.startswith(f"{key}="):
        return None
    return universe, rest.split("=", 1)[1]


def distribution(grid: Grid, table: pd.DataFrame) -> pd.DataFrame:
    """Per value of the factor and level: the configurations' seed means summarised over the universes (n, mean, sd,
    min, median, max)."""
    if not grid.multiverse or table.empty or "mean" not in table:
        return pd.DataFrame()
    t = table.dropna(subset=["mean"]).copy()
    parts = [split_label(grid, c) for c in t["config"]]
    t["value"] = [p[1] if p else None for p in parts]
    t = t.dropna(subset=["value"])
    t = t[t["tier"].isin(LEVELS)]
    if t.empty:
        return pd.DataFrame()
    key = grid.multiverse_factor["key"]
    out = (t.groupby(["value", "tier"], sort=False)["mean"]
           .agg(universes="count", mean="mean", sd="std", min="min", median="median", max="max").reset_index())
    return out.rename(columns={"value": key, "tier": "level"})


def closest(grid: Grid, table: pd.DataFrame, comparable: set[str], n: int = 3) -> pd.DataFrame:
    """For each partner, the n universe × factor-value configurations whose seed means lie nearest that partner's
    claimed L1/L2/L3 (mean absolute distance over the levels scored on the partners' own rows), with their switches.
    A selection among many: the nearest is optimistic, as every closest configuration in the report."""
    if not grid.multiverse or table.empty:
        return pd.DataFrame()
    levels = sorted(set(LEVELS[:3]) & set(comparable))
    t = table[table["tier"].isin(levels)].dropna(subset=["mean"]) if "tier" in table else pd.DataFrame()
    universes = {f"u{u:02d}": universe for u, universe in enumerate(grid.multiverse, 1)}
    rows = []
    for who in ("partner_a", "partner_b"):
        if t.empty or who not in t:
            continue
        d = t.dropna(subset=[who]).assign(off=lambda x: (x["mean"] - x[who]).abs())
        d = d.groupby("config", sort=False).agg(off=("off", "mean"), levels=("tier", "count"))
        d = d[d["levels"] == len(levels)].sort_values("off", kind="stable").head(n)
        for config, r in d.iterrows():
            parts = split_label(grid, config)
            if parts is None:
                continue
            means = t[t["config"] == config].set_index("tier")["mean"]
            rows.append({"partner": "A" if who == "partner_a" else "B", "universe": parts[0],
                         grid.multiverse_factor["key"]: parts[1], "mean distance": float(r["off"]),
                         **{lv: float(means[lv]) for lv in levels}, **universes.get(parts[0], {})})
    return pd.DataFrame(rows)


def measured_columns(grid: Grid) -> list[str]:
    """The columns by_universe gives: the factor's effect per tier, then each tier under each value of the factor."""
    f = grid.multiverse_factor
    return ([f"effect {t}" for t in LEVELS[:3]]
            + [f"{f['key']}={v} {t}" for v in (f["from"], f["to"]) for t in LEVELS[:3]])


def by_universe(grid: Grid, table: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """One row per finished universe: its switches, the factor's effect per tier (from the multiverse table, `effects`)
    and each tier's seed-mean macro-F1 under each value of the factor (from the config table), so switch_importance
    can ask which switch moves the effect and which moves the numbers themselves."""
    if effects.empty:
        return pd.DataFrame()
    key = grid.multiverse_factor["key"]
    out = effects[["universe", *grid.multiverse[0]]].copy()
    for t in LEVELS[:3]:
        if t in effects:
            out[f"effect {t}"] = effects[t].to_numpy()
    means = table[table["tier"].isin(LEVELS[:3])].dropna(subset=["mean"]) if "mean" in table else table.iloc[:0]
    for r in means.itertuples():
        parts = split_label(grid, r.config)
        if parts and parts[0] in set(out["universe"]):
            out.loc[out["universe"] == parts[0], f"{key}={parts[1]} {r.tier}"] = r.mean
    return out
