"""ICD-10-CM FY2026 Tabular from ``simple-icd-10-cm``, with a verified on-disk cache."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from codesuggest.codebook.codeset import KINDS, CodeInfo, CodeSet
from codesuggest.codebook.search import SearchIndex
from codesuggest.core.cache import CacheRebuiltWarning, cache_dir, sha256_file
from codesuggest.core.errors import ArtifactError
from codesuggest.core.records import ICD10CM, CodeSetVersion

log = logging.getLogger(__name__)


CACHE_FORMAT = 2


ICD_PACKAGE = "simple-icd-10-cm"


ICD_VERSION = CodeSetVersion(ICD10CM, "2026", "FY2026 CMS tabular list, April 1, 2026 update")


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
    counts = Counter(raw)
    codes, is_block_twin = _block_twins(raw, counts)
    desc: list[str] = []
    kind: list[int] = []
    parent: list[int] = []
    position = {c: i for i, c in enumerate(codes)}
    notes: dict[str, dict[str, list[str]]] = {}
    seven_defs: dict[str, dict[str, str]] = {}
    for c, orig, pb in zip(codes, raw, is_block_twin, strict=True):
        desc.append(icd.get_description(orig, prioritize_blocks=pb))
        k = _kind_of(orig, pb)
        kind.append(KINDS.index(k))
        p = icd.get_parent(orig, prioritize_blocks=pb)
        # A block twin's category hangs from the renamed block, never from itself.
        if p == orig or (p and counts[p] > 1 and k == "category"):
            p = f"{p}-{p}"
        parent.append(position[p] if p else -1)
        entry = _notes_of(orig, pb)
        if entry:
            notes[c] = entry
        own = icd.get_seven_chr_def(orig, prioritize_blocks=pb)
        if own:
            seven_defs[c] = dict(own)
    return {
        "codes": codes,
        "desc": desc,
        "kind": kind,
        "parent": parent,
        "notes": notes,
        "seven_defs": seven_defs,
        "seven_of": _seven_of(codes, is_block_twin, kind, position, seven_defs),
    }


def _block_twins(raw: list[str], counts: Counter[str]) -> tuple[list[str], list[bool]]:
    """The codes with each block twin renamed, and which positions are block twins.

    39 blocks hold a single category of the same name (B20, C50, Z68...). The package lists
    the block first; it becomes "B20-B20", the range form of every other block, so that the
    category is not its own parent.
    """
    seen: set[str] = set()
    codes: list[str] = []
    is_block_twin: list[bool] = []
    for c in raw:
        twin = counts[c] > 1 and c not in seen
        seen.add(c)
        codes.append(f"{c}-{c}" if twin else c)
        is_block_twin.append(twin)
    return codes, is_block_twin


def _kind_of(orig: str, block_twin: bool) -> str:
    """One of ``KINDS`` for a package code (a block twin is a section)."""
    import simple_icd_10_cm as icd

    if block_twin:
        return "section"
    if icd.is_chapter(orig):
        return "chapter"
    if icd.is_category(orig):
        return "category"
    if icd.is_block(orig):
        return "section"
    if icd.is_extended_subcategory(orig):
        return "extended subcategory"
    return "subcategory"


def _notes_of(orig: str, block_twin: bool) -> dict[str, list[str]]:
    """The code's own Tabular notes by ``NOTE_FIELDS`` name, blank lines dropped."""
    import simple_icd_10_cm as icd

    entry: dict[str, list[str]] = {}
    # The excludes and inclusion getters return a list of lines...
    for name, getter in (
        ("inclusion_terms", icd.get_inclusion_term),
        ("includes", icd.get_includes),
        ("excludes1", icd.get_excludes1),
        ("excludes2", icd.get_excludes2),
    ):
        values = getter(orig, prioritize_blocks=block_twin)
        if values:
            entry[name] = list(values)
    # ...the instruction getters one text with a line per instruction.
    for name, getter in (
        ("code_first", icd.get_code_first),
        ("use_additional_code", icd.get_use_additional_code),
        ("code_also", icd.get_code_also),
        ("notes", icd.get_notes),
    ):
        text = getter(orig, prioritize_blocks=block_twin)
        if text:
            entry[name] = [line for line in text.split("\n") if line.strip()]
    return entry


def _seven_of(
    codes: list[str],
    is_block_twin: list[bool],
    kind: list[int],
    position: dict[str, int],
    seven_defs: dict[str, dict[str, str]],
) -> dict[str, str]:
    """For each code that takes a 7th character, the ancestor that defines the options."""
    import simple_icd_10_cm as icd

    seven_of: dict[str, str] = {}
    for c, pb in zip(codes, is_block_twin, strict=True):
        if not pb and _uses_seventh_character(c, codes, kind, position):
            definer = next(
                (a for a in [c, *icd.get_ancestors(c)] if a in seven_defs),
                None,
            )
            if definer:
                seven_of[c] = definer
    return seven_of


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
