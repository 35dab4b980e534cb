"""The run folder: prepared rows written once per params and read back exactly; a fresh start clears old results."""
import dataclasses

import pandas as pd
import yaml

from aura_core import pipeline, run_folder


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
