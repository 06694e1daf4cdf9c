"""A closed dashboard session is freed: its page, views and ``DataStore`` do not outlive it.

Two references in the pinned libraries used to keep every session's page alive for the life of the
server (panel-material-ui's ``Page`` watching the process-wide ``pn.state.busy``; HoloViews' class-level
stream callbacks, which Panel's clean-up misses for the children of a destroyed document). The app
now releases both when Bokeh destroys the session (``dashboard.panel_fixes.release_at_session_end``).

The app runs in this process (the ``dashboard_url`` fixture), so the test can watch the very
``DataStore`` objects the sessions built: it notes the ones that appear while two pages are open,
closes the pages and waits (bounded) until every one of them has been collected. Bokeh destroys an
unused session on its periodic check (every 17 s, once unused for 15 s), hence the long bound.
"""

from __future__ import annotations

import gc
import time
import weakref

import pytest
from playwright.sync_api import Browser

from dashboard.store import DataStore
from tests.browser.conftest import VIEWPORT, open_dashboard

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:reference already known:bokeh.util.warnings.BokehUserWarning"),
]

#: Bokeh's check of unused sessions runs every 17 s and discards sessions unused for 15 s; then
#: Panel's own clean-up runs. Two checks and some slack on a loaded machine.
RELEASE_BOUND_S = 120.0


def live_stores() -> set[int]:
    """Ids of the ``DataStore`` objects alive in this process (after a full collection).

    ``type(...) is``, not ``isinstance``: the collector also lists weak proxies to stores, which
    ``isinstance`` sees through.
    """
    gc.collect()
    return {id(thing) for thing in gc.get_objects() if type(thing) is DataStore}


def test_closed_sessions_free_their_store(browser: Browser, dashboard_url: str) -> None:
    before = live_stores()
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    for _ in range(2):
        open_dashboard(context.new_page(), dashboard_url)
    gc.collect()
    opened = [weakref.ref(thing) for thing in gc.get_objects() if type(thing) is DataStore]
    opened = [ref for ref in opened if id(ref()) not in before]
    assert len(opened) >= 2, "each page builds its own DataStore"
    context.close()

    deadline = time.monotonic() + RELEASE_BOUND_S
    while any(ref() is not None for ref in opened) and time.monotonic() < deadline:
        time.sleep(2)
        gc.collect()
    alive = sum(ref() is not None for ref in opened)
    assert alive == 0, f"{alive} of {len(opened)} closed sessions' DataStore still alive after {RELEASE_BOUND_S:.0f} s"
