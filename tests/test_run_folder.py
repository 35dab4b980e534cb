"""The run folder: prepared rows written once per params and read back exactly; a fresh start clears old results."""
import dataclasses

import pandas as pd
import yaml

from aura_core.base import run_folder
from aura_core.running import pipeline


def profile(tmp_path, data, **over):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "rf", "data_dir": str(data), "allow_hub": False, "olid_dev_fraction": 0.3,
                                    **over}))
    return path


def test_rows_are_prepared_once_per_params_and_read_back_exactly(fixture_data, tmp_path, monkeypatch):
    p = run_folder.init_run_dir(profile(tmp_path, fixture_data), tmp_path / "run")
    calls = []
    real = pipeline.prepare
    monkeypatch.setattr(pipeline, "prepare", lambda params: calls.append(params.seed) or real(params))
    first = pipeline.prepared(p, tmp_path / "run")      # the preflight: prepares and writes
    again = pipeline.prepared(p, tmp_path / "run")      # 01, 02, 03: read
    assert calls == [p.seed]
    for name in ("train", "dev", "pseudo_examples"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name), check_exact=True)
    assert again.cards == first.cards and again.pseudo_labels == first.pseudo_labels
    assert (again.train[["toxicity", "emotion"]].dtypes == "int64").all()  # labels stay integers
    other = dataclasses.replace(p, seed=p.seed + 1)      # another param: prepared anew, never the old rows
    pipeline.prepared(other, tmp_path / "run")
    assert calls == [p.seed, p.seed + 1]


def test_a_fresh_start_clears_the_previous_results_and_prepared_rows(fixture_data, tmp_path):
    prof = profile(tmp_path, fixture_data)
    p = run_folder.init_run_dir(prof, tmp_path / "run")
    pipeline.data_prep(p, tmp_path / "run")
    assert (tmp_path / "run" / "prepared" / "prepared.json").is_file()
    run_folder.init_run_dir(prof, tmp_path / "run")
    assert not (tmp_path / "run" / "prepared" / "prepared.json").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert run_folder.load_prepared(tmp_path / "run", p) is None


def test_no_module_but_run_folder_spells_a_run_file_name():
    """RunFolder owns every file name of a run: a literal like "metrics.json" anywhere else in aura_core would be a
    second place to change when a file moves."""
    import ast
    from pathlib import Path

    from aura_core.base.run_folder import RunFolder
    names = {v for k, v in vars(RunFolder).items() if k.isupper() and isinstance(v, str) and "." in v}
    assert {"params.yaml", "metrics.json", "run_state.json", "steps.csv", "report.html", "claim.json"} <= names
    found = []
    for path in sorted(Path(run_folder.__file__).parents[1].rglob("*.py")):
        if path.name == "run_folder.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert not found, found


def test_a_run_folder_names_its_files_and_reads_them(fixture_data, tmp_path):
    from aura_core.base.run_folder import RunFolder
    p = run_folder.init_run_dir(profile(tmp_path, fixture_data), tmp_path / "run")
    run = RunFolder(tmp_path / "run")
    assert run.params == tmp_path / "run" / "params.yaml" and run.read_params() == p
    assert run.prediction("olid") == tmp_path / "run" / "predictions" / "olid.csv"
    assert run.completed() is None and run.read_run_info() == {} and not run.finished()
    run.write_completed(["01_data_prep"])
    assert run.completed() == ["01_data_prep"] and not run.finished()   # no metrics yet
    run.metrics.write_text('{"stress": {"threshold": 0.5, "tiers": {}}}')
    assert not run.finished() and run.stress().threshold == 0.5          # one notebook of five
    run.write_completed(run_folder.NOTEBOOKS)
    assert run.finished()
    assert RunFolder(run).path == run.path                              # a RunFolder is accepted where a path is


def test_training_progress_reads_where_a_training_stands(tmp_path):
    """steps.csv as a training leaves it mid-run (a cut last line included): the epoch, the last full step, and once
    the first epoch is done the total it implies."""
    from aura_core.base.params import Params
    run = run_folder.RunFolder(tmp_path)
    assert run.training_progress() == ""
    run.write_params(Params(epochs=5))
    header = "step,epoch,samples,total\n"
    run.steps.write_text(header + "1,1,32,0.9\n2,1,64,0.8\n")
    assert run.training_progress() == "epoch 1/5, step 2"
    run.steps.write_text(header + "".join(f"{s},{1 + (s > 1729)},0,0.5\n" for s in range(1, 1800)) + "1800,2,0")
    assert run.training_progress() == "epoch 2/5, step 1,799 of ≈ 8,645"
