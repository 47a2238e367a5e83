"""Result files (JSONL, CSV, Parquet) written so that a killed run loses nothing."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from codesuggest.core.errors import CodesuggestError, InputError
from codesuggest.io.readers import DEFAULT_MAX_CHARS, _raise_csv_limit
from codesuggest.output.schema import CSV_COLUMNS, arrow_schema, result_csv_rows

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("jsonl", "csv", "parquet")


class OutputError(CodesuggestError, OSError):
    """Results could not be written (disk full, folder gone); what was written is kept."""


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
        self.written = 0
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
            try:
                self._write(pending)
            except OSError as exc:
                raise OutputError(
                    f"Cannot write results to {self.path}: {exc.strerror or exc}. The "
                    f"{self.done + self.written:,} results written before are kept; free some "
                    "space (or fix the output folder) and rerun the same command to resume."
                ) from exc
            self.written += len(pending)

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
