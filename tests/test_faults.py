"""Faults: kill -9 and SIGTERM mid-sweep, unreachable stores, concurrent train and promote, lost artifacts.

Everything here uses real processes (``python -m segments …``, the console script's entry point) on real
SQLite files; nothing of MLflow is mocked. Each test can fail: the comments say what a failure would mean.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import CHILD_METRICS, CHILD_PARAMS
from tests.support.processes import (
    Done,
    Process,
    cli_env,
    free_port,
    log_versions,
    run,
    segments_command,
    started,
    wait_until,
)
from tests.support.stores import using_store
from workflow import tracking
from workflow.errors import ModelNotFoundError

MODEL = "customer-segments"
#: Every command against a broken store must answer within this many seconds *more than the same command
#: against a sound store* (starting Python and importing MLflow take seconds, more on a busy machine).
#: MLflow's default HTTP retries would take minutes; ``tracking.configure`` lowers them.
ANSWER_WITHIN = 30
CLI_AT = Path(__file__).parent / "support" / "cli_at.py"
#: Quality gates that every version passes: these tests are about faults, not about model quality.
NO_GATES = ("--min-silhouette", "-1", "--min-stability", "-1")


def db_path(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


def integrity(db: Path) -> str:
    # Opened read-write on purpose: a process killed mid-write leaves a hot journal that the next opener rolls
    # back, as MLflow would; a read-only open could not.
    with sqlite3.connect(db) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def store_client(uri: str) -> MlflowClient:
    # Both URIs, always: ``MlflowClient(uri)`` alone would send registry calls to the registry URI that the
    # last ``tracking.configure()`` in this process set globally, i.e. maybe another test's store.
    return MlflowClient(uri, uri)


def runs_of(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("customer-segments")
    return [] if experiment is None else client.search_runs([experiment.experiment_id], max_results=1000)


# --------------------------------------------------------------------------------------------------
# kill -9 and SIGTERM in the middle of the sweep
# --------------------------------------------------------------------------------------------------


K_SWEEP = "2-7"


@dataclass
class Interrupted:
    """A ``segments train`` hit by a signal once its first child run was fully logged."""

    uri: str
    done: Done

    @property
    def client(self) -> MlflowClient:
        return store_client(self.uri)


def _sweep_and_signal(small_shipments: Path, folder: Path, signum: int) -> Interrupted:
    """Start a train, wait until the parent run exists and one child FINISHED, send ``signum``, wait for the end.

    The runs are logged one k at a time after all the fits (about a second per k), so the signal lands in the
    middle of the logging with several k still to go.
    """
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    with using_store(uri):
        pass  # the store exists before the train starts, as after any first command
    client = store_client(uri)
    command = segments_command("train", "--data", small_shipments, "--k", K_SWEEP, "--n-init", "1")
    with Process(command, cli_env(MLFLOW_TRACKING_URI=uri), folder, "train") as process:

        def mid_sweep() -> bool:
            if not process.running():
                pytest.fail(f"train ended before the signal:\n{process.result(process.popen.returncode).describe()}")
            runs = runs_of(client)
            kinds = [(r.data.tags.get("segments.kind"), r.info.status) for r in runs]
            return ("sweep", "RUNNING") in kinds and ("trial", "FINISHED") in kinds

        # Reading, features and six fits come first, and the machine may be busy: a generous bound.
        wait_until(mid_sweep, timeout=240, what="the sweep to log its first child run", interval=0.05)
        process.popen.send_signal(signum)
        return Interrupted(uri, process.wait(90))


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory, small_shipments: Path) -> dict[str, Interrupted]:
    """One train killed with SIGKILL and one stopped with SIGTERM, run side by side to halve the wait."""
    root = tmp_path_factory.mktemp("interrupted")
    signals = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_sweep_and_signal, small_shipments, root / name, signum)
                   for name, signum in signals.items()}  # fmt: skip
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.slow  # real processes: a train, a kill, a served page
def test_kill_9_mid_sweep_keeps_logged_runs_readable_and_the_next_train_reaps_them(
    interrupted: dict[str, Interrupted], small_shipments: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed = interrupted["SIGKILL"]
    assert killed.done.code == -signal.SIGKILL
    client = killed.client

    # What was logged stays readable: the database is sound, every run opens, finished children are whole.
    assert integrity(db_path(killed.uri)) == "ok"
    runs = runs_of(client)
    parent = next(r for r in runs if r.data.tags.get("segments.kind") == "sweep")
    trials = [r for r in runs if r.data.tags.get("segments.kind") == "trial"]
    assert parent.info.status == "RUNNING"  # nobody could end it: the process died at once
    assert parent.data.params["k_range"] == K_SWEEP
    assert client.get_metric_history(parent.info.run_id, "silhouette")
    finished = [r for r in trials if r.info.status == "FINISHED"]
    assert 1 <= len(finished) < 6, [r.info.run_name for r in trials]
    for trial in trials:
        again = client.get_run(trial.info.run_id)
        assert again.data.tags["mlflow.parentRunId"] == parent.info.run_id
        client.list_artifacts(trial.info.run_id)  # readable even for the child that was cut short
    for trial in finished:
        assert set(trial.data.params) >= CHILD_PARAMS
        assert set(trial.data.metrics) == CHILD_METRICS
        artifacts = {a.path for a in client.list_artifacts(trial.info.run_id)}
        assert artifacts >= {"centroids.csv", "profile.csv", "silhouette.png"}
        centroids = client.download_artifacts(trial.info.run_id, "centroids.csv", str(tmp_path))
        assert len(Path(centroids).read_text().splitlines()) == 1 + int(trial.data.params["k"])
    # Nothing was registered: registration comes after every k is logged.
    assert client.search_registered_models() == []
    stale = {r.info.run_id for r in runs if r.info.status == "RUNNING"}
    assert parent.info.run_id in stale

    monkeypatch.setenv("MLFLOW_TRACKING_URI", killed.uri)
    tracking.reset()
    # `segments models` answers (nothing registered) without a traceback and tells of the stale runs,
    # read-only: it does not mark them.
    listed = cli("models")
    assert listed.code == 2, listed.err
    assert len(listed.err.strip().splitlines()) == 1
    assert "no registered model" in listed.err
    assert f"{len(stale)} run(s) still marked RUNNING by a process that is gone" in listed.err
    assert {r.info.status for r in runs_of(client) if r.info.run_id in stale} == {"RUNNING"}

    # The next `segments train` marks the dead process's runs KILLED, then trains and registers version 1.
    trained = cli("train", "--data", small_shipments, "--k", "2-3", "--n-init", "1")
    assert trained.code == 0, trained.err
    assert f"marked {len(stale)} stale RUNNING run(s) KILLED" in trained.err
    statuses = {r.info.run_id: r.info.status for r in runs_of(client)}
    assert {statuses[run_id] for run_id in stale} == {"KILLED"}
    assert {statuses[r.info.run_id] for r in finished} == {"FINISHED"}
    assert "RUNNING" not in statuses.values()
    assert [str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")] == ["1"]
    assert "still marked RUNNING" not in cli("models").out
    # With versions listed, a run left by a dead process is told below the table.
    exited = subprocess.Popen(["true"])  # a process that has exited and been waited for: its pid is free
    exited.wait()
    dead_pid = exited.pid
    experiment = client.get_experiment_by_name(MODEL).experiment_id
    client.create_run(experiment, tags={"segments.host": socket.gethostname(), "segments.pid": str(dead_pid)})
    listed = cli("models")
    assert listed.code == 0, listed.err
    assert "1 run(s) still marked RUNNING by a process that is gone" in " ".join(listed.out.split())
    tracking.reset()


@pytest.mark.slow  # real processes: a train, a kill, a served page
def test_sigterm_mid_sweep_ends_the_open_runs_killed_and_registers_nothing(
    interrupted: dict[str, Interrupted],
) -> None:
    stopped = interrupted["SIGTERM"]
    runs = runs_of(stopped.client)
    statuses = {r.info.run_name: r.info.status for r in runs}
    # The open runs (the parent and the child being logged) end KILLED at once, not at the next command.
    assert "Traceback" not in stopped.done.err, stopped.done.describe()
    assert "RUNNING" not in statuses.values(), statuses
    assert next(r for r in runs if r.data.tags.get("segments.kind") == "sweep").info.status == "KILLED", statuses
    assert set(statuses.values()) <= {"FINISHED", "KILLED"}
    assert stopped.client.search_registered_models() == []
    assert integrity(db_path(stopped.uri)) == "ok"


@pytest.mark.slow  # real processes: a train, a kill, a served page
def test_sigterm_mid_sweep_exits_130_and_says_interrupted(interrupted: dict[str, Interrupted]) -> None:
    done = interrupted["SIGTERM"].done
    assert done.code == 130, done.describe()
    assert done.err_lines()[-1] == "interrupted", done.err


def test_an_interrupt_in_any_command_is_exit_130(cli, mlflow_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tracking, "list_versions", interrupted)
    result = cli("models")
    assert result.code == 130
    assert result.err.strip().splitlines()[-1] == "interrupted"


# --------------------------------------------------------------------------------------------------
# The store unreachable: every command answers exit 2 with one clear line, quickly
# --------------------------------------------------------------------------------------------------

#: (scenario, command) pairs. Where the store cannot even be opened every command fails in the same place
#: (``tracking.configure``), so the rarer scenarios try fewer commands to keep the run short.
CASES = [
    *((scenario, command) for scenario in ("closed-port", "corrupt-file", "read-only-file")
      for command in ("train", "models", "promote")),
    ("truncated-file", "models"),
    ("read-only-folder", "models"),
    ("read-only-folder", "promote"),
]  # fmt: skip
#: What the one line must say, per scenario (case-insensitive).
EXPECTED = {
    "closed-port": r"unavailable.*127\.0\.0\.1:{port}",
    "corrupt-file": r"unavailable.*file is not a database",
    "truncated-file": r"unavailable.*malformed",
    "read-only-file": r"read-?only",
    "read-only-folder": r"read-?only",
}


@dataclass
class BrokenStores:
    """The outcome of every (scenario, command) pair, run concurrently once per module."""

    results: dict[tuple[str, str], Done] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    port: int = 0
    digests_before: dict[str, str] = field(default_factory=dict)
    digests_after: dict[str, str] = field(default_factory=dict)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _can(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode == 0
    except OSError:
        return False


def _read_only_mount(folder: Path, command: list[str]) -> list[str]:
    """``command`` run in a private mount namespace where ``folder`` is a read-only bind mount of itself.

    The mount vanishes with the process; outside it the folder stays writable. This is what a store on
    a read-only file system (a snapshot, an ``ro`` NFS export) looks like, and it stops root as well.
    """
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(folder), *command]


@pytest.fixture(scope="module")
def broken_stores(tmp_path_factory: pytest.TempPathFactory, small_shipments: Path) -> BrokenStores:
    root = tmp_path_factory.mktemp("broken")
    good = root / "good" / "mlruns" / "mlflow.db"
    with using_store(f"sqlite:///{good}"):
        assert log_versions(small_shipments, 1) == ["1"]
    outcome = BrokenStores(port=free_port())
    uris: dict[str, str] = {"closed-port": f"http://127.0.0.1:{outcome.port}"}
    wrappers: dict[str, list[str]] = {}
    files: dict[str, Path] = {}

    corrupt = root / "corrupt" / "mlflow.db"
    corrupt.parent.mkdir()
    corrupt.write_bytes(random.Random(0).randbytes(256 * 1024))
    files["corrupt-file"] = corrupt
    truncated = root / "truncated" / "mlflow.db"
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])  # a copy cut short (disk full)
    files["truncated-file"] = truncated

    # A read-only database file. Tests run as root, which chmod does not stop: the immutable attribute does
    # (EPERM on every write, like a 0444 file for an ordinary user).
    read_only = root / "read-only" / "mlruns"
    shutil.copytree(good.parent, read_only)
    files["read-only-file"] = read_only / "mlflow.db"
    immutable = _can(["chattr", "+i", str(files["read-only-file"])])
    if not immutable:
        outcome.skipped["read-only-file"] = "chattr +i is not available on this file system"
    # A read-only folder: the whole store on a read-only mount (unshare needs root or user namespaces).
    read_only_folder = root / "read-only-folder" / "mlruns"
    shutil.copytree(good.parent, read_only_folder)
    files["read-only-folder"] = read_only_folder / "mlflow.db"
    if _can(_read_only_mount(read_only_folder, ["true"])):
        wrappers["read-only-folder"] = [str(read_only_folder)]
    else:
        outcome.skipped["read-only-folder"] = "cannot make a private read-only bind mount (unshare/mount refused)"
    for scenario, path in files.items():
        uris[scenario] = f"sqlite:///{path}"
        outcome.digests_before[scenario] = _digest(path)

    commands = {
        "train": ("train", "--data", small_shipments, "--k", "2-3", "--n-init", "1"),
        "models": ("models",),
        "promote": ("promote", "1", *NO_GATES),
    }

    def one(pair: tuple[str, str]) -> tuple[tuple[str, str], Done]:
        scenario, name = pair
        command = segments_command(*commands[name])
        if scenario in wrappers:
            command = _read_only_mount(Path(wrappers[scenario][0]), command)
        env = cli_env(MLFLOW_TRACKING_URI=uris[scenario])
        return pair, run(command, env, root / "logs", f"{scenario}-{name}", timeout=180)

    uris["sound"] = f"sqlite:///{good}"
    pairs = [("sound", "models"), *((s, c) for s, c in CASES if s not in outcome.skipped)]
    try:
        # Three at a time: each process spends seconds importing MLflow; the machine has two cores.
        with ThreadPoolExecutor(max_workers=3) as pool:
            outcome.results = dict(pool.map(one, pairs))
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(files["read-only-file"])], check=True, timeout=30)
    for scenario, path in files.items():
        outcome.digests_after[scenario] = _digest(path)
    return outcome


@pytest.mark.slow  # real processes: a train, a kill, a served page
@pytest.mark.parametrize(("scenario", "command"), CASES)
def test_unreachable_store_is_exit_2_with_one_clear_line(
    broken_stores: BrokenStores, scenario: str, command: str, request: pytest.FixtureRequest
) -> None:
    if scenario in broken_stores.skipped:
        pytest.skip(broken_stores.skipped[scenario])
    done = broken_stores.results[scenario, command]
    baseline = broken_stores.results["sound", "models"]
    assert baseline.code == 0, baseline.describe()
    assert done.seconds < baseline.seconds + ANSWER_WITHIN, (baseline.seconds, done.describe())
    if scenario in {"read-only-file", "read-only-folder"} and command == "models":
        # Listing needs no write: answering from a read-only store is right; so is a clear refusal.
        assert done.code in {0, 2}, done.describe()
        if done.code == 0:
            assert "customer-segments" in done.out
            return
    assert done.code == 2, done.describe()
    lines = done.err_lines()
    assert len(lines) == 1, done.describe()
    assert lines[0].startswith("error:"), done.describe()
    assert "Traceback" not in done.err
    pattern = EXPECTED[scenario].format(port=broken_stores.port)
    assert re.search(pattern, lines[0], re.IGNORECASE), done.describe()
    # The broken store itself is left exactly as it was (no "repair", no new tables in a corrupt file).
    if scenario in broken_stores.digests_before:
        assert broken_stores.digests_after[scenario] == broken_stores.digests_before[scenario]


@pytest.mark.slow  # real processes: a train, a kill, a served page
@pytest.mark.parametrize("scenario", ["closed-port", "corrupt-file"])
def test_the_dashboard_explains_an_unreachable_store(
    scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's own loaders (no fake registry) on a broken store: a page with the reason, not a crash."""
    from dashboard.store import DataStore
    from dashboard.views import problem_alert

    if scenario == "closed-port":
        uri, says, broken = f"http://127.0.0.1:{free_port()}", "Max retries exceeded", None
    else:
        broken = tmp_path / "mlruns" / "mlflow.db"
        broken.parent.mkdir()
        broken.write_bytes(random.Random(1).randbytes(64 * 1024))
        uri, says = f"sqlite:///{broken}", "file is not a database"
    before = _digest(broken) if broken else None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.reset()

    store = DataStore()  # the default loaders, as `segments dashboard` builds it

    assert store.problem is not None
    assert store.problem.kind == "store"
    assert uri in store.problem.message("en")
    assert says in store.problem.message("en")
    assert f"MLFLOW_TRACKING_URI (now {uri})" in store.problem.fix("en")
    assert store.model is None
    alert = problem_alert(store.problem, "en")
    assert alert.severity == "error"
    assert "Traceback" not in alert.object
    if broken:
        assert _digest(broken) == before  # the dashboard only reads: the broken file is left as it was


# --------------------------------------------------------------------------------------------------
# Concurrency: two trains on a new store; two promotions at once
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow  # real processes: a train, a kill, a served page
def test_two_trains_at_once_on_a_new_embedded_store_both_register(small_shipments: Path, tmp_path: Path) -> None:
    home = tmp_path / "project"  # SEGMENTS_HOME with no mlruns/ yet: both processes find no store
    env = cli_env(SEGMENTS_HOME=str(home))
    command = segments_command("train", "--data", small_shipments, "--k", "2-4", "--n-init", "1")
    with (
        started(command, env, tmp_path / "logs", "first") as first,
        started(command, env, tmp_path / "logs", "second") as second,
    ):
        results = [first.wait(300), second.wait(300)]
    for done in results:
        assert done.code == 0, done.describe()
    db = home / "mlruns" / "mlflow.db"
    assert integrity(db) == "ok"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {t for t in tables if t.startswith("_alembic_tmp")}, tables  # the creation race's debris
    client = store_client(f"sqlite:///{db}")
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))
    assert versions == ["1", "2"]
    runs = runs_of(client)
    assert len(runs) == 2 * (1 + 3)
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert str(client.get_registered_model(MODEL).aliases["candidate"]) in {"1", "2"}
    # Each process said which version it registered, and they differ.
    registered = sorted(re.search(r"version (\d+) \(k=", done.out).group(1) for done in results)
    assert registered == ["1", "2"]


def replay(trail: list[str], alias: str = "production") -> tuple[list[tuple[str, str]], list[str]]:
    """The moves ``(from, to)`` of ``alias`` in the audit trail, and every break in their chain."""
    moves = []
    for event in trail:
        found = re.search(rf" {re.escape(alias)}: (\S+) -> (\S+) by ", event)
        if found:
            moves.append((found.group(1), found.group(2)))
    breaks = [
        f"move {i + 1} starts from {start} but move {i} left {moves[i - 1][1]}"
        for i, (start, _) in enumerate(moves)
        if i > 0 and start != moves[i - 1][1]
    ]
    return moves, breaks


@pytest.mark.slow  # real processes: a train, a kill, a served page
def test_promotions_at_once_leave_one_holder_and_a_consistent_audit_trail(
    small_shipments: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    with using_store(uri):
        assert log_versions(small_shipments, 4, ks=(3,)) == ["1", "2", "3", "4"]
        tracking.promote("1", gates=tracking.Gates(-1, -1), reason="baseline")
    contenders = ("2", "3", "4")
    # Each process imports and opens the store first, then all wait for one start file, so the promotions
    # really overlap (plain `segments promote` processes would start about a second apart).
    go = tmp_path / "go"
    processes = [
        Process(
            [sys.executable, str(CLI_AT), str(tmp_path / f"ready-{v}"), str(go), "promote", v, *NO_GATES],
            cli_env(MLFLOW_TRACKING_URI=uri),
            tmp_path / "logs",
            f"promote-{v}",
        )
        for v in contenders
    ]
    try:
        wait_until(
            lambda: all((tmp_path / f"ready-{v}").exists() for v in contenders),
            timeout=120,
            what="every promote process to be ready",
        )
        go.touch()
        results = [p.wait(120) for p in processes]
    finally:
        for p in processes:
            p.stop()
    for done in results:
        assert done.code == 0, done.describe()

    client = store_client(uri)
    aliases = {a: str(v) for a, v in client.get_registered_model(MODEL).aliases.items()}
    trail = tracking_trail(uri)
    moves, breaks = replay(trail)
    assert aliases["production"] in contenders
    # Every move is recorded, the chain has no gap, and it ends where the aliases are.
    assert len(moves) == 1 + len(contenders), trail
    assert not breaks, "\n".join([*breaks, *trail])
    assert moves[-1] == (aliases["previous-production"], aliases["production"]), (aliases, trail)
    # Each version's own audit tags agree with the trail: it came from the version the trail says it did.
    for before, version in moves:
        tags = client.get_model_version(MODEL, version).tags
        assert tags["promotion_previous"] == ("" if before == "-" else before), (version, tags, trail)


def tracking_trail(uri: str) -> list[str]:
    with using_store(uri):
        return tracking.audit_trail()


# --------------------------------------------------------------------------------------------------
# Artifacts deleted under a registered version
# --------------------------------------------------------------------------------------------------


def model_folder(client: MlflowClient, version: str) -> Path:
    """The local folder holding the version's logged model (``…/artifacts/models/m-<id>/artifacts``)."""
    source = client.get_model_version(MODEL, version).source  # models:/m-<id>
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    folder = Path(location.removeprefix("file://"))
    assert (folder / "MLmodel").is_file(), folder
    return folder


def test_promoting_or_loading_a_version_whose_artifacts_were_deleted_is_refused(
    mlflow_store: str, small_shipments: Path, cli, tmp_path: Path
) -> None:
    assert log_versions(small_shipments, 2) == ["1", "2"]
    client = store_client(mlflow_store)
    assert cli("promote", "1", *NO_GATES).code == 0
    trail = tracking.audit_trail()

    # The whole model folder of version 2 is gone (someone cleaned the artifact store).
    shutil.rmtree(model_folder(client, "2"))
    refused = cli("promote", "2", *NO_GATES)
    assert refused.code == 2, refused.err
    lines = [line for line in refused.err.splitlines() if line.strip()]
    assert len(lines) == 1, refused.err
    assert "version 2" in lines[0]
    assert "model artifacts unreadable" in lines[0]
    forced = cli("promote", "2", "--force", "--reason", "try anyway")
    assert forced.code == 2  # --force never skips the artifact check
    with pytest.raises(ModelNotFoundError, match="model artifacts unreadable"):
        tracking.load_segment_model("2")
    assert str(client.get_registered_model(MODEL).aliases["production"]) == "1"
    assert tracking.audit_trail() == trail
    assert "promoted_at" not in client.get_model_version(MODEL, "2").tags

    # A version that is not promoted loses nothing: scoring with production still works.
    assert cli("score", "--data", small_shipments, "--out", tmp_path / "scored.csv").code == 0


def test_a_version_missing_only_its_serialised_model_is_refused(
    mlflow_store: str, small_shipments: Path, cli, tmp_path: Path
) -> None:
    assert log_versions(small_shipments, 1) == ["1"]
    client = store_client(mlflow_store)
    (model_folder(client, "1") / "model.skops").unlink()  # MLmodel, signature and example are still there
    with pytest.raises(ModelNotFoundError):
        tracking.load_segment_model("1")
    scored = cli("score", "--data", small_shipments, "--out", tmp_path / "scored.csv", "--model", "1")
    assert scored.code == 2, scored.err
    assert len([line for line in scored.err.splitlines() if line.strip()]) == 1, scored.err
    assert not (tmp_path / "scored.csv").exists()
    refused = cli("promote", "1", *NO_GATES)
    assert refused.code == 2, refused.out
    assert "production" not in client.get_registered_model(MODEL).aliases
