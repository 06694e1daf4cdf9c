"""Screenshots of every dashboard tab at 1280×800, in English and French, for the README and the docs.

The dashboard is served in-process on the store ``MLFLOW_TRACKING_URI`` points at (the embedded
``mlruns/`` store by default) and driven by Debian's chromium through Playwright, as the browser
tests do. Train and promote first, for instance on the real data set (see the README)::

    .venv/bin/python docs/make_screenshots.py --out docs/screenshots --prefix real

Writes ``<prefix>-<tab>-<lang>.png`` for the tabs Explore, Compare versions and Drift, and
``<prefix>-explore-full-<lang>.png``: the whole Explore tab, scrolled.
"""

from __future__ import annotations

import argparse
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
TABS = {"explore": 0, "compare": 1, "drift": 2}
LOCALES = {"en": "en-GB", "fr": "fr-FR"}
#: Window height for the whole Explore tab.
FULL_HEIGHT = 3000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                return
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> None:
    """Serve the dashboard, open each tab in each language and save a screenshot of it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--prefix", default="dashboard")
    parser.add_argument("--data", default=None, help="--data for the dashboard (drift against the training data)")
    parser.add_argument("--settle", type=float, default=6.0, help="seconds to let plots draw after each step")
    args = parser.parse_args()

    import panel as pn
    from playwright.sync_api import sync_playwright

    from dashboard.app import serve

    args.out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = serve(port=port, threaded=True, data_path=args.data)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for lang, locale in LOCALES.items():
                context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
                page = context.new_page()
                page.goto(url, wait_until="networkidle", timeout=180_000)
                page.wait_for_timeout(args.settle * 1000)
                for tab, index in TABS.items():
                    page.get_by_role("tab").nth(index).click()
                    page.wait_for_timeout(args.settle * 1000)
                    path = args.out / f"{args.prefix}-{tab}-{lang}.png"
                    page.screenshot(path=str(path))
                    print(path)
                    if tab == "explore":
                        # The whole tab (profiles, map, distributions, table), still 1280 px wide: the
                        # page scrolls inside its main area, so a tall window rather than full_page.
                        page.set_viewport_size({"width": 1280, "height": FULL_HEIGHT})
                        page.wait_for_timeout(args.settle * 1000)
                        path = args.out / f"{args.prefix}-{tab}-full-{lang}.png"
                        page.screenshot(path=str(path))
                        print(path)
                        page.set_viewport_size({"width": 1280, "height": 800})
                        page.wait_for_timeout(args.settle * 1000)
                context.close()
            browser.close()
    finally:
        server.stop()
        server.join(timeout=30)
        pn.state.kill_all_servers()


if __name__ == "__main__":
    main()
