"""``codesuggest.spark.suggest_dataframe``, kept where the README has always said it is."""

from codesuggest.io.engines.spark import RESULT_DDL, suggest_dataframe

__all__ = ["RESULT_DDL", "suggest_dataframe"]
