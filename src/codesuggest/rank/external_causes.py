"""External causes of an injury (V00-Y99): how it happened, where, doing what, in what status.

Guideline I.C.20: an external-cause code goes with an injury for as long as it is treated
(the 7th character follows the injury's encounter); the place (Y92), activity (Y93) and status
(Y99) codes are reported once, at the initial encounter. The story is read from the sentences
that tell it (the injury's own sentence, the chief complaint and history), each through the
External Cause of Injuries Index; a kind the note does not document gets no code (never the
"unspecified" Y92.9 / Y93.9 / Y99.9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from codesuggest.codebook.external import ExternalHit, load_external_index, read_causes
from codesuggest.codebook.index import AlphabeticIndex
from codesuggest.core.records import Term
from codesuggest.core.text import blank_titled_names, spans_between

EXTERNAL_LABEL = "external cause"
INJURY_LABEL = "injury"
# Sentences that tell how an injury happened; a note of thousands of them is read for the
# first ones.
_STORY = re.compile(
    r"\b(?:fell|falls?|falling|slipp\w*|tripp\w*|struck|hit|bit(?:ten|e)|collision|accident|"
    r"mvc|mva|crash\w*|assault\w*|burn\w*|twist\w*|injur\w*|skat\w*|bik\w*|bicycl\w*|"
    r"playing|while|leisure|work|lift\w*|overexert\w*|stumbl\w*|hurt|sustain\w*|sprain\w*|"
    r"strain\w*|hyperextend\w*|broke|pulled)\b",
    re.IGNORECASE,
)
_BREAK = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*(?:\d{1,2}[.)]|[-*\u2022])\s)")
MAX_SENTENCES = 40
# "Denies falls", "no trauma": a sentence that says nothing happened tells no cause.
_DENIED = re.compile(r"\b(?:no|denies|denied|negative\s+for|without|never)\b", re.IGNORECASE)
# Once per injury, at the first encounter only.
_INITIAL_ONLY = ("Y92", "Y93", "Y99")
_WORD = re.compile(r"[A-Za-z][\w'-]*")
# Activities that are leisure unless the note says otherwise: sports and athletics (Y93.0-
# Y93.7), exercise (Y93.A, Y93.B), arts and crafts (Y93.D) and household chores (Y93.E).
_LEISURE_ACTIVITIES = tuple(f"Y93.{c}" for c in "01234567ABDE")
LEISURE_STATUS = "Y99.8"
_PAID = re.compile(
    r"\b(?:work(?![\s-]?up\b)|works|working|job|employ\w*|paid|pay|income|"
    r"professional(?:ly)?|occupation\w*|military|duty|volunteer\w*|on the clock|"
    r"workers'? comp\w*)\b",
    re.IGNORECASE,
)


def is_injury(code: str) -> bool:
    """An injury code of chapter 19 that external causes go with (S00-T34, T66-T79: not the
    poisonings and adverse effects, whose intent is in the T code itself)."""
    return code[:1] == "S" or "T00" <= code[:3] <= "T34" or "T66" <= code[:3] <= "T79"


def external_cause_terms(
    text: str, terms: Sequence[Term], index: AlphabeticIndex | None = None
) -> list[Term]:
    """One term for each kind of external cause the injury's story documents."""
    # An injury the vocabulary codes, or one it names without a code ("strain", which the
    # Index reads by its site later).
    injuries = [
        t
        for t in terms
        if t.assertion == "present"
        and (is_injury(t.codes[0]) if t.codes else t.label == INJURY_LABEL)
    ]
    if not injuries:
        return []
    index = index or load_external_index()
    encounter = next(
        (t.attributes["encounter"] for t in injuries if t.attributes.get("encounter")), "initial"
    )
    # "Ms. Hill" is a person, not a place (and her title's full stop ends no sentence).
    story = blank_titled_names(text)
    spans = [
        (a, b)
        for a, b in _sentences(story)
        if _STORY.search(story, a, b) and not _DENIED.search(story, a, b)
    ][:MAX_SENTENCES]
    best: dict[str, tuple[int, ExternalHit, tuple[int, int]]] = {}
    for start, end in spans:
        hits = read_causes(story[start:end], index)
        if not any(h.kind == "how" for h in hits) and not _tells_the_injury(story, start, end):
            # Where and doing what are read where the note says how the injury happened
            # ("he was golfing and hurt his back"): a soccer league mentioned in passing is
            # not the activity of an ankle sprain on ice.
            continue
        for hit in hits:
            if encounter != "initial" and hit.code.startswith(_INITIAL_ONLY):
                continue
            if hit.kind not in best or len(hit.words) > best[hit.kind][0]:
                best[hit.kind] = (len(hit.words), hit, (start, end))
    if "activity" in best and "status" not in best:
        # Done for pay where the injury's story says so ("at work", "on the job"), not
        # wherever the note says "work" ("physical therapy to work on strengthening").
        told = " ".join(story[a:b] for _, _, (a, b) in best.values())
        status = _leisure_status(best["activity"][1], told)
        if status is not None:
            best["status"] = (0, status, best["activity"][2])
    if "how" in best and "status" not in best:
        status = _unpaid_status(story, best["how"][2], index)
        if status is not None:
            best["status"] = (0, status, best["how"][2])
    template = injuries[0]
    out = []
    for _, hit, (start, end) in best.values():
        lo, hi = _span(text, start, end, hit.words, index)
        out.append(
            replace(
                template,
                text=text[lo:hi],
                start=lo,
                end=hi,
                sentence_start=start,
                sentence_end=end,
                label=EXTERNAL_LABEL,
                codes=(hit.code,),
                attributes={"encounter": encounter},
                source=" > ".join(("External Cause Index", *hit.path)),
                expansion=f"external cause ({hit.kind})",
                ambiguous=(),
            )
        )
    return out


# A sentence that tells the injury happening ("hurt his back", "sustained an injury to her
# foot while playing soccer"), not one of injuries in the past.
_HURT = re.compile(
    r"\b(?:hurt|injur(?:ed|ing)|sustain(?:ed|s)?|twist(?:ed|ing)|sprain(?:ed|ing)|"
    r"strain(?:ed|ing)|hyperextend(?:ed|ing)|broke|pulled|felt\s+a\s+pop)\b",
    re.IGNORECASE,
)
_EARLIER = re.compile(
    r"\b(?:in\s+the\s+past|previous(?:ly)?|prior|history\s+of|several|years?\s+ago)\b",
    re.IGNORECASE,
)


def _tells_the_injury(text: str, start: int, end: int) -> bool:
    """Whether the sentence tells this injury happening (where an activity or place it
    names is the injury's own), not earlier ones."""
    return bool(_HURT.search(text, start, end)) and not _EARLIER.search(text, start, end)


def _leisure_status(activity: ExternalHit, text: str) -> ExternalHit | None:
    """Y99.8 for a sport, exercise, craft or household activity the note does not say was
    done for pay, as a volunteer or in service (Y99.8 "leisure activity, recreation or sport
    not for income"); None for other activities, which say nothing of the status."""
    if not activity.code.startswith(_LEISURE_ACTIVITIES) or _PAID.search(text):
        return None
    return _other_status(
        f"leisure ({' > '.join(activity.path[1:])}, not for income)", activity.words
    )


def _other_status(reading: str, words: frozenset[str]) -> ExternalHit:
    """Y99.8, other external cause status, with the Index row the note's words read as."""
    return ExternalHit("status", LEISURE_STATUS, ("External cause status", reading), words)


# A household chore or a hand given to family or friends: an activity not done for income,
# whether or not the External Cause Index has an activity code for it ("taking out the
# trash", "helping his daughter move").
_UNPAID = re.compile(
    r"\b(?:chores?|housework|trash|garbage|recycling|helping\s+(?:(?:his|her|my|their|a|the)"
    r"\s+)?(?:\w+\s+)?(?:daughter|son|wife|husband|mother|father|mom|dad|parents?|friends?|"
    r"neighbou?rs?|family|brother|sister|grand\w+|kids?|children))\b",
    re.IGNORECASE,
)


def _unpaid_status(
    story: str, sentence: tuple[int, int], index: AlphabeticIndex
) -> ExternalHit | None:
    """Y99.8 where the sentence that tells how the injury happened tells an unpaid chore or
    help to family ("specified NEC" of External cause status), unless it says work."""
    start, end = sentence
    said = _UNPAID.search(story, start, end)
    if said is None or _PAID.search(story, start, end):
        return None
    return _other_status(
        f"specified NEC ('{said[0]}', not for income)", index.phrase_words(said[0])
    )


def _sentences(text: str) -> list[tuple[int, int]]:
    """Sentence and list-entry bounds (a line break inside a sentence does not end it)."""
    return [(a, b) for a, b in spans_between(_BREAK, text) if b > a]


def _span(
    text: str, start: int, end: int, words: frozenset[str], index: AlphabeticIndex
) -> tuple[int, int]:
    """The sentence cut down to the words the Index read, as the note wrote them ("slipped"
    for Slipping), their first to their last."""
    found = [
        (start + m.start(), start + m.end())
        for m in _WORD.finditer(text[start:end])
        if index.phrase_words(m[0]) & words
    ]
    return (found[0][0], found[-1][1]) if found else (start, end)
