"""Dataset text shown in the notebooks and HTML is escaped: no live tag from the data survives."""
import subprocess
import sys

import yaml

from conftest import REPO, write

PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"]


def test_script_and_img_payloads_in_the_data_never_reach_the_html_live(fixture_data, tiny_encoder, tmp_path):
    rows = "".join(f"{60 + i}\tyou idiot {PAYLOADS[i % 2]} @USER\tOFF\tTIN\tIND\n" for i in range(8))
    path = fixture_data / "olid/olid-training-v1.0.tsv"
    write(path, path.read_text().replace("\r\n", "\n") + rows, "\r\n")
    write(fixture_data / "olid/testset-levela.tsv", "id\ttweet\n101\tfirst " + PAYLOADS[0] + "\n102\tsecond "
          + PAYLOADS[1] + "\n103\tthird one\n", "\r\n")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({
        "name": "xss", "data_dir": str(fixture_data), "encoder": tiny_encoder, "allow_hub": False, "epochs": 1,
        "batch_size": 8, "olid_dev_fraction": 0.3, "claims": str(REPO / "params" / "claims.yaml")}))
    r = subprocess.run([sys.executable, "-m", "aura_core.cli", "run", str(tmp_path / "p.yaml"), "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    pages = [tmp_path / "run" / "index.html"] + sorted((tmp_path / "run" / "html").glob("*.html"))
    assert len(pages) == 6
    shown = 0
    for page in pages:
        html = page.read_text()
        for payload in PAYLOADS:
            assert payload not in html, f"live {payload!r} in {page.name}"
        assert "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")
        shown += html.count("&lt;script&gt;alert(1)&lt;/script&gt;") + html.count("&lt;img src=x onerror=alert(2)&gt;")
    assert shown >= 2  # the rows were displayed (escaped), not silently left out
