"""``Codebook``: the code sets of one run (ICD-10-CM, CPT, HCPCS) behind one lookup and search."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from codesuggest.codebook.codeset import CodeInfo, CodeSet, SearchResult
from codesuggest.codebook.cpt import load_cpt_file, load_cpt_subset
from codesuggest.codebook.hcpcs import load_hcpcs_file, load_hcpcs_table
from codesuggest.codebook.icd10cm import load_icd10cm
from codesuggest.codebook.index_search import index_results
from codesuggest.core.codes import looks_like_icd, split_claim_code
from codesuggest.core.errors import InputError, UnknownCodeError
from codesuggest.core.records import CPT, ICD10CM


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
        self, query: str, *, system: str | None = None, limit: int = 10, index: bool = True
    ) -> list[SearchResult]:
        """Search one system, or all of them merged by score. With ``index``, a condition
        written in words is first looked up as a coder does (Alphabetic Index, then Tabular:
        ``codebook.index_search``), and those codes lead."""
        if not query.strip():
            raise InputError("The search query is empty: give a description or a code.")
        claim = split_claim_code(query)
        if claim is not None:  # "99213-25", "J3301*4": the code is what is searched for
            query = claim[0]
        # A dotted code is an ICD-10-CM spelling: E11.6 means E11.6-, not the HCPCS E1160.
        icd_first = "." in query and looks_like_icd(query)
        sets = [self._set(system)] if system else list(self.sets.values())
        results: list[SearchResult] = []
        for s in sets:
            results.extend(s.search(query, limit=limit))
        walked = index_results(self.icd, query) if self.icd in sets and index else []
        results.sort(
            key=lambda r: (
                icd_first and r.system != ICD10CM,
                -round(r.score, 6),
                not r.billable,
                len(r.code),
            )
        )
        # The Index's reading leads, as a coder's lookup does; the fuzzy matches follow.
        first = {r.code for r in walked}
        return [*walked, *(r for r in results if r.code not in first)][:limit]


def default_codebook(
    cpt_file: str | None = None,
    cpt_version: str | None = None,
    hcpcs_file: str | None = None,
    hcpcs_version: str | None = None,
) -> Codebook:
    """The code sets a process uses, loaded once and shared.

    The licensed CPT and HCPCS files default to ``$CODESUGGEST_CPT_FILE`` and
    ``$CODESUGGEST_HCPCS_FILE`` when set; without a HCPCS file the shipped CMS table is used.
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
    else:
        sets.append(load_hcpcs_table())
    return Codebook(sets)
