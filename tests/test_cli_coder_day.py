"""The command line as a new coder meets it (issue 16.9-16.12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesuggest import cli
from codesuggest.io.readers import read_notes
from codesuggest.io.run import BatchSummary


@pytest.fixture
def no_model(monkeypatch):
    """Loading the model fails the test: the input must be checked first."""

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("codesuggest.pipeline.load", load)


def test_suggest_on_an_empty_file_says_so_without_loading_the_model(tmp_path, capsys, no_model):
    note = tmp_path / "empty.txt"
    note.write_text("  \n", encoding="utf-8")
    assert cli.main(["suggest", str(note)]) == 1
    out = capsys.readouterr().out
    assert "error: The note is empty" in out
    assert "pre-selected" not in out  # no legend after an error


def test_suggest_on_a_binary_file_says_so_without_loading_the_model(tmp_path, capsys, no_model):
    note = tmp_path / "scan.txt"
    note.write_bytes(b"\x89PNG\x00\x00")
    assert cli.main(["suggest", str(note)]) == 1
    assert "binary" in capsys.readouterr().out


def test_suggest_json_on_an_empty_file_is_a_valid_result_made_without_the_model(
    tmp_path, capsys, no_model
):
    import json

    from codesuggest.output.schema import validate_result_dict

    note = tmp_path / "empty.txt"
    note.write_text("", encoding="utf-8")
    assert cli.main(["suggest", str(note), "--json", "--sex", "f"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert validate_result_dict(d) == []
    assert d["errors"][0]["code"] == "empty_note"
    assert d["context"]["sex"] == "F"
    assert d["model"]["version"]


def test_suggest_explains_setting_age_and_sex_and_takes_lower_case_sex():
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices["suggest"]
    helps = {a.dest: a.help for a in sub._actions}
    assert helps["setting"]
    assert helps["age"]
    assert "any case" in helps["sex"]
    assert parser.parse_args(["suggest", "n.txt", "--sex", "f"]).sex == "F"


def test_batch_over_a_folder_without_notes_says_so_and_fails(tmp_path, capsys, no_model):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.md").write_text("not a note", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    assert cli.main(["batch", str(folder), "--out", str(out), "--quiet"]) != 0
    assert "No notes found" in capsys.readouterr().err
    assert not out.exists()


def test_the_summary_counts_one_note_in_the_singular():
    text = str(BatchSummary(out="r.jsonl", notes=1, suggestions=1, errors=1, seconds=1.0))
    assert text.startswith("1 note scored")
    assert "1 suggestion," in text
    assert "1 note with errors" in text


def test_folder_note_ids_are_relative_paths_so_two_folders_may_share_a_name(tmp_path):
    for sub in ("clinic-a", "clinic-b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "visit-7.txt").write_text("Hypertension.", encoding="utf-8")
    ids = [n.id for n in read_notes(tmp_path)]
    assert ids == ["clinic-a/visit-7", "clinic-b/visit-7"]


def test_an_interrupted_batch_says_rerunning_resumes(monkeypatch, capsys, tmp_path: Path):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_batch", interrupted)
    assert cli.main(["batch", str(tmp_path), "--out", str(tmp_path / "r.jsonl")]) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
