"""Dashboard timings at 20k and 1M customers: server-side preparation, first paint, selection update.

The app is served in-process (``dashboard.app.serve(threaded=True)``) with an in-memory registry
(``dashboard.testing``) so that the figures measure the dashboard, not MLflow; Debian's chromium
drives the page through Playwright at 1280×800. For each size:

* ``prepare``: features → labels, scaled space and PCA (``DataStore`` on cold caches), once per process;
* ``html``: the server builds the session's document (until the first byte of the page);
* ``first paint``: KPIs and the customer table visible (the plots are deferred and come after);
* ``plots``: the datashaded projection drawn;
* ``brush``: mouse-up of a box selection on the projection → table row count updated;
* ``filter``: a segment picked in the table's filter → table row count updated;
* bytes received over the websocket for the page and for one brush (raw points would be ~16 MB at 1M);
* ``*_cpu_s``: CPU seconds this process (the server threads; the browser is another process) spent
  until first paint and on the brush: on a shared, loaded machine the wall times above stretch with
  the load, these much less.

Features at 1M are built from generated shipments in chunks of 100k customers (ids made unique per
chunk) and cached under ``--cache``. Nothing here asserts a time: this prints a table.

Run: ``.venv/bin/python bench/dashboard_bench.py --sizes 20000 1000000 --repeats 3``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.testing import FakeRegistry, fit_model  # noqa: E402
from workflow.features import build_features  # noqa: E402
from workflow.synth import generate_shipments  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHUNK = 100_000
FIT_SAMPLE = 50_000
TIMEOUT_MS = 300_000


def features_for(n: int, cache: Path) -> pd.DataFrame:
    """Customer features of ``n`` generated customers (cached as Parquet)."""
    path = cache / f"features-{n}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    parts = []
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        shipments, _ = generate_shipments(size, 12, seed=start // CHUNK)
        part = build_features(shipments)
        part.index = pd.Index([f"B{start // CHUNK:02d}-{i}" for i in part.index], name="customer_id")
        parts.append(part)
    features = pd.concat(parts)
    cache.mkdir(parents=True, exist_ok=True)
    features.to_parquet(path)
    return features


def registry_for(features: pd.DataFrame) -> FakeRegistry:
    """Two versions fitted on a sample (the dashboard only predicts; fitting speed is not measured)."""
    sample = features.sample(min(len(features), FIT_SAMPLE), random_state=0)
    registry = FakeRegistry()
    registry.add(fit_model(sample, 5, version="1", data_path="bench"), aliases=["production"])
    registry.add(fit_model(sample, 6, version="2", data_path="bench", random_state=1), aliases=["candidate"])
    return registry


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def wait_change(locator: object, before: str | None) -> None:
    """Poll the row count (inside shadow roots, which Playwright locators pierce) until it changes."""
    deadline = time.perf_counter() + TIMEOUT_MS / 1000
    while locator.get_attribute("data-rows") == before:
        if time.perf_counter() > deadline:
            raise TimeoutError("the table's row count did not change")
        time.sleep(0.02)


def measure(n: int, repeats: int, cache: Path) -> dict[str, object]:
    """Serve the dashboard on ``n`` customers and time it in chromium."""
    import panel as pn
    from playwright.sync_api import sync_playwright

    from dashboard.app import serve, warm_up
    from dashboard.store import DataStore

    features = features_for(n, cache)
    registry = registry_for(features)

    def features_loader(path: str, as_of: str | None, home_country: str) -> pd.DataFrame:
        return features

    injected = {"loader": registry.load, "lister": registry.list, "features_loader": features_loader}
    prepare = timed(lambda: DataStore(**injected))  # cold: labels, scaled space, PCA
    warm_up(**injected)  # and Datashader's compilation, as serve() does on its thread
    port = free_port()
    server = serve(port=port, threaded=True, **injected)
    url = f"http://127.0.0.1:{port}/"
    samples: list[dict[str, float]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            samples = [time_one_visit(browser, url) for _ in range(repeats)]
            browser.close()
    finally:
        server.stop()
        server.join(timeout=30)
        pn.state.kill_all_servers()
    result: dict[str, object] = {"customers": n, "prepare_s": prepare}
    for key in samples[0]:
        result[key] = statistics.median(sample[key] for sample in samples)
    return result


def time_one_visit(browser: object, url: str) -> dict[str, float]:
    """Open the page, brush the projection, pick a segment; seconds and megabytes received."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    received = [0]
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload))),
    )
    times: dict[str, float] = {}
    start, cpu = time.perf_counter(), time.process_time()
    page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
    times["html_s"] = time.perf_counter() - start
    page.locator(".kpis").wait_for(timeout=TIMEOUT_MS)
    page.locator(".rows-count").wait_for(timeout=TIMEOUT_MS)
    times["paint_s"] = time.perf_counter() - start
    times["paint_cpu_s"] = time.process_time() - cpu
    canvas = page.locator(".projection canvas").first
    canvas.wait_for(timeout=TIMEOUT_MS)
    times["plots_s"] = time.perf_counter() - start
    page.wait_for_timeout(3000)  # the remaining deferred plots
    times["page_MB"] = received[0] / 1e6

    count = page.locator(".rows-count")
    total = count.get_attribute("data-rows")
    box = canvas.bounding_box()
    x0, y0 = box["x"] + 0.2 * box["width"], box["y"] + 0.15 * box["height"]
    x1, y1 = box["x"] + 0.55 * box["width"], box["y"] + 0.85 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    received[0] = 0
    start, cpu = time.perf_counter(), time.process_time()
    page.mouse.up()
    wait_change(count, total)
    times["brush_s"] = time.perf_counter() - start
    times["brush_cpu_s"] = time.process_time() - cpu
    page.wait_for_timeout(2000)  # the plots' selection layers
    times["brush_MB"] = received[0] / 1e6

    brushed = count.get_attribute("data-rows")
    page.locator(".clear-selection").get_by_role("button").click()
    wait_change(count, brushed)  # back to every customer
    page.wait_for_timeout(2000)  # and the plots redrawn, so the filter is timed alone
    total = count.get_attribute("data-rows")
    page.locator(".segment-filter").get_by_role("combobox").click()
    option = page.get_by_role("menuitem").first
    option.wait_for(timeout=TIMEOUT_MS)
    start = time.perf_counter()
    option.click()
    wait_change(count, total)
    times["filter_s"] = time.perf_counter() - start
    page.close()
    return times


def main() -> None:
    """Parse the options, measure each size, print a table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--sizes", type=int, nargs="+", default=[20_000, 1_000_000])
    cli.add_argument("--repeats", type=int, default=3)
    cli.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "dashboard-bench")
    options = cli.parse_args()
    results = [measure(n, options.repeats, options.cache) for n in options.sizes]
    load = os.getloadavg()[0]
    print(f"\nmedians of {options.repeats} page loads; load average {load:.1f} on {os.cpu_count()} cores")
    print(pd.DataFrame(results).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
