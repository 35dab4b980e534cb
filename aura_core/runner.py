"""`aura run`: resolve params, execute the five notebooks with papermill, render HTML, write index.html."""
from __future__ import annotations

import os
import time
from pathlib import Path

from .io import atomic_write_text, write_json
from .pipeline import init_run_dir

NOTEBOOKS = ["01_data_prep", "02_train", "03_tune", "04_stress_test", "05_compare"]


class RunError(RuntimeError):
    """A notebook failed; the message names the notebook, the cell and the partial notebook."""


def default_notebooks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "notebooks"


def export_html(notebook: Path, html: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(notebook, as_version=4))
    atomic_write_text(html, body)


def run(profile: str | Path, out: str | Path | None = None, overrides: list[str] | None = None,
        notebooks_dir: str | Path | None = None, log_output: bool = False) -> Path:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .params import load
    run_dir = Path(out or Path("outputs") / load(profile, overrides).name).resolve()
    init_run_dir(profile, run_dir, overrides)  # fails on bad params or data dir before any kernel starts
    src_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    os.environ["AURA_PROGRESS"] = "plain"
    timings = {}
    for name in NOTEBOOKS:
        src, dst = src_dir / f"{name}.ipynb", run_dir / "notebooks" / f"{name}.ipynb"
        if not src.is_file():
            raise RunError(f"notebook {src} not found")
        dst.parent.mkdir(exist_ok=True)
        t0 = time.time()
        print(f"[aura] {name} ...", flush=True)
        try:
            pm.execute_notebook(str(src), str(dst), parameters={"run_dir": str(run_dir)}, kernel_name="python3",
                                progress_bar=False, log_output=log_output, cwd=str(run_dir))
        except PapermillExecutionError as e:
            export_html(dst, run_dir / "html" / f"{name}.html")
            raise RunError(f"notebook {name} failed in cell [{e.exec_count}] with {e.ename}: "
                           f"{str(e.evalue).splitlines()[0] if e.evalue else ''}; partial notebook: {dst}") from None
        timings[name] = round(time.time() - t0, 1)
        export_html(dst, run_dir / "html" / f"{name}.html")
        print(f"[aura] {name} done in {timings[name]} s", flush=True)
    write_json(run_dir / "run.json", {"profile": str(Path(profile).resolve()), "overrides": overrides or [],
                                      "notebook_seconds": timings})
    from .report import write_index
    write_index(run_dir)
    print(f"[aura] report: {run_dir / 'index.html'}", flush=True)
    return run_dir
