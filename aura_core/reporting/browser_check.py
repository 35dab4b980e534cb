"""What a reader would object to in a page we send: `aura check-report`.

Static rules on every page (no browser needed): an absolute local path, a stderr output block, a table-of-contents
anchor that points nowhere, an image file that is not there, a request to another host. In headless Chromium (when
installed): images that do not load, console errors, and a screenshot of each page in <run>/screenshots/.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from aura_core.base.run_folder import RunFolder

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,2000"]


# a path of the machine that rendered the page: /home/…, /tmp/…, /work/…, C:\\… (not $AURA_DATA_DIR/…, not a URL path)
ABSOLUTE_PATH = re.compile(r"(?<![\w.$/:-])(?:/(?:home|Users|root|tmp|work|mnt|srv|scratch|var|opt|private)/"
                           r"[^\s\"'<>]+|[A-Z]:\\\\[^\s\"'<>]+)")
STDERR_BLOCK = re.compile(r"<div\b[^>]*(?:data-mime-type\s*=\s*[\"']application/vnd\.jupyter\.stderr[\"']|"
                          r"class\s*=\s*[\"'][^\"']*output_stderr)")  # an output element, not the CSS selector
EXTERNAL_REQUEST = re.compile(r"<(?:script|img|iframe|source|video|audio|embed)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//"
                              r"|<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//|url\(\s*[\"']?(?:https?:)?//|"
                              r"@import\s+[\"'](?:https?:)?//", re.I)


def static_problems(page: Path, text: str | None = None, local: list[str] = ()) -> list[str]:
    """Every rule a page breaks, one line each (empty: clean). `local`: strings that must not appear (this run's
    folder, the data dir)."""
    text = page.read_text(encoding="utf-8") if text is None else text
    problems = []
    for s in local:
        if s and s in text:
            problems.append(f"{page.name}: contains the local path {s!r}")
    m = ABSOLUTE_PATH.search(text)
    if m:
        problems.append(f"{page.name}: absolute path {m.group(0)[:80]!r}")
    if STDERR_BLOCK.search(text):
        problems.append(f"{page.name}: a stderr output block (progress bars or warnings in the page)")
    ids = set(re.findall(r"\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", text))
    for anchor in re.findall(r"href\s*=\s*[\"']#([^\"']+)[\"']", text):
        if anchor not in ids:
            problems.append(f"{page.name}: link #{anchor} points to no element")
            break
    for src in re.findall(r"<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", text):
        if not src.startswith(("data:", "http:", "https:", "//")) and not (page.parent / src).is_file():
            problems.append(f"{page.name}: image {src!r} not found")
    m = EXTERNAL_REQUEST.search(text)
    if m:
        problems.append(f"{page.name}: request to another host ({m.group(0)[:80]!r})")
    return problems


def report_pages(run_dir: Path) -> list[Path]:
    """report.html and index.html first, then any other top-level page and html/*.html."""
    first = RunFolder.PAGES
    return (sorted(run_dir.glob("*.html"), key=lambda f: (f.name not in first, first.index(f.name) if f.name in first
                                                           else 0, f.name))
            + sorted(RunFolder(run_dir).html.glob("*.html")))


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def check_report(run_dir: str | Path) -> list[dict]:
    """One record per page: page, images, broken_images, console_errors, has_claims_table, screenshot."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    paths = chromium_paths()
    if paths is None:
        raise RuntimeError("headless check needs chromium and chromedriver (Debian: apt-get install chromium "
                           "chromium-driver)")
    run_dir = Path(run_dir).resolve()
    opts = webdriver.ChromeOptions()
    opts.binary_location = paths[0]
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tempfile.mkdtemp(prefix='aura-chrome-')}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(paths[1]), options=opts)
    shots = run_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    # a run folder (report.html, index.html + html/) or a grid's compare/ folder (report.html, 05_compare.html)
    pages = report_pages(run_dir)
    if not pages:
        raise FileNotFoundError(f"{run_dir}: no HTML report here (expected index.html, html/*.html or *.html)")
    results = []
    try:
        for page in pages:
            driver.get(page.as_uri())  # returns once the page's load event has fired
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.getAttribute('src') ? i.getAttribute('src').slice(0, 60) : '',"
                " i.complete && i.naturalWidth > 0])")
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            shot = shots / f"{page.stem}.png"
            driver.save_screenshot(str(shot))
            results.append({"page": str(page.relative_to(run_dir)), "images": len(images),
                            "broken_images": [src for src, ok in images if not ok], "console_errors": errors,
                            "has_claims_table": "Partner A (claimed)" in driver.page_source,
                            "screenshot": str(shot.relative_to(run_dir))})
    finally:
        driver.quit()
    return results


def check_run(run_dir: str | Path) -> list[str]:
    """Every problem of a run's pages, one line each: the static rules, then (when Chromium is installed) what the
    browser saw; writes <run>/browser_check.json and prints what it could not check."""
    from aura_core.base.io import write_json
    run_dir = Path(run_dir).resolve()
    pages = report_pages(run_dir)
    if not pages:
        return [f"{run_dir}: no HTML report here (expected report.html, index.html, html/*.html)"]
    local = [str(run_dir)]
    if RunFolder(run_dir).has_params():
        import yaml
        data_dir = (yaml.safe_load(RunFolder(run_dir).params.read_text()) or {}).get("data_dir")
        local += [str(data_dir)] if data_dir else []
    problems = [x for page in pages for x in static_problems(page, local=local)]
    if chromium_paths() is None:
        print("check-report: chromium/chromedriver not installed: static rules only (apt-get install chromium "
              "chromium-driver for the browser checks)")
        return problems
    results = check_report(run_dir)
    write_json(RunFolder(run_dir).browser_check, results)
    for r in results:
        print(f"{r['page']}: {r['images']} images, {len(r['broken_images'])} broken, {len(r['console_errors'])} "
              f"console errors, screenshot {r['screenshot']}")
        problems += [f"{r['page']}: image {src!r} did not load" for src in r["broken_images"]]
        problems += [f"{r['page']}: console error {m[:120]!r}" for m in r["console_errors"]]
        if r["page"] in RunFolder.PAGES and not r["has_claims_table"]:
            problems.append(f"{r['page']}: no claimed-vs-reproduced table")
    return problems
