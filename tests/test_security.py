"""Security: only skops models with our trusted types load; no secret reaches MLflow or the repo.

Real stores, real model files: a cloudpickle model whose unpickling would create a file, a skops model that
whitelists ``os.system`` in its own MLmodel, a train run with secrets in its environment, and a scan of the
repository's files.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import mlflow
import mlflow.sklearn
import pytest
from mlflow import MlflowClient
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.support.processes import cli_env, free_port, log_versions, run, segments_command
from workflow import tracking
from workflow.errors import GateError, ModelNotFoundError

MODEL = "customer-segments"
REPO = Path(__file__).resolve().parents[1]


def store_client(uri: str) -> MlflowClient:
    return MlflowClient(uri, uri)  # both: the registry URI set globally may be another test's store


class CreatesAFileWhenUnpickled:
    """What a malicious pickle does: ``pickle.load`` calls ``Path.touch(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def register(model: object, serialization_format: str, **options: object) -> str:
    """Log ``model`` in ``serialization_format`` under a run of our experiment and register it; its version."""
    with mlflow.start_run(experiment_id=tracking.experiment_id()):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=serialization_format,
            pip_requirements=["scikit-learn"],
            **options,
        )
    return str(mlflow.register_model(info.model_uri, MODEL).version)


def make_it_look_good(uri: str, version: str, features: list[str] | None = None) -> None:
    """The tags a real version has, with metrics that pass every gate: only the model format may refuse it."""
    client = store_client(uri)
    for key, value in {"silhouette": "0.9", "stability_ari": "0.99", "k": "2"}.items():
        client.set_model_version_tag(MODEL, version, key, value)
    if features:
        client.set_model_version_tag(MODEL, version, "features", ",".join(features))


def test_a_pickle_model_is_refused_by_promote_score_and_load_without_being_unpickled(
    mlflow_store: str, small_shipments: Path, cli, tmp_path: Path
) -> None:
    assert log_versions(small_shipments, 1) == ["1"]
    assert cli("promote", "1", "--min-silhouette", "-1", "--min-stability", "-1").code == 0
    marker = tmp_path / "pickle-code-ran"
    version = register(CreatesAFileWhenUnpickled(marker), "cloudpickle")
    make_it_look_good(mlflow_store, version)
    trail = tracking.audit_trail()

    promoted = cli("promote", version, "--force", "--reason", "try anyway")
    assert promoted.code == 2, promoted.err
    assert [line for line in promoted.err.splitlines() if line.strip()] == [promoted.err.strip()]
    assert "serialised as 'cloudpickle', only skops models are loaded" in promoted.err
    scored = cli("score", "--data", small_shipments, "--out", tmp_path / "scored.csv", "--model", version)
    assert scored.code == 2, scored.err
    assert "only skops models are loaded" in scored.err
    assert not (tmp_path / "scored.csv").exists()
    with pytest.raises(ModelNotFoundError, match="only skops"):
        tracking.load_segment_model(version)
    with pytest.raises(GateError, match="only skops"):
        tracking.promote(version, force=True, reason="in-process too")
    assert not marker.exists(), "the pickle was deserialised: its code ran"
    assert str(store_client(mlflow_store).get_registered_model(MODEL).aliases["production"]) == "1"
    assert tracking.audit_trail() == trail


def test_a_skops_model_that_trusts_more_types_than_ours_is_refused(
    mlflow_store: str, small_shipments: Path, cli
) -> None:
    import skops.io

    assert log_versions(small_shipments, 1) == ["1"]
    features = tracking.load_segment_model("1").features
    # A pipeline that calls os.system on whatever it scores, saved in skops format with a trusted-types list
    # that names os.system: MLflow accepts it, and so does skops when the list comes from the model itself.
    evil = Pipeline([("transform", FunctionTransformer(os.system))])
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(evil))
    assert set(untrusted) - set(tracking.SKOPS_TRUSTED_TYPES) == {"posix.system"}
    version = register(
        evil,
        "skops",
        skops_trusted_types=untrusted,
        signature=mlflow.models.ModelSignature.from_dict(
            {"inputs": example_signature(features), "outputs": '[{"type": "long"}]'}
        ),
    )
    make_it_look_good(mlflow_store, version, features)
    with pytest.raises(ModelNotFoundError, match=r"posix\.system"):
        tracking.load_segment_model(version)
    promoted = cli("promote", version)
    assert promoted.code == 2, promoted.out
    assert "posix.system" in promoted.err
    assert "production" not in store_client(mlflow_store).get_registered_model(MODEL).aliases


def example_signature(features: list[str]) -> str:
    import json

    return json.dumps([{"name": name, "type": "double", "required": True} for name in features])


# --------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------

#: Variables that carry credentials in the setups the README describes; each gets a fresh random value.
SECRET_VARIABLES = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "SEGMENTS_COOKIE_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "PGPASSWORD",
)


@pytest.mark.slow  # a real train process
def test_no_secret_from_the_environment_reaches_runs_tags_or_artifacts(small_shipments: Path, tmp_path: Path) -> None:
    values = {name: f"{name.lower()}-{secrets.token_hex(12)}" for name in SECRET_VARIABLES}
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    env = cli_env(MLFLOW_TRACKING_URI=uri, MLFLOW_TRACKING_USERNAME="analyst", **values)
    done = run(
        segments_command("train", "--data", small_shipments, "--k", "2-3", "--n-init", "1"), env, tmp_path, "train"
    )
    assert done.code == 0, done.describe()

    client = store_client(uri)
    experiment = client.get_experiment_by_name("customer-segments")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    texts = [done.out, done.err]
    for logged in runs:
        texts += [str(logged.data.params), str(logged.data.tags), str(list(logged.data.metrics))]
        texts += [str(dataset.dataset) for dataset in logged.inputs.dataset_inputs]
    registered = client.get_registered_model(MODEL)
    texts += [str(registered.tags), str(registered.aliases)]
    texts += [str(v.tags) for v in client.search_model_versions(f"name = '{MODEL}'")]
    texts += [str(m.params) + str(m.tags) for m in mlflow.search_logged_models(output_format="list")]
    for name, value in values.items():
        for text in texts:
            assert value not in text, f"{name} leaked into MLflow metadata or the output"
    # And byte for byte: the database and every artifact file (models, plots, CSVs, MLmodel, requirements).
    files = [path for path in (tmp_path / "mlruns").rglob("*") if path.is_file()]
    assert any(path.name == "model.skops" for path in files)
    for path in files:
        content = path.read_bytes()
        for name, value in values.items():
            assert value.encode() not in content, f"{name} leaked into {path}"


def test_a_password_in_the_tracking_uri_is_not_printed(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # An http URI with user:password@ (a direct postgresql:// URI is printed the same way, but MLflow retries
    # a dead database for ~100 s before failing, too slow for this test).
    password = secrets.token_hex(8)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://admin:{password}@127.0.0.1:{free_port()}/")
    tracking.reset()
    result = cli("models")
    tracking.reset()
    assert result.code == 2, result.err
    assert "127.0.0.1" in result.err  # the store is still named
    assert password not in result.err + result.out


# --------------------------------------------------------------------------------------------------
# The repository itself
# --------------------------------------------------------------------------------------------------

# Patterns are assembled from pieces so that this file does not match itself.
_KEY = "PRIVATE" + " KEY"
SECRET_PATTERNS = {
    "private key": re.compile(rf"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?{_KEY}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?!\$|<|\{|\*)[^/\s:@'\"]{3,}@"),
}
#: ``password = "…"`` / ``password: …`` with a literal value, in product code and docs (tests may hold
#: throw-away credentials for the servers they start; they get random ones here).
PASSWORD_LITERAL = re.compile(
    r"""(?ix) (?:password|passwd|secret|token|api_key) [\w]* ["']? \s* [:=] \s*
        (?P<quote>["']) (?P<value>[^"'\s$<{][^"']{3,}) (?P=quote)"""
)
#: Values that are obviously not secrets.
PLACEHOLDERS = re.compile(r"(?i)^(?:changeme|change-me|example|placeholder|your[-_].*|xxx+|\*+|\.\.\.)$")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".json", ".txt", ".sh", ".env", ""}


def repository_files() -> list[Path]:
    """The files git tracks, plus new ones not ignored (``git ls-files`` only reads the index)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=False,
        timeout=60,
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.decode(errors='replace').strip()}")
    names = sorted({name for name in listed.stdout.decode().split("\0") if name})
    return [REPO / name for name in names if (REPO / name).is_file()]


def test_the_repository_holds_no_obvious_secret() -> None:
    files = repository_files()
    assert any(path.name == "pyproject.toml" for path in files)
    found = []
    for path in files:
        if path.suffix not in TEXT_SUFFIXES and path.name not in {"Makefile", "run"}:
            continue
        if path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="replace")
        relative = path.relative_to(REPO)
        for what, pattern in SECRET_PATTERNS.items():
            found += [f"{relative}: {what}: {m.group(0)[:40]}" for m in pattern.finditer(text)]
        if relative.parts[0] != "tests":
            found += [
                f"{relative}: literal credential: {m.group(0)[:60]}"
                for m in PASSWORD_LITERAL.finditer(text)
                if not PLACEHOLDERS.match(m.group("value"))
            ]
        if path.name in {".env", "credentials", ".netrc", ".pgpass", "basic_auth.db"}:
            found.append(f"{relative}: a credentials file is tracked")
    assert not found, "\n".join(found)


def test_the_secret_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The patterns above are not vacuous: each finds a planted example."""
    planted = {
        "private key": f"-----BEGIN RSA {_KEY}-----\nMIIEow...",
        "AWS access key id": "aws_access_key_id = AKIA" + "ABCDEFGHIJKLMNOP",
        "GitHub token": "token: ghp_" + "a" * 36,
        "Slack token": "xoxb-" + "1234567890-abcdef",
        "password in a URL": "postgresql://segments:" + "hunter22@db.example/mlflow",
    }
    for what, text in planted.items():
        assert SECRET_PATTERNS[what].search(text), what
    assert PASSWORD_LITERAL.search('admin_password = "' + 'correct horse"')
    assert PASSWORD_LITERAL.search("MLFLOW_TRACKING_PASSWORD='" + "s3cret-value'")
    for harmless in (
        'password = os.environ["MLFLOW_TRACKING_PASSWORD"]',
        'admin_password = "$MLFLOW_AUTH_ADMIN_PASSWORD"',
        "postgresql://segments:${PGPASSWORD}@127.0.0.1/mlflow",
        'password = "<your password>"',
    ):
        assert not any(p.search(harmless) for p in SECRET_PATTERNS.values()), harmless
        literal = PASSWORD_LITERAL.search(harmless)
        assert literal is None or PLACEHOLDERS.match(literal.group("value")), harmless
