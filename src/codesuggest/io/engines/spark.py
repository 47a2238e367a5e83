"""Scoring notes on Apache Spark: ``suggest_dataframe`` for a DataFrame, and the CLI's engine.

Install with ``pip install "codesuggest[spark]"``; pyspark is imported only when these
functions run, so this module imports without it. Every Spark Python worker builds its
suggester once (``batch.suggester_for`` keeps it in this importable module's process) and
reuses it for every partition it is given, as Spark reuses Python workers by default.

``suggest_dataframe`` scores through ``mapInPandas``: each partition arrives as pandas
DataFrames of notes and leaves as DataFrames of result records, which Spark turns into the
struct columns of ``RESULT_DDL`` (made by ``output.schema`` from the field table the Parquet
writer's ``arrow_schema`` is made from), so a DataFrame, a Parquet output and a JSONL output of
the same notes hold the same values.
The CLI's engine moves already-read notes through ``mapInArrow`` as JSON strings.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import sys
import warnings
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from codesuggest.core.errors import InputError
from codesuggest.core.records import SETTINGS, Loader
from codesuggest.io.engines.local import score_note, suggester_for
from codesuggest.io.readers import DEFAULT_MAX_CHARS, Note, _context_value, _text_value
from codesuggest.output.schema import RESULT, RESULT_DDL

_BATCH_NOTES = 64
_CONTEXT = ("setting", "age", "sex", "encounter_date")


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise InputError(
            'The Spark engine needs pyspark: pip install "codesuggest[spark]".'
        ) from exc


def suggest_dataframe(
    df: Any,
    text_col: str = "text",
    id_col: str = "id",
    *,
    model: str | os.PathLike[str] | None = None,
    setting: str = "outpatient",
    setting_col: str = "setting",
    age_col: str = "age",
    sex_col: str = "sex",
    date_col: str = "encounter_date",
    max_chars: int = DEFAULT_MAX_CHARS,
    loader: Loader | None = None,
) -> Any:
    """Score a Spark DataFrame of notes; one row per note, in the output schema as structs.

    Context columns (``setting_col`` ...) are used when ``df`` has them. ``model`` is a model
    folder every executor can read (a shared mount such as ``/dbfs/...``); None is the model
    shipped in the package. The result's columns are those of ``RESULT_DDL``; join it back to
    ``df`` on ``id`` to keep other columns. Lazy, like any transformation.
    """
    _require_pyspark()
    from pyspark.sql.functions import col

    if setting not in SETTINGS:
        raise InputError(f"setting must be one of {SETTINGS}, not {setting!r}.")
    present = set(df.columns)
    for name, option in ((text_col, "text_col"), (id_col, "id_col")):
        if name not in present:
            raise InputError(
                f"The DataFrame has no {name!r} column (columns: {', '.join(df.columns)}); "
                f"pass {option}=."
            )
    context = dict(zip(_CONTEXT, (setting_col, age_col, sex_col, date_col), strict=True))
    notes = df.select(
        col(id_col).cast("string").alias("id"),
        col(text_col).alias("text"),
        *(col(name).alias(role) for role, name in context.items() if name in present),
    )
    score = functools.partial(
        _score_rows,
        model=str(model) if model is not None else None,
        loader=loader,
        setting=setting,
        max_chars=max_chars,
    )
    with _quiet_pandas_check():
        return notes.mapInPandas(score, RESULT_DDL)


def _score_rows(
    frames: Iterable[Any],
    *,
    model: str | None,
    loader: Loader | None,
    setting: str,
    max_chars: int,
) -> Iterator[Any]:
    """Runs on the executors: pandas DataFrames of notes in, DataFrames of results out."""
    import pandas as pd

    suggester = suggester_for(loader, model)
    columns = [f.name for f in RESULT.fields]
    for frame in frames:
        rows = frame.to_dict("records")
        for start in range(0, len(rows), _BATCH_NOTES):
            records = [
                score_note(
                    suggester,
                    Note(
                        id=_pandas_value(row["id"]),  # type: ignore[arg-type]
                        text=_text_value(_pandas_value(row["text"])),
                        **{k: _context_value(_pandas_value(row.get(k))) for k in _CONTEXT},
                    ),
                    setting=setting,
                    max_chars=max_chars,
                )
                for row in rows[start : start + _BATCH_NOTES]
            ]
            yield pd.DataFrame.from_records(records, columns=columns)


def _pandas_value(value: Any) -> Any:
    """A pandas cell as the plain value the local engine reads: nulls (NaN, NA) become None,
    and a whole-number float (an int column holding a null) an int again."""
    if value is None or value is _pandas_na():
        return None
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer():
            return int(value)
    return value


@functools.cache
def _pandas_na() -> Any:
    import pandas as pd

    return pd.NA


def _score_pickled(
    batches: Iterable[Any],
    *,
    model: str | None,
    loader: Loader | None,
    setting: str,
    max_chars: int,
) -> Iterator[Any]:
    """The CLI engine's task: notes read by ``batch`` in, JSON result records out."""
    import pyarrow as pa

    suggester = suggester_for(loader, model)
    for batch in batches:
        seqs, results = [], []
        for row in batch.to_pylist():
            note = pickle.loads(row["note"])  # written by score_notes in this same job
            seqs.append(row["seq"])
            record = score_note(suggester, note, setting=setting, max_chars=max_chars)
            results.append(json.dumps(record))
        yield pa.RecordBatch.from_pydict(
            {"seq": seqs, "result": results},
            schema=pa.schema([("seq", pa.int64()), ("result", pa.string())]),
        )


def _session(workers: int) -> tuple[Any, bool]:
    """The active SparkSession (e.g. under spark-submit), else a new local[workers] one."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    # Local workers must run this interpreter, the one codesuggest is installed in.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("codesuggest-batch")
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not started by spark-submit
        builder = builder.master(f"local[{workers}]").config("spark.ui.enabled", "false")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark, True


def score_notes(
    notes: Iterable[Note],
    *,
    workers: int = 2,
    model: str | None = None,
    loader: Loader | None = None,
    setting: str = "outpatient",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Iterator[dict[str, Any]]:
    """``--engine spark``: result records of ``notes`` in their order, scored by Spark.

    The notes are read here, so the CLI's readers, error records and resume work unchanged;
    they go to Spark a chunk at a time (a few hundred notes per core), so memory stays flat.
    """
    _require_pyspark()
    with _quiet_pandas_check():
        spark, owned = _session(workers)
    try:
        cores = spark.sparkContext.defaultParallelism
        score = functools.partial(
            _score_pickled, model=model, loader=loader, setting=setting, max_chars=max_chars
        )
        source = iter(notes)
        while chunk := list(islice(source, 128 * cores)):
            rows = [(i, pickle.dumps(note)) for i, note in enumerate(chunk)]
            with _quiet_pandas_check():
                frame = spark.createDataFrame(rows, "seq LONG, note BINARY").repartition(cores)
                scored = frame.mapInArrow(score, "seq LONG, result STRING").collect()
            for row in sorted(scored, key=lambda r: r["seq"]):
                yield json.loads(row["result"])
    finally:
        if owned:
            spark.stop()


@contextlib.contextmanager
def _quiet_pandas_check() -> Iterator[None]:
    # pyspark 4 warns that pandas 3 is not fully supported whenever it looks for pandas, even
    # on paths (like this one) that never use it; the warning would only puzzle a CLI user.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield
