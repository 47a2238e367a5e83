"""The training recipe: config, fitting, the model card, writing a model folder."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, train_test_split

from codesuggest.codebook.book import Codebook, default_codebook
from codesuggest.codebook.index import load_index
from codesuggest.core.errors import InputError
from codesuggest.core.records import Candidate
from codesuggest.rank.candidates import CandidateBuilder
from codesuggest.rank.document_model import DocumentModel
from codesuggest.rank.features import FEATURES, feature_matrix
from codesuggest.rank.model import Model, library_versions, save_model, trust_model
from codesuggest.rank.priors import Priors
from codesuggest.rank.ranker import CandidateRanker
from codesuggest.train import metrics
from codesuggest.train.corpus import LabelledNote
from codesuggest.train.evaluation import Evaluation, _setting, evaluate, tune_threshold
from codesuggest.train.prepare import Prepared, _gold_labels, prepare

log = logging.getLogger(__name__)


DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"name": "codesuggest-custom", "version": "0.1.0"},
    "training": {
        "folds": 5,
        "validation_fraction": 0.2,
        "tuning_fraction": 0.5,
        "match": "prefix",
        "refit_on_all": True,
    },
    "document_model": {},
    "ranker": {},
    "candidates": {
        "doc_top_k": 50,
        "doc_min_score": 0.005,
        "alternatives": 2,
        "search_k": 3,
        "historical": True,
        "assoc_min": 0.1,
        "assoc_k": 5,
    },
}


def _today() -> str:
    """Today, or ``$SOURCE_DATE_EPOCH``'s date so that rebuilds on other days are identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).date().isoformat()
    return dt.date.today().isoformat()


def load_config(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """A training config (TOML) merged over the defaults."""
    config = {k: dict(v) for k, v in DEFAULTS.items()}
    if path is None:
        return config
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Config {p} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"Config {p} is not valid TOML: {exc}") from exc
    for section, values in data.items():
        if section not in config:
            raise InputError(f"Config {p}: unknown section [{section}]; use {sorted(config)}.")
        config[section].update(values)
    return config


def split(ids: Sequence[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded train/validation split of positions; independent of input order."""
    if not 0 < fraction < 1:
        raise InputError(
            f"training.validation_fraction must be between 0 and 1 (exclusive), not {fraction}."
        )
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    train_pos, val_pos = train_test_split(order, test_size=fraction, random_state=seed)
    return sorted(train_pos), sorted(val_pos)


def _folds(n: int, k: int, seed: int) -> list[list[int]]:
    """Held-out positions of each of the ``k`` cross-fitting folds."""
    kfold = KFold(n_splits=k, shuffle=True, random_state=seed + 1)
    return [held.tolist() for _, held in kfold.split(np.arange(n))]


def _tuning_split(
    val_part: Sequence[Prepared], config: dict[str, dict[str, Any]], seed: int
) -> tuple[list[Prepared], list[Prepared]]:
    """The validation notes that tune the selection threshold, and the others, on which the
    reported metrics are measured (a threshold scored on the notes it was tuned on flatters
    the selected F1)."""
    fraction = float(config["training"]["tuning_fraction"])
    if not 0 < fraction < 1:
        raise InputError(
            f"training.tuning_fraction must be between 0 and 1 (exclusive), not {fraction}."
        )
    if len(val_part) < 2:
        raise InputError(
            f"Validation needs at least 2 notes (one to tune the threshold, one to measure), "
            f"got {len(val_part)}: give more notes or a larger training.validation_fraction."
        )
    tune_pos, report_pos = train_test_split(
        np.arange(len(val_part)), train_size=fraction, random_state=seed
    )
    return [val_part[i] for i in sorted(tune_pos)], [val_part[i] for i in sorted(report_pos)]


def _label(cands: Sequence[Candidate], gold: Sequence[str], match: str) -> np.ndarray:
    m = metrics.matcher(match)
    return np.array([int(any(m(c.code, g) for g in gold)) for c in cands], dtype=int)


def _priors(prepared: Sequence[Prepared], codebook: Codebook) -> Priors:
    return Priors.from_notes(((p.terms, p.gold) for p in prepared), codebook.icd)


def ranker_training_data(
    prepared: Sequence[Prepared],
    codebook: Codebook,
    config: dict[str, dict[str, Any]],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted candidate features and labels for the ranker."""
    k = max(2, min(int(config["training"]["folds"]), len(prepared)))
    X_parts, y_parts = [], []
    for fold in _folds(len(prepared), k, seed):
        held = set(fold)
        rest = [p for i, p in enumerate(prepared) if i not in held]
        doc = DocumentModel(**config["document_model"]).fit(
            [p.note.text for p in rest], _gold_labels(rest)
        )
        builder = CandidateBuilder(
            codebook, _priors(rest, codebook), index=load_index(), **config["candidates"]
        )
        scores = doc.doc_scores([prepared[i].note.text for i in fold])
        for i, s in zip(fold, scores, strict=True):
            cset = builder.build(
                prepared[i].note.text, prepared[i].terms, s, setting=_setting(config)
            )
            if cset.candidates:
                X_parts.append(feature_matrix(cset.candidates))
                y_parts.append(
                    _label(cset.candidates, prepared[i].gold, config["training"]["match"])
                )
    if not X_parts:
        raise InputError("No candidates could be built from the training notes.")
    return np.vstack(X_parts), np.concatenate(y_parts)


def fit(
    prepared: Sequence[Prepared],
    codebook: Codebook,
    config: dict[str, dict[str, Any]],
    seed: int,
) -> Model:
    """Fit the document model, priors and ranker on ``prepared`` (threshold left at 0.5)."""
    if len(prepared) < 4:
        raise InputError(f"Training needs at least 4 labelled notes, got {len(prepared)}.")
    X, y = ranker_training_data(prepared, codebook, config, seed)
    ranker = CandidateRanker(random_state=seed, **config["ranker"]).fit(X, y)
    doc = DocumentModel(**config["document_model"]).fit(
        [p.note.text for p in prepared], _gold_labels(prepared)
    )
    priors = _priors(prepared, codebook)
    return Model(doc, ranker, priors, 0.5, meta={"config": config})


def train(
    notes: Sequence[LabelledNote],
    *,
    config: dict[str, dict[str, Any]] | None = None,
    seed: int = 0,
    extractor: Any = None,
    codebook: Codebook | None = None,
    validation: Sequence[LabelledNote] | None = None,
    data_summary: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[Model, Evaluation]:
    """Train a model; returns it (with its tuned threshold) and its validation evaluation.

    Without ``validation`` a seeded fraction of ``notes`` is held out; with
    ``training.refit_on_all`` the returned model is then refitted on every note. The threshold
    is tuned on ``training.tuning_fraction`` of the validation notes and the evaluation is
    measured on the rest.
    """
    config = config or load_config(None)
    codebook = codebook or default_codebook()
    if extractor is None:
        from codesuggest.terms.extractor import TermExtractor

        extractor = TermExtractor.default()

    def step(name: str) -> Callable[[int, int], None] | None:
        return (lambda i, n: progress(name, i, n)) if progress else None

    prepared = prepare(notes, extractor, progress=step("extracting terms"))
    if validation is not None:
        train_part = prepared
        val_part = prepare(validation, extractor, progress=step("extracting validation terms"))
        refit = False
    else:
        tr_idx, val_idx = split(
            [n.id for n in notes], float(config["training"]["validation_fraction"]), seed
        )
        train_part = [prepared[i] for i in tr_idx]
        val_part = [prepared[i] for i in val_idx]
        refit = bool(config["training"]["refit_on_all"])
    tune_part, report_part = _tuning_split(val_part, config, seed)
    if progress:
        progress("fitting", 0, 1)
    model = fit(train_part, codebook, config, seed)
    tuned = evaluate(model, tune_part, codebook, setting=_setting(config))
    model.threshold = tune_threshold(tuned, config["training"]["match"])
    ev = evaluate(model, report_part, codebook, setting=_setting(config))
    if refit:
        threshold = model.threshold
        model = fit(prepared, codebook, config, seed)
        model.threshold = threshold
    if progress:
        progress("fitting", 1, 1)
    model.meta = {
        **model.meta,
        "name": config["model"]["name"],
        "version": config["model"]["version"],
        "created": config["model"].get("created") or _today(),
        "seed": seed,
        "codesets": codebook.versions(),
        "config": config,
        "features": list(FEATURES),
        "data": data_summary or {"notes": len(notes)},
        "train_notes": len(prepared) if refit else len(train_part),
        "validation_notes": len(val_part),
        "tuning_notes": len(tune_part),
        "metrics_notes": len(report_part),
        "metrics": {mode: s.to_dict() for mode, s in ev.results.items()},
        "calibration": ev.calibration,
    }
    return model, ev


def model_card(model: Model) -> str:
    """A human-readable card: data, code sets, config, validation metrics and calibration."""
    m = model.meta
    lines = [
        f"# Model card: {m.get('name')} {m.get('version')}",
        "",
        f"- Created: {m.get('created')}; seed {m.get('seed')}",
        f"- Code sets: {', '.join(f'{k} {v}' for k, v in m.get('codesets', {}).items())}",
        f"- Libraries: {', '.join(f'{k} {v}' for k, v in library_versions().items())}",
        f"- Trained on {m.get('train_notes')} notes; validated on {m.get('validation_notes')}",
        f"- Selection threshold (tuned for micro F1 on {_tuning_notes(m)}): {model.threshold}",
        "",
        "## Training data",
        "",
        "```",
        str(m.get("data", {})),
        "```",
        "",
        "## Validation metrics",
        "",
        f"Measured on {_metrics_notes(m)}.",
        "",
        "| match | MAP | P@5 | P@10 | R@10 | selected P | selected R | selected F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, s in m.get("metrics", {}).items():
        lines.append(
            f"| {mode} | {s['MAP']} | {s['P@5']} | {s['P@10']} | {s['R@10']} | "
            f"{s['selected_P']} | {s['selected_R']} | {s['selected_F1']} |"
        )
    prefix = m.get("metrics", {}).get("prefix", {})
    if prefix.get("per_chapter"):
        lines += ["", "## Selected-code recall per ICD-10-CM chapter letter (prefix match)", ""]
        lines.append("| letter | gold codes | recall |")
        lines.append("|---|---|---|")
        for ch, v in prefix["per_chapter"].items():
            lines.append(f"| {ch} | {int(v['gold'])} | {v['selected_recall']} |")
    if m.get("calibration"):
        lines += [
            "",
            "## Calibration (prefix match)",
            "",
            "| score bin | n | mean score | precision |",
        ]
        lines.append("|---|---|---|---|")
        for row in m["calibration"]:
            lines.append(
                f"| {row['bin']} | {row['n']} | {row['mean_score']} | {row['precision']} |"
            )
    lines += [
        "",
        "## Configuration",
        "",
        "```",
        str(m.get("config", {})),
        "```",
        "",
        "## Limits",
        "",
        "- Learned codes come from the training labels; codes never seen there can only be found",
        "  through the code-set vocabulary and the curated dictionary.",
        "- Scores are calibrated on the validation split; recalibrate after changing data.",
        "",
    ]
    return "\n".join(lines)


def _tuning_notes(meta: dict[str, Any]) -> str:
    if "tuning_notes" not in meta:  # a model trained before the tuning split
        return "the validation notes"
    return f"{meta['tuning_notes']} of the validation notes"


def _metrics_notes(meta: dict[str, Any]) -> str:
    if "metrics_notes" not in meta:
        return "the validation notes the threshold was tuned on"
    return (
        f"the other {meta['metrics_notes']} validation notes, not those the threshold was tuned on"
    )


def train_to_folder(out: str | Path, **kwargs: Any) -> tuple[Model, Evaluation, str]:
    """``train`` and write the model folder with its card; returns the manifest sha256.

    The folder is trusted (``rank.model.trust_model``): it was made here, from the user's data.
    """
    model, ev = train(**kwargs)
    sha = save_model(model, out, card=model_card(model))
    trust_model(out)
    return model, ev, sha
