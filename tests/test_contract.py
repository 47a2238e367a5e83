"""The output schema's contract: the real suggester and every test double emit exactly it.

Each producer's result goes through the strict ``validate_result_dict`` (no extension keys,
spans checked against the note) and the generated JSON Schema, so a double that drifts from
what ``Suggester.suggest`` emits fails here instead of letting the tests that use it pass on a
shape the product never produces. The rest checks that every format is made from the one field
table and that the rules engine gives only the rule ids the table lists.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_batch import KeywordSuggester
from test_review import NOTE as REVIEW_NOTE
from test_review import StubSuggester

from codesuggest.core import fields
from codesuggest.core.records import (
    Edit,
    Evidence,
    Exclusion,
    Modifier,
    Suggestion,
    SuggestionResult,
)
from codesuggest.output import schema
from codesuggest.output.schema import validate_result_dict

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
# Between them: edits of the ICD-10-CM conventions, laterality and the Medicare Code Editor
# (one under a name only the editor gives), history notes, exclusions and sections.
SAMPLE_NOTES = (
    "01_office_t2dm_htn_ckd",
    "13_ortho_left_colles_fracture_initial",
    "17_discharge_acute_on_chronic_hfpef",
    "21_radiology_bilateral_le_venous_duplex",
    "26_op_left_total_knee_arthroplasty",
)
VALIDATOR = jsonschema.Draft202012Validator(schema.json_schema())


def sample(name: str) -> tuple[str, dict[str, Any]]:
    """A sample note and the patient context its gold file gives."""
    gold = json.loads((SAMPLES / f"{name}.gold.json").read_text(encoding="utf-8"))
    context = {k: gold.get(k) for k in ("setting", "age", "sex")}
    return (SAMPLES / f"{name}.txt").read_text(encoding="utf-8"), context


def contract_problems(d: dict[str, Any], note: str) -> list[str]:
    """What ``d`` breaks: strict validation against ``note``, then the JSON Schema."""
    problems = validate_result_dict(d, note=note, extensions=())
    problems += [f"JSON Schema: {e.message}" for e in VALIDATOR.iter_errors(d)]
    return problems


# --------------------------------------------------------------------------- producers


@pytest.fixture(scope="module")
def suggester():
    import codesuggest

    return codesuggest.load()


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLE_NOTES)
def test_real_suggester_emits_the_schema_exactly(suggester, name):
    text, context = sample(name)
    d = suggester.suggest(text, id=name, encounter_date="2026-03-02", **context).to_dict()
    assert d["suggestions"]
    assert contract_problems(d, text) == []
    assert json.loads(json.dumps(d)) == d


@pytest.mark.slow
def test_real_suggester_gives_edits_and_exclusions_on_the_samples(suggester):
    """The samples above reach the nested parts of the schema the validator checks."""
    results = [suggester.suggest(sample(n)[0], **sample(n)[1]).to_dict() for n in SAMPLE_NOTES]
    suggestions = [s for d in results for s in d["suggestions"]]
    assert any(s["edits"] for s in suggestions)
    assert any(s.get("note") for s in suggestions)
    assert any(d["excluded"] for d in results)
    assert any(e["section"] for s in suggestions for e in s["evidence"])
    assert any(e["rule"].startswith("mce-") for s in suggestions for e in s["edits"])


@pytest.mark.slow
def test_real_suggester_error_result_emits_the_schema_exactly(suggester):
    d = suggester.suggest("   ", id="blank").to_dict()
    assert d["errors"]
    assert contract_problems(d, "   ") == []


@pytest.mark.parametrize("text", [REVIEW_NOTE, "Follow-up visit, no complaints."])
def test_review_double_emits_the_schema_exactly(book, text):
    # As ReviewService calls it: with the whole patient context.
    kw = {"setting": "outpatient", "age": 58, "sex": "F", "encounter_date": "2026-01-05"}
    d = StubSuggester(book).suggest(text, id="n1", **kw).to_dict()
    assert bool(d["suggestions"]) == (text == REVIEW_NOTE)
    assert contract_problems(d, text) == []


def test_review_double_validate_gives_only_rules_the_engine_has(book):
    edits = StubSuggester(book).validate(["Z79.4", "E11.9", "E11.65", "I10"], age=7)
    assert edits
    assert all(e.rule in fields.RULE_IDS for e in edits)


@pytest.mark.parametrize(
    "text",
    [
        "Diabetes and hypertension, both stable.",
        "Hypertension only.",
        "No complaints today.",
        "",
        b"\x00\x01binary",
    ],
)
def test_batch_double_emits_the_schema_exactly(text):
    d = KeywordSuggester().suggest(text, id="n1", age=40, sex="M").to_dict()
    note = text if isinstance(text, str) else ""
    assert contract_problems(d, note) == []


# --------------------------------------------------------------------------- the validator


def good_result() -> tuple[dict[str, Any], str]:
    note = "Type 2 diabetes. Denies chest pain."
    result = SuggestionResult(
        id="n1",
        codesets={"ICD-10-CM": "2026"},
        model={"name": "m", "version": "1", "sha256": "0" * 64},
        context={"setting": "outpatient", "age": 61, "sex": "F", "encounter_date": "2026-03-11"},
        suggestions=[
            Suggestion(
                "E11.9",
                "ICD-10-CM",
                "Type 2 diabetes mellitus without complications",
                0.91234,
                rank=1,
                selected=True,
                evidence=[Evidence(0, 15, "Type 2 diabetes", "assessment", "present")],
                sources={"lookup": 0.9},
                edits=[Edit("excludes1", "error", ("E11.9",), "m", "s", ("E11.65",))],
                note="Check it.",
            ),
            Suggestion(
                "J3301",
                "HCPCS",
                "Injection, triamcinolone acetonide, not otherwise specified, 10 mg",
                0.7,
                rank=2,
                selected=True,
                evidence=[Evidence(0, 15, "Type 2 diabetes", "assessment", "present")],
                sources={"documentation": 0.7},
                edits=[Edit("mue", "warning", ("J3301",), "m", "s")],
                note="Units from the dose.",
                modifiers=[Modifier("JZ", "no drug wasted")],
                units=4,
                pointers=["E11.9"],
            ),
        ],
        excluded=[Exclusion("chest pain", 24, 34, "negated", ("R07.9",))],
    )
    return result.to_dict(), note


def test_a_complete_result_conforms():
    d, note = good_result()
    assert validate_result_dict(d, note=note, extensions=()) == []
    assert list(VALIDATOR.iter_errors(d)) == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (lambda d: d, "unknown key 'extra'"),
        (lambda d: d["model"], "model: unknown key 'extra'"),
        (lambda d: d["context"], "context: unknown key 'extra'"),
        (lambda d: d["suggestions"][0], "suggestions[0]: unknown key 'extra'"),
        (lambda d: d["suggestions"][0]["evidence"][0], "evidence[0]: unknown key 'extra'"),
        (lambda d: d["suggestions"][0]["edits"][0], "edits[0]: unknown key 'extra'"),
        (lambda d: d["excluded"][0], "excluded[0]: unknown key 'extra'"),
    ],
)
def test_unknown_key_is_reported_at_every_level(where, expected):
    d, _ = good_result()
    where(d)["extra"] = 1
    problems = validate_result_dict(d)
    assert len(problems) == 1
    assert problems[0].endswith(expected)
    assert not VALIDATOR.is_valid(d)


def test_extension_keys_are_accepted_only_when_allowed():
    d, _ = good_result()
    d["sections"] = [{"name": "assessment", "title": "Assessment", "start": 0, "end": 16}]
    d["text"] = "Type 2 diabetes. Denies chest pain."
    assert validate_result_dict(d) == []
    assert validate_result_dict(d, extensions=("text",)) == ["unknown key 'sections'"]
    d["sections"][0]["extra"] = 1
    assert validate_result_dict(d) == ["sections[0]: unknown key 'extra'"]


def test_edit_with_a_rule_the_engine_lacks_is_reported():
    d, _ = good_result()
    d["suggestions"][0]["edits"][0]["rule"] = "em_level"
    assert validate_result_dict(d) == [
        "suggestions[0].edits[0].rule 'em_level' is not an allowed value (see core.fields)"
    ]
    assert not VALIDATOR.is_valid(d)


def test_medicare_code_editor_edits_keep_the_editors_names():
    d, _ = good_result()
    d["suggestions"][0]["edits"][0]["rule"] = "mce-wrong-procedure-performed"
    assert validate_result_dict(d) == []
    assert VALIDATOR.is_valid(d)


def test_span_outside_the_note_is_reported():
    d, note = good_result()
    d["excluded"][0].update(start=30, end=40, text="chest pain")
    assert validate_result_dict(d, note=note) == [
        f"excluded[0] [30, 40) is outside the note ({len(note)} characters)"
    ]


def test_span_quoting_other_words_than_the_note_is_reported():
    d, note = good_result()
    d["suggestions"][0]["evidence"][0]["text"] = "Type 1 diabetes"
    assert validate_result_dict(d) == []  # without the note only its length can be checked
    assert validate_result_dict(d, note=note) == [
        "suggestions[0].evidence[0].text 'Type 1 diabetes' is not the note's 'Type 2 diabetes'"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("errors"), "missing key 'errors'"),
        (lambda d: d["suggestions"][0].update(rank=True), "suggestions[0].rank is bool"),
        (lambda d: d["suggestions"][0].update(rank=2), "suggestions[0].rank is 2, not 1"),
        (lambda d: d["suggestions"][0].update(score=1.5), "suggestions[0].score 1.5 is above 1"),
        (lambda d: d["suggestions"][0].update(system="ICD-9"), "system 'ICD-9' is not one of"),
        (lambda d: d["context"].update(age=-1), "context.age -1 is below 0"),
        (lambda d: d["context"].update(setting=None), "context.setting is null"),
        (lambda d: d["context"].update(encounter_date="11/03/2026"), "encounter_date '11/03"),
        (lambda d: d["excluded"][0].update(end=20), "excluded[0] ends at 20, before its start"),
        (lambda d: d.update(schema="2.0"), "schema '2.0' is not one of 1.0"),
    ],
)
def test_wrong_values_are_reported(change, expected):
    d, _ = good_result()
    change(d)
    problems = validate_result_dict(d)
    assert len(problems) == 1
    assert problems[0].startswith(expected) or expected in problems[0]


def test_a_result_that_is_not_an_object_is_reported():
    assert validate_result_dict([]) == ["the result is list, not an object"]


# --------------------------------------------------------------------------- one table


def _names(kind: fields.FieldType) -> Any:
    """The table's field names, nested as the formats nest them."""
    while isinstance(kind, fields.ListOf | fields.MapOf):
        kind = kind.item if isinstance(kind, fields.ListOf) else kind.value
    if isinstance(kind, fields.Struct):
        return [(f.name, _names(f.type)) for f in kind.fields]
    return None


def _keys(value: Any) -> Any:
    """The keys of a result dict, nested as ``_names`` nests the table's (maps left out)."""
    if isinstance(value, list):
        return _keys(value[0]) if value else None
    if isinstance(value, dict):
        return [(k, _keys(v)) for k, v in value.items()]
    return None


def test_to_dict_keys_follow_the_table_in_order():
    d, _ = good_result()
    d["errors"] = [{"code": "x", "message": "y"}]
    d["suggestions"] = d["suggestions"][1:]  # the procedure line: every optional key set
    d["codesets"] = d["suggestions"][0]["sources"] = None  # maps: free keys
    assert _keys(d) == _names(fields.RESULT)


def test_context_given_in_another_order_comes_out_in_the_tables():
    context = {"sex": "F", "setting": "inpatient", "encounter_date": None, "age": 3}
    d = SuggestionResult(id=None, codesets={}, model={}, context=context).to_dict()
    assert list(d["context"]) == ["setting", "age", "sex", "encounter_date"]


def test_suggestion_without_a_note_leaves_the_key_out():
    s = Suggestion("I10", "ICD-10-CM", "Essential (primary) hypertension", 0.5, rank=1)
    assert "note" not in s.to_dict()


def _arrow_names(kind: Any) -> Any:
    import pyarrow as pa

    while pa.types.is_list(kind) or pa.types.is_map(kind):
        kind = kind.value_type if pa.types.is_list(kind) else kind.item_type
    if pa.types.is_struct(kind):
        return [(f.name, _arrow_names(f.type)) for f in kind]
    return None


def test_arrow_schema_is_the_table():
    pytest.importorskip("pyarrow")
    arrow = schema.arrow_schema()
    assert [(f.name, _arrow_names(f.type)) for f in arrow] == _names(fields.RESULT)
    assert all(f.nullable for f in arrow)


def test_every_batch_csv_column_comes_from_a_field_of_the_table():
    for column in schema.CSV_VIEW:
        assert schema.field_at(column.source).name == column.source.rsplit(".", 1)[-1]
    assert schema.CSV_COLUMNS[:2] == ("id", "n_suggestions")  # the writer's resume reads these


def test_json_schema_describes_every_field():
    def walk(node: dict[str, Any], path: str) -> None:
        for name, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{path}.{name}"
            walk(sub, f"{path}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], path)

    s = schema.json_schema()
    jsonschema.Draft202012Validator.check_schema(s)
    walk(s, "")


# --------------------------------------------------------------------------- rule ids


RULES = Path(__file__).resolve().parents[1] / "src" / "codesuggest" / "rules"


def _engine_rule_arguments() -> tuple[set[str], set[str]]:
    """The first arguments of every ``run.add(...)`` in the engine: literals, and the others."""
    literal, other = set(), set()
    trees = [ast.parse(f.read_text(encoding="utf-8")) for f in sorted(RULES.glob("*.py"))]
    for node in (n for tree in trees for n in ast.walk(tree)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "run"
        ):
            first = node.args[0]
            if isinstance(first, ast.Constant):
                literal.add(first.value)
            else:
                other.add(ast.unparse(first))
    return literal, other


def test_rules_engine_names_only_listed_rule_ids():
    literal, other = _engine_rule_arguments()
    assert literal
    assert literal <= set(fields.RULE_IDS), sorted(literal - set(fields.RULE_IDS))
    # The engine's only computed rule ids: combination rules' own, and the MCE's edit names.
    # A new way of naming a rule must be listed in core.fields and added here.
    assert other == {"rule.rule", "'mce-' + name.lower().replace('_', '-')"}


def test_combination_rules_use_listed_rule_ids():
    from codesuggest.rules.combinations import combination_rules

    combinations, _ = combination_rules()
    assert {c.rule for c in combinations} <= set(fields.RULE_IDS)


def test_medicare_code_editor_edits_the_engine_words_are_listed():
    from codesuggest.rules import mce

    for name in mce._MCE_PDX:
        assert "mce-" + name.lower().replace("_", "-") in fields.RULE_IDS
    assert all(re.fullmatch(fields.MCE_RULE_PATTERN, r) for r in fields.RULE_IDS if "mce" in r)


@pytest.mark.slow
def test_rules_engine_edits_on_real_code_lists_have_listed_ids(suggester):
    lists = [
        ["E11.9", "E11.65", "I10", "I10"],  # excludes, duplicates
        ["S52.532", "W00.0XXA", "25600", "99213"],  # 7th character, modifier 25
        ["G93.1", "E11.9", "Z38.00"],  # manifestation, code first
        ["O80", "N40.0"],  # sex and age conflicts
    ]
    edits = [
        e
        for codes in lists
        for e in suggester.validate(codes, age=70, sex="F", encounter_date=dt.date(2026, 3, 1))
    ]
    assert edits
    unlisted = {
        e.rule
        for e in edits
        if e.rule not in fields.RULE_IDS and not re.fullmatch(fields.MCE_RULE_PATTERN, e.rule)
    }
    assert unlisted == set()
