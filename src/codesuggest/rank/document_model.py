"""``DocumentModel``: codes suggested by the whole note (nearest notes and code centroids)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

# DocumentModel attributes built on first use from the fitted state, never saved.
_SCORING_CACHES = ("_by_word", "_class_index")


class DocumentModel(BaseEstimator):
    """Scores every code seen in training for a whole note.

    ``fit(texts, code_lists)``; ``predict_proba(texts)`` returns an ``(n_notes, n_codes)`` array
    of the blended score (in [0, 1], not a calibrated probability), ``scores(texts)`` the two
    parts (``knn`` and ``centroid``) separately.

    An estimator but not a classifier: it ranks codes for ``CandidateRanker``, which decides, so
    it has no ``predict``; and its targets are lists of codes, which scikit-learn's classifier
    machinery (stratified folds, ``score``) does not take. Give ``GridSearchCV`` a ``scoring``.
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 30,
        power: float = 2.0,
        max_features: int = 60000,
        ngram_max: int = 2,
        min_df: int = 2,
        blend: float = 0.5,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.power = power
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.blend = blend

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.target_tags.required = True
        return tags

    def fit(self, X: Sequence[str], y: Sequence[Sequence[str]]) -> DocumentModel:
        texts = list(X)
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("X must be the notes' texts, one string per note")
        if y is None or any(isinstance(codes, str) for codes in y):
            raise ValueError("y must hold a list of codes per note, such as [['I10'], ...]")
        labels = [list(dict.fromkeys(codes)) for codes in y]
        if len(texts) != len(labels):
            raise ValueError("X and y must have one entry per note")
        if len(texts) < 2:
            raise ValueError("DocumentModel needs at least two labelled notes")
        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, self.ngram_max),
            min_df=min(self.min_df, len(texts)),
            sublinear_tf=True,
            max_features=self.max_features,
            strip_accents="unicode",
            dtype=np.float32,
        )
        self.train_matrix_ = self.vectorizer_.fit_transform(texts).astype(np.float32)
        self.classes_ = np.array(sorted({c for codes in labels for c in codes}))
        index = {c: j for j, c in enumerate(self.classes_)}
        rows, cols = [], []
        for i, codes in enumerate(labels):
            for c in codes:
                rows.append(i)
                cols.append(index[c])
        self.label_matrix_ = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(texts), len(self.classes_)),
        )
        self.centroids_ = normalize(self.label_matrix_.T @ self.train_matrix_).astype(np.float32)
        self.feature_names_ = self.vectorizer_.get_feature_names_out()
        return self

    def __getstate__(self) -> dict[str, object]:
        """The fitted state without what would make saved files differ between processes.

        Dropped: the scoring caches (rebuilt on first use), and two vectorizer attributes that
        broke byte-identical retraining: ``stop_words_``, a set pickled in hash-seed order, and
        ``_stop_words_id``, a memory address scikit-learn sets again on every ``transform``.
        """
        state = dict(super().__getstate__())
        for cache in _SCORING_CACHES:
            state.pop(cache, None)
        vectorizer = state.get("vectorizer_")
        unstable = [a for a in ("stop_words_", "_stop_words_id") if hasattr(vectorizer, a)]
        if unstable:
            vectorizer = copy.copy(vectorizer)
            for attr in unstable:
                delattr(vectorizer, attr)
            state["vectorizer_"] = vectorizer
        return state

    def _word_major(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """The training notes and centroids stored word by word (CSR of the transposes).

        A note has a few hundred of the 60,000 words; with the matrices word-major, scoring
        it reads only those words' rows instead of multiplying through every note and code.
        """
        cached = getattr(self, "_by_word", None)  # one of _SCORING_CACHES
        if cached is None:
            cached = (
                sparse.csr_matrix(self.train_matrix_.T, dtype=np.float32),
                sparse.csr_matrix(self.centroids_.T, dtype=np.float32),
            )
            self._by_word = cached
        return cached

    def scores(self, X: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(knn, centroid)`` score arrays of shape ``(n_notes, n_codes)``, each in [0, 1]."""
        check_is_fitted(self, "centroids_")
        q = sparse.csr_matrix(self.vectorizer_.transform(list(X)), dtype=np.float32)
        train_by_word, centroids_by_word = self._word_major()
        sims = (q @ train_by_word).toarray()
        k = min(self.n_neighbors, sims.shape[1])
        knn = np.zeros((sims.shape[0], len(self.classes_)), dtype=np.float32)
        for i, row in enumerate(sims):
            top = np.argpartition(-row, k - 1)[:k]
            weights = np.power(np.clip(row[top], 0, None), self.power)
            total = weights.sum()
            if total > 0:
                knn[i] = (weights @ self.label_matrix_[top].toarray()) / total
        centroid = np.clip((q @ centroids_by_word).toarray(), 0, 1)
        return knn, centroid

    def doc_scores(self, X: Sequence[str]) -> list[DocScores]:
        """``scores`` as one ``DocScores`` per note, for ``CandidateBuilder.build``."""
        knn, centroid = self.scores(X)
        index = getattr(self, "_class_index", None)  # one of _SCORING_CACHES
        if index is None:
            index = self._class_index = {str(c): j for j, c in enumerate(self.classes_)}
        return [DocScores(self.classes_, knn[i], centroid[i], index) for i in range(len(knn))]

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        knn, centroid = self.scores(X)
        return self.blend * knn + (1 - self.blend) * centroid

    def explain(self, text: str, code: str, *, top: int = 3) -> list[str]:
        """The note's words that most tie it to ``code``'s training notes (for evidence)."""
        return self.explain_many(text, [code], top=top).get(code, [])

    def explain_many(
        self, text: str, codes: Sequence[str], *, top: int = 3
    ) -> dict[str, list[str]]:
        """``explain`` for several codes, vectorising the note once."""
        check_is_fitted(self, "centroids_")
        names = getattr(self, "feature_names_", None)
        if names is None:  # models pickled before feature_names_ existed
            names = self.feature_names_ = self.vectorizer_.get_feature_names_out()
        q = self.vectorizer_.transform([text]).tocsr()
        rows = {
            c: int(j)
            for c in codes
            if (j := np.searchsorted(self.classes_, c)) < len(self.classes_)
            and self.classes_[j] == c
        }
        if not rows or q.nnz == 0:
            return {}
        # One slice of the centroids at the note's words, instead of a sparse product per code.
        weights = self.centroids_[list(rows.values())][:, q.indices].toarray() * q.data
        out: dict[str, list[str]] = {}
        for code, row in zip(rows, weights, strict=True):
            order = np.argsort(-row)[:top]
            picked = [str(names[q.indices[i]]) for i in order if row[i] > 0]
            if picked:
                out[code] = picked
        return out


class DocScores:
    """One note's document-model scores for every code the model knows, kept as arrays.

    ``get(code)`` gives ``(knn, centroid)``; ``ranked()`` the codes by their better score
    (ties in code order); ``rank(code)`` a code's place in that order. Built from the arrays
    ``DocumentModel.scores`` returns, or from a plain ``{code: (knn, centroid)}`` dict.
    """

    __slots__ = ("_best", "_centroid", "_classes", "_index", "_knn", "_order", "_rank")

    def __init__(
        self,
        classes: np.ndarray,
        knn: np.ndarray,
        centroid: np.ndarray,
        index: dict[str, int] | None = None,
    ) -> None:
        self._classes = classes
        self._knn = np.asarray(knn, dtype=np.float64)
        self._centroid = np.asarray(centroid, dtype=np.float64)
        self._index = index if index is not None else {str(c): j for j, c in enumerate(classes)}
        self._best = np.maximum(self._knn, self._centroid)
        self._order: np.ndarray | None = None
        self._rank: np.ndarray | None = None

    @classmethod
    def from_dict(cls, scores: dict[str, tuple[float, float]]) -> DocScores:
        codes = sorted(scores)
        pairs = np.array([scores[c] for c in codes], dtype=np.float64).reshape(len(codes), 2)
        return cls(np.array(codes, dtype=object), pairs[:, 0], pairs[:, 1])

    def get(self, code: str) -> tuple[float, float]:
        j = self._index.get(code)
        if j is None:
            return 0.0, 0.0
        return float(self._knn[j]), float(self._centroid[j])

    def _sorted(self) -> np.ndarray:
        if self._order is None:
            self._order = np.argsort(-self._best, kind="stable")
        return self._order

    def ranked(self, k: int) -> list[tuple[str, float, float]]:
        """The ``k`` best codes as ``(code, knn, centroid)``, best first."""
        return [
            (str(self._classes[j]), float(self._knn[j]), float(self._centroid[j]))
            for j in self._sorted()[:k]
            if self._best[j] > 0
        ]

    def rank(self, code: str) -> int | None:
        j = self._index.get(code)
        if j is None or self._best[j] <= 0:
            return None
        if self._rank is None:
            self._rank = np.empty(len(self._best), dtype=np.int64)
            self._rank[self._sorted()] = np.arange(len(self._best))
        return int(self._rank[j])
