"""A grid as data: its file (spec), its cells and what their folders say (cells), the short names of a factorial's
configurations (naming). What runs a grid is aura_core.running.grid; what it concludes, aura_core.evidence."""
from aura_core.grids.cells import (
    Cell,
    cell_metrics,
    cell_scores,
    cell_state,
    cell_table,
    cells,
    disk_bytes,
    ended_job,
    finished,
    first_baseline_cell,
    partial_note,
    shard,
    training_cells,
)
from aura_core.grids.naming import short_names, shorten, shorten_frame
from aura_core.grids.spec import GRID_KEYS, Config, Grid, load_grid, multiverse_configs, product_configs

__all__ = ["Cell", "Config", "GRID_KEYS", "Grid", "cell_metrics", "cell_scores", "cell_state", "cell_table", "cells",
           "disk_bytes", "ended_job", "finished", "first_baseline_cell", "load_grid", "multiverse_configs",
           "partial_note", "product_configs", "shard", "short_names", "shorten", "shorten_frame", "training_cells"]
