"""Code sets: ICD-10-CM FY2026 and CPT (a project-written subset, or the user's licensed file).

ICD-10-CM comes from the ``simple-icd-10-cm`` package (CMS tabular list, April 1, 2026 update).
Parsing its XML takes about two seconds, so the first use builds a compact cache (JSON for the
records, ``.npz`` for the search index: no pickle) in the user's cache directory, keyed by the
package version. Each later process checks the cache's sha256 manifest and is ready in a
fraction of a second; a corrupt cache is rebuilt with a warning.

CPT descriptors are the AMA's copyright. The package ships only descriptions written by this
project for a curated subset (``data/cpt_subset.csv``); ``load_cpt_file`` reads a licensed CPT
data file from a path the user gives, and ``load_hcpcs_file`` the public CMS HCPCS Level II file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from .errors import ArtifactError, InputError, UnknownCodeError
from .schema import CPT, HCPCS, ICD10CM, CodeSetVersion
from .search import SearchIndex

log = logging.getLogger(__name__)

CACHE_FORMAT = 2
ICD_PACKAGE = "simple-icd-10-cm"
ICD_VERSION = CodeSetVersion(ICD10CM, "2026", "FY2026 CMS tabular list, April 1, 2026 update")
CPT_SUBSET_VERSION = CodeSetVersion(
    CPT, "subset-2026.1", "codesuggest curated subset; descriptions written by the project"
)

NOTE_FIELDS = (
    "inclusion_terms",
    "includes",
    "excludes1",
    "excludes2",
    "code_first",
    "use_additional_code",
    "code_also",
    "notes",
)
KINDS = ("chapter", "section", "category", "subcategory", "extended subcategory", "procedure")

_ICD_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$", re.IGNORECASE)
_CPT_CODE = re.compile(r"^([0-9]{4}[0-9AFTMU]|[A-V][0-9]{4})$", re.IGNORECASE)
_ICD_REF = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"
_CODE_REF = re.compile(rf"\b({_ICD_REF})(?:\s*-\s*({_ICD_REF})|\.?-)?")


class CacheRebuiltWarning(UserWarning):
    """The code-set cache was missing parts or corrupt and has been rebuilt."""


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """Everything the tool knows about one code.

    ``billable`` is true for leaves (ICD-10-CM) and for every procedure code. For a code that
    needs a 7th character, ``requires_7th`` is true and ``seventh_characters`` lists the options.
    """

    code: str
    system: str
    description: str
    billable: bool
    kind: str
    parent: str | None = None
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    requires_7th: bool = False
    seventh_characters: dict[str, str] = field(default_factory=dict)
    category: str = ""
    addon: bool = False
    primary_codes: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()

    def note(self, name: str) -> tuple[str, ...]:
        """One of ``NOTE_FIELDS`` as declared on this code itself (not inherited)."""
        return self.notes.get(name, ())

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "code": self.code,
            "system": self.system,
            "description": self.description,
            "billable": self.billable,
            "kind": self.kind,
            "parent": self.parent,
        }
        if self.system == ICD10CM:
            d["notes"] = {k: list(v) for k, v in self.notes.items()}
            d["requires_7th"] = self.requires_7th
            if self.seventh_characters:
                d["seventh_characters"] = dict(self.seventh_characters)
        else:
            d.update(
                category=self.category,
                addon=self.addon,
                primary_codes=list(self.primary_codes),
            )
        return d


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A code found by ``search``; ``matched`` is the description or term that matched."""

    code: str
    system: str
    description: str
    billable: bool
    score: float
    matched: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "system": self.system,
            "description": self.description,
            "billable": self.billable,
            "score": round(self.score, 4),
            "matched": self.matched,
        }


def normalize_icd(code: str) -> str:
    """Canonical ICD-10-CM spelling: uppercase, dot after the third character."""
    c = code.strip().upper().replace(" ", "")
    if "-" in c or c.isdigit():  # a block (E08-E13) or a chapter number
        return c
    if "." not in c and len(c) > 3:
        c = c[:3] + "." + c[3:]
    return c.rstrip(".")


def looks_like_icd(code: str) -> bool:
    return bool(_ICD_CODE.match(code.strip()))


def looks_like_cpt(code: str) -> bool:
    return bool(_CPT_CODE.match(code.strip()))


def parse_code_refs(text: str) -> list[str]:
    """Codes and ranges named in a tabular note: ``'type 1 diabetes (E10.-)'`` -> ``['E10']``.

    A range ``E00-E07`` is returned as ``'E00-E07'``.
    """
    refs: list[str] = []
    for m in _CODE_REF.finditer(text):
        first, last = m.group(1).upper(), m.group(2)
        refs.append(f"{first}-{last.upper()}" if last else first)
    return refs


def cache_dir() -> Path:
    """Where derived, rebuildable data lives: ``$CODESUGGEST_CACHE_DIR`` or the XDG cache."""
    explicit = os.environ.get("CODESUGGEST_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "codesuggest"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks (model and cache manifests use it)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class CodeSet:
    """One code system: records, hierarchy and fuzzy search."""

    def __init__(
        self,
        version: CodeSetVersion,
        codes: list[str],
        records: Mapping[str, CodeInfo],
        index: SearchIndex,
    ) -> None:
        self.version = version
        self.codes = codes
        self._records = records
        self.index = index

    @property
    def name(self) -> str:
        return self.version.name

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.canonical(code) in self._records

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[CodeInfo]:
        return (self._records[c] for c in self.codes)

    def canonical(self, code: str) -> str:
        """The code as this set spells it (case, dot placement)."""
        return normalize_icd(code) if self.name == ICD10CM else code.strip().upper()

    def get(self, code: str) -> CodeInfo:
        """The record of ``code``; raises ``UnknownCodeError`` for a code not in the set."""
        c = self.canonical(code)
        try:
            return self._records[c]
        except KeyError:
            raise UnknownCodeError(code, self.name, self.version.version) from None

    def find(self, code: str) -> CodeInfo | None:
        """Like ``get`` but ``None`` for an unknown code."""
        return self._records.get(self.canonical(code))

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        pairs = (
            self._records.parent_pairs()
            if isinstance(self._records, _IcdRecords)
            else ((c, self._records[c].parent) for c in self.codes)
        )
        out: dict[str, list[str]] = {}
        for c, p in pairs:
            if p is not None:
                out.setdefault(p, []).append(c)
        return out

    def children(self, code: str) -> list[str]:
        return list(self._children.get(self.get(code).code, ()))

    def ancestors(self, code: str) -> list[str]:
        """Parents up to the chapter, nearest first."""
        out: list[str] = []
        p = self.get(code).parent
        while p is not None:
            out.append(p)
            p = self._records[p].parent
        return out

    def descendants(self, code: str) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self.children(code)))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(reversed(self._children.get(c, ())))
        return out

    def billable_descendants(self, code: str) -> list[str]:
        return [c for c in self.descendants(code) if self._records[c].billable]

    def inherited(self, code: str, name: str) -> list[tuple[str, str]]:
        """A note field from ``code`` and its ancestors, as ``(declared_on, text)`` pairs.

        Excludes, code-first and use-additional notes at a category apply to every code below it.
        """
        out: list[tuple[str, str]] = []
        for c in [self.get(code).code, *self.ancestors(code)]:
            out.extend((c, text) for text in self._records[c].note(name))
        return out

    def in_range(self, code: str, ref: str) -> bool:
        """Whether ``code`` falls under a reference such as ``E10``, ``O24.4`` or ``E00-E07``."""
        c = self.canonical(code).replace(".", "")
        if "-" in ref:
            lo, hi = (r.replace(".", "") for r in ref.split("-", 1))
            return lo <= c[: len(lo)] and c[: len(hi)] <= hi
        return c.startswith(ref.replace(".", ""))

    def search(
        self, query: str, *, limit: int = 10, billable_first: bool = True
    ) -> list[SearchResult]:
        """Fuzzy search over descriptions, inclusion terms and synonyms.

        A query that looks like a code lists that code and its descendants. Billable codes are
        ranked before headers that score about the same.
        """
        query = query.strip()
        if not query:
            raise InputError("The search query is empty: give a description or a code.")
        by_code = self._search_by_code(query, limit)
        if by_code:
            return by_code
        hits = self.index.search(query, limit=limit * 3)
        results = []
        for h in hits:
            rec = self._records[self.codes[h.owner]]
            bonus = 0.05 if (billable_first and rec.billable) else 0.0
            results.append(
                SearchResult(
                    code=rec.code,
                    system=rec.system,
                    description=rec.description,
                    billable=rec.billable,
                    score=min(1.0, h.score + bonus),
                    matched=self.index.texts[h.doc],
                )
            )
        results.sort(key=lambda r: (-round(r.score, 6), not r.billable, len(r.code), r.code))
        return results[:limit]

    def _search_by_code(self, query: str, limit: int) -> list[SearchResult]:
        q = query.replace(" ", "").upper()
        if not (looks_like_icd(q) or looks_like_cpt(q) or re.fullmatch(r"[0-9]{2,5}", q)):
            return []
        key = q.replace(".", "")
        exact = self.find(q)
        matches = [exact.code] if exact else []
        for c in self.codes:
            if c.replace(".", "").startswith(key) and c not in matches:
                matches.append(c)
                if len(matches) >= limit:
                    break
        out = []
        for c in matches:
            rec = self._records[c]
            score = 1.0 if exact and c == exact.code else 0.9
            out.append(SearchResult(c, rec.system, rec.description, rec.billable, score, c))
        return out


# --------------------------------------------------------------------------- ICD-10-CM


def _icd_package_version() -> str:
    try:
        return metadata.version(ICD_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ArtifactError(
            f"The {ICD_PACKAGE} package is not installed; reinstall codesuggest "
            "(pip install codesuggest) to get the ICD-10-CM data."
        ) from exc


def _icd_rows_from_package() -> dict[str, object]:
    """Read every code from simple-icd-10-cm into plain columns (the slow, ~2 s step)."""
    import simple_icd_10_cm as icd

    raw = icd.get_all_codes(True)
    # 39 blocks hold a single category of the same name (B20, C50, Z68...). The package lists
    # the block first; it becomes "B20-B20", the range form of every other block, so that the
    # category is not its own parent.
    counts = Counter(raw)
    seen: set[str] = set()
    codes: list[str] = []
    is_block_twin: list[bool] = []
    for c in raw:
        twin = counts[c] > 1 and c not in seen
        seen.add(c)
        codes.append(f"{c}-{c}" if twin else c)
        is_block_twin.append(twin)
    desc: list[str] = []
    kind: list[int] = []
    parent: list[int] = []
    position = {c: i for i, c in enumerate(codes)}
    notes: dict[str, dict[str, list[str]]] = {}
    seven_defs: dict[str, dict[str, str]] = {}
    seven_of: dict[str, str] = {}
    for c, orig, pb in zip(codes, raw, is_block_twin, strict=True):
        desc.append(icd.get_description(orig, prioritize_blocks=pb))
        if pb:
            k = "section"
        elif icd.is_chapter(orig):
            k = "chapter"
        elif icd.is_category(orig):
            k = "category"
        elif icd.is_block(orig):
            k = "section"
        elif icd.is_extended_subcategory(orig):
            k = "extended subcategory"
        else:
            k = "subcategory"
        kind.append(KINDS.index(k))
        p = icd.get_parent(orig, prioritize_blocks=pb)
        if p == orig or (p and counts[p] > 1 and k == "category"):
            p = f"{p}-{p}"
        parent.append(position[p] if p else -1)
        entry: dict[str, list[str]] = {}
        for name, getter in (
            ("inclusion_terms", icd.get_inclusion_term),
            ("includes", icd.get_includes),
            ("excludes1", icd.get_excludes1),
            ("excludes2", icd.get_excludes2),
        ):
            values = getter(orig, prioritize_blocks=pb)
            if values:
                entry[name] = list(values)
        for name, getter in (
            ("code_first", icd.get_code_first),
            ("use_additional_code", icd.get_use_additional_code),
            ("code_also", icd.get_code_also),
            ("notes", icd.get_notes),
        ):
            text = getter(orig, prioritize_blocks=pb)
            if text:
                entry[name] = [line for line in text.split("\n") if line.strip()]
        if entry:
            notes[c] = entry
        own = icd.get_seven_chr_def(orig, prioritize_blocks=pb)
        if own:
            seven_defs[c] = dict(own)
    for c, pb in zip(codes, is_block_twin, strict=True):
        if not pb and _uses_seventh_character(c, codes, kind, position):
            definer = next(
                (a for a in [c, *icd.get_ancestors(c)] if a in seven_defs),
                None,
            )
            if definer:
                seven_of[c] = definer
    return {
        "codes": codes,
        "desc": desc,
        "kind": kind,
        "parent": parent,
        "notes": notes,
        "seven_defs": seven_defs,
        "seven_of": seven_of,
    }


def _uses_seventh_character(
    c: str, codes: list[str], kind: list[int], position: dict[str, int]
) -> bool:
    """A code whose children are 7th-character extensions, or which is such an extension."""
    import simple_icd_10_cm as icd

    if kind[position[c]] == KINDS.index("extended subcategory"):
        return True
    children = icd.get_children(c)
    return bool(children) and all(
        kind[position[ch]] == KINDS.index("extended subcategory") for ch in children
    )


def _icd_terms(notes: dict[str, list[str]]) -> list[str]:
    """The alternative wordings of a code: inclusion terms and Includes notes."""
    return [*notes.get("inclusion_terms", ()), *notes.get("includes", ())]


def _icd_index_entries(data: dict[str, object]) -> Iterator[tuple[int, str]]:
    codes: list[str] = data["codes"]  # type: ignore[assignment]
    desc: list[str] = data["desc"]  # type: ignore[assignment]
    notes: dict[str, dict[str, list[str]]] = data["notes"]  # type: ignore[assignment]
    kind: list[int] = data["kind"]  # type: ignore[assignment]
    structural = {KINDS.index("chapter"), KINDS.index("section")}
    for i, c in enumerate(codes):
        if kind[i] in structural:
            continue
        yield i, desc[i]
        for term in _icd_terms(notes.get(c, {})):
            yield i, term


class _IcdTexts(Sequence[str]):
    """Index entry texts, derived on access from the records instead of stored twice."""

    def __init__(self, data: dict[str, object], doc_owner: np.ndarray, doc_term: np.ndarray):
        self._desc: list[str] = data["desc"]  # type: ignore[assignment]
        self._codes: list[str] = data["codes"]  # type: ignore[assignment]
        self._notes: dict[str, dict[str, list[str]]] = data["notes"]  # type: ignore[assignment]
        self._owner = doc_owner
        self._term = doc_term

    def __len__(self) -> int:
        return len(self._owner)

    def __getitem__(self, d):  # type: ignore[override]
        owner, term = int(self._owner[d]), int(self._term[d])
        if term < 0:
            return self._desc[owner]
        return _icd_terms(self._notes.get(self._codes[owner], {}))[term]


def _doc_terms(data: dict[str, object], doc_owner: np.ndarray) -> np.ndarray:
    """For each index entry, -1 for the description or the position of the alternative term."""
    out = np.empty(len(doc_owner), dtype=np.int32)
    previous, k = -1, -1
    for d, owner in enumerate(doc_owner.tolist()):
        k = k + 1 if owner == previous else -1
        out[d] = k
        previous = owner
    return out


class _IcdRecords(Mapping[str, CodeInfo]):
    """ICD-10-CM records built on first access from the cached columns.

    Building 98,000 records up front costs more than half a second that most processes,
    which look up a few hundred codes, never need.
    """

    def __init__(self, data: dict[str, object]) -> None:
        self._codes: list[str] = data["codes"]  # type: ignore[assignment]
        self._desc: list[str] = data["desc"]  # type: ignore[assignment]
        self._kind: list[int] = data["kind"]  # type: ignore[assignment]
        self._parent: list[int] = data["parent"]  # type: ignore[assignment]
        self._notes: dict[str, dict[str, list[str]]] = data["notes"]  # type: ignore[assignment]
        self._seven_defs: dict[str, dict[str, str]] = data["seven_defs"]  # type: ignore[assignment]
        self._seven_of: dict[str, str] = data["seven_of"]  # type: ignore[assignment]
        self._position = {c: i for i, c in enumerate(self._codes)}
        has_child = np.zeros(len(self._codes), dtype=bool)
        parents = np.asarray(self._parent)
        has_child[parents[parents >= 0]] = True
        structural = np.isin(
            np.asarray(self._kind), [KINDS.index("chapter"), KINDS.index("section")]
        )
        self._billable = ~has_child & ~structural
        self._built: dict[str, CodeInfo] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __contains__(self, code: object) -> bool:
        return code in self._position

    def __getitem__(self, code: str) -> CodeInfo:
        rec = self._built.get(code)
        if rec is not None:
            return rec
        i = self._position[code]
        kind = KINDS[self._kind[i]]
        definer = self._seven_of.get(code)
        needs = definer is not None and kind != "extended subcategory"
        rec = CodeInfo(
            code=code,
            system=ICD10CM,
            description=self._desc[i],
            billable=bool(self._billable[i]),
            kind=kind,
            parent=self._codes[self._parent[i]] if self._parent[i] >= 0 else None,
            notes={k: tuple(v) for k, v in self._notes.get(code, {}).items()},
            requires_7th=needs,
            seventh_characters=dict(self._seven_defs[definer]) if needs and definer else {},
        )
        self._built[code] = rec
        return rec

    def parent_pairs(self) -> Iterator[tuple[str, str | None]]:
        """``(code, parent)`` for every code, without building records."""
        for c, p in zip(self._codes, self._parent, strict=True):
            yield c, self._codes[p] if p >= 0 else None


def _cache_paths(version: str) -> tuple[Path, Path, Path]:
    stem = f"icd10cm-{version}-f{CACHE_FORMAT}"
    d = cache_dir()
    return d / f"{stem}.json", d / f"{stem}.npz", d / f"{stem}.sha256.json"


def _write_icd_cache(data: dict[str, object], index: SearchIndex, version: str) -> None:
    records_path, index_path, manifest_path = _cache_paths(version)
    records_path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(data, format=CACHE_FORMAT, package=ICD_PACKAGE, package_version=version)
    tmp_records = records_path.with_suffix(".json.tmp")
    tmp_index = index_path.with_suffix(".tmp.npz")
    tmp_records.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")
    doc_term = _doc_terms(data, index.doc_owner)
    np.savez(tmp_index, **index.arrays(), doc_term=doc_term, vocab=np.asarray(index.vocab))
    manifest = {
        "format": CACHE_FORMAT,
        "package_version": version,
        records_path.name: sha256_file(tmp_records),
        index_path.name: sha256_file(tmp_index),
    }
    os.replace(tmp_records, records_path)
    os.replace(tmp_index, index_path)
    tmp_manifest = manifest_path.with_suffix(".tmp")
    tmp_manifest.write_text(json.dumps(manifest), encoding="utf-8")
    os.replace(tmp_manifest, manifest_path)


def _read_icd_cache(version: str) -> tuple[dict[str, object], SearchIndex] | None:
    """The cached code set, ``None`` when absent; raises ``ArtifactError`` when corrupt."""
    records_path, index_path, manifest_path = _cache_paths(version)
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for path in (records_path, index_path):
            if manifest.get(path.name) != sha256_file(path):
                raise ArtifactError(f"{path} does not match its sha256 manifest")
        data = json.loads(records_path.read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT or data.get("package_version") != version:
            raise ArtifactError(f"{records_path} was built for another version")
        n = len(data["codes"])
        if not (len(data["desc"]) == len(data["kind"]) == len(data["parent"]) == n):
            raise ArtifactError(f"{records_path} has columns of different lengths")
        with np.load(index_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        vocab = arrays.pop("vocab").tolist()
        doc_term = arrays.pop("doc_term")
        owners = arrays["doc_owner"]
        if len(doc_term) != len(owners) or (len(owners) and int(owners.max()) >= n):
            raise ArtifactError(f"{index_path} does not fit {records_path}")
        index = SearchIndex(vocab=vocab, texts=_IcdTexts(data, owners, doc_term), **arrays)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"code-set cache in {records_path.parent} is unreadable: {exc}"
        ) from exc
    return data, index


@cache
def load_icd10cm() -> CodeSet:
    """ICD-10-CM FY2026, from the cache when it is valid (built on first use)."""
    version = _icd_package_version()
    try:
        cached = _read_icd_cache(version)
    except ArtifactError as exc:
        warnings.warn(f"Rebuilding the ICD-10-CM cache: {exc}", CacheRebuiltWarning, stacklevel=2)
        cached = None
    if cached is None:
        log.info("building the ICD-10-CM cache (one time, a few seconds)")
        data = _icd_rows_from_package()
        index = SearchIndex.build(_icd_index_entries(data))
        index.texts = _IcdTexts(data, index.doc_owner, _doc_terms(data, index.doc_owner))
        try:
            _write_icd_cache(data, index, version)
        except OSError as exc:
            log.warning("could not write the ICD-10-CM cache to %s: %s", cache_dir(), exc)
    else:
        data, index = cached
    records = _IcdRecords(data)
    detail = f"{ICD_VERSION.detail} ({ICD_PACKAGE} {version})"
    version_info = CodeSetVersion(ICD10CM, ICD_VERSION.version, detail)
    return CodeSet(version_info, data["codes"], records, index)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CPT / HCPCS


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


def load_hcpcs_file(path: str | os.PathLike[str], *, version: str) -> CodeSet:
    """The CMS HCPCS Level II file.

    Accepted layouts: the fixed-width ``HCPC<year>_<month>_ANWEB.txt`` (code in columns 1-5,
    record id in column 11 where 3 starts a code and 4 continues its long description, long
    description in columns 12-91), or a CSV export with ``HCPC`` and ``LONG DESCRIPTION``
    columns.
    """
    p = Path(path)
    text = _read_text(p, "HCPCS file")
    first = text.lstrip()[:200].upper()
    if "HCPC" in first and ("," in first or "\t" in first):
        return _procedure_set(
            CodeSetVersion(HCPCS, version, p.name), _cpt_rows(text, str(p), HCPCS)
        )
    descriptions: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) < 12:
            raise InputError(f"{p} line {n}: too short for the HCPCS fixed-width layout.")
        code, rec = line[:5].strip().upper(), line[10]
        if rec not in "3478":
            raise InputError(f"{p} line {n}: record id {rec!r} is not 3, 4, 7 or 8.")
        if rec in "78":
            continue  # modifiers, not codes
        if not looks_like_cpt(code):
            raise InputError(f"{p} line {n}: {code!r} is not a HCPCS code.")
        part = line[11:91].strip()
        descriptions[code] = (
            f"{descriptions[code]} {part}" if rec == "4" and code in descriptions else part
        )
    if not descriptions:
        raise InputError(f"{p} has no HCPCS codes.")
    rows = [
        CodeInfo(code=c, system=HCPCS, description=d, billable=True, kind="procedure")
        for c, d in descriptions.items()
    ]
    return _procedure_set(CodeSetVersion(HCPCS, version, p.name), rows)


# --------------------------------------------------------------------------- facade


class Codebook:
    """All code sets in use, searched and looked up together."""

    def __init__(self, sets: Iterable[CodeSet]) -> None:
        self.sets: dict[str, CodeSet] = {s.name: s for s in sets}

    @property
    def icd(self) -> CodeSet:
        return self.sets[ICD10CM]

    @property
    def cpt(self) -> CodeSet:
        return self.sets[CPT]

    def versions(self) -> dict[str, str]:
        """``{"ICD-10-CM": "2026", "CPT": ...}``: what travels with every output."""
        return {name: s.version.version for name, s in self.sets.items()}

    def system_of(self, code: str) -> str | None:
        """Which set holds ``code`` (ICD-10-CM first for codes both could spell)."""
        for s in self.sets.values():
            if code in s:
                return s.name
        return None

    def get(self, code: str, system: str | None = None) -> CodeInfo:
        if system is not None:
            return self._set(system).get(code)
        for s in self.sets.values():
            rec = s.find(code)
            if rec is not None:
                return rec
        versions = ", ".join(str(s.version) for s in self.sets.values())
        raise UnknownCodeError(code, "any code set in use", f"({versions})")

    def find(self, code: str, system: str | None = None) -> CodeInfo | None:
        try:
            return self.get(code, system)
        except UnknownCodeError:
            return None

    def _set(self, system: str) -> CodeSet:
        for name, s in self.sets.items():
            if name.lower() == system.lower():
                return s
        raise InputError(f"Unknown code system {system!r}; choose one of {sorted(self.sets)}.")

    def search(
        self, query: str, *, system: str | None = None, limit: int = 10
    ) -> list[SearchResult]:
        """Fuzzy search in one system, or in all of them merged by score."""
        if not query.strip():
            raise InputError("The search query is empty: give a description or a code.")
        sets = [self._set(system)] if system else list(self.sets.values())
        results: list[SearchResult] = []
        for s in sets:
            results.extend(s.search(query, limit=limit))
        results.sort(key=lambda r: (-round(r.score, 6), not r.billable, len(r.code)))
        return results[:limit]


def default_codebook(
    cpt_file: str | None = None,
    cpt_version: str | None = None,
    hcpcs_file: str | None = None,
    hcpcs_version: str | None = None,
) -> Codebook:
    """The code sets a process uses, loaded once and shared.

    The licensed CPT and HCPCS files default to ``$CODESUGGEST_CPT_FILE`` and
    ``$CODESUGGEST_HCPCS_FILE`` when set.
    """
    cpt_file = cpt_file or os.environ.get("CODESUGGEST_CPT_FILE") or None
    hcpcs_file = hcpcs_file or os.environ.get("CODESUGGEST_HCPCS_FILE") or None
    return _codebook(cpt_file, cpt_version, hcpcs_file, hcpcs_version)


@cache
def _codebook(
    cpt_file: str | None,
    cpt_version: str | None,
    hcpcs_file: str | None,
    hcpcs_version: str | None,
) -> Codebook:
    sets = [load_icd10cm()]
    if cpt_file:
        sets.append(load_cpt_file(cpt_file, version=cpt_version or Path(cpt_file).stem))
    else:
        sets.append(load_cpt_subset())
    if hcpcs_file:
        sets.append(load_hcpcs_file(hcpcs_file, version=hcpcs_version or Path(hcpcs_file).stem))
    return Codebook(sets)
