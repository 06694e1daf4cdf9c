"""Run ``segments`` as a real process, find free ports, wait with a bound, build small stores.

Fault tests need real processes (a ``kill -9`` cannot be simulated in-process) and real SQLite files.
Output goes to files, not pipes: a long ``train`` writes progress bars, and a full pipe would block it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Variables a developer may have set that would change what the CLI prints or where it writes.
_SCRUBBED = ("SEGMENTS_DEBUG", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "SEGMENTS_HOME")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def segments_command(*args: object) -> list[str]:
    """``python -m segments ARGS…``: the same entry point as the console script (SIGTERM handler included)."""
    return [sys.executable, "-m", "segments", *(str(arg) for arg in args)]


def cli_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment without the project's own knobs, then ``overrides`` (``None`` removes)."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env.setdefault("SEGMENTS_USER", "tester")
    env["MPLBACKEND"] = "Agg"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Done:
    """Exit code, output and wall time of one finished process."""

    code: int
    out: str
    err: str
    seconds: float

    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def describe(self) -> str:
        return f"exit {self.code} after {self.seconds:.1f} s\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Process:
    """A started ``segments`` (or other) process whose output goes to two files under ``folder``.

    It runs in ``cwd`` (default ``folder``), never in the repository: whatever it might write lands in the test's
    temporary folder.
    """

    def __init__(
        self, command: list[str], env: dict[str, str], folder: Path, name: str, cwd: Path | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.out_path = folder / f"{name}.out"
        self.err_path = folder / f"{name}.err"
        self.started = time.monotonic()
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                command, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd or folder
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> Done:
        """Wait at most ``timeout`` seconds; a process still running then is killed and the test fails."""
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=30)
            pytest.fail(f"{self.popen.args} still running after {timeout} s:\n{self.result(-9).describe()}")
        return self.result(code)

    def result(self, code: int) -> Done:
        return Done(
            code,
            self.out_path.read_text(errors="replace"),
            self.err_path.read_text(errors="replace"),
            time.monotonic() - self.started,
        )

    def stop(self) -> None:
        """Kill the process if it still runs (test teardown)."""
        if self.running():
            self.popen.kill()
            self.popen.wait(timeout=30)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def started(
    command: list[str], env: dict[str, str], folder: Path, name: str, cwd: Path | None = None
) -> Iterator[Process]:
    """Start a process; whatever happens in the block, it does not outlive it."""
    with Process(command, env, folder, name, cwd) as process:
        yield process


def run(
    command: list[str], env: dict[str, str], folder: Path, name: str, timeout: float = 120, cwd: Path | None = None
) -> Done:
    """Run a process to completion (bounded) and return what it did."""
    with started(command, env, folder, name, cwd) as process:
        return process.wait(timeout)


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` until it holds; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# Small stores built in-process (fast: mlflow is already imported by the test process)
# --------------------------------------------------------------------------------------------------


def log_versions(data: Path, count: int, ks: tuple[int, ...] = (2, 3), n_init: int = 1) -> list[str]:
    """Fit one small sweep on ``data`` and log it ``count`` times on the configured store: ``count`` versions."""
    from workflow import pipeline

    settings = pipeline.TrainSettings(data=data, k=",".join(map(str, ks)), n_init=n_init)
    training = pipeline.report(pipeline.fit(settings))
    return [pipeline.log(training).result.version for _ in range(count)]
