"""``CandidateBuilder``: the candidate codes of a note, with their features and evidence."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TypeVar

from codesuggest.codebook.book import Codebook
from codesuggest.codebook.hierarchy import (
    SEX_WORDS,
    Specified,
    names_no_site,
    sided_code,
    specify,
)
from codesuggest.codebook.history import load_history
from codesuggest.codebook.index import AlphabeticIndex, IndexHit, words_of
from codesuggest.core.codes import is_history_code, parse_code_refs
from codesuggest.core.records import (
    ASSESSMENT_SECTIONS,
    CPT,
    ICD10CM,
    PROBLEM_LABEL,
    Candidate,
    Evidence,
    Exclusion,
    Term,
)
from codesuggest.rank.adverse_effects import ADVERSE_LABEL, adverse_effect_terms
from codesuggest.rank.document_model import DocScores
from codesuggest.rank.external_causes import EXTERNAL_LABEL, external_cause_terms
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
# The label of a term that is a condition's history code (family or personal).
HISTORY_LABEL = "history"
# Terms whose code a coder read from a table and whose path is already the term's source.
_TABLE_LABELS = frozenset({HISTORY_LABEL, ADVERSE_LABEL, EXTERNAL_LABEL})
_HISTORY_KINDS = {"family": "family", "historical": "personal"}
# A "with" link holds when the combination code's title says this share of the partner.
MIN_PARTNER_SHARE = 0.5
# A problem statement is read through the Index only when its path uses this share of the
# statement's words.
MIN_STATEMENT_COVERAGE = 0.5
# The Index reads a term with the words around it and the note's other conditions; a note
# of one endless sentence or thousands of conditions must not make that quadratic. Real
# sentences and problem lists are far shorter than either bound.
CONTEXT_CHARS = 250
LINKED_TERMS = 50
# Term labels the vocabulary reads better than the Index (a drug is a Z79 class, not a disease).
_NOT_INDEXED = frozenset({"status", "procedure", "procedure_history", "drug", "medication"})
ABSORBED = "absorbed_by_combination"


_COUNTED_AS_PRESENT = {"present"}
# Memo sizes (entries): distinct term wordings searched, and codes whose description words
# were weighed; least recently used entries go first.
_SEARCH_CACHE = 50_000
_DESCRIPTION_CACHE = 100_000
# A note names the same conditions with the same details and context again and again (a
# pasted-in note, a problem list repeated daily): Index lookups, specific codes and a term's
# associations are remembered too.
_LOOKUP_CACHE = 10_000
_SPECIFY_CACHE = 50_000


@dataclass(slots=True)
class _NoteCandidates:
    """What ``CandidateBuilder.build`` gathers while it reads one note's terms."""

    n_chars: int
    by_code: dict[tuple[str, str], Candidate] = field(default_factory=dict)
    excluded: list[Exclusion] = field(default_factory=list)
    # Codes of excluded mentions: the document model may not bring them back on its own.
    blocked: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    # How many of a candidate's mentions are historical.
    historical: dict[tuple[str, str], int] = field(default_factory=dict)
    associated: list[tuple[float, int, Term, str]] = field(default_factory=list)
    # The note with the words of conditions it does not say the patient has blanked: what
    # subterms are read from (see ``_index_hit``).
    context_text: str = ""
    # (combination code, the documented condition its Index "with" subterm linked).
    combinations: list[tuple[str, str]] = field(default_factory=list)
    # By Index code, the sides uncertain mentions give a condition (words -> side).
    sides: dict[str, dict[str, str]] = field(default_factory=dict)
    # By Index code, where the note says the condition is ("located in the proximal right
    # ureter" -> the Index's reading of that site).
    sites: dict[str, dict[str, IndexHit]] = field(default_factory=dict)

    def exclude(self, term: Term, hit: IndexHit | None) -> None:
        """Record a mention that must not be coded, and block its codes."""
        reason = term.assertion
        if term.assertion == "uncertain":
            reason = "uncertain (outpatient: code the documented symptoms instead)"
        self.excluded.append(
            Exclusion(term.text, term.start, term.end, reason, tuple(term.codes[:3]))
        )
        self.blocked.update(term.codes[:1])
        if hit is not None:
            self.blocked.add(hit.code.rstrip("-"))


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
        self.history = load_history()
        # Per build: a bilateral line's code -> the other side's line (see _add_mention).
        self._other_side: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self.priors = priors
        self.doc_top_k = doc_top_k
        self.doc_min_score = doc_min_score
        self.alternatives = alternatives
        self.search_k = search_k
        self.historical = historical
        self.assoc_min = assoc_min
        self.assoc_k = assoc_k
        # Per builder, not on the class: a class-level cache keyed by ``self`` would keep every
        # builder (and its codebook) alive for the life of the process.
        self._searched = lru_cache(maxsize=_SEARCH_CACHE)(self._search_codeset)
        self._description_words = lru_cache(maxsize=_DESCRIPTION_CACHE)(self._weights_of)
        self._looked_up = lru_cache(maxsize=_LOOKUP_CACHE)(self._lookup)
        self._specified = lru_cache(maxsize=_SPECIFY_CACHE)(self._specify_items)
        self._strongest = lru_cache(maxsize=_SEARCH_CACHE)(self._strongest_associations)
        self._evidence_spans: set[tuple[str, str, int, int]] = set()
        self._sex: str | None = None

    def build(
        self,
        text: str,
        terms: Sequence[Term],
        doc_scores: DocScores | dict[str, tuple[float, float]],
        *,
        setting: str = "outpatient",
        sex: str | None = None,
    ) -> CandidateSet:
        """Candidates from present terms (made specific) and from the document model.

        ``sex`` (F / M) completes codes the Tabular splits by sex (breast C50.-).
        """
        if not isinstance(doc_scores, DocScores):
            doc_scores = DocScores.from_dict(doc_scores)
        note = _NoteCandidates(n_chars=max(len(text), 1))
        coded_as_present = set(_COUNTED_AS_PRESENT)
        if setting == "inpatient":
            coded_as_present.add("uncertain")
        terms = _hedge_the_same_condition(text, terms)
        terms = _dated_past_events(text, terms)
        documented = [
            t for t in terms if t.codes and t.system == ICD10CM and t.assertion == "present"
        ]
        self._other_side = {}
        self._evidence_spans = set()
        self._sex = sex
        # The words a term's subterms are read from, without those of conditions the note
        # does not say the patient has ("... ordered to evaluate for osteoporosis" opens no
        # Fracture > due to > osteoporosis).
        unsaid = [
            t for t in terms if t.assertion not in coded_as_present and t.assertion != "historical"
        ]
        note.context_text = _blank(text, unsaid)
        if setting != "inpatient":
            note.context_text = _blank_hedged_causes(note.context_text)
            self._uncertain_sides(note, terms, text, documented)
        self._located_sites(note, text, documented)
        terms = [
            *terms,
            *self._history_terms(text, terms, documented),
            *self._adverse_effects(text, documented, setting),
            *external_cause_terms(text, terms),
        ]
        for term in terms:
            self._read_term(note, term, text, documented, coded_as_present)
        # After every lookup, so that a code a term names keeps that term as its evidence, and
        # a code known only by association shows the term most strongly tied to it.
        for share, _, term, code in sorted(note.associated, key=lambda a: (-a[0], a[1])):
            if code in note.blocked and (ICD10CM, code) not in note.by_code:
                # "Denies fever": an association of another term does not bring R50.9 back.
                continue
            self._add_association(note.by_code, term, code, share, note.n_chars)
        self._add_document_codes(note, doc_scores)
        self._absorb(note.by_code, note.combinations)
        note_tokens = _note_token_set(text)
        shares = self.priors.note_associations(note.keys)
        for (system, code), cand in note.by_code.items():
            self._set_features(cand, system, code, doc_scores, note_tokens, shares, note.historical)
        return CandidateSet(list(note.by_code.values()), note.excluded)

    def _read_term(
        self,
        note: _NoteCandidates,
        term: Term,
        text: str,
        documented: Sequence[Term],
        coded_as_present: set[str],
    ) -> None:
        """Add the candidates one term stands for, or record why it is not suggested."""
        hit = self._index_hit(term, text, documented, note.context_text)
        if not term.codes and hit is None:
            return
        term, hit, where = _located(note, term, hit)
        if not _keeps(term, coded_as_present, self.historical):
            note.exclude(term, hit)
            return
        system = term.system if term.system in self.codebook.sets else ICD10CM
        key = term_key(term)
        note.keys.add(key)
        # The words the Tabular reads to pick a child: the term's, and where the Index read
        # the term with its sentence, the sentence's too ("fracture" of "right middle finger
        # distal phalanx fracture").
        written = _window(term, note.context_text) if hit is not None else term.text
        side, sided = self._side_for(note, term, hit) if system == ICD10CM else ("", "")
        if side:
            term = replace(term, attributes={**term.attributes, "laterality": side})
        for position, (code, weight) in enumerate(self._term_codes(term, system, hit)):
            added = self._add_mention(
                note.by_code,
                term,
                system,
                code,
                weight,
                note.n_chars,
                hit if position == 0 else None,
                written,
            )
            if added and position == 0:
                for line in (added, *self._other_side.get(added, ())):
                    note.by_code[line].features[PRIMARY] = 1.0
                cand = note.by_code[added]
                if where and "Site from" not in cand.note:
                    cand.note += f" Site from '{where}' (the note's finding of this condition)."
                if sided and "Laterality from" not in cand.note:
                    cand.note += (
                        f" Laterality from '{sided}' elsewhere in the note (guideline I.B.13)."
                    )
                if hit is not None and hit.linked:
                    note.combinations.append((added[1], hit.linked))
            if added and term.assertion == "historical":
                note.historical[added] = note.historical.get(added, 0) + 1
        if hit is not None:
            self._add_companions(note, term, system, hit, written)
        if self.assoc_min > 0 and system == ICD10CM:
            self._collect_associations(note, term, key)

    def _add_companions(
        self, note: _NoteCandidates, term: Term, system: str, hit: IndexHit, written: str
    ) -> None:
        """The codes the Index reports beside the one it reached, each a line of its own with
        the term's evidence: a bracketed manifestation ("Disease, Alzheimer's G30.9
        [F02.80]", listed after its etiology, guideline I.A.13) and chronic pain's G89.29
        beside the code of its site (I.C.6.b.1)."""
        paired = hit.manifestation_hit()
        if paired is not None:
            added = self._add_mention(
                note.by_code, term, system, paired.code, 1.0, note.n_chars, paired, written
            )
            if added is not None:
                note.by_code[added].features[PRIMARY] = 1.0
        self._add_agent(note, term, system, hit)
        if not _chronic_pain(term, hit):
            return
        added = self._add_mention(
            note.by_code, term, system, CHRONIC_PAIN, 1.0, note.n_chars, None, written
        )
        if added is not None:
            cand = note.by_code[added]
            cand.features[PRIMARY] = 1.0
            cand.sources["index"] = 1.0
            if not cand.note.startswith("Index"):
                cand.note = (
                    "Index: Pain > chronic -> G89.29, with the code of its site "
                    "(guideline I.C.6.b.1). " + cand.note
                ).strip()

    def _add_agent(self, note: _NoteCandidates, term: Term, system: str, hit: IndexHit) -> None:
        """The infectious agent (B95-B97) where the condition's Tabular asks for it ("use
        additional code (B95-B97) to identify infectious agent", N39.0) and its sentence names
        the organism ("UTI due to E. coli": B96.20), the organism's words as evidence."""
        if self.index is None or term.assertion != "present":
            return
        condition = hit.code.rstrip("-")
        if not self._asks_for_agent(condition):
            return
        window = _window(term, note.context_text)
        agent = self.index.infectious_agent(window)
        if agent is None:
            return
        offset = _window_start(term)
        lo, hi = _organism_span(window, agent, self.index)
        if lo < 0:
            return
        named = replace(
            term,
            text=note.context_text[offset + lo : offset + hi],
            start=offset + lo,
            end=offset + hi,
            codes=(agent.code,),
            ambiguous=(),
        )
        path = (*agent.path, f"(use additional code for {condition}'s infectious agent)")
        added = self._add_mention(
            note.by_code, named, system, agent.code, 1.0, note.n_chars, replace(agent, path=path)
        )
        if added is not None:
            note.by_code[added].features[PRIMARY] = 1.0

    def _side_for(self, note: _NoteCandidates, term: Term, hit: IndexHit | None) -> tuple[str, str]:
        """For a term that names no side, the side the note gives it elsewhere and the words
        that say so: an uncertain mention of the same condition ("Right foot pain,
        consistent with a Lisfranc fracture" beside "x-rays revealed a Lisfranc fracture")
        or a sided mention of its site ("a 3 cm left ovarian mass"); ("", "") when there is
        none or they disagree."""
        if hit is None or "laterality" in term.attributes:
            return "", ""
        side, words = _agreed(note.sides.get(hit.code, {}))
        if side is None:
            side, words = _agreed(self._side_elsewhere(term, hit, note.context_text))
        return side or "", words

    def _uncertain_sides(
        self, note: _NoteCandidates, terms: Sequence[Term], text: str, documented: Sequence[Term]
    ) -> None:
        """The sides uncertain mentions give their conditions, by Index code: an uncertain
        statement is not coded, but it still says where the condition is."""
        for t in terms:
            if t.assertion != "uncertain":
                continue
            # Its own side, or the one side its statement names ("Right foot pain,
            # consistent with a Lisfranc fracture").
            said = {m.lower() for m in _SIDE.findall(text[t.sentence_start : t.sentence_end])}
            side = t.attributes.get("laterality") or (said.pop() if len(said) == 1 else "")
            if not side:
                continue
            # Read with the note as written: its own words are blanked from context_text.
            hit = self._index_hit(t, text, documented, text)
            if hit is not None:
                words = f"{side} (the statement '{t.text}' of the same condition)"
                note.sides.setdefault(hit.code, {})[words] = side.lower()

    def _located_sites(self, note: _NoteCandidates, text: str, documented: Sequence[Term]) -> None:
        """Where a documented condition is said to be ("a 0.5 cm kidney stone located in
        the proximal right ureter", "CT revealed a stone ... located in the proximal right
        ureter"): the Index read again with that site in place of the one its name gives
        (Calculus > ureter, not Stone > kidney), for every mention of the condition. A coder
        codes the documented site, not the lay name's organ."""
        found = list(_LOCATED.finditer(note.context_text)) if "located" in text else []
        if not found:
            return
        # By Index code: the main term its subterms hang from, the words that name that
        # main term (its own and the written one's), and one term that reads so.
        readings: dict[str, tuple[str, frozenset[str], Term]] = {}
        for t in documented:
            hit = self._index_hit(t, text, documented, note.context_text)
            if hit is not None and hit.path[0] not in _TABLE_ROOTS:
                main = _main_term(hit)
                heads = words_of(f"{main} {hit.path[0].split(',')[0]}")
                readings.setdefault(hit.code, (main, heads, t))
        for m in found:
            before = note.context_text[max(0, m.start() - LOCATED_CHARS) : m.start()]
            before = re.split(r"[.;:]\s", before)[-1].lower()
            for code in _located_codes(readings, before):
                main = readings[code][0]
                there = self._looked_up(f"{main} {m.group(1)}", "", ())
                if (
                    there is not None
                    and there.code != code
                    and there.path[0].split(",")[0] == main
                    and there.matched >= 2
                    and self.codebook.icd.find(there.code.rstrip("-")) is not None
                ):
                    note.sites.setdefault(code, {})[m.group(0)] = there

    def _side_elsewhere(self, term: Term, hit: IndexHit, text: str) -> dict[str, str]:
        """Where the term names no side and its code needs one, the words elsewhere in the
        note that give a side of the same site ("Ovarian cancer" in the assessment, "a
        3 cm left ovarian mass" in the CT result), with the side each gives. Conditions the
        note does not say the patient has are blanked from ``text``, so a family member's
        or a ruled-out side is not read."""
        sites = [
            w
            for w in term.text.lower().split()
            if len(w) > 3 and words_of(w) & words_of(" ".join(hit.path[1:]))
        ]
        if not sites:
            return {}
        spec = self._specify(hit.code.rstrip("-"), term.attributes)
        icd = self.codebook.icd
        needs_side = any(m.startswith("laterality") for m in spec.missing) or any(
            sided_code(icd, spec.code, side) for side in ("right", "left")
        )
        if not needs_side:
            return {}
        return {
            m.group(0): m.group(1).lower()
            for site in sites
            for m in _sided_site(site[:5]).finditer(text)
        }

    def _collect_associations(self, note: _NoteCandidates, term: Term, key: str) -> None:
        """Codes coders assigned alongside this term, kept for after every lookup."""
        icd = self.codebook.icd
        for gold, share in self._strongest(key):
            if share < self.assoc_min:
                break
            if icd.find(gold) is not None:
                code = self._specify(gold, term.attributes).code
                note.associated.append((share, len(note.associated), term, code))

    def _strongest_associations(self, key: str) -> list[tuple[str, float]]:
        return self.priors.associations(key)[: self.assoc_k]

    def _specify(self, code: str, attributes: dict[str, str]) -> Specified:
        """``specify`` in the Tabular, remembered for the same code and attributes."""
        if self._sex:
            attributes = {**attributes, "sex": self._sex}
        return self._specified(code, tuple(sorted(attributes.items())))

    def _specify_items(self, code: str, attributes: tuple[tuple[str, str], ...]) -> Specified:
        return specify(self.codebook.icd, code, dict(attributes))

    def _add_document_codes(self, note: _NoteCandidates, doc_scores: DocScores) -> None:
        """The document model's best codes, except those an excluded mention names."""
        icd = self.codebook.icd
        by_code = note.by_code
        for code, knn, centroid in doc_scores.ranked(self.doc_top_k):
            if max(knn, centroid) < self.doc_min_score:
                break
            system = CPT if code in self.codebook.cpt and code not in icd else ICD10CM
            if code in note.blocked and (system, code) not in by_code:
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

    def _set_features(
        self,
        cand: Candidate,
        system: str,
        code: str,
        doc_scores: DocScores,
        note_tokens: set[str],
        shares: dict[str, float],
        historical: dict[tuple[str, str], int],
    ) -> None:
        """The features that need the whole note's candidates known first."""
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

    def _history_terms(
        self, text: str, terms: Sequence[Term], documented: Sequence[Term]
    ) -> list[Term]:
        """A history term for each condition documented in a relative (family history,
        Z80-Z84) or in the patient's past (personal history, Z85-Z87): the family history
        itself is present, so the term is, and it keeps the span and section it was read
        from. The condition's own code comes from the Index or the vocabulary."""
        out = []
        current = {t.codes[0][:3] for t in documented}
        for term in terms:
            kind = _HISTORY_KINDS.get(term.assertion)
            if kind is None or term.system != ICD10CM or term.label in _NOT_INDEXED:
                continue
            hit = self._index_hit(term, text, documented)
            condition = hit.code.rstrip("-") if hit else (term.codes[0] if term.codes else "")
            found = self.history.lookup(condition, kind) if condition else None
            if found is None or (kind == "personal" and condition[:3] in current):
                # No history code beside the same condition documented as current.
                continue
            out.append(
                replace(
                    term,
                    label=HISTORY_LABEL,
                    assertion="present",
                    codes=(found.code,),
                    source=found.path,
                )
            )
        return out

    def _adverse_effects(self, text: str, documented: Sequence[Term], setting: str) -> list[Term]:
        """An adverse-effect term (T36-T50, 6th character 5) for each drug the note says
        caused a documented condition; the condition keeps its own code, first."""
        if self.index is None or self.index.drugs is None:
            return []
        return list(
            adverse_effect_terms(
                text, documented, self.index.drugs, hedged_ok=setting == "inpatient"
            )
        )

    def _index_hit(
        self, term: Term, text: str, documented: Sequence[Term], context_text: str = ""
    ) -> IndexHit | None:
        """Where the Alphabetic Index leads for a term, read with its sentence and the note's
        other documented conditions (for "with" subterms). ``context_text`` is ``text`` with
        the conditions the note does not say the patient has blanked (default: ``text``).

        Drugs and status phrases are read through the vocabulary (drug -> Z79 class), not the
        Index, whose main terms are conditions.
        """
        if term.label in _TABLE_LABELS:
            path = tuple(term.source.split(" > "))
            return IndexHit(term.codes[0], path, len(path))
        if self.index is None or term.system != ICD10CM or term.label in _NOT_INDEXED:
            return None
        sentence = _window(term, context_text or text)
        if self._sex in SEX_WORDS:
            # The patient's sex opens the Index's male / female subterms (Hypogonadism > male).
            sentence = f"{sentence} {SEX_WORDS[self._sex]}"
        at = bisect.bisect_left(documented, term.start, key=lambda t: t.start)
        near = documented[max(0, at - LINKED_TERMS) : at + LINKED_TERMS]
        others = tuple(t.text for t in near if t.end <= term.start or t.start >= term.end)
        phrase = term.text
        hit = self._looked_up(phrase, sentence, others)
        if hit is None and term.match_score < 1 and term.expansion:
            # A misspelled term the Index cannot read as written ("pnuemonia") is looked up
            # as the phrase the speller read it as.
            # Its description's "unspecified organism" says no organism: those words open no
            # subterm ("organism NEC").
            phrase = _UNSPECIFIED.sub("", term.expansion).strip(" ,") or term.expansion
            hit = self._looked_up(phrase, sentence, others)
        if hit is not None and hit.linked and not self._says_partner(hit, near):
            # The "with" subterm was opened by an organ word of another condition ("kidney
            # stone" under Hypertension > with > kidney): read the term without partners.
            hit = self._looked_up(phrase, sentence, ())
        if hit is None or self.codebook.icd.find(hit.code.rstrip("-")) is None:
            return None
        hit = self._sited_reading(hit, phrase, sentence, others)
        if term.label == PROBLEM_LABEL and hit.coverage < MIN_STATEMENT_COVERAGE:
            # A statement the Index reads by one word of it ("Old" CVA -> I25.2) is left to
            # the terms of its words.
            return None
        return hit

    def _sited_reading(
        self, hit: IndexHit, phrase: str, sentence: str, others: tuple[str, ...]
    ) -> IndexHit:
        """An organism's infection "of unspecified site" (Infection > Escherichia, A49.8) read
        from a phrase that also names the site ("E. coli UTI") is the site's condition, whose
        Tabular asks for the organism's B95-B97 code beside it (N39.0 with B96.20)."""
        rec = self.codebook.icd.find(hit.code.rstrip("-"))
        if rec is None or not names_no_site(rec.description) or self.index is None:
            return hit
        agent = self.index.infectious_agent(phrase)
        if agent is None:
            return hit
        lo, hi = _organism_span(phrase, agent, self.index)
        if lo < 0:
            return hit
        sited = self._looked_up(f"{phrase[:lo]} {phrase[hi:]}".strip(), sentence, others)
        if sited is None or not self._asks_for_agent(sited.code.rstrip("-")):
            return hit
        return sited

    def _asks_for_agent(self, code: str) -> bool:
        """Whether the Tabular asks for the infectious agent's code (B95-B97) beside
        ``code`` ("use additional code (B95-B97) to identify infectious agent")."""
        if self.codebook.icd.find(code) is None:
            return False
        refs = self._instruction_refs(code, "use_additional_code")
        return any(self.codebook.icd.in_range(_AGENT_PROBE, ref) for ref in refs)

    def _instruction_refs(self, code: str, *names: str) -> list[str]:
        """The code references of ``code``'s Tabular instructions (``names``: "code_first",
        "use_additional_code", "code_also"), its own and those it inherits."""
        icd = self.codebook.icd
        return [
            ref
            for name in names
            for _, note in icd.inherited(code, name)
            for ref in parse_code_refs(note)
        ]

    def _lookup(self, phrase: str, context: str, others: tuple[str, ...]) -> IndexHit | None:
        return self.index.lookup(phrase, context, others) if self.index is not None else None

    def _says_partner(self, hit: IndexHit, documented: Sequence[Term]) -> bool:
        """Whether the combination code covers the linked condition: the Tabular asks for the
        partner's code beside it (I12.9 "use additional code" N18.-, I11.0 I50.-), or the
        code's title names more than half of the partner's words (E11.42 "polyneuropathy").
        A "kidney stone" opens Hypertension > with > kidney involvement by its organ word
        only, and is neither."""
        icd = self.codebook.icd
        rec = icd.find(hit.code.rstrip("-"))
        if rec is None:
            return True
        partner_codes = [
            t.codes[0] for t in documented if t.text.lower() == hit.linked.lower() and t.codes
        ]
        if any(p.startswith("with ") or p.lower() in _LINKING for p in hit.path) and any(
            c[:3] == rec.code[:3] for c in partner_codes
        ):
            # A subterm written "with <partner>" whose code is the partner's own condition
            # ("Rhinitis, allergic > with asthma" -> J45.909): the partner is coded as the
            # note documents it (moderate persistent asthma, J45.40) and this term as itself.
            # So too "in <partner>" ("Arthritis > in > hypothyroidism" E03.9, whose bracketed
            # arthropathy code the flattened Index lost): arthritis stays arthritis.
            return False
        refs = self._instruction_refs(rec.code, "use_additional_code", "code_also", "code_first")
        if any(icd.in_range(c, ref) for c in partner_codes for ref in refs):
            return True
        expand = self.index.synonyms.expand if self.index and self.index.synonyms else str
        # The partner as written (its synonyms would add the organ's other names and pass
        # any title of that organ); the title in the Index's wording.
        partner = words_of(hit.linked)
        title = words_of(expand(rec.description))
        return not partner or len(partner & title) / len(partner) > MIN_PARTNER_SHARE

    def _absorb(
        self, by_code: dict[tuple[str, str], Candidate], combinations: list[tuple[str, str]]
    ) -> None:
        """Mark the codes a combination code already says, unless its Tabular note asks for
        them as an additional code (E11.22 keeps N18.31; E11.42 absorbs G62.9)."""
        icd = self.codebook.icd
        combos = {combo for combo, _ in combinations}
        # Each pair once, in the order of its last mention (so the last note written is
        # still the last pair's): a note repeating "hypertension with CKD" 1,000 times would
        # otherwise rescan every candidate's evidence 1,000 times.
        for combo, partner in list(dict.fromkeys(reversed(combinations)))[::-1]:
            refs = self._instruction_refs(combo, "use_additional_code", "code_also")
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
        table_read = term.label in _TABLE_LABELS
        if not term.codes:
            return out
        out.append((term.codes[0], 1.0))
        out += [(c, 0.8) for c in term.codes[1 : 1 + self.alternatives]]
        if self.search_k and system == ICD10CM and len(term.text) > 3 and not table_read:
            # (A code read from a table, a history code, says what the term is: the words'
            # near matches, the condition's own codes, are not its readings.)
            out += self._search(term.expansion or term.text)
        seen: set[str] = set()
        return [(c, w) for c, w in out if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]

    def _search(self, words: str) -> list[tuple[str, float]]:
        """Code-set search for a term's words, memoised: the same terms recur in every note.

        Cached by the lower-cased words, which the search folds anyway.
        """
        return self._searched(words.lower())

    def _search_codeset(self, words: str) -> list[tuple[str, float]]:
        return [
            (r.code, 0.7 * r.score) for r in self.codebook.icd.search(words, limit=self.search_k)
        ]

    def _description_overlap(self, system: str, code: str, note_tokens: set[str]) -> float:
        """``description_overlap`` with each code's weighted words worked out once."""
        return _weighted_share(self._description_words(system, code), note_tokens)

    def _weights_of(self, system: str, code: str) -> dict[str, float]:
        return description_weights(self.codebook.sets[system], code)

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
        written: str = "",
    ) -> tuple[str, str] | None:
        if system == ICD10CM:
            spec = self._specify(first, {**term.attributes, "written": written.lower()})
            code, by_attr, missing = spec.code, spec.by_attributes, spec.missing
            for other in spec.also:
                # A bilateral condition without a bilateral code: the left side is a line
                # of its own with the same evidence (I.B.13).
                left = replace(term, attributes={**term.attributes, "laterality": "left"})
                side = self._add_mention(
                    by_code, left, system, other, weight, n_chars, hit, written
                )
                if side is not None:
                    self._other_side.setdefault((system, code), set()).add(side)
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
        # A set, not a scan of the evidence: a note repeating one condition 10,000 times
        # made the scan quadratic.
        span = (system, code, term.start, term.end)
        if span not in self._evidence_spans:
            self._evidence_spans.add(span)
            cand.evidence.append(
                Evidence(term.start, term.end, term.text, term.section, term.assertion)
            )
        if hit is not None:
            cand.sources["index"] = 1.0
            if hit.path not in cand.index_paths:
                cand.index_paths.append(hit.path)
            if "Index:" not in cand.note:
                cand.note = " ".join(x for x in (hit.describe() + ".", cand.note) if x)
        if missing and "Unspecified code" not in cand.note:
            detail = "Unspecified code: the note does not document " + "; ".join(missing)
            cand.note = " ".join(x for x in (cand.note, detail) if x)
        return (system, code)


_PLAN_SECTIONS = ASSESSMENT_SECTIONS | {"plan"}


def _hedge_the_same_condition(text: str, terms: Sequence[Term]) -> list[Term]:
    """A condition the assessment or plan states only as uncertain ("she might have Lyme
    disease", "symptoms similar to a tension headache") is uncertain in every mention: the
    education or plan lines that name it ("Lyme disease can cause ...") do not diagnose it.
    A problem title of the assessment that states it ("2. Lyme disease.") does, and so does a
    finding ("x-rays revealed a Lisfranc fracture"). A symptom is had or not: what is
    uncertain is its cause, so symptoms keep their assertion."""
    hedged = {
        t.codes[0]
        for t in terms
        if t.assertion == "uncertain"
        and t.codes
        and t.section in _PLAN_SECTIONS
        and not t.codes[0].startswith("R")
        and t.label != "symptom"
    }
    if not hedged:
        return list(terms)
    titles = [(t.start, t.end) for t in terms if t.label == PROBLEM_LABEL]
    hedged -= {
        t.codes[0]
        for t in terms
        if t.assertion == "present"
        and t.codes
        and (any(s <= t.start and t.end <= e for s, e in titles) or _found(text, t))
    }
    return [
        replace(t, assertion="uncertain")
        if t.assertion == "present" and t.codes and t.codes[0] in hedged
        else t
        for t in terms
    ]


# Conditions that happen and end (a heart attack, a stroke, an embolism, a stone): dated
# in the past, they are the patient's history (I25.2, Z86.73, Z86.71-, Z87.442), not a
# current condition; an MI stays acute for 4 weeks (I.C.9.e), so only months and years count.
_EVENTS = ("I21", "I22", "I63", "I26", "I80", "I81", "I82", "G45", "N20", "N21")
_PAST_DATE = re.compile(
    r"\b(?:in|since|back\s+in|during)\s+(?:(?:early|late|mid)[- ])?(?:19|20)\d{2}\b"
    r"|\b(?:[2-9]|\d{2,}|two|three|four|five|six|several|many)\s+(?:months?|years?)\s+ago\b"
    r"|\b(?:a|one|1)\s+years?\s+ago\b|\blast\s+year\b|\byears\s+ago\b",
    re.IGNORECASE,
)


def _sentence_bounds(text: str, term: Term) -> tuple[int, int]:
    """The term's sentence, or CONTEXT_CHARS either side where it has none recorded."""
    if term.sentence_end:
        return term.sentence_start, term.sentence_end
    return max(0, term.start - CONTEXT_CHARS), min(len(text), term.end + CONTEXT_CHARS)


def _dated_past_events(text: str, terms: Sequence[Term]) -> list[Term]:
    """Present mentions of an event-type condition whose clause dates it months or years
    back ("he sustained a heart attack in 2018"), or whose problem entry says there is none
    now ("Kidney stones. She is asymptomatic and denies any recent flare-ups"), read as
    historical: the history code, not the event's."""
    # An assessment statement ("Kidney stones.") is the event its words are.
    events = {t.start for t in terms if t.codes and t.codes[0].startswith(_EVENTS)}
    quiet: set[int] = set()
    out = []
    for t in terms:
        if (
            t.assertion == "present"
            and _NEOPLASM_WORDS.search(t.text)
            and _quiet_entry(text, t, _NO_DISEASE, _TITLE_WORDS)
        ):
            quiet.add(t.start)
            out.append(replace(t, assertion="historical"))
            continue
        event = t.codes[0].startswith(_EVENTS) if t.codes else t.start in events
        if t.assertion == "present" and event:
            start, end = _sentence_bounds(text, t)
            clause = re.split(r"[;,]\s+(?:and\s+)?(?=[a-z])", text[start:end])
            near = next(
                (c for c in clause if t.text in c), text[max(start, t.start - 60) : t.end + 60]
            )
            if (
                _PAST_DATE.search(near)
                or _PAST_HISTORY.search(text, start, t.start)
                or _quiet_entry(text, t)
            ):
                t = replace(t, assertion="historical")
        out.append(t)
    # The cancer the assessment calls free of disease is history wherever the note names it
    # (the past history's "carcinoma of the right breast, status post lumpectomy").
    cured = {t.text.lower() for t in out if t.assertion == "historical" and t.start in quiet}
    if cured:
        out = [
            replace(t, assertion="historical")
            if t.assertion == "present" and t.text.lower() in cured
            else t
            for t in out
        ]
    return out


# "A past medical history significant for ... kidney stones": an event of the past (a
# chronic condition listed there is still current; an event is not).
_PAST_HISTORY = re.compile(
    r"\b(?:past\s+medical|medical|past)\s+history\s+(?:significant\s+|notable\s+)?(?:for|of)\b",
    re.IGNORECASE,
)


# An assessment entry that says the event is not happening now.
_QUIET = re.compile(
    r"\b(?:asymptomatic|no\s+(?:recent|further|new)\s+(?:flare|episode|recurrence|attack|"
    r"event|stone|symptom)\w*|(?:denies|denied)\s+any\s+(?:recent|further|new)\s+"
    r"(?:flare|episode|recurrence|attack|event|stone|symptom|issue)\w*)",
    re.IGNORECASE,
)
_ENTRY_END = re.compile(r"\n[ \t]*\n")


def _quiet_entry(
    text: str, term: Term, quiet: re.Pattern[str] | None = None, title_words: int = 0
) -> bool:
    """Whether the term names an assessment entry ("Kidney stones." on its own line) whose
    lines say the condition is quiet now (``quiet``; default: asymptomatic, no recent
    episodes). With ``title_words`` the term may be part of a title of that many words."""
    if term.section not in _PLAN_SECTIONS:
        return False
    line_start = text.rfind("\n", 0, term.start) + 1
    line_end = text.find("\n", term.end)
    line_end = len(text) if line_end < 0 else line_end
    title = text[line_start:line_end].strip(" \t-*.#0123456789)")
    if len(title) > len(term.text) + 2 and len(title.split()) > title_words:
        return False
    end = _ENTRY_END.search(text, term.end)
    return bool((quiet or _QUIET).search(text, term.end, end.start() if end else len(text)))


# A cancer the assessment says was treated and shows no disease now: its history code
# (Z85, Z86.0-), not the neoplasm's (guideline I.C.2.d).
_NEOPLASM_WORDS = re.compile(
    r"\b(?:cancer|carcinoma|malignan\w*|neoplasm|tumou?r|lymphoma|melanoma|sarcoma|dcis|"
    r"in\s+situ)\b",
    re.IGNORECASE,
)
_NO_DISEASE = re.compile(
    r"\bno\s+(?:clinical\s+|radiographic\s+)?evidence\s+of\s+(?:any\s+)?(?:recurren\w+|"
    r"residual|active|metastatic|persistent)?\s*(?:disease|malignancy|cancer|tumou?r|recurrence)"
    r"|\bno\s+(?:signs?\s+of\s+)?recurrence\b|\bNED\b|\bcancer[- ]free\b",
    re.IGNORECASE,
)
_TITLE_WORDS = 12


# A study or the provider finding the condition: "x-rays revealed a Lisfranc fracture".
_FINDING = re.compile(
    r"\b(?:reveal\w*|show(?:s|ed|n)?|demonstrat\w*|confirm\w*|diagnos\w*|positive\s+for"
    r"|found)\b",
    re.IGNORECASE,
)


def _found(text: str, term: Term) -> bool:
    """Whether the words before the term in its sentence say it was found."""
    return bool(_FINDING.search(text, _sentence_bounds(text, term)[0], term.start))


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
        return term.label in {"status", "procedure_history"} or is_history_code(first)
    return False


# Pain documented as chronic: G89.29 beside the code of its site (I.C.6.b.1); the site's
# definitive diagnosis, where one is documented, takes both away (I.C.6.b.1.a, I.B.5).
CHRONIC_PAIN = "G89.29"


def _chronic_pain(term: Term, hit: IndexHit) -> bool:
    """A pain the note calls chronic, read through the Index as a pain of a site."""
    return (
        hit.path[:1] == ("Pain",)
        and len(hit.path) > 1
        and term.attributes.get("acuity") == "chronic"
        and not hit.code.startswith("G89")
    )


_SIDE = re.compile(r"\b(left|right|bilateral)\b", re.IGNORECASE)
V = TypeVar("V")


def _same(value: V) -> V:
    return value


@lru_cache(maxsize=1024)
def _sided_site(stem: str) -> re.Pattern[str]:
    """A side word just before a site word of this stem ("left ovarian", "right lower
    kidney")."""
    return re.compile(rf"{_SIDE.pattern}(?:[ -]\w+){{0,2}}?[ -]{re.escape(stem)}\w*", re.I)


# "kidney stone measuring 0.5 cm in size, located in the proximal right ureter": the site
# words after "located in", read within this many characters after the condition's words.
LOCATED_CHARS = 80
_SITE_WORD = r"(?!(?:and|but|or|with|without|which|that|who|as|to|for)\b)[a-z]+"
_LOCATED = re.compile(
    rf"\blocated (?:in|at|within|on|along) (?:the |his |her |their )?"
    rf"({_SITE_WORD}(?:[ -]{_SITE_WORD}){{0,3}})",
    re.IGNORECASE,
)
# Readings that come from a table or a history term, whose first part is not a main term.
_TABLE_ROOTS = frozenset({"Neoplasm Table", "Table of Drugs and Chemicals"})


def _main_term(hit: IndexHit) -> str:
    """The main term a reading's subterms hang from: a "see also" names its own
    ("Nephrolithiasis > see also Calculus, kidney" hangs from Calculus)."""
    refs = [p.removeprefix("see also ") for p in hit.path if p.startswith("see also ")]
    return (refs[-1] if refs else hit.path[0]).split(",")[0]


def _located_codes(readings: dict[str, tuple[str, frozenset[str], Term]], before: str) -> list[str]:
    """The codes of the condition the words ``before`` "located in" speak of: the
    condition's own words ("kidney stone located in"), or its main term's where no other
    condition of that main term could be meant ("a stone ... located in"; not "pain" beside
    a neck pain and a back pain)."""
    said = words_of(before)
    named = {code: heads & said for code, (_, heads, _) in readings.items()}
    return [
        code
        for code, (_, _, t) in readings.items()
        if t.text.lower() in before
        or (named[code] and sum(1 for w in named.values() if w & named[code]) == 1)
    ]


def _located(
    note: _NoteCandidates, term: Term, hit: IndexHit | None
) -> tuple[Term, IndexHit | None, str]:
    """The term and its reading at the site the note locates the condition in, with the
    words that say so; the side of that site becomes the term's ("the pain is located in
    the left shoulder")."""
    found = note.sites.get(hit.code, {}) if hit is not None else {}
    located, where = _agreed(found, key=lambda h: h.code)
    if located is None:
        return term, hit, ""
    sides = {m.lower() for m in _SIDE.findall(where)}
    if len(sides) == 1 and "laterality" not in term.attributes:
        term = replace(term, attributes={**term.attributes, "laterality": sides.pop()})
    return term, located, where


def _agreed(found: dict[str, V], key: Callable[[V], object] = _same) -> tuple[V | None, str]:
    """(the value every finding agrees on, the words of one that gives it), or (None, "")
    where there is none or they disagree (two sides, two sites)."""
    if len({key(v) for v in found.values()}) != 1:
        return None, ""
    words, value = next(iter(found.items()))
    return value, words


# A code of the infectious-agent categories (B95-B97), to test a Tabular reference against.
_AGENT_PROBE = "B96.20"
_TOKEN = re.compile(r"[A-Za-z][A-Za-z-]*")
# The Index's level for a condition in another ("Arthritis > in > hypothyroidism"), whose
# code there is often the other condition's own with a bracketed manifestation beside it.
_LINKING = frozenset({"in"})
# A title's "unspecified ..." qualifier (", unspecified organism", "unspecified site").
_UNSPECIFIED = re.compile(r",?\s*\bunspecified\b[^,;()]*", re.IGNORECASE)


def _organism_span(window: str, agent: IndexHit, index: AlphabeticIndex) -> tuple[int, int]:
    """Where ``window`` names the organism the Index read for ``agent``: its first to its
    last word that reads as one of the path's organism words, alone or with the word after
    it ("E. coli" reads as Escherichia coli). (-1, -1) when none does."""
    wanted = words_of(" ".join(p for p in agent.path if "classified elsewhere" not in p))
    wanted -= words_of("infection infected infective")
    tokens = list(_TOKEN.finditer(window))
    found: list[tuple[int, int]] = []
    for k, m in enumerate(tokens):
        pair = tokens[k + 1] if k + 1 < len(tokens) else None
        if index.phrase_words(m[0]) & wanted:
            found.append((m.start(), m.end()))
        elif pair is not None and index.phrase_words(window[m.start() : pair.end()]) & wanted:
            found.append((m.start(), pair.end()))
    return (found[0][0], found[-1][1]) if found else (-1, -1)


def _window(term: Term, text: str) -> str:
    """The term's sentence, cut to CONTEXT_CHARS either side of it: the words the Index (and
    then the Tabular) may read its subterms from."""
    if not term.sentence_end:
        return term.text
    start = _window_start(term)
    return text[start : min(term.sentence_end, term.end + CONTEXT_CHARS)]


def _window_start(term: Term) -> int:
    """Where ``_window`` of the term begins in the note."""
    if not term.sentence_end:
        return term.start
    return max(term.sentence_start, term.start - CONTEXT_CHARS)


# A cause the note only supposes ("her headaches may be caused by tension around the
# muscles", "likely due to working at the computer"): outpatient, its words open no subterm
# (guideline IV.H), to the end of the clause.
_HEDGED_CAUSE = re.compile(
    r"\b(?:(?:may|might|could|can)\s+be|(?:is|are)\s+(?:likely|probably|possibly)|likely"
    r"|probably|possibly)\s+(?:caused\s+by|due\s+to|from|related\s+to|secondary\s+to)\b"
    r"[^.;\n]*",
    re.IGNORECASE,
)


def _blank_hedged_causes(text: str) -> str:
    """``text`` with each supposed cause blanked (offsets kept)."""
    if not _HEDGED_CAUSE.search(text):
        return text
    return _HEDGED_CAUSE.sub(lambda m: " " * len(m.group(0)), text)


def _blank(text: str, terms: Sequence[Term]) -> str:
    """``text`` with the spans of ``terms`` replaced by spaces (every offset kept)."""
    if not terms:
        return text
    chars = list(text)
    for t in terms:
        chars[t.start : t.end] = " " * (t.end - t.start)
    return "".join(chars)
