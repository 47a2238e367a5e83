"""Rebuild the shipped default model from CodiEsp train + dev and the code set.

Run from the repository root:  python training/build_default.py [--codiesp ../shared/data/codiesp]

Writes models/default/ (artifacts, MODEL_CARD.md, manifest.json) and pins the new manifest
hash in src/codesuggest/rank/model.py, so that the loader refuses a tampered shipped model.
The result is byte-identical for the same data, config, seed and library versions.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from codesuggest.codebook.book import default_codebook
from codesuggest.train.corpus import read_codiesp
from codesuggest.train.recipe import load_config, train_to_folder

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codiesp", default=str(ROOT.parent / "shared" / "data" / "codiesp"))
    parser.add_argument("--out", default=str(ROOT / "models" / "default"))
    parser.add_argument("--config", default=str(ROOT / "training" / "default.toml"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    book = default_codebook()
    notes, reports = [], []
    for split in ("train", "dev"):
        part, report = read_codiesp(Path(args.codiesp) / split, codebook=book)
        notes += part
        reports.append(f"{split}: {report.summary()}")
    summary = {
        "source": "CodiEsp (CLEF eHealth 2020), English translation, train + dev, CC BY 4.0",
        "labels": "ICD-10-CM diagnosis codes (2018 Spanish edition), normalised",
        "report": reports,
    }
    _, ev, sha = train_to_folder(
        args.out,
        notes=notes,
        config=load_config(args.config),
        seed=args.seed,
        codebook=book,
        data_summary=summary,
    )
    model_py = ROOT / "src" / "codesuggest" / "rank" / "model.py"
    if Path(args.out).resolve() == (ROOT / "models" / "default").resolve():
        text = model_py.read_text(encoding="utf-8")
        text = re.sub(
            r'DEFAULT_MANIFEST_SHA256 = "[0-9a-f]*"', f'DEFAULT_MANIFEST_SHA256 = "{sha}"', text
        )
        model_py.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}; manifest sha256 {sha}")
    for mode, s in ev.results.items():
        print(mode, {k: v for k, v in s.to_dict().items() if k != "per_chapter"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
