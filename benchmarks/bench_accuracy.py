"""Dev accuracy: train on CodiEsp train only, score CodiEsp dev (MAP, P@k, R@10, F1).

Run: python benchmarks/bench_accuracy.py [--codiesp ../shared/data/codiesp] [--json]

Also reports two reference systems on the same split: the document model alone (TF-IDF
neighbours + centroids) and the lookup alone (terms' codes ordered by match score).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from codesuggest.codebook.book import default_codebook
from codesuggest.core.codes import MODES
from codesuggest.terms.extractor import TermExtractor
from codesuggest.train import metrics
from codesuggest.train.corpus import read_codiesp
from codesuggest.train.evaluation import evaluate
from codesuggest.train.prepare import prepare
from codesuggest.train.recipe import load_config, train

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codiesp", default=str(ROOT.parent / "shared" / "data" / "codiesp"))
    parser.add_argument("--config", default=str(ROOT / "training" / "default.toml"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    book = default_codebook()
    tr, _ = read_codiesp(Path(args.codiesp) / "train", codebook=book)
    dv, _ = read_codiesp(Path(args.codiesp) / "dev", codebook=book)
    start = time.perf_counter()
    model, ev = train(tr, validation=dv, config=load_config(args.config), codebook=book)
    seconds = time.perf_counter() - start
    out: dict[str, object] = {
        "train_notes": len(tr),
        "dev_notes": len(dv),
        "train_seconds": round(seconds, 1),
        "threshold": model.threshold,
        "full": {m: s.to_dict() for m, s in ev.results.items()},
    }
    prepared = prepare(dv, TermExtractor.default())
    setting = str(load_config(args.config)["training"].get("setting", "outpatient"))
    other = "outpatient" if setting == "inpatient" else "inpatient"
    out["setting"] = setting
    out[f"as_{other}_MAP"] = {
        m: round(s.map, 4)
        for m, s in evaluate(model, prepared, book, setting=other).results.items()
    }
    lookup = []
    for p in prepared:
        ranked = sorted(
            (t for t in p.terms if t.assertion == "present" and t.codes),
            key=lambda t: -t.match_score,
        )
        lookup.append(list(dict.fromkeys(t.codes[0] for t in ranked)))
    gold = [p.gold for p in prepared]
    out["lookup_only_MAP"] = {
        m: round(metrics.score(lookup, lookup, gold, m).map, 4) for m in MODES
    }
    proba = model.document_model.predict_proba([p.note.text for p in prepared])
    docs = [
        [str(model.document_model.classes_[j]) for j in row.argsort()[::-1][:30]] for row in proba
    ]
    out["document_model_only_MAP"] = {
        m: round(metrics.score(docs, docs, gold, m).map, 4) for m in MODES
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"trained on {len(tr)} notes in {seconds:.0f} s; threshold {model.threshold}; "
        f"dev scored as {setting}"
    )
    for mode, s in ev.results.items():
        d = s.to_dict()
        print(
            f"{mode:<9} MAP {d['MAP']:.4f}  P@5 {d['P@5']:.4f}  P@10 {d['P@10']:.4f}  "
            f"R@10 {d['R@10']:.4f}  P {d['selected_P']:.4f}  R {d['selected_R']:.4f}  "
            f"F1 {d['selected_F1']:.4f}"
        )
    print(f"as {other} MAP:", out[f"as_{other}_MAP"])
    print("lookup only MAP:", out["lookup_only_MAP"])
    print("document model only MAP:", out["document_model_only_MAP"])


if __name__ == "__main__":
    main()
