"""`codesuggest batch`: archives in, one result per note out, resumable after any interruption.

Most tests score with ``KeywordSuggester``, a test double with the real ``suggest`` signature
that builds real ``SuggestionResult`` records, so that readers, writers, resume and the pool
are tested in seconds. Tests marked ``slow`` use the shipped model end to end.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesuggest.core.context import PatientContext
from codesuggest.core.errors import InputError
from codesuggest.core.records import Evidence, Suggestion, SuggestionResult
from codesuggest.io import readers, run, writers
from codesuggest.io.engines import local as batch
from codesuggest.io.readers import Fields, Note
from codesuggest.io.run import run_batch
from codesuggest.output.schema import validate_result_dict

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
TESTS = Path(__file__).resolve().parent

KEYWORDS = {
    "diabetes": ("E11.9", "Type 2 diabetes mellitus without complications"),
    "hypertension": ("I10", "Essential (primary) hypertension"),
}


class KeywordSuggester:
    """Test double: suggests a code for each keyword it finds, with its offsets as evidence."""

    codesets: ClassVar[dict[str, str]] = {"ICD-10-CM": "2026", "CPT": "subset-2026.1"}
    model_info: ClassVar[dict[str, str]] = {"name": "keyword-double", "version": "0", "sha256": ""}

    def suggest(
        self,
        text: str | bytes,
        *,
        setting: str = "outpatient",
        age: int | None = None,
        sex: str | None = None,
        encounter_date: Any = None,
        id: str | None = None,
    ) -> SuggestionResult:
        context = PatientContext.parse(
            setting=setting, age=age, sex=sex, encounter_date=encounter_date
        ).to_dict()
        result = SuggestionResult(
            id=id, codesets=self.codesets, model=self.model_info, context=context
        )
        if isinstance(text, bytes):
            if b"\x00" in text:
                result.errors.append({"code": "binary_note", "message": "binary"})
                return result
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                result.errors.append({"code": "encoding", "message": "not UTF-8"})
                return result
        if text is None or not str(text).strip():
            result.errors.append({"code": "empty_note", "message": "The note is empty."})
            return result
        if "\x00" in text:
            result.errors.append({"code": "binary_note", "message": "binary"})
            return result
        if "EXPLODE" in text:
            raise RuntimeError("the double was told to fail")
        lower = text.lower()
        for word, (code, description) in KEYWORDS.items():
            at = lower.find(word)
            if at >= 0:
                evidence = [Evidence(at, at + len(word), text[at : at + len(word)])]
                result.suggestions.append(
                    Suggestion(
                        code,
                        "ICD-10-CM",
                        description,
                        0.9,
                        rank=len(result.suggestions) + 1,
                        selected=True,
                        evidence=evidence,
                    )
                )
        return result


def keyword_loader(model: str | None) -> KeywordSuggester:
    return KeywordSuggester()


def slow_loader(model: str | None) -> KeywordSuggester:
    time.sleep(5)  # as the shipped model takes seconds to load
    return KeywordSuggester()


def broken_loader(model: str | None) -> KeywordSuggester:
    raise OSError("model folder /nowhere does not exist")


def score(inp: Path, out: Path, **kw: Any) -> run.BatchSummary:
    kw.setdefault("progress", False)
    return run_batch(inp, out, loader=keyword_loader, **kw)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records}


def error_codes(record: dict[str, Any]) -> list[str]:
    return [e["code"] for e in record["errors"]]


def write_notes(folder: Path, notes: dict[str, str | bytes]) -> Path:
    for note_id, text in notes.items():
        path = folder / f"{note_id}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return folder


def write_jsonl(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def many_notes(n: int) -> list[dict[str, Any]]:
    words = ["diabetes", "hypertension", "diabetes and hypertension", "cough"]
    return [
        {"id": f"n{i:04d}", "text": f"Assessment: {words[i % 4]} (visit {i})."} for i in range(n)
    ]


# --------------------------------------------------------------------------- reading


def test_folder_of_notes_gives_one_record_per_note_named_by_relative_path(tmp_path):
    notes = write_notes(
        tmp_path / "notes",
        {
            "a": "Assessment: diabetes.",
            "clinic/2024/b": "Hypertension, well controlled.",
            "clinic/c": "No complaints.",
        },
    )
    (notes / "README.md").write_text("not a note")
    out = tmp_path / "out.jsonl"

    summary = score(notes, out)

    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["a", "clinic/c", "clinic/2024/b"]
    assert [s["code"] for s in by_id(records)["a"]["suggestions"]] == ["E11.9"]
    assert all(validate_result_dict(r) == [] for r in records)
    assert (summary.notes, summary.skipped, summary.suggestions, summary.errors) == (3, 0, 2, 0)


def test_evidence_offsets_point_into_the_note_as_written_even_with_crlf(tmp_path):
    text = "Line one\r\nHistory: hypertension.\r\n"
    notes = write_notes(tmp_path / "notes", {"crlf": text})
    out = tmp_path / "out.jsonl"
    score(notes, out)
    evidence = read_jsonl(out)[0]["suggestions"][0]["evidence"][0]
    assert text[evidence["start"] : evidence["end"]] == "hypertension"


def test_jsonl_field_names_and_context_are_configurable(tmp_path):
    inp = write_jsonl(
        tmp_path / "notes.jsonl",
        [
            {
                "note_id": 7,
                "body": "diabetes",
                "care": "inpatient",
                "years": 58,
                "gender": "F",
                "seen": "2026-10-02",
            },
            {"note_id": "x", "body": "hypertension"},
        ],
    )
    out = tmp_path / "out.jsonl"
    fields = Fields(
        id="note_id", text="body", setting="care", age="years", sex="gender", encounter_date="seen"
    )

    score(inp, out, fields=fields, setting="outpatient")

    first, second = read_jsonl(out)
    assert first["id"] == "7"
    assert first["context"] == {
        "setting": "inpatient",
        "age": 58,
        "sex": "F",
        "encounter_date": "2026-10-02",
    }
    assert second["context"]["setting"] == "outpatient"


def test_csv_input_with_quoted_multiline_notes_and_a_byte_order_mark(tmp_path):
    inp = tmp_path / "notes.csv"
    with open(inp, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "age"])
        w.writerow(["a", 'Assessment:\r\n1. diabetes, type 2\r\n2. "hypertension"', "61"])
        w.writerow(["b", "cough", ""])
    out = tmp_path / "out.jsonl"

    score(inp, out)

    records = by_id(read_jsonl(out))
    assert [s["code"] for s in records["a"]["suggestions"]] == ["E11.9", "I10"]
    assert records["a"]["context"]["age"] == 61
    assert records["b"]["suggestions"] == []
    assert records["b"]["errors"] == []


def test_gzipped_jsonl_and_a_folder_of_parquet_files_are_read_as_archives(tmp_path):
    import gzip

    inp = tmp_path / "notes.jsonl.gz"
    with gzip.open(inp, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "gz", "text": "diabetes"}) + "\n")
    out = tmp_path / "out.jsonl"
    score(inp, out)
    assert [r["id"] for r in read_jsonl(out)] == ["gz"]

    pa = pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")
    import pyarrow.parquet as pq

    folder = tmp_path / "lake"
    (folder / "b").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["1"], "text": ["diabetes"]}), folder / "a.parquet")
    pq.write_table(pa.table({"id": ["2"], "text": ["cough"]}), folder / "b" / "c.parquet")
    out = tmp_path / "lake.jsonl"
    score(folder, out, input_format="parquet")
    assert [r["id"] for r in read_jsonl(out)] == ["1", "2"]


def test_input_without_the_text_column_cannot_be_read_and_says_which_option_fixes_it(tmp_path):
    inp = tmp_path / "notes.csv"
    inp.write_text("id,body\n1,diabetes\n")
    with pytest.raises(InputError, match="--text-field"):
        score(inp, tmp_path / "out.jsonl")


def test_missing_input_cannot_be_read(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        score(tmp_path / "nowhere", tmp_path / "out.jsonl")


def test_every_bad_note_becomes_a_record_with_an_error_and_the_run_goes_on(tmp_path):
    notes = write_notes(
        tmp_path / "notes",
        {
            "good": "diabetes",
            "empty": "",
            "latin1": "hypertension caf\xe9".encode("latin-1"),
            "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "huge": "diabetes " * 200,
            "explodes": "EXPLODE",
        },
    )
    out = tmp_path / "out.jsonl"

    summary = score(notes, out, max_chars=1000)

    records = by_id(read_jsonl(out))
    assert len(records) == 6
    assert records["good"]["errors"] == []
    assert error_codes(records["empty"]) == ["empty_note"]
    assert error_codes(records["latin1"]) == ["encoding"]
    assert error_codes(records["binary"]) == ["binary_note"]
    assert error_codes(records["huge"]) == ["note_too_large"]
    assert error_codes(records["explodes"]) == ["internal_error"]
    assert all(validate_result_dict(r) == [] for r in records.values())
    assert summary.errors == 5


def test_malformed_jsonl_lines_are_reported_by_line_number(tmp_path):
    inp = write_jsonl(
        tmp_path / "notes.jsonl",
        [
            {"id": "a", "text": "diabetes"},
            '{"id": "b", "text": "unterminated',
            "",
            "[1, 2]",
            {"id": "c", "body": "no text field"},
            {"text": "hypertension, no id"},
            {"id": "d", "text": "diabetes", "age": "old"},
            {"id": "e", "text": "diabetes"},
        ],
    )
    out = tmp_path / "out.jsonl"

    score(inp, out)

    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["a", "line-2", "line-4", "c", "line-6", "d", "e"]
    got = {r["id"]: error_codes(r) for r in records}
    assert got["line-2"] == ["malformed_row"]
    assert "Line 2 is not valid JSON" in records[1]["errors"][0]["message"]
    assert got["line-4"] == ["malformed_row"]
    assert got["c"] == ["missing_text"]
    assert got["line-6"] == []
    assert got["d"] == ["invalid_context"]
    assert got["e"] == []


def test_a_bad_context_value_is_an_error_record_not_a_stopped_run(tmp_path):
    inp = write_jsonl(
        tmp_path / "notes.jsonl",
        [
            {"id": "a", "text": "diabetes", "setting": "home"},
            {"id": "b", "text": "diabetes"},
        ],
    )
    out = tmp_path / "out.jsonl"
    score(inp, out)
    a, b = read_jsonl(out)
    assert error_codes(a) == ["invalid_context"]
    assert a["context"]["setting"] == "outpatient"
    assert b["errors"] == []


def test_undecodable_bytes_in_a_jsonl_or_csv_row_are_reported_for_that_row(tmp_path):
    jsonl = tmp_path / "notes.jsonl"
    jsonl.write_bytes(b'{"id": "a", "text": "caf\xe9"}\n{"id": "b", "text": "diabetes"}\n')
    table = tmp_path / "notes.csv"
    table.write_bytes(b"id,text\na,caf\xe9\nb,diabetes\n")
    for inp in (jsonl, table):
        out = tmp_path / f"{inp.name}.out.jsonl"
        score(inp, out)
        a, b = read_jsonl(out)
        assert (a["id"], error_codes(a)) == ("a", ["encoding"])
        assert (b["id"], b["errors"]) == ("b", [])


def test_malformed_csv_rows_are_reported_by_line_number(tmp_path):
    inp = tmp_path / "notes.csv"
    inp.write_text('id,text\na,diabetes\nb,too,many,fields\n\nc,"hypertension"\n')
    out = tmp_path / "out.jsonl"
    score(inp, out)
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["a", "line-3", "c"]
    assert error_codes(records[1]) == ["malformed_row"]
    assert "has 4 fields; the header has 2" in records[1]["errors"][0]["message"]


def test_a_deeply_nested_jsonl_line_is_one_malformed_row_and_the_run_goes_on(tmp_path):
    inp = tmp_path / "notes.jsonl"
    inp.write_text(
        json.dumps({"id": "a", "text": "diabetes"})
        + "\n"
        + "[" * 5000
        + "\n"
        + json.dumps({"id": "b", "text": "hypertension"})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    score(inp, out)
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["a", "line-2", "b"]
    assert error_codes(records[1]) == ["malformed_row"]
    assert "too deeply" in records[1]["errors"][0]["message"]


def test_a_byte_order_mark_before_the_first_jsonl_line_is_accepted(tmp_path):
    inp = tmp_path / "notes.jsonl"
    inp.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": "diabetes"}).encode() + b"\n")
    out = tmp_path / "out.jsonl"
    score(inp, out)
    (record,) = read_jsonl(out)
    assert (record["id"], record["errors"]) == ("a", [])


def test_an_unclosed_csv_quote_reports_every_row_it_swallowed(tmp_path):
    inp = tmp_path / "notes.csv"
    inp.write_text(
        'id,text\nc3,"diabetes"\nc4,"hypertension, the quote is never closed\n'
        'c5,"diabetes again"\nc6,hypertension\n'
    )
    out = tmp_path / "out.jsonl"
    score(inp, out)
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["c3", "line-3", "line-4", "c6"]
    for record in records[1:3]:
        assert error_codes(record) == ["malformed_row"]
        assert "lines 3-4" in record["errors"][0]["message"]
    assert records[3]["suggestions"][0]["code"] == "I10"


def test_an_oversized_jsonl_line_is_skipped_without_being_read_whole(tmp_path):
    inp = write_jsonl(
        tmp_path / "notes.jsonl",
        [
            {"id": "big", "text": "x" * 20_000_000},
            {"id": "after", "text": "diabetes"},
        ],
    )
    out = tmp_path / "out.jsonl"
    score(inp, out, max_chars=1000)
    big, after = read_jsonl(out)
    assert (big["id"], error_codes(big)) == ("line-1", ["note_too_large"])
    assert after["id"] == "after"


def test_no_note_text_reaches_the_logs(tmp_path, caplog, capfd):
    secret = "Patient Jane Qwertyuiop"
    notes = write_notes(tmp_path / "notes", {"a": f"{secret} EXPLODE", "b": f"{secret} diabetes"})
    out = tmp_path / "out.jsonl"
    with caplog.at_level("DEBUG"):
        score(notes, out)
        with open(out, "ab") as f:
            f.write(b'{"id": "c", "partial')
        score(notes, out)
    captured = capfd.readouterr()
    assert secret not in caplog.text + captured.err + captured.out
    assert "note a: scoring failed with RuntimeError" in caplog.text


# --------------------------------------------------------------------------- writing


def test_csv_output_has_a_row_per_suggestion_and_one_for_a_note_without(tmp_path):
    inp = write_jsonl(
        tmp_path / "notes.jsonl",
        [
            {"id": "both", "text": "diabetes, hypertension"},
            {"id": "none", "text": "cough"},
            {"id": "empty", "text": ""},
        ],
    )
    out = tmp_path / "out.csv"

    score(inp, out)

    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(writers.CSV_COLUMNS)
    assert [(r["id"], r["rank"], r["code"]) for r in rows] == [
        ("both", "1", "E11.9"),
        ("both", "2", "I10"),
        ("none", "", ""),
        ("empty", "", ""),
    ]
    assert rows[0]["evidence"] == "0-8"
    assert rows[0]["codeset"] == "2026"
    assert rows[0]["selected"] == "true"
    assert rows[1]["n_suggestions"] == "2"
    assert (rows[3]["n_suggestions"], rows[3]["error_codes"]) == ("0", "empty_note")


def test_parquet_output_takes_error_records_with_any_context_values(tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")
    import pyarrow.parquet as pq

    inp = write_jsonl(
        tmp_path / "notes.jsonl",
        [
            {"id": "a", "text": "diabetes", "age": 10**12, "sex": ["F"], "encounter_date": 3},
            {"id": "b", "text": "diabetes", "setting": "home", "age": "58"},
        ],
    )
    out = tmp_path / "out.parquet"
    score(inp, out)
    rows = pq.read_table(out).to_pylist()
    assert [error_codes(r) for r in rows] == [["invalid_context"], ["invalid_context"]]
    assert rows[1]["context"] == {
        "setting": "outpatient",
        "age": 58,
        "sex": None,
        "encounter_date": None,
    }


def test_parquet_in_and_out_keep_the_nested_schema(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")
    import pyarrow.parquet as pq

    inp = tmp_path / "notes.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["diabetes", ""], "age": [70, None]}), inp)
    out = tmp_path / "out.parquet"

    score(inp, out)

    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet"]
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["suggestions"][0]["code"] == "E11.9"
    assert rows[0]["suggestions"][0]["evidence"][0] == {
        "start": 0,
        "end": 8,
        "text": "diabetes",
        "section": "",
        "assertion": "present",
    }
    assert rows[0]["context"]["age"] == 70
    assert rows[1]["errors"] == [{"code": "empty_note", "message": "The note is empty."}]
    assert dict(rows[0]["codesets"]) == KeywordSuggester.codesets


# --------------------------------------------------------------------------- resuming


def test_rerunning_a_finished_run_scores_nothing_and_writes_nothing(tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(10))
    out = tmp_path / "out.jsonl"
    score(inp, out)
    before = out.read_bytes()

    again = score(inp, out)

    assert (again.notes, again.skipped) == (0, 10)
    assert out.read_bytes() == before


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_torn_last_record_is_cut_and_that_note_scored_again(tmp_path, fmt):
    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(6))
    out = tmp_path / f"out.{fmt}"
    score(inp, out)
    complete = out.read_bytes()
    cut = complete.rstrip(b"\n").rfind(b"\n") + 1
    out.write_bytes(complete[: cut + 7])  # the last note half written

    again = score(inp, out)

    assert (again.notes, again.skipped) == (1, 5)
    assert out.read_bytes() == complete


def test_a_partly_written_csv_note_is_scored_again_whole(tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", [{"id": "two", "text": "diabetes hypertension"}])
    out = tmp_path / "out.csv"
    score(inp, out)
    complete = out.read_bytes()
    out.write_bytes(complete[: complete.index(b"\ntwo,2,2,") + 1])  # only the rank-1 row

    again = score(inp, out)

    assert again.notes == 1
    assert out.read_bytes() == complete


def test_zeros_left_by_a_power_cut_are_cut(tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(4))
    out = tmp_path / "out.jsonl"
    score(inp, out)
    complete = out.read_bytes()
    out.write_bytes(complete[: complete.index(b"\n") + 1] + b"\x00" * 4096)

    score(inp, out)

    assert out.read_bytes() == complete


def test_a_resumed_run_follows_the_input_by_id_when_its_order_changed(tmp_path):
    notes = many_notes(8)
    out = tmp_path / "out.jsonl"
    score(write_jsonl(tmp_path / "first.jsonl", notes[:5]), out)

    again = score(write_jsonl(tmp_path / "second.jsonl", notes[::-1]), out)

    assert (again.notes, again.skipped) == (3, 5)
    ids = [r["id"] for r in read_jsonl(out)]
    assert sorted(ids) == sorted(n["id"] for n in notes)


def test_an_unfinished_parquet_part_is_discarded_and_its_notes_scored_again(tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")
    import pyarrow.parquet as pq

    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(5))
    out = tmp_path / "out.parquet"
    score(inp, out)
    part = out / "part-00000.parquet"
    (out / ".part-00001.parquet.tmp").write_bytes(b"PAR1 half a file")
    (out / "part-00001.parquet").write_bytes(part.read_bytes()[:100])  # torn by a power cut

    again = score(inp, out)

    assert (again.notes, again.skipped) == (0, 5)
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet"]
    assert pq.read_table(out)["id"].to_pylist() == [n["id"] for n in many_notes(5)]


def test_an_existing_file_that_is_not_a_batch_output_is_left_alone(tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(2))
    out = tmp_path / "precious.jsonl"
    out.write_text('{"id": "1", "text": "my own notes"}\n')
    with pytest.raises(InputError, match="not a codesuggest batch output"):
        score(inp, out)
    assert out.read_text() == '{"id": "1", "text": "my own notes"}\n'
    with pytest.raises(InputError, match="must not be the input"):
        score(inp, inp)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6))
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_every_written_id_reads_back_whatever_its_characters(tmp_path_factory, fmt, ids):
    out = tmp_path_factory.mktemp("out") / f"out.{fmt}"
    suggester = KeywordSuggester()
    with writers.open_output(out, fmt) as output:
        for i, note_id in enumerate(ids):
            text = "diabetes hypertension" if i % 2 else ""
            output.add(batch.score_note(suggester, Note(note_id, text)))
    reopened = writers.open_output(out, fmt)
    assert (reopened.done, list(reopened.done_ids())) == (len(ids), ids)


# --------------------------------------------------------------------------- workers


def test_two_worker_processes_give_the_same_output_as_one(tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(40))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    score(inp, one)
    summary = score(inp, two, workers=2)
    assert summary.notes == 40
    assert two.read_bytes() == one.read_bytes()


def test_a_model_that_cannot_load_stops_the_run_with_its_own_message(tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(3))
    with pytest.raises(OSError, match="/nowhere does not exist"):
        run_batch(inp, tmp_path / "out.jsonl", workers=2, loader=broken_loader, progress=False)


def test_notes_in_flight_stay_bounded_however_long_the_archive(tmp_path):
    read = 0

    def notes():
        nonlocal read
        for n in many_notes(300):
            read += 1
            yield Note(n["id"], n["text"])

    workers = 2
    bound = workers * 3 * batch.CHUNK_NOTES + batch.CHUNK_NOTES
    done = 0
    results = batch._score_in_pool(notes(), workers, keyword_loader, None, "outpatient", 1000)
    for _ in results:
        done += 1
        assert read - done <= bound
    assert done == 300


KILLED_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_batch import keyword_loader
    from codesuggest.io.run import run_batch
    run_batch({inp!r}, {out!r}, workers={workers}, loader=keyword_loader, progress=False)
""")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_until_killed(cmd: list[str], out: Path, env: dict[str, str], min_lines: int) -> list[int]:
    """Start ``cmd``; once OUT holds ``min_lines`` lines, SIGKILL its main process only.

    Returns the processes it had started (its workers), which must now end by themselves.
    """
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= min_lines:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        orphans = children_of(proc.pid)
        proc.kill()
        proc.wait()
        return orphans
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left, should the test fail
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_killed_with_sigkill_resumes_with_every_note_exactly_once(tmp_path, workers):
    notes = many_notes(300)
    inp = write_jsonl(tmp_path / "notes.jsonl", notes)
    out = tmp_path / "out.jsonl"
    script = KILLED_RUN.format(tests=str(TESTS), inp=str(inp), out=str(out), workers=workers)
    env = dict(os.environ, **{batch.TEST_DELAY_ENV: "0.02"})

    orphans = run_until_killed([sys.executable, "-c", script], out, env, min_lines=10)
    assert len(orphans) >= (workers if workers > 1 else 0)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in orphans), "workers outlived their killed parent"
    with open(out, "ab") as f:  # as if the kill had landed in the middle of a write
        f.write(b'{"id": "n99')
    partial = read_jsonl_prefix(out)
    assert 10 <= len(partial) < 300

    again = score(inp, out)

    ids = [r["id"] for r in read_jsonl(out)]
    assert ids == [n["id"] for n in notes]
    assert again.skipped == len(partial)


def test_a_killed_run_leaves_no_worker_behind_even_while_they_load(tmp_path):
    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(40))
    script = (
        KILLED_RUN.format(
            tests=str(TESTS), inp=str(inp), out=str(tmp_path / "out.jsonl"), workers=2
        )
        .replace("loader=keyword_loader", "loader=slow_loader")
        .replace("import keyword_loader", "import slow_loader")
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(children_of(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = children_of(proc.pid)  # the resource tracker and two loading workers
        assert len(started) >= 3
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in started), "workers outlived their killed parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def read_jsonl_prefix(path: Path) -> list[dict[str, Any]]:
    lines = path.read_bytes().split(b"\n")[:-1]
    return [json.loads(line) for line in lines]


def test_the_default_size_limit_is_the_suggesters(tmp_path):
    from codesuggest.pipeline import MAX_NOTE_CHARS

    assert readers.DEFAULT_MAX_CHARS == MAX_NOTE_CHARS


# --------------------------------------------------------------------------- the command


def sample_notes(folder: Path, n: int = 5) -> Path:
    folder.mkdir()
    for path in sorted(SAMPLES.glob("*.txt"))[:n]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_a_note_named_in_bytes_that_are_not_utf8_keeps_its_id_across_reruns(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("diabetes")
    with open(os.path.join(os.fsencode(folder), b"b\xff.txt"), "wb") as f:
        f.write(b"hypertension")
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"out.{fmt}"
        score(folder, out)
        again = score(folder, out)
        assert (again.notes, again.skipped) == (0, 2)
    assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == ["a", "b\\xff"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_txt_is_skipped_with_a_record_not_waited_on(tmp_path):
    folder = write_notes(tmp_path / "notes", {"a": "diabetes", "c": "hypertension"})
    os.mkfifo(folder / "b.txt")
    out = tmp_path / "out.jsonl"
    summary = score(folder, out)
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert error_codes(records[1]) == ["not_a_file"]
    assert summary.errors == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_a_folder_that_cannot_be_listed_counts_as_an_error(tmp_path):
    folder = write_notes(tmp_path / "notes", {"a": "diabetes", "locked/b": "hypertension"})
    (folder / "locked").chmod(0)
    try:
        summary = score(folder, tmp_path / "out.jsonl")
    finally:
        (folder / "locked").chmod(0o755)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in records] == ["a", "locked/"]
    assert error_codes(records[1]) == ["unreadable_folder"]
    assert summary.errors == 1


def test_an_unlisted_folder_is_an_error_record_naming_it(tmp_path, monkeypatch):
    # Root reads any folder, so the listing error is made here as os.walk would report it.
    folder = write_notes(tmp_path / "notes", {"a": "diabetes", "locked/b": "hypertension"})
    real_walk = os.walk

    def walk(top, onerror=None, **kw):
        for dirpath, dirnames, filenames in real_walk(top, onerror=onerror, **kw):
            if "locked" in dirnames:
                dirnames.remove("locked")
                onerror(PermissionError(13, "Permission denied", str(Path(dirpath, "locked"))))
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(readers.os, "walk", walk)
    summary = score(folder, tmp_path / "out.jsonl")
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in records] == ["locked/", "a"]
    assert error_codes(records[0]) == ["unreadable_folder"]
    assert "locked" in records[0]["errors"][0]["message"]
    assert summary.errors == 1


def test_a_full_disk_says_what_happened_and_that_a_rerun_resumes(tmp_path, monkeypatch, capsys):
    import errno

    from codesuggest.cli import main

    inp = write_jsonl(tmp_path / "notes.jsonl", many_notes(200))
    out = tmp_path / "out.jsonl"
    real_write = writers._LineOutput._write
    calls = []

    def write(self, pending):
        calls.append(len(pending))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, pending)

    monkeypatch.setattr(writers._LineOutput, "_write", write)
    monkeypatch.setattr(batch, "load_suggester", keyword_loader)
    status = main(["batch", str(inp), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert status == 1
    assert "No space left on device" in err
    assert "rerun the same command to resume" in err
    assert "Traceback" not in err
    assert len(read_jsonl(out)) == calls[0]

    monkeypatch.setattr(writers._LineOutput, "_write", real_write)
    again = score(inp, out)
    assert again.skipped == calls[0]
    assert [r["id"] for r in read_jsonl(out)] == [n["id"] for n in many_notes(200)]


def test_batch_command_says_why_an_unreadable_input_stops_it(tmp_path, capsys):
    from codesuggest.cli import main

    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_batch_command_scores_a_folder_with_the_shipped_model(tmp_path, capsys):
    from codesuggest.cli import main

    notes = sample_notes(tmp_path / "notes", 3)
    (notes / "empty.txt").write_text("")
    out = tmp_path / "out.csv"

    assert main(["batch", str(notes), "--out", str(out)]) == 0

    err = capsys.readouterr().err
    assert "4 notes scored (0 already done)" in err
    assert "1 note with errors" in err  # singular (issue 16.11)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["id"] for r in rows} == {p.stem for p in notes.glob("*.txt")}
    assert any(r["system"] == "ICD-10-CM" for r in rows if r["id"].startswith("01_"))
    assert [r["error_codes"] for r in rows if r["id"] == "empty"] == ["empty_note"]

    assert main(["batch", str(notes), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_batch_command_killed_with_sigkill_resumes_with_every_note_exactly_once(tmp_path):
    notes = sample_notes(tmp_path / "notes", 3)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "codesuggest.cli", "batch", str(notes), "--out", str(out)]
    env = dict(os.environ, **{batch.TEST_DELAY_ENV: "0.3"})

    run_until_killed(cmd, out, env, min_lines=1)
    done_before = len(read_jsonl_prefix(out))
    assert 1 <= done_before < 3
    result = subprocess.run([*cmd, "--quiet"], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    ids = [r["id"] for r in read_jsonl(out)]
    assert ids == sorted(p.stem for p in notes.glob("*.txt"))
    assert all(validate_result_dict(r) == [] for r in read_jsonl(out))
