"""Short names for a factorial's configurations (what each changes from the baseline), in text and in tables."""
from __future__ import annotations

import pandas as pd

from aura_core.grids.spec import Grid


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
