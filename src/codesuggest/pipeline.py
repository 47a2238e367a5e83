"""``Suggester``: loads every artifact once and turns a note into ranked, checked suggestions.

note -> terms (terms.py) -> candidates (rank.py) -> calibrated scores (ranker) -> coding-rule
edits (validate.py) -> ``SuggestionResult``. Bad note text never raises: it comes back as an
entry in ``errors`` so that a batch run or a coder's screen carries on.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from codesuggest.codebook.book import Codebook, default_codebook
from codesuggest.codebook.index import AlphabeticIndex, load_index
from codesuggest.core.codes import is_history_code
from codesuggest.core.context import PatientContext
from codesuggest.core.records import (
    CPT,
    ICD10CM,
    Edit,
    Evidence,
    Exclusion,
    Modifier,
    Section,
    Suggestion,
    SuggestionResult,
    Term,
)
from codesuggest.core.text import (
    CONTROL_CHARS,
    STOPWORDS,
    fold,
    fold_with_offsets,
    original_span,
    replace_surrogates,
    tokens,
)
from codesuggest.rank.candidates import CandidateBuilder
from codesuggest.rank.claim import complete_lines, reason
from codesuggest.rank.em import (
    Problem,
    is_chronic,
    is_em_code,
    level_visit,
    one_per_entry,
    worsening,
)
from codesuggest.rank.features import feature_matrix
from codesuggest.rank.model import Model, load_model
from codesuggest.rank.procedures import (
    ProcedureLine,
    documented_today,
    drug_lines,
    exam_lines,
    includes_visit,
    is_report,
    named_procedures,
    office_services,
    performed_procedures,
    treatments,
    with_techniques,
)
from codesuggest.rank.selection import select
from codesuggest.rank.sizes import sized
from codesuggest.rank.vaccines import vaccine_lines
from codesuggest.terms.demographics import documented_sex

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 500_000
# Words the document model may weigh that tell a coder nothing as evidence.
_NOT_CLINICAL = frozenset(
    [
        "year",
        "years",
        "old",
        "yo",
        "he",
        "she",
        "his",
        "her",
        "him",
        "they",
        "patient",
        "pt",
        "male",
        "female",
        "man",
        "woman",
        "has",
        "had",
        "have",
        "was",
        "were",
        "which",
        "who",
    ]
)
MAX_SUGGESTIONS = 40
# The E/M level is read from the documentation by rules, not scored by the ranker: this is
# the share of the project's gold visits whose level the rules got exactly right (ACI-Bench
# train + valid, benchmarks/bench_us_notes.py), shown as its score.
EM_CONFIDENCE = 0.7
# Likewise for in-office procedures read from the documentation (rank/procedures.py).
PROCEDURE_CONFIDENCE = 0.7
# Vertical tab and form feed are whitespace to the tokenizer, but typed notes hardly hold them
# and binary data does, so the binary-data check counts them too.
_CONTROL = re.compile(rf"[{CONTROL_CHARS}\x0b\x0c]")


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def check_note(
    text: object, *, max_chars: int = MAX_NOTE_CHARS
) -> tuple[str, list[dict[str, str]]]:
    """The note as text, or the reasons it cannot be read (never raises for bad content).

    Lone surrogates (undecodable bytes that ``surrogateescape`` kept) become U+FFFD, one for
    one, so the offsets of the result are offsets into the note as given.
    """
    if text is None:
        return "", [_error("empty_note", "The note is empty.")]
    if isinstance(text, bytes | bytearray):
        if b"\x00" in text[:65536]:
            return "", [_error("binary_note", "The note is binary data, not text.")]
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            return "", [
                _error(
                    "encoding",
                    f"The note is not UTF-8 text (invalid byte at position {exc.start}); "
                    "convert it to UTF-8 first.",
                )
            ]
    if not isinstance(text, str):
        return "", [_error("not_text", f"The note must be text, got {type(text).__name__}.")]
    # One character for one, so offsets into the note as given still hold; many of them mean
    # the text was decoded wrongly, which the U+FFFD count below reports.
    text = replace_surrogates(text)
    if not text.strip():
        return "", [_error("empty_note", "The note is empty or whitespace only.")]
    if len(text) > max_chars:
        return "", [
            _error(
                "note_too_large",
                f"The note has {len(text):,} characters; the limit is {max_chars:,}. "
                "Split it into encounters or raise the limit.",
            )
        ]
    sample = text[:20000]
    if sample.count("\x00") or len(_CONTROL.findall(sample)) > max(20, len(sample) // 50):
        return "", [_error("binary_note", "The note looks like binary data, not text.")]
    if "\ufffd" in sample and sample.count("\ufffd") > max(5, len(sample) // 100):
        return "", [
            _error("encoding", "The note was decoded with the wrong encoding (many U+FFFD).")
        ]
    return text, []


# Emergency department visits: the physician there reads images and tracings the hospital makes.
ED_VISITS = frozenset({"99281", "99282", "99283", "99284", "99285"})


def _side_modifiers(line: ProcedureLine) -> list[Modifier]:
    """RT, LT or 50 for the side the note documents; both sides of an imaging study are
    reported as RT and LT (50 is a surgical modifier)."""
    if not line.modifier:
        return []
    where = line.evidence.text[:80]
    if line.modifier == "50" and line.code.startswith("7"):
        return [Modifier(m, reason(m, where=where)) for m in ("RT", "LT")]
    return [Modifier(line.modifier, reason(line.modifier, where=where))]


# Codes that are no problem addressed: status and history (Z), and how an injury happened
# (V-Y), which the injury's own code stands for.
_NOT_PROBLEMS = ("Z", "V", "W", "X", "Y")
_EMERGENCY_VISITS = frozenset({"99281", "99282", "99283", "99284", "99285"})


def _is_lab_code(code: str) -> bool:
    """A pathology and laboratory code (CPT 80047-89398)."""
    return len(code) == 5 and code.isdigit() and "80000" <= code <= "89999"


def _overlap(a: Evidence, b: Evidence) -> bool:
    return a.start < b.end and b.start < a.end


def _after_last_selected(suggestions: list[Suggestion]) -> int:
    """Where a pre-selected procedure line goes: after the last pre-selected line."""
    return max((i + 1 for i, s in enumerate(suggestions) if s.selected), default=0)


def _clinical(phrase: str) -> bool:
    """A phrase worth showing as evidence: not a stopword, a number or an age ("62 year")."""
    words = [w for w in tokens(phrase) if w not in STOPWORDS and not w.isdigit()]
    return bool(words) and not all(w in _NOT_CLINICAL for w in words) and len(phrase) > 2


def _context_evidence(note: str, phrases: list[str], sections: list[Section]) -> list[Evidence]:
    """For a code only the document model proposed: where its telling words stand."""
    out: list[Evidence] = []
    folded, origin = fold_with_offsets(note)
    for phrase in phrases:
        if not _clinical(phrase):
            continue
        wanted = fold(phrase)
        pos = folded.find(wanted)
        if pos < 0 or not wanted:
            continue
        start, end = original_span(origin, pos, pos + len(wanted))
        section = next((s.name for s in sections if s.start <= start < s.end), "")
        out.append(Evidence(start, end, note[start:end], section, "context"))
    return out


HISTORY_NOTE = (
    "Documented only as history: code it if the condition is current (a chronic condition "
    "under treatment); otherwise use a personal-history Z code or leave it out."
)


def _note_for(cand: Any, unselected_because: str = "") -> str:
    """The candidate's own note, why it is not pre-selected, and a warning when its only
    evidence is historical."""
    note = cand.note
    if unselected_because and cand.evidence:
        note = f"{note} Not pre-selected: {unselected_because}.".strip()
    if cand.features.get("historical_only") and not is_history_code(cand.code):
        return f"{note} {HISTORY_NOTE}".strip()
    return note


class Suggester:
    """Everything needed to suggest codes for notes, loaded once and reused."""

    def __init__(
        self,
        model: Model,
        codebook: Codebook,
        extractor: Any,
        index: AlphabeticIndex | None = None,
        cms_edits: Iterable[Any] = (),
    ) -> None:
        self.model = model
        self.codebook = codebook
        self.extractor = extractor
        self.builder = CandidateBuilder(
            codebook, model.priors, index=index, **model.candidate_options
        )
        self.max_chars = int(os.environ.get("CODESUGGEST_MAX_NOTE_CHARS", MAX_NOTE_CHARS))
        # NCCI PTP and MUE tables (rules.load_ncci_ptp / load_mue) run on every suggested set.
        self.cms_edits: list[Any] = list(cms_edits)

    @property
    def model_info(self) -> dict[str, str]:
        return self.model.info

    @property
    def codesets(self) -> dict[str, str]:
        return self.codebook.versions()

    def _empty(
        self, id: str | None, context: dict[str, Any], errors: list[dict[str, str]]
    ) -> SuggestionResult:
        return SuggestionResult(
            id=id, codesets=self.codesets, model=self.model_info, context=context, errors=errors
        )

    def suggest(
        self,
        text: str | bytes,
        *,
        setting: str = "outpatient",
        age: int | None = None,
        sex: str | None = None,
        encounter_date: dt.date | str | None = None,
        id: str | None = None,
    ) -> SuggestionResult:
        """Ranked ICD-10-CM and CPT suggestions for one note, with evidence and edits."""
        patient = PatientContext.parse(
            setting=setting, age=age, sex=sex, encounter_date=encounter_date
        )
        setting, date = patient.setting, patient.encounter_date
        context = patient.to_dict()
        note, errors = check_note(text, max_chars=self.max_chars)
        if errors:
            return self._empty(id, context, errors)
        extracted = self.extractor.extract(note)
        suggestions, excluded = self.score_terms(note, extracted.terms, extracted.sections, patient)
        self._attach_edits(suggestions, extracted.terms, context, date)
        return SuggestionResult(
            id=id,
            codesets=self.codesets,
            model=self.model_info,
            context=context,
            suggestions=suggestions,
            excluded=excluded,
        )

    def score_terms(
        self,
        note: str,
        terms: list[Term],
        sections: list[Section],
        patient: PatientContext,
    ) -> tuple[list[Suggestion], list[Exclusion]]:
        """The ranked, pre-selected codes of a note whose terms are already extracted.

        This is the one scoring path: ``suggest`` serves it and ``train.evaluation`` measures
        it, so an evaluation scores exactly what coders get (edits aside).
        """
        (doc_scores,) = self.model.document_model.doc_scores([note])
        # A sex the caller does not give is read from the note ("a 59-year-old male"): the
        # Index's and the Tabular's male / female subterms need it.
        sex = patient.sex or documented_sex(note)
        cset = self.builder.build(note, terms, doc_scores, setting=patient.setting, sex=sex)
        suggestions: list[Suggestion] = []
        if cset.candidates:
            proba = self.model.ranker.predict_proba(feature_matrix(cset.candidates))[:, 1]
            chosen = select(
                note, cset.candidates, proba, self.codebook.icd, setting=patient.setting
            )
            order = chosen.order(proba, MAX_SUGGESTIONS)
            words = self.model.document_model.explain_many(
                note,
                [cset.candidates[i].code for i in order if not cset.candidates[i].evidence],
            )
            for rank, i in enumerate(order, start=1):
                cand = cset.candidates[i]
                rec = self.codebook.find(cand.code, cand.system)
                evidence = cand.evidence or _context_evidence(
                    note, words.get(cand.code, []), sections
                )
                suggestions.append(
                    Suggestion(
                        code=cand.code,
                        system=cand.system,
                        description=rec.description if rec else "",
                        score=float(proba[i]),
                        rank=rank,
                        selected=i in chosen.selected,
                        evidence=sorted(evidence, key=lambda e: e.start),
                        sources=dict(cand.sources),
                        note=_note_for(cand, chosen.reasons.get(i, "")),
                    )
                )
        self._combine_and_sequence(suggestions)
        self._add_visit_level(note, sections, suggestions, patient)
        self._add_procedures(note, sections, terms, suggestions, patient)
        return suggestions, cset.excluded

    def _combine_and_sequence(self, suggestions: list[Suggestion]) -> None:
        """The guidelines' combinations made, then the diagnoses in claim order (``rules``)."""
        from codesuggest.codebook.tabular import tabular_for
        from codesuggest.rules import apply_combinations, sequence_selected

        apply_combinations(suggestions, self.codebook)
        sequence_selected(suggestions, tabular_for(self.codebook.icd))

    def _add_visit_level(
        self,
        note: str,
        sections: list[Section],
        suggestions: list[Suggestion],
        patient: PatientContext,
    ) -> None:
        """The visit's E/M code, pre-selected after the diagnoses, with its MDM reasoning."""
        problems = [
            Problem(
                s.code,
                is_chronic(s.code),
                worsening(note, e),
                e,
            )
            for s in suggestions
            if s.selected and s.system == ICD10CM and not s.code.startswith(_NOT_PROBLEMS)
            for e in s.evidence[-1:]
        ]
        problems = one_per_entry(note, problems)
        if is_report(note):
            return
        if includes_visit(treatments(note)):
            # Fracture care and debridement include the evaluation that decided on them.
            suggestions[:] = [s for s in suggestions if not is_em_code(s.code)]
            return
        # Ordering a test includes reviewing its result: each in-office study counts as data.
        lines = performed_procedures(note, sections)
        tests = {line.code for line in lines}
        visit = level_visit(
            note,
            sections,
            problems,
            setting=patient.setting,
            age=patient.age,
            tests_done=sorted(c for c in tests if c.startswith(("7", "8", "93"))),
            procedures_done=sorted(c for c in tests if _is_surgery(c)),
            studies_at=[
                (x.evidence.start, x.evidence.end) for x in lines if x.code.startswith(("7", "93"))
            ],
        )
        if visit is None:
            return
        suggestions[:] = [s for s in suggestions if not is_em_code(s.code)]
        note_text = " ".join(x for x in (visit.reasoning, visit.next_level) if x)
        self._insert_documented(
            suggestions,
            [self._documented(visit.code, CPT, visit.evidence, note_text, EM_CONFIDENCE)],
        )

    def _add_procedures(
        self,
        note: str,
        sections: list[Section],
        terms: list[Term],
        suggestions: list[Suggestion],
        patient: PatientContext,
    ) -> None:
        """Procedures documented as performed (a procedure note's named procedures, in-office
        imaging and tests, drugs given in the office), pre-selected after the E/M, then made
        claim lines: modifiers with their reasons, units, diagnosis pointers."""
        read = [
            *with_techniques(note, named_procedures(note, terms)),
            *performed_procedures(note, sections),
            *exam_lines(note, self._cpt_matches),
            *office_services(note, sections),
            *treatments(note),
        ]
        # A term in a sentence already read as a procedure (an x-ray with its views) is that one.
        read += [
            line
            for line in documented_today(note, terms)
            if not any(_overlap(line.evidence, other.evidence) for other in read)
        ]
        found = sized(note, read)
        if patient.setting == "outpatient":
            found += drug_lines(note, sections)
            found += vaccine_lines(note, sections, self.codebook.cpt, age=patient.age)
        lines = [line for line in found if self.codebook.find(line.code, line.system) is not None]
        if any(s.code in _EMERGENCY_VISITS for s in suggestions):
            # In the emergency department the hospital's laboratory bills its tests; the
            # physician's claim has the visit and the procedures the physician performed.
            lines = [line for line in lines if not _is_lab_code(line.code)]
        if lines:
            codes = {line.code for line in lines}
            suggestions[:] = [s for s in suggestions if s.code not in codes]
            rows = []
            for line in lines:
                why = f"{line.why[:1].upper()}{line.why[1:]}."
                row = self._documented(
                    line.code, line.system, [line.evidence], why, PROCEDURE_CONFIDENCE
                )
                row.units = line.units
                row.modifiers = _side_modifiers(line)
                rows.append(row)
            self._insert_documented(suggestions, rows)
        facility = patient.setting == "inpatient" or any(
            s.selected and s.code in ED_VISITS for s in suggestions
        )
        complete_lines(
            note,
            suggestions,
            facility=facility,
            known=lambda code: self.codebook.find(code, CPT) is not None,
        )

    def _cpt_matches(self, query: str) -> list[Any]:
        """The CPT codes a search for ``query`` finds, with their synonyms."""
        found = (self.codebook.find(r.code, CPT) for r in self.codebook.search(query, system=CPT))
        return [info for info in found if info is not None]

    def _documented(
        self, code: str, system: str, evidence: list[Evidence], note: str, confidence: float
    ) -> Suggestion:
        """A pre-selected procedure line read from the documentation."""
        rec = self.codebook.find(code, system)
        return Suggestion(
            code=code,
            system=system,
            description=rec.description if rec else "",
            score=confidence,
            rank=0,
            selected=True,
            evidence=evidence,
            sources={"documentation": confidence},
            note=note,
        )

    def _insert_documented(self, suggestions: list[Suggestion], rows: list[Suggestion]) -> None:
        """Pre-selected lines read from the documentation, placed after the last pre-selected
        line, with ranks renumbered."""
        at = _after_last_selected(suggestions)
        suggestions[at:at] = rows
        for rank, sug in enumerate(suggestions, start=1):
            sug.rank = rank

    def _attach_edits(
        self,
        suggestions: list[Suggestion],
        terms: list[Term],
        context: dict[str, Any],
        date: dt.date | None,
    ) -> None:
        from codesuggest.rules import NoteContext, attach_edits, validate_codes

        # Procedures with their units spelled out: J3489 alone would read as ICD-10-CM J34.89.
        chosen = [
            s.code if s.system == ICD10CM else f"{s.claim_code.split('*')[0]}*{s.units or 1}"
            for s in suggestions
            if s.selected
        ]
        if not chosen:
            return
        note_context = NoteContext(
            encounter=next(
                (t.attributes["encounter"] for t in terms if "encounter" in t.attributes), None
            ),
            lateralities={
                t.attributes["laterality"] for t in terms if "laterality" in t.attributes
            },
            uncertain_terms={
                t.codes[0]: t.text for t in terms if t.assertion == "uncertain" and t.codes
            },
            symptom_codes=tuple(
                dict.fromkeys(
                    t.codes[0]
                    for t in terms
                    if t.assertion == "present" and t.codes and t.codes[0].startswith("R")
                )
            ),
            findings={w for t in terms if t.assertion == "present" for w in t.text.lower().split()},
            documented_codes={
                s.code for s in suggestions if s.evidence and s.sources.get("lookup")
            },
            # A procedure with a global period (the surgery section), not the visit itself,
            # nor an X-ray, a lab or a drug (modifier 25 is for the E/M beside a procedure).
            procedures_same_day=any(
                s.selected and s.system != ICD10CM and _is_surgery(s.code) for s in suggestions
            ),
        )
        edits = validate_codes(
            chosen,
            age=context["age"],
            sex=context["sex"],
            setting=context["setting"],
            encounter_date=date,
            context=note_context,
            codebook=self.codebook,
            cms_edits=self.cms_edits,
        )
        attach_edits(suggestions, edits)

    def suggest_many(self, notes: Iterable[str | Mapping[str, Any]]) -> Iterator[SuggestionResult]:
        """``suggest`` over many notes (texts, or dicts with ``text`` and optional context)."""
        for i, item in enumerate(notes):
            if isinstance(item, Mapping):
                yield self.suggest(
                    item.get("text", ""),
                    setting=item.get("setting") or "outpatient",
                    age=item.get("age"),
                    sex=item.get("sex"),
                    encounter_date=item.get("encounter_date"),
                    id=str(item["id"]) if item.get("id") is not None else str(i),
                )
            else:
                yield self.suggest(item, id=str(i))

    def validate(
        self,
        codes: list[str],
        *,
        age: int | None = None,
        sex: str | None = None,
        setting: str = "outpatient",
        encounter_date: dt.date | str | None = None,
    ) -> list[Edit]:
        """Coding-rule edits for a code list a coder has chosen (first listed = principal)."""
        from codesuggest.rules import validate_codes

        patient = PatientContext.parse(
            setting=setting, age=age, sex=sex, encounter_date=encounter_date
        )
        return validate_codes(
            codes,
            age=patient.age,
            sex=patient.sex,
            setting=patient.setting,
            encounter_date=patient.encounter_date,
            codebook=self.codebook,
        )


def limit_threads(at_most: int | None = None) -> None:
    """One OpenMP and one BLAS thread per process, unless ``CODESUGGEST_OMP_THREADS`` says
    otherwise (and never more than ``at_most``).

    A note's few dozen candidates are far too small a batch for threads: starting them made
    the ranker three times slower, and idle BLAS threads spinning beside the scorer kept a
    second core busy and cost a fifth of the throughput (2026-12-03, 2 cores). Throughput
    comes from batch workers, one per core.
    """
    from threadpoolctl import threadpool_limits

    n = int(os.environ.get("CODESUGGEST_OMP_THREADS", "1"))
    if at_most is not None:
        n = max(1, min(n, at_most))
    threadpool_limits(n, user_api="openmp")
    threadpool_limits(n, user_api="blas")


def _is_surgery(code: str) -> bool:
    """A CPT code of the surgery section (10021-69990)."""
    return code.isdigit() and "10000" <= code <= "69999"


@cache
def _load(model_dir: str | None) -> Suggester:
    from codesuggest.terms.extractor import TermExtractor

    suggester = Suggester(
        load_model(model_dir),
        default_codebook(),
        TermExtractor.default(),
        load_index(),
        cms_edits=_cms_edits_from_environment(),
    )
    # After loading: a limit reaches only the thread pools of libraries already loaded.
    limit_threads()
    return suggester


def _cms_edits_from_environment() -> list[Any]:
    """NCCI tables named by ``$CODESUGGEST_NCCI_PTP`` and ``$CODESUGGEST_MUE`` (paths
    separated by ``os.pathsep``): CMS licenses no copy with the package, so none ships."""
    from codesuggest.rules import load_mue, load_ncci_ptp

    tables: list[Any] = []
    for var, loader in (("CODESUGGEST_NCCI_PTP", load_ncci_ptp), ("CODESUGGEST_MUE", load_mue)):
        tables += [loader(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    return tables


def load(model: str | os.PathLike[str] | None = None) -> Suggester:
    """The suggester for ``model`` (a model folder; default: the shipped one), once per process."""
    return _load(str(Path(model).resolve()) if model is not None else None)
