"""Spark: ``suggest_dataframe`` and ``--engine spark`` give exactly what the local engine gives.

One local[2] SparkSession serves the whole module. The test double of ``test_batch`` is shipped
to Spark's Python workers by value, since they cannot import the tests folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason='pyspark is not installed: pip install "codesuggest[spark]"')

import test_batch
from pyspark import cloudpickle
from test_batch import (
    KeywordSuggester,
    keyword_loader,
    many_notes,
    read_jsonl,
    write_jsonl,
)

from codesuggest.core.errors import InputError
from codesuggest.core.fields import EXCLUSION, SUGGESTION
from codesuggest.io import run
from codesuggest.io.engines.local import score_note
from codesuggest.io.engines.spark import suggest_dataframe
from codesuggest.io.readers import Note
from codesuggest.io.run import run_batch
from codesuggest.output.schema import RESULT_DDL, arrow_schema, validate_result_dict

pytestmark = [
    pytest.mark.spark,
    # pyspark 4 warns that pandas 3 is not fully supported whenever it looks for pandas
    # (createDataFrame, mapInArrow); nothing here goes through pandas.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    cloudpickle.register_pickle_by_value(test_batch)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("codesuggest-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    cloudpickle.unregister_pickle_by_value(test_batch)


# The fields the JSON leaves out when empty; a Spark struct holds them as null.
_OPTIONAL = {f.name for struct in (SUGGESTION, EXCLUSION) for f in struct.fields if f.optional}


def as_record(value: Any) -> Any:
    """A Spark row back in the JSON schema: maps and structs as dicts, unset optional fields
    (``note``, a procedure line's ``modifiers`` / ``units`` / ``pointers``) gone."""
    if hasattr(value, "asDict"):
        value = value.asDict(recursive=True)
    if isinstance(value, dict):
        return {k: as_record(v) for k, v in value.items() if not (k in _OPTIONAL and v is None)}
    if isinstance(value, list):
        return [as_record(v) for v in value]
    return value


NOTES = [
    *many_notes(10),
    {"id": "empty", "text": ""},
    {"id": "none", "text": None},
    {"id": "context", "text": "diabetes", "setting": "inpatient", "age": 70, "sex": "M"},
    {"id": "bad-setting", "text": "diabetes", "setting": "home"},
]


def test_result_ddl_is_the_parquet_writers_arrow_schema(spark):
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import _parse_datatype_string

    assert _parse_datatype_string(RESULT_DDL) == from_arrow_schema(arrow_schema())


def test_suggest_dataframe_gives_the_local_engines_records_as_structs(spark):
    rows = [(n["id"], n["text"], n.get("setting"), n.get("age"), n.get("sex")) for n in NOTES]
    df = spark.createDataFrame(rows, "id STRING, text STRING, setting STRING, age INT, sex STRING")

    scored = suggest_dataframe(df, loader=keyword_loader)
    got = {r["id"]: as_record(r) for r in scored.collect()}

    suggester = KeywordSuggester()
    for n in NOTES:
        note = Note(n["id"], n["text"], n.get("setting"), n.get("age"), n.get("sex"))
        assert got[n["id"]] == score_note(suggester, note), n["id"]
    assert all(validate_result_dict(r) == [] for r in got.values())
    assert scored.schema["suggestions"].dataType.elementType["evidence"] is not None
    assert "MapInPandas" in scored._jdf.queryExecution().toString()  # as documented


def test_suggest_dataframe_takes_other_column_names_and_says_when_one_is_missing(spark):
    df = spark.createDataFrame([(1, "hypertension")], "note_id INT, body STRING")
    (row,) = suggest_dataframe(
        df, text_col="body", id_col="note_id", loader=keyword_loader
    ).collect()
    assert (row["id"], row["suggestions"][0]["code"]) == ("1", "I10")
    with pytest.raises(InputError, match="text_col"):
        suggest_dataframe(df, loader=keyword_loader)


def test_cli_spark_engine_resumes_a_local_run_and_writes_the_same_file(spark, tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", [*many_notes(30), "not json"])
    local, mixed = tmp_path / "local.jsonl", tmp_path / "mixed.jsonl"
    run_batch(inp, local, loader=keyword_loader, progress=False)
    half = write_jsonl(tmp_path / "half.jsonl", many_notes(12))
    run_batch(half, mixed, loader=keyword_loader, progress=False)

    summary = run_batch(inp, mixed, engine="spark", loader=keyword_loader, progress=False)

    assert (summary.notes, summary.skipped) == (19, 12)
    assert mixed.read_bytes() == local.read_bytes()
    assert read_jsonl(mixed)[-1]["errors"][0]["code"] == "malformed_row"


@pytest.mark.slow
def test_spark_scores_sample_notes_as_the_shipped_model_does_locally(spark, tmp_path):
    import codesuggest

    suggester = codesuggest.load()
    paths = sorted(SAMPLES.glob("*.txt"))[:3]
    rows = [(p.stem, p.read_text(encoding="utf-8")) for p in paths]
    # One partition: one Python worker loads the model, which is most of this test's time.
    df = spark.createDataFrame(rows, "id STRING, text STRING").coalesce(1)

    got = {r["id"]: as_record(r) for r in suggest_dataframe(df).collect()}

    for note_id, text in rows:
        expected = score_note(suggester, Note(note_id, text))
        assert expected["suggestions"], note_id
        assert got[note_id] == expected, note_id


def test_spark_module_imports_without_touching_pyspark():
    code = (
        "import sys; import codesuggest.spark, codesuggest.io.run; "
        "sys.exit('pyspark' in sys.modules)"
    )
    import subprocess

    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    assert run.ENGINES == ("local", "spark")
