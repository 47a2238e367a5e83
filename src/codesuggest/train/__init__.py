"""Retraining and evaluation on labelled notes: corpus readers, the training recipe, metrics,
and labelled data from the review audit log.
"""

from codesuggest.train.corpus import LabelledNote, read_labelled
from codesuggest.train.evaluation import evaluate
from codesuggest.train.prepare import prepare
from codesuggest.train.recipe import load_config, ranker_training_data, train, train_to_folder

__all__ = [
    "LabelledNote",
    "evaluate",
    "load_config",
    "prepare",
    "ranker_training_data",
    "read_labelled",
    "train",
    "train_to_folder",
]
