"""A grid's shipped evidence (aura_core/evidence.py): exactly the files the tables read, compressed, verifiable."""
import gzip
import json

import pytest
import yaml
from conftest import REPO

from aura_core import grids as G
from aura_core.base.run_folder import NOTEBOOKS
from aura_core.running import evidence_export as EV


def two_cell_grid(tmp_path):
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "g", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1], "baseline": "b",
        "configs": [{"label": "b", "set": {}}, {"label": "m", "factor": "paradigm", "set": {"paradigm": "masked"}}]}))
    g = G.load_grid(tmp_path / "g.yaml", tmp_path / "runs")
    done, pending = G.training_cells(g)
    (done.dir / "predictions").mkdir(parents=True)
    (done.dir / "checkpoints").mkdir()
    (done.dir / "checkpoints" / "last.safetensors").write_bytes(b"w" * 100)
    (done.dir / "params.yaml").write_text("seed: 1\n")
    (done.dir / "metrics.json").write_text(json.dumps({"stress": {}}))
    (done.dir / "run_state.json").write_text(json.dumps({"completed": NOTEBOOKS}))
    (done.dir / "steps.csv").write_text("step,total\n1,0.5\n")
    (done.dir / "predictions" / "olid.csv").write_text("id,label,p_toxic\na,1,0.9\n")
    pending.dir.mkdir(parents=True)
    return g, done, pending


def test_export_ships_the_read_files_gzipped_and_lists_unfinished_cells(tmp_path):
    g, done, pending = two_cell_grid(tmp_path)
    dest = EV.export(g, tmp_path / "repo")
    manifest = json.loads((dest / EV.MANIFEST).read_text())
    assert manifest["cells"] == [done.id] and manifest["not_finished"] == [pending.id]
    assert sorted(manifest["files"]) == sorted(f"{done.id}/{f}" for f in (
        "params.yaml", "metrics.json", "run_state.json", "steps.csv.gz", "predictions/olid.csv.gz"))
    assert gzip.decompress((dest / done.id / "steps.csv.gz").read_bytes()) == b"step,total\n1,0.5\n"
    assert not (dest / done.id / "checkpoints").exists()
    again = EV.export(g, tmp_path / "repo2")
    assert (again / done.id / "steps.csv.gz").read_bytes() == (dest / done.id / "steps.csv.gz").read_bytes()


def test_restore_inflates_once_and_refuses_a_file_that_does_not_match_its_hash(tmp_path):
    g, done, _ = two_cell_grid(tmp_path)
    dest = EV.export(g, tmp_path / "repo")
    assert EV.restore(dest) == 2 and (dest / done.id / "predictions" / "olid.csv").is_file()
    assert EV.restore(dest) == 0                       # already there and matching: nothing rewritten
    (dest / done.id / "steps.csv").unlink()
    (dest / done.id / "steps.csv.gz").write_bytes(gzip.compress(b"step,total\n1,0.4\n"))
    with pytest.raises(EV.EvidenceError, match=r"steps.csv.gz: its content does not match the hash"):
        EV.restore(dest)
    assert EV.restore(tmp_path / "nothing_here") == 0


def test_a_file_over_one_mib_compressed_is_refused_by_name(tmp_path):
    import os
    g, done, _ = two_cell_grid(tmp_path)
    (done.dir / "epochs.csv").write_bytes(os.urandom(1_200_000))    # incompressible
    with pytest.raises(EV.EvidenceError, match=r"epochs.csv: 1\.\d\d MiB compressed"):
        EV.export(g, tmp_path / "repo")


def test_a_grid_continues_from_its_shipped_partial_evidence(tmp_path):
    """A long grid ships what it has finished (a session ends, the machine is new the next day); in a fresh clone the
    same grid, rooted where the evidence ships, counts those cells finished (their params are the grid file's, so
    nothing is refused as stale) and trains only the rest."""
    from aura_core.base.params import load, to_dict
    from aura_core.running.grid import refuse_stale
    g, done, pending = two_cell_grid(tmp_path)
    (done.dir / "params.yaml").write_text(yaml.safe_dump(to_dict(load(g.base, done.overrides))))  # as it trained
    EV.export(g, tmp_path / "clone" / "outputs" / "grids")
    again = G.load_grid(tmp_path / "g.yaml", tmp_path / "clone" / "outputs" / "grids")
    EV.restore(again.dir)
    cells = G.training_cells(again)
    refuse_stale(again, cells)
    assert [c.id for c in cells if G.finished(c)] == [done.id]
    assert [c.id for c in cells if not G.finished(c)] == [pending.id]


def test_a_grid_adopts_a_training_from_another_grids_shipped_evidence_with_its_scored_rows(tmp_path):
    """`reuse` in a fresh clone: the source grid ships only gzipped CSVs; restoring it with the grid that reuses it
    lets the adopted cell carry the predictions its tables read (not just metrics.json)."""
    from aura_core.base.params import load, to_dict
    from aura_core.running import reuse
    from aura_core.running.grid import reusable
    g, done, _ = two_cell_grid(tmp_path)
    (done.dir / "params.yaml").write_text(yaml.safe_dump(to_dict(load(g.base, done.overrides))))
    shipped = tmp_path / "clone" / "outputs" / "grids"
    EV.export(g, shipped)
    (tmp_path / "h.yaml").write_text(yaml.safe_dump({
        "name": "h", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1], "baseline": "b", "reuse": ["g"],
        "configs": [{"label": "b", "set": {}}]}))
    h = G.load_grid(tmp_path / "h.yaml", shipped)
    assert EV.restore_grid(h) == 2                      # the reused grid's two CSVs, inflated
    cell, = G.training_cells(h)
    source = reusable(h, cell)
    assert source == shipped / "g" / done.id
    reuse.adopt(source, cell.dir)
    assert (cell.dir / "predictions" / "olid.csv").read_text() == "id,label,p_toxic\na,1,0.9\n"
    assert G.finished(cell)
