"""Implicit ALS trained on Apache Spark (``pyspark.ml.recommendation.ALS``).

The path for interaction logs beyond one machine: the factorisation runs wherever
``spark_master`` points (``local[2]`` here, a shop's cluster in production), and the learned
factors come back into the same ``FactorModel`` as the ``implicit`` library's, so serving, fold-in
of new events and reasons are the ones every other factor model uses. Spark's ALS is the
Hu-Koren-Volinsky model with ``implicitPrefs=True``, like ``implicit``'s; Spark scales the
confidence as ``1 + alpha * weight`` the same way.

The interactions reach Spark as an Arrow table, which the JVM reads itself: no Python worker
runs on Spark's side, so executors need Java only, never a Python matching the hub's (a list of
rows would make every executor start ``python3`` from its PATH to unpickle them).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from typing import Any

import numpy as np

from bot.recommend._errors import TrainingEngineUnavailable
from bot.recommend._factors import FactorModel
from bot.recommend._interactions import Interactions

logger = logging.getLogger(__name__)

DEFAULT_MASTER = "local[2]"
_sessions_lock = threading.Lock()
_checkpoints: tempfile.TemporaryDirectory[str] | None = None


def spark_session(master: str) -> Any:
    """One Spark session per process (starting the JVM takes seconds), quiet and local-only.

    A JVM that has exited since (killed, out of memory) is replaced by a new one rather than
    failing every later training of a long-running hub.
    """
    with _sessions_lock:
        try:
            import pyarrow  # noqa: F401  (the interactions' way to the JVM, see the module's doc)
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise TrainingEngineUnavailable(
                "Spark training needs pyspark and pyarrow: install requirements/spark.txt "
                "(and a Java 17+ runtime)"
            ) from exc
        _forget_an_exited_jvm()
        active = SparkSession.getActiveSession()
        if active is not None and active.sparkContext.master != master:
            active.stop()  # getOrCreate would hand back the session of the other master
        builder = (
            SparkSession.builder.master(master)
            .appName("bot-recommend-als")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
        )
        if master.startswith("local"):
            # A local run listens on the loopback only: nothing of it is reachable from outside.
            # Its checkpoints go to a private folder removed when the process ends; a cluster
            # sets spark.checkpoint.dir on shared storage in its own spark-defaults.conf.
            builder = (
                builder.config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.checkpoint.dir", _local_checkpoints())
            )
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # pyspark raises its own runtime errors when the JVM fails
            raise TrainingEngineUnavailable(
                f"cannot start Spark at {master} ({exc}); is a Java 17+ runtime installed?"
            ) from exc
        session.sparkContext.setLogLevel("ERROR")
        return session


def _local_checkpoints() -> str:
    """This process's folder for a local Spark's checkpoints (see ``SparkALSModel``)."""
    global _checkpoints
    if _checkpoints is None:
        _checkpoints = tempfile.TemporaryDirectory(prefix="bot-spark-checkpoints-")
    return _checkpoints.name


def _forget_an_exited_jvm() -> None:
    """Drop pyspark's handles on a JVM whose process has exited, so the next session starts one.

    Written by hand: pyspark keeps its gateway, context and session in class attributes and has
    no public way back from a dead JVM (``SparkContext.stop`` only warns, SPARK-18523); every call
    through the old gateway would be refused.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession, SQLContext

    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if gateway is None or process is None or process.poll() is None:
        return
    logger.warning("Spark's JVM had exited (code %s); starting a new one", process.returncode)
    gateway.shutdown()  # closes the Python side's sockets and callback server; the JVM is gone
    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    SQLContext._instantiatedContext = None


class SparkALSModel(FactorModel):
    """Implicit-feedback ALS fitted by Spark MLlib; served like the other factor models."""

    name = "spark_als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        seed: int = 42,
        master: str = DEFAULT_MASTER,
    ) -> None:
        super().__init__(factors, regularization, alpha)
        self.iterations = iterations
        self.seed = seed
        self.master = master

    def _fit(self, interactions: Interactions) -> None:
        session = spark_session(self.master)  # first: it says what is missing, if anything

        import pyarrow as pa
        from py4j.protocol import Py4JError
        from pyspark.ml.recommendation import ALS

        weights = interactions.weights.tocoo()
        table = pa.table(
            {
                "user": pa.array(weights.row, pa.int32()),
                "item": pa.array(weights.col, pa.int32()),
                "weight": pa.array(weights.data, pa.float32()),
            }
        )
        if session.sparkContext.getCheckpointDir() is None:
            logger.warning(
                "Spark at %s has no spark.checkpoint.dir: ALS cannot cut its lineage, and "
                "many iterations may fail with a StackOverflowError",
                self.master,
            )
        blocks = max(1, session.sparkContext.defaultParallelism)
        logger.info(
            "Training ALS on Spark (%s): %d interactions, %d users, %d items",
            self.master,
            table.num_rows,
            len(interactions.users),
            len(interactions.items),
        )
        als = ALS(
            rank=self.factors,
            maxIter=self.iterations,
            regParam=self.regularization,
            alpha=self.alpha,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="weight",
            seed=self.seed,
            nonnegative=False,
            # One block of users and one of items per core Spark has (Spark's default is 10
            # of each whatever the cluster): on local[2] the ten-block default schedules 20 tiny
            # tasks an iteration; the Spark evaluation test took 87 s with it, 62 s without.
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            # Every iteration lengthens the factors' lineage; serialising it overflowed the
            # JVM's stack at 15 iterations on this machine. Checkpoints every 5 cut it.
            checkpointInterval=5,
        )
        try:
            model = als.fit(session.createDataFrame(table))
            users = _dense(model.userFactors.collect(), len(interactions.users), self.factors)
            items = _dense(model.itemFactors.collect(), len(interactions.items), self.factors)
        except Py4JError as exc:  # the JVM's failure, or its connection lost mid-training
            raise TrainingEngineUnavailable(
                f"Spark's ALS training at {self.master} failed: {_java_reason(exc)}"
            ) from exc
        self._set_factors(users, items)


def _java_reason(error: Exception) -> str:
    """The first line of the Java exception behind a py4j error, or why there is none."""
    from py4j.protocol import Py4JError, Py4JJavaError

    if not isinstance(error, Py4JJavaError):
        return f"lost the connection to Spark's JVM ({error})"
    try:
        text = str(error.java_exception.toString())
    except Py4JError:  # the JVM exited right after answering
        return "Spark's JVM failed and exited"
    return text.splitlines()[0] if text else type(error).__name__


def _dense(rows: list[Any], count: int, rank: int) -> np.ndarray:
    """Spark's (id, features) rows as a matrix; ids it never saw (no interactions) stay zero."""
    matrix = np.zeros((count, rank), dtype=np.float32)
    for row in rows:
        matrix[int(row["id"])] = np.asarray(row["features"], dtype=np.float32)
    return matrix
