"""Candidates, features and the trained models that score (note, code) pairs.

Two scikit-learn estimators do the learning:

- ``DocumentModel`` reads the whole note (TF-IDF) and scores the codes it learned from labelled
  notes: a nearest-neighbour vote over similar training notes and per-code centroids. It covers
  what phrasing alone misses.
- ``CandidateRanker`` scores each candidate from its features (lookup score, document-model
  scores, section, assertion, mentions, position, priors, specificity) with gradient-boosted
  trees, calibrated so that a score of 0.8 means about 80% of such suggestions are right.

``CandidateBuilder`` turns extracted terms and document-model scores into candidates, choosing
the most specific billable code the documentation supports and saying what is missing when it
has to fall back to an unspecified code.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from . import metrics
from .codebook import Codebook, CodeInfo, CodeSet
from .schema import CPT, ICD10CM, Candidate, Evidence, Exclusion, Term
from .search import tokens

# Sections whose diagnoses a coder trusts most; ROS and family history are not diagnoses.
PRIORITY_SECTIONS = frozenset(
    {
        "assessment",
        "assessment_and_plan",
        "impression",
        "diagnoses",
        "diagnosis",
        "discharge_diagnoses",
        "preoperative_diagnosis",
        "postoperative_diagnosis",
        "final_diagnosis",
    }
)
PROCEDURE_SECTIONS = frozenset({"procedure", "procedures", "operation", "procedure_performed"})

FEATURES: tuple[str, ...] = (
    "lookup_score",
    "lookup_exact",
    "mentions",
    "present_mentions",
    "priority_section",
    "first_position",
    "from_dictionary",
    "from_codeset",
    "classifier",
    "knn",
    "prior",
    "category_prior",
    "seen_in_training",
    "description_overlap",
    "specificity",
    "billable",
    "specified_by_attributes",
    "uncertain_only",
    "symptom_code",
    "procedure",
    "is_doc_only",
    "lookup_hit_rate",
    "lookup_seen",
    "association",
    "historical_only",
    "doc_rank",
)


# --------------------------------------------------------------------------- document model

# DocumentModel attributes built on first use from the fitted state, never saved.
_SCORING_CACHES = ("_by_word", "_class_index")


class DocumentModel(ClassifierMixin, BaseEstimator):
    """Scores every code seen in training for a whole note.

    ``fit(texts, code_lists)``; ``predict_proba(texts)`` returns an ``(n_notes, n_codes)`` array
    of the blended score, ``scores(texts)`` the two parts (``knn`` and ``centroid``) separately.
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

    def fit(self, X: Sequence[str], y: Sequence[Sequence[str]]) -> DocumentModel:
        texts = list(X)
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


# --------------------------------------------------------------------------- ranker


class CandidateRanker(ClassifierMixin, BaseEstimator):
    """Calibrated probability that a candidate code is right, from its ``FEATURES`` row.

    A plain scikit-learn classifier over numeric features: it works in ``Pipeline`` and
    ``GridSearchCV`` like any other.
    """

    def __init__(
        self,
        *,
        max_iter: int = 200,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 15,
        l2_regularization: float = 1.0,
        calibration: str = "isotonic",
        cv: int = 3,
        ensemble: bool = False,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.calibration = calibration
        self.cv = cv
        self.ensemble = ensemble
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> CandidateRanker:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(int)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError("X must be 2-D with one row per label in y")
        if len(np.unique(y)) < 2:
            raise ValueError("CandidateRanker needs both right and wrong candidates to learn from")
        base = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization,
            random_state=self.random_state,
        )
        # ensemble=False: calibrate on cross-validated predictions but keep one model, so that
        # scoring a note runs one boosted ensemble instead of ``cv`` of them.
        self.model_ = CalibratedClassifierCV(
            base, method=self.calibration, cv=self.cv, ensemble=self.ensemble
        )
        self.model_.fit(X, y)
        self.classes_ = self.model_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(np.asarray(X, dtype=np.float64))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# --------------------------------------------------------------------------- specificity

_SIDE_WORDS = {
    "right": ("right",),
    "left": ("left",),
    "bilateral": ("bilateral",),
}
_ENCOUNTER_PREFIX = {
    "initial": "initial encounter",
    "subsequent": "subsequent encounter",
    "sequela": "sequela",
}


@dataclass(slots=True)
class Specified:
    """The code chosen for a term, and what documentation would make it more specific."""

    code: str
    by_attributes: bool = False
    missing: list[str] = field(default_factory=list)


def _attribute_words(attributes: dict[str, str]) -> set[str]:
    words: set[str] = set()
    side = attributes.get("laterality")
    if side:
        words.update(_SIDE_WORDS.get(side, (side,)))
    acuity = attributes.get("acuity")
    if acuity == "acute_on_chronic":
        words.update({"acute", "chronic"})
    elif acuity:
        words.add(acuity)
    for key in ("stage", "severity", "trimester", "diabetes_type"):
        v = attributes.get(key)
        if v:
            words.update(tokens(str(v)))
    return words


def _child_fit(child: CodeInfo, wanted: set[str]) -> float:
    desc = set(tokens(child.description))
    score = len(desc & wanted)
    if "unspecified" in desc:
        score -= 0.5
    return score


def specify(icd: CodeSet, code: str, attributes: dict[str, str]) -> Specified:
    """The most specific billable code under ``code`` that ``attributes`` support.

    Falls back to the unspecified child where the note lacks a detail, and to the 7th
    character for the documented encounter (initial when undocumented, said in ``missing``).
    """
    rec = icd.find(code)
    if rec is None:
        return Specified(code)
    out = Specified(rec.code)
    wanted = _attribute_words(attributes)
    guard = 0
    while not rec.billable and guard < 6:
        guard += 1
        children = [icd.get(c) for c in icd.children(rec.code)]
        if not children:
            break
        if rec.requires_7th:
            encounter = attributes.get("encounter")
            if not encounter:
                out.missing.append("encounter (initial, subsequent or sequela)")
                encounter = "initial"
            prefix = _ENCOUNTER_PREFIX.get(encounter, encounter)
            chosen = next(
                (
                    c
                    for c in children
                    if rec.seventh_characters.get(c.code[-1], "").startswith(prefix)
                ),
                children[0],
            )
            out.by_attributes = out.by_attributes or "encounter" in attributes
        else:
            ranked = sorted(children, key=lambda c: -_child_fit(c, wanted))
            best = ranked[0]
            if _child_fit(best, wanted) <= 0 or not wanted:
                unspecified = [
                    c
                    for c in children
                    if "unspecified" in c.description.lower() or c.code.endswith("9")
                ]
                chosen = unspecified[0] if unspecified else best
                out.missing.append(_missing_detail(children))
            else:
                chosen = best
                out.by_attributes = True
        rec = chosen
        out.code = rec.code
    if rec.billable and wanted & {"right", "left", "bilateral"}:
        lateral = _lateral_sibling(icd, rec, wanted)
        if lateral is not None:
            out.code, out.by_attributes = lateral, True
    out.missing = [m for m in dict.fromkeys(out.missing) if m]
    return out


def _missing_detail(children: Sequence[CodeInfo]) -> str:
    words = {w for c in children for w in tokens(c.description)}
    if words & {"right", "left", "bilateral"}:
        return "laterality (right, left or bilateral)"
    if words & {"acute", "chronic"}:
        return "acuity (acute, chronic or acute on chronic)"
    if "stage" in words:
        return "stage"
    if "trimester" in words:
        return "trimester"
    if words & {"mild", "moderate", "severe"}:
        return "severity"
    return "more specific documentation"


def _lateral_sibling(icd: CodeSet, rec: CodeInfo, wanted: set[str]) -> str | None:
    """For an unspecified-side code, the sibling naming the documented side."""
    desc = rec.description.lower()
    if "unspecified" not in desc or rec.parent is None:
        return None
    side = next(iter(wanted & {"right", "left", "bilateral"}))
    # The side is named where the unspecified one was: "..., unspecified ear" -> "..., left ear".
    cut = desc.rfind("unspecified")
    head = desc[:cut]
    for sib in icd.children(rec.parent):
        s = icd.get(sib)
        other = s.description.lower()
        if s.billable and other.startswith(head) and side in other[cut:].split():
            return s.code
    return None


# --------------------------------------------------------------------------- candidates


def term_key(term: Term) -> str:
    """A term's wording reduced to search tokens, so "Hypertensions" and "hypertension" meet."""
    return " ".join(tokens(term.expansion or term.text))


def best_share(shares: dict[str, float], code: str) -> float:
    """``code``'s share in ``shares``, or that of the shorter code the labels used (R51)."""
    return max((shares.get(p, 0.0) for p in code_prefixes(code)), default=0.0)


def code_prefixes(code: str) -> list[str]:
    """``code`` and its shorter forms down to the category: ``R51.9`` -> ``R51.9``, ``R51``."""
    flat = code.upper().replace(".", "")
    out = []
    for n in range(len(flat), 2, -1):
        head = flat[:n]
        out.append(head if n == 3 else f"{head[:3]}.{head[3:]}")
    return out


# Assertions whose terms a coder may code (uncertain only in the inpatient setting).
_CODABLE = frozenset({"present", "historical", "uncertain"})
# An association is kept when it was seen in at least this many training notes.
_MIN_ASSOCIATION_NOTES = 2


@dataclass(slots=True)
class Priors:
    """What the training labels say about codes and terms, for the prior features.

    - ``code_counts`` / ``category_counts``: in how many notes each code / category was coded.
    - ``lookup_seen`` / ``lookup_hits``: in how many notes a term's lookup proposed a code, and
      in how many of those a coder actually assigned it (its lookup precision).
    - ``term_notes`` / ``term_codes``: in how many notes a term (by ``term_key``) was written,
      and how often each code was assigned alongside it, which teaches the wording the
      vocabulary does not link to a code ("80 g of alcohol a day" -> F10.10).
    """

    code_counts: dict[str, int] = field(default_factory=dict)
    category_counts: dict[str, int] = field(default_factory=dict)
    n_notes: int = 1
    lookup_seen: dict[str, int] = field(default_factory=dict)
    lookup_hits: dict[str, int] = field(default_factory=dict)
    term_notes: dict[str, int] = field(default_factory=dict)
    term_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    _overall_hit_rate: float | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_labels(cls, labels: Iterable[Sequence[str]]) -> Priors:
        codes: dict[str, int] = {}
        cats: dict[str, int] = {}
        n = 0
        for doc in labels:
            n += 1
            for c in set(doc):
                codes[c] = codes.get(c, 0) + 1
            for cat in {c[:3] for c in doc}:
                cats[cat] = cats.get(cat, 0) + 1
        return cls(codes, cats, max(n, 1))

    @classmethod
    def from_notes(
        cls, notes: Iterable[tuple[Sequence[Term], Sequence[str]]], icd: CodeSet
    ) -> Priors:
        """Priors from ``(terms, gold codes)`` per training note."""
        notes = list(notes)
        priors = cls.from_labels(gold for _, gold in notes)
        seen: dict[str, int] = {}
        hits: dict[str, int] = {}
        term_notes: dict[str, int] = {}
        pairs: dict[str, dict[str, int]] = {}
        right = metrics.matcher("prefix")
        for terms, gold in notes:
            proposed: set[str] = set()
            keys: set[str] = set()
            for term in terms:
                if term.assertion not in _CODABLE:
                    continue
                if term.codes and term.system == ICD10CM:
                    proposed.add(specify(icd, term.codes[0], term.attributes).code)
                key = term_key(term)
                if key:
                    keys.add(key)
            for code in proposed:
                seen[code] = seen.get(code, 0) + 1
                if any(right(code, g) for g in gold):
                    hits[code] = hits.get(code, 0) + 1
            for key in keys:
                term_notes[key] = term_notes.get(key, 0) + 1
                row = pairs.setdefault(key, {})
                for g in set(gold):
                    row[g] = row.get(g, 0) + 1
        priors.lookup_seen = dict(sorted(seen.items()))
        priors.lookup_hits = dict(sorted(hits.items()))
        kept = {
            key: dict(sorted((g, n) for g, n in row.items() if n >= _MIN_ASSOCIATION_NOTES))
            for key, row in sorted(pairs.items())
        }
        priors.term_codes = {k: v for k, v in kept.items() if v}
        priors.term_notes = {k: term_notes[k] for k in priors.term_codes}
        return priors

    def code(self, c: str) -> float:
        return math.log1p(self.code_counts.get(c, 0)) / math.log1p(self.n_notes)

    def category(self, c: str) -> float:
        return math.log1p(self.category_counts.get(c[:3], 0)) / math.log1p(self.n_notes)

    def lookup_rate(self, c: str) -> tuple[float, float]:
        """(smoothed share of notes where a lookup of ``c`` was right, log notes seen)."""
        seen = self.lookup_seen.get(c, 0)
        if not self.lookup_seen:
            return 0.0, 0.0
        overall = self._overall_hit_rate
        if overall is None:
            overall = sum(self.lookup_hits.values()) / max(1, sum(self.lookup_seen.values()))
            self._overall_hit_rate = overall
        rate = (self.lookup_hits.get(c, 0) + 2 * overall) / (seen + 2)
        return rate, math.log1p(seen) / math.log1p(self.n_notes)

    def note_associations(self, keys: Iterable[str]) -> dict[str, float]:
        """Codes assigned alongside any of the terms ``keys``, each with its best share: the
        part of a term's training notes (plus one, so that one note is not certainty) in
        which coders assigned the code."""
        best: dict[str, float] = {}
        for key in keys:
            row = self.term_codes.get(key)
            if not row:
                continue
            n = self.term_notes.get(key, 0) + 1
            for code, count in row.items():
                share = count / n
                if share > best.get(code, 0.0):
                    best[code] = share
        return best

    def associations(self, key: str) -> list[tuple[str, float]]:
        """Codes assigned alongside a term, strongest first."""
        shares = self.note_associations([key])
        return sorted(shares.items(), key=lambda gc: (-gc[1], gc[0]))

    def association(self, key: str, code: str) -> float:
        """How strongly a term goes with ``code`` (or the shorter code it was labelled as)."""
        return best_share(self.note_associations([key]), code)

    def to_dict(self) -> dict[str, object]:
        return {
            "codes": self.code_counts,
            "categories": self.category_counts,
            "n": self.n_notes,
            "lookup_seen": self.lookup_seen,
            "lookup_hits": self.lookup_hits,
            "term_notes": self.term_notes,
            "term_codes": self.term_codes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Priors:
        return cls(
            dict(d["codes"]),  # type: ignore[arg-type]
            dict(d["categories"]),  # type: ignore[arg-type]
            int(d["n"]),  # type: ignore[arg-type]
            dict(d.get("lookup_seen", {})),  # type: ignore[arg-type]
            dict(d.get("lookup_hits", {})),  # type: ignore[arg-type]
            dict(d.get("term_notes", {})),  # type: ignore[arg-type]
            {k: dict(v) for k, v in dict(d.get("term_codes", {})).items()},  # type: ignore[arg-type]
        )


def _note_token_set(text: str) -> set[str]:
    return set(tokens(text))


def description_weights(icd_or_cpt: CodeSet, code: str) -> dict[str, float]:
    """A code's description words with their search weights (IDF; 1 for unindexed words)."""
    rec = icd_or_cpt.find(code)
    if rec is None:
        return {}
    out = {}
    for w in set(tokens(rec.description)):
        weight = icd_or_cpt.index.weight(w)
        out[w] = 1.0 if weight is None else weight
    return out


def description_overlap(icd_or_cpt: CodeSet, code: str, note_tokens: set[str]) -> float:
    """How much of a code's description (IDF-weighted) appears anywhere in the note."""
    return _weighted_share(description_weights(icd_or_cpt, code), note_tokens)


def _weighted_share(weights: dict[str, float], present: set[str]) -> float:
    total = found = 0.0
    for w, weight in weights.items():
        total += weight
        if w in present:
            found += weight
    return found / total if total else 0.0


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


@dataclass(slots=True)
class CandidateSet:
    """Candidates of one note, with what was found but deliberately not suggested."""

    candidates: list[Candidate]
    excluded: list[Exclusion]


_COUNTED_AS_PRESENT = {"present"}


class CandidateBuilder:
    """Turns terms and document-model scores into featured candidates for one note."""

    def __init__(
        self,
        codebook: Codebook,
        priors: Priors,
        *,
        doc_top_k: int = 25,
        doc_min_score: float = 0.02,
        alternatives: int = 0,
        search_k: int = 0,
        historical: bool = False,
        assoc_min: float = 0.0,
        assoc_k: int = 3,
    ) -> None:
        self.codebook = codebook
        self.priors = priors
        self.doc_top_k = doc_top_k
        self.doc_min_score = doc_min_score
        self.alternatives = alternatives
        self.search_k = search_k
        self.historical = historical
        self.assoc_min = assoc_min
        self.assoc_k = assoc_k
        self._searched: dict[str, list[tuple[str, float]]] = {}
        self._description_words: dict[tuple[str, str], dict[str, float]] = {}

    def build(
        self,
        text: str,
        terms: Sequence[Term],
        doc_scores: DocScores | dict[str, tuple[float, float]],
        *,
        setting: str = "outpatient",
    ) -> CandidateSet:
        """Candidates from present terms (made specific) and from the document model."""
        icd = self.codebook.icd
        by_code: dict[tuple[str, str], Candidate] = {}
        excluded: list[Exclusion] = []
        blocked: set[str] = set()
        n_chars = max(len(text), 1)
        coded_as_present = set(_COUNTED_AS_PRESENT)
        if setting == "inpatient":
            coded_as_present.add("uncertain")

        keys: set[str] = set()
        historical: dict[tuple[str, str], int] = {}
        associated: list[tuple[float, int, Term, str]] = []
        for term in terms:
            if not term.codes:
                continue
            kept = _keeps(term, coded_as_present, self.historical)
            if not kept:
                reason = term.assertion
                if term.assertion == "uncertain":
                    reason = "uncertain (outpatient: code the documented symptoms instead)"
                excluded.append(
                    Exclusion(term.text, term.start, term.end, reason, tuple(term.codes[:3]))
                )
                blocked.update(term.codes[:1])
                continue
            system = term.system if term.system in self.codebook.sets else ICD10CM
            key = term_key(term)
            keys.add(key)
            for code, weight in self._term_codes(term, system):
                added = self._add_mention(by_code, term, system, code, weight, n_chars)
                if added and term.assertion == "historical":
                    historical[added] = historical.get(added, 0) + 1
            if self.assoc_min > 0 and system == ICD10CM:
                for gold, share in self.priors.associations(key)[: self.assoc_k]:
                    if share < self.assoc_min:
                        break
                    if icd.find(gold) is not None:
                        code = specify(icd, gold, term.attributes).code
                        associated.append((share, len(associated), term, code))
        # After every lookup, so that a code a term names keeps that term as its evidence, and
        # a code known only by association shows the term most strongly tied to it.
        for share, _, term, code in sorted(associated, key=lambda a: (-a[0], a[1])):
            self._add_association(by_code, term, code, share, n_chars)

        if not isinstance(doc_scores, DocScores):
            doc_scores = DocScores.from_dict(doc_scores)
        for code, knn, centroid in doc_scores.ranked(self.doc_top_k):
            if max(knn, centroid) < self.doc_min_score:
                break
            system = CPT if code in self.codebook.cpt and code not in icd else ICD10CM
            if code in blocked and (system, code) not in by_code:
                continue
            rec = self.codebook.find(code, system)
            if rec is None:
                continue
            if system == ICD10CM and not rec.billable:
                code = specify(icd, code, {}).code
            if (system, code) not in by_code:
                cand = Candidate(code=code, system=system)
                cand.features = dict.fromkeys(FEATURES, 0.0)
                cand.features["first_position"] = 1.0
                cand.features["is_doc_only"] = 1.0
                by_code[(system, code)] = cand

        note_tokens = _note_token_set(text)
        shares = self.priors.note_associations(keys)
        for (system, code), cand in by_code.items():
            f = cand.features
            knn, centroid = doc_scores.get(code)
            f["classifier"] = centroid
            f["knn"] = knn
            if knn or centroid:
                cand.sources["classifier"] = max(knn, centroid)
            f["prior"] = self.priors.code(code)
            f["category_prior"] = self.priors.category(code)
            f["seen_in_training"] = float(code in self.priors.code_counts)
            f["description_overlap"] = self._description_overlap(system, code, note_tokens)
            f["specificity"] = len(code.replace(".", "")) / 7.0
            rec = self.codebook.find(code, system)
            f["billable"] = float(bool(rec and rec.billable))
            f["uncertain_only"] = float(f["mentions"] > 0 and f["present_mentions"] == 0)
            f["symptom_code"] = float(system == ICD10CM and code.startswith("R"))
            f["procedure"] = float(system != ICD10CM)
            f["historical_only"] = float(
                f["mentions"] > 0 and historical.get((system, code), 0) >= f["mentions"]
            )
            f["mentions"] = math.log1p(f["mentions"])
            f["present_mentions"] = math.log1p(f["present_mentions"])
            if system == ICD10CM:
                f["lookup_hit_rate"], f["lookup_seen"] = self.priors.lookup_rate(code)
                f["association"] = max(f["association"], best_share(shares, code))
            rank = doc_scores.rank(code)
            f["doc_rank"] = 1.0 / (1.0 + rank) if rank is not None else 0.0
        return CandidateSet(list(by_code.values()), excluded)

    def _term_codes(self, term: Term, system: str) -> list[tuple[str, float]]:
        """Codes a present term stands for, each with how much to trust the reading.

        The vocabulary entry's own code comes first (weight 1); with ``alternatives`` its other
        codes follow, and with ``search_k`` the best fuzzy matches of the term's words in the
        code set, so that wording the vocabulary lacks still reaches the ranker.
        """
        out: list[tuple[str, float]] = [(term.codes[0], 1.0)]
        out += [(c, 0.8) for c in term.codes[1 : 1 + self.alternatives]]
        if self.search_k and system == ICD10CM and len(term.text) > 3:
            out += self._search(term.expansion or term.text)
        seen: set[str] = set()
        return [(c, w) for c, w in out if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]

    def _search(self, words: str) -> list[tuple[str, float]]:
        """Code-set search for a term's words, memoised: the same terms recur in every note."""
        key = words.lower()
        hits = self._searched.get(key)
        if hits is None:
            if len(self._searched) > 50_000:
                self._searched.clear()
            hits = [
                (r.code, 0.7 * r.score)
                for r in self.codebook.icd.search(words, limit=self.search_k)
            ]
            self._searched[key] = hits
        return hits

    def _description_overlap(self, system: str, code: str, note_tokens: set[str]) -> float:
        """``description_overlap`` with each code's weighted words worked out once."""
        words = self._description_words.get((system, code))
        if words is None:
            if len(self._description_words) > 100_000:
                self._description_words.clear()
            words = description_weights(self.codebook.sets[system], code)
            self._description_words[(system, code)] = words
        return _weighted_share(words, note_tokens)

    def _add_association(
        self,
        by_code: dict[tuple[str, str], Candidate],
        term: Term,
        code: str,
        share: float,
        n_chars: int,
    ) -> None:
        """A code coders assigned alongside this term in the training notes."""
        key = (ICD10CM, code)
        cand = by_code.get(key)
        if cand is None:
            cand = Candidate(code=code, system=ICD10CM)
            cand.features = dict.fromkeys(FEATURES, 0.0)
            cand.features["first_position"] = term.start / n_chars
            by_code[key] = cand
        cand.features["association"] = max(cand.features["association"], share)
        cand.sources["association"] = max(cand.sources.get("association", 0.0), share)
        if not cand.evidence:
            cand.evidence.append(
                Evidence(term.start, term.end, term.text, term.section, term.assertion)
            )

    def _add_mention(
        self,
        by_code: dict[tuple[str, str], Candidate],
        term: Term,
        system: str,
        first: str,
        weight: float,
        n_chars: int,
    ) -> tuple[str, str] | None:
        icd = self.codebook.icd
        if system == ICD10CM:
            spec = specify(icd, first, term.attributes)
            code, by_attr, missing = spec.code, spec.by_attributes, spec.missing
        else:
            code, by_attr, missing = first, False, []
        if self.codebook.find(code, system) is None:
            return None
        cand = by_code.get((system, code))
        if cand is None:
            cand = Candidate(code=code, system=system)
            cand.features = dict.fromkeys(FEATURES, 0.0)
            cand.features["first_position"] = term.start / n_chars
            by_code[(system, code)] = cand
        f = cand.features
        score = term.match_score * weight
        f["mentions"] += 1
        if term.assertion == "present":
            f["present_mentions"] += 1
        f["lookup_score"] = max(f["lookup_score"], score)
        f["lookup_exact"] = max(f["lookup_exact"], float(score >= 0.999))
        f["priority_section"] = max(f["priority_section"], float(term.section in PRIORITY_SECTIONS))
        f["from_dictionary"] = max(f["from_dictionary"], float(term.source == "dictionary"))
        f["from_codeset"] = max(f["from_codeset"], float(term.source != "dictionary"))
        f["specified_by_attributes"] = max(f["specified_by_attributes"], float(by_attr))
        cand.sources["lookup"] = max(cand.sources.get("lookup", 0.0), score)
        if not any(e.start == term.start and e.end == term.end for e in cand.evidence):
            cand.evidence.append(
                Evidence(term.start, term.end, term.text, term.section, term.assertion)
            )
        if missing and not cand.note:
            cand.note = "Unspecified code: the note does not document " + "; ".join(missing)
        return (system, code)


def _keeps(term: Term, coded_as_present: set[str], historical: bool = False) -> bool:
    """Whether a term's assertion lets its code be suggested.

    Historical mentions are kept for history and status codes (Z87.891, Z90.49, I25.2), which
    describe the past on purpose; with ``historical`` every historical mention is a candidate
    (chronic conditions "with a history of" are still coded), flagged ``historical_only`` for
    the ranker and shown with its ``historical`` assertion.
    """
    if term.assertion in coded_as_present:
        return True
    if term.assertion == "historical":
        if historical:
            return True
        first = term.codes[0] if term.codes else ""
        return term.label in {"status", "procedure_history"} or first.startswith(
            ("Z8", "Z9", "I25.2")
        )
    return False


def feature_matrix(candidates: Sequence[Candidate]) -> np.ndarray:
    """Rows of ``FEATURES`` for the ranker, in candidate order."""
    return np.array(
        [[c.features.get(name, 0.0) for name in FEATURES] for c in candidates], dtype=np.float64
    ).reshape(len(candidates), len(FEATURES))
