"""Scoring notes in this process or in a pool of worker processes."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any

from codesuggest.core.context import PatientContext
from codesuggest.core.errors import CodesuggestError, InputError
from codesuggest.core.records import Loader, SuggesterLike, SuggestionResult
from codesuggest.io.readers import DEFAULT_MAX_CHARS, Note, _error, _too_large

log = logging.getLogger(__name__)


CHUNK_NOTES = 4


# Test hook, not a setting: seconds to sleep before each note, so that a test can kill a run
# reliably part-way through. Documented in docs/batch.md.
TEST_DELAY_ENV = "CODESUGGEST_BATCH_TEST_DELAY"


class WorkerError(CodesuggestError, RuntimeError):
    """A worker process died; what was written so far is kept and a rerun continues."""


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


def _error_context(note: Note, setting: str) -> dict[str, Any]:
    """The context of a note that was not scored, with values that do not parse left out."""
    return PatientContext.lenient(
        setting=note.setting,
        age=note.age,
        sex=note.sex,
        encounter_date=note.encounter_date,
        default_setting=setting,
    ).to_dict()


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


# How often a worker checks that the run that started it is still there.
PARENT_POLL_SECONDS = 1.0


def _die_with_parent(parent: int) -> None:
    """End this worker when the run that started it ends, however it ended.

    A killed run (kill -9, the OOM killer) leaves its workers blocked on a task queue whose
    other end they hold themselves, each with a model in memory, forever; the resource
    tracker waits for them. Linux sends a signal at the parent's death (prctl); elsewhere, and
    should the parent be gone already, a thread that polls the parent process id does it.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="codesuggest-parent-watch", daemon=True).start()


_PR_SET_PDEATHSIG = 1


def _init_worker(loader: Loader | None, model: str | None, workers: int, parent: int) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for everyone
    try:
        _WORKER["suggester"] = suggester_for(loader, model)
    except Exception as exc:  # reported by the first task, not by endless worker restarts
        _WORKER["error"] = exc
    _share_cores(workers)


def _share_cores(workers: int) -> None:
    """Never more OpenMP/BLAS threads per worker than its share of the cores.

    N workers each starting one thread per core oversubscribe the machine; the suggester
    already keeps one thread (``pipeline.limit_threads``), which a custom loader may not.
    """
    from codesuggest.pipeline import limit_threads

    limit_threads(at_most=(os.cpu_count() or 1) // workers)


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
        initargs=(loader, model, workers, os.getpid()),
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
