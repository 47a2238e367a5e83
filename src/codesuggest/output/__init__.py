"""The output schema shared by the CLI, batch files, Spark and the review screen, and its
validator.
"""

from codesuggest.output.schema import validate_result_dict

__all__ = ["validate_result_dict"]
