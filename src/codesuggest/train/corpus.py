"""Labelled notes for training and evaluation: CodiEsp folders, JSONL and CSV.

Every reader yields ``LabelledNote`` records and collects what it had to skip or repair in a
``CorpusReport`` so that a researcher sees, with examples, which rows were dropped and why.
A malformed file raises ``InputError`` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from codesuggest.core.errors import InputError

_TRAILING_X = re.compile(r"X+$")


@dataclass(slots=True)
class LabelledNote:
    """A note and its gold codes; ``codes`` are ``(system, code)`` pairs, canonical spelling."""

    id: str
    text: str
    codes: list[tuple[str, str]] = field(default_factory=list)

    def code_set(self, system: str = "ICD-10-CM") -> list[str]:
        return [c for s, c in self.codes if s == system]


@dataclass(slots=True)
class CorpusReport:
    """What a reader skipped or repaired, with up to five examples per reason."""

    notes: int = 0
    codes: int = 0
    empty_texts: int = 0
    normalised: Counter = field(default_factory=Counter)
    invalid: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add_example(self, reason: str, example: str) -> None:
        bucket = self.examples.setdefault(reason, [])
        if len(bucket) < 5:
            bucket.append(example)

    def summary(self) -> str:
        lines = [f"{self.notes} notes, {self.codes} codes"]
        if self.empty_texts:
            lines.append(f"{self.empty_texts} empty notes skipped")
        if self.normalised:
            lines.append(f"{sum(self.normalised.values())} codes normalised")
        if self.invalid:
            lines.append(f"{sum(self.invalid.values())} unknown or invalid codes dropped")
        for reason, ex in self.examples.items():
            lines.append(f"  {reason}: {', '.join(ex)}")
        return "\n".join(lines)


def normalise_gold_icd(code: str) -> str:
    """CodiEsp spelling to canonical: ``'s02.0xx'`` -> ``'S02.0'``, ``'n44.8'`` -> ``'N44.8'``."""
    c = code.strip().upper().replace(" ", "")
    if "." not in c and len(c) > 3:
        c = c[:3] + "." + c[3:]
    head, _, tail = c.partition(".")
    tail = _TRAILING_X.sub("", tail)
    return f"{head}.{tail}" if tail else head


def _check_codes(
    raw: list[tuple[str, str]], report: CorpusReport, where: str, codebook: object | None
) -> list[tuple[str, str]]:
    """Normalise codes; drop (and count) those the code set cannot place at all."""
    out: list[tuple[str, str]] = []
    for system, code in raw:
        if system == "ICD-10-CM":
            fixed = normalise_gold_icd(code)
            if fixed != code.strip().upper():  # case alone is not worth reporting
                report.normalised[system] += 1
                report.add_example("normalised", f"{code} -> {fixed}")
            if codebook is not None:
                icd = codebook.icd  # type: ignore[attr-defined]
                known = fixed in icd or any(
                    c in icd for c in (fixed[:-1], fixed[:5], fixed[:3]) if c
                )
                if not known:
                    report.invalid[system] += 1
                    report.add_example("unknown ICD-10-CM code", f"{code} ({where})")
                    continue
            code = fixed
        else:
            code = code.strip().upper()
        if (system, code) not in out:
            out.append((system, code))
    return out


def _add_row(
    notes: list[LabelledNote],
    report: CorpusReport,
    row: dict[str, object],
    where: str,
    note_id: str,
    codebook: object | None,
) -> None:
    """One JSONL/CSV row as a note, or counted as empty."""
    text = row.get("text") or ""
    if not isinstance(text, str) or not text.strip():
        report.empty_texts += 1
        return
    codes = _check_codes(_codes_from_field(row.get("codes"), where), report, where, codebook)
    notes.append(LabelledNote(note_id, text, codes))


def _totals(notes: list[LabelledNote], report: CorpusReport) -> CorpusReport:
    report.notes = len(notes)
    report.codes = sum(len(n.codes) for n in notes)
    return report


def read_codiesp(
    folder: str | Path, *, codebook: object | None = None
) -> tuple[list[LabelledNote], CorpusReport]:
    """A CodiEsp-layout folder: ``text_files_en/<ID>.txt`` and ``*D.tsv`` (and ``*P.tsv``).

    Only diagnosis (``D``) rows are used as ICD-10-CM labels; ``P`` rows are ICD-10-PCS, which
    this tool does not suggest.
    """
    root = Path(folder)
    texts = root / "text_files_en"
    if not texts.is_dir():
        texts = root / "text_files"
    if not texts.is_dir():
        raise InputError(f"{root} has no text_files_en/ folder; is it a CodiEsp-layout folder?")
    label_files = sorted(root.glob("*D.tsv"))
    if not label_files:
        raise InputError(f"{root} has no *D.tsv label file.")
    labels: dict[str, list[tuple[str, str]]] = {}
    for lf in label_files:
        for n, line in enumerate(lf.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise InputError(f"{lf} line {n}: expected 'ID<TAB>code', got {line!r}.")
            labels.setdefault(parts[0].strip(), []).append(("ICD-10-CM", parts[1].strip()))
    report = CorpusReport()
    notes: list[LabelledNote] = []
    for path in sorted(texts.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            report.empty_texts += 1
            continue
        codes = _check_codes(labels.get(path.stem, []), report, path.stem, codebook)
        notes.append(LabelledNote(path.stem, text, codes))
    return notes, _totals(notes, report)


def _codes_from_field(value: object, where: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[;,\s]+", value) if v]
    if not isinstance(value, list):
        raise InputError(f"{where}: 'codes' must be a list, got {type(value).__name__}.")
    out: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, str):
            code = item.strip()
            system = "CPT" if re.fullmatch(r"[0-9]{4}[0-9AFTMU]", code.upper()) else "ICD-10-CM"
            out.append((system, code))
        elif isinstance(item, dict) and "code" in item:
            out.append((str(item.get("system") or "ICD-10-CM"), str(item["code"])))
        else:
            raise InputError(f"{where}: each code must be a string or an object with 'code'.")
    return out


def read_jsonl(
    path: str | Path, *, codebook: object | None = None
) -> tuple[list[LabelledNote], CorpusReport]:
    """JSONL, one note per line: ``{"id", "text", "codes"}``; codes are strings or objects
    ``{"code", "system", "evidence": [[start, end], ...]}``."""
    p = Path(path)
    report = CorpusReport()
    notes: list[LabelledNote] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{p} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p} line {n}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(row, dict) or "text" not in row:
            raise InputError(f"{p} line {n}: expected an object with 'text' (and 'id', 'codes').")
        _add_row(notes, report, row, f"{p} line {n}", str(row.get("id", n)), codebook)
    return notes, _totals(notes, report)


def read_csv(
    path: str | Path, *, codebook: object | None = None
) -> tuple[list[LabelledNote], CorpusReport]:
    """CSV with a header naming ``id``, ``text`` and ``codes`` (codes separated by ``;``)."""
    p = Path(path)
    report = CorpusReport()
    notes: list[LabelledNote] = []
    with p.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"text", "codes"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{p}: the header lacks {sorted(missing)}; expected id,text,codes.")
        for n, row in enumerate(reader, start=2):
            _add_row(notes, report, row, f"{p} line {n}", str(row.get("id") or n), codebook)
    return notes, _totals(notes, report)


def read_labelled(
    path: str | Path, *, codebook: object | None = None
) -> tuple[list[LabelledNote], CorpusReport]:
    """Any supported layout, chosen by what ``path`` is."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist.")
    if p.is_dir():
        return read_codiesp(p, codebook=codebook)
    if p.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        return read_jsonl(p, codebook=codebook)
    if p.suffix.lower() == ".csv":
        return read_csv(p, codebook=codebook)
    raise InputError(f"{p}: unsupported labelled data; give a CodiEsp folder, .jsonl or .csv.")
