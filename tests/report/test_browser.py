"""The report in a real browser: headless Chromium (Debian's package) driven by Playwright.

A store with real runs — a loss plane (PNG figures and a plotly view), the spin-glass
thresholds, and a failed run — is reported, opened in Chromium, and checked: no console
errors, every figure and table present, every image decoded, and the plotly view drawn inside
its sandboxed frame. A screenshot is saved next to the report (and under
``$LANDSCAPE_SCREENSHOT_DIR`` when set, to look at). ``.ci/run`` installs Chromium; elsewhere
the test skips with the reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from landscape import checkpoint, models
from landscape.cli import main
from landscape.runtime.store import Store


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the install
    sync_playwright = None

# .ci/run sets LANDSCAPE_REQUIRE_BROWSER=1: there a missing browser fails instead of skipping
REQUIRED = os.environ.get("LANDSCAPE_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None and not REQUIRED,
        reason="no Chromium on this machine (apt-get install chromium; .ci/run installs it)",
    ),
    pytest.mark.skipif(
        sync_playwright is None and not REQUIRED,
        reason="playwright is not installed (pip install -e '.[dev]')",
    ),
]

# flags for a closed network and a root user (no sandbox), as Debian's package needs here
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # software WebGL (SwiftShader) for the 3-D view on a machine with no GPU
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, int, int]:
    tmp = tmp_path_factory.mktemp("browser")
    spec = models.MLPSpec(in_features=64, widths=(6,), out_features=10)
    ck = checkpoint.save(
        tmp / "a.ckpt", models.init_params(spec, 0), spec, meta={"data": {"name": "digits"}}
    )
    store = tmp / "s.db"
    common = ["--store", str(store), "--quiet"]
    plane = ["plane", str(ck), "--data", "digits", "--steps", "5", "--set", "n_samples=200"]
    assert main([*plane, *common]) == 0
    assert main(["theory", "--k-max", "3", *common]) == 0
    with Store(store) as st:
        bad, _ = st.start_run("dauphin", {"note": "<script>alert('x')</script>"}, seed=1)
        st.finish_run(bad.id, "failed", error="stopped by the test")
        runs = st.runs()
        n_figures = sum(len(st.outputs(r.id).figures) for r in runs)
        n_tables = sum(len(st.outputs(r.id).tables) for r in runs)
    out = tmp / "report.html"
    assert main(["report", *[r.id for r in runs], "--store", str(store), "-o", str(out)]) == 0
    return out, n_figures, n_tables


def test_report_renders_in_chromium(report):
    path, n_figures, n_tables = report
    assert n_figures >= 5 and n_tables >= 2  # the plane's PNGs and view, theory's plot
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        # every figure of every run is on the page, and every image decoded
        assert page.locator("figure").count() == n_figures
        images = page.locator("figure img")
        for i in range(images.count()):
            ok = images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            assert ok, f"image {i} did not decode"
        assert page.locator("table.data").count() == n_tables
        assert page.locator("table.claims").count() >= 1
        # the failed run is there and says so; the config value stayed text
        assert page.locator(".status-failed").count() == 1
        configs = [t or "" for t in page.locator("details pre").all_text_contents()]
        assert any("<script>alert('x')</script>" in t for t in configs)
        # the interactive view: plotly drew its SVG inside the sandboxed frame
        frames = page.locator("iframe")
        assert frames.count() >= 1
        inner = page.frame_locator("iframe").first
        inner.locator(".main-svg").first.wait_for(timeout=30_000)
        # the contour (SVG) has its filled levels, the 3-D scene its WebGL canvas
        assert inner.locator(".contourlayer path").count() >= 5
        inner.locator(".gl-container canvas").first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        shot = path.with_name("report.png")
        page.screenshot(path=str(shot), full_page=False)
        view = path.with_name("report_view.png")
        frames.first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(view), clip=frames.first.bounding_box())
        browser.close()
    assert errors == [], f"console errors: {errors}"
    assert shot.stat().st_size > 10_000
    # both panels of the view were drawn: each half of its screenshot is mostly not blank
    from PIL import Image

    pixels = np.asarray(Image.open(view).convert("L"), dtype=float)
    h, w = pixels.shape
    for half in (pixels[h // 5 : -h // 5, : w // 2], pixels[h // 5 : -h // 5, w // 2 :]):
        assert (half < 240).mean() > 0.1, "a panel of the interactive view is blank"
    keep = os.environ.get("LANDSCAPE_SCREENSHOT_DIR")
    if keep:
        for f in (shot, view):
            shutil.copy(f, Path(keep) / f.name)
