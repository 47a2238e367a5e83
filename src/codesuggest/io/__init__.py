"""Archives of notes in and results out: readers, writers, and the local and Spark engines
behind ``codesuggest batch``.
"""

from codesuggest.io.readers import Fields, Note, read_notes
from codesuggest.io.run import BatchSummary, run_batch

__all__ = ["BatchSummary", "Fields", "Note", "read_notes", "run_batch"]
