"""Task-loss weighting methods, one small class each behind one interface (as in LibMTL).

A method takes the dict of per-task losses present in a step and returns the scalar to back-propagate. It also reports
the numbers the step log and the σ plots show. Adding a method = one class + one entry in WEIGHTINGS.
"""
from __future__ import annotations

import torch
from torch import nn


class LossWeighting(nn.Module):
    """Base: subclasses implement forward(losses) -> total and may own learnable parameters."""

    def __init__(self, tasks: list[str]):
        super().__init__()
        self.tasks = list(tasks)

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def log_values(self) -> dict[str, float]:
        """Per-task numbers for the step log, e.g. {'weight_toxicity': 0.5}."""
        return {}


class EqualWeighting(LossWeighting):
    """L = Σ L_i."""

    def forward(self, losses):
        return sum(losses.values())

    def log_values(self):
        return {f"weight_{t}": 1.0 for t in self.tasks}


class KendallWeighting(LossWeighting):
    """Kendall, Gal & Cipolla (2018), exactly as the seed writes it:

        L = Σ_i 1/(2σ_i²)·L_i + log σ_i,   learned as s_i = log σ_i²,

    i.e. each term is ½·exp(−s_i)·L_i + ½·s_i. The "learned weight" reported everywhere is 1/(2σ_i²) = ½·exp(−s_i).
    Only the tasks present in `losses` contribute (their s_i get no gradient from an absent task).
    """

    def __init__(self, tasks, init_log_var: float = 0.0):
        super().__init__(tasks)
        self.log_vars = nn.Parameter(torch.full((len(self.tasks),), float(init_log_var)))

    def forward(self, losses):
        total = 0.0
        for i, t in enumerate(self.tasks):
            if t in losses:
                s = self.log_vars[i]
                total = total + 0.5 * torch.exp(-s) * losses[t] + 0.5 * s
        return total

    def log_values(self):
        s = self.log_vars.detach().float().cpu()
        out = {}
        for i, t in enumerate(self.tasks):
            out[f"s_{t}"] = float(s[i])
            out[f"sigma_{t}"] = float(torch.exp(0.5 * s[i]))
            out[f"weight_{t}"] = float(0.5 * torch.exp(-s[i]))
        return out


WEIGHTINGS: dict[str, type[LossWeighting]] = {"kendall": KendallWeighting, "equal": EqualWeighting}


def make_weighting(name: str, tasks: list[str], init_log_var: float = 0.0) -> LossWeighting:
    if name not in WEIGHTINGS:
        raise ValueError(f"weighting {name!r}: expected one of {sorted(WEIGHTINGS)}")
    cls = WEIGHTINGS[name]
    return cls(tasks, init_log_var=init_log_var) if cls is KendallWeighting else cls(tasks)
