"""Entry points of the dashboard: ``create_app`` builds one page, ``serve`` runs the Panel server.

``segments dashboard`` and ``segments demo`` call :func:`serve`; each browser tab gets its own
``DataStore`` (its own selection), while models, features and projections are cached per process.

Authentication: ``basic_auth`` is Panel's basic auth provider, passed through unchanged. Give it a
single password (every user name is accepted) or the path to a JSON file mapping user names to
passwords; Panel then shows a login page and signs its cookie with ``cookie_secret`` (set one that
survives restarts, e.g. from ``PANEL_COOKIE_SECRET``, or users are logged out at each restart).
Without ``basic_auth`` the server listens on localhost only, by default.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import secrets
import threading
from collections.abc import Callable
from typing import Any

import panel as pn

from dashboard.i18n import LANGUAGES, language_from_header
from dashboard.store import DataStore, FeatureLoader, ModelLoader, VersionLister
from dashboard.views import Dashboard

#: Extensions the page needs; loaded in ``create_app`` (never at import time, DESIGN §6).
_EXTENSIONS = ("tabulator",)
#: Non-empty once ``hv.extension("bokeh")`` has run in this process.
_holoviews_loaded: list[bool] = []


def _init_extensions() -> None:
    import holoviews as hv

    # The ``loading_indicator`` covers every pane while it re-renders (e.g. a version switch).
    pn.extension(*_EXTENSIONS, loading_indicator=True, notifications=False)
    # HoloViews' backend is loaded once per process; loading it again costs each session ~60 ms.
    if not _holoviews_loaded:
        hv.extension("bokeh", logo=False)
        _holoviews_loaded.append(True)


def default_language(lang: str | None = None) -> str:
    """``lang`` when given, else the browser's language (``Accept-Language``) when served, else ``en``."""
    if lang:
        if lang not in LANGUAGES:
            raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
        return lang
    headers = pn.state.headers if pn.state.curdoc is not None else {}
    return language_from_header(headers.get("Accept-Language"))


def create_app(
    model_ref: str = "production",
    data_path: str | None = None,
    lang: str | None = None,
    ui_address: str | None = None,
    model_name: str = "customer-segments",
    *,
    data_options: str = "",
    loader: ModelLoader | None = None,
    lister: VersionLister | None = None,
    features_loader: FeatureLoader | None = None,
) -> pn.viewable.Viewable:
    """Build the dashboard page for one session.

    Parameters
    ----------
    model_ref : str
        Alias, version number or ``models:/`` URI to show first.
    data_path : str, optional
        Shipments file (``--data``) whose customers to show and check for drift; default the model's
        training data.
    lang : {"en", "fr"}, optional
        Interface language; default the browser's, else English.
    ui_address : str, optional
        Address of the MLflow UI (e.g. ``http://127.0.0.1:5000``): the model card links to the run.
    model_name : str
        Registered model name.
    data_options : str
        Reading options given for ``data_path`` (``workflow.data.ReadOptions`` as JSON).
    loader, lister, features_loader : callable, optional
        Injection points (tests, benchmarks); see :class:`~dashboard.store.DataStore`.

    Returns
    -------
    Viewable
        A panel-material-ui ``Page``; never raises for a user-fixable problem (the page shows it).
    """
    _init_extensions()
    _serve_stylesheets_locally()
    store = DataStore(
        model_ref=model_ref,
        data_path=str(data_path) if data_path else None,
        data_options=data_options,
        lang=default_language(lang),
        ui_address=ui_address,
        model_name=model_name,
        loader=loader,
        lister=lister,
        features_loader=features_loader,
    )
    page = Dashboard(store).__panel__()
    _release_at_session_end(page)
    return page


def _serve_stylesheets_locally() -> None:
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


def _release_at_session_end(page: pn.viewable.Viewable) -> None:
    """Let the session's page, views and store be freed when its session ends.

    Two references in the pinned libraries outlive a session, each keeping its whole page (the
    ``DataStore``, the plots, the selection) in memory for the life of the process:

    * panel-material-ui's ``Page`` binds its ``busy`` to the process-wide ``pn.state.busy`` and never
      removes that watcher;
    * at session end Panel cleans the page up but not its children (``ReactiveESM._cleanup`` walks
      ``model.children``, which the destroyed document has already emptied), so HoloViews keeps the
      plots' stream callbacks in its class-level ``Callback._callbacks``.
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
        _schedule_trim()

    doc.on_session_destroyed(release)


#: The pending heap trim (at most one: sessions often end together).
_pending_trim: list[Any] = []
#: Seconds after the last session end: after Panel's own ``gc.collect()`` (5 s after a session ends).
_TRIM_DELAY_S = 6.0


def _schedule_trim() -> None:
    from tornado.ioloop import IOLoop

    loop = IOLoop.current()
    if _pending_trim:
        loop.remove_timeout(_pending_trim.pop())
    _pending_trim.append(loop.call_later(_TRIM_DELAY_S, _trim_heap))


def _trim_heap() -> None:
    """Collect, then give the freed heap back to the system.

    glibc keeps freed memory in its heaps for reuse: without ``malloc_trim`` the server's resident
    memory stays at its peak after the sessions have gone (reused by the next ones, not leaked).
    """
    _pending_trim.clear()
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def warm_up(
    model_ref: str = "production",
    data_path: str | None = None,
    model_name: str = "customer-segments",
    *,
    data_options: str = "",
    loader: ModelLoader | None = None,
    lister: VersionLister | None = None,
    features_loader: FeatureLoader | None = None,
    freeze_gc: bool = False,
) -> None:
    """Fill the process caches and compile Datashader's kernels before the first visitor.

    A cold process spends seconds importing mlflow, loading the model, reading the data and
    JIT-compiling Datashader's aggregation (numba); without this, the first page pays for all of it.
    A user-fixable problem (no model, missing file…) is left for the page to explain: the store
    records it instead of raising.

    With ``freeze_gc`` (a process that only serves the dashboard), once the libraries are imported
    their objects are moved out of the garbage collector's sight (``gc.freeze``): a server holds
    ~0.5M of them, and each full collection walked them all, 0.2–0.3 s that a page load or a brush
    paid whenever it triggered one. Modules, classes and functions live as long as the process
    anyway; the data (model, customers) is loaded after the freeze, so it stays collectable.
    """
    import datashader as ds
    import holoviews.plotting.bokeh  # noqa: F401  (the plotting classes every page instantiates)
    import numpy as np
    import pandas as pd

    if freeze_gc:
        if loader is None:
            from workflow import tracking  # noqa: F401  (mlflow: the default loader's import)
        gc.collect()
        gc.freeze()
    DataStore(
        model_ref=model_ref,
        data_path=str(data_path) if data_path else None,
        data_options=data_options,
        model_name=model_name,
        loader=loader,
        lister=lister,
        features_loader=features_loader,
    )
    # Same dtypes as the projection (float32 coordinates, categorical segment names).
    frame = pd.DataFrame(
        {
            "pc1": np.array([0.0, 1.0], dtype=np.float32),
            "pc2": np.array([0.0, 1.0], dtype=np.float32),
            "segment_name": pd.Categorical(["a", "b"]),
        }
    )
    canvas = ds.Canvas(plot_width=8, plot_height=8)
    aggregate = canvas.points(frame, "pc1", "pc2", ds.count_cat("segment_name"))
    ds.transfer_functions.spread(ds.transfer_functions.shade(aggregate), px=1)


def serve(
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    model_ref: str = "production",
    data_path: str | None = None,
    lang: str | None = None,
    show: bool = False,
    basic_auth: str | None = None,
    cookie_secret: str | None = None,
    ui_address: str | None = None,
    threaded: bool = False,
    model_name: str = "customer-segments",
    data_options: str = "",
    loader: ModelLoader | None = None,
    lister: VersionLister | None = None,
    features_loader: FeatureLoader | None = None,
) -> Any:
    """Serve the dashboard with Panel (blocking unless ``threaded``).

    Listens on ``address`` (localhost by default: the page shows customer data) and accepts
    websocket connections for that address and port only. With ``threaded=True`` the server runs
    on a thread and is returned; stop it with ``server.stop()`` (tests must, or pytest hangs).

    Parameters
    ----------
    port, address : int, str
        Where to listen.
    model_ref, data_path, lang, ui_address, model_name, data_options
        As in :func:`create_app`.
    show : bool
        Open a browser tab.
    basic_auth, cookie_secret : str, optional
        Panel's basic auth (a password, or a JSON file of users and passwords) and cookie secret.
    threaded : bool
        Run the server on a thread and return it.
    loader, lister, features_loader : callable, optional
        Injection points for tests.
    """
    if lang is not None:
        default_language(lang)  # fail at start-up on a bad --lang, not in every session
    # On a thread: the server listens at once; a visitor arriving during the warm-up just waits
    # for the same caches. A blocking server owns its process: it may freeze the collector.
    threading.Thread(
        target=warm_up,
        args=(model_ref, data_path, model_name),
        kwargs={
            "data_options": data_options,
            "loader": loader,
            "lister": lister,
            "features_loader": features_loader,
            "freeze_gc": not threaded,
        },
        name="dashboard-warm-up",
        daemon=True,
    ).start()

    def app() -> pn.viewable.Viewable:
        return create_app(
            model_ref=model_ref,
            data_path=data_path,
            lang=lang,
            ui_address=ui_address,
            model_name=model_name,
            data_options=data_options,
            loader=loader,
            lister=lister,
            features_loader=features_loader,
        )

    origins = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"] if port else None
    options: dict[str, Callable[..., Any] | str | bool | int | list[str] | None] = {
        "port": port,
        "address": address,
        "show": show,
        "threaded": threaded,
        "title": "segments",
        "websocket_origin": origins,
        "verbose": not threaded,
    }
    if basic_auth:
        options["basic_auth"] = basic_auth
        # The login cookie must be signed; without a given secret, a random one per process (users
        # log in again after a restart rather than the login failing).
        options["cookie_secret"] = cookie_secret or secrets.token_hex(32)
    elif cookie_secret:
        options["cookie_secret"] = cookie_secret
    return pn.serve(app, **options)
