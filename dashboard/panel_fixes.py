"""Every workaround that relies on the internals of Panel 1.9, panel-material-ui 0.x or HoloViews 1.x.

Written for Panel 1.9.x (the last release for Python 3.11; Panel 1.10 needs Python >= 3.12),
panel-material-ui 0.x and HoloViews 1.2x. Each says what it works around and how to tell when it
can go: on an upgrade, run ``make test`` (the browser tests fail on any console error) and re-check
each item here. Nothing outside this module overrides a private method or sets a private attribute
of those libraries.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
import panel_material_ui as pmui

#: Delay before a plot is added to a freshly opened tab (see ``mounted_later``).
MOUNT_DELAY_MS = 250


class LiveHTML(pn.pane.HTML):
    """An HTML pane for text that changes with every selection: an update sends only the text.

    Panel 1.9 sends an HTML pane's stylesheets again with each new text, as new ImportedStyleSheet
    models: Bokeh then walks the page's whole model graph (10–30 ms at each update, seven updates per
    selection) and the browser applies the stylesheets again. Other changes (styles, sizing) take
    Panel's usual path.
    """

    def _update(self, ref: str, model: object) -> None:
        props = self._get_properties(model.document)
        props.pop("stylesheets", None)
        model.update(**props)


class _PositionToIndex:
    """``Tabulator``'s row position → index lookup, answered from the index itself."""

    def __init__(self, index: pd.Index | None) -> None:
        self._index = index

    def get(self, position: int, default: object = None) -> object:
        """The index label at ``position``, else ``default``."""
        if self._index is None or not 0 <= position < len(self._index):
            return default
        return self._index[position]


class PagedTabulator(pn.widgets.Tabulator):
    """Panel's Tabulator without the Python dict from row position to index it builds on every value.

    With remote pagination the browser holds one page, but Panel 1.9 still maps every row of the
    value in a dict comprehension (0.2–0.3 s at 1M rows, on each selection). The dict only serves
    ``.get(row)`` for cell events, which the index answers directly.
    """

    def _update_index_mapping(self) -> None:
        processed = self._processed
        self._index_mapping = _PositionToIndex(processed.index if isinstance(processed, pd.DataFrame) else None)


def weak_hook(method: object) -> object:
    """A plot hook that calls ``method`` while its object lives, and holds it only weakly.

    HoloViews keeps an element's options, hooks included, in its process-wide option trees: a hook
    bound to a view would keep the view, its store and the session's data alive after the session
    ends (tests/browser/test_session_release.py).
    """
    ref = weakref.WeakMethod(method)

    def hook(plot: object, element: object) -> None:
        bound = ref()
        if bound is not None:
            bound(plot, element)

    return hook


def mounted_later(build: object, height: int) -> pn.viewable.Viewable:
    """The plot ``build()`` returns, added to the page in a later server callback than its tab.

    Workaround for panel-material-ui 0.x (panel-extensions/panel-material-ui#548, open): a tab's
    layout that arrives with a Bokeh plot inside measures the plot before the plot has built its own
    layout, and the browser logs "Cannot read properties of undefined (reading 'top_panel')". A plot
    added to an already-mounted column is measured after it is built. (Needed while the tab bodies
    were inside ``pmui.Tabs``; kept with the tab-bar workaround of :class:`Dashboard`, not
    re-measured without it.) Outside a served page (tests, exports) the plot is built at once.
    """
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return build()
    holder = pn.Column(placeholder(height), sizing_mode="stretch_width", min_height=height)

    def fill() -> None:
        holder.objects = [build()]

    # After a delay, not at the next tick: the tab's models must have reached the browser and been
    # mounted. Panel's periodic callback (run once) sets the session's document for ``build``.
    pn.state.add_periodic_callback(fill, period=MOUNT_DELAY_MS, count=1)
    return holder


def placeholder(height: int) -> pn.viewable.Viewable:
    return pn.Spacer(height=height, sizing_mode="stretch_width")


def tab_bar_only(labels: list[str], **params: object) -> pmui.Tabs:
    """A panel-material-ui tab bar whose tabs hold nothing: the caller shows and hides the bodies.

    Workaround for panel-material-ui 0.x (panel-extensions/panel-material-ui#548, open): its Tabs
    mount only the active tab's views, and a Bokeh plot mounted again when its tab comes back logs
    "Cannot read properties of undefined (reading 'top_panel')". With this bar the bodies stay mounted
    below it and the inactive ones are hidden (``visible``), which Bokeh lays out without error
    (tests/browser: no console error on any tab). Can go when #548 is fixed.
    """
    return pmui.Tabs(
        *((label, pn.Spacer(height=0, margin=0)) for label in labels), sizing_mode="stretch_width", **params
    )


def relabel_tabs(tabs: pmui.Tabs, labels: list[str]) -> None:
    """Rename the tabs in place (a language switch) without rebuilding them and their bodies.

    panel-material-ui 0.x keeps the labels in the private parameter ``_names``; Panel's own Tabs
    rebuild their objects when renamed through the public API.
    """
    tabs._names = labels


def serve_stylesheets_locally() -> None:
    """Build this session's models with the stylesheet URLs of the server, not of Panel's CDN.

    Panel declares its components' stylesheets with CDN URLs and rewrites them to the server's copies
    when it renders the session's HTML page, from the document's ``dist_url`` template variable. Bokeh
    also builds a session without that page: when a browser's websocket arrives after the session was
    discarded as unused (15-32 s, which a loaded machine reaches), the session is rebuilt from the
    websocket's token. Its stylesheets then point to cdn.holoviz.org: an unstyled page where the
    internet is out of reach, and a request to a third party from a page of customer data. Setting the
    variable first, to the value Panel's page would give it, builds every model with local URLs.
    """
    from panel.io.resources import LOCAL_DIST

    doc = pn.state.curdoc
    if doc is None:
        return
    local = f"{pn.state.rel_path}/{LOCAL_DIST}" if pn.state.rel_path else LOCAL_DIST
    doc.template_variables.setdefault("dist_url", local)


def release_at_session_end(page: pn.viewable.Viewable, then: Callable[[], None]) -> None:
    """Let the session's page, views and store be freed when its session ends.

    Two references in the pinned libraries outlive a session, each keeping its whole page (the
    ``DataStore``, the plots, the selection) in memory for the life of the process:

    * panel-material-ui's ``Page`` binds its ``busy`` to the process-wide ``pn.state.busy`` and never
      removes that watcher;
    * at session end Panel cleans the page up but not its children (``ReactiveESM._cleanup`` walks
      ``model.children``, which the destroyed document has already emptied), so HoloViews keeps the
      plots' stream callbacks in its class-level ``Callback._callbacks``.

    ``then`` runs after the release (the server trims its heap). Checked by
    tests/browser/test_session_release.py.
    """
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return
    roots: list[Any] = []
    # The page's root model exists once the page is in the document, i.e. by the time it loads.
    pn.state.onload(lambda: roots.append(page._documents.get(doc)))

    def release(_context: Any) -> None:
        for root in filter(None, roots):
            for view in page.select():
                if view is not page:
                    view._cleanup(root)
        for watcher in list(pn.state.param.watchers.get("busy", {}).get("value", [])):
            if getattr(getattr(watcher.fn, "__self__", None), "self", None) is page:
                pn.state.param.unwatch(watcher)
        then()

    doc.on_session_destroyed(release)


def relabel_choices(widget: pn.widgets.Widget, label: str, options: dict[str, object], value: list[object]) -> None:
    """Give a multi-choice widget new labels (a language switch) and keep its picks.

    panel-material-ui 0.x: the browser holds the picks as their labels, and new options alone leave
    the old language's labels in the box. The picks are emptied, then sent again in the new labels.
    """
    widget.param.update(label=label, options=options, value=[])
    widget.value = value
