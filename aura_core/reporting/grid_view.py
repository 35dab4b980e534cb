"""The grid view of 05_compare: every table and figure of a grid's evidence, in the order a reader checks them."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from aura_core.evidence.diagnosis import (
    GridEvidence,
    aso_table,
    factorial_table,
    headline,
    mechanism_table,
    target_group_table,
)
from aura_core.grids.cells import cells, finished
from aura_core.grids.naming import short_names, shorten, shorten_frame
from aura_core.reporting import plots
from aura_core.reporting.answers import (
    SEEDS_FOR_POWER,
    answers,
    as_printed,
    average_table,
    effect_across_text,
    multiverse_text,
    unasked_answers,
)
from aura_core.reporting.tables import tier_legend


def show(ev: GridEvidence, run_dir: str | Path) -> None:
    """Headline, the file behind each level, the per-configuration table, factor attribution (with its plot), speed
    parity, trade-off and mechanism, σ per configuration, ToxiGen by target group, and the seven answers."""
    grid = ev.grid

    def short(df: pd.DataFrame) -> pd.DataFrame:  # what is shown names configurations as the bottom line does
        return shorten_frame(grid, df)

    _show_tables(ev, short)
    _show_attribution(ev, run_dir, short)
    _show_mechanism(ev, run_dir, short)
    if grid.shapley:
        _show_shapley(ev)
    if grid.effect_across:
        _show_effect_across(ev, short)
    if grid.multiverse:
        _show_multiverse(ev)
    _show_answers(ev)


def _show_tables(ev: GridEvidence, short) -> None:
    """The partial-grid note, the headline, the file behind each level, the factorial and per-configuration tables."""
    grid, table = ev.grid, ev.table
    note = ev.partial
    if note:
        display(Markdown(f"**{note}**"))
    display(Markdown(f"### Headline: macro-F1 mean ± sd over seeds (grid `{grid.name}`, seeds {grid.seeds}; "
                     f"baseline `{grid.baseline}`)"))
    if short_names(grid):
        display(Markdown("Configurations are named by what they change from the baseline (`baseline`)."))
    display(short(headline(table)))
    display(Markdown("The file behind each level (every cell is scored on the same rows):"))
    display(tier_legend(grid))
    factorial = factorial_table(grid, table)
    if not factorial.empty:
        display(Markdown(f"### The factorial: each training beside every post-training choice ({factorial.columns.name}), "
                         "mean ± sd over seeds; each training ran once per seed, every column is scored from its "
                         "stored epoch predictions"))
        display(factorial)
    display(Markdown("### Per configuration and tier: seed range, 95% CI (seeds × items) and the partners' numbers"))
    display(short(table).round(4))


def _show_attribution(ev: GridEvidence, run_dir: str | Path, short) -> None:
    """Factor attribution with its plot, ASO both ways, and the speed switches' equivalence."""
    grid, attrib = ev.grid, ev.attrib
    display(Markdown("### Factor attribution: change when only that factor changes (95% CI over seeds and items)"))
    display(short(attrib).round(4))
    if "change" in attrib:
        plots.attribution_plot(short(attrib), run_dir, ev.gap)
    aso = aso_table(grid, attrib)
    if not aso.empty:
        display(Markdown("Almost Stochastic Order of the seed distributions (Dror et al. 2019, deepsig), both "
                         "directions, Bonferroni-corrected for every comparison here: a direction whose ε_min is below "
                         "τ = 0.2 dominates; otherwise no order is shown (which is not equality). Below 5 seeds per "
                         "arm ASO is uninformative and says so."))
        display(short(aso).round(3))
    parity = ev.speed
    if not parity.empty:
        display(Markdown("### Speed switches: F1 equivalence (TOST on paired seeds, 90% CI, margin one seed sd of the reference)"))
        display(short(parity).round(4))


def _show_mechanism(ev: GridEvidence, run_dir: str | Path, short) -> None:
    """The task trade-off, the mechanism table, σ per configuration and ToxiGen by target group."""
    grid, table = ev.grid, ev.table
    names = short_names(grid)
    display(Markdown("### Task trade-off and mechanism"))
    plots.tradeoff(short(table), run_dir)
    display(Markdown("Shortcut gap = mean P(toxic) on GoEmotions anger+disgust − joy+neutral; pred/true = predicted ÷ "
                     "true positive rate per tier (mean ± sd over seeds)."))
    display(short(mechanism_table(grid)))
    first_seed = {names.get(c.config.label, c.config.label): pd.read_csv(c.run.steps)
                  for c in reversed(cells(grid)) if finished(c)}
    plots.sigma_overlay(first_seed, run_dir)
    display(Markdown("### L3 (ToxiGen) by target group: macro-F1 mean over seeds with a 95% CI"))
    closest = ev.distance.index[:1]
    shown = list(dict.fromkeys([grid.baseline, *closest, grid.configs[-1].label]))
    groups = target_group_table(grid, shown)
    display(Markdown("Baseline, the configuration closest to Partner A, and the last configuration: "
                     + shorten(grid, f"{', '.join(f'`{x}`' for x in shown)}.")))
    if len(groups):
        plots.target_group_plot(short(groups), run_dir)
        display(short(groups).round(4))


def _show_shapley(ev: GridEvidence) -> None:
    shap, inter = ev.shapley
    display(Markdown(f"### Shapley attribution: `{ev.grid.shapley['from']}` → `{ev.grid.shapley['to']}`"))
    display(Markdown("Each factor's exact share of the change (the values sum to it), 95% CI over seeds × items, "
                     "p-values Holm-adjusted across every factor × tier; then every two-factor interaction (95% and "
                     f"90% CI; the reading is the equivalence test's; {SEEDS_FOR_POWER})."))
    display(shap.round(4))
    if len(inter):
        display(as_printed(inter).round(4))


def _show_effect_across(ev: GridEvidence, short) -> None:
    per_level, moves = ev.effect
    spec = ev.grid.effect_across
    display(Markdown(f"### How `{spec['factor']}` {spec['from']} → {spec['to']} moves with `{spec['across']}`"))
    display(Markdown(effect_across_text(ev.grid, ev.claims, per_level, moves)))
    display(short(per_level).round(4))
    if len(moves):
        display(as_printed(moves).round(4))


def _show_multiverse(ev: GridEvidence) -> None:
    grid, mv = ev.grid, ev.multiverse
    display(Markdown(f"### Multiverse: `{grid.multiverse_factor['key']}` {grid.multiverse_factor['from']} → "
                     f"{grid.multiverse_factor['to']} in each of {len(grid.multiverse)} sampled universes"))
    display(Markdown(multiverse_text(ev)))
    if len(ev.mv_average):
        display(Markdown("The effect averaged over the universes (95% CI over universes × items; 95% prediction "
                         "interval for one run in a new universe):"))
        display(average_table(ev.mv_average))
    display(mv.round(4))
    importance = ev.importance
    if len(importance):
        display(Markdown("Share of the spread over universes each switch explains, of the effect and of each level "
                         "(one-way η², descriptive; `chance`: what a switch of that many levels explains by chance):"))
        display(importance.round(3))
    if len(ev.mv_spread):
        display(Markdown(f"Each level over the universes, per `{grid.multiverse_factor['key']}` (seed means):"))
        display(ev.mv_spread.round(3))
    if len(ev.mv_closest):
        display(Markdown("The universes nearest each partner's claimed L1/L2/L3 (a selection: optimistic):"))
        display(ev.mv_closest.round(3))


def _show_answers(ev: GridEvidence) -> None:
    """The causes the comparison report did not ask about, then the comparison report's seven questions answered."""
    unasked = unasked_answers(ev)
    if unasked:
        display(Markdown("### Candidate causes the comparison report did not ask about"))
        for title, text in unasked:
            display(Markdown(f"**{title}.** {text}"))
    display(Markdown("*The bottom line drawn from these numbers is at the top of this report.*"))
    display(Markdown("### The comparison report's seven questions, answered from these numbers"))
    for question, answer in answers(ev):
        display(Markdown(f"**{question}**\n\n{answer}"))
