"""``CandidateBuilder``: the candidate codes of a note, with their features and evidence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from codesuggest.codebook.book import Codebook
from codesuggest.codebook.hierarchy import specify
from codesuggest.codebook.index import AlphabeticIndex, IndexHit
from codesuggest.core.codes import parse_code_refs
from codesuggest.core.records import CPT, ICD10CM, Candidate, Evidence, Exclusion, Term
from codesuggest.rank.document_model import DocScores
from codesuggest.rank.features import (
    FEATURES,
    PRIORITY_SECTIONS,
    _note_token_set,
    _weighted_share,
    description_weights,
)
from codesuggest.rank.priors import Priors, best_share, term_key


@dataclass(slots=True)
class CandidateSet:
    """Candidates of one note, with what was found but deliberately not suggested."""

    candidates: list[Candidate]
    excluded: list[Exclusion]


# Keys of ``Candidate.features`` that the selection reads but the ranker does not: the code is
# what a documented term reads as (the Index's code, else the vocabulary's), or it is folded
# into a combination code another term reached through the Index's "with" subterms.
PRIMARY = "primary_of_term"
# Term labels the vocabulary reads better than the Index (a drug is a Z79 class, not a disease).
_NOT_INDEXED = frozenset({"status", "procedure", "procedure_history", "drug", "medication"})
ABSORBED = "absorbed_by_combination"


_COUNTED_AS_PRESENT = {"present"}


class CandidateBuilder:
    """Turns terms and document-model scores into featured candidates for one note."""

    def __init__(
        self,
        codebook: Codebook,
        priors: Priors,
        *,
        doc_top_k: int = 25,
        doc_min_score: float = 0.02,
        alternatives: int = 0,
        search_k: int = 0,
        historical: bool = False,
        assoc_min: float = 0.0,
        assoc_k: int = 3,
        index: AlphabeticIndex | None = None,
    ) -> None:
        self.codebook = codebook
        self.index = index
        self.priors = priors
        self.doc_top_k = doc_top_k
        self.doc_min_score = doc_min_score
        self.alternatives = alternatives
        self.search_k = search_k
        self.historical = historical
        self.assoc_min = assoc_min
        self.assoc_k = assoc_k
        self._searched: dict[str, list[tuple[str, float]]] = {}
        self._description_words: dict[tuple[str, str], dict[str, float]] = {}

    def build(
        self,
        text: str,
        terms: Sequence[Term],
        doc_scores: DocScores | dict[str, tuple[float, float]],
        *,
        setting: str = "outpatient",
    ) -> CandidateSet:
        """Candidates from present terms (made specific) and from the document model."""
        icd = self.codebook.icd
        by_code: dict[tuple[str, str], Candidate] = {}
        excluded: list[Exclusion] = []
        blocked: set[str] = set()
        n_chars = max(len(text), 1)
        coded_as_present = set(_COUNTED_AS_PRESENT)
        if setting == "inpatient":
            coded_as_present.add("uncertain")

        keys: set[str] = set()
        historical: dict[tuple[str, str], int] = {}
        associated: list[tuple[float, int, Term, str]] = []
        documented = [
            t for t in terms if t.codes and t.system == ICD10CM and t.assertion == "present"
        ]
        combinations: list[tuple[str, str]] = []
        for term in terms:
            hit = self._index_hit(term, text, documented)
            if not term.codes and hit is None:
                continue
            kept = _keeps(term, coded_as_present, self.historical)
            if not kept:
                reason = term.assertion
                if term.assertion == "uncertain":
                    reason = "uncertain (outpatient: code the documented symptoms instead)"
                excluded.append(
                    Exclusion(term.text, term.start, term.end, reason, tuple(term.codes[:3]))
                )
                blocked.update(term.codes[:1])
                if hit is not None:
                    blocked.add(hit.code.rstrip("-"))
                continue
            system = term.system if term.system in self.codebook.sets else ICD10CM
            key = term_key(term)
            keys.add(key)
            for position, (code, weight) in enumerate(self._term_codes(term, system, hit)):
                added = self._add_mention(
                    by_code, term, system, code, weight, n_chars, hit if position == 0 else None
                )
                if added and position == 0:
                    by_code[added].features[PRIMARY] = 1.0
                    if hit is not None and hit.linked:
                        combinations.append((added[1], hit.linked))
                if added and term.assertion == "historical":
                    historical[added] = historical.get(added, 0) + 1
            if self.assoc_min > 0 and system == ICD10CM:
                for gold, share in self.priors.associations(key)[: self.assoc_k]:
                    if share < self.assoc_min:
                        break
                    if icd.find(gold) is not None:
                        code = specify(icd, gold, term.attributes).code
                        associated.append((share, len(associated), term, code))
        # After every lookup, so that a code a term names keeps that term as its evidence, and
        # a code known only by association shows the term most strongly tied to it.
        for share, _, term, code in sorted(associated, key=lambda a: (-a[0], a[1])):
            self._add_association(by_code, term, code, share, n_chars)

        if not isinstance(doc_scores, DocScores):
            doc_scores = DocScores.from_dict(doc_scores)
        for code, knn, centroid in doc_scores.ranked(self.doc_top_k):
            if max(knn, centroid) < self.doc_min_score:
                break
            system = CPT if code in self.codebook.cpt and code not in icd else ICD10CM
            if code in blocked and (system, code) not in by_code:
                continue
            rec = self.codebook.find(code, system)
            if rec is None:
                continue
            if system == ICD10CM and not rec.billable:
                code = specify(icd, code, {}).code
            if (system, code) not in by_code:
                cand = Candidate(code=code, system=system)
                cand.features = dict.fromkeys(FEATURES, 0.0)
                cand.features["first_position"] = 1.0
                cand.features["is_doc_only"] = 1.0
                by_code[(system, code)] = cand

        self._absorb(by_code, combinations)
        note_tokens = _note_token_set(text)
        shares = self.priors.note_associations(keys)
        for (system, code), cand in by_code.items():
            f = cand.features
            knn, centroid = doc_scores.get(code)
            f["classifier"] = centroid
            f["knn"] = knn
            if knn or centroid:
                cand.sources["classifier"] = max(knn, centroid)
            f["prior"] = self.priors.code(code)
            f["category_prior"] = self.priors.category(code)
            f["seen_in_training"] = float(code in self.priors.code_counts)
            f["description_overlap"] = self._description_overlap(system, code, note_tokens)
            f["specificity"] = len(code.replace(".", "")) / 7.0
            rec = self.codebook.find(code, system)
            f["billable"] = float(bool(rec and rec.billable))
            f["uncertain_only"] = float(f["mentions"] > 0 and f["present_mentions"] == 0)
            f["symptom_code"] = float(system == ICD10CM and code.startswith("R"))
            f["procedure"] = float(system != ICD10CM)
            f["historical_only"] = float(
                f["mentions"] > 0 and historical.get((system, code), 0) >= f["mentions"]
            )
            f["mentions"] = math.log1p(f["mentions"])
            f["present_mentions"] = math.log1p(f["present_mentions"])
            if system == ICD10CM:
                f["lookup_hit_rate"], f["lookup_seen"] = self.priors.lookup_rate(code)
                f["association"] = max(f["association"], best_share(shares, code))
            rank = doc_scores.rank(code)
            f["doc_rank"] = 1.0 / (1.0 + rank) if rank is not None else 0.0
        return CandidateSet(list(by_code.values()), excluded)

    def _index_hit(self, term: Term, text: str, documented: Sequence[Term]) -> IndexHit | None:
        """Where the Alphabetic Index leads for a term, read with its sentence and the note's
        other documented conditions (for "with" subterms).

        Drugs and status phrases are read through the vocabulary (drug -> Z79 class), not the
        Index, whose main terms are conditions.
        """
        if self.index is None or term.system != ICD10CM or term.label in _NOT_INDEXED:
            return None
        sentence = text[term.sentence_start : term.sentence_end] if term.sentence_end else ""
        others = [t.text for t in documented if t.end <= term.start or t.start >= term.end]
        hit = self.index.lookup(term.text, sentence, others)
        if hit is None or self.codebook.icd.find(hit.code.rstrip("-")) is None:
            return None
        return hit

    def _absorb(
        self, by_code: dict[tuple[str, str], Candidate], combinations: list[tuple[str, str]]
    ) -> None:
        """Mark the codes a combination code already says, unless its Tabular note asks for
        them as an additional code (E11.22 keeps N18.31; E11.42 absorbs G62.9)."""
        icd = self.codebook.icd
        combos = {combo for combo, _ in combinations}
        for combo, partner in combinations:
            refs = [
                ref
                for name in ("use_additional_code", "code_also")
                for _, note in icd.inherited(combo, name)
                for ref in parse_code_refs(note)
            ]
            for (system, code), cand in by_code.items():
                if system != ICD10CM or code in combos or not cand.features.get(PRIMARY):
                    continue
                if not any(e.text.lower() == partner.lower() for e in cand.evidence):
                    continue
                if any(icd.in_range(code, ref) for ref in refs):
                    continue
                cand.features[ABSORBED] = 1.0
                cand.note = f"Included in {combo} (Index 'with' convention, guideline I.A.15)."

    def _term_codes(self, term: Term, system: str, hit: IndexHit | None) -> list[tuple[str, float]]:
        """Codes a present term stands for, each with how much to trust the reading.

        The Alphabetic Index's code comes first when the Index has the term; then the
        vocabulary entry's own code (weight 1); with ``alternatives`` its other codes follow,
        and with ``search_k`` the best fuzzy matches of the term's words in the code set, so
        that wording the vocabulary lacks still reaches the ranker.
        """
        out: list[tuple[str, float]] = [(hit.code.rstrip("-"), 1.0)] if hit else []
        if not term.codes:
            return out
        out.append((term.codes[0], 1.0))
        out += [(c, 0.8) for c in term.codes[1 : 1 + self.alternatives]]
        if self.search_k and system == ICD10CM and len(term.text) > 3:
            out += self._search(term.expansion or term.text)
        seen: set[str] = set()
        return [(c, w) for c, w in out if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]

    def _search(self, words: str) -> list[tuple[str, float]]:
        """Code-set search for a term's words, memoised: the same terms recur in every note."""
        key = words.lower()
        hits = self._searched.get(key)
        if hits is None:
            if len(self._searched) > 50_000:
                self._searched.clear()
            hits = [
                (r.code, 0.7 * r.score)
                for r in self.codebook.icd.search(words, limit=self.search_k)
            ]
            self._searched[key] = hits
        return hits

    def _description_overlap(self, system: str, code: str, note_tokens: set[str]) -> float:
        """``description_overlap`` with each code's weighted words worked out once."""
        words = self._description_words.get((system, code))
        if words is None:
            if len(self._description_words) > 100_000:
                self._description_words.clear()
            words = description_weights(self.codebook.sets[system], code)
            self._description_words[(system, code)] = words
        return _weighted_share(words, note_tokens)

    def _add_association(
        self,
        by_code: dict[tuple[str, str], Candidate],
        term: Term,
        code: str,
        share: float,
        n_chars: int,
    ) -> None:
        """A code coders assigned alongside this term in the training notes."""
        key = (ICD10CM, code)
        cand = by_code.get(key)
        if cand is None:
            cand = Candidate(code=code, system=ICD10CM)
            cand.features = dict.fromkeys(FEATURES, 0.0)
            cand.features["first_position"] = term.start / n_chars
            by_code[key] = cand
        cand.features["association"] = max(cand.features["association"], share)
        cand.sources["association"] = max(cand.sources.get("association", 0.0), share)
        if not cand.evidence:
            cand.evidence.append(
                Evidence(term.start, term.end, term.text, term.section, term.assertion)
            )

    def _add_mention(
        self,
        by_code: dict[tuple[str, str], Candidate],
        term: Term,
        system: str,
        first: str,
        weight: float,
        n_chars: int,
        hit: IndexHit | None = None,
    ) -> tuple[str, str] | None:
        icd = self.codebook.icd
        if system == ICD10CM:
            spec = specify(icd, first, term.attributes)
            code, by_attr, missing = spec.code, spec.by_attributes, spec.missing
        else:
            code, by_attr, missing = first, False, []
        if self.codebook.find(code, system) is None:
            return None
        cand = by_code.get((system, code))
        if cand is None:
            cand = Candidate(code=code, system=system)
            cand.features = dict.fromkeys(FEATURES, 0.0)
            cand.features["first_position"] = term.start / n_chars
            by_code[(system, code)] = cand
        f = cand.features
        score = term.match_score * weight
        f["mentions"] += 1
        if term.assertion == "present":
            f["present_mentions"] += 1
        f["lookup_score"] = max(f["lookup_score"], score)
        f["lookup_exact"] = max(f["lookup_exact"], float(score >= 0.999))
        f["priority_section"] = max(f["priority_section"], float(term.section in PRIORITY_SECTIONS))
        f["from_dictionary"] = max(f["from_dictionary"], float(term.source == "dictionary"))
        f["from_codeset"] = max(f["from_codeset"], float(term.source != "dictionary"))
        f["specified_by_attributes"] = max(f["specified_by_attributes"], float(by_attr))
        cand.sources["lookup"] = max(cand.sources.get("lookup", 0.0), score)
        if not any(e.start == term.start and e.end == term.end for e in cand.evidence):
            cand.evidence.append(
                Evidence(term.start, term.end, term.text, term.section, term.assertion)
            )
        if hit is not None:
            cand.sources["index"] = 1.0
            if "Index:" not in cand.note:
                cand.note = " ".join(x for x in (hit.describe() + ".", cand.note) if x)
        if missing and "Unspecified code" not in cand.note:
            detail = "Unspecified code: the note does not document " + "; ".join(missing)
            cand.note = " ".join(x for x in (cand.note, detail) if x)
        return (system, code)


def _keeps(term: Term, coded_as_present: set[str], historical: bool = False) -> bool:
    """Whether a term's assertion lets its code be suggested.

    Historical mentions are kept for history and status codes (Z87.891, Z90.49, I25.2), which
    describe the past on purpose; with ``historical`` every historical mention is a candidate
    (chronic conditions "with a history of" are still coded), flagged ``historical_only`` for
    the ranker and shown with its ``historical`` assertion.
    """
    if term.assertion in coded_as_present:
        return True
    if term.assertion == "historical":
        if historical:
            return True
        first = term.codes[0] if term.codes else ""
        return term.label in {"status", "procedure_history"} or first.startswith(
            ("Z8", "Z9", "I25.2")
        )
    return False
