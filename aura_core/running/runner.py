"""`aura run`: resolve params, execute the five notebooks with papermill, render HTML, write index.html."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import papermill as pm

from aura_core import PACKAGE_DIR, PROJECT_DIR
from aura_core.base.io import atomic_write_text, write_json
from aura_core.base.params import changed_keys, load, to_dict
from aura_core.base.run_folder import NOTEBOOKS, RunFolder, init_run_dir
from aura_core.reporting.report import write_index
from aura_core.reporting.single_report import _scrub, local_paths, write_run_report

# the kernel's own log at ERROR (its "running over TCP without encryption" warning on a local kernel is noise), and
# output written to the process's own stderr (progress bars) left on the terminal instead of copied into the notebook
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR", "--IPKernelApp.capture_fd_output=False"]


class RunError(RuntimeError):
    """A notebook failed; the message names the notebook, the cell and the partial notebook."""


def default_notebooks_dir() -> Path:
    return PROJECT_DIR / "notebooks"


def export_html(notebook: Path, html: Path, run_dir: Path | None = None) -> None:
    """The executed notebook as HTML; with run_dir, that run's local paths (folder, data dir, a local encoder folder)
    replaced, so the page can be mailed."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="aura_html", extra_template_basedirs=[str(PACKAGE_DIR / "templates")])
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    atomic_write_text(html, _scrub(body, local_paths(run_dir)) if run_dir is not None else body)


def execute(run_dir: Path, names: list[str], notebooks_dir: str | Path | None = None, log_output: bool = False,
            resume: bool = False, done: list[str] | None = None, timings: dict | None = None) -> None:
    """Execute notebooks in order into run_dir/notebooks/ and render each to html/; run_state.json lists those done
    (with `done`, the ones an earlier call finished) and run.json their seconds."""
    from papermill.exceptions import PapermillExecutionError
    done, timings = list(done or []), dict(timings or {})
    src_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    os.environ["AURA_PROGRESS"] = "plain"
    run = RunFolder(run_dir)
    for name in names:
        src, dst = src_dir / f"{name}.ipynb", run.notebook_copy(name)
        if not src.is_file():
            raise RunError(f"notebook {src} not found")
        dst.parent.mkdir(exist_ok=True)
        t0 = time.time()
        print(f"[aura] {name} ...", flush=True)
        try:
            # run_dir "." (the kernel's cwd is the run folder): no path of this machine in the injected cell
            pm.execute_notebook(str(src), str(dst), parameters={"run_dir": ".", "resume": resume},
                                kernel_name="python3", progress_bar=False, log_output=log_output, cwd=str(run_dir),
                                extra_arguments=KERNEL_ARGS)
        except PapermillExecutionError as e:
            export_html(dst, run.page(name), run_dir)
            raise RunError(f"notebook {name} failed in cell [{e.exec_count}] with {e.ename}: "
                           f"{str(e.evalue).splitlines()[0] if e.evalue else ''}; partial notebook: {dst}"
                           f"{'' if resume else '; continue with --resume'}") from None
        timings[name] = round(time.time() - t0, 1)
        export_html(dst, run.page(name), run_dir)
        done.append(name)
        run.write_completed(done)
        write_json(run.run_info, {**run.read_run_info(), "notebook_seconds": timings})
        print(f"[aura] {name} done in {timings[name]} s", flush=True)


def run(profile: str | Path, out: str | Path | None = None, overrides: list[str] | None = None,
        notebooks_dir: str | Path | None = None, log_output: bool = False, resume: bool = False) -> Path:
    """Execute 01→05. With resume=True, notebooks that finished are skipped and 02 continues training from its last
    checkpoint; the params must be those the run started with."""
    p = load(profile, overrides)
    run_dir = Path(out or Path("outputs") / p.name).resolve()
    run = RunFolder(run_dir)
    if resume and run.has_params():
        saved = run.read_params()
        changed = changed_keys(to_dict(saved), to_dict(p))
        if changed:
            raise RunError(f"--resume: params differ from those {run_dir} started with: {', '.join(changed)}")
        p = saved
    else:
        resume = False
        p = init_run_dir(profile, run_dir, overrides)  # fails on bad params or data dir before any kernel starts
    # torch and transformers, loaded once a run is sure to start: `aura grid --status` and every grid command import
    # this module
    from aura_core.running.pipeline import preflight
    from aura_core.training.checkpoints import prune
    preflight(p, run_dir)
    done = (run.completed() or []) if resume else []
    timings = run.notebook_seconds() if resume else {}
    for name in done:
        print(f"[aura] {name}: finished earlier, skipped (--resume)", flush=True)
    execute(run_dir, [n for n in NOTEBOOKS if n not in done], notebooks_dir, log_output, resume, done, timings)
    freed = prune(run_dir, p.keep_checkpoints)  # finished: the resume state (and more, if asked) is no longer needed
    write_json(run.run_info, {**run.read_run_info(), "profile": str(Path(profile).resolve()),
                              "overrides": overrides or [], "keep_checkpoints": p.keep_checkpoints,
                              "checkpoint_mb_freed": round(freed / 1e6, 1)})
    write_index(run_dir)
    report = write_run_report(run_dir)
    print(f"[aura] report: {report} ({report.stat().st_size / 1e6:.1f} MB, one file to send); index: "
          f"{run.index}", flush=True)
    return run_dir
