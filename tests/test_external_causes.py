"""An injury's external causes come from the External Cause Index, as far as the note tells."""

from __future__ import annotations

import pytest

from codesuggest.codebook.external import read_causes
from codesuggest.core.records import Term
from codesuggest.rank.external_causes import EXTERNAL_LABEL, external_cause_terms


def codes(text: str) -> dict[str, str]:
    return {h.kind: h.code for h in read_causes(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She slipped on ice in her driveway and fell.", {"how": "W00.0"}),
        (
            "He fell from his skateboard on a downhill street, a leisure activity.",
            {"how": "V00.131", "place": "Y92.410", "activity": "Y93.51", "status": "Y99.8"},
        ),
        ("Tripped over a rug at home and fell.", {"how": "W18.09", "place": "Y92.009"}),
        ("He fell off a ladder at work.", {"how": "W11", "status": "Y99.0"}),
        ("She was bitten by a dog in the park.", {"how": "W54.0", "place": "Y92.830"}),
        ("Fell down the stairs.", {"how": "W10.9"}),
    ],
)
def test_the_index_reads_how_where_and_in_what_status(text, expected):
    assert codes(text) == expected


def test_a_kind_the_note_does_not_tell_gets_no_unspecified_code():
    # An "injury" alone is no cause (X58), and no place is no Y92.9.
    assert codes("The injury happened yesterday.") == {}


def _injury(text: str, encounter: str = "initial") -> Term:
    start = text.find("fracture")
    return Term(
        text="fracture",
        start=start,
        end=start + 8,
        label="diagnosis",
        section="assessment",
        codes=("S52.501A",),
        attributes={"encounter": encounter},
    )


def test_causes_go_with_an_injury_and_keep_its_encounter():
    text = "HPI: fell off a ladder at work.\n\nASSESSMENT: Left radius fracture."
    terms = external_cause_terms(text, [_injury(text)])
    assert {t.codes[0] for t in terms} == {"W11", "Y99.0"}
    how = next(t for t in terms if t.codes[0] == "W11")
    assert how.label == EXTERNAL_LABEL
    assert text[how.start : how.end] == "fell off a ladder"
    assert how.source.startswith("External Cause Index > Fall, falling")
    # Place, activity and status are reported once, at the initial encounter (I.C.20).
    later = external_cause_terms(text, [_injury(text, "subsequent")])
    assert [t.codes[0] for t in later] == ["W11"]
    assert later[0].attributes == {"encounter": "subsequent"}


def test_no_injury_or_a_denied_event_gives_no_cause():
    text = "HPI: denies falls. Fell off a ladder at work last year."
    assert external_cause_terms(text, []) == []
    denied = "HPI: denies falls or trauma.\n\nASSESSMENT: Left radius fracture."
    assert external_cause_terms(denied, [_injury(denied)]) == []


def test_a_titled_name_is_a_person_not_a_place():
    # "Ms. Hill" is neither a hill (Y92.828) nor the end of a sentence.
    text = (
        "HPI: Ms. Hill is a 41-year-old female seen after she was rear-ended in a motor "
        "vehicle accident.\n\nASSESSMENT: Left radius fracture."
    )
    assert {t.codes[0] for t in external_cause_terms(text, [_injury(text)])} == {"V89.2"}


def test_a_leisure_activity_gives_the_leisure_status_unless_the_note_says_it_was_paid():
    text = "HPI: she fell playing volleyball.\n\nASSESSMENT: Left radius fracture."
    assert {t.codes[0] for t in external_cause_terms(text, [_injury(text)])} == {
        "W19",
        "Y93.68",
        "Y99.8",
    }
    paid = (
        "HPI: she fell playing volleyball, her job as a coach.\n\nASSESSMENT: Left radius fracture."
    )
    assert "Y99.8" not in {t.codes[0] for t in external_cause_terms(paid, [_injury(paid)])}


@pytest.mark.parametrize(
    ("text", "how"),
    [
        # Slipping is "on same level": on the stairs it is a fall on stairs.
        ("She slipped on the stairs while carrying a laundry basket.", "W10.9"),
        ("He has a tick bite on the right knee.", "W57"),
    ],
)
def test_story_words_in_the_index_wording(text, how):
    assert codes(text)["how"] == how


def test_a_word_read_for_the_cause_is_not_read_again_for_the_activity():
    # "activity" in the sentence once made Activity be read before Slipping, so the cause's
    # "ice" became Activity > ice NEC (Y93.29).
    found = codes("She slipped on ice in the parking lot during a leisure activity.")
    assert found["how"] == "W00.0"
    assert "activity" not in found


@pytest.mark.parametrize(
    ("text", "how"),
    [
        ("She stumbled and caught herself from falling.", "W18.40"),
        ("He tripped on the curb but did not fall.", "W18.40"),
        ("He lifted some heavy boxes too quickly.", "X50.0"),
    ],
)
def test_a_fall_kept_from_happening_and_a_lift_read_in_the_index_wording(text, how):
    assert codes(text)["how"] == how


def test_an_unpaid_chore_or_help_to_family_gives_the_other_status():
    def status(hpi: str) -> set[str]:
        text = f"HPI: {hpi}\n\nASSESSMENT: Left radius fracture. No further work up needed."
        return {t.codes[0] for t in external_cause_terms(text, [_injury(text)])} & {
            "Y99.0",
            "Y99.8",
        }

    assert status("She slipped on ice while taking out the trash.") == {"Y99.8"}
    assert status("He lifted boxes while helping his daughter move.") == {"Y99.8"}
    assert status("He slipped on ice taking out the trash at work.") == {"Y99.0"}


def test_an_injury_the_vocabulary_names_without_a_code_has_its_causes():
    # "strain" has no code until the Index reads its site: it is still an injury.
    text = "HPI: she slipped on ice.\n\nASSESSMENT: Lumbar strain."
    start = text.find("strain")
    strain = Term(text="strain", start=start, end=start + 6, label="injury", section="assessment")
    assert {t.codes[0] for t in external_cause_terms(text, [strain])} == {"W00.0"}


def test_the_sentence_that_tells_the_injury_gives_its_activity_without_a_cause():
    text = (
        "HPI: He was golfing and hurt his arm. He plays in a soccer league.\n\n"
        "PLAN: Physical therapy to work on strengthening.\n\nASSESSMENT: Left radius fracture."
    )
    codes = {t.codes[0] for t in external_cause_terms(text, [_injury(text)])}
    # Golf is the injury's activity, done for leisure (the plan's "work" is no job); the
    # league is mentioned in passing.
    assert codes == {"Y93.53", "Y99.8"}
    earlier = (
        "HPI: He has hurt his knees several times in the past while playing soccer.\n\n"
        "ASSESSMENT: Left radius fracture."
    )
    assert external_cause_terms(earlier, [_injury(earlier)]) == []
