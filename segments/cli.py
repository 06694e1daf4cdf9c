"""The ``segments`` command line: Typer commands, Rich output, one exit-code policy.

The commands, their options and exit codes are in ``docs/architecture.md#command-line``. This module
only parses options, shows progress and prints: training runs through ``workflow.pipeline``, the
registry through ``workflow.tracking``, the dashboard through ``dashboard.app``. It lives outside both
packages because it imports both (``workflow`` never imports ``dashboard``).

Exit codes: 0 done; 2 bad usage or bad input (one line on stderr, no traceback); 1 unexpected
failure. Heavy libraries (pandas, scikit-learn, mlflow, panel) are imported inside the commands so
that ``segments --help`` answers at once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.exceptions import TyperException

from workflow.errors import ModelNotFoundError, SegmentsError

app = typer.Typer(
    name="segments",
    help="Customer segmentation: generate or read shipments, sweep K-means in MLflow, promote, score, explore.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# Rich assumes 80 columns when output is not a terminal (CI logs, pipes): too narrow for the sweep table.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def _tracking_default(name: str) -> Callable[[], object]:
    """A default read from ``workflow.tracking`` when a command runs, not when ``--help`` is shown.

    ``workflow.tracking`` holds the model and experiment names and the gate thresholds; importing it
    costs over a second (pandas, scikit-learn), which ``segments --help`` should not pay.
    """

    def default() -> object:
        from workflow import tracking

        return getattr(tracking, name)

    return default


def _default_model_uri() -> str:
    from workflow import tracking

    return f"models:/{tracking.MODEL_NAME}@{tracking.PRODUCTION}"


ExperimentOption = Annotated[
    str,
    typer.Option("--experiment", default_factory=_tracking_default("EXPERIMENT_NAME"), help="MLflow experiment name."),
]
ModelNameOption = Annotated[
    str, typer.Option("--model-name", default_factory=_tracking_default("MODEL_NAME"), help="Registered model name.")
]
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Map the file's column names: customer_id=Customer,date=OrderDate,amount=Revenue;"
        " amount=Quantity*Price multiplies two columns, order_id=Invoice groups lines into orders.",
    ),
]
MaxFileOption = Annotated[
    float | None,
    typer.Option("--max-file-mb", min=0.0, envvar="SEGMENTS_MAX_FILE_MB", help="Refuse data files above this size."),
]
EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="Text encoding of a CSV file (default UTF-8, with or without BOM; e.g. cp1252)."),
]
SheetOption = Annotated[str | None, typer.Option("--sheet", help="Sheet of an .xlsx workbook (default the first).")]
DecimalOption = Annotated[
    str | None, typer.Option("--decimal", help="Decimal mark of numbers: . or , (default: , in ;-separated files).")
]
DateFormatOption = Annotated[
    str | None,
    typer.Option("--date-format", help="Date format, strftime: %d/%m/%Y %H:%M (default: detected per column)."),
]
#: The options of a file's text form, in their help order; ``_with_file_form`` gives them to a command.
_FILE_FORM_OPTIONS = {
    "encoding": EncodingOption,
    "sheet": SheetOption,
    "decimal": DecimalOption,
    "date_format": DateFormatOption,
}

#: What a command decorated with ``_with_file_form`` receives: the keyword arguments of ``ReadOptions.from_cli``.
FileForm = dict[str, str | None] | None


def _with_file_form(command: Callable[..., None]) -> Callable[..., None]:
    """Declare ``_FILE_FORM_OPTIONS`` once for ``train``, ``score`` and ``dashboard``.

    The command declares one parameter ``file_form`` where the options go in its help; Typer sees
    ``--encoding``, ``--sheet``, ``--decimal`` and ``--date-format`` there (default None each), and
    the command receives them as one ``dict``, the keyword arguments of ``ReadOptions.from_cli``.
    """
    # Evaluated annotations: Typer finds each option's ``typer.Option`` in them.
    signature = inspect.signature(command, eval_str=True)
    parameters = list(signature.parameters.values())
    at = list(signature.parameters).index("file_form")
    group = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation)
        for name, annotation in _FILE_FORM_OPTIONS.items()
    ]
    signature = signature.replace(parameters=[*parameters[:at], *group, *parameters[at + 1 :]])

    @functools.wraps(command)
    def with_file_form(**options: object) -> None:
        file_form = {name: options.pop(name) for name in _FILE_FORM_OPTIONS}
        command(**options, file_form=file_form)

    with_file_form.__signature__ = signature
    with_file_form.__annotations__ = {name: item.annotation for name, item in signature.parameters.items()}
    return with_file_form


EngineOption = Annotated[
    str,
    typer.Option("--engine", help="pandas (one machine) or spark (Parquet input; pip install '.[spark]')."),
]
SparkMasterOption = Annotated[
    str, typer.Option("--spark-master", envvar="SEGMENTS_SPARK_MASTER", help="Spark master URL for --engine spark.")
]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    customers: Annotated[int, typer.Option("--customers", min=1, help="Number of customers.")] = 20_000,
    months: Annotated[int, typer.Option("--months", min=1, max=120, help="Months of history.")] = 12,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same file).")] = 0,
) -> None:
    """Write realistic synthetic shipments of a parcel carrier (and the archetype of each customer beside it)."""
    from workflow.synth import generate_shipments, write_dataset

    started = time.perf_counter()
    with err_console.status(f"generating {customers:,} customers × {months} months"):
        shipments, truth = generate_shipments(customers, months, seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        truth_path = write_dataset(shipments, truth, out)
    console.print(
        f"wrote {len(shipments):,} shipments of {customers:,} customers to [bold]{escape(str(out))}[/] "
        f"(ground truth: {escape(str(truth_path))}) in {time.perf_counter() - started:.1f} s"
    )


@app.command()
@_with_file_form
def train(
    data: Annotated[Path, typer.Option("--data", help="Shipments file (.csv, .csv.gz, .parquet or .xlsx).")],
    columns: ColumnsOption = None,
    k: Annotated[str, typer.Option("--k", help="k to sweep: a range 2-10, a number, or a list 3,5,8.")] = "2-10",
    features: Annotated[
        str | None, typer.Option("--features", help="Comma-separated features (default: all the data allows).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for K-means, samples and subsamples.")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Reference date YYYY-MM-DD (default: day after the last shipment).")
    ] = None,
    choose: Annotated[
        int | None, typer.Option("--choose", help="Register this k instead of the recommended one.")
    ] = None,
    n_init: Annotated[int, typer.Option("--n-init", min=1, help="K-means restarts per k.")] = 10,
    currency: Annotated[
        str | None,
        typer.Option("--currency", help="ISO 4217 code of the amounts (default: the home country's currency)."),
    ] = None,
    home_country: Annotated[
        str, typer.Option("--home-country", help="Home country: an ISO code or a name (GB, United Kingdom).")
    ] = "FR",
    max_bad_share: Annotated[
        float, typer.Option("--max-bad-share", min=0.0, max=1.0, help="Stop above this share of invalid rows.")
    ] = 0.05,
    max_file_mb: MaxFileOption = None,
    file_form: FileForm = None,
    engine: EngineOption = "pandas",
    spark_master: SparkMasterOption = "local[2]",
    experiment: ExperimentOption = ...,
    model_name: ModelNameOption = ...,
) -> None:
    """Validate, build features, sweep k, log every k to MLflow, register the recommended k as [bold]candidate[/]."""
    from workflow.pipeline import TrainSettings, feature_list

    _check_engine(engine)
    home = _home_country(home_country)
    settings = TrainSettings(
        data=data,
        k=k,
        choose=choose,
        as_of=_parse_date(as_of, "--as-of") if as_of else None,
        features=feature_list(features),
        read_options=_read_options(columns, file_form, engine),
        home_country=home,
        currency=_currency(currency, home),
        seed=seed,
        n_init=n_init,
        max_bad_share=max_bad_share,
        max_file_mb=max_file_mb,
        engine=engine,
        spark_master=spark_master,
        experiment=experiment,
        model_name=model_name,
    )
    _train(settings)


def _train(settings) -> None:
    """Run ``workflow.pipeline`` step by step, with spinners, a progress bar and the printed results."""
    from workflow import pipeline, tracking

    tracking.configure(write=True)
    with tracking.store_errors(f"log runs to the experiment '{settings.experiment}'"):
        reaped = tracking.reap_stale_runs(settings.experiment)
    if reaped:
        err_console.print(f"marked {reaped} stale RUNNING run(s) KILLED (their process is gone)")
    n_k = len(settings.ks)
    # Reading and features show their own spinners, which cannot run inside the progress bar; the
    # Spark engine reads inside its session, under the bar.
    customers = _prepare(settings) if settings.engine == "pandas" else None
    with _progress() as progress, _deferred_interrupts():
        task = progress.add_task("fitting", total=n_k)
        training = pipeline.fit(settings, customers, on_step=_advance(progress, task, "fitting"))
        if customers is None:
            _print_report(training.customers.report)
        progress.update(task, completed=n_k, description="fitted")
        report_task = progress.add_task("profiling", total=n_k)
        pipeline.report(training, on_step=_advance(progress, report_task, "profiling"))
        progress.update(report_task, completed=n_k, description="profiled")
        log_task = progress.add_task("logging to MLflow", total=n_k + 1)
        pipeline.log(training, on_step=_advance(progress, log_task, "logging"))
        progress.update(log_task, completed=n_k + 1, description="logged")
    _print_trained(training)


def _prepare(settings):
    """Read, validate and build the customer table (pandas engine), each step under its own spinner."""
    from workflow import pipeline

    with err_console.status(f"reading and validating {escape(str(settings.data))}"):
        shipments, report = pipeline.read(settings)
    with err_console.status("building customer features"):
        customers = pipeline.customer_features(settings, shipments, report)
    _print_report(report)
    table = customers.features
    console.print(
        f"{len(table):,} customers × {table.shape[1]} features ({', '.join(table.columns)}), as of {customers.as_of}"
    )
    return customers


def _print_trained(training) -> None:
    """What ``train`` ends with: the sweep, the sentence, the registered segments, the next step."""
    sweep, recommendation, result = training.sweep, training.recommendation, training.result
    table = sweep.table()
    _print_sweep(table, recommendation.k, result.k)
    console.print(f"[bold]Recommendation:[/] {recommendation.reason}")
    if sweep.silhouette_sample_size < sweep.n_clustered:
        console.print(f"(silhouette on a seeded sample of {sweep.silhouette_sample_size:,} customers)")
    _print_segments(training.report.trial(result.k).profile)
    console.print(
        f"registered [bold]{training.settings.model_name}[/] version [bold]{result.version}[/] (k={result.k}) as alias "
        f"[bold]candidate[/]; next: [cyan]segments promote {result.version}[/]"
    )
    from workflow.tracking import Gates, metric_gate_failures

    metrics = table.loc[result.k]
    failures = metric_gate_failures(float(metrics["silhouette"]), float(metrics["stability_ari"]), Gates())
    if failures:
        # Said now rather than at the promotion: whoever trains decides whether to re-train or to force.
        console.print(
            f"[yellow]note:[/] the default promotion gates will refuse it ({'; '.join(f.message for f in failures)}): "
            "review it in the MLflow UI, then promote with --force --reason TEXT, or change the data or --k"
        )


def _currency(code: str | None, home_country: str) -> str | None:
    """``--currency`` checked (ISO 4217), else the home country's currency (None if it has none)."""
    from babel.numbers import is_currency

    from workflow.errors import DataError
    from workflow.profiles import currency_of

    if code is None:
        return currency_of(home_country)
    if not is_currency(code.strip().upper()):
        raise DataError(f"--currency {code}: not an ISO 4217 currency code (e.g. EUR, GBP, USD)")
    return code.strip().upper()


def _home_country(text: str) -> str:
    """``--home-country``: an ISO code (alpha-2 or alpha-3) or a name, as its alpha-2 code."""
    from workflow.countries import country_code
    from workflow.errors import DataError

    code = country_code(text)
    if code is None:
        raise DataError(f"--home-country {text}: not a country code or name (e.g. FR, GBR, United Kingdom)")
    return code


def _read_options(columns: str | None, file_form: FileForm, engine: str):
    """The reading options of the command line: ``--columns`` and the options of ``_with_file_form``.

    The Spark engine refuses those it does not apply.
    """
    from workflow.data import ReadOptions
    from workflow.errors import DataError

    options = ReadOptions.from_cli(columns, **(file_form or {}))
    refused = [f"--{name.replace('_', '-')}" for name in ("sheet", "decimal", "encoding", "date_format")
               if getattr(options, name)]  # fmt: skip
    if engine == "spark" and refused:
        raise DataError(f"{', '.join(refused)}: the Spark engine reads Parquet only; use the default engine")
    return options


def _check_engine(engine: str) -> None:
    from workflow.errors import DataError

    if engine not in {"pandas", "spark"}:
        raise DataError(f"--engine {engine}: expected pandas or spark")


def _advance(progress: Progress, task: object, verb: str):
    first = [True]

    def step(text: str) -> None:
        _stop_if_requested()  # a step boundary: the safe place to act on a deferred SIGTERM
        if not first[0]:
            progress.advance(task)
        first[0] = False
        progress.update(task, description=f"{verb} {text.removeprefix(verb).strip()}")

    return step


def _parse_date(text: str, option: str):
    import pandas as pd

    from workflow.errors import DataError

    try:
        return pd.Timestamp(pd.to_datetime(text, format="ISO8601"))
    except (ValueError, TypeError):
        raise DataError(f"{option} {text}: expected a date YYYY-MM-DD") from None


def _print_report(report) -> None:
    if report.problems:
        err_console.print(f"[yellow]validation:[/] {escape(report.summary())}")
    elif report.guest_rows:
        err_console.print(f"validation: {escape(report.summary())}")
    else:
        err_console.print(f"validation: {report.rows_read:,} rows, all valid")
    for note in report.notes():
        err_console.print(f"  {escape(note)}", highlight=False)


def _print_segments(profile) -> None:
    """The registered segments as a marketer reads them: name, size, revenue share, description."""
    view = Table(title="Segments", show_lines=False)
    for header, justify in (("segment", "left"), ("customers", "right"), ("revenue", "right"), ("", "left")):
        view.add_column(header, justify=justify)
    for _, row in profile.iterrows():
        revenue = _share(row["revenue_share"]) if "revenue_share" in row else ""
        view.add_row(
            escape(str(row["name"])),
            f"{int(row['size']):,} ({_share(row['share'])})",
            revenue,
            escape(str(row["description"])),
            style="dim" if row["kind"] == "set_aside" else None,
        )
    console.print(view)


def _share(value: float) -> str:
    """A share with one decimal, or two significant digits below 0.05 % (not a misleading 0.0 % or -0.0 %)."""
    if value != 0 and abs(value) < 0.0005:
        return f"{100 * value:.2g}%"
    return f"{value:.1%}"


def _print_sweep(table, recommended: int, chosen: int) -> None:
    view = Table(title="Sweep over k", show_lines=False)
    for header in ("k", "silhouette", "Calinski-Harabasz", "Davies-Bouldin", "stability ARI", "min share", ""):
        view.add_column(header, justify="right")
    for k_value, row in table.iterrows():
        mark = []
        if k_value == recommended:
            mark.append("recommended")
        if k_value == chosen and chosen != recommended:
            mark.append("chosen")
        style = "bold green" if k_value == chosen else None
        view.add_row(
            str(k_value),
            f"{row['silhouette']:.3f}",
            f"{row['calinski_harabasz']:,.0f}",
            f"{row['davies_bouldin']:.3f}",
            f"{row['stability_ari']:.2f}",
            f"{row['min_cluster_share']:.1%}",
            ", ".join(mark),
            style=style,
        )
    console.print(view)


@app.command()
def models(model_name: ModelNameOption = ...) -> None:
    """List registered versions: version, aliases, k, silhouette, stability, data, created."""
    from workflow import tracking

    stale = tracking.stale_runs()
    stale_note = (
        f"{len(stale)} run(s) still marked RUNNING by a process that is gone (crash or kill -9);"
        " the next `segments train` marks them KILLED"
    )
    try:
        rows = tracking.list_versions(model_name)
    except ModelNotFoundError as error:
        if stale:
            raise ModelNotFoundError(f"{error}; {stale_note}") from None
        raise
    view = Table(title=f"Registered model {model_name}")
    for header in ("version", "aliases", "k", "silhouette", "stability", "data", "digest", "created (UTC)"):
        view.add_column(header)
    for row in rows:
        view.add_row(
            row.version,
            ", ".join(row.aliases),
            str(row.k),
            f"{row.silhouette:.3f}",
            f"{row.stability_ari:.2f}",
            Path(row.data_path).name,
            row.data_digest,
            row.created.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(view)
    trail = tracking.audit_trail(model_name)
    if trail:
        console.print("[bold]Recent alias moves[/]")
        for event in trail[-5:]:
            console.print(f"  {event}")
    if stale:
        console.print(f"[yellow]{stale_note}.[/]")


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Version number to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to give it.")] = "production",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
    force: Annotated[bool, typer.Option("--force", help="Override failed metric gates (needs --reason).")] = False,
    min_silhouette: Annotated[
        float,
        typer.Option(
            "--min-silhouette", default_factory=_tracking_default("DEFAULT_MIN_SILHOUETTE"), help="Silhouette gate."
        ),
    ] = ...,
    min_stability: Annotated[
        float,
        typer.Option(
            "--min-stability", default_factory=_tracking_default("DEFAULT_MIN_STABILITY"), help="Stability (ARI) gate."
        ),
    ] = ...,
    model_name: ModelNameOption = ...,
) -> None:
    """Move an alias (default [bold]production[/]) to VERSION after the quality gates pass."""
    from workflow import tracking

    gates = tracking.Gates(min_silhouette=min_silhouette, min_stability=min_stability)
    result = tracking.promote(version, alias=alias, reason=reason, force=force, gates=gates, model_name=model_name)
    if result["changed"] == "no":
        console.print(f"version {version} already holds '{alias}': nothing to do")
        return
    before = f" (was version {result['previous']}, now '{'previous-' + alias}')" if result["previous"] else ""
    console.print(f"'{alias}' → version [bold]{result['version']}[/]{before}, by {result['by']} at {result['at']}")


@app.command()
def rollback(
    alias: Annotated[str, typer.Option("--alias", help="Alias to roll back.")] = "production",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
    model_name: ModelNameOption = ...,
) -> None:
    """Give the alias back to the version that held it before (the two swap)."""
    from workflow import tracking

    result = tracking.rollback(alias=alias, reason=reason, model_name=model_name)
    console.print(f"'{alias}' rolled back to version [bold]{result['version']}[/] (from {result['previous']})")


@app.command()
@_with_file_form
def score(
    data: Annotated[Path, typer.Option("--data", help="Shipments file (.csv, .csv.gz, .parquet or .xlsx).")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    model: Annotated[
        str,
        typer.Option("--model", default_factory=_default_model_uri, help="Alias, version, or models:/NAME@ALIAS URI."),
    ] = ...,
    columns: ColumnsOption = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Reference date YYYY-MM-DD.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Segment names in en or fr.")] = "en",
    max_file_mb: MaxFileOption = None,
    file_form: FileForm = None,
    engine: EngineOption = "pandas",
    spark_master: SparkMasterOption = "local[2]",
) -> None:
    """Write one row per customer: customer_id, segment, segment_name and the model's features.

    The file is read with the options recorded with the model (what its training file needed);
    options given here win.
    """
    from workflow import tracking
    from workflow.data import ReadOptions, read_shipments
    from workflow.errors import DataError
    from workflow.features import build_features
    from workflow.pipeline import about

    _check_engine(engine)
    read_options = _read_options(columns, file_form, engine)
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise DataError(f"{out}: unsupported output type '{out.suffix}'; use .csv or .parquet")
    with err_console.status(f"loading {escape(model)}"):
        segment_model = tracking.load_segment_model(model)
    as_of_ts = _parse_date(as_of, "--as-of") if as_of else None
    if engine == "spark":
        from workflow.spark_engine import score_with_spark

        with err_console.status(f"scoring in Spark with version {segment_model.version}"), about(data):
            counts = score_with_spark(
                data, out, segment_model, master=spark_master, as_of=as_of_ts,
                columns=read_options.mapping, lang=lang,
            )  # fmt: skip
        console.print(f"scored {int(counts.sum()):,} customers in Spark → {escape(str(out))} (a folder of part files)")
        for name, count in counts.items():
            console.print(f"  {count:>9,}  {name}")
        return
    with err_console.status(f"reading {escape(str(data))}"):
        shipments, report = read_shipments(
            data,
            options=read_options,
            recorded=ReadOptions.from_dict(segment_model.read_options),
            max_file_mb=max_file_mb,
        )
    with err_console.status(f"scoring with version {segment_model.version}"), about(data):
        table = build_features(shipments, as_of=as_of_ts, home_country=segment_model.home_country)
        scored = segment_model.score(table, lang=lang).reset_index()
    _print_report(report)
    with err_console.status(f"writing {escape(str(out))}"):
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            scored.to_csv(out, index=False)
        else:
            scored.to_parquet(out, index=False)
    counts = scored["segment_name"].value_counts()
    console.print(
        f"scored {len(scored):,} customers with {segment_model.name} v{segment_model.version} → {escape(str(out))}"
    )
    for name, count in counts.items():
        console.print(f"  {count:>9,}  {name}")


@app.command()
@_with_file_form
def dashboard(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 5006,
    model: Annotated[str, typer.Option("--model", help="Alias, version or models:/ URI to open.")] = "production",
    data: Annotated[Path | None, typer.Option("--data", help="Shipments to explore (default: training data).")] = None,
    show: Annotated[bool, typer.Option("--show", help="Open a browser tab.")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="Interface language: en or fr.")] = None,
    address: Annotated[str, typer.Option("--address", help="Interface to listen on.")] = "127.0.0.1",
    basic_auth: Annotated[
        str | None, typer.Option("--basic-auth", help="Panel basic auth: a password or a JSON credentials file.")
    ] = None,
    cookie_secret: Annotated[
        str | None, typer.Option("--cookie-secret", envvar="SEGMENTS_COOKIE_SECRET", help="Cookie signing secret.")
    ] = None,
    ui_address: Annotated[
        str | None, typer.Option("--ui", envvar="SEGMENTS_MLFLOW_UI", help="MLflow UI address for run links.")
    ] = None,
    model_name: ModelNameOption = ...,
    columns: ColumnsOption = None,
    file_form: FileForm = None,
) -> None:
    """Serve the Panel dashboard on the registered model (read only).

    Files are read with the options recorded with the model; the reading options given here apply
    to --data and win over the recorded ones.
    """
    from dashboard.app import AppSettings

    settings = AppSettings(
        model_ref=model,
        data_path=data,
        lang=lang,
        ui_address=ui_address,
        model_name=model_name,
        data_options=_read_options(columns, file_form, "pandas").to_json(),
    )
    _serve_dashboard(
        settings, port=port, address=address, show=show, basic_auth=basic_auth, cookie_secret=cookie_secret
    )


def _serve_dashboard(settings, *, port: int, address: str = "127.0.0.1", **server: object) -> None:
    """Announce the address, then serve the dashboard (``dashboard.app.serve``) until interrupted."""
    from dashboard.app import serve

    # No tracking.configure() here: an unreachable store is shown in the page with the command that
    # fixes it, not as a CLI exit.
    console.print(f"dashboard on http://{address}:{port} (Ctrl-C to stop)")
    serve(settings, port=port, address=address, **server)


@app.command()
def ui(
    port: Annotated[int, typer.Option("--port", help="Port of the MLflow UI.")] = 5000,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the MLflow UI on this project's store (plain `mlflow ui` would open another database)."""
    from workflow import tracking

    command = tracking.ui_command(port, host)
    console.print(f"MLflow UI on http://{host}:{port} — {tracking.display_uri()}")
    os.execv(command[0], command)  # replace this process: Ctrl-C goes straight to the server


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after promote (no dashboard).")] = False,
    customers: Annotated[int, typer.Option("--customers", min=100, help="Customers to generate.")] = 20_000,
    port: Annotated[int, typer.Option("--port", help="Dashboard port.")] = 5006,
    out: Annotated[Path, typer.Option("--out", help="Where to write the demo data.")] = Path("data/demo.parquet"),
) -> None:
    """Generate → train → promote → dashboard: the first thing a newcomer runs."""
    from workflow import tracking
    from workflow.pipeline import TrainSettings

    console.rule("1/4 generate")
    generate(out=out, customers=customers, months=12, seed=0)
    console.rule("2/4 train")
    _train(TrainSettings(data=out, currency=_currency(None, TrainSettings.home_country)))
    console.rule("3/4 promote")
    version = tracking.resolve_version(tracking.CANDIDATE)
    promote(version=version, alias=tracking.PRODUCTION, reason="segments demo", force=False,
            min_silhouette=tracking.DEFAULT_MIN_SILHOUETTE, min_stability=tracking.DEFAULT_MIN_STABILITY,
            model_name=tracking.MODEL_NAME)  # fmt: skip
    if no_serve:
        console.print(
            "done (--no-serve): explore with [cyan]segments dashboard[/], compare runs with [cyan]segments ui[/]"
        )
        return
    console.rule("4/4 dashboard")
    from dashboard.app import AppSettings

    _serve_dashboard(AppSettings(model_ref=tracking.PRODUCTION, model_name=tracking.MODEL_NAME), port=port)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (0 done, 2 bad input, 1 unexpected)."""
    try:
        # With standalone_mode=False, Typer returns (not raises) the exit code of an interrupt (130).
        result = app(args=argv, prog_name="segments", standalone_mode=False)
    except SegmentsError as error:
        # escape(): paths and ids are data; "[bold]" or "[/]" in them is not Rich markup.
        err_console.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return error.exit_code
    except typer.Exit as done:
        return done.exit_code
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted")
        return 130
    except TyperException as error:  # usage errors (unknown option, bad value)
        if type(error).__name__ == "NoArgsIsHelpError":  # `segments` alone: the help is the answer
            error.show()
        else:  # one line, like every refusal (show() prints usage, a hint, a blank line, the error)
            ctx = getattr(error, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            err_console.print(f"[red]error:[/] {escape(error.format_message())}{hint}", highlight=False, soft_wrap=True)
        return error.exit_code
    except Exception as error:  # an unexpected failure: one line, the traceback on demand
        if os.environ.get("SEGMENTS_DEBUG"):
            raise
        err_console.print(
            f"[red]unexpected error:[/] {type(error).__name__}: {escape(str(error))} "
            "(set SEGMENTS_DEBUG=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    if result == 130:
        err_console.print("interrupted")
    return result if isinstance(result, int) else 0


_interrupts = {"deferred": False, "requested": False}


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM handler: become a KeyboardInterrupt so that open MLflow runs end KILLED, not RUNNING.

    While a sweep is fitted or logged the interrupt is deferred to the next step boundary: raised in
    the middle of an MLflow SQL call it would leave the SQLite connection holding its lock, and the
    runs could not be ended. A second SIGTERM interrupts at once.
    """
    if _interrupts["deferred"] and not _interrupts["requested"]:
        _interrupts["requested"] = True
        return
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[None]:
    _interrupts.update(deferred=True, requested=False)
    try:
        yield
    finally:
        _interrupts.update(deferred=False, requested=False)


def _stop_if_requested() -> None:
    if _interrupts["requested"]:
        raise KeyboardInterrupt("SIGTERM")


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run(sys.argv[1:]))
