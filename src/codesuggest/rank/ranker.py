"""``CandidateRanker``: the calibrated scikit-learn classifier that scores candidates."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


class CandidateRanker(ClassifierMixin, BaseEstimator):
    """Calibrated probability that a candidate code is right, from its ``FEATURES`` row.

    A plain scikit-learn classifier over numeric features: it works in ``Pipeline`` and
    ``GridSearchCV`` like any other (``tests/test_estimators.py`` runs scikit-learn's estimator
    checks on it). Missing values (NaN) are allowed, as the boosted trees route them.
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

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: np.ndarray, y: np.ndarray) -> CandidateRanker:
        # NaN is a missing value the boosted trees route; finiteness is left to them, as before.
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        check_classification_targets(y)
        if len(np.unique(y)) < 2:
            raise ValueError(
                "CandidateRanker needs both right and wrong candidates to learn from, but y has "
                "only one class."
            )
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
        # Boosting iterations of each fitted model (one unless ensemble=True).
        self.n_iter_ = np.array(
            [c.estimator.n_iter_ for c in self.model_.calibrated_classifiers_], dtype=np.int64
        )
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        return self.model_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
