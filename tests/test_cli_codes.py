"""`codesuggest codes search / show` as a coder uses them."""

from __future__ import annotations

import json

import pytest

from codesuggest.cli import main


def test_codes_search_json_lists_the_promised_fields(capsys):
    assert main(["codes", "search", "essential hypertension", "--json", "--limit", "3"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["code"] == "I10"
    assert {"code", "system", "description", "billable", "score"} <= set(results[0])


def test_codes_search_can_be_limited_to_one_system(capsys):
    assert main(["codes", "search", "office visit", "--system", "CPT", "--json"]) == 0
    assert {r["system"] for r in json.loads(capsys.readouterr().out)} == {"CPT"}


def test_codes_show_says_a_seventh_character_is_required(capsys):
    assert main(["codes", "show", "S52.521"]) == 0
    out = capsys.readouterr().out
    assert "7th character is required" in out
    assert "S52.521A" in out


def test_codes_show_prints_hierarchy_and_excludes(capsys):
    assert main(["codes", "show", "E11.65"]) == 0
    out = capsys.readouterr().out
    assert "E11  Type 2 diabetes mellitus" in out
    assert "Excludes1" in out
    assert "(E10.-)" in out


def test_codes_show_json(capsys):
    assert main(["codes", "show", "E11.65", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["billable"] is True
    assert d["codeset"] == "ICD-10-CM 2026"
    assert "E11" in d["ancestors"]


def test_unknown_code_prints_a_message_and_exits_2(capsys):
    assert main(["codes", "show", "ZZZ.99"]) == 2
    assert "is not a code" in capsys.readouterr().err


def test_empty_query_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["codes", "search", "  "])
    assert exc.value.code == 2
    assert "must not be empty" in capsys.readouterr().err
