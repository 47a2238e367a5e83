"""The Table of Neoplasms is reached from the Index and read by site, then behaviour column."""

from __future__ import annotations

import pytest

from codesuggest.codebook.index import AlphabeticIndex, load_index, words_of
from codesuggest.codebook.neoplasm import NeoplasmTable, column_of

# level, term, see, see also, nonessential, then the six behaviour columns.
TABLE = [
    ("0", "Neoplasm, neoplastic", "", "", "", "C80.1", "C79.9", "D09.9", "D36.9", "D48.9", "D49.9"),
    ("1", "skin", "", "", "", "C44.90", "C79.2", "D04.9", "D23.9", "D48.5", "D49.2"),
    ("2", "basal cell carcinoma", "", "", "", "C44.91", "", "", "", "", ""),
    ("2", "forearm", "", "Neoplasm, skin, limb, upper", "", "C44.60-", "C79.2", "", "", "", ""),
    ("2", "limb", "", "", "", "C44.90", "C79.2", "D04.9", "D23.9", "D48.5", "D49.2"),
    ("3", "upper", "", "", "", "C44.60-", "C79.2", "D04.6-", "D23.6-", "D48.5", "D49.2"),
    ("4", "basal cell carcinoma", "", "", "", "C44.61-", "", "", "", "", ""),
    ("1", "liver", "", "", "", "C22.9", "C78.7", "D01.5", "D13.4", "D37.6", "D49.0"),
    ("1", "breast", "", "", "", "C50.91-", "C79.81", "D05.9-", "D24.-", "D48.6-", "D49.3"),
]
INDEX = [
    ("0", "Carcinoma", "", "Neoplasm, malignant, by site", "(malignant)", ""),
    ("1", "basal cell", "", "Neoplasm, skin, malignant", "(pigmented)", "C44.91"),
    ("0", "Cancer", "", "Neoplasm, malignant, by site", "", ""),
    ("0", "Metastasis, metastatic", "", "", "", ""),
    ("1", "to specified site", "Neoplasm, secondary, by site", "", "", ""),
]


@pytest.fixture
def index() -> AlphabeticIndex:
    return AlphabeticIndex(INDEX, None, NeoplasmTable(TABLE))


def test_the_reference_names_the_column_and_the_site_to_start_from():
    assert column_of("Neoplasm, skin, malignant", frozenset()) == ("malignant", ["skin"])
    assert column_of("Neoplasm, secondary, by site", frozenset()) == ("secondary", [])
    assert column_of("Neoplasm, in situ, by site", frozenset()) == ("in_situ", [])
    # "Cancer, ovarian - see also Neoplasm ovary, malignant": the book's missing comma.
    assert column_of("Neoplasm ovary, malignant", frozenset()) == ("malignant", ["ovary"])


def test_a_site_named_only_by_the_sentence_does_not_outweigh_the_terms_own_words():
    hit = load_index().lookup(
        "ovarian cancer", "Refer for hereditary breast and ovarian cancer testing."
    )
    assert hit.code.startswith("C56")


def test_a_reference_without_a_column_takes_it_from_the_note():
    # "Metastatic breast cancer" is a breast primary that has spread; metastases are secondary.
    assert column_of("Neoplasm", words_of("metastatic breast cancer"))[0] == "malignant"
    assert column_of("Neoplasm", words_of("liver metastases"))[0] == "secondary"
    # Guideline I.C.2: a neoplasm of no stated behaviour is of unspecified behaviour.
    assert column_of("Neoplasm", words_of("lung mass neoplasm"))[0] == "unspecified"


def test_the_index_sends_the_histology_to_the_table_site_rows(index):
    hit = index.lookup("basal cell carcinoma of the skin of the right forearm")
    assert hit.code == "C44.61-"
    # The coder sees the whole way: Index entry, the table reference, its see-also and column.
    assert hit.path[:2] == ("Carcinoma", "basal cell")
    assert "see also Neoplasm, skin, malignant" in hit.path
    assert "see also Neoplasm, skin, limb, upper" in hit.path
    assert hit.path[-1] == "(malignant primary)"


def test_without_a_site_the_index_code_stands(index):
    assert index.lookup("basal cell carcinoma").code == "C44.91"


def test_a_see_reference_to_the_table_reads_the_secondary_column(index):
    assert index.lookup("metastasis to specified site", "metastasis to the liver").code == "C78.7"


def test_a_primary_cancer_reads_the_malignant_column_at_the_named_site(index):
    assert index.lookup("breast cancer").code == "C50.91-"
    assert index.lookup("cancer", "liver cancer").code == "C22.9"


@pytest.mark.parametrize(
    ("phrase", "context", "code"),
    [
        ("basal cell carcinoma", "basal cell carcinoma of the skin of the right forearm", "C44.61"),
        ("adenocarcinoma", "adenocarcinoma of the sigmoid colon", "C18.7"),
        ("liver metastases", "", "C78.7"),
        ("bone mets", "", "C79.51"),
        ("prostate cancer", "", "C61"),
        ("carcinoma in situ", "carcinoma in situ of the cervix", "D06.9"),
    ],
)
def test_the_shipped_table_reaches_the_code_a_coder_would(phrase, context, code):
    assert load_index().lookup(phrase, context).code.startswith(code)


def test_a_behaviour_named_only_by_the_sentence_is_not_taken_to_the_table():
    index = AlphabeticIndex(
        [
            *INDEX,
            ("0", "Cyst", "", "", "", ""),
            ("1", "malignant", "Neoplasm, malignant, by site", "", "", ""),
            ("1", "epidermal", "", "", "", "L72.0"),
        ],
        None,
        NeoplasmTable(TABLE),
    )
    # The carcinoma is another condition of the sentence (history); the cyst is not malignant.
    assert index.lookup("cyst", "history of malignant carcinoma and a cyst") is None
    assert index.lookup("malignant cyst", "malignant cyst of the liver").code == "C22.9"
