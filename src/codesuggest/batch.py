"""Scoring note archives: streaming readers, resumable writers and a local process pool.

INPUT (a folder of ``.txt`` notes, a JSONL, CSV or Parquet file) is read as a stream, scored
by worker processes that each load the model once, and written to OUT in input order as JSONL,
CSV or a folder of Parquet parts. ``codesuggest batch`` is a thin shell over ``run_batch``;
the Spark engine lives in ``spark.py``.

Resume protocol. OUT itself is the checkpoint: results are appended in input order and flushed
with ``fsync`` every few seconds, so OUT is always "a prefix of the input, maybe plus a torn
tail". On start, a torn tail (a partial last line, a half-written CSV note, an unfinished
Parquet part) is cut off, then the ids in OUT are read back in step with INPUT: every note
whose id is next in OUT is skipped, the rest are scored and appended. If INPUT's order no
longer matches OUT (files were added to a folder, say), the remaining ids of OUT are counted
into memory and notes are skipped by id instead; a warning says so.

Memory bound. Nothing holds the archive: readers yield one note at a time, at most
``workers x 3`` chunks of ``CHUNK_NOTES`` notes are in flight, and the writer buffers at most
one flush worth of results. The ordinary resume path reads OUT's ids as a stream too.

One bad note never stops a run: unreadable files, invalid UTF-8, binary junk, empty or
oversized notes and malformed JSONL/CSV rows each come out as a record with an ``errors`` entry
(``id`` is ``line-N`` or ``row-N`` when the row has none). Only an input that cannot be read at
all (missing, no text column) raises ``InputError``.

Notes are PHI: nothing here logs note text, only ids, counts and file names.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import logging
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .errors import CodesuggestError, InputError
from .schema import SETTINGS, SuggestionResult

log = logging.getLogger(__name__)

# The suggester's own limit (pipeline.MAX_NOTE_CHARS); tests check the two agree.
DEFAULT_MAX_CHARS = 500_000
INPUT_FORMATS = ("txt", "jsonl", "csv", "parquet")
OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
ENGINES = ("local", "spark")
CHUNK_NOTES = 4
CSV_COLUMNS = (
    "id",
    "n_suggestions",
    "rank",
    "code",
    "system",
    "codeset",
    "description",
    "score",
    "selected",
    "evidence",
    "edits",
    "error_codes",
    "error_messages",
)
# Test hook, not a setting: seconds to sleep before each note, so that a test can kill a run
# reliably part-way through. Documented in docs/batch.md.
TEST_DELAY_ENV = "CODESUGGEST_BATCH_TEST_DELAY"
_UTF8_MAX_BYTES = 4


class WorkerError(CodesuggestError, RuntimeError):
    """A worker process died; what was written so far is kept and a rerun continues."""


class SuggesterLike(Protocol):
    """What a batch engine needs of a suggester (``pipeline.Suggester`` is one)."""

    @property
    def codesets(self) -> dict[str, str]: ...

    @property
    def model_info(self) -> dict[str, str]: ...

    def suggest(
        self,
        text: str | bytes,
        *,
        setting: str = "outpatient",
        age: int | None = None,
        sex: str | None = None,
        encounter_date: Any = None,
        id: str | None = None,
    ) -> SuggestionResult: ...


Loader = Callable[[str | None], SuggesterLike]


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


@dataclass(slots=True)
class BatchSummary:
    """What a run did: ``notes`` were scored now, ``skipped`` were already in OUT."""

    out: str
    notes: int = 0
    skipped: int = 0
    suggestions: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def notes_per_second(self) -> float:
        return self.notes / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"{self.notes:,} notes scored ({self.skipped:,} already done), "
            f"{self.suggestions:,} suggestions, {self.errors:,} notes with errors, "
            f"{self.notes_per_second:.1f} notes/s over {self.seconds:.1f} s -> {self.out}"
        )


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _too_large(size: int, unit: str, max_chars: int) -> dict[str, str]:
    return _error(
        "note_too_large",
        f"The note has {size:,} {unit}; the limit is {max_chars:,} characters. "
        "Split it into encounters or raise --max-chars.",
    )


# --------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------- writing


def result_csv_rows(record: dict[str, Any]) -> list[list[str]]:
    """One CSV row per suggestion (one row when there is none), in ``CSV_COLUMNS`` order."""
    suggestions = record.get("suggestions") or []
    errors = record.get("errors") or []
    note = [str(record.get("id") or ""), str(len(suggestions))]
    problems = [
        ";".join(str(e.get("code", "")) for e in errors),
        " | ".join(str(e.get("message", "")).replace("\n", " ") for e in errors),
    ]
    if not suggestions:
        return [[*note, *[""] * (len(CSV_COLUMNS) - 4), *problems]]
    codesets = record.get("codesets") or {}
    return [
        [
            *note,
            str(s["rank"]),
            s["code"],
            s["system"],
            str(codesets.get(s["system"], "")),
            s["description"],
            repr(float(s["score"])),
            "true" if s["selected"] else "false",
            ";".join(f"{e['start']}-{e['end']}" for e in s.get("evidence") or []),
            ";".join(f"{e['rule']}:{e['severity']}" for e in s.get("edits") or []),
            *problems,
        ]
        for s in suggestions
    ]


def arrow_schema() -> Any:
    """The Parquet layout of a result: the JSON schema as nested structs, lists and maps."""
    import pyarrow as pa

    string, integer = pa.string(), pa.int32()
    evidence = pa.struct(
        [
            ("start", integer),
            ("end", integer),
            ("text", string),
            ("section", string),
            ("assertion", string),
        ]
    )
    edit = pa.struct(
        [
            ("rule", string),
            ("severity", string),
            ("codes", pa.list_(string)),
            ("message", string),
            ("source", string),
            ("fix", pa.list_(string)),
        ]
    )
    suggestion = pa.struct(
        [
            ("code", string),
            ("system", string),
            ("description", string),
            ("score", pa.float64()),
            ("rank", integer),
            ("selected", pa.bool_()),
            ("evidence", pa.list_(evidence)),
            ("sources", pa.map_(string, pa.float64())),
            ("edits", pa.list_(edit)),
            ("note", string),
        ]
    )
    exclusion = pa.struct(
        [
            ("text", string),
            ("start", integer),
            ("end", integer),
            ("reason", string),
            ("codes", pa.list_(string)),
        ]
    )
    return pa.schema(
        [
            ("id", string),
            ("schema", string),
            ("codesets", pa.map_(string, string)),
            ("model", pa.struct([("name", string), ("version", string), ("sha256", string)])),
            (
                "context",
                pa.struct(
                    [
                        ("setting", string),
                        ("age", integer),
                        ("sex", string),
                        ("encounter_date", string),
                    ]
                ),
            ),
            ("suggestions", pa.list_(suggestion)),
            ("excluded", pa.list_(exclusion)),
            ("errors", pa.list_(pa.struct([("code", string), ("message", string)]))),
        ]
    )


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Output:
    """OUT as a checkpoint: ``done``/``done_ids`` after repair, then ``add`` in input order."""

    def __init__(self, path: Path, *, flush_every: int, flush_seconds: float) -> None:
        self.path = path
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.done = 0
        self._buffer: list[Any] = []
        self._last_flush = time.monotonic()

    def done_ids(self) -> Iterator[str]:
        raise NotImplementedError

    def add(self, record: dict[str, Any]) -> None:
        self._buffer.append(self._encode(record))
        if (
            len(self._buffer) >= self.flush_every
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        # Take the buffer first: if a write is interrupted, its records are not written twice.
        pending, self._buffer = self._buffer, []
        self._last_flush = time.monotonic()
        if pending:
            self._write(pending)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> _Output:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _encode(self, record: dict[str, Any]) -> Any:
        return record

    def _write(self, pending: list[Any]) -> None:
        raise NotImplementedError


class _LineOutput(_Output):
    """JSONL or CSV: one file, appended to in whole lines, fsynced at every flush."""

    header = b""

    def __init__(self, path: Path, **kw: Any) -> None:
        super().__init__(path, **kw)
        self._end = self._repair()
        self._file: BinaryIO | None = None

    def _units(self, f: BinaryIO) -> Iterator[tuple[str, int]]:
        """(id, end offset) of each complete record after the header, up to the first bad one."""
        raise NotImplementedError

    def done_ids(self) -> Iterator[str]:
        with open(self.path, "rb") as f:
            f.seek(len(self.header))
            for note_id, end in self._units(f):
                if end > self._end:
                    return
                yield note_id

    def _repair(self) -> int:
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb") as f:
                f.write(self.header)
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(self.path.parent)
            return len(self.header)
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            head = f.read(len(self.header))
            if head != self.header:
                if len(head) < len(self.header) and self.header.startswith(head):
                    good = 0  # the header itself was torn
                else:
                    raise self._foreign()
            else:
                good = len(self.header)
                for _, end in self._units(f):
                    good = end
                    self.done += 1
            if good < size:
                # Cut only what an interrupted append leaves: a partial last line or zeros,
                # unless earlier records (or the CSV header) show the file is ours.
                f.seek(good)
                tail = f.read(min(size - good, 1 << 26))
                torn = (b"\n" not in tail and size - good == len(tail)) or not tail.strip(b"\x00")
                ours = self.done > 0 or (bool(self.header) and good >= len(self.header))
                if not (ours or torn):
                    raise self._foreign()
        if good < size:
            log.warning(
                "%s ended with %d bytes of an interrupted write; they are dropped and those "
                "notes scored again",
                self.path,
                size - good,
            )
            with open(self.path, "r+b") as f:
                f.truncate(good)
                if good == 0:
                    f.write(self.header)
                    good = len(self.header)
                f.flush()
                os.fsync(f.fileno())
        return good

    def _foreign(self) -> InputError:
        return InputError(
            f"{self.path} exists but is not a codesuggest batch output in this format, so it "
            "is left alone. Choose another --out, or move the file away to start afresh."
        )

    def _write(self, pending: list[Any]) -> None:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._file.write(b"".join(pending))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None


class _JsonlOutput(_LineOutput):
    def _encode(self, record: dict[str, Any]) -> bytes:
        try:
            return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in some value: escape everything
            return (json.dumps(record) + "\n").encode("ascii")

    def _units(self, f: BinaryIO) -> Iterator[tuple[str, int]]:
        offset = f.tell()
        for line in f:
            if not line.endswith(b"\n"):
                return
            try:
                obj = json.loads(line)
            except ValueError:
                return
            if not isinstance(obj, dict) or "schema" not in obj or "id" not in obj:
                return
            offset += len(line)
            yield str(obj["id"]), offset


class _CsvOutput(_LineOutput):
    header = (",".join(CSV_COLUMNS) + "\r\n").encode()

    def _encode(self, record: dict[str, Any]) -> bytes:
        # CRLF as RFC 4180 says; with a bare LF terminator a lone CR would go unquoted.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(result_csv_rows(record))
        return buf.getvalue().encode("utf-8", "backslashreplace")

    def _units(self, f: BinaryIO) -> Iterator[tuple[str, int]]:
        feed = _LineFeed(f)
        reader = csv.reader(feed, strict=True)
        _raise_csv_limit(DEFAULT_MAX_CHARS)
        note_id, expected, seen = "", 0, 0
        while True:
            try:
                row = next(reader)
            except (StopIteration, csv.Error):
                return
            if not feed.complete or len(row) != len(CSV_COLUMNS) or not row[1].isdigit():
                return
            rows_of_note = max(1, int(row[1]))
            if seen == 0:
                note_id, expected = row[0], rows_of_note
            elif row[0] != note_id or rows_of_note != expected:
                return
            seen += 1
            if seen == expected:
                seen = 0
                yield note_id, feed.offset


class _LineFeed:
    """Lines of a binary file for ``csv.reader``, remembering how far they reach."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.offset = f.tell()
        self.complete = True

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = self.f.readline()
        if not line:
            raise StopIteration
        self.offset += len(line)
        self.complete = line.endswith(b"\n")
        return line.decode("utf-8", "surrogateescape")


class _ParquetOutput(_Output):
    """A folder of ``part-NNNNN.parquet`` files, each written to a temporary name then renamed."""

    def __init__(self, path: Path, **kw: Any) -> None:
        super().__init__(path, **kw)
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise InputError(
                "Writing Parquet needs pyarrow: pip install 'codesuggest[parquet]'."
            ) from exc
        self._parts = self._repair()

    def _repair(self) -> list[Path]:
        import pyarrow.parquet as pq

        if self.path.exists() and not self.path.is_dir():
            raise InputError(
                f"{self.path} is a file; Parquet output is a folder of parts. Choose another --out."
            )
        self.path.mkdir(parents=True, exist_ok=True)
        parts: list[Path] = []
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith(".part-") and entry.name.endswith(".tmp"):
                entry.unlink()
            elif entry.name.startswith("part-") and entry.suffix == ".parquet":
                parts.append(entry)
            elif not entry.name.startswith("."):
                raise InputError(
                    f"{self.path} holds {entry.name}, which codesuggest did not write; choose "
                    "another --out for Parquet output."
                )
        good: list[Path] = []
        for i, part in enumerate(parts):
            try:
                ok = part.name == self._name(i) and "id" in pq.read_schema(part).names
            except Exception:  # pyarrow's own errors for a truncated file
                ok = False
            if not ok:
                log.warning(
                    "%s: %s and later parts are incomplete; those notes are scored again",
                    self.path,
                    part.name,
                )
                for bad in parts[i:]:
                    bad.unlink()
                break
            good.append(part)
            self.done += pq.ParquetFile(part).metadata.num_rows
        return good

    @staticmethod
    def _name(index: int) -> str:
        return f"part-{index:05d}.parquet"

    def done_ids(self) -> Iterator[str]:
        import pyarrow.parquet as pq

        for part in list(self._parts):
            yield from (str(i) for i in pq.read_table(part, columns=["id"])["id"].to_pylist())

    def _write(self, pending: list[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = self._name(len(self._parts))
        tmp = self.path / f".{name}.tmp"
        pq.write_table(pa.Table.from_pylist(pending, schema=arrow_schema()), tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path / name)
        _fsync_dir(self.path)
        self._parts.append(self.path / name)


def open_output(path: str | os.PathLike[str], output_format: str) -> _Output:
    """OUT ready to append to, its torn tail cut off (``InputError`` if it is someone else's)."""
    path = Path(path)
    if output_format in ("jsonl", "csv") and path.is_dir():
        raise InputError(f"{path} is a folder; give a file name for {output_format} output.")
    if output_format == "jsonl":
        return _JsonlOutput(path, flush_every=64, flush_seconds=2.0)
    if output_format == "csv":
        return _CsvOutput(path, flush_every=64, flush_seconds=2.0)
    if output_format == "parquet":
        return _ParquetOutput(path, flush_every=2000, flush_seconds=60.0)
    raise InputError(f"output format must be one of {OUTPUT_FORMATS}, not {output_format!r}.")


def output_format_for(path: str | os.PathLike[str]) -> str:
    """The output format OUT's suffix asks for (JSONL unless ``.csv`` or ``.parquet``)."""
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "jsonl")


# --------------------------------------------------------------------------- resuming


def skip_done(
    notes: Iterable[Note], done_ids: Iterator[str], summary: BatchSummary
) -> Iterator[Note]:
    """The notes not yet in OUT; ``done_ids`` are OUT's ids in the order they were written."""
    remaining: Counter[str] | None = None
    for note in notes:
        if remaining is None:
            expected = next(done_ids, None)
            if expected is None:
                remaining = Counter()
            elif expected == note.id:
                summary.skipped += 1
                continue
            else:
                remaining = Counter([expected])
                remaining.update(done_ids)
                log.warning(
                    "%s holds %d results that do not follow the input's order (was the input "
                    "changed?); resuming by id instead",
                    summary.out,
                    summary.skipped + sum(remaining.values()),
                )
        if remaining and remaining[note.id] > 0:
            remaining[note.id] -= 1
            if not remaining[note.id]:
                del remaining[note.id]
            summary.skipped += 1
            continue
        yield note


# --------------------------------------------------------------------------- scoring


def load_suggester(model: str | None) -> SuggesterLike:
    """The default loader: ``codesuggest.load(model)``."""
    import codesuggest

    return codesuggest.load(model)


_SUGGESTERS: dict[tuple[Any, str | None], SuggesterLike] = {}


def suggester_for(loader: Loader | None, model: str | None) -> SuggesterLike:
    """The suggester ``loader`` builds for ``model``, built once per process and reused."""
    key = (loader or load_suggester, model)
    if key not in _SUGGESTERS:
        _SUGGESTERS[key] = key[0](model)
    return _SUGGESTERS[key]


def _as_age(value: Any) -> int | None:
    try:
        age = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return age if 0 <= age <= 125 else None  # the suggester's range; fits Parquet's int32


def _error_context(note: Note, setting: str) -> dict[str, Any]:
    """The context of a note that was not scored, with values that do not parse left out."""
    sex = str(note.sex).strip().upper()[:1] if note.sex is not None else None
    date = note.encounter_date
    return {
        "setting": note.setting if note.setting in SETTINGS else setting,
        "age": _as_age(note.age),
        "sex": sex if sex in ("F", "M") else None,
        "encounter_date": date.isoformat()[:10]
        if hasattr(date, "isoformat")
        else (str(date) if isinstance(date, str) else None),
    }


def score_note(
    suggester: SuggesterLike,
    note: Note,
    *,
    setting: str = "outpatient",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> dict[str, Any]:
    """The result record (``SuggestionResult.to_dict()``) of one note; never raises for it."""
    errors: list[dict[str, str]] = []
    if note.error is not None:
        errors = [note.error]
    elif isinstance(note.text, str) and len(note.text) > max_chars:
        errors = [_too_large(len(note.text), "characters", max_chars)]
    else:
        try:
            result = suggester.suggest(
                note.text,  # type: ignore[arg-type]
                setting=note.setting or setting,
                age=note.age,
                sex=note.sex,
                encounter_date=note.encounter_date,
                id=note.id,
            )
        except InputError as exc:
            errors = [_error("invalid_context", str(exc))]
        except Exception as exc:  # one bad note must not stop an archive
            log.error("note %s: scoring failed with %s", note.id, type(exc).__name__)
            errors = [
                _error(
                    "internal_error",
                    f"Scoring failed ({type(exc).__name__}: {str(exc)[:300]}); please report it.",
                )
            ]
        else:
            record = result.to_dict()
            record["id"] = note.id
            return record
    return SuggestionResult(
        id=note.id,
        codesets=dict(suggester.codesets),
        model=dict(suggester.model_info),
        errors=errors,
        context=_error_context(note, setting),
    ).to_dict()


def _test_delay() -> float:
    try:
        return max(0.0, float(os.environ.get(TEST_DELAY_ENV) or 0))
    except ValueError:
        return 0.0


def _score_in_process(
    notes: Iterable[Note], loader: Loader | None, model: str | None, setting: str, max_chars: int
) -> Iterator[dict[str, Any]]:
    suggester = suggester_for(loader, model)
    delay = _test_delay()
    for note in notes:
        if delay:
            time.sleep(delay)
        yield score_note(suggester, note, setting=setting, max_chars=max_chars)


_WORKER: dict[str, Any] = {}


def _init_worker(loader: Loader | None, model: str | None, workers: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for everyone
    try:
        _WORKER["suggester"] = suggester_for(loader, model)
    except Exception as exc:  # reported by the first task, not by endless worker restarts
        _WORKER["error"] = exc
    _share_cores(workers)


def _share_cores(workers: int) -> None:
    """Give each worker its share of the cores for OpenMP/BLAS (scikit-learn's predictions).

    N workers each starting one thread per core oversubscribe the machine; joblib's workers
    limit themselves the same way.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=max(1, (os.cpu_count() or 1) // workers))


def _score_chunk(notes: list[Note], setting: str, max_chars: int) -> list[dict[str, Any]]:
    if "error" in _WORKER:
        raise _WORKER["error"]
    delay = _test_delay()
    out = []
    for note in notes:
        if delay:
            time.sleep(delay)
        out.append(score_note(_WORKER["suggester"], note, setting=setting, max_chars=max_chars))
    return out


def _score_in_pool(
    notes: Iterable[Note],
    workers: int,
    loader: Loader | None,
    model: str | None,
    setting: str,
    max_chars: int,
) -> Iterator[dict[str, Any]]:
    # Not Pool.imap: its feeder thread drains the whole input into memory, and a worker killed
    # by the OOM killer hangs it. Here at most workers*3 chunks are in flight, in order.
    import multiprocessing

    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(loader, model, workers),
    )
    source = iter(notes)
    window: deque[Future[list[dict[str, Any]]]] = deque()

    def submit() -> None:
        chunk = list(islice(source, CHUNK_NOTES))
        if chunk:
            window.append(pool.submit(_score_chunk, chunk, setting, max_chars))

    finished = False
    try:
        for _ in range(workers * 3):
            submit()
        while window:
            try:
                results = window.popleft().result()
            except BrokenProcessPool as exc:
                raise WorkerError(
                    "A worker process died (out of memory?). The results so far are saved; "
                    "rerun the same command to continue, with fewer --workers if memory is short."
                ) from exc
            submit()
            yield from results
        finished = True
    finally:
        if finished:
            pool.shutdown()
        else:
            _stop_workers(pool)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """After Ctrl-C or an error, stop at once: the notes in progress are redone on resume."""
    stop = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if stop is not None:
        stop()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown clears it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


# --------------------------------------------------------------------------- running


def run_batch(
    input: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    workers: int = 1,
    engine: str = "local",
    output_format: str | None = None,
    input_format: str = "auto",
    model: str | os.PathLike[str] | None = None,
    setting: str = "outpatient",
    fields: Fields | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    progress: bool | None = None,
    loader: Loader | None = None,
) -> BatchSummary:
    """Score every note of ``input`` not yet in ``out`` and append the results to ``out``.

    Args:
        workers: processes, each loading the model once (for Spark: local cores).
        output_format: ``jsonl``, ``csv`` or ``parquet``; default from ``out``'s suffix.
        setting: for notes whose record does not name one.
        progress: show a progress bar on stderr; default when stderr is a terminal.
        loader: how a worker builds its suggester from ``model`` (default
            ``codesuggest.load``); must be importable by name, as workers are new processes.

    Workers are started with ``spawn``, so a script calling this with ``workers > 1`` needs
    the usual ``if __name__ == "__main__":`` guard.
    """
    if workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}.")
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {ENGINES}, not {engine!r}.")
    if setting not in SETTINGS:
        raise InputError(f"setting must be one of {SETTINGS}, not {setting!r}.")
    if max_chars < 1:
        raise InputError(f"max_chars must be at least 1, not {max_chars}.")
    in_path, out_path = Path(input), Path(out)
    if out_path.exists() and in_path.exists() and out_path.resolve() == in_path.resolve():
        raise InputError("--out must not be the input; results would overwrite the notes.")
    fields = fields or Fields()
    fmt = detect_input_format(in_path, input_format)
    notes = read_notes(in_path, input_format=fmt, fields=fields, max_chars=max_chars)
    model_dir = str(model) if model is not None else None
    show = sys.stderr.isatty() if progress is None else progress
    total = count_notes(in_path, input_format=fmt, fields=fields) if show else None

    from tqdm import tqdm

    summary = BatchSummary(out=str(out_path))
    start = time.perf_counter()
    with open_output(out_path, output_format or output_format_for(out_path)) as output:
        todo = skip_done(notes, output.done_ids(), summary)
        if engine == "spark":
            from .spark import score_notes

            results = score_notes(
                todo,
                workers=workers,
                model=model_dir,
                loader=loader,
                setting=setting,
                max_chars=max_chars,
            )
        elif workers == 1:
            results = _score_in_process(todo, loader, model_dir, setting, max_chars)
        else:
            results = _score_in_pool(todo, workers, loader, model_dir, setting, max_chars)
        bar = tqdm(
            total=total,
            initial=output.done,
            unit="note",
            desc="scoring",
            file=sys.stderr,
            disable=not show,
            dynamic_ncols=True,
            smoothing=0.05,
        )
        with bar, contextlib.closing(results):
            for record in results:
                output.add(record)
                summary.notes += 1
                summary.suggestions += len(record["suggestions"])
                summary.errors += bool(record["errors"])
                bar.update()
    summary.seconds = time.perf_counter() - start
    return summary
