"""Entry points of the dashboard: ``create_app`` builds one page, ``serve`` runs the Panel server.

``segments dashboard`` and ``segments demo`` call :func:`serve` with one :class:`AppSettings` (what
every page of the server shows); each browser tab gets its own ``DataStore`` (its own selection),
while models, features and projections are cached per process.

Authentication: ``basic_auth`` is Panel's basic auth provider, passed through unchanged. Give it a
single password (every user name is accepted) or the path to a JSON file mapping user names to
passwords; Panel then shows a login page and signs its cookie with ``cookie_secret`` (set one that
survives restarts, e.g. from ``PANEL_COOKIE_SECRET``, or users are logged out at each restart).
Without ``basic_auth`` the server listens on localhost only, by default.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import panel as pn

from dashboard.i18n import LANGUAGES, language_from_header
from dashboard.panel_fixes import release_at_session_end, serve_stylesheets_locally
from dashboard.store import DataStore, FeatureLoader, ModelLoader, VersionLister
from dashboard.views import Dashboard
from workflow.tracking.names import MODEL_NAME

#: Extensions the page needs; loaded in ``create_app``, never at import time (docs/architecture.md,
#: "Design rules": no widgets or ``pn.extension`` at import time of library modules).
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


@dataclasses.dataclass(frozen=True)
class AppSettings:
    """What every page of one dashboard server shows: the model, the data, the language.

    ``segments dashboard`` builds one from its options; :func:`serve`, :func:`warm_up` and
    :func:`create_app` take one (or its fields as keyword arguments).

    Parameters
    ----------
    model_ref : str
        Alias, version number or ``models:/`` URI to show first.
    data_path : str or Path, optional
        Shipments file (``--data``) whose customers to show and check for drift; default the model's
        training data.
    lang : {"en", "fr"}, optional
        Interface language; default each browser's, else English.
    ui_address : str, optional
        Address of the MLflow UI (e.g. ``http://127.0.0.1:5000``): the model card links to the run.
    model_name : str
        Registered model name.
    data_options : str
        Reading options given for ``data_path`` (``workflow.data.ReadOptions`` as JSON).
    loader, lister, features_loader : callable, optional
        Injection points (tests, benchmarks); see :class:`~dashboard.store.DataStore`.

    Raises
    ------
    ValueError
        ``lang`` is not one of the interface languages (a bad ``--lang`` fails at start-up, not in
        every session).
    """

    model_ref: str = "production"
    data_path: str | Path | None = None
    lang: str | None = None
    ui_address: str | None = None
    model_name: str = MODEL_NAME
    data_options: str = ""
    loader: ModelLoader | None = None
    lister: VersionLister | None = None
    features_loader: FeatureLoader | None = None

    def __post_init__(self) -> None:
        if self.lang is not None:
            default_language(self.lang)

    def store(self, lang: str = "en") -> DataStore:
        """A new ``DataStore`` (one session's model, data and selection) shown in ``lang``."""
        return DataStore(
            model_ref=self.model_ref,
            data_path=str(self.data_path) if self.data_path else None,
            data_options=self.data_options,
            lang=lang,
            ui_address=self.ui_address,
            model_name=self.model_name,
            loader=self.loader,
            lister=self.lister,
            features_loader=self.features_loader,
        )


def _settings(settings: AppSettings | None, options: dict[str, Any]) -> AppSettings:
    """``settings`` (default ``AppSettings()``) with the fields given as keyword arguments replaced."""
    return dataclasses.replace(settings or AppSettings(), **options)


def create_app(settings: AppSettings | None = None, /, **options: Any) -> pn.viewable.Viewable:
    """Build the dashboard page for one session.

    Parameters
    ----------
    settings : AppSettings, optional
        What the page shows; default ``AppSettings()``.
    **options
        Fields of :class:`AppSettings` that replace those of ``settings``.

    Returns
    -------
    Viewable
        A panel-material-ui ``Page``; never raises for a user-fixable problem (the page shows it).
    """
    settings = _settings(settings, options)
    _init_extensions()
    serve_stylesheets_locally()
    page = Dashboard(settings.store(lang=default_language(settings.lang))).__panel__()
    release_at_session_end(page, then=_schedule_trim)
    return page


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


def warm_up(settings: AppSettings | None = None, /, *, freeze_gc: bool = False, **options: Any) -> None:
    """Fill the process caches and compile Datashader's kernels before the first visitor.

    A cold process spends seconds importing mlflow, loading the model, reading the data, sorting the
    map's hover index and JIT-compiling Datashader's aggregation (numba); without this, the first page
    (or its first hover) pays for all of it.
    A user-fixable problem (no model, missing file…) is left for the page to explain: the store
    records it instead of raising.

    With ``freeze_gc`` (a process that only serves the dashboard), once the libraries are imported
    their objects are moved out of the garbage collector's sight (``gc.freeze``): a server holds
    ~0.5M of them, and each full collection walked them all, 0.2–0.3 s that a page load or a brush
    paid whenever it triggered one. Modules, classes and functions live as long as the process
    anyway; the data (model, customers) is loaded after the freeze, so it stays collectable.

    Parameters
    ----------
    settings : AppSettings, optional
        What the pages will show; default ``AppSettings()``.
    freeze_gc : bool
        Freeze the collector once the libraries are imported.
    **options
        Fields of :class:`AppSettings` that replace those of ``settings``.
    """
    settings = _settings(settings, options)
    import datashader as ds
    import holoviews.plotting.bokeh  # noqa: F401  (the plotting classes every page instantiates)
    import numpy as np
    import pandas as pd

    if freeze_gc:
        if settings.loader is None:
            from workflow import tracking  # noqa: F401  (mlflow: the default loader's import)
        gc.collect()
        gc.freeze()
    store = settings.store()
    if store.scored is not None:
        # The map's hover index (customers sorted along the first axis, ~0.2 s at 1M) for the first hover.
        store.scored.near(0.0, 0.0, 0.0, 0.0)
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
    settings: AppSettings | None = None,
    /,
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    show: bool = False,
    basic_auth: str | None = None,
    cookie_secret: str | None = None,
    threaded: bool = False,
    **options: Any,
) -> Any:
    """Serve the dashboard with Panel (blocking unless ``threaded``).

    Listens on ``address`` (localhost by default: the page shows customer data) and accepts
    websocket connections for that address and port only. With ``threaded=True`` the server runs
    on a thread and is returned; stop it with ``server.stop()`` (tests must, or pytest hangs).

    Parameters
    ----------
    settings : AppSettings, optional
        What every page shows; default ``AppSettings()``.
    port, address : int, str
        Where to listen.
    show : bool
        Open a browser tab.
    basic_auth, cookie_secret : str, optional
        Panel's basic auth (a password, or a JSON file of users and passwords) and cookie secret.
    threaded : bool
        Run the server on a thread and return it.
    **options
        Fields of :class:`AppSettings` that replace those of ``settings`` (e.g. ``loader`` in tests).
    """
    settings = _settings(settings, options)  # a bad lang fails here, at start-up
    # On a thread: the server listens at once; a visitor arriving during the warm-up just waits
    # for the same caches. A blocking server owns its process: it may freeze the collector.
    threading.Thread(
        target=warm_up,
        args=(settings,),
        kwargs={"freeze_gc": not threaded},
        name="dashboard-warm-up",
        daemon=True,
    ).start()

    def app() -> pn.viewable.Viewable:
        return create_app(settings)

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
