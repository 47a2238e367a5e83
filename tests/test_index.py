"""The Alphabetic Index is walked as a coder walks it: main term, subterms, "with", "see"."""

from __future__ import annotations

import pytest

from codesuggest.codebook.index import AlphabeticIndex, Synonyms, load_index

ROWS = [
    ("0", "Diabetes, diabetic", "", "", "(mellitus)", "E11.9"),
    ("1", "type 2", "", "", "", "E11.9"),
    ("2", "with", "", "", "", ""),
    ("3", "chronic kidney disease", "", "", "", "E11.22"),
    ("3", "polyneuropathy", "", "", "", "E11.42"),
    ("0", "Hypertension, hypertensive", "", "", "", "I10"),
    ("1", "with", "", "", "", ""),
    ("2", "heart failure", "", "", "", "I11.0"),
    ("1", "due to", "", "", "", ""),
    ("2", "renal disease", "", "", "", "I15.1"),
    ("0", "Lumbago", "Pain, low back", "", "", ""),
    ("0", "Pain", "", "", "(s)", "R52"),
    ("1", "low back", "", "", "", "M54.50"),
    ("1", "healed or old", "", "", "", "Z00.00"),
    ("0", "Strain", "", "", "", ""),
    ("1", "low back", "", "", "", "S39.012"),
]


@pytest.fixture
def index() -> AlphabeticIndex:
    return AlphabeticIndex(ROWS, Synonyms({"lumbar": ["low back"]}))


def test_subterms_come_from_the_terms_own_words(index):
    assert index.lookup("type 2 diabetes").code == "E11.9"


def test_with_subterms_open_for_another_documented_condition(index):
    hit = index.lookup("type 2 diabetes", others=["CKD stage 3a", "chronic kidney disease"])
    assert hit.code == "E11.22"
    assert hit.linked == "chronic kidney disease"
    assert hit.path == ("Diabetes, diabetic", "type 2", "with", "chronic kidney disease")


def test_due_to_needs_the_providers_words_not_another_condition(index):
    assert index.lookup("hypertension", others=["renal disease"]).code == "I10"
    assert index.lookup("hypertension", "hypertension due to renal disease").code == "I15.1"


def test_see_references_are_followed_and_shown(index):
    hit = index.lookup("lumbago")
    assert hit.code == "M54.50"
    assert "see Pain, low back" in hit.describe()


def test_note_words_are_read_in_the_index_wording(index):
    assert index.lookup("strain", "acute lumbar strain").code == "S39.012"


def test_a_phrase_with_no_main_term_finds_nothing(index):
    assert index.lookup("metformin") is None
    assert index.lookup("") is None


@pytest.mark.parametrize(
    ("phrase", "context", "others", "code"),
    [
        ("family history colon cancer", "", (), "Z80.0"),
        ("old MI", "", (), "I25.2"),
        ("COPD exacerbation", "", (), "J44.1"),
        ("hypertension", "", ("heart failure",), "I11.0"),
        ("hypertension", "", ("chronic kidney disease stage 3",), "I12.9"),
        ("sepsis", "sepsis due to pneumococcus", (), "A40.3"),
        ("depression", "", (), "F32.A"),
        ("knee pain", "right knee pain", (), "M25.56-"),
        # What the note says is absent opens no subterm but a "without" one.
        ("laceration", "laceration of left forearm without foreign body", (), "S51.812"),
        ("COPD", "COPD without exacerbation", (), "J44.9"),
        ("migraine", "migraine without aura", (), "G43.009"),
        # Failure > heart > diastolic (congestive): the nonessential word is read too.
        (
            "congestive heart failure",
            "chronic congestive heart failure with diastolic dysfunction",
            (),
            "I50.32",
        ),
        # A traumatic fracture is Fracture, traumatic; "distal" is the book's "lower end".
        ("fracture", "fracture of the left foot", (), "S92.90-"),
        ("fracture", "fracture of the right distal radius", (), "S52.50-"),
        ("pathological fracture", "pathological fracture of the femur", (), "M84.45-"),
        # "see Fracture, metatarsal" under Fracture, traumatic means its metatarsal bone, not
        # Fracture, pathological > metatarsal.
        ("fracture", "fracture of the second metatarsal, left foot", (), "S92.32-"),
        ("fracture", "nondisplaced fracture of the fifth metatarsal", (), "S92.35-"),
        # "lateral malleolus only": the book's "only" is not a word the note must say.
        ("fracture", "fracture of the right lateral malleolus", (), "S82.6-"),
        # The book's "leg (lower)" is not an upper leg, which it calls the thigh.
        ("contusion", "contusion of the right upper leg", (), "S70.1-"),
        ("contusion", "contusion of the right lower leg", (), "S80.1-"),
        # "Stone - see also Calculus": the ureter is read under Calculus, which lists it.
        ("stone of the proximal right ureter", "", (), "N20.1"),
        ("kidney stone", "", (), "N20.0"),
        # "Nephrolithiasis - see also Calculus, kidney" has no code of its own.
        ("nephrolithiasis", "", (), "N20.0"),
        # The reference is read for the phrase's own words, not the sentence's.
        ("nephropathy", "chronic nephropathy", (), "N28.9"),
        # "poorly controlled - code to Diabetes, by type, with hyperglycemia".
        ("diabetes", "poorly controlled type 2 diabetes", (), "E11.65"),
        ("diabetes", "type 1 diabetes, inadequately controlled", (), "E10.65"),
        ("diabetic gastroparesis", "", (), "E11.43"),
        # "positive, seropositive": either word opens it (asymptomatic HIV status, I.C.1.a).
        ("positive for HIV", "", (), "Z21"),
        # "Failure > heart > systolic" sits after a note row the flattening put a level up;
        # "acute > and (on) chronic" keeps its words in the nonessential column.
        ("chronic systolic heart failure", "", (), "I50.22"),
        # The book's "sacral region"; NPIAP's "pressure injury" is the book's pressure ulcer.
        ("pressure ulcer", "stage 3 pressure ulcer of sacrum", (), "L89.15-"),
        ("pressure injury", "pressure injury of right heel, stage 2", (), "L89.6-"),
        # A possessive's "s" is no word the note must write.
        ("Alzheimer dementia", "", (), "G30.9"),
        ("Parkinson disease", "", (), "G20.A1"),
        ("heart failure", "acute on chronic diastolic heart failure", (), "I50.33"),
        ("heart failure", "acute on chronic systolic heart failure", (), "I50.23"),
        # "Hypertension, cardiorenal > with heart failure": a subterm with its own "with".
        (
            "hypertensive heart and kidney disease",
            "",
            ("chronic diastolic heart failure",),
            "I13.0",
        ),
        ("HIV", "", (), "B20"),
    ],
)
def test_the_shipped_index_reaches_the_code_a_coder_would(phrase, context, others, code):
    assert load_index().lookup(phrase, context, others).code == code


def test_no_cross_reference_is_left_among_the_nonessential_modifiers():
    # The flattening wrote "(see also Neoplasm, skin, malignant)" as a nonessential modifier;
    # the build script moves it to the see / see-also column, where the walk follows it.
    from importlib import resources

    text = resources.files("codesuggest.data").joinpath("icd10cm_index.tsv").read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines()[1:]]
    left = [r for r in rows if "(see " in r[4].lower() and "category" not in r[4].lower()]
    assert left == []
    basal = next(r for r in rows if r[1] == "basal cell" and r[5] == "C44.91")
    assert basal[3] == "Neoplasm, skin, malignant"


def test_a_condition_documented_as_absent_does_not_open_with_for_another_term():
    index = load_index()
    without = index.lookup(
        "laceration",
        "laceration of the finger",
        ["Laceration of left forearm without foreign body"],
    )
    assert (without.code, without.linked) == ("S61.219", "")
    assert index.lookup("laceration", "laceration of the finger", ["foreign body"]).linked


@pytest.mark.parametrize(
    ("phrase", "codes"),
    [
        ("Alzheimer's disease", ("G30.9", "F02.80")),
        ("Alzheimer dementia with agitation", ("G30.9", "F02.811")),
        ("severe dementia due to Alzheimer disease", ("G30.9", "F02.C0")),
        ("Lewy body dementia", ("G31.83", "F02.80")),
        ("vascular dementia", ("F01.50", "")),
    ],
)
def test_a_bracketed_manifestation_code_comes_with_its_etiology(phrase, codes):
    hit = load_index().lookup(phrase)
    assert (hit.code, hit.manifestation) == codes
    paired = hit.manifestation_hit()
    if codes[1]:
        assert paired.code == codes[1]
        assert paired.path[:3] == ("Dementia", "in", "diseases specified elsewhere")
        assert f"-> {codes[0]} [{codes[1]}]" in paired.describe()
    else:
        assert paired is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Urinary tract infection due to E. coli", "B96.20"),
        ("cellulitis of the left leg, MRSA", "B95.62"),
        ("UTI due to Klebsiella pneumoniae", "B96.1"),
        ("Sinusitis due to Streptococcus pneumoniae", "B95.3"),
        ("Pyelonephritis, Proteus mirabilis", "B96.4"),
        ("cellulitis of the left leg", None),
    ],
)
def test_the_organism_a_sentence_names_reads_as_its_agent_code(text, code):
    hit = load_index().infectious_agent(text)
    assert (hit.code if hit else None) == code
    if hit:
        assert "as cause of disease classified elsewhere" in " > ".join(hit.path)


@pytest.mark.parametrize(
    ("phrase", "code"),
    [
        ("IgA deficiency", "D80.2"),  # Deficiency > immunity > IgA
        ("B12 deficiency", "E53.8"),  # Deficiency > vitamin > B12
        ("vitamin D deficiency", "E55.9"),
    ],
)
def test_a_subterm_filed_below_a_level_the_note_does_not_say_is_read(phrase, code):
    assert load_index().lookup(phrase).code == code


def test_a_plural_in_ies_reads_as_its_singular():
    from codesuggest.codebook.index import words_of

    assert words_of("extremities injuries arteries") == words_of("extremity injury artery")
    index = load_index()
    assert index.lookup("lower extremity edema").code == "R60.0"  # Edema > extremities, lower
    assert index.lookup("multiple injuries").code == "T07"
