"""Batch throughput: notes/s with 1 and 2 workers, peak memory per worker, Spark local[2], and
medspaCy's default pipeline on the same notes as a reference.

Each engine runs ``codesuggest batch`` in a fresh process, as a user would, so the numbers
include starting up and loading the model; that one-off cost is also measured on its own.

Run: python benchmarks/bench_batch.py [NOTES_DIR] [--limit N] [--skip-spark] [--skip-medspacy]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTES = ROOT.parent / "shared" / "data" / "codiesp" / "background" / "text_files_en"

LOAD = (
    "import time; t = time.perf_counter(); import codesuggest; codesuggest.load(); "
    "print(time.perf_counter() - t)"
)
SPARK_START = (
    "import os, sys, time; os.environ.setdefault('PYSPARK_PYTHON', sys.executable); "
    "t = time.perf_counter(); from pyspark.sql import SparkSession; "
    "s = SparkSession.builder.master('local[2]').config('spark.ui.enabled', 'false')"
    ".getOrCreate(); s.range(4).count(); print(time.perf_counter() - t); s.stop()"
)
MEDSPACY = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
t = time.perf_counter()
import medspacy
from loguru import logger
logger.disable("PyRuSH")  # its DEBUG lines per token would otherwise dominate the time
nlp = medspacy.load()
load = time.perf_counter() - t
from pathlib import Path
paths = sorted(Path(sys.argv[1]).glob("*.txt"))
t = time.perf_counter()
ents = 0
for p in paths:
    ents += len(nlp(open(p, encoding="utf-8").read()).ents)
print(json.dumps({"load_s": load, "score_s": time.perf_counter() - t, "pipe": nlp.pipe_names,
                  "entities": ents}))
"""


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def _peak_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def run_batch(notes: Path, out: Path, workers: int, engine: str) -> dict[str, object]:
    """``codesuggest batch`` in a new process; wall time and each process's peak RSS."""
    cmd = [
        sys.executable,
        "-m",
        "codesuggest.cli",
        "batch",
        str(notes),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--engine",
        engine,
        "--quiet",
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, tuple[int, str]] = {}
    while proc.poll() is None:
        for pid in [proc.pid, *_descendants(proc.pid)]:
            kib = _peak_kib(pid)
            if kib:
                peaks[pid] = (max(kib, peaks.get(pid, (0, ""))[0]), _cmdline(pid)[:80])
        time.sleep(0.25)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    main_peak = peaks.pop(proc.pid, (0, ""))[0]
    # A process holding a model is a worker; the small ones are multiprocessing's resource
    # tracker and pyspark's daemon, whose forks share its command line.
    python = [kib for kib, cmd in peaks.values() if "java" not in cmd]
    workers_kib = [kib for kib in python if kib >= 100 * 1024]
    helpers_kib = [kib for kib in python if kib < 100 * 1024]
    jvm = [kib for kib, cmd in peaks.values() if "java" in cmd]
    if workers == 1 and engine == "local":  # one worker scores in the main process
        workers_kib = [main_peak]
    return {
        "notes": len(records),
        "errors": sum(bool(r["errors"]) for r in records),
        "suggestions": sum(len(r["suggestions"]) for r in records),
        "wall_s": round(wall, 1),
        "notes_per_s": round(len(records) / wall, 2),
        "main_peak_mib": round(main_peak / 1024),
        "worker_peak_mib": [round(k / 1024) for k in sorted(workers_kib, reverse=True)],
        "helper_peak_mib": [round(k / 1024) for k in sorted(helpers_kib, reverse=True)],
        "jvm_peak_mib": [round(k / 1024) for k in sorted(jvm, reverse=True)],
    }


def seconds_of(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notes", nargs="?", default=str(DEFAULT_NOTES), help="a folder of .txt")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N notes")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-medspacy", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    source = Path(args.notes)
    paths = sorted(source.rglob("*.txt"))[: args.limit]
    if not paths:
        raise SystemExit(f"no .txt notes in {source}")
    work = Path(tempfile.mkdtemp(prefix="codesuggest-bench-batch-"))
    try:
        notes = work / "notes"
        notes.mkdir()
        for p in paths:
            shutil.copyfile(p, notes / p.name)
        chars = sum(len(p.read_text(encoding="utf-8")) for p in paths)
        result: dict[str, object] = {
            "notes": len(paths),
            "mean_chars": round(chars / len(paths)),
            "cpus": os.cpu_count(),
            "model_load_s": round(seconds_of(LOAD), 1),
        }
        load = float(result["model_load_s"])  # type: ignore[arg-type]
        for workers in (1, 2):
            run = run_batch(notes, work / f"local{workers}.jsonl", workers, "local")
            run["notes_per_s_after_load"] = round(len(paths) / (float(run["wall_s"]) - load), 2)
            result[f"local_{workers}_worker"] = run
        if not args.skip_spark:
            result["spark_start_s"] = round(seconds_of(SPARK_START), 1)
            result["spark_local_2"] = run_batch(notes, work / "spark.jsonl", 2, "spark")
        same = (work / "local1.jsonl").read_bytes() == (work / "local2.jsonl").read_bytes()
        if not args.skip_spark:
            same = (
                same and (work / "spark.jsonl").read_bytes() == (work / "local1.jsonl").read_bytes()
            )
        result["outputs_identical"] = same
        if not args.skip_medspacy:
            out = subprocess.run(
                [sys.executable, "-c", MEDSPACY, str(notes)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            ref = json.loads(out.strip().splitlines()[-1])
            ref["notes_per_s"] = round(len(paths) / (ref["load_s"] + ref["score_s"]), 2)
            ref["notes_per_s_after_load"] = round(len(paths) / ref["score_s"], 2)
            result["medspacy_default"] = ref
            one = result["local_1_worker"]
            assert isinstance(one, dict)
            result["ratio_1_worker_vs_medspacy"] = round(
                float(one["notes_per_s"]) / ref["notes_per_s"], 2
            )
            result["ratio_1_worker_vs_medspacy_after_load"] = round(
                float(one["notes_per_s_after_load"]) / ref["notes_per_s_after_load"], 2
            )
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
