"""Load test of the served dashboard: N concurrent browser sessions against one ``segments dashboard`` process.

What it does, within ``--timeout`` seconds in all:

1. trains a model on generated shipments (``segments generate``, cached like every bench's data, then
   ``segments train`` and ``segments promote`` on a temporary SQLite store), unless ``--store`` names one;
2. starts ``segments dashboard`` as its own process on a free port of 127.0.0.1, so that the server's
   resident memory (``VmRSS`` of its PID in ``/proc``) is measured apart from the browser and this script;
3. opens one warm-up session (the first page of a process pays for imports and Datashader's compilation),
   closes it and waits until the server has discarded it: the server's memory then is the **before**;
4. opens ``--sessions`` sessions at once (one Debian chromium, one context per session; at most
   ``--concurrency`` loading at the same moment) and times, per session, the **first paint** (from the
   request to the KPIs and the customer table visible) and a **selection update** (a segment picked in
   the table's filter, or a box brushed on the projection with ``--selection brush``, until the table's
   row count changes); every session stays open until all are done, so the **peak** is with N live
   sessions (sampled every 0.2 s);
5. closes them and waits until the server has discarded every session, then ``--settle`` seconds more
   (Panel runs ``gc.collect()`` 5 s after the last session is destroyed): the memory then is the
   **after**, and the verdict is whether it came back within 20 % of the before.

Bokeh discards a session once nobody has used it for 15 s, checking every 17 s: sessions are gone
15–32 s after their page closes. The server runs with ``BOKEH_PY_LOG_LEVEL=debug`` so that its log
tells when (``Discarding session …``); nothing else about the server changes.

Errors are sessions that did not reach their first paint or their selection update, uncaught page
errors and console errors. Nothing here asserts a time (tests/browser/test_dashboard_load.py runs
this with 5 sessions and checks the errors, the figures and the verdict).

Run: ``.venv/bin/python bench/dashboard_load.py --sessions 20 --customers 20000 [--json out.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent):  # bench helpers and the project, also when imported by a test
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import _common as c  # noqa: E402
from dashboard_bench import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402

VIEWPORT = {"width": 1280, "height": 800}
#: Memory after the sessions close may exceed the memory before by this share at most.
RSS_TOLERANCE = 0.20
#: Seconds between two samples of the server's memory while the sessions run.
SAMPLE_EVERY = 0.2
#: Bokeh's defaults (``unused_session_lifetime`` 15 s, checked every 17 s) plus margin: the longest
#: a closed session may live on. The wait for the cleanup stops earlier once the log shows every discard.
CLEANUP_BOUND = 60.0
DISCARD_MARK = "Discarding session"


# --------------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------------


class ServerProcess:
    """``segments dashboard`` in its own process; its log goes to files, its memory is read in ``/proc``."""

    def __init__(self, store_uri: str, folder: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.out_path, self.log_path = folder / "dashboard.out", folder / "dashboard.err"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": store_uri,
            "MPLBACKEND": "Agg",
            # Only to read "Discarding session …" in the log: when the server let a session go.
            "BOKEH_PY_LOG_LEVEL": "debug",
        }
        with self.out_path.open("wb") as out, self.log_path.open("wb") as err:
            self.process = subprocess.Popen(
                [c.SEGMENTS, "dashboard", "--port", str(port)],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=folder,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def _status(self, key: str) -> int:
        """A ``/proc/PID/status`` memory figure in bytes (``VmRSS``, ``VmHWM``); 0 once the process is gone."""
        try:
            lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        except FileNotFoundError:
            return 0
        for line in lines:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
        return 0  # a zombie has no memory lines

    def rss(self) -> int:
        """Resident memory now, in bytes."""
        return self._status("VmRSS")

    def hwm(self) -> int:
        """Peak resident memory since the process started, in bytes."""
        return self._status("VmHWM")

    def discarded(self) -> int:
        """Sessions the server has discarded so far (from its debug log)."""
        return self.log_path.read_text(errors="replace").count(DISCARD_MARK)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_listening(self, deadline: float) -> None:
        """Poll the port until it accepts connections (a TCP connect: an HTTP GET would open a session)."""
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"segments dashboard exited {self.process.returncode}:\n{self.log_tail()}")
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"segments dashboard not listening on {self.port} in time:\n{self.log_tail()}")
            time.sleep(0.2)

    def wait_discarded(self, count: int, deadline: float) -> bool:
        """Wait until ``count`` sessions in all were discarded (bounded); whether they were."""
        while self.discarded() < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                return False
            time.sleep(0.25)
        return True

    def settled_rss(self, seconds: float) -> int:
        """Resident memory after ``seconds`` more (Panel's deferred ``gc.collect()`` runs meanwhile)."""
        time.sleep(max(0.0, seconds))
        return self.rss()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there 15 s later."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def train_store(customers: int, folder: Path, deadline: float) -> str:
    """A temporary SQLite store with version 1 of the model as ``production``, made through the CLI."""
    data = c.ensure_shipments(customers)
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "SEGMENTS_USER": "load-test", "MPLBACKEND": "Agg"}
    steps = (
        ["train", "--data", str(data), "--k", "3-5", "--seed", "0"],
        # --force: the load does not depend on the model's quality gates (the reason is mandatory).
        ["promote", "1", "--force", "--reason", "dashboard load test"],
    )
    for args in steps:
        c.log(f"segments {' '.join(args)}")
        remaining = max(1.0, deadline - time.monotonic())
        done = subprocess.run(
            [c.SEGMENTS, *args], env=env, cwd=folder, capture_output=True, text=True, timeout=remaining, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"segments {args[0]} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return uri


# --------------------------------------------------------------------------------------------------
# One browser session
# --------------------------------------------------------------------------------------------------


@dataclass
class Session:
    """What one browser session reached, and when."""

    index: int
    first_paint_s: float | None = None
    plots_s: float | None = None
    selection_s: float | None = None
    rows_before: int | None = None
    rows_after: int | None = None
    errors: list[str] = field(default_factory=list)
    #: Set when the page is being closed: what fails then (aborted requests) is not an error of the session.
    closing: bool = False

    def record(self, error: str) -> None:
        if not self.closing:
            self.errors.append(error)


def _ms_left(deadline: float) -> float:
    """Milliseconds until ``deadline`` (at least 1: Playwright reads 0 as "no timeout")."""
    return max(1.0, (deadline - time.monotonic()) * 1000)


async def _pick_segment(page: Any, deadline: float) -> float:
    """Pick the first segment in the table's filter; seconds from the click to the new row count."""
    from playwright.async_api import expect

    count = page.locator(".rows-count")
    before = await count.get_attribute("data-rows", timeout=_ms_left(deadline))
    await page.locator(".segment-filter").get_by_role("combobox").click(timeout=_ms_left(deadline))
    option = page.get_by_role("menuitem").first
    await option.wait_for(timeout=_ms_left(deadline))
    start = time.perf_counter()
    await option.click(timeout=_ms_left(deadline))
    await expect(count).not_to_have_attribute("data-rows", before, timeout=_ms_left(deadline))
    elapsed = time.perf_counter() - start
    await page.get_by_role("listbox").press("Escape", timeout=_ms_left(deadline))  # the menu stays open
    return elapsed


async def _brush(page: Any, deadline: float) -> float:
    """Box-select the left half of the projection; seconds from mouse-up to the new row count."""
    from playwright.async_api import expect

    count = page.locator(".rows-count")
    before = await count.get_attribute("data-rows", timeout=_ms_left(deadline))
    canvas = page.locator(".projection canvas").first
    await page.wait_for_timeout(1000)  # the datashaded image arrives after the canvas
    box = await canvas.bounding_box()
    x0, y0 = box["x"] + 0.15 * box["width"], box["y"] + 0.1 * box["height"]
    x1, y1 = box["x"] + 0.5 * box["width"], box["y"] + 0.85 * box["height"]
    await page.mouse.move(x0, y0)
    await page.mouse.down()
    await page.mouse.move(x1, y1, steps=8)
    start = time.perf_counter()
    await page.mouse.up()
    await expect(count).not_to_have_attribute("data-rows", before, timeout=_ms_left(deadline))
    return time.perf_counter() - start


def _console_error(session: Session, message: Any) -> None:
    """Record a console error with where it came from (a failed resource names no URL in its text)."""
    if message.type == "error":
        where = message.location.get("url", "") if message.location else ""
        session.record(f"console: {message.text}" + (f" [{where}]" if where else ""))


async def _visit(
    browser: Any, url: str, session: Session, selection: str, gate: asyncio.Semaphore, deadline: float
) -> Any:
    """Open the page in a new context, time the first paint and one selection; return the open context."""
    context = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = await context.new_page()
    page.on("pageerror", lambda error: session.record(f"uncaught: {error}"))
    page.on("console", lambda message: _console_error(session, message))
    page.on("requestfailed", lambda request: session.record(f"request failed: {request.url} ({request.failure})"))
    try:
        async with gate:
            start = time.perf_counter()
            await page.goto(url, wait_until="commit", timeout=_ms_left(deadline))
            await page.locator(".kpis").wait_for(timeout=_ms_left(deadline))
            await page.locator(".rows-count").wait_for(timeout=_ms_left(deadline))
            session.first_paint_s = time.perf_counter() - start
            # The plots are built after the first paint, all at once: time the selection on a full page
            # (a selection queued behind the plots would time them instead).
            await page.locator(".projection canvas").first.wait_for(timeout=_ms_left(deadline))
            session.plots_s = time.perf_counter() - start
            session.rows_before = int(await page.locator(".rows-count").get_attribute("data-rows"))
            act = _brush if selection == "brush" else _pick_segment
            session.selection_s = await act(page, deadline)
            session.rows_after = int(await page.locator(".rows-count").get_attribute("data-rows"))
    except Exception as error:  # reported, not raised: one failed session must not hide the others' figures
        first_line = (str(error).strip().splitlines() or [""])[0]
        session.errors.append(f"{type(error).__name__}: {first_line}")
    return context


async def _sample(server: ServerProcess, samples: list[int], stop: asyncio.Event) -> None:
    """Record the server's resident memory every ``SAMPLE_EVERY`` seconds until ``stop``."""
    while not stop.is_set():
        samples.append(server.rss())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)


async def _browse(
    server: ServerProcess, count: int, selection: str, concurrency: int, settle: float, deadline: float
) -> tuple[list[Session], Session, dict[str, Any]]:
    """The warm-up session, the before, then ``count`` concurrent sessions with the peak sampled."""
    from playwright.async_api import async_playwright

    memory: dict[str, Any] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            c.log("warm-up session")
            warm = Session(index=0)
            context = await _visit(browser, server.url, warm, selection, asyncio.Semaphore(1), deadline)
            warm.closing = True
            await context.close()
            c.log("waiting for the server to discard the warm-up session")
            memory["warm_discarded"] = await asyncio.to_thread(
                server.wait_discarded, 1, min(deadline, time.monotonic() + CLEANUP_BOUND)
            )
            memory["before"] = await asyncio.to_thread(server.settled_rss, settle)

            c.log(f"{count} sessions, at most {concurrency} loading at once")
            sessions = [Session(index=i + 1) for i in range(count)]
            gate = asyncio.Semaphore(concurrency)
            samples: list[int] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample(server, samples, stop))
            started = time.perf_counter()
            contexts = await asyncio.gather(
                *(_visit(browser, server.url, s, selection, gate, deadline) for s in sessions)
            )
            memory["sessions_s"] = time.perf_counter() - started
            memory["load"] = os.getloadavg()[0]
            samples.append(server.rss())  # every session open and done
            stop.set()
            await sampler
            memory["peak"] = max(samples, default=0)
            memory["hwm"] = server.hwm()
            for session in sessions:
                session.closing = True
            for context in contexts:
                await context.close()
        finally:
            await browser.close()
    return sessions, warm, memory


# --------------------------------------------------------------------------------------------------
# The run and its report
# --------------------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float | None:
    """Linear-interpolation percentile (numpy's default) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _figures(values: list[float], total: int) -> dict[str, Any]:
    return {
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "max": max(values) if values else None,
        "reached": len(values),
        "of": total,
        "values": [round(v, 3) for v in values],
    }


def run_load(
    sessions: int = 20,
    customers: int = 20_000,
    *,
    concurrency: int | None = None,
    timeout: float = 900.0,
    selection: str = "filter",
    settle: float = 8.0,
    store: str | None = None,
) -> dict[str, Any]:
    """Serve the dashboard in its own process, load it with ``sessions`` browser sessions, report.

    Parameters
    ----------
    sessions : int
        Concurrent browser sessions (after one warm-up session).
    customers : int
        Size of the generated shipments the model is trained on (ignored with ``store``).
    concurrency : int, optional
        Sessions loading at the same moment (default: all of them).
    timeout : float
        Bound on the whole run, in seconds (training, server start, sessions, cleanup).
    selection : {"filter", "brush"}
        The selection update each session times.
    settle : float
        Seconds to wait after the last session was discarded before reading the memory.
    store : str, optional
        Tracking URI of an existing store with a ``production`` model (skips the training).

    Returns
    -------
    dict
        ``first_paint_s`` and ``selection_s`` (p50, p95, max, reached, of, values), ``errors`` and
        ``error_count``, ``rss_mb`` (before, peak, after, hwm), ``rss_after_ratio``, ``memory_back``
        (after ≤ 1.2 × before), ``cleanup`` (sessions discarded, seconds), ``warm_up`` and the machine.
    """
    if sessions < 1:
        raise ValueError("sessions must be ≥ 1")
    if selection not in {"filter", "brush"}:
        raise ValueError(f"selection must be filter or brush, got {selection!r}")
    concurrency = max(1, min(concurrency or sessions, sessions))
    started = time.monotonic()
    deadline = started + timeout
    folder = Path(tempfile.mkdtemp(dir=c.data_dir(), prefix="dashboard-load-"))
    server = None
    try:
        uri = store or train_store(customers, folder, deadline)
        server = ServerProcess(uri, folder, free_port())
        c.log(f"segments dashboard on {server.url} (pid {server.pid})")
        server.wait_listening(deadline)
        results, warm, memory = asyncio.run(_browse(server, sessions, selection, concurrency, settle, deadline))
        closed = time.monotonic()
        c.log("sessions closed; waiting for the server to discard them")
        expected = 1 + sessions
        cleaned = server.wait_discarded(expected, min(deadline, closed + CLEANUP_BOUND))
        cleanup_s = time.monotonic() - closed
        after = server.settled_rss(settle)
        discarded = server.discarded()
        server_alive = server.process.poll() is None
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    errors = [f"session {s.index}: {e}" for s in results for e in s.errors]
    if not server_alive:
        errors.append("the server process exited during the run")
    before, peak = int(memory["before"]), int(memory["peak"])
    mb = 1024**2
    return {
        "sessions": sessions,
        "customers": None if store else customers,
        "concurrency": concurrency,
        "selection": selection,
        "first_paint_s": _figures([s.first_paint_s for s in results if s.first_paint_s is not None], sessions),
        "plots_s": _figures([s.plots_s for s in results if s.plots_s is not None], sessions),
        "selection_s": _figures([s.selection_s for s in results if s.selection_s is not None], sessions),
        "rows": [{"before": s.rows_before, "after": s.rows_after} for s in results],
        "errors": errors,
        "error_count": len(errors),
        "rss_mb": {
            "before": round(before / mb, 1),
            "peak": round(peak / mb, 1),
            "after": round(after / mb, 1),
            "hwm": round(int(memory["hwm"]) / mb, 1),
        },
        "rss_after_ratio": round(after / before, 4) if before else None,
        "memory_back": server_alive and 0 < after <= (1 + RSS_TOLERANCE) * before,
        "cleanup": {
            "discarded": discarded,
            "expected": expected,
            "complete": cleaned,
            "seconds": round(cleanup_s, 1),
            "warm_up_discarded": bool(memory["warm_discarded"]),
            "settle_s": settle,
        },
        "warm_up": {
            "first_paint_s": warm.first_paint_s,
            "plots_s": warm.plots_s,
            "selection_s": warm.selection_s,
            "errors": warm.errors,
        },
        "sessions_wall_s": round(float(memory["sessions_s"]), 2),
        "load_average": round(float(memory["load"]), 1),
        "total_s": round(time.monotonic() - started, 1),
        "machine": c.machine(),
    }


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _change(ratio: float | None) -> str:
    return "—" if ratio is None else f"{100 * (ratio - 1):+.1f} %"


def print_report(report: dict[str, Any]) -> None:
    """The figures as a table on stdout."""
    size = f"{report['customers']:,} customers" if report["customers"] else "an existing store"
    print(
        f"\ndashboard load: {report['sessions']} sessions ({report['concurrency']} loading at once) on {size}; "
        f"selection = {report['selection']}; load average {report['load_average']:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'':24}{'p50':>8}{'p95':>8}{'max':>8}{'reached':>10}")
    rows = (
        ("first_paint_s", "first paint (s)"),
        ("plots_s", "plots drawn (s)"),
        ("selection_s", "selection update (s)"),
    )
    for key, label in rows:
        row = report[key]
        reached = f"{row['reached']}/{row['of']}"
        print(f"{label:24}{_seconds(row['p50']):>8}{_seconds(row['p95']):>8}{_seconds(row['max']):>8}{reached:>10}")
    warm = report["warm_up"]
    print(
        f"warm-up session (cold server): first paint {_seconds(warm['first_paint_s'])} s, "
        f"plots {_seconds(warm['plots_s'])} s, "
        f"selection {_seconds(warm['selection_s'])} s"
    )
    print(f"errors: {report['error_count']}")
    for error in report["errors"][:20]:
        print(f"  - {error}")
    rss = report["rss_mb"]
    print(
        f"server RSS (MB): before {rss['before']:,.0f} · peak {rss['peak']:,.0f} "
        f"(+{rss['peak'] - rss['before']:,.0f}) · after {rss['after']:,.0f} "
        f"({_change(report['rss_after_ratio'])}) · high-water mark {rss['hwm']:,.0f}"
    )
    cleanup = report["cleanup"]
    print(
        f"session cleanup: {cleanup['discarded']}/{cleanup['expected']} sessions discarded "
        f"{cleanup['seconds']:.0f} s after the pages closed (+{cleanup['settle_s']:g} s settle)"
        + ("" if cleanup["complete"] else " — NOT all discarded within the bound")
    )
    verdict = "yes" if report["memory_back"] else "NO"
    print(f"memory back within {RSS_TOLERANCE:.0%} of the before once the sessions closed: {verdict}")
    print(f"sessions phase {report['sessions_wall_s']:.1f} s; whole run {report['total_s']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print; exit 1 when a session failed or the memory did not come back."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    cli.add_argument("--customers", type=int, default=20_000, help="generated customers (default 20,000)")
    cli.add_argument("--concurrency", type=int, default=None, help="sessions loading at once (default: all)")
    cli.add_argument("--timeout", type=float, default=900.0, help="bound on the whole run, seconds (default 900)")
    cli.add_argument("--selection", choices=("filter", "brush"), default="filter", help="the timed selection")
    cli.add_argument("--settle", type=float, default=8.0, help="seconds after the cleanup before the last RSS")
    cli.add_argument("--store", default=None, help="tracking URI of a store with a production model (no training)")
    cli.add_argument("--json", type=Path, default=None, help="also write the report to this JSON file")
    args = cli.parse_args(argv)
    report = run_load(
        args.sessions,
        args.customers,
        concurrency=args.concurrency,
        timeout=args.timeout,
        selection=args.selection,
        settle=args.settle,
        store=args.store,
    )
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return 0 if report["error_count"] == 0 and report["memory_back"] else 1


if __name__ == "__main__":
    sys.exit(main())
