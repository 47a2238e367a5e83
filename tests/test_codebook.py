"""The code-set layer: records, hierarchy, 7th characters, search, cache and CPT loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesuggest.codebook import cpt, hcpcs, icd10cm
from codesuggest.core import cache, codes
from codesuggest.core.errors import InputError, UnknownCodeError


def test_leaf_is_billable_and_header_is_not(icd):
    assert icd.get("E11.65").billable
    assert not icd.get("E11").billable
    assert not icd.get("E11.6").billable
    assert icd.get("e1165").code == "E11.65"


def test_record_carries_description_parent_and_children(icd):
    rec = icd.get("E11.65")
    assert rec.description == "Type 2 diabetes mellitus with hyperglycemia"
    assert rec.parent == "E11.6"
    assert "E11.65" in icd.children("E11.6")
    assert icd.ancestors("E11.65")[:2] == ["E11.6", "E11"]


def test_code_needing_seventh_character_lists_options(icd):
    rec = icd.get("S52.521")
    assert rec.requires_7th
    assert not rec.billable
    assert rec.seventh_characters["A"] == "initial encounter for closed fracture"
    assert icd.get("S52.521A").billable


def test_placeholder_x_fills_short_codes_before_the_seventh_character(icd):
    assert icd.children("S13.4") == ["S13.4XXA", "S13.4XXD", "S13.4XXS"]
    assert "S13.4A" not in icd
    assert "S13.4XXA" in icd


def test_notes_are_inherited_from_the_category(icd):
    excl = icd.inherited("E11.9", "excludes1")
    assert ("E11", "type 1 diabetes mellitus (E10.-)") in excl
    assert icd.get("E11").note("use_additional_code")
    assert "code to identify" in " ".join(icd.get("E11").note("use_additional_code"))
    assert icd.inherited("G63", "code_first")


def test_includes_and_inclusion_terms_are_kept(icd):
    assert "high blood pressure" in icd.get("I10").note("includes")


def test_unknown_code_raises_a_named_error(icd):
    with pytest.raises(UnknownCodeError, match="not a code in ICD-10-CM 2026"):
        icd.get("Q99.999")


@pytest.mark.parametrize(
    ("ref", "code", "inside"),
    [
        ("E10", "E10.9", True),
        ("E00-E07", "E05.90", True),
        ("E00-E07", "E08.9", False),
        ("O24.4", "O24.410", True),
        ("O24.4", "O24.31", False),
    ],
)
def test_code_references_and_ranges(icd, ref, code, inside):
    assert icd.in_range(code, ref) is inside


def test_parse_code_refs_reads_tabular_notes():
    assert codes.parse_code_refs("type 1 diabetes mellitus (E10.-)") == ["E10"]
    assert codes.parse_code_refs("endocrine disease (E00-E07, E15-E16)") == [
        "E00-E07",
        "E15-E16",
    ]
    assert codes.parse_code_refs("insulin (Z79.4)") == ["Z79.4"]


def _codes(results):
    return [r.code for r in results]


def test_search_type_2_diabetes_with_hyperglycemia_gives_e11_65_first(icd):
    assert _codes(icd.search("type 2 diabetes with hyperglycemia"))[0] == "E11.65"


def test_search_tolerates_misspelling(icd):
    assert "E11.9" in _codes(icd.search("diabetis mellitus type 2", limit=3))


@pytest.mark.parametrize("query", ["essential hypertension", "hypertension essential"])
def test_search_ignores_word_order(icd, query):
    assert _codes(icd.search(query))[0] == "I10"


def test_search_maps_clinical_words_to_tabular_words(icd):
    top5 = _codes(icd.search("torus fracture right distal radius initial encounter", limit=5))
    assert "S52.521A" in top5


def test_search_finds_inclusion_terms(icd):
    assert _codes(icd.search("high blood pressure", limit=1)) == ["I10"]


def test_search_ranks_billable_before_headers_of_equal_match(icd):
    results = icd.search("type 2 diabetes mellitus", limit=10)
    first_header = next(i for i, r in enumerate(results) if not r.billable)
    assert all(r.billable for r in results[:first_header])
    assert first_header > 0


def test_search_by_code_prefix_lists_the_code_and_its_descendants(icd):
    codes = _codes(icd.search("E11.6", limit=5))
    assert codes[0] == "E11.6"
    assert all(c.startswith("E11.6") for c in codes)


def test_typeahead_prefix_finds_words_being_typed(icd):
    assert any(r.code.startswith("I1") for r in icd.search("hypert", limit=10))


def test_empty_query_is_an_input_error(icd):
    with pytest.raises(InputError, match="empty"):
        icd.search("   ")


def test_every_code_set_has_a_name_and_version(book):
    versions = book.versions()
    assert versions["ICD-10-CM"] == "2026"
    assert versions["CPT"]


def test_cache_is_keyed_by_package_version_and_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESUGGEST_CACHE_DIR", str(tmp_path))
    icd10cm.load_icd10cm.cache_clear()
    try:
        first = icd10cm.load_icd10cm()
        version = icd10cm._icd_package_version()
        manifest = tmp_path / f"icd10cm-{version}-f{icd10cm.CACHE_FORMAT}.sha256.json"
        assert manifest.exists()
        assert json.loads(manifest.read_text())["package_version"] == version
        icd10cm.load_icd10cm.cache_clear()
        second = icd10cm.load_icd10cm()
        assert len(second) == len(first)
        assert second.get("E11.65").description == first.get("E11.65").description
    finally:
        icd10cm.load_icd10cm.cache_clear()


def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path, monkeypatch, icd):
    import shutil

    source = cache.cache_dir()
    for f in source.glob("icd10cm-*"):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("CODESUGGEST_CACHE_DIR", str(tmp_path))
    icd10cm.load_icd10cm.cache_clear()
    try:
        records = next(p for p in tmp_path.glob("icd10cm-*.json") if "sha256" not in p.name)
        records.write_bytes(records.read_bytes()[:1000])
        with pytest.warns(cache.CacheRebuiltWarning, match="sha256"):
            rebuilt = icd10cm.load_icd10cm()
        assert rebuilt.get("I10").billable
        icd10cm.load_icd10cm.cache_clear()
        icd10cm.load_icd10cm()  # the rebuilt cache verifies cleanly: no warning
    finally:
        icd10cm.load_icd10cm.cache_clear()


# --------------------------------------------------------------------------- CPT


def test_cpt_subset_covers_the_common_services(book):
    subset = book.cpt
    assert len(subset) >= 300
    for code in ("99213", "99284", "93000", "45385", "47562", "11042", "11045", "20610"):
        assert code in subset, code
    categories = {r.category for r in subset}
    assert categories <= set(cpt.CPT_CATEGORIES)


def test_cpt_add_on_codes_name_their_primary_codes(book):
    addon = book.cpt.get("11045")
    assert addon.addon
    assert "11042" in addon.primary_codes
    for rec in book.cpt:
        if rec.addon:
            assert rec.primary_codes, rec.code


def test_cpt_search_finds_services_by_plain_words(book):
    assert book.search("colonoscopy snare", system="CPT", limit=3)[0].code == "45385"


def test_licensed_cpt_file_replaces_descriptions_and_keeps_subset_metadata(tmp_path):
    f = tmp_path / "LONGULT.txt"
    f.write_text("99213\tLicensed descriptor text for an office visit\n99999\tA new code\n")
    licensed = cpt.load_cpt_file(f, version="2026-licensed")
    assert licensed.get("99213").description == "Licensed descriptor text for an office visit"
    assert licensed.get("99213").category == "E/M"
    assert "99999" in licensed
    assert str(licensed.version) == "CPT 2026-licensed"


def test_licensed_cpt_file_with_a_bad_row_names_the_line(tmp_path):
    f = tmp_path / "cpt.csv"
    f.write_text("code,description\n99213,Office visit\nnot-a-code,Oops\n")
    with pytest.raises(InputError, match="line 3"):
        cpt.load_cpt_file(f, version="x")


def test_binary_cpt_file_is_refused(tmp_path):
    f = tmp_path / "cpt.bin"
    f.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(InputError, match="binary"):
        cpt.load_cpt_file(f, version="x")


def test_hcpcs_fixed_width_file_is_read(tmp_path):
    def rec(code: str, rid: str, text: str) -> str:
        return f"{code:<5}{'00100':<5}{rid}{text:<80}"

    f = tmp_path / "HCPC2026_JAN_ANWEB.txt"
    f.write_text(
        "\n".join(
            [
                rec("G0439", "3", "Annual wellness visit, includes a personalized prevention plan"),
                rec("G0439", "4", "of service, subsequent visit"),
                rec("J1100", "3", "Injection, dexamethasone sodium phosphate, 1 mg"),
                rec("25", "7", "Significant, separately identifiable e/m service"),
            ]
        )
    )
    level2 = hcpcs.load_hcpcs_file(f, version="2026-01")
    assert len(level2) == 2
    assert level2.get("G0439").description.endswith("of service, subsequent visit")
    assert level2.get("J1100").system == "HCPCS"


def test_codebook_merges_systems_in_search(book):
    systems = {r.system for r in book.search("office visit established patient", limit=10)}
    assert "CPT" in systems
    assert book.system_of("99213") == "CPT"
    assert book.system_of("E11.9") == "ICD-10-CM"


def test_missing_file_is_a_clear_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        cpt.load_cpt_file(Path(tmp_path / "nope.txt"), version="x")


def test_category_named_like_its_block_has_a_finite_hierarchy(icd):
    assert icd.get("B20").billable
    assert icd.get("B20").kind == "category"
    assert icd.ancestors("B20") == ["B20-B20", "1"]
    assert icd.get("B20-B20").kind == "section"
    assert icd.children("B20-B20") == ["B20"]
    assert icd.inherited("C50.911", "excludes2") is not None
    assert "C50.9" in icd.descendants("C50")


def test_u_codes_are_codes(icd):
    assert codes.looks_like_icd("U07.1")
    assert icd.get("U07.1").billable


def test_shipped_hcpcs_table_has_drugs_with_their_unit_dose():
    table = hcpcs.load_hcpcs_table()
    assert table.get("J3301").system == "HCPCS"
    assert "triamcinolone" in table.get("J3301").description.lower()
    by_code = {d.code: d for d in hcpcs.drug_codes()}
    j3301 = by_code["J3301"]
    assert (j3301.amount, j3301.unit, j3301.nos) == (10, "mg", True)
    assert (by_code["J0696"].amount, by_code["J0696"].unit) == (250, "mg")  # "per 250 mg"
    assert (by_code["J2550"].amount, by_code["J2550"].unit) == (50, "mg")  # "up to 50 mg"
    assert by_code["J0702"].amount == 6  # 3 mg and 3 mg: one unit is both components
    assert hcpcs.units_of(40, by_code["J3301"]) == 4
    assert hcpcs.units_of(5, by_code["J3301"]) == 1  # a part of a unit is billed as one
    assert hcpcs.hcpcs_modifiers()["RT"].lower().startswith("right side")


def test_default_codebook_finds_hcpcs_codes_without_a_file(book):
    assert book.system_of("J3301") == "HCPCS"


def test_search_reads_a_code_with_modifiers_and_units_as_the_code(book):
    assert [r.code for r in book.search("99213-25", limit=3)][:1] == ["99213"]
    assert [r.code for r in book.search("J3301*4", limit=3)][:1] == ["J3301"]


def test_a_dotted_code_prefix_lists_icd_codes_before_hcpcs_lookalikes(book):
    found = [r.code for r in book.search("E11.6", limit=6)]
    assert all(c.startswith("E11.6") for c in found)


def test_search_reads_a_condition_through_the_index_first(book):
    assert book.search("COPD exacerbation")[0].code == "J44.1"
    assert book.search("right knee osteoarthritis")[0].code == "M17.11"
    assert book.search("old MI")[0].code == "I25.2"
    assert book.search("family history colon cancer")[0].code == "Z80.0"
    assert book.search("history of kidney stones")[0].code == "Z87.442"
    # Through the Index to its tables: Drugs and Chemicals, and Neoplasms.
    assert book.search("adverse effect of prednisone")[0].code == "T38.0X5A"
    assert book.search("basal cell carcinoma skin of right forearm")[0].code == "C44.612"
    assert book.search("fell off a ladder")[0].code == "W11.XXXA"
    first = book.search("COPD exacerbation")[0]
    assert first.matched.startswith("Index: ")
