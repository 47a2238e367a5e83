"""Provider queries (CDI): a compliant, non-leading question to the provider where a suggestion
notes missing documentation, kept in the audit database with its status.

A query follows the AHIMA/ACDIS *Guidelines for Achieving a Compliant Query Practice* (2022
update): it quotes the clinical indicators from the note (with their offsets), asks an open
question that names no code and no payment, and offers every clinically reasonable option plus
"Other" and "Unable to determine". ``build_query`` makes one from a review row; ``QueryStore``
keeps them in their own tables of the audit database (``provider_queries`` and the
append-only ``provider_query_events``), beside and independent of ``store.audit``'s tables.

A query's indicators quote note words: like the audit store, the database keeps them only with
``store_note_text``; otherwise offsets and the note's sha256. The text and JSON made when the
coder raises the query (``query_text``, ``query_json``) carry the words, for the provider.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from codesuggest.core.errors import ArtifactError, InputError
from codesuggest.store.audit import connect

STATUSES = ("open", "answered", "closed")
OTHER = "Other (please specify)"
UNABLE = "Unable to determine"
MAX_INDICATORS = 5
MAX_OPTIONS = 8

# What a suggestion's note says is missing -> the query topic. The phrases are those of
# ``codebook.hierarchy._missing_detail`` and the E/M reasoning of ``rank.em``.
_TOPICS = (
    ("laterality", "laterality"),
    ("acuity", "acuity"),
    ("trimester", "trimester"),
    ("stage", "stage"),
    ("severity", "severity"),
    ("more specific documentation", "type"),
    ("document more on", "em"),
)
TOPICS = ("laterality", "acuity", "stage", "type", "severity", "trimester", "linkage", "em")
_FIXED_OPTIONS = {
    "laterality": ["Right", "Left", "Bilateral"],
    "acuity": ["Acute", "Chronic", "Acute on chronic"],
    "severity": ["Mild", "Moderate", "Severe"],
    "trimester": ["First trimester", "Second trimester", "Third trimester"],
    "em": [
        "The documentation is complete as written",
        "An addendum will document the problems addressed, the data reviewed and the risk of "
        "management",
        "The total time spent on the date of the encounter was ___ minutes",
    ],
}
_QUESTIONS = {
    "laterality": "Please clarify the laterality of the {condition} documented in this record.",
    "acuity": "Please clarify the acuity of the {condition} documented in this record.",
    "stage": "Please clarify the stage of the {condition} documented in this record.",
    "type": "Please clarify the type or further specificity of the {condition} documented in "
    "this record.",
    "severity": "Please clarify the severity of the {condition} documented in this record.",
    "trimester": "Please clarify the trimester of the pregnancy at this encounter.",
    "linkage": "Based on the clinical indicators below, please clarify whether the {condition} "
    "is related to another condition documented in this record.",
    "em": "Please review the documentation of this visit's medical decision making (problems "
    "addressed, data reviewed and analysed, risk of patient management) or total time.",
}
_LINKAGE_OPTIONS = [
    "The {condition} is due to, or related to, another documented condition (please name it)",
    "The {condition} is not related to another documented condition",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS provider_queries (
    query_id     TEXT PRIMARY KEY,
    review_id    TEXT NOT NULL,
    note_id      TEXT,
    note_sha256  TEXT,
    code         TEXT NOT NULL,
    system       TEXT NOT NULL,
    topic        TEXT NOT NULL,
    question     TEXT NOT NULL,
    indicators   TEXT NOT NULL,
    options      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    answer       TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS provider_queries_review ON provider_queries (review_id);
CREATE TABLE IF NOT EXISTS provider_query_events (
    event_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id   TEXT NOT NULL REFERENCES provider_queries (query_id),
    ts         TEXT NOT NULL,
    reviewer   TEXT NOT NULL,
    status     TEXT NOT NULL,
    answer     TEXT
);
CREATE TRIGGER IF NOT EXISTS provider_query_events_no_update BEFORE UPDATE ON provider_query_events
BEGIN SELECT RAISE(ABORT, 'the query log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS provider_query_events_no_delete BEFORE DELETE ON provider_query_events
BEGIN SELECT RAISE(ABORT, 'the query log is append-only'); END;
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class ProviderQuery:
    """One query to the provider about one code-table row."""

    review_id: str
    code: str
    system: str
    topic: str
    question: str
    indicators: list[dict[str, Any]]
    options: list[str]
    note_id: str | None = None
    note_sha256: str | None = None
    query_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "open"
    answer: str | None = None
    created_by: str = ""
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The query as ``query_json`` and the store's readers give it."""
        return {
            "query_id": self.query_id,
            "review_id": self.review_id,
            "note_id": self.note_id,
            "note_sha256": self.note_sha256,
            "code": self.code,
            "system": self.system,
            "topic": self.topic,
            "question": self.question,
            "clinical_indicators": [dict(i) for i in self.indicators],
            "options": list(self.options),
            "status": self.status,
            "answer": self.answer,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def topics_of(note: str) -> list[str]:
    """The query topics a suggestion's note names as missing documentation, in its order."""
    low = (note or "").lower()
    if "does not document" not in low and "document more on" not in low:
        return []
    return list(dict.fromkeys(t for phrase, t in _TOPICS if phrase in low))


def _condition(indicators: Sequence[Mapping[str, Any]], description: str) -> str:
    # The provider's own words name the condition; the code's description only without them.
    words = next((str(i["text"]) for i in indicators if i.get("text")), "")
    return " ".join((words or description or "condition").split())


def _sibling_options(codebook: Any, code: str) -> list[str]:
    """The clinically reasonable alternatives: the specific codes beside an unspecified one."""
    icd = getattr(codebook, "icd", None)
    rec = icd.find(code) if icd is not None else None
    if rec is None or rec.parent is None:
        return []
    parent = icd.find(rec.parent)
    if parent is not None and parent.requires_7th and parent.parent:
        parent = icd.find(parent.parent)  # "S52.502A": the choice is among S52.501 / S52.502
    if parent is None:
        return []
    out = []
    for child in icd.children(parent.code):
        desc = icd.get(child).description
        if "unspecified" not in desc.lower() and child != code:
            out.append(desc)
    return out[:MAX_OPTIONS]


def build_query(
    *,
    review_id: str,
    code: str,
    system: str,
    description: str,
    evidence: Sequence[Mapping[str, Any]],
    note_text: str | None,
    note: str = "",
    topic: str | None = None,
    codebook: Any = None,
    note_id: str | None = None,
    note_sha256: str | None = None,
) -> ProviderQuery:
    """A non-leading query about one row: its question, indicators and options.

    Args:
        evidence: the row's evidence spans (offsets into ``note_text``); the model's context
            words are not clinical indicators and are left out.
        note: the suggestion's note, which names what is missing ("the note does not
            document laterality ..."); ``topic`` overrides it (one of ``TOPICS``).
        codebook: to offer the specific codes' descriptions as options for type and stage.

    Raises:
        InputError: no topic is given and the note names no missing documentation.
    """
    found = topics_of(note)
    topic = topic or (found[0] if found else None)
    if topic is None:
        raise InputError(
            f"The suggestion of {code} notes no missing documentation; choose what to ask "
            "about (laterality, acuity, stage, type, severity, trimester, linkage, E/M)."
        )
    if topic not in TOPICS:
        raise InputError(f"Query topic must be one of {', '.join(TOPICS)}, not {topic!r}.")
    indicators: list[dict[str, Any]] = []
    for e in evidence:
        start, end = e.get("start"), e.get("end")
        if (
            e.get("assertion") == "context"
            or not isinstance(start, int)
            or not isinstance(end, int)
        ):
            continue
        if any(i["start"] == start and i["end"] == end for i in indicators):
            continue
        text = note_text[start:end] if note_text is not None else e.get("text")
        indicators.append(
            {"start": start, "end": end, "text": text, "section": e.get("section") or None}
        )
        if len(indicators) == MAX_INDICATORS:
            break
    condition = _condition(indicators, description)
    if topic in ("stage", "type"):
        options = _sibling_options(codebook, code) if system == "ICD-10-CM" else []
    elif topic == "linkage":
        options = [o.format(condition=condition) for o in _LINKAGE_OPTIONS]
    else:
        options = list(_FIXED_OPTIONS.get(topic, []))
    return ProviderQuery(
        review_id=review_id,
        note_id=note_id,
        note_sha256=note_sha256,
        code=code,
        system=system,
        topic=topic,
        question=_QUESTIONS[topic].format(condition=condition),
        indicators=indicators,
        options=[*options, OTHER, UNABLE],
    )


def query_text(query: ProviderQuery | Mapping[str, Any]) -> str:
    """The query as the provider reads it: question, quoted indicators, options to tick."""
    d = query.to_dict() if isinstance(query, ProviderQuery) else dict(query)
    lines = [f"Provider query {d['query_id'][:8]} ({d['status']})", "", d["question"], ""]
    lines.append("Clinical indicators in the record:")
    for i in d["clinical_indicators"]:
        where = f", {i['section'].replace('_', ' ')}" if i.get("section") else ""
        words = f'"{i["text"]}"' if i.get("text") is not None else "(text not stored)"
        lines.append(f"  - {words} (characters {i['start']}-{i['end']}{where})")
    lines += ["", "Please document your clinical judgement in the record:"]
    lines += [f"  [ ] {o}" for o in d["options"]]
    if d.get("answer"):
        lines += ["", f"Answer: {d['answer']}"]
    return "\n".join(lines) + "\n"


def query_json(query: ProviderQuery | Mapping[str, Any]) -> str:
    """The query as JSON (``ProviderQuery.to_dict``)."""
    d = query.to_dict() if isinstance(query, ProviderQuery) else dict(query)
    return json.dumps(d, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


class QueryStore:
    """Provider queries in the audit database's own two tables.

    Args:
        path: the audit database (``AuditStore.path``); created when missing.
        store_note_text: keep the indicators' words; else only their offsets.
    """

    def __init__(self, path: str | PathLike[str], *, store_note_text: bool = False) -> None:
        self.path = Path(path)
        self.store_note_text = store_note_text
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ArtifactError(
                f"{self.path} cannot hold provider queries ({exc}); give another --db path."
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add(self, query: ProviderQuery, *, reviewer: str) -> ProviderQuery:
        """Store a new (open) query and its first event; returns it with its times set."""
        query.created_by = reviewer
        query.created_at = query.updated_at = _now()
        indicators = [
            i if self.store_note_text else {k: v for k, v in i.items() if k != "text"}
            for i in query.indicators
        ]
        with self._transaction() as db:
            db.execute(
                "INSERT INTO provider_queries (query_id, review_id, note_id, note_sha256, code,"
                " system, topic, question, indicators, options, status, answer, created_by,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    query.query_id,
                    query.review_id,
                    query.note_id,
                    query.note_sha256,
                    query.code,
                    query.system,
                    query.topic,
                    query.question,
                    json.dumps(indicators, ensure_ascii=False),
                    json.dumps(query.options, ensure_ascii=False),
                    query.status,
                    query.answer,
                    reviewer,
                    query.created_at,
                    query.updated_at,
                ),
            )
            db.execute(
                "INSERT INTO provider_query_events (query_id, ts, reviewer, status, answer)"
                " VALUES (?,?,?,?,?)",
                (query.query_id, query.created_at, reviewer, query.status, None),
            )
        return query

    def set_status(
        self, query_id: str, status: str, *, reviewer: str, answer: str | None = None
    ) -> dict[str, Any]:
        """Record the provider's answer (``answered``) or close the query; audited."""
        if status not in STATUSES:
            raise InputError(f"Query status must be one of {', '.join(STATUSES)}, not {status!r}.")
        if status == "answered" and not (answer or "").strip():
            raise InputError("Write the provider's answer before marking the query answered.")
        ts = _now()
        with self._transaction() as db:
            row = db.execute(
                "SELECT answer FROM provider_queries WHERE query_id = ?", (query_id,)
            ).fetchone()
            if row is None:
                raise InputError(f"No provider query {query_id!r} in {self.path}.")
            kept = answer if answer is not None and answer.strip() else row["answer"]
            db.execute(
                "UPDATE provider_queries SET status = ?, answer = ?, updated_at = ?"
                " WHERE query_id = ?",
                (status, kept, ts, query_id),
            )
            db.execute(
                "INSERT INTO provider_query_events (query_id, ts, reviewer, status, answer)"
                " VALUES (?,?,?,?,?)",
                (query_id, ts, reviewer, status, answer),
            )
        return self.query(query_id)

    def _row(self, r: sqlite3.Row) -> dict[str, Any]:
        d = dict(r)
        d["clinical_indicators"] = json.loads(d.pop("indicators"))
        d["options"] = json.loads(d["options"])
        return d

    def query(self, query_id: str) -> dict[str, Any]:
        """One stored query (``ProviderQuery.to_dict``'s keys)."""
        with self._lock:
            r = self._db.execute(
                "SELECT * FROM provider_queries WHERE query_id = ?", (query_id,)
            ).fetchone()
        if r is None:
            raise InputError(f"No provider query {query_id!r} in {self.path}.")
        return self._row(r)

    def queries(self, review_id: str | None = None) -> list[dict[str, Any]]:
        """Stored queries, oldest first, of one review or of all."""
        sql = "SELECT * FROM provider_queries"
        args: tuple[Any, ...] = ()
        if review_id is not None:
            sql += " WHERE review_id = ?"
            args = (review_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at, query_id", args).fetchall()
        return [self._row(r) for r in rows]

    def events(self, query_id: str) -> list[dict[str, Any]]:
        """A query's status changes in the order they were made."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM provider_query_events WHERE query_id = ? ORDER BY event_id",
                (query_id,),
            ).fetchall()
        return [dict(r) for r in rows]

    def counts(self) -> dict[str, Any]:
        """How many queries there are by status and by topic (for the analytics tab)."""
        rows = self.queries()
        return {
            "total": len(rows),
            "by_status": {s: sum(r["status"] == s for r in rows) for s in STATUSES},
            "by_topic": dict(Counter(r["topic"] for r in rows).most_common()),
        }
