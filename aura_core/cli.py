"""The `aura` command."""
from __future__ import annotations

import argparse
import sys

from aura_core.base.errors import EncoderError
from aura_core.base.params import ParamError, load, schema
from aura_core.data.loaders import DataError


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The `aura` parser and its `grid` subparser (which reports a second grid action as its own usage error)."""
    ap = argparse.ArgumentParser(prog="aura", description="AURA reproduction pipeline.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="Run the five notebooks (01→05) for a params profile into a run folder.")
    r.add_argument("profile", help="params/<profile>.yaml")
    r.add_argument("--out", help="Run folder (default outputs/<name>).")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="Override one param (YAML value); repeatable.")
    r.add_argument("--notebooks", help="Folder with the source notebooks (default: the repository's notebooks/).")
    r.add_argument("--log-output", action="store_true", help="Stream the notebooks' output to this terminal.")
    r.add_argument("--resume", action="store_true",
                   help="Continue an interrupted run in its folder: skip finished notebooks, resume training from the "
                        "last checkpoint (params must be unchanged).")
    g = sub.add_parser("grid", help="Run a grid (configurations × seeds), skipping finished cells.")
    g.add_argument("grid", help="params/grids/<name>.yaml")
    g.add_argument("--jobs", type=int, default=1, help="Cells run at once on this machine (cores are split).")
    g.add_argument("--shard", help="i/n: run only every n-th cell starting at i (several machines, SLURM arrays).")
    g.add_argument("--root", default="outputs/grids", help="Where grid folders go.")
    g.add_argument("--dry-run", action="store_true", help="List the cells that would run.")
    g.add_argument("--summary", action="store_true",
                   help="Run nothing: print the headline table, factor attribution and speed parity (markdown) from "
                        "the cells finished so far.")
    g.add_argument("--executor", choices=["slurm", "local"],
                   help="Submit one job-array task per pending cell through submitit instead of running them here with "
                        "--jobs: slurm (a SLURM cluster; options with --slurm) or local (submitit's local executor, the "
                        "same code path on this machine).")
    g.add_argument("--slurm", dest="slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="An executor option, repeatable: partition=gpu, gpus_per_node=1, cpus_per_task=8, mem_gb=32, "
                        "timeout_min=240, array_parallelism=10, account=..., any other slurm_* key of submitit.")
    g.add_argument("--no-wait", action="store_true", help="With --executor: return once submitted; follow with --status.")
    g.add_argument("--status", action="store_true",
                   help="Run nothing: each cell's state (finished, running and by whom, failed, queued, interrupted, "
                        "lost, pending) and disk use, read from the cell folders; for cells submitted with --executor "
                        "slurm also the scheduler's state of each one's newest job (squeue/sacct).")
    g.add_argument("--render", action="store_true",
                   help="Train nothing: render the grid view (compare/report.html) from the cells finished so far; a "
                        "partial grid says so at the top. A grid renders itself once every cell has finished.")
    g.add_argument("--export", nargs="?", const="outputs/grids", metavar="DIR",
                   help="Train nothing: copy every finished cell's evidence (params, metrics, epoch and step logs, "
                        "stored predictions; never weights) into DIR/<grid name>/, CSVs gzipped, with a manifest "
                        "(default DIR: outputs/grids, where git keeps exactly these files). --render and --summary on "
                        "a fresh clone rebuild the grid view from them.")
    g.add_argument("--results", nargs="?", const="docs/results", metavar="DIR",
                   help="Train nothing: write the grid's results page DIR/<grid name>.md (default DIR: docs/results) "
                        "from the cells finished so far: a header naming the commit, the resolved params' sha256, the "
                        "date, the hardware and the levels' files, then the summary, the bottom line and the grid's own "
                        "sections. `make results` writes one for each grid whose evidence ships in outputs/grids/.")
    g.add_argument("--rescore", action="store_true",
                   help="Train nothing: re-score every finished cell from its selected checkpoint on the tiers the "
                        "grid's params declare now (re-runs 04 and 05 per cell), then re-render the grid view.")
    e = sub.add_parser("evaluate", help="Score a trained model without training: 03's threshold rule, 04 on every "
                                        "tier, 05 against the claims, into a new run folder.")
    e.add_argument("model", nargs="?", help="An aura run folder, an aura checkpoint (.safetensors) or a Hugging Face "
                                            "sequence-classification model folder.")
    e.add_argument("--predictions", help="Instead of MODEL: a CSV of predictions made elsewhere, columns tier, id or "
                                         "text_sha1, p_toxic (one row per tier row).")
    e.add_argument("--out", required=True, help="The new run folder.")
    e.add_argument("--profile", help="Params for a model without an aura run folder (default params/base.yaml); an "
                                     "aura run folder brings its own.")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="Override one param (YAML value); repeatable. On an aura model only what it is scored on may "
                        "change (tiers, threshold, ...).")
    e.add_argument("--log-output", action="store_true", help="Stream the notebooks' output to this terminal.")
    t = sub.add_parser("train", help="Train a prepared run folder (its params.yaml); what 02_train runs in every "
                                     "process under accelerate launch when num_processes > 1.")
    t.add_argument("run_dir")
    t.add_argument("--resume", action="store_true", help="Continue from the run folder's last checkpoint.")
    k = sub.add_parser("check-report", help="Check every page of a run (report.html, index.html, html/) for what a "
                                             "reader would object to: absolute paths, stderr blocks, broken anchors "
                                             "or images, requests to other hosts; in headless Chromium (when "
                                             "installed) images that do not load and console errors.")
    k.add_argument("run_dir")
    s = sub.add_parser("params", help="Show every param with its default and help, or a profile resolved.")
    s.add_argument("profile", nargs="?")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--markdown", action="store_true",
                   help="Print docs/parameters.md: every profile and every key (type, default, role, help) as markdown.")
    return ap, g


# ----------------------------------------------------------------------------------------------------------------------
# one function per command (and per `aura grid` action): each returns the exit status

GRID_ACTIONS = ("summary", "results", "status", "render", "export", "rescore", "dry_run", "executor")


def grid_export(args, grid) -> int:
    from aura_core.running.evidence_export import export
    dest = export(grid, args.export)
    print(f"[grid] evidence: {dest} (manifest {dest / 'EVIDENCE.json'})")
    return 0


def grid_summary(args, grid) -> int:
    from aura_core.evidence.diagnosis import evidence
    from aura_core.reporting.answers import markdown_summary
    print(markdown_summary(evidence(grid)))   # the numbers computed here, once; the words only read them
    return 0


def grid_results(args, grid) -> int:
    from aura_core.evidence.diagnosis import evidence
    from aura_core.reporting.results_page import write
    print(f"[grid] results page: {write(evidence(grid), args.results)}")
    return 0


def grid_status_table(args, grid) -> int:
    from aura_core.running.grid import grid_status
    table = grid_status(grid)
    print(table.to_string(index=False))
    counts = table["state"].value_counts()
    print("[grid] " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f"; {table['disk_mb'].sum():.1f} MB")
    return 0


def grid_submit(args, grid) -> int:
    from aura_core.running.executors import submit_grid
    submit_grid(grid, args.executor, args.slurm, not args.no_wait, args.shard)
    return 0


def grid_render(args, grid) -> int:
    from aura_core.running.grid import render_compare, summarize
    summarize(grid)
    render_compare(grid)
    return 0


def grid_rescore(args, grid) -> int:
    from aura_core.running.rescore import rescore_grid
    rescore_grid(grid, args.shard)
    return 0


def grid_run(args, grid) -> int:
    """Train what is not finished here with --jobs (or, with --dry-run, list it)."""
    from aura_core.running.grid import run_grid
    table = run_grid(grid, args.jobs, args.shard, args.dry_run)
    done = (table["status"] == "finished").sum()
    print(f"[grid] {done}/{len(table)} cells finished; summary: {args.root}/{grid.name}/summary.csv")
    return 0


GRID_COMMANDS = {"export": grid_export, "summary": grid_summary, "results": grid_results, "status": grid_status_table,
                 "executor": grid_submit, "render": grid_render, "rescore": grid_rescore}


def cmd_grid(args) -> int:
    from aura_core.grids.spec import load_grid
    grid = load_grid(args.grid, args.root)
    if not args.export and not args.dry_run:
        from aura_core.running.evidence_export import restore_grid
        restore_grid(grid)   # shipped evidence (CSV.gz) inflated where it is: a grid continued from it renders too
    action = next((name for name in GRID_COMMANDS if getattr(args, name)), None)
    return GRID_COMMANDS[action](args, grid) if action else grid_run(args, grid)


def cmd_run(args) -> int:
    from aura_core.running.runner import run
    run(args.profile, args.out, args.overrides, args.notebooks, args.log_output, args.resume)
    return 0


def cmd_evaluate(args) -> int:
    from aura_core.running.rescore import evaluate
    evaluate(args.model, args.out, args.profile, args.overrides, args.predictions, log_output=args.log_output)
    return 0


def cmd_train(args) -> int:
    from aura_core.base.run_folder import load_run_params
    from aura_core.running.pipeline import train_here
    train_here(load_run_params(args.run_dir), args.run_dir, args.resume)
    return 0


def cmd_check_report(args) -> int:
    from aura_core.reporting.browser_check import check_run
    problems = check_run(args.run_dir)
    for line in problems:
        print(f"FAIL {line}")
    return 1 if problems else 0


def cmd_params(args) -> int:
    if args.markdown:
        from aura_core.reporting.params_page import page
        print(page(), end="")
    elif args.profile:
        import yaml

        from aura_core.base.params import to_dict
        print(yaml.safe_dump(to_dict(load(args.profile, args.overrides)), sort_keys=False), end="")
    else:
        for f in schema():
            print(f"{f['key']} ({f['type']}, default {f['default']!r}): {f['help']}")
    return 0


COMMANDS = {"run": cmd_run, "grid": cmd_grid, "evaluate": cmd_evaluate, "train": cmd_train,
            "check-report": cmd_check_report, "params": cmd_params}


def main(argv: list[str] | None = None) -> int:
    ap, grid_parser = build_parser()
    args = ap.parse_args(argv)
    if args.cmd == "grid":
        actions = [f"--{name.replace('_', '-')}" for name in GRID_ACTIONS if getattr(args, name)]
        if len(actions) > 1:
            grid_parser.error(f"{' and '.join(actions)}: one action at a time")
    try:
        return COMMANDS[args.cmd](args)
    except (ParamError, DataError, EncoderError, FileNotFoundError) as e:
        print(f"aura: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # RunError and anything a notebook raised: one line, non-zero
        from aura_core.running.runner import RunError
        if isinstance(e, RunError) or (args.cmd == "grid" and isinstance(e, RuntimeError)):
            print(f"aura: error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
