"""Productivity and quality at a glance, read from the audit database.

``productivity`` gives, per coder and per day (UTC) of finalising: notes finalised, the median
time per note (the review's first opening to its last finalising), and the acceptance,
replacement and addition rates of the codes on those notes; ``most_corrected`` the codes
coders most often rejected or replaced. ``QualitySample`` draws a random share of finalised
reviews for a second review and records whether the second coder agreed (its own table,
``qa_reviews``, in the same database; ``store.audit``'s tables are only read).
"""

from __future__ import annotations

import csv
import io
import random
import sqlite3
import statistics
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from codesuggest.core.errors import InputError
from codesuggest.store.audit import connect

PRODUCTIVITY_COLUMNS = (
    "reviewer",
    "day",
    "notes_finalised",
    "median_minutes",
    "suggested",
    "accepted",
    "replaced",
    "rejected",
    "added",
    "acceptance_rate",
    "replacement_rate",
    "addition_rate",
    "queries",
)

_QA_SCHEMA = """
CREATE TABLE IF NOT EXISTS qa_reviews (
    review_id    TEXT PRIMARY KEY,
    drawn_at     TEXT NOT NULL,
    drawn_by     TEXT NOT NULL,
    qa_reviewer  TEXT,
    agreed       INTEGER CHECK (agreed IN (0, 1)),
    comment      TEXT,
    recorded_at  TEXT
);
"""


def _connect(path: str | PathLike[str]) -> sqlite3.Connection:
    return connect(path)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def productivity(path: str | PathLike[str]) -> list[dict[str, Any]]:
    """One row per coder and day of finalising, oldest day first (``PRODUCTIVITY_COLUMNS``).

    Rates are over the suggestions decided on the day's finalised notes: accepted (kept as
    suggested) and replaced (corrected to another code) over accepted + replaced + rejected;
    added is codes coders added over the final codes.
    """
    db = _connect(path)
    try:
        if not _has_table(db, "reviews"):
            return []
        reviews = db.execute(
            "SELECT review_id, reviewer, created_at, finalised_at FROM reviews"
            " WHERE status = 'finalised' AND finalised_at IS NOT NULL"
        ).fetchall()
        items: dict[str, Counter[str]] = defaultdict(Counter)
        for r in db.execute("SELECT review_id, origin, status FROM review_items"):
            key = "added" if r["origin"] == "added" and r["status"] != "rejected" else r["status"]
            if r["origin"] == "added" and r["status"] == "rejected":
                continue
            items[r["review_id"]][key] += 1
        queries: Counter[tuple[str, str]] = Counter()
        if _has_table(db, "provider_queries"):
            for q in db.execute("SELECT created_by, created_at FROM provider_queries"):
                queries[(q["created_by"], q["created_at"][:10])] += 1
    finally:
        db.close()
    groups: dict[tuple[str, str], list[sqlite3.Row]] = defaultdict(list)
    for r in reviews:
        groups[(r["reviewer"], r["finalised_at"][:10])].append(r)
    out = []
    for (reviewer, day), rows in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        minutes = [
            (
                datetime.fromisoformat(r["finalised_at"]) - datetime.fromisoformat(r["created_at"])
            ).total_seconds()
            / 60
            for r in rows
        ]
        c: Counter[str] = Counter()
        for r in rows:
            c.update(items.get(r["review_id"], Counter()))
        decided = c["accepted"] + c["replaced"] + c["rejected"]
        final = c["accepted"] + c["replaced"] + c["added"]
        out.append(
            {
                "reviewer": reviewer,
                "day": day,
                "notes_finalised": len(rows),
                "median_minutes": round(statistics.median(minutes), 2),
                "suggested": decided + c["pending"],
                "accepted": c["accepted"],
                "replaced": c["replaced"],
                "rejected": c["rejected"],
                "added": c["added"],
                "acceptance_rate": _rate(c["accepted"], decided),
                "replacement_rate": _rate(c["replaced"], decided),
                "addition_rate": _rate(c["added"], final),
                "queries": queries.get((reviewer, day), 0),
            }
        )
    return out


def most_corrected(path: str | PathLike[str], *, top: int = 10) -> list[dict[str, Any]]:
    """The suggested codes coders most often rejected or replaced, with how often each."""
    db = _connect(path)
    try:
        if not _has_table(db, "review_items"):
            return []
        rows = db.execute(
            "SELECT code, system, description, status, COUNT(*) AS n FROM review_items"
            " WHERE origin = 'suggested' AND status IN ('rejected', 'replaced')"
            " GROUP BY code, system, description, status"
        ).fetchall()
    finally:
        db.close()
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        d = by.setdefault(
            (r["code"], r["system"]),
            {
                "code": r["code"],
                "system": r["system"],
                "description": r["description"],
                "rejected": 0,
                "replaced": 0,
            },
        )
        d[r["status"]] += r["n"]
    ranked = sorted(by.values(), key=lambda d: (-(d["rejected"] + d["replaced"]), d["code"]))
    return [{**d, "corrected": d["rejected"] + d["replaced"]} for d in ranked[:top]]


def productivity_csv(rows: list[dict[str, Any]]) -> str:
    """``productivity`` rows as CSV text, one line per coder and day."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PRODUCTIVITY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class QualitySample:
    """A random share of finalised reviews drawn for a second review, and the agreement.

    Args:
        path: the audit database (``AuditStore.path``).
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = _connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_QA_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def draw(self, share: float, *, reviewer: str, seed: int | None = None) -> list[str]:
        """Draw ``share`` (0-1] of the finalised reviews not drawn before (at least one when
        any is left); returns their review ids."""
        if not 0 < share <= 1:
            raise InputError(f"The QA share must be above 0 and at most 100%, not {share:.0%}.")
        with self._lock:
            left = [
                r[0]
                for r in self._db.execute(
                    "SELECT review_id FROM reviews WHERE status = 'finalised' AND review_id"
                    " NOT IN (SELECT review_id FROM qa_reviews) ORDER BY review_id"
                )
            ]
            if not left:
                return []
            picked = random.Random(seed).sample(left, max(1, round(share * len(left))))
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO qa_reviews (review_id, drawn_at, drawn_by) VALUES (?,?,?)",
                [(rid, now, reviewer) for rid in picked],
            )
            self._db.execute("COMMIT")
        return sorted(picked)

    def record(
        self, review_id: str, *, agreed: bool, reviewer: str, comment: str | None = None
    ) -> None:
        """The second coder's verdict on a drawn review: agreed with the final codes, or not."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
            cur = self._db.execute(
                "UPDATE qa_reviews SET qa_reviewer = ?, agreed = ?, comment = ?, recorded_at = ?"
                " WHERE review_id = ?",
                (reviewer, int(agreed), comment or None, now, review_id),
            )
        if cur.rowcount == 0:
            raise InputError(f"Review {review_id[:8]} was not drawn for QA; draw a sample first.")

    def pending(self) -> list[dict[str, Any]]:
        """Drawn reviews still waiting for their second review, with who coded them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT q.review_id, r.note_id, r.reviewer, r.final FROM qa_reviews q"
                " JOIN reviews r USING (review_id) WHERE q.agreed IS NULL ORDER BY q.review_id"
            ).fetchall()
        return [dict(r) for r in rows]

    def summary(self) -> dict[str, Any]:
        """How many reviews were drawn and second-reviewed, and the agreement rate."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) AS drawn, COUNT(agreed) AS reviewed,"
                " COALESCE(SUM(agreed), 0) AS agreed FROM qa_reviews"
            ).fetchone()
        return {
            "drawn": row["drawn"],
            "reviewed": row["reviewed"],
            "agreed": row["agreed"],
            "agreement_rate": _rate(row["agreed"], row["reviewed"]),
        }
