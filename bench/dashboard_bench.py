"""P3: the dashboard at 1M customers (first paint, selection update, bytes) and its memory at 5M.

The dashboard is served by a **child process** (``dashboard.app.serve`` with an in-memory registry from
``dashboard.testing``, so the figures measure the dashboard, not MLflow); Debian's chromium drives the
page through Playwright at 1280×800. The server's CPU seconds (all its threads, ``/proc/<pid>/stat``)
and resident memory (``VmRSS``, ``VmHWM``) are read from ``/proc``: neither the browser nor this
script's polling is counted. For each size, each visit (``--repeats``) measures:

* ``first paint``: from the request to the KPIs and the customer table visible (the plots are deferred
  and come after), wall time and server CPU;
* ``plots``: the datashaded projection drawn;
* ``selection update``: mouse-up of a box brushed on the projection → the table's row count updated
  (wall); the server CPU of everything the brush caused (table, KPIs and the plots' redraw, counted
  until the server is idle, ≥ 2 s); ``plots redrawn``: the last websocket frame after mouse-up;
* ``filter``: a segment picked in the table's filter → the table's row count updated;
* bytes received over the websocket for the page and for one brush (raw points would be ~16 MB at 1M);
* the server's RSS with the session open, and its peak (``VmHWM``: warm-up and scoring included).

Targets (P3, bench/README.md): at 1M customers, first paint ≤ 3 s, selection update ≤ 0.6 s (wall, and the
server's work ≤ 0.6 s CPU), ≤ 3 MB sent to the browser for the page; at 5M customers, the server's
peak RSS < 4 GiB with one session. Sizes other than these print their figures without a target.

Features are built from generated shipments in chunks of 100k customers (ids made unique per chunk)
and cached under ``--cache`` (keyed by the size and a hash of ``workflow/synth.py`` +
``workflow/features.py``; ≈ 10 s per million customers the first time). A full run (1M and 5M, 3 visits
each) takes 3–4 minutes on 2 cores. Nothing here asserts a time.

Run::

    .venv/bin/python bench/dashboard_bench.py                        # 1M and 5M customers, 3 visits each
    .venv/bin/python bench/dashboard_bench.py --sizes 1000000 --repeats 5
    .venv/bin/python bench/dashboard_bench.py --quick --json out.json  # 20k, 1 visit (for run_all.py)
    .venv/bin/python bench/dashboard_bench.py --code /tmp/old-checkout  # serve another checkout's dashboard
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _common as c  # noqa: E402

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
#: The server's CPU of a brush is counted from mouse-up until it has been idle for a while, at least
#: this long (the plots' redraw included).
SETTLE_S = 2.0
FULL_SIZES = (1_000_000, 5_000_000)
#: P3: the size the time and byte targets are stated at, and the size of the memory target.
TARGET_SIZE = 1_000_000
RSS_SIZE = 5_000_000
TARGETS = {"paint": 3.0, "brush": 0.6, "brush_cpu": 0.6, "page_MB": 3.0, "rss": 4 * c.GIB}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- data ------------------------------------------------------------------------------------------


def _code_digest(root: Path = ROOT) -> str:
    sha = hashlib.sha256()
    for module in ("synth.py", "features.py"):
        sha.update((root / "workflow" / module).read_bytes())
    return sha.hexdigest()[:8]


def features_for(n: int, cache: Path) -> Any:
    """Customer features of ``n`` generated customers, cached as Parquet (stale sizes are replaced)."""
    import pandas as pd

    digest = _code_digest()
    path = cache / f"features-{n}-{digest}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    from workflow.features import build_features
    from workflow.synth import generate_shipments

    c.log(f"generating the features of {n:,} customers (cached in {cache})")
    parts = []
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        shipments, _ = generate_shipments(size, 12, seed=start // CHUNK)
        part = build_features(shipments)
        part.index = pd.Index([f"B{start // CHUNK:02d}-{i}" for i in part.index], name="customer_id")
        parts.append(part)
    features = pd.concat(parts)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    features.to_parquet(partial)
    partial.rename(path)
    for old in [*cache.glob(f"features-{n}-*.parquet"), cache / f"features-{n}.parquet"]:
        if old != path:
            old.unlink(missing_ok=True)
    return features


def registry_for(features: Any) -> Any:
    """Two versions fitted on a sample (the dashboard only predicts; fitting speed is not measured)."""
    from dashboard.testing import FakeRegistry, fit_model

    sample = features.sample(min(len(features), FIT_SAMPLE), random_state=0)
    registry = FakeRegistry()
    registry.add(fit_model(sample, 5, version="1", data_path="bench"), aliases=["production"])
    registry.add(fit_model(sample, 6, version="2", data_path="bench", random_state=1), aliases=["candidate"])
    return registry


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the server: a child process -------------------------------------------------------------------


def serve_child(n: int, port: int, cache: Path) -> None:
    """In the child: load the features, fit the registry, warm up (timed) and serve."""
    from dashboard.app import serve, warm_up

    features = features_for(n, cache)
    registry = registry_for(features)

    def features_loader(path: str, as_of: str | None, home_country: str, *_options: str) -> Any:
        return features

    injected = {"loader": registry.load, "lister": registry.list, "features_loader": features_loader}
    # What serve() does on its thread before the first visitor (cold: scoring, the customers frame,
    # Datashader's compilation); this process only serves, as `segments dashboard` does, so it
    # freezes the collector too (serve() does when it blocks).
    # (An older checkout served with --code may not have the option.)
    freeze = {"freeze_gc": True} if "freeze_gc" in inspect.signature(warm_up).parameters else {}
    started, cpu = time.perf_counter(), time.process_time()
    warm_up(**injected, **freeze)
    prepare = {"prepare_s": time.perf_counter() - started, "prepare_cpu_s": time.process_time() - cpu}
    server = serve(port=port, threaded=True, **injected)
    print(json.dumps({"ready": True, **prepare}), flush=True)
    server.join()


class Server:
    """The child process serving the dashboard on ``n`` customers; its CPU and memory from ``/proc``."""

    def __init__(self, n: int, cache: Path, code: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        descriptor, log = tempfile.mkstemp(prefix="dashboard-server-", suffix=".log")
        os.close(descriptor)
        self._log = Path(log)
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(n), "--port", str(self.port)]
        command += ["--cache", str(cache), "--code", str(code)]
        # The server's stderr goes to a file (shown if it fails to start): a pipe nobody reads would
        # fill up with Tornado's warnings about closed websockets and block the server.
        with self._log.open("w") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self.process.stdout.readline()  # blocks until the child is serving (or died)
        if not line.startswith("{"):
            self.process.wait()
            raise RuntimeError(f"the dashboard server did not start:\n{self._log.read_text()[-3000:]}")
        self.startup = json.loads(line)

    def cpu(self) -> float:
        """CPU seconds of the server so far (user + system, all threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory(self) -> tuple[int, int]:
        """Resident memory now and its peak since the server started, in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        values = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in status.splitlines() if "kB" in line}
        return values["VmRSS"], values["VmHWM"]

    def stop(self) -> None:
        """End the child (ours, by its pid) and drop its log."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.unlink(missing_ok=True)


# --- one visit -------------------------------------------------------------------------------------


def wait_change(locator: Any, before: str | None) -> None:
    """Poll the row count (inside shadow roots, which Playwright locators pierce) until it changes."""
    deadline = time.perf_counter() + TIMEOUT_MS / 1000
    while locator.get_attribute("data-rows") == before:
        if time.perf_counter() > deadline:
            raise TimeoutError("the table's row count did not change")
        time.sleep(0.01)


def wait_quiet(page: Any, server: Server, quiet_s: float = 0.5, limit_s: float = 60.0) -> None:
    """Wait ``SETTLE_S``, then until the server has used no CPU for ``quiet_s`` (at most ``limit_s``).

    On a loaded machine the redraw after a brush can take longer than ``SETTLE_S``; its CPU must
    still be counted whole.
    """
    page.wait_for_timeout(SETTLE_S * 1000)
    deadline = time.perf_counter() + limit_s
    before = server.cpu()
    while time.perf_counter() < deadline:
        page.wait_for_timeout(quiet_s * 1000)  # lets Playwright record the frames meanwhile
        now = server.cpu()
        if now == before:
            return
        before = now


def time_one_visit(browser: Any, server: Server) -> dict[str, float]:
    """Open the page, brush the projection, pick a segment: seconds, server CPU, megabytes, memory."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    frames: list[tuple[float, int]] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda payload: frames.append((time.perf_counter(), len(payload)))),
    )
    times: dict[str, float] = {}
    start, cpu = time.perf_counter(), server.cpu()
    page.goto(server.url, wait_until="commit", timeout=TIMEOUT_MS)
    times["html_s"] = time.perf_counter() - start
    page.locator(".kpis").wait_for(timeout=TIMEOUT_MS)
    page.locator(".rows-count").wait_for(timeout=TIMEOUT_MS)
    times["paint_s"] = time.perf_counter() - start
    times["paint_cpu_s"] = server.cpu() - cpu
    canvas = page.locator(".projection canvas").first
    canvas.wait_for(timeout=TIMEOUT_MS)
    times["plots_s"] = time.perf_counter() - start
    page.wait_for_timeout(3000)  # the remaining deferred plots
    times["page_MB"] = sum(size for _, size in frames) / 1e6

    count = page.locator(".rows-count")
    total = count.get_attribute("data-rows")
    canvas.scroll_into_view_if_needed()  # the map sits below the segment profiles
    box = canvas.bounding_box()
    x0, y0 = box["x"] + 0.2 * box["width"], box["y"] + 0.15 * box["height"]
    x1, y1 = box["x"] + 0.55 * box["width"], box["y"] + 0.85 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    frames.clear()
    start, cpu = time.perf_counter(), server.cpu()
    page.mouse.up()
    wait_change(count, total)
    times["brush_s"] = time.perf_counter() - start
    wait_quiet(page, server)  # the plots' redraw
    times["brush_cpu_s"] = server.cpu() - cpu
    times["brush_plots_s"] = max((at for at, _ in frames), default=start) - start
    times["brush_MB"] = sum(size for _, size in frames) / 1e6
    times["rss"], times["rss_peak"] = server.memory()

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
    page.wait_for_timeout(500)  # let the last patches land before the page goes
    page.close()
    return times


def measure(n: int, repeats: int, cache: Path, code: Path) -> dict[str, Any]:
    """Serve the dashboard on ``n`` customers in a child process and time ``repeats`` visits."""
    from playwright.sync_api import sync_playwright

    features_for(n, cache)  # generate here, once, so that the child only reads the file
    load_before = os.getloadavg()[0]
    c.log(f"{n:,} customers: starting the server")
    server = Server(n, cache, code)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            visits = []
            for visit in range(repeats):
                visits.append(time_one_visit(browser, server))
                c.log(
                    f"{n:,} customers, visit {visit + 1}/{repeats}: paint {visits[-1]['paint_s']:.2f} s, "
                    f"brush {visits[-1]['brush_s']:.2f} s (server cpu {visits[-1]['brush_cpu_s']:.2f} s)"
                )
            browser.close()
    finally:
        server.stop()
    return {"customers": n, "visits": visits, "load": (load_before, os.getloadavg()[0]), **server.startup}


# --- report ----------------------------------------------------------------------------------------


def rows_for(result: dict[str, Any]) -> list[c.Row]:
    """The P3 rows of one size: medians over the visits, with the targets that apply at this size."""
    n, visits = result["customers"], result["visits"]
    at = f"{n:,} customers"
    timed = n == TARGET_SIZE

    def values(key: str) -> list[float]:
        return [visit[key] for visit in visits]

    def seconds(row_id: str, what: str, key: str, cpu_key: str | None = None, target: str | None = None) -> c.Row:
        cpu = values(cpu_key) if cpu_key else None
        limit = TARGETS[target] if target and timed else None
        return c.seconds_row(row_id, f"{what}, {at}", values(key), cpu=cpu, max_value=limit)

    def amount(row_id: str, what: str, key: str, unit: str, target: str | None = None, applies: bool = True) -> c.Row:
        data = values(key)
        limit = TARGETS[target] if target and applies else None
        spread = f"{c.fmt(min(data), unit)}–{c.fmt(max(data), unit)}"
        return c.Row(row_id, f"{what}, {at}", statistics.median(data), unit=unit, max_value=limit,
                     runs=len(data), spread=spread, values=[round(v, 4) for v in data])  # fmt: skip

    load = "load average {:.1f} → {:.1f}".format(*result["load"])
    prepare = c.Row("P3·warm", f"server warm-up (scoring, customers frame, Datashader compilation), {at}",
                    result["prepare_s"], cpu=result["prepare_cpu_s"], note=load)  # fmt: skip
    return [
        prepare,
        seconds("P3·html", "page requested → first byte (the server builds the session's page)", "html_s"),
        seconds("P3·paint", "first paint (KPIs and table visible), server cpu", "paint_s", "paint_cpu_s", "paint"),
        seconds("P3·plots", "projection drawn (deferred after the first paint)", "plots_s"),
        seconds(
            "P3·brush", "selection update: mouse-up → table updated, server cpu", "brush_s", "brush_cpu_s", "brush"
        ),
        amount(
            "P3·brush·cpu", "selection update: server cpu (table, KPIs, plots)", "brush_cpu_s", "s", "brush_cpu", timed
        ),
        seconds("P3·redraw", "selection update: mouse-up → last websocket frame (plots redrawn)", "brush_plots_s"),
        seconds("P3·filter", "segment filter → table updated", "filter_s"),
        amount("P3·page", "websocket bytes for the page", "page_MB", "MB", "page_MB", timed),
        amount("P3·brush·MB", "websocket bytes for one brush", "brush_MB", "MB"),
        amount("P3·RSS", "server peak RSS (VmHWM), one session", "rss_peak", "GiB", "rss", n == RSS_SIZE),
        amount("P3·RSS·now", "server RSS with the session open", "rss", "GiB"),
    ]


def report(rows: list[c.Row], args: argparse.Namespace) -> None:
    """Print the P3 table and the rounds; write the rows as JSON when asked (``_common.report``)."""
    c.report("P3 dashboard", rows, args)


def main(argv: list[str] | None = None) -> None:
    """Parse the options; serve (child) or measure each size and print the P3 table."""
    cli = c.parser(__doc__.splitlines()[0], quick_repeats=1, full_repeats=3)
    cli.add_argument("--sizes", type=int, nargs="+", default=None, help="customers (default 1M 5M; --quick 20k)")
    cli.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dashboard-bench",
        help="folder of the generated features (default <tmp>/dashboard-bench)",
    )
    cli.add_argument("--code", type=Path, default=ROOT, help="checkout whose dashboard to serve (default this one)")
    cli.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)  # the child process
    cli.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = cli.parse_args(argv)
    sys.path.insert(0, str(args.code.resolve()))  # the dashboard (and workflow) of --code
    if args.serve is not None:
        serve_child(args.serve, args.port, args.cache)
        return
    sizes = args.sizes or ([c.QUICK_CUSTOMERS] if args.quick else list(FULL_SIZES))
    repeats = c.repeats_of(args)
    results = [measure(n, repeats, args.cache, args.code) for n in sizes]
    report([row for result in results for row in rows_for(result)], args)


if __name__ == "__main__":
    main()
