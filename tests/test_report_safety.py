"""Dataset text shown in the notebooks and HTML is escaped: no live tag from the data survives."""
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, write

PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"]


@pytest.mark.slow
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


# ---- aura check-report: each rule on a page made to break it ----------------------------------------------------------

CLEAN = ("<!doctype html><html><body><nav><a href='#a'>A</a></nav><section id='a'><p>$AURA_DATA_DIR/olid/x.tsv "
         "https://example.org/about is a link, not a request</p><img src='data:image/png;base64,iVBOR'>"
         "<style>[data-mime-type=\"application/vnd.jupyter.stderr\"]{color:red}</style></section></body></html>")


@pytest.mark.parametrize("broken, rule", [
    (CLEAN.replace("$AURA_DATA_DIR/olid", "/home/alice/data/olid"), "absolute path '/home/alice/data/olid/x.tsv'"),
    (CLEAN.replace("$AURA_DATA_DIR/olid", "/tmp/run7/olid"), "absolute path '/tmp/run7/olid/x.tsv'"),
    (CLEAN.replace("</section>", "<div class='jp-RenderedText' data-mime-type='application/vnd.jupyter.stderr'>"
                                 "<pre>epoch 1/3: 10%</pre></div></section>"), "a stderr output block"),
    (CLEAN.replace("href='#a'", "href='#b'"), "link #b points to no element"),
    (CLEAN.replace("data:image/png;base64,iVBOR", "figures/gone.png"), "image 'figures/gone.png' not found"),
    (CLEAN.replace("</body>", "<script src='https://cdn.example.org/require.js'></script></body>"),
     "request to another host"),
    (CLEAN.replace("<style>", "<style>@import 'https://fonts.example.org/x.css';"), "request to another host"),
])
def test_check_report_rules_each_fail_on_a_page_made_to_break_them(tmp_path, broken, rule):
    from aura_core.reporting.browser_check import static_problems
    assert static_problems(write(tmp_path / "clean.html", CLEAN)) == []
    problems = static_problems(write(tmp_path / "page.html", broken))
    assert len(problems) == 1 and rule in problems[0], problems


def test_check_report_names_this_runs_own_paths(tmp_path):
    from aura_core.reporting.browser_check import static_problems
    page = write(tmp_path / "p.html", CLEAN.replace("$AURA_DATA_DIR", "data/elsewhere"))
    assert static_problems(page, local=["data/elsewhere"]) == ["p.html: contains the local path 'data/elsewhere'"]
