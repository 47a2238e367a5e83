"""Reading labelled notes: CodiEsp folders, JSONL and CSV, with reports of what was dropped."""

from __future__ import annotations

import pytest

from codesuggest.core.errors import InputError
from codesuggest.train.corpus import normalise_gold_icd, read_csv, read_jsonl, read_labelled


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("n44.8", "N44.8"),
        ("s02.0xx", "S02.0"),
        ("x58.xxx", "X58"),
        ("e119", "E11.9"),
        ("I10", "I10"),
    ],
)
def test_codiesp_spellings_are_normalised(raw, canonical):
    assert normalise_gold_icd(raw) == canonical


def test_codiesp_folder_is_read_with_labels(tmp_path, book):
    (tmp_path / "text_files_en").mkdir()
    (tmp_path / "text_files_en" / "a.txt").write_text("Patient with hypertension.")
    (tmp_path / "text_files_en" / "b.txt").write_text("   ")
    (tmp_path / "trainD.tsv").write_text("a\ti10\na\tzz9.99\n")
    notes, report = read_labelled(tmp_path, codebook=book)
    assert [n.id for n in notes] == ["a"]
    assert notes[0].code_set() == ["I10"]
    assert report.empty_texts == 1
    assert report.invalid["ICD-10-CM"] == 1
    assert "ZZ9.99" in report.summary().upper()


def test_jsonl_accepts_strings_and_objects_and_skips_empty_texts(tmp_path, book):
    f = tmp_path / "notes.jsonl"
    f.write_text(
        '{"id": "1", "text": "HTN", "codes": ["i10", {"code": "99213", "system": "CPT"}]}\n'
        '{"id": "2", "text": "", "codes": ["I10"]}\n'
    )
    notes, report = read_jsonl(f, codebook=book)
    assert notes[0].codes == [("ICD-10-CM", "I10"), ("CPT", "99213")]
    assert report.empty_texts == 1


def test_malformed_jsonl_names_the_line(tmp_path):
    f = tmp_path / "notes.jsonl"
    f.write_text('{"id": "1", "text": "ok", "codes": []}\n{not json}\n')
    with pytest.raises(InputError, match="line 2"):
        read_jsonl(f)


def test_csv_needs_text_and_codes_columns(tmp_path):
    f = tmp_path / "notes.csv"
    f.write_text("id,body\n1,hello\n")
    with pytest.raises(InputError, match="lacks"):
        read_csv(f)


def test_csv_codes_split_on_semicolons(tmp_path):
    f = tmp_path / "notes.csv"
    f.write_text('id,text,codes\n1,"Diabetes, hypertension",E11.9;I10\n')
    notes, _ = read_csv(f)
    assert notes[0].code_set() == ["E11.9", "I10"]


def test_unsupported_file_type_is_refused(tmp_path):
    f = tmp_path / "notes.xlsx"
    f.write_bytes(b"PK")
    with pytest.raises(InputError, match="unsupported"):
        read_labelled(f)
