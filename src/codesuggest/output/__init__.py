"""The output schema shared by the CLI, batch files, Spark and the review screen: every format
of it (JSON Schema, Arrow, Spark DDL, batch CSV), made from the field table in ``core.fields``,
and its strict validator.
"""

from codesuggest.output.schema import (
    CSV_COLUMNS,
    RESULT_DDL,
    arrow_schema,
    json_schema,
    validate_result_dict,
)

__all__ = ["CSV_COLUMNS", "RESULT_DDL", "arrow_schema", "json_schema", "validate_result_dict"]
