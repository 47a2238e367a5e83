"""Reading notes from folders of .txt files, JSONL, CSV and Parquet, one ``Note`` each."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from codesuggest.core.errors import InputError

log = logging.getLogger(__name__)

# UTF-8 spends at most four bytes on a character.
_UTF8_MAX_BYTES = 4


# The suggester's own limit (pipeline.MAX_NOTE_CHARS); tests check the two agree.
DEFAULT_MAX_CHARS = 500_000


INPUT_FORMATS = ("txt", "jsonl", "csv", "parquet")


@dataclass(slots=True)
class Note:
    """One note as read from an archive; ``error`` is set when the reader could not read it.

    ``text`` is bytes only when the file was not valid UTF-8; the suggester reports that.
    """

    id: str
    text: str | bytes | None
    setting: str | None = None
    age: Any = None
    sex: Any = None
    encounter_date: Any = None
    error: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Fields:
    """Names of the JSONL keys or CSV/Parquet columns that hold each part of a note."""

    id: str = "id"
    text: str = "text"
    setting: str = "setting"
    age: str = "age"
    sex: str = "sex"
    encounter_date: str = "encounter_date"


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _too_large(size: int, unit: str, max_chars: int) -> dict[str, str]:
    return _error(
        "note_too_large",
        f"The note has {size:,} {unit}; the limit is {max_chars:,} characters. "
        "Split it into encounters or raise --max-chars.",
    )


def detect_input_format(path: Path, input_format: str = "auto") -> str:
    """``txt``, ``jsonl``, ``csv`` or ``parquet`` for ``path`` (by its suffix unless given)."""
    if not path.exists():
        raise InputError(
            f"{path} does not exist. Give a folder of .txt notes or a JSONL, CSV or Parquet file."
        )
    if input_format != "auto":
        if input_format not in INPUT_FORMATS:
            raise InputError(f"input format must be one of {INPUT_FORMATS}, not {input_format!r}.")
        return input_format
    if path.is_dir():
        return "txt"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    by_suffix = {
        ".txt": "txt",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".csv": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    if last not in by_suffix:
        raise InputError(
            f"Cannot tell the format of {path.name}; name it .jsonl, .csv or .parquet, or pass "
            "--input-format."
        )
    return by_suffix[last]


def read_notes(
    path: str | os.PathLike[str],
    *,
    input_format: str = "auto",
    fields: Fields | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Iterator[Note]:
    """Stream the notes of an archive in a stable order.

    The input is checked before the first note is read (``InputError`` if it cannot be read
    at all); after that, a bad note or row becomes a ``Note`` with ``error`` set.
    """
    path = Path(path)
    fields = fields or Fields()
    fmt = detect_input_format(path, input_format)
    if fmt == "txt":
        return _read_txt(path, max_chars)
    if fmt == "jsonl":
        _check_readable(path)
        return _read_jsonl(path, fields, max_chars)
    if fmt == "csv":
        header = _csv_header(path, fields)
        return _read_csv(path, header, fields, max_chars)
    files = _parquet_files(path, fields)
    return _read_parquet(files, fields)


def count_notes(
    path: str | os.PathLike[str], *, input_format: str = "auto", fields: Fields | None = None
) -> int | None:
    """How many notes ``read_notes`` will yield (for a progress bar); None if unknown."""
    path = Path(path)
    fields = fields or Fields()
    fmt = detect_input_format(path, input_format)
    if fmt == "txt":
        if path.is_file():
            return 1
        return sum(1 for _, _, names in os.walk(path) for n in names if n.lower().endswith(".txt"))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in _parquet_files(path, fields))
    if fmt == "jsonl":
        with _open_binary(path) as f:
            return sum(1 for line in f if line.strip())
    _raise_csv_limit(DEFAULT_MAX_CHARS)
    with _open_csv(path) as f:
        try:
            rows = sum(1 for row in csv.reader(f) if any(c.strip() for c in row))
        except csv.Error:
            return None
    return max(0, rows - 1)


def _open_binary(path: Path) -> BinaryIO:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _check_readable(path: Path) -> None:
    try:
        with _open_binary(path) as f:
            f.read(1)
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def _clean_id(value: Any) -> str | None:
    """The id as text, or None when missing or not writable as UTF-8."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if not text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _text_value(value: Any) -> str | bytes | None:
    """Note text as read; text holding undecodable bytes goes back to bytes for the suggester."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape" if _only_escapes(value) else "replace")
    return value


def _only_escapes(text: str) -> bool:
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def _context_value(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    return value


def _note_from_mapping(row: dict[str, Any], fields: Fields, fallback_id: str) -> Note:
    return Note(
        id=_clean_id(row.get(fields.id)) or fallback_id,
        text=_text_value(row.get(fields.text)),
        setting=_context_value(row.get(fields.setting)),
        age=_context_value(row.get(fields.age)),
        sex=_context_value(row.get(fields.sex)),
        encounter_date=_context_value(row.get(fields.encounter_date)),
    )


def _read_txt(root: Path, max_chars: int) -> Iterator[Note]:
    max_bytes = _UTF8_MAX_BYTES * max_chars
    if root.is_file():
        yield _txt_note(root, root.stem, max_bytes, max_chars)
        return

    def unlistable(exc: OSError) -> None:
        log.warning(
            "cannot list folder %s (%s); its notes are not scored", exc.filename, exc.strerror
        )

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.lower().endswith(".txt"):
                continue
            path = Path(dirpath, name)
            note_id = path.relative_to(root).as_posix()[: -len(".txt")]
            yield _txt_note(path, note_id, max_bytes, max_chars)


def _txt_note(path: Path, note_id: str, max_bytes: int, max_chars: int) -> Note:
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        return Note(
            note_id,
            None,
            error=_error("unreadable", f"The file cannot be read: {exc.strerror or exc}."),
        )
    if len(data) > max_bytes:
        return Note(note_id, None, error=_too_large(path.stat().st_size, "bytes", max_chars))
    try:
        return Note(note_id, data.decode("utf-8"))
    except UnicodeDecodeError:
        return Note(note_id, data)


def _read_jsonl(path: Path, fields: Fields, max_chars: int) -> Iterator[Note]:
    # A JSON string may spell one character as a 12-byte surrogate-pair escape.
    limit = 12 * max_chars + (1 << 20)
    with _open_binary(path) as f:
        lineno = 0
        while True:
            line = f.readline(limit + 1)
            if not line:
                return
            lineno += 1
            if len(line) > limit and not line.endswith(b"\n"):
                while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                yield Note(
                    f"line-{lineno}", None, error=_too_large(len(line), "bytes or more", max_chars)
                )
                continue
            if line.strip():
                yield _jsonl_note(line, lineno, fields)


def _jsonl_note(line: bytes, lineno: int, fields: Fields) -> Note:
    fallback = f"line-{lineno}"
    text = line.decode("utf-8", "surrogateescape")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return Note(
            fallback,
            None,
            error=_error(
                "malformed_row",
                f"Line {lineno} is not valid JSON ({exc.msg} at column {exc.colno}).",
            ),
        )
    if not isinstance(obj, dict):
        return Note(
            fallback,
            None,
            error=_error(
                "malformed_row", f"Line {lineno} is a JSON {type(obj).__name__}, not an object."
            ),
        )
    note = _note_from_mapping(obj, fields, fallback)
    if fields.text not in obj:
        note.error = _error(
            "missing_text",
            f"Line {lineno} has no {fields.text!r} field; name the note's field with --text-field.",
        )
    return note


def _raise_csv_limit(max_chars: int) -> None:
    # Process-wide, but only ever raised: a note up to the limit must parse as one field.
    wanted = min(_UTF8_MAX_BYTES * max_chars + 1024, 2**31 - 1)
    if csv.field_size_limit() < wanted:
        csv.field_size_limit(wanted)


def _open_csv(path: Path) -> io.TextIOWrapper:
    """The CSV as text; undecodable bytes survive as surrogates for ``_text_value``."""
    return io.TextIOWrapper(
        _open_binary(path), encoding="utf-8", errors="surrogateescape", newline=""
    )


def _csv_header(path: Path, fields: Fields) -> list[str]:
    try:
        with _open_csv(path) as f:
            header = next(csv.reader(f), None)
    except (OSError, csv.Error) as exc:
        raise InputError(f"Cannot read the header row of {path}: {exc}.") from exc
    if not header:
        raise InputError(f"{path} is empty; a CSV needs a header row naming its columns.")
    header[0] = header[0].removeprefix(codecs.BOM_UTF8.decode())
    for role, name in (("note text", fields.text), ("note id", fields.id)):
        if name not in header:
            option = "--text-field" if name == fields.text else "--id-field"
            raise InputError(
                f"{path} has no {name!r} column for the {role}; its columns are "
                f"{', '.join(header)}. Name the column with {option}."
            )
    return header


def _read_csv(path: Path, header: list[str], fields: Fields, max_chars: int) -> Iterator[Note]:
    _raise_csv_limit(max_chars)
    with _open_csv(path) as f:
        reader = csv.reader(f)
        next(reader)
        previous = reader.line_num
        while True:
            start = previous + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                previous = reader.line_num
                yield Note(
                    f"line-{start}",
                    None,
                    error=_error(
                        "malformed_row", f"The CSV record at line {start} cannot be parsed: {exc}."
                    ),
                )
                continue
            previous = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield Note(
                    f"line-{start}",
                    None,
                    error=_error(
                        "malformed_row",
                        f"The CSV record at line {start} has {len(row)} fields; the header has "
                        f"{len(header)}. Quote fields that hold commas, quotes or line breaks.",
                    ),
                )
                continue
            yield _note_from_mapping(dict(zip(header, row, strict=True)), fields, f"line-{start}")


def _parquet_files(path: Path, fields: Fields) -> list[Path]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(
            "Reading Parquet needs pyarrow: pip install 'codesuggest[parquet]'."
        ) from exc
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path} holds no .parquet files.")
    for file in files:
        try:
            names = pq.ParquetFile(file).schema_arrow.names
        except Exception as exc:  # pyarrow raises its own error types for a bad file
            raise InputError(f"Cannot read {file} as Parquet: {exc}.") from exc
        for name, option in ((fields.text, "--text-field"), (fields.id, "--id-field")):
            if name not in names:
                raise InputError(
                    f"{file} has no {name!r} column; its columns are {', '.join(names)}. "
                    f"Name the column with {option}."
                )
    return files


def _read_parquet(files: list[Path], fields: Fields) -> Iterator[Note]:
    import pyarrow.parquet as pq

    wanted = [fields.id, fields.text, fields.setting, fields.age, fields.sex, fields.encounter_date]
    row = 0
    for file in files:
        pf = pq.ParquetFile(file)
        columns = [c for c in dict.fromkeys(wanted) if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=64, columns=columns):
            for record in batch.to_pylist():
                row += 1
                yield _note_from_mapping(record, fields, f"row-{row}")
