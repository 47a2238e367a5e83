"""``run_batch``: score an archive, resumable, in input order, one bad note never stops it."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from codesuggest.core.errors import InputError
from codesuggest.core.records import SETTINGS, Loader
from codesuggest.io.engines.local import _score_in_pool, _score_in_process
from codesuggest.io.readers import (
    DEFAULT_MAX_CHARS,
    Fields,
    Note,
    count_notes,
    detect_input_format,
    read_notes,
)
from codesuggest.io.writers import open_output, output_format_for

log = logging.getLogger(__name__)


ENGINES = ("local", "spark")


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
            from codesuggest.io.engines.spark import score_notes

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
