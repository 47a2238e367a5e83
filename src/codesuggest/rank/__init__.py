"""Candidate codes and their scores: the document model, candidate builder, features, priors,
the trained scikit-learn ranker and the shipped model folder format.
"""

from codesuggest.rank.candidates import CandidateBuilder, CandidateSet
from codesuggest.rank.document_model import DocScores, DocumentModel
from codesuggest.rank.features import FEATURES, feature_matrix
from codesuggest.rank.priors import Priors
from codesuggest.rank.ranker import CandidateRanker

__all__ = [
    "FEATURES",
    "CandidateBuilder",
    "CandidateRanker",
    "CandidateSet",
    "DocScores",
    "DocumentModel",
    "Priors",
    "feature_matrix",
]
