"""``SearchIndex``: a weighted token index over code descriptions and index terms."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from codesuggest.core.text import stem, tokens, word_aliases

# Words that describe the default code ("unspecified", "without complications") should not
# make a description look like a worse match for a query that does not mention them.
LOW_WEIGHT = frozenset(
    ["unspecified", "without", "complication", "other", "specified", "site", "part", "type"]
)


LOW_WEIGHT_FACTOR = 0.2


# Clinicians' words for the tabular list's words (``data/word_aliases.json``, shared with the
# term extractor). A query word matches either itself or any of its alternatives, whichever
# scores best ("distal radius" finds "lower end of radius").
QUERY_ALIASES: dict[str, tuple[str, ...]] = word_aliases("search")


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the entry's owner (a code index), its score and the text matched."""

    owner: int
    score: float
    doc: int


class SearchIndex:
    """An inverted index over short texts, each owned by an integer (a code's position)."""

    def __init__(
        self,
        *,
        vocab: Sequence[str],
        indptr: np.ndarray,
        postings: np.ndarray,
        doc_owner: np.ndarray,
        doc_weight: np.ndarray,
        idf: np.ndarray,
        texts: Sequence[str],
    ) -> None:
        self.vocab = list(vocab)
        self._vocab_ix = {t: i for i, t in enumerate(self.vocab)}
        self._sorted_vocab = sorted(self.vocab)
        self.indptr = indptr
        self.postings = postings
        self.doc_owner = doc_owner
        self.doc_weight = doc_weight
        self.idf = idf
        self.texts = texts

    @classmethod
    def build(cls, entries: Iterable[tuple[int, str]]) -> SearchIndex:
        """Index ``(owner, text)`` pairs; an owner may have several texts (synonyms)."""
        owners: list[int] = []
        texts: list[str] = []
        doc_tokens: list[list[str]] = []
        for owner, text in entries:
            toks = sorted(set(tokens(text)))
            if not toks:
                continue
            owners.append(owner)
            texts.append(text)
            doc_tokens.append(toks)
        vocab_ix: dict[str, int] = {}
        for toks in doc_tokens:
            for t in toks:
                vocab_ix.setdefault(t, len(vocab_ix))
        df = np.zeros(len(vocab_ix), dtype=np.int64)
        rows: list[list[int]] = [[] for _ in vocab_ix]
        for d, toks in enumerate(doc_tokens):
            for t in toks:
                j = vocab_ix[t]
                rows[j].append(d)
                df[j] += 1
        n_docs = len(doc_tokens)
        idf = np.log((n_docs + 1) / (df + 0.5)).astype(np.float32)
        vocab = list(vocab_ix)
        for j, t in enumerate(vocab):
            if t in LOW_WEIGHT:
                idf[j] *= LOW_WEIGHT_FACTOR
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(r) for r in rows])
        postings = np.fromiter((d for r in rows for d in r), dtype=np.int32, count=int(indptr[-1]))
        doc_weight = np.array(
            [sum(float(idf[vocab_ix[t]]) for t in toks) for toks in doc_tokens],
            dtype=np.float32,
        )
        return cls(
            vocab=vocab,
            indptr=indptr,
            postings=postings,
            doc_owner=np.asarray(owners, dtype=np.int32),
            doc_weight=doc_weight,
            idf=idf,
            texts=texts,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The index as plain arrays, for an ``np.savez`` cache (no pickle involved)."""
        return {
            "indptr": self.indptr,
            "postings": self.postings,
            "doc_owner": self.doc_owner,
            "doc_weight": self.doc_weight,
            "idf": self.idf,
        }

    def weight(self, word: str) -> float | None:
        """The rarity weight of an indexed word (``None`` for a word not in the index)."""
        j = self._vocab_ix.get(word)
        return float(self.idf[j]) if j is not None else None

    def _expand(self, token: str, *, prefix: bool) -> list[tuple[int, float]]:
        """Vocabulary entries a query word stands for, each with a similarity in (0, 1]."""
        j = self._vocab_ix.get(token)
        if j is not None:
            return [(j, 1.0)]
        found: dict[int, float] = {}
        if prefix and len(token) >= 2:
            lo = bisect.bisect_left(self._sorted_vocab, token)
            for word in self._sorted_vocab[lo : lo + 40]:
                if not word.startswith(token):
                    break
                found[self._vocab_ix[word]] = 0.9
        if len(token) >= 4:
            cutoff = 80 if len(token) >= 6 else 85
            for word, score, _ in process.extract(
                token, self.vocab, scorer=fuzz.ratio, score_cutoff=cutoff, limit=3
            ):
                j = self._vocab_ix[word]
                found[j] = max(found.get(j, 0.0), 0.95 * score / 100.0)
        return sorted(found.items(), key=lambda kv: -kv[1])

    def search(
        self, query: str, *, limit: int = 10, owner_mask: np.ndarray | None = None
    ) -> list[Hit]:
        """Best entries for ``query``, at most one per owner, best first.

        ``owner_mask`` (boolean, indexed by owner) restricts the search, e.g. to one system.
        Scores are in [0, 1]: 1 means every query word found and nothing else in the text.
        """
        raw = list(dict.fromkeys(tokens(query)))
        if not raw:
            return []
        typing_last = not query[-1:].isspace()
        n_docs = len(self.doc_owner)
        matched = np.zeros(n_docs, dtype=np.float32)
        wanted = 0.0
        for i, word in enumerate(raw):
            is_last = typing_last and i == len(raw) - 1
            expansions: dict[int, float] = {}
            for alt in (word, *map(stem, QUERY_ALIASES.get(word, ()))):
                for j, sim in self._expand(alt, prefix=is_last and alt == word):
                    expansions[j] = max(expansions.get(j, 0.0), sim)
            if not expansions:
                wanted += float(self.idf.max()) if len(self.idf) else 1.0
                continue
            # The query word means its closest vocabulary word; weaker readings count less.
            closest = max(expansions, key=lambda j: (expansions[j], -self.idf[j]))
            weight = float(self.idf[closest])
            wanted += weight
            contrib = np.zeros(n_docs, dtype=np.float32)
            for j, sim in expansions.items():
                docs = self.postings[self.indptr[j] : self.indptr[j + 1]]
                # A word's postings are unique, so fancy-index assignment is safe and fast.
                contrib[docs] = np.maximum(contrib[docs], min(float(self.idf[j]), weight) * sim)
            matched += contrib
        if wanted <= 0 or not matched.any():
            return []
        coverage = matched / wanted
        precision = np.minimum(matched / np.maximum(self.doc_weight, 1e-6), 1.0)
        score = coverage * coverage * (0.55 + 0.45 * precision)
        if owner_mask is not None:
            score = np.where(owner_mask[self.doc_owner], score, 0.0)
        k = min(max(limit * 20, 200), n_docs)
        top = np.argpartition(-score, k - 1)[:k] if k < n_docs else np.arange(n_docs)
        top = top[score[top] > 0]
        best: dict[int, Hit] = {}
        for d in top[np.argsort(-score[top], kind="stable")]:
            owner = int(self.doc_owner[d])
            if owner not in best:
                best[owner] = Hit(owner=owner, score=float(score[d]), doc=int(d))
        return list(best.values())
