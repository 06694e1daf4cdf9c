"""The Spark session: local or on a cluster, sized for the driver's work, quiet, and always stopped."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from workflow.errors import SegmentsError, first_line

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


#: Local sessions: the driver holds the labels (one int per customer and k) and the silhouette sample.
DEFAULT_DRIVER_MEMORY = "4g"


# --------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------


def spark_session(
    master: str = "local[2]", app_name: str = "segments", *, driver_memory: str | None = None
) -> SparkSession:
    """A SparkSession configured for this workflow (or the running one, which ``getOrCreate`` returns).

    Parameters
    ----------
    master : str
        ``local[N]`` for one machine, or a cluster URL (``spark://host:7077``, ``yarn``, ``k8s://…``).
    app_name : str
        Name shown by the cluster manager.
    driver_memory : str, optional
        JVM heap of the driver (default ``$SEGMENTS_SPARK_DRIVER_MEMORY`` or 4g); only takes effect
        when this call starts the JVM. Spark's log level is ``$SEGMENTS_SPARK_LOG_LEVEL`` (default FATAL).

    Raises
    ------
    SegmentsError
        pyspark is not installed, or Spark cannot start.

    Notes
    -----
    Local sessions bind to 127.0.0.1 (nothing listens on the network) and disable the web UI.
    Shuffles use few partitions in local mode: Spark's default of 200 is for clusters, and each
    partition costs a task (~10 ms) for a few kilobytes here. The session time zone is UTC, so that
    timestamps mean the wall-clock time pandas reads from the same file.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SegmentsError("the Spark engine needs pyspark: pip install 'segments[spark]'") from None

    local = master.startswith("local")
    if local:
        # Without it Spark resolves the host name, warns, and may bind to an external interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    memory = driver_memory or os.environ.get("SEGMENTS_SPARK_DRIVER_MEMORY", DEFAULT_DRIVER_MEMORY)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if local:
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(2 * _local_cores(master)))
            .config("spark.default.parallelism", str(_local_cores(master)))
        )
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # the JVM did not start (no Java, wrong version) or the master is unreachable
        raise SegmentsError(
            f"cannot start Spark with master {master} (Spark 4 needs Java 17 on PATH or in JAVA_HOME): "
            f"{first_line(error)}"
        ) from None
    # Spark logs every failed task (a corrupt file, a cancelled fit) at ERROR, around the one-line
    # message the CLI prints; the exception carries the details. Operators can ask for the logs.
    spark.sparkContext.setLogLevel(os.environ.get("SEGMENTS_SPARK_LOG_LEVEL", "FATAL"))
    return spark


def _local_cores(master: str) -> int:
    inside = master.removeprefix("local").strip("[]").split(",")[0]
    if inside in {"", "*"}:
        return os.cpu_count() or 1
    return max(int(inside), 1) if inside.isdigit() else 1


@contextlib.contextmanager
def _session(master: str) -> Iterator[SparkSession]:
    """The active session if there is one (left running), else a new one stopped on exit."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    spark = spark_session(master)
    try:
        yield spark
    finally:
        spark.stop()
