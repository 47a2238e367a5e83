"""Specificity, candidates and the two estimators of the ranking stage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from codesuggest.codebook.hierarchy import specify
from codesuggest.core.codes import code_prefixes
from codesuggest.core.records import Term
from codesuggest.rank.candidates import CandidateBuilder
from codesuggest.rank.document_model import DocScores, DocumentModel
from codesuggest.rank.features import FEATURES, feature_matrix
from codesuggest.rank.priors import Priors, term_key
from codesuggest.rank.ranker import CandidateRanker


def test_specify_uses_documented_laterality_and_encounter(icd):
    spec = specify(icd, "S52.52", {"laterality": "right", "encounter": "initial"})
    assert spec.code == "S52.521A"
    assert spec.by_attributes
    assert not spec.missing


def test_specify_falls_back_to_unspecified_and_says_what_is_missing(icd):
    spec = specify(icd, "N18.3", {})
    assert spec.code == "N18.30"
    assert spec.missing


def test_specify_picks_the_documented_stage(icd):
    assert specify(icd, "N18.3", {"stage": "3b"}).code == "N18.32"


def test_undocumented_encounter_defaults_to_initial_and_says_so(icd):
    spec = specify(icd, "S13.4", {})
    assert spec.code == "S13.4XXA"
    assert any("encounter" in m for m in spec.missing)


def test_unspecified_side_code_becomes_the_documented_side(icd):
    assert specify(icd, "H66.90", {"laterality": "left"}).code == "H66.92"


def test_the_patients_sex_picks_the_code_the_tabular_splits_by_sex(icd):
    # C50.41- upper-outer quadrant: C50.41[1-9] female, C50.42[1-9] male.
    assert specify(icd, "C50.41", {"laterality": "left", "sex": "F"}).code == "C50.412"
    assert specify(icd, "C50.4", {"laterality": "left", "sex": "M"}).code == "C50.422"
    # The sex alone fits the right, left and unspecified breast alike: unspecified, and said.
    spec = specify(icd, "C50.41", {"sex": "F"})
    assert spec.code == "C50.419"
    assert any("laterality" in m for m in spec.missing)


def _term(text, start, codes, assertion="present", **kw):
    return Term(
        text=text,
        start=start,
        end=start + len(text),
        label="diagnosis",
        assertion=assertion,
        codes=tuple(codes),
        source="dictionary",
        **kw,
    )


def test_negated_and_family_findings_are_excluded_not_suggested(book):
    note = "Denies chest pain. Mother had breast cancer. Hypertension."
    terms = [
        _term("chest pain", 7, ["R07.9"], "negated"),
        _term("breast cancer", 30, ["C50.919"], "family"),
        _term("Hypertension", 45, ["I10"]),
    ]
    cset = CandidateBuilder(book, Priors()).build(note, terms, {})
    # The relative's cancer is not the patient's (C50.919 excluded); the family history is.
    assert sorted(c.code for c in cset.candidates) == ["I10", "Z80.3"]
    assert {x.reason for x in cset.excluded} == {"negated", "family"}
    family = next(c for c in cset.candidates if c.code == "Z80.3")
    assert [e.text for e in family.evidence] == ["breast cancer"]
    assert "History > family (of) > malignant neoplasm > breast" in family.note


def test_personal_history_only_for_a_condition_that_is_not_current(book):
    note = "History of kidney stones. History of hypertension."
    terms = [
        _term("kidney stones", 11, ["N20.0"], "historical"),
        _term("hypertension", 37, ["I10"], "historical"),
    ]
    cset = CandidateBuilder(book, Priors()).build(note, terms, {})
    assert [c.code for c in cset.candidates] == ["Z87.442"]
    current = [*terms, _term("kidney stone", 0, ["N20.0"])]
    codes = [c.code for c in CandidateBuilder(book, Priors()).build(note, current, {}).candidates]
    assert "Z87.442" not in codes


def test_uncertain_diagnosis_follows_the_setting(book):
    note = "Probable pneumonia."
    terms = [_term("pneumonia", 9, ["J18.9"], "uncertain")]
    outpatient = CandidateBuilder(book, Priors()).build(note, terms, {}, setting="outpatient")
    inpatient = CandidateBuilder(book, Priors()).build(note, terms, {}, setting="inpatient")
    assert outpatient.candidates == []
    assert "outpatient" in outpatient.excluded[0].reason
    assert [c.code for c in inpatient.candidates] == ["J18.9"]


def test_historical_mentions_are_candidates_only_when_asked_and_flagged(book):
    note = "History of hypertension. History of appendicitis."
    terms = [
        _term("hypertension", 11, ["I10"], "historical"),
        _term("appendicitis", 36, ["K37"], "historical"),
    ]
    strict = CandidateBuilder(book, Priors()).build(note, terms, {})
    assert strict.candidates == []
    assert {x.reason for x in strict.excluded} == {"historical"}
    kept = CandidateBuilder(book, Priors(), historical=True).build(note, terms, {})
    assert sorted(c.code for c in kept.candidates) == ["I10", "K37"]
    for cand in kept.candidates:
        assert cand.features["historical_only"] == 1.0
        assert [e.assertion for e in cand.evidence] == ["historical"]


def test_a_present_mention_clears_the_historical_flag(book):
    note = "History of hypertension. Hypertension today."
    terms = [
        _term("hypertension", 11, ["I10"], "historical"),
        _term("Hypertension", 25, ["I10"]),
    ]
    cset = CandidateBuilder(book, Priors(), historical=True).build(note, terms, {})
    assert cset.candidates[0].features["historical_only"] == 0.0


def test_code_prefixes_run_down_to_the_category():
    assert code_prefixes("R51.9") == ["R51.9", "R51"]
    assert code_prefixes("s02.0xxa") == ["S02.0XXA", "S02.0XX", "S02.0X", "S02.0", "S02"]
    assert code_prefixes("I10") == ["I10"]


def _notes_for_priors():
    drinker = _term("heavy drinker", 0, ["Z72.89"])
    htn = _term("hypertension", 20, ["I10"])
    pain = _term("pain", 40, ["R52"])
    return [
        ([drinker, htn], ["F10.10", "I10"]),
        ([drinker, pain], ["F10.10"]),
        ([htn, pain], ["I10", "M54.50"]),
        ([pain], ["R52"]),
    ]


def test_priors_learn_lookup_precision_and_term_associations(icd):
    priors = Priors.from_notes(_notes_for_priors(), icd)
    # I10 was proposed by a lookup twice and coded both times; R52 three times, coded once.
    assert priors.lookup_seen["I10"] == 2
    assert priors.lookup_hits["I10"] == 2
    assert priors.lookup_seen["R52"] == 3
    assert priors.lookup_hits["R52"] == 1
    assert priors.lookup_rate("I10")[0] > priors.lookup_rate("R52")[0]
    # "heavy drinker" went with F10.10 in both its notes; one-off pairs are dropped.
    key = term_key(_term("heavy drinker", 0, ["Z72.89"]))
    assert priors.term_codes[key] == {"F10.10": 2}
    assert priors.associations(key) == [("F10.10", 2 / 3)]
    assert priors.association(key, "F10.10") == pytest.approx(2 / 3)
    assert "M54.50" not in priors.term_codes.get(term_key(_term("pain", 0, ["R52"])), {})


def test_priors_survive_their_json_form_and_read_older_models(icd):
    priors = Priors.from_notes(_notes_for_priors(), icd)
    assert Priors.from_dict(priors.to_dict()) == priors
    old = Priors.from_dict({"codes": {"I10": 3}, "categories": {"I10": 3}, "n": 4})
    assert old.associations("hypertension") == []
    assert old.lookup_rate("I10") == (0.0, 0.0)


def test_learned_associations_add_candidates_with_the_term_as_evidence(book):
    priors = Priors.from_notes(_notes_for_priors(), book.icd)
    note = "He is a heavy drinker."
    terms = [_term("heavy drinker", 8, ["Z72.89"])]
    plain = CandidateBuilder(book, priors).build(note, terms, {})
    assert "F10.10" not in {c.code for c in plain.candidates}
    learned = CandidateBuilder(book, priors, assoc_min=0.5).build(note, terms, {})
    cand = next(c for c in learned.candidates if c.code == "F10.10")
    assert cand.sources == {"association": pytest.approx(2 / 3)}
    assert cand.features["association"] == pytest.approx(2 / 3)
    assert [(e.start, e.end, e.text) for e in cand.evidence] == [(8, 21, "heavy drinker")]
    # Too weak an association adds nothing.
    weak = CandidateBuilder(book, priors, assoc_min=0.9).build(note, terms, {})
    assert "F10.10" not in {c.code for c in weak.candidates}


def test_an_association_never_lends_its_term_as_evidence_to_a_code_a_term_names(book):
    htn = _term("hypertension", 0, ["I10"])
    dm = _term("type 2 diabetes", 20, ["E11.9"])
    priors = Priors.from_notes([([htn, dm], ["I10", "E11.9"])] * 3, book.icd)
    note = "Hypertension, and type 2 diabetes."
    terms = [_term("Hypertension", 0, ["I10"]), _term("type 2 diabetes", 18, ["E11.9"])]
    cset = CandidateBuilder(book, priors, assoc_min=0.1).build(note, terms, {})
    by_code = {c.code: c for c in cset.candidates}
    assert [e.text for e in by_code["E11.9"].evidence] == ["type 2 diabetes"]
    assert [e.text for e in by_code["I10"].evidence] == ["Hypertension"]
    assert by_code["E11.9"].sources["association"] > 0


def test_candidate_evidence_keeps_offsets_and_features_are_complete(book):
    note = "Assessment: essential hypertension."
    terms = [_term("essential hypertension", 12, ["I10"], section="assessment")]
    cset = CandidateBuilder(book, Priors()).build(note, terms, {"E11.9": (0.4, 0.3)})
    by_code = {c.code: c for c in cset.candidates}
    ev = by_code["I10"].evidence[0]
    assert note[ev.start : ev.end] == "essential hypertension"
    assert by_code["I10"].features["priority_section"] == 1.0
    assert by_code["E11.9"].features["is_doc_only"] == 1.0
    assert feature_matrix(cset.candidates).shape == (2, len(FEATURES))


TEXTS = [
    "type 2 diabetes poorly controlled hyperglycemia",
    "diabetes with high glucose and hyperglycemia",
    "essential hypertension blood pressure high",
    "hypertension treated with lisinopril",
    "fever and cough pneumonia on x-ray",
    "pneumonia right lower lobe fever",
]
LABELS = [["E11.65"], ["E11.65"], ["I10"], ["I10"], ["J18.9"], ["J18.9"]]


def test_document_model_scores_codes_of_similar_notes():
    doc = DocumentModel(min_df=1, n_neighbors=3).fit(TEXTS, LABELS)
    proba = doc.predict_proba(["blood pressure high, hypertension"])
    assert doc.classes_[int(np.argmax(proba[0]))] == "I10"
    assert "hypertension" in doc.explain("hypertension and high blood pressure", "I10", top=5)


def test_document_model_pickles_without_its_scoring_cache():
    import pickle

    doc = DocumentModel(min_df=1, n_neighbors=3).fit(TEXTS, LABELS)
    before = pickle.dumps(doc)
    knn, centroid = doc.scores(["hypertension"])
    assert pickle.dumps(doc) == before  # the word-major copies are not saved
    again = pickle.loads(before).scores(["hypertension"])
    np.testing.assert_allclose(again[0], knn)
    np.testing.assert_allclose(again[1], centroid)
    # Same numbers as the plain products over the stored matrices.
    q = doc.vectorizer_.transform(["hypertension"])
    np.testing.assert_allclose(centroid, np.clip((q @ doc.centroids_.T).toarray(), 0, 1), atol=1e-6)


def test_doc_scores_rank_codes_by_their_better_score_with_ties_in_code_order():
    scores = DocScores.from_dict({"B": (0.2, 0.5), "A": (0.5, 0.1), "C": (0.0, 0.0), "D": (0.3, 0)})
    assert [c for c, _, _ in scores.ranked(10)] == ["A", "B", "D"]
    assert [scores.rank(c) for c in "ABDC"] == [0, 1, 2, None]
    assert scores.get("B") == (0.2, 0.5)
    assert scores.get("Z") == (0.0, 0.0)
    assert scores.rank("Z") is None


def test_document_model_refuses_too_little_data():
    with pytest.raises(ValueError, match="at least two"):
        DocumentModel().fit(["one note"], [["I10"]])


def _toy_features(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(FEATURES)))
    y = (X[:, 0] + 0.3 * X[:, 8] + 0.2 * rng.random(n) > 0.8).astype(int)
    return X, y


def test_ranker_gives_calibrated_probabilities_that_follow_the_signal():
    X, y = _toy_features()
    ranker = CandidateRanker(max_iter=50).fit(X, y)
    proba = ranker.predict_proba(X)[:, 1]
    assert ((proba >= 0) & (proba <= 1)).all()
    assert proba[y == 1].mean() > proba[y == 0].mean() + 0.3


def test_ranker_works_in_a_pipeline_and_grid_search():
    X, y = _toy_features(n=200)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), CandidateRanker(max_iter=20, cv=2, calibration="sigmoid")),
        {"candidateranker__learning_rate": [0.1, 0.3]},
        cv=2,
        scoring="roc_auc",
    ).fit(X, y)
    assert search.best_score_ > 0.7


def test_ranker_needs_both_classes():
    with pytest.raises(ValueError, match="both right and wrong"):
        CandidateRanker().fit(np.zeros((4, 3)), np.zeros(4))


def test_a_with_link_needs_the_partner_named_by_the_combination_code(book):
    from codesuggest.codebook.index import load_index

    builder = CandidateBuilder(book, Priors(), index=load_index())
    htn = _term("Hypertension", 0, ["I10"])
    stones = _term("kidney stones", 20, ["N20.0"])
    ckd = _term("CKD stage 3", 20, ["N18.30"])
    note = "Hypertension. Also kidney stones."
    assert builder._index_hit(htn, note, [stones]).code == "I10"
    linked = builder._index_hit(htn, "Hypertension. Also CKD stage 3.", [ckd])
    assert linked.code.startswith("I12")


def test_a_bilateral_term_gives_one_line_per_side_and_terminates(book):
    # C34.92 says "unspecified part of left ... lung": its side is documented, its part is not.
    note = "Bilateral lung cancer."
    term = _term("lung cancer", 10, ["C34.90"], attributes={"laterality": "bilateral"})
    codes = {c.code for c in CandidateBuilder(book, Priors()).build(note, [term], {}).candidates}
    assert {"C34.91", "C34.92"} <= codes


def test_a_negated_code_is_not_brought_back_by_another_terms_association(book):
    fever = _term("fever", 7, ["R50.9"], "negated")
    hematuria = _term("hematuria", 20, ["R31.9"])
    priors = Priors.from_notes([([hematuria], ["R31.9", "R50.9"])] * 3, book.icd)
    note = "Denies fever. Gross hematuria."
    cset = CandidateBuilder(book, priors, assoc_min=0.1).build(note, [fever, hematuria], {})
    assert "R50.9" not in {c.code for c in cset.candidates}
