"""codebook.tabular: what the ICD-10-CM Tabular says about a code, read for the rule edits."""

from __future__ import annotations

import pytest

from codesuggest.codebook.tabular import Tabular, note_refs, tabular_for, with_seventh


@pytest.fixture(scope="module")
def tabular(icd) -> Tabular:
    return tabular_for(icd)


def test_one_tabular_is_shared_per_code_set(icd, tabular):
    assert tabular_for(icd) is tabular


def test_excludes1_declared_on_the_category_applies_to_its_codes(tabular):
    # F32 (single episode) excludes F33 (recurrent depressive disorder)
    items = tabular.excludes("F32.9", "excludes1")
    assert any(i.matches("F33.1") and i.declared_on == "F32" for i in items)


def test_qualified_note_reference_matches_only_the_qualified_codes():
    (ref,) = note_refs("diabetes mellitus (E08-E13 with .42)")
    assert ref.matches("E11.42")
    assert not ref.matches("E11.65")


def test_manifestation_code_is_recognised_by_its_title(tabular):
    assert tabular.is_manifestation("G63")
    assert not tabular.is_manifestation("E11.42")


def test_code_first_note_names_the_underlying_condition(tabular):
    assert any(i.matches("E85.4") for i in tabular.instructions("G63", "code_first"))


def test_side_siblings_keep_the_seventh_character(tabular):
    own, sides = tabular.sides("S72.009A")
    assert own == "unspecified"
    assert sides["left"] == "S72.002A"


def test_side_word_naming_no_side_of_the_body_has_no_siblings(tabular):
    # "Left ventricular failure" names a ventricle
    assert tabular.sides("I50.1") == (None, {})


def test_seventh_character_gets_its_placeholders(tabular):
    assert with_seventh("S13.4", "A") == "S13.4XXA"
    assert tabular.seventh_character_codes("S13.4", ["A", "D", "Q"]) == ["S13.4XXA", "S13.4XXD"]


def test_bilateral_without_a_bilateral_code_is_one_code_per_side(icd):
    from codesuggest.codebook.hierarchy import specify

    both = specify(icd, "M22.2X", {"laterality": "bilateral"})
    assert (both.code, both.also) == ("M22.2X1", ["M22.2X2"])
    assert not any(m.startswith("laterality") for m in both.missing)
    # A category with a bilateral code keeps its one code.
    knees = specify(icd, "M17", {"laterality": "bilateral"})
    assert (knees.code, knees.also) == ("M17.0", [])


def test_a_side_found_in_another_subcategory_only_with_the_index_defaults(icd):
    from codesuggest.codebook.hierarchy import specify

    assert specify(icd, "M17.9", {"laterality": "right"}).code == "M17.11"
    assert specify(icd, "M16.9", {"laterality": "left"}).code == "M16.12"
    # The side found, the note no longer says laterality is missing.
    knee = specify(icd, "M17", {"laterality": "right"})
    assert knee.code == "M17.11"
    assert not knee.missing
    # An unknown site stays unknown; a type the note does not give is not guessed.
    assert specify(icd, "M19.90", {"laterality": "right"}).code == "M19.90"
    assert specify(icd, "H25.9", {"laterality": "right"}).code == "H25.9"


def test_an_unspecified_code_takes_the_one_sibling_of_the_documented_severity(icd):
    from codesuggest.codebook.hierarchy import specify

    assert specify(icd, "F33.9", {"severity": "moderate"}).code == "F33.1"
    assert specify(icd, "F32.9", {"severity": "mild"}).code == "F32.0"
    # Two severe siblings (with and without psychotic features): the note must say which.
    assert specify(icd, "F33.9", {"severity": "severe"}).code == "F33.9"
    assert specify(icd, "F33.9", {}).code == "F33.9"
    # Another concept's severity is not this one's: mild depression is F32.A, not MDD F32.0.
    assert specify(icd, "F32.A", {"severity": "mild"}).code == "F32.A"
