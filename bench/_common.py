"""Shared helpers of the benchmarks: cached data, paired timing, child processes with peak RSS, the table.

Every bench times its figure and its baseline *in the same run*, interleaved round by round (A B, B A,
A B, …) so that a burst of load from another process on this shared 2-core machine hits both, and
reports medians and the ratio of the medians. Nothing here asserts a time: benches print, tests test.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SEGMENTS = str(Path(PYTHON).with_name("segments"))
GIB = 1024**3
OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS")

#: Sizes. ``--quick`` is a smoke run (about a minute per bench); the default is the issue's scale.
QUICK_CUSTOMERS = 20_000
FULL_CUSTOMERS = 1_000_000
TEN_MILLION = 10_000_000


# --------------------------------------------------------------------------------------------------
# Command line shared by every bench
# --------------------------------------------------------------------------------------------------


def parser(description: str, *, quick_repeats: int, full_repeats: int) -> argparse.ArgumentParser:
    """``--quick``, ``--repeats`` and ``--json``, the options every bench takes."""
    cli = argparse.ArgumentParser(description=description)
    cli.add_argument("--quick", action="store_true", help=f"smoke-run sizes ({QUICK_CUSTOMERS:,} customers)")
    cli.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"timed rounds per case (default {full_repeats}, or {quick_repeats} with --quick)",
    )
    cli.add_argument("--json", type=Path, default=None, help="also write the result rows to this JSON file")
    cli.set_defaults(quick_repeats=quick_repeats, full_repeats=full_repeats)
    return cli


def repeats_of(args: argparse.Namespace) -> int:
    """The number of timed rounds asked for, or the default of the chosen size."""
    if args.repeats is not None:
        return max(1, args.repeats)
    return args.quick_repeats if args.quick else args.full_repeats


def arguments(
    description: str, argv: list[str] | None, *, quick_repeats: int, full_repeats: int
) -> tuple[argparse.Namespace, int]:
    """The options of a bench that takes only those of :func:`parser`, and its number of timed rounds."""
    args = parser(description, quick_repeats=quick_repeats, full_repeats=full_repeats).parse_args(argv)
    return args, repeats_of(args)


def customers_of(args: argparse.Namespace) -> int:
    """Customers of the chosen size: ``QUICK_CUSTOMERS`` with ``--quick``, else ``FULL_CUSTOMERS``."""
    return QUICK_CUSTOMERS if args.quick else FULL_CUSTOMERS


# --------------------------------------------------------------------------------------------------
# Cached input data (generated once per synth/features version, reused by every bench)
# --------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """``$SEGMENTS_BENCH_DATA`` or ``<tmp>/segments-bench``: generated files are cached there."""
    folder = Path(os.environ.get("SEGMENTS_BENCH_DATA") or Path(tempfile.gettempdir()) / "segments-bench")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _source_digest(*modules: str) -> str:
    """Short hash of workflow source files: a cached file is rebuilt when the code that made it changes."""
    sha = hashlib.sha256()
    for module in modules:
        sha.update((ROOT / "workflow" / module).read_bytes())
    return sha.hexdigest()[:8]


@functools.cache
def ensure_shipments(customers: int, months: int = 12, seed: int = 0) -> Path:
    """A generated shipments Parquet file (``segments generate``), cached by size and synth.py version."""
    path = data_dir() / f"shipments-{customers}c-{months}m-s{seed}-{_source_digest('synth.py')}.parquet"
    if path.is_file():
        return path
    staging = Path(tempfile.mkdtemp(dir=data_dir(), prefix="staging-"))
    try:
        out = staging / "shipments.parquet"
        log(f"generating {customers:,} customers × {months} months → {path.name} (cached for later runs)")
        child = run_child([SEGMENTS, "generate", "--customers", customers, "--months", months, "--seed", seed,
                           "--out", out])  # fmt: skip
        child.check()
        out.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # Files of the same size made by an older synth.py, and their features, are stale: drop them.
    for old in data_dir().glob(f"shipments-{customers}c-{months}m-s{seed}-*.parquet"):
        if old != path:
            for features in data_dir().glob(f"features-{old.stem}-*.parquet"):
                features.unlink(missing_ok=True)
            old.unlink(missing_ok=True)
    return path


@functools.cache
def customers_for_rows(rows: int = TEN_MILLION) -> int:
    """How many customers (12 months, rounded to 10k) make about ``rows`` shipment rows.

    The generator's rows per customer change as synth.py evolves (22 per customer, then 20), so the
    size is derived from the cached 20k-customer file instead of being hard-coded.
    """
    import pyarrow.parquet as pq

    per_customer = pq.read_metadata(ensure_shipments(QUICK_CUSTOMERS)).num_rows / QUICK_CUSTOMERS
    return max(10_000, round(rows / per_customer / 10_000) * 10_000)


_FEATURES_SCRIPT = """
import sys
from workflow.data import read_shipments
from workflow.features import build_features
shipments, _ = read_shipments(sys.argv[1])
build_features(shipments).to_parquet(sys.argv[2])
"""


@functools.cache
def ensure_features(customers: int) -> Path:
    """Customer features (``read_shipments`` + ``build_features``) of the cached shipments, cached too."""
    shipments = ensure_shipments(customers)
    digest = _source_digest("data.py", "features.py")
    path = data_dir() / f"features-{shipments.stem}-{digest}.parquet"
    if not path.is_file():
        log(f"building the features of {shipments.name} (cached for later runs)")
        partial = path.with_suffix(".partial")
        run_child([PYTHON, "-c", _FEATURES_SCRIPT, shipments, partial]).check()
        partial.rename(path)
        for old in data_dir().glob(f"features-{shipments.stem}-*.parquet"):
            if old != path:
                old.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------


def log(text: str) -> None:
    """Progress on stderr, so that stdout holds only the results."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Timed:
    """Wall-clock and CPU seconds (this process, all its threads) of every round, per case."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]

    def __getitem__(self, name: str) -> list[float]:
        return self.wall[name]

    def row(self, row_id: str, what: str, case: str, baseline: str, **kw: object) -> Row:
        """The table row of ``case`` against ``baseline``, wall and CPU times (see :func:`seconds_row`)."""
        wall, cpu = self.wall, self.cpu
        return seconds_row(row_id, what, wall[case], wall[baseline], cpu=cpu[case], baseline_cpu=cpu[baseline], **kw)


def paired(cases: dict[str, Callable[[], object]], repeats: int, *, label: str = "") -> Timed:
    """Time each case ``repeats`` times, interleaved; the order flips every round.

    CPU time is recorded beside wall time: on a loaded machine wall time stretches with the other
    processes' load, CPU time much less (it is the better estimate of what a quiet machine would do).
    """
    timed = Timed({name: [] for name in cases}, {name: [] for name in cases})
    names = list(cases)
    for round_ in range(repeats):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            started, cpu = time.perf_counter(), time.process_time()
            cases[name]()
            timed.wall[name].append(time.perf_counter() - started)
            timed.cpu[name].append(time.process_time() - cpu)
            wall, cpu = timed.wall[name][-1], timed.cpu[name][-1]
            log(f"{label}round {round_ + 1}/{repeats} {name}: {wall:.3f} s (cpu {cpu:.3f} s)")
    return timed


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return float(statistics.median(values))


@dataclass
class Child:
    """A finished child process: wall time, peak resident memory, exit code, output."""

    command: list[str]
    seconds: float
    cpu: float
    peak_rss: int
    returncode: int
    stdout: str
    stderr: str
    note: str = ""

    def check(self) -> Child:
        """Raise with the child's stderr when it failed."""
        if self.returncode != 0:
            raise RuntimeError(f"{' '.join(self.command)} exited {self.returncode}:\n{self.stderr[-3000:]}")
        return self


def run_child(
    command: list[object],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    replace_env: dict[str, str] | None = None,
) -> Child:
    """Run a command and return its wall time and peak RSS (``wait4``: the child's own ``ru_maxrss``).

    ``env`` adds to this process's environment; ``replace_env`` is the child's whole environment.
    """
    argv = [str(part) for part in command]
    child_env = replace_env if replace_env is not None else {**os.environ, **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=child_env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Child(argv, seconds, cpu, usage.ru_maxrss * 1024, process.returncode, out.read(), err.read())


@contextlib.contextmanager
def mlflow_store() -> Iterator[str]:
    """A temporary SQLite MLflow store, created once here, never by several processes at once.

    Concurrent creation breaks an SQLite store (docs/architecture.md#measured-facts).

    Sets ``MLFLOW_TRACKING_URI`` for this process and its children; yields the URI.
    """
    folder = Path(tempfile.mkdtemp(dir=data_dir(), prefix="mlflow-"))
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    saved = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "SEGMENTS_USER")}
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["SEGMENTS_USER"] = "bench"
    try:
        from workflow import tracking

        tracking.configure()
        yield uri
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(folder, ignore_errors=True)


class Split:
    """Wall and CPU time spent inside selected functions, collected by wrappers around them.

    The wrapped functions are the real ones, called unchanged; a wrapper only reads two clocks.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._restore: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, bucket: str) -> None:
        """Replace ``owner.name`` by a timed call to it, adding to ``bucket``.

        ``name`` may list alternatives separated by ``|`` (the code under test is being refactored);
        the first that exists is wrapped. When none exists the bucket is skipped with a warning: its
        time then shows up in "the rest" of its total, and the bench still runs.
        """
        found = [candidate for candidate in name.split("|") if hasattr(owner, candidate)]
        if not found:
            log(f"warning: {getattr(owner, '__name__', owner)}.{name} not found; '{bucket}' is not split out")
            return
        name = found[0]
        original = getattr(owner, name)

        def timed(*args: object, **kwargs: object) -> object:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[bucket] += time.perf_counter() - started
                self.cpu[bucket] += time.process_time() - cpu

        setattr(owner, name, timed)
        self._restore.append((owner, name, original))

    def restore(self) -> None:
        """Put the original functions back."""
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the figures table.

    ``value`` and ``baseline`` are medians (seconds, or bytes when ``unit`` is ``GiB``). A target is
    either a ratio to the baseline (``max_ratio``) or an absolute bound (``max_value``).
    """

    id: str
    what: str
    value: float
    unit: str = "s"
    baseline: float | None = None
    baseline_what: str = ""
    max_ratio: float | None = None
    max_value: float | None = None
    runs: int = 1
    spread: str = ""
    note: str = ""
    values: list[float] = field(default_factory=list)
    #: Median CPU seconds of this process (all threads) for the figure and the baseline, when timed.
    cpu: float | None = None
    baseline_cpu: float | None = None

    #: Median of the per-round ratios when figure and baseline ran in paired rounds.
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        """Figure over baseline: the median of the per-round ratios for paired rounds (a burst of load
        that hits one round then moves one ratio, not both medians), else the ratio of the medians."""
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.value / self.baseline if self.baseline else None

    @property
    def target(self) -> str:
        """The target as text: ``≤ 2.0×`` or ``≤ 0.30 s``."""
        parts = []
        if self.max_ratio is not None:
            parts.append(f"≤ {self.max_ratio:g}×")
        if self.max_value is not None:
            parts.append(f"≤ {fmt(self.max_value, self.unit)}")
        return " and ".join(parts) or "—"

    @property
    def met(self) -> bool | None:
        """Whether every target holds (``None`` when the row has no target)."""
        checks = []
        if self.max_ratio is not None and self.ratio is not None:
            checks.append(self.ratio <= self.max_ratio)
        if self.max_value is not None:
            checks.append(self.value <= self.max_value)
        return all(checks) if checks else None


def fmt(value: float | None, unit: str) -> str:
    """Seconds with 3 significant-ish digits, bytes in GiB, megabytes as given."""
    if value is None:
        return "—"
    if unit == "GiB":
        return f"{value / GIB:.2f} GiB"
    if unit == "MB":
        return f"{value:.2f} MB"
    if value < 1:
        return f"{value:.3f} s"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def seconds_row(
    row_id: str,
    what: str,
    times: list[float],
    baseline: list[float] | None = None,
    *,
    cpu: list[float] | None = None,
    baseline_cpu: list[float] | None = None,
    **kw: object,
) -> Row:
    """A row from the timed rounds of a case and, optionally, its baseline (paired rounds) and CPU times."""
    spread = f"{min(times):.3g}–{max(times):.3g} s"
    paired_ratio = None
    if baseline is not None and len(baseline) == len(times):
        ratios = [t / b for t, b in zip(times, baseline, strict=True) if b > 0]
        paired_ratio = median(ratios)
        spread += f"; per-round ratios {', '.join(f'{r:.2f}' for r in ratios)}×"
        spread += f"; ratio of the medians {median(times) / median(baseline):.2f}×"
    cpu_median = median(cpu) if cpu else None
    baseline_cpu_median = median(baseline_cpu) if baseline_cpu else None
    if cpu_median is not None:
        spread += f"; CPU {cpu_median:.3g} s"
        if baseline_cpu_median:
            spread += f" vs {baseline_cpu_median:.3g} s = {cpu_median / baseline_cpu_median:.2f}×"
    return Row(
        id=row_id,
        what=what,
        value=median(times),
        baseline=median(baseline) if baseline else None,
        runs=len(times),
        spread=spread,
        values=[round(t, 4) for t in times],
        cpu=cpu_median,
        baseline_cpu=baseline_cpu_median,
        paired_ratio=paired_ratio,
        **kw,
    )


def machine() -> dict[str, object]:
    """Date, host, CPU, cores, memory, Python, load: printed with every table."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / GIB, 1),
        "python": platform.python_version(),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        # What the benched code runs with: importing ``workflow`` sets OMP_WAIT_POLICY=PASSIVE when unset.
        "openmp": " ".join(f"{key}={os.environ[key]}" for key in OPENMP_VARIABLES if key in os.environ)
        or "OMP_WAIT_POLICY=PASSIVE (workflow's default)",
    }


def cpu_text(cpu: float | None) -> str:
    """`` (cpu 1.23 s)`` or nothing."""
    return "" if cpu is None else f" (cpu {fmt(cpu, 's')})"


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| id | figure | median | baseline | ratio | target | met | runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = fmt(row.baseline, row.unit) + cpu_text(row.baseline_cpu) if row.baseline else "—"
        baseline += f" ({row.baseline_what})" if row.baseline else ""
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "—"
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        what = row.what + (f" — {row.note}" if row.note else "")
        value = fmt(row.value, row.unit) + cpu_text(row.cpu)
        lines.append(f"| {row.id} | {what} | {value} | {baseline} | {ratio} | {row.target} | {met} | {row.runs} |")
    return "\n".join(lines)


def report(title: str, rows: list[Row], args: argparse.Namespace, extra: dict[str, object] | None = None) -> None:
    """Print the rows (with the spread of the rounds) and write them as JSON when asked."""
    info = machine()
    print(f"\n## {title}\n")
    print(f"{info['date']} · {info['host']} · {info['cpu']} · {info['cores']} cores · {info['memory_gib']} GiB · "
          f"Python {info['python']} · load {info['load']} · OpenMP {info['openmp']} · "
          f"{'quick' if args.quick else 'full'} sizes\n")  # fmt: skip
    print(table(rows))
    print()
    for row in rows:
        if row.spread:
            print(f"- {row.id} {row.what}: rounds {row.spread}")
    for key, value in (extra or {}).items():
        print(f"- {key}: {value}")
    if args.json:
        payload = {
            "title": title,
            "machine": info,
            "quick": args.quick,
            "rows": [{**asdict(row), "ratio": row.ratio, "target": row.target, "met": row.met} for row in rows],
            "extra": extra or {},
        }
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
