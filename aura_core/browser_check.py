"""Open a run's index.html and every linked HTML in headless Chromium: all images load, the claims table is present,
no console errors; a screenshot of each page goes into <run>/screenshots/. Used by the tests and `aura check-report`."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,2000"]


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
    # a run folder (index.html + html/) or a grid's compare/ folder (05_compare.html at the top)
    pages = sorted(run_dir.glob("*.html"), key=lambda f: f.name != "index.html") + sorted((run_dir / "html").glob("*.html"))
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
