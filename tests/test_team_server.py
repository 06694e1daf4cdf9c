"""Team server: a real PostgreSQL and ``mlflow server --app-name basic-auth`` on localhost.

The test starts its own PostgreSQL cluster (Debian's ``postgresql`` package: ``initdb`` + ``pg_ctl``, as a
non-root user, on a free port, in a temporary folder) and an MLflow server on it with basic auth and proxied
artifacts, then sends ``segments train``, ``segments promote`` and ``tracking.load_segment_model`` (what the
dashboard calls) through it. Locally it is skipped when the PostgreSQL binaries or the Python driver are missing;
under ``CI=true`` that is a failure instead, so CI cannot pass without running it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.support.processes import Done, cli_env, free_port, run, segments_command, wait_until
from workflow import tracking
from workflow.errors import StoreUnavailableError

MODEL = "customer-segments"
NO_GATES = ("--min-silhouette", "-1", "--min-stability", "-1")
IN_CI = os.environ.get("CI", "").lower() == "true"

pytestmark = pytest.mark.postgres


def require(condition: object, reason: str) -> None:
    """Skip locally, fail under CI: the team-server test must run in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must install it)")
    pytest.skip(reason)


def postgres_bin() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: on PATH, else Debian's ``/usr/lib/postgresql/<major>/bin``."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[4]))
    return candidates[-1].parent if candidates else None


@dataclass
class Postgres:
    """A running throw-away PostgreSQL cluster."""

    port: int
    user: str

    def uri(self, database: str) -> str:
        # Trust authentication on 127.0.0.1 inside a throw-away cluster: no password to leak or to store.
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bin_dir = postgres_bin()
    require(bin_dir, "PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    try:
        import psycopg
    except ImportError:
        require(False, "the PostgreSQL driver is missing (pip install 'psycopg[binary]')")
    # initdb refuses to run as root: run the server as the package's `postgres` user (or nobody).
    run_as: dict[str, object] = {}
    if os.geteuid() == 0:
        account = next((name for name in ("postgres", "nobody") if _has_user(name)), None)
        require(account, "running as root and no unprivileged user to run PostgreSQL as")
        run_as = {"user": account, "group": pwd.getpwnam(account).pw_gid}
    folder = Path(tempfile.mkdtemp(prefix="segments-pg-"))  # not under pytest's 0700 root-only tmp folders
    data, log = folder / "data", folder / "postgres.log"
    if run_as:
        os.chown(folder, pwd.getpwnam(str(run_as["user"])).pw_uid, -1)
    port = free_port()
    pg = Postgres(port=port, user="segments")

    def pg_command(*args: str, timeout: float = 120) -> None:
        done = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False, **run_as)
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}\n{_tail(log)}"

    started = False
    try:
        pg_command(
            str(bin_dir / "initdb"), "-D", str(data), "-U", pg.user, "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        pg_command(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "90", "start")
        started = True
        with psycopg.connect(pg.uri("postgres"), autocommit=True, connect_timeout=10) as connection:
            connection.execute("CREATE DATABASE mlflow")
            connection.execute("CREATE DATABASE mlflow_auth")
        yield pg
    finally:
        if started:
            pg_command(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "60", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class TeamServer:
    """``mlflow server`` with basic auth on PostgreSQL, and the credentials of its admin."""

    url: str
    username: str
    password: str
    artifacts: Path
    postgres: Postgres

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(
            MLFLOW_TRACKING_URI=self.url,
            MLFLOW_TRACKING_USERNAME=self.username,
            MLFLOW_TRACKING_PASSWORD=self.password,
            **extra,
        )


@pytest.fixture(scope="module")
def team_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    require(_module_available("flask_wtf"), "MLflow's basic-auth app needs mlflow[auth] (Flask-WTF)")
    folder = tmp_path_factory.mktemp("team-server")
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {postgres.uri('mlflow_auth')}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Without a cache every request re-hashes the password (PBKDF2): seconds of CPU over one train.
        "auth_cache_ttl_seconds = 60\n"
    )
    password = secrets.token_urlsafe(16)
    port = free_port()
    env = cli_env(
        MLFLOW_AUTH_CONFIG_PATH=str(config),
        MLFLOW_AUTH_ADMIN_PASSWORD=password,
        MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(32),
    )
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--app-name", "basic-auth",
        "--backend-store-uri", postgres.uri("mlflow"),
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = folder / "server.log"
    with log.open("wb") as out:
        # Its own process group: the server starts workers, and teardown must stop all of them.
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited with {server.returncode}:\n{_tail(log)}")
            return _status(f"{url}/health") == 200

        wait_until(healthy, timeout=180, what=f"mlflow server on {url}", interval=0.5)
        yield TeamServer(url, "admin", password, folder / "artifacts", postgres)
    finally:
        _stop_group(server)


def _module_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _status(url: str, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)  # a URL on 127.0.0.1 built by this test
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after a bounded wait."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)  # uvicorn drains keep-alive connections first; no need to wait long
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # workers of the group may outlive their parent by a moment
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Trained:
    """``segments train`` then ``segments promote 1`` run against the team server."""

    train: Done
    promote: Done
    cwd: Path


@pytest.fixture(scope="module")
def trained_on_server(
    team_server: TeamServer, small_shipments: Path, tmp_path_factory: pytest.TempPathFactory
) -> Trained:
    folder = tmp_path_factory.mktemp("clients")
    env = team_server.env()
    command = segments_command("train", "--data", small_shipments, "--k", "2-4", "--n-init", "2")
    trained = run(command, env, folder, "train", timeout=300, cwd=folder)
    promoted = run(segments_command("promote", "1", "--reason", "team server", *NO_GATES), env, folder, "promote")
    return Trained(trained, promoted, folder)


def use_server(monkeypatch: pytest.MonkeyPatch, server: TeamServer, username: str, password: str) -> None:
    """Point this process (tracking and MLflow's client) at the server as ``username``."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    tracking.reset()


def test_train_promote_and_model_load_go_through_the_team_server(
    team_server: TeamServer, trained_on_server: Trained, small_shipments: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    assert trained_on_server.train.code == 0, trained_on_server.train.describe()
    assert "version 1" in trained_on_server.train.out
    assert trained_on_server.promote.code == 0, trained_on_server.promote.describe()
    assert "'production' → version 1" in trained_on_server.promote.out

    # The dashboard's path: tracking.load_segment_model("production") in a process whose environment points at
    # the server (model files come through the server's artifact proxy).
    use_server(monkeypatch, team_server, team_server.username, team_server.password)
    try:
        model = tracking.load_segment_model("production")
        trail = tracking.audit_trail()
        # The training customers come through the server too: the dashboard machine needs no training file.
        customers = tracking.load_customers(model.customers_run_id)
    finally:
        tracking.reset()
    assert model.version == "1"
    assert set(model.aliases) == {"candidate", "production"}
    assert model.profile is not None
    assert len(model.segment_names) == model.n_labels  # the K-means segments and the set-aside groups
    assert len(trail) == 1
    assert "production: - -> 1 by tester (team server)" in trail[0]
    assert len(customers) == pd.read_csv(small_shipments)["customer_id"].nunique()

    # Everything lives on the server's side: runs and registry in PostgreSQL, files under its artifact folder,
    # and no embedded store anywhere near the client.
    with psycopg.connect(team_server.postgres.uri("mlflow"), connect_timeout=10) as connection:
        runs = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
        versions = connection.execute("SELECT name, version FROM model_versions").fetchall()
    assert runs == 1 + 3
    assert versions == [(MODEL, 1)]
    assert list(team_server.artifacts.rglob("model.skops"))
    assert list(team_server.artifacts.rglob("profile.csv"))
    assert not list(trained_on_server.cwd.rglob("mlflow.db"))


def test_a_reader_may_list_but_not_promote(
    team_server: TeamServer, trained_on_server: Trained, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    from mlflow.server import get_app_client

    assert trained_on_server.promote.code == 0
    use_server(monkeypatch, team_server, team_server.username, team_server.password)
    password = secrets.token_urlsafe(12)
    get_app_client("basic-auth", tracking_uri=team_server.url).create_user("viewer", password)
    use_server(monkeypatch, team_server, "viewer", password)  # default_permission = READ
    try:
        listed = cli("models")
        refused = cli("promote", "1", "--alias", "staging", *NO_GATES)
    finally:
        tracking.reset()
    assert listed.code == 0, listed.err
    assert "candidate, production" in listed.out
    assert refused.code == 2, refused.err
    lines = [line for line in refused.err.splitlines() if line.strip()]
    assert len(lines) == 1, refused.err
    assert re.search(r"(?i)permission|not allowed|forbidden", lines[0]), refused.err


def test_the_team_server_refuses_anonymous_and_wrong_credentials(
    team_server: TeamServer, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    api = f"{team_server.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _status(api) == 401
    assert _status(api, ("admin", "not-the-password")) == 401
    assert _status(api, (team_server.username, team_server.password)) == 200

    wrong = secrets.token_hex(8)
    use_server(monkeypatch, team_server, "admin", wrong)
    with pytest.raises(StoreUnavailableError, match="401"):
        tracking.configure()
    result = cli("models")
    tracking.reset()
    assert result.code == 2, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert wrong not in result.err
