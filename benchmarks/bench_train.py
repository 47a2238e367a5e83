"""Training time and peak memory: `codesuggest train` on CodiEsp train + dev (750 notes).

Run: python benchmarks/bench_train.py [--codiesp ../shared/data/codiesp] [--seed 0]

Writes the 750 notes as one JSONL (the documented training format), runs the real CLI in a
child process, and reports wall time and the child's peak RSS. Runs it twice with the same
seed and checks that the model files are byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codiesp", default=str(ROOT.parent / "shared" / "data" / "codiesp"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="codesuggest-train-"))
    data = work / "codiesp-train-dev.jsonl"
    n = 0
    with data.open("w", encoding="utf-8") as out:
        for split in ("train", "dev"):
            root = Path(args.codiesp) / split
            labels: dict[str, list[str]] = {}
            for line in next(root.glob("*D.tsv")).read_text().splitlines():
                if line.strip():
                    doc, code = line.split("\t")[:2]
                    labels.setdefault(doc, []).append(code)
            for f in sorted((root / "text_files_en").glob("*.txt")):
                rec = {"id": f.stem, "text": f.read_text(), "codes": labels.get(f.stem, [])}
                out.write(json.dumps(rec) + "\n")
                n += 1
    runs = []
    for i in range(args.runs):
        folder = work / f"model-{i}"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "codesuggest.cli",
                "train",
                "--data",
                str(data),
                "--out",
                str(folder),
                "--seed",
                str(args.seed),
                "--quiet",
                "--config",
                str(ROOT / "training" / "default.toml"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        runs.append((time.perf_counter() - start, _digest(folder)))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "notes": n,
                "train_seconds": [round(t, 1) for t, _ in runs],
                "peak_rss_mb_child": round(peak_mb),
                "byte_identical_reruns": all(d == runs[0][1] for _, d in runs),
                "model_folder": str(work / "model-0"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
