"""Text folding keeps a map back to the note as given."""

from hypothesis import given
from hypothesis import strategies as st

from codesuggest.core.text import fold, fold_with_offsets, original_span, replace_surrogates

FOLDING = st.text(alphabet=st.sampled_from("aB é\nİßﬀ½Σ\u0301x.İ"), max_size=40)


@given(FOLDING)
def test_every_folded_character_maps_back_to_the_character_it_came_from(text):
    folded, origin = fold_with_offsets(text)
    if origin is None:
        assert len(folded) == len(text)
        return
    assert len(origin) == len(folded) + 1
    assert origin[-1] == len(text)
    assert origin == sorted(origin)
    for i, ch in enumerate(folded):
        assert ch in fold(text[origin[i]])


def test_a_word_found_after_a_dotted_capital_i_is_found_where_it_stands():
    note = "İİ ﬀ pain"
    folded, origin = fold_with_offsets(note)
    at = folded.find("pain")
    start, end = original_span(origin, at, at + 4)
    assert note[start:end] == "pain"


def test_lone_surrogates_are_replaced_one_for_one():
    assert replace_surrogates("a\ud800b\udcff") == "a\ufffdb\ufffd"
    assert replace_surrogates("plain") == "plain"


def test_greek_plurals_read_as_their_singular_and_english_plurals_do_not():
    from codesuggest.core.text import stem

    assert stem("keratoses") == "keratosis"
    assert stem("stenoses") == "stenosis"
    assert stem("overdoses") == "overdose"
    assert stem("purposes") == "purpose"


def test_titled_names_are_blanked_in_place():
    from codesuggest.core.text import blank_titled_names

    text = "Seen by Dr. Stone with Mrs. Mary Hill; stone in the ureter."
    out = blank_titled_names(text)
    assert len(out) == len(text)
    assert "Stone" not in out
    assert "Hill" not in out
    assert "Mrs" not in out
    assert out.endswith("; stone in the ureter.")


def test_search_and_the_term_normaliser_read_one_alias_table():
    from codesuggest.codebook.search import QUERY_ALIASES
    from codesuggest.core.text import word_aliases
    from codesuggest.terms.normalise import normaliser

    assert word_aliases("search") == QUERY_ALIASES
    assert QUERY_ALIASES["renal"] == ("kidney",)
    # The extractor reads "renal" as kidney too, but not "ca" (calcium as often as cancer).
    pieces = normaliser().pieces("renal ca")
    assert "kidney" in pieces
    assert "ca" in pieces
    assert "ca" not in word_aliases("terms")


def test_latin_plurals_are_singular_but_species_names_stay_as_written():
    from codesuggest.terms.normalise import stem_word

    assert stem_word("vertebrae") == "vertebra"
    assert stem_word("pneumoniae") == "pneumoniae"
    assert stem_word("influenzae") == "influenzae"
