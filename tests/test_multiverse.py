"""The multiverse grid kind: universes sampled from the implementation switches, the factor's effect in each."""
import pandas as pd
import pytest
import yaml
from conftest import REPO
from test_diagnosis import write_cell

from aura_core.base.params import ParamError, load
from aura_core.evidence import diagnosis as Dg
from aura_core.evidence.compare import load_claims
from aura_core.grids.cells import cells
from aura_core.grids.spec import load_grid
from aura_core.reporting import answers as A

SWITCHES = {"pooling": ["cls", "mean", "pooler"], "toxicity_head": ["softmax", "sigmoid"],
            "weighting": ["kendall", "kendall_exp"], "weight_decay_scope": ["matrices", "all"]}


def multiverse_file(tmp_path, universes=5, seed=3, **over):
    spec = {"name": "mv", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1],
            "multiverse": {"universes": universes, "seed": seed, "switches": SWITCHES,
                           "factor": {"paradigm": ["paired", "masked"]}}, **over}
    (tmp_path / "mv.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return tmp_path / "mv.yaml"


def test_universes_are_reproducible_shared_by_both_values_and_valid_params(tmp_path):
    g = load_grid(multiverse_file(tmp_path), tmp_path / "out")
    again = load_grid(multiverse_file(tmp_path), tmp_path / "out")
    other = load_grid(multiverse_file(tmp_path, seed=4), tmp_path / "out")
    assert g.multiverse == again.multiverse and g.multiverse != other.multiverse
    assert len(g.multiverse) == 5 and len({tuple(u.values()) for u in g.multiverse}) == 5   # without replacement
    by = {c.label: c.overrides for c in g.configs}
    for u, universe in enumerate(g.multiverse, 1):
        paired, masked = by[f"u{u:02d},paradigm=paired"], by[f"u{u:02d},paradigm=masked"]
        assert {k: v for k, v in paired.items() if k != "paradigm"} == universe == \
               {k: v for k, v in masked.items() if k != "paradigm"}
        load(g.base, masked)                                          # every universe a valid param set
    assert [f for f, _, _ in g.contrasts()] == [f"universe:u{u:02d}" for u in range(1, 6)]   # no other test
    assert g.baseline == "u01,paradigm=paired" and len(g.trainings) == 10


@pytest.mark.parametrize("bad, fragment", [
    ({"universes": 99}, "universes: 99 is not in 1..24"),
    ({"switches": {"pooling": ["cls"]}}, "switches: expected"),
    ({"factor": {"pooling": ["cls", "mean"]}}, "factor: expected"),
])
def test_a_bad_multiverse_fails_at_load_naming_the_key(tmp_path, bad, fragment):
    spec = {"universes": 5, "seed": 1, "switches": SWITCHES, "factor": {"paradigm": ["paired", "masked"]}, **bad}
    (tmp_path / "mv.yaml").write_text(yaml.safe_dump({"name": "mv", "base": str(REPO / "params" / "smoke.yaml"),
                                                      "seeds": [1], "multiverse": spec}))
    with pytest.raises(ParamError, match=fragment):
        load_grid(tmp_path / "mv.yaml", tmp_path)


def test_the_robustness_count_on_a_constructed_multiverse(tmp_path):
    """masked lifts L1 and L3 by a large share of the A−B gap in every universe but those with the sigmoid head,
    where it changes nothing: the verdict holds exactly in the softmax universes, and toxicity_head explains the
    effect's spread."""
    g = load_grid(multiverse_file(tmp_path, universes=6, seed=0), tmp_path / "out")
    for c in cells(g):
        o = c.config.overrides
        lift = 0.12 if (o["paradigm"] == "masked" and o["toxicity_head"] == "softmax") else 0.0
        write_cell(c, {"L1": 0.67 + lift, "L3": 0.40 + lift})   # paired near B's 0.717 / 0.401, lifted near A's
    claims = load_claims(REPO / "params" / "claims.yaml")
    ev = Dg.evidence(g, claims, 100)
    table = Dg.multiverse_table(g, ev.attrib, Dg.claim_gap(claims))
    softmax = table["toxicity_head"] == "softmax"
    assert table.loc[softmax, "holds"].all() and not table.loc[~softmax, "holds"].any()
    imp = Dg.switch_importance(table, list(SWITCHES))
    assert imp["switch"].iloc[0] == "toxicity_head" and imp["eta_squared"].iloc[0] > 0.7
    text = A.multiverse_text(ev)
    assert f"in {int(softmax.sum())} of 6 finished universes" in text and "`toxicity_head`" in text
    # each level over the universes: masked's L1 is lifted by 0.12 in the softmax universes, paired's never
    spread = ev.mv_spread.set_index(["paradigm", "level"])
    assert spread.loc[("paired", "L1"), "universes"] == 6 and spread.loc[("masked", "L1"), "universes"] == 6
    assert spread.loc[("masked", "L1"), "max"] > spread.loc[("paired", "L1"), "max"] + 0.05
    # nearest Partner A (0.792 / – / 0.517): a lifted masked universe; nearest Partner B (0.717 / – / 0.401): not one
    near = ev.mv_closest
    first_a, first_b = near[near.partner == "A"].iloc[0], near[near.partner == "B"].iloc[0]
    assert first_a["paradigm"] == "masked" and first_a["toxicity_head"] == "softmax"
    assert not (first_b["paradigm"] == "masked" and first_b["toxicity_head"] == "softmax")
    assert (near.groupby("partner")["mean distance"].apply(lambda d: d.is_monotonic_increasing)).all()
    assert "Nearest partner a:" not in text and f"earest Partner A: {first_a['universe']} with paradigm=masked" in text


def test_the_shipped_multiverse_grid_loads_with_forty_trainings():
    g = load_grid(REPO / "params" / "grids" / "multiverse.yaml")
    assert len(g.multiverse) == 20 and len(g.trainings) == 40 and g.multiverse_factor["key"] == "paradigm"
    assert len({tuple(u.values()) for u in g.multiverse}) == 20
    assert load(g.base).unpad == "auto" and load(g.base).group_by_length is False


def test_the_grid_view_shows_the_multiverse(tmp_path, monkeypatch):
    from aura_core.reporting import grid_view
    g = load_grid(multiverse_file(tmp_path, universes=3, seed=1), tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.70 + (0.1 if c.config.overrides["paradigm"] == "masked" else 0), "L3": 0.55})
        pd.DataFrame({"step": [1, 2], "s_toxicity": [0.0, 0.1], "weight_toxicity": [0.5, 0.45]}).to_csv(
            c.dir / "steps.csv", index=False)
    shown = []
    monkeypatch.setattr(grid_view, "display", lambda x: shown.append(getattr(x, "data", None) or str(x)))
    grid_view.show(Dg.evidence(g, load_claims(REPO / "params" / "claims.yaml"), 50), tmp_path / "run")
    text = "\n".join(shown)
    assert "Multiverse: `paradigm` paired → masked in each of 3 sampled universes" in text
    assert "finished universes" in text and "u01" in text


def test_the_multiverse_results_page_has_every_section(tmp_path):
    from aura_core.reporting.results_page import page
    g = load_grid(multiverse_file(tmp_path, universes=3, seed=1, name="multiverse"), tmp_path / "out")
    for c in cells(g):
        write_cell(c, {"L1": 0.70 + (0.1 if c.config.overrides["paradigm"] == "masked" else 0), "L3": 0.55})
    text = page(Dg.evidence(g, load_claims(REPO / "params" / "claims.yaml"), 50))
    for title in ("Robustness", "The effect in each universe", "Each level over the universes",
                  "The universes nearest each partner", "Which switch moves the effect"):
        assert f"## {title}" in text, title
    assert "finished universes" in text and "| u01 " in text and "_(no finished universe yet)_" not in text


@pytest.mark.slow
def test_a_smoke_size_multiverse_trains_end_to_end(tmp_path, fixture_data, tiny_encoder):
    """The shipped multiverse file's keys over its own profile, at smoke size: 2 universes (seed 1: cls pooling with
    the multi-label emotion head, the pooler with the single-label one) × paired/masked on fixture rows and the tiny
    encoder; the grid view renders and the results page counts the universes."""
    import subprocess
    import sys

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "extends": str(REPO / "params" / "cpu_multiverse.yaml"), "name": "mv_smoke", "data_dir": str(fixture_data),
        "encoder": tiny_encoder, "allow_hub": False, "epochs": 1, "batch_size": 8, "olid_dev_fraction": 0.3,
        "claims": str(REPO / "params" / "claims.yaml")}))
    spec = yaml.safe_load((REPO / "params" / "grids" / "multiverse.yaml").read_text())
    spec["base"] = "base.yaml"
    spec["multiverse"].update(universes=2, seed=1, switches={"pooling": ["cls", "pooler"],
                                                             "emotion_target": ["single", "multilabel"]})
    (tmp_path / "multiverse.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    g = load_grid(tmp_path / "multiverse.yaml", tmp_path / "out")
    assert {u["emotion_target"] for u in g.multiverse} == {"single", "multilabel"}
    cli = [sys.executable, "-m", "aura_core.cli", "grid", str(tmp_path / "multiverse.yaml"), "--root",
           str(tmp_path / "out")]
    r = subprocess.run(cli + ["--jobs", "2"], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    summary = pd.read_csv(tmp_path / "out/multiverse/summary.csv")
    assert len(summary) == 4 and (summary["status"] == "finished").all()
    assert (tmp_path / "out/multiverse/compare/report.html").is_file()
    multi = next(c for c in cells(g) if c.config.overrides["emotion_target"] == "multilabel")
    assert "multilabel" in c_metrics(multi)["stress"]["emotion_goemotions_test"]
    r = subprocess.run(cli + ["--results", str(tmp_path / "docs")], capture_output=True, text=True, timeout=900,
                       cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    page = (tmp_path / "docs/multiverse.md").read_text()
    assert "of 2 finished universes" in page and "## The universes nearest each partner" in page


def c_metrics(cell):
    import json
    return json.loads((cell.dir / "metrics.json").read_text())
