"""The project-written CPT subset and the loader for a user's licensed AMA CPT file."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.codebook.search import SearchIndex
from codesuggest.core.codes import looks_like_cpt
from codesuggest.core.errors import InputError
from codesuggest.core.records import CPT, CodeSetVersion

CPT_SUBSET_VERSION = CodeSetVersion(
    CPT, "subset-2026.1", "codesuggest curated subset; descriptions written by the project"
)


CPT_CATEGORIES = ("E/M", "surgery", "radiology", "lab", "medicine", "anesthesia")


def _procedure_set(version: CodeSetVersion, rows: Iterable[CodeInfo]) -> CodeSet:
    records: dict[str, CodeInfo] = {}
    for r in rows:
        records[r.code] = r
    codes = sorted(records)
    entries: list[tuple[int, str]] = []
    for i, c in enumerate(codes):
        rec = records[c]
        entries.append((i, rec.description))
        entries.extend((i, s) for s in rec.synonyms)
    return CodeSet(version, codes, records, SearchIndex.build(entries))


def _read_text(path: Path, what: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist.") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc}") from exc
    if b"\x00" in raw[:4096]:
        raise InputError(f"{what} {path} is binary, not a text file.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{what} {path} is neither UTF-8 nor Windows-1252 text.")


def _cpt_rows(text: str, source: str, system: str) -> list[CodeInfo]:
    """Rows of a CPT table: the project's CSV layout or a plain two-column code/description file."""
    lines = text.splitlines()
    if not lines:
        raise InputError(f"{source} is empty.")
    sample = "\n".join(lines[:20])
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    first = next(reader)
    header = [h.strip().lower() for h in first]
    has_header = "code" in header or "hcpc" in header
    rows = reader if has_header else [first, *reader]
    col = {name: i for i, name in enumerate(header)} if has_header else {}
    ci = col.get("code", col.get("hcpc", 0))
    di = col.get("description", col.get("long description", 1))
    out: list[CodeInfo] = []
    for n, row in enumerate(rows, start=2 if has_header else 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) <= max(ci, di):
            raise InputError(f"{source} line {n}: expected a code and a description, got {row!r}.")
        code = row[ci].strip().upper()
        if not looks_like_cpt(code):
            raise InputError(f"{source} line {n}: {code!r} is not a CPT/HCPCS code.")

        def get(name: str, default: str = "", row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else default

        category = get("category")
        if category and category not in CPT_CATEGORIES:
            raise InputError(
                f"{source} line {n}: category {category!r} is not one of {CPT_CATEGORIES}."
            )
        out.append(
            CodeInfo(
                code=code,
                system=system,
                description=row[di].strip(),
                billable=True,
                kind="procedure",
                category=category,
                addon=get("addon") in {"1", "true", "yes", "+"},
                primary_codes=tuple(get("primary_codes").split()),
                synonyms=tuple(s.strip() for s in get("synonyms").split(";") if s.strip()),
            )
        )
    if not out:
        raise InputError(f"{source} has no code rows.")
    return out


@cache
def load_cpt_subset() -> CodeSet:
    """The curated CPT subset shipped with the package (project-written descriptions)."""
    text = resources.files("codesuggest.data").joinpath("cpt_subset.csv").read_text("utf-8")
    return _procedure_set(CPT_SUBSET_VERSION, _cpt_rows(text, "cpt_subset.csv", CPT))


def load_cpt_file(path: str | os.PathLike[str], *, version: str, extend: bool = True) -> CodeSet:
    """A licensed CPT data file, replacing or extending the shipped subset.

    Accepted layouts (UTF-8 or Windows-1252, comma or tab separated):
    the AMA data files with one code and its descriptor per line (e.g. ``LONGULT.txt``:
    ``code<TAB>descriptor``), or a CSV with a header naming at least ``code`` and
    ``description`` and optionally ``category``, ``addon``, ``primary_codes``, ``synonyms``.
    With ``extend`` the subset's categories, add-on flags and synonyms are kept for codes the
    file does not describe itself.
    """
    p = Path(path)
    rows = _cpt_rows(_read_text(p, "CPT file"), str(p), CPT)
    if extend:
        base = {r.code: r for r in load_cpt_subset()}
        merged = dict(base)
        for r in rows:
            old = base.get(r.code)
            if old is not None:
                r = CodeInfo(
                    code=r.code,
                    system=CPT,
                    description=r.description,
                    billable=True,
                    kind="procedure",
                    category=r.category or old.category,
                    addon=r.addon or old.addon,
                    primary_codes=r.primary_codes or old.primary_codes,
                    synonyms=old.synonyms + r.synonyms,
                )
            merged[r.code] = r
        rows = list(merged.values())
    return _procedure_set(CodeSetVersion(CPT, version, f"licensed CPT file {p.name}"), rows)
