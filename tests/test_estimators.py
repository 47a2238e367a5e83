"""scikit-learn's estimator checks on the two estimators a model is made of.

``CandidateRanker`` takes numeric features and passes every check. ``DocumentModel`` takes note
texts and lists of codes, which scikit-learn's generated data cannot be: its tags say so, so
``parametrize_with_checks`` runs only the checks that need no data, and the tests below it
hold it to the same contract (fit returns self, unfitted raises, pickles, order invariance,
works in ``GridSearchCV``) on small notes.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError, SkipTestWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from codesuggest.rank.document_model import DocumentModel
from codesuggest.rank.ranker import CandidateRanker


@parametrize_with_checks([CandidateRanker(max_iter=10, cv=2)])
def test_candidate_ranker_keeps_the_estimator_contract(estimator, check):
    check(estimator)


with warnings.catch_warnings():
    # scikit-learn warns that it cannot generate text input, then yields only the data-free
    # checks; that is what the tags are for.
    warnings.simplefilter("ignore", SkipTestWarning)
    _DOCUMENT_MODEL_CHECKS = parametrize_with_checks([DocumentModel()])


@_DOCUMENT_MODEL_CHECKS
def test_document_model_keeps_the_estimator_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "check",
    [
        estimator_checks.check_estimator_tags_renamed,
        estimator_checks.check_valid_tag_types,
        estimator_checks.check_estimator_repr,
        estimator_checks.check_no_attributes_set_in_init,
        estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
        estimator_checks.check_mixin_order,
        estimator_checks.check_parameters_default_constructible,
        estimator_checks.check_get_params_invariance,
        estimator_checks.check_set_params,
    ],
    ids=lambda check: check.__name__,
)
def test_document_model_passes_the_api_checks_that_need_no_data(check):
    check("DocumentModel", DocumentModel())


TEXTS = [
    "type 2 diabetes poorly controlled hyperglycemia",
    "diabetes with high glucose and hyperglycemia",
    "essential hypertension blood pressure high",
    "hypertension treated with lisinopril",
    "fever and cough pneumonia on x-ray",
    "pneumonia right lower lobe fever",
    "diabetes and hypertension both followed",
    "cough and fever again, pneumonia suspected",
]
LABELS = [
    ["E11.65"],
    ["E11.65"],
    ["I10"],
    ["I10"],
    ["J18.9"],
    ["J18.9"],
    ["E11.65", "I10"],
    ["J18.9"],
]
QUERIES = ["blood pressure high", "glucose high, diabetes", "fever, cough", "nothing known"]


def small_model() -> DocumentModel:
    return DocumentModel(min_df=1, n_neighbors=3)


def test_document_model_fit_returns_itself_and_keeps_its_parameters():
    doc = small_model()
    params = doc.get_params()
    assert doc.fit(TEXTS, LABELS) is doc
    assert doc.get_params() == params
    assert list(doc.classes_) == ["E11.65", "I10", "J18.9"]


def test_unfitted_document_model_raises_not_fitted():
    doc = small_model()
    for method in (doc.predict_proba, doc.scores, doc.doc_scores):
        with pytest.raises(NotFittedError):
            method(QUERIES)
    with pytest.raises(NotFittedError):
        doc.explain("hypertension", "I10")


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (TEXTS, ["E11.65"] * len(TEXTS), "list of codes per note"),
        (TEXTS, None, "list of codes per note"),
        (TEXTS[:3], LABELS, "one entry per note"),
        ([1, 2, 3], [["I10"]] * 3, "texts"),
    ],
)
def test_document_model_fit_says_what_is_wrong_with_its_input(X, y, match):
    with pytest.raises(ValueError, match=match):
        small_model().fit(X, y)


def test_document_model_scores_do_not_depend_on_the_order_or_company_of_notes():
    doc = small_model().fit(TEXTS, LABELS)
    together = doc.predict_proba(QUERIES)
    assert together.shape == (len(QUERIES), len(doc.classes_))
    alone = np.vstack([doc.predict_proba([q]) for q in QUERIES])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(doc.predict_proba(QUERIES[::-1]), together[::-1])


def test_document_model_refits_a_clone_to_the_same_scores_and_pickles():
    doc = small_model().fit(TEXTS, LABELS)
    again = clone(doc).fit(TEXTS, LABELS)
    np.testing.assert_array_equal(again.predict_proba(QUERIES), doc.predict_proba(QUERIES))
    restored = pickle.loads(pickle.dumps(doc))
    np.testing.assert_array_equal(restored.predict_proba(QUERIES), doc.predict_proba(QUERIES))


def _gold_score(model: DocumentModel, X: list[str], y: list[list[str]]) -> float:
    """Mean blended score of each note's gold codes (a stand-in for a ranking metric)."""
    proba = model.predict_proba(X)
    index = {c: j for j, c in enumerate(model.classes_)}
    hits = [proba[i, index[c]] for i, codes in enumerate(y) for c in codes if c in index]
    return float(np.mean(hits)) if hits else 0.0


def test_document_model_works_in_grid_search_with_a_scoring():
    search = GridSearchCV(small_model(), {"blend": [0.2, 0.8]}, scoring=_gold_score, cv=2)
    search.fit(TEXTS, LABELS)
    assert search.best_params_["blend"] in (0.2, 0.8)
    assert search.best_estimator_.predict_proba(QUERIES).shape[0] == len(QUERIES)
