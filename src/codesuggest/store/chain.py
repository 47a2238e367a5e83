"""The audit log's hash chain, and the check that finds where it was broken.

Each row of ``actions`` carries ``prev_sha256`` (the ``sha256`` of the row before it, in
``action_id`` order; 64 zeros for the first) and ``sha256``, computed over every other column
of the row and ``prev_sha256``. Changing, removing or inserting a row anywhere but at the very
end breaks a link that ``verify`` reports. The final code set of a finalised review and its
``review_items`` are checked against the ``finalise`` action in the chain, and each action's
note hash and versions against its review.

The chain is plain sha256, with no secret: it makes tampering *evident* to anyone who checks,
not impossible for someone who rewrites every row after the one changed. Keep the head hash
that ``verify`` prints somewhere else (a ticket, a signed report) to pin the log up to then.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

from codesuggest.core.errors import ArtifactError

GENESIS = "0" * 64
# Every column of ``actions`` but ``action_id`` (the order is the chain itself) and ``sha256``.
HASHED_COLUMNS = (
    "review_id",
    "ts",
    "reviewer",
    "action",
    "code",
    "system",
    "before",
    "after",
    "note_sha256",
    "model_version",
    "codesets",
    "prev_sha256",
)
# Times are taken under the write lock, so they only go backwards when the clock does (or,
# before the chain existed, when a writer waited for the lock); a forged back-dated row does.
CLOCK_SLACK_SECONDS = 60.0
TRIGGERS = ("actions_append_only_update", "actions_append_only_delete", "actions_no_replace")


def row_sha256(row: Mapping[str, Any]) -> str:
    """The sha256 of one action row: JSON of ``HASHED_COLUMNS`` as stored (ASCII, compact)."""
    payload = json.dumps([row[c] for c in HASHED_COLUMNS], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


@dataclass(slots=True)
class Verification:
    """What ``verify`` found: ``problems`` is empty when the log is intact."""

    actions: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _final_from_items(items: list[sqlite3.Row]) -> list[tuple[str, str]]:
    """``(code, system)`` of the final set as the ``review_items`` rows give it, in order."""
    out = []
    for it in items:
        if it["status"] == "accepted":
            out.append((it["code"], it["system"]))
        elif it["status"] == "replaced":
            out.append((it["replaced_by"] or it["code"], it["replaced_by_system"] or it["system"]))
    return out


def _seconds_before(ts: str | None, previous: str) -> float:
    """How many seconds ``ts`` is before ``previous`` (negative when after)."""
    if not previous:
        return 0.0
    try:
        return (datetime.fromisoformat(previous) - datetime.fromisoformat(ts or "")).total_seconds()
    except (TypeError, ValueError):
        return math.inf  # not a time at all: as suspect as a back-dated one


def _json(text: str | None) -> Any:
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return None


def _final_codes(final: Any) -> list[tuple[str, str]] | None:
    if not isinstance(final, Mapping):
        return None
    return [
        (e.get("code"), e.get("system"))
        for group in ("diagnoses", "procedures")
        for e in final.get(group) or []
        if isinstance(e, Mapping)
    ]


def _check_links(db: sqlite3.Connection, report: Verification) -> dict[str, dict[str, Any]]:
    """Walk the chain; returns each review's last action (the state the chain vouches for)."""
    last: dict[str, dict[str, Any]] = {}
    prev, prev_ts = GENESIS, ""
    broken = False
    for row in db.execute("SELECT * FROM actions ORDER BY action_id"):
        report.actions += 1
        last[row["review_id"]] = dict(row)
        if broken:
            continue
        aid = row["action_id"]
        if row["prev_sha256"] != prev:
            report.problems.append(
                f"action {aid}: the chain is broken here: its prev_sha256 is not the sha256 of the "
                "action before it (a row before it was removed, inserted or rewritten)"
            )
            broken = True
        elif row["sha256"] != row_sha256(row):
            report.problems.append(
                f"action {aid}: the row was altered after it was written "
                "(its sha256 does not match)"
            )
            broken = True
        elif _seconds_before(row["ts"], prev_ts) > CLOCK_SLACK_SECONDS:
            report.problems.append(
                f"action {aid}: dated {row['ts']}, well before the action it follows ({prev_ts})"
            )
        prev, prev_ts = row["sha256"], max(prev_ts, row["ts"] or "")
    report.head = prev
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'actions'").fetchone()
    top = db.execute("SELECT MAX(action_id) FROM actions").fetchone()[0] or 0
    if seq is not None and seq[0] > top:
        report.problems.append(
            f"actions {top + 1}..{seq[0]} were written and are gone: the end of the log was cut off"
        )
    return last


def _check_reviews(
    db: sqlite3.Connection, last: dict[str, dict[str, Any]], report: Verification
) -> None:
    """Each review's row and code table against what its actions in the chain say."""
    for review in db.execute("SELECT * FROM reviews ORDER BY created_at, review_id"):
        rid = review["review_id"]
        act = last.get(rid)
        if act is None:
            if review["status"] == "finalised":
                report.problems.append(f"review {rid}: finalised, but the log has no action of it")
            continue
        for column in ("note_sha256", "model_version", "codesets"):
            if act[column] != review[column]:
                report.problems.append(
                    f"review {rid}: its {column} differs from the one its actions recorded"
                )
        finalised = act["action"] == "finalise"
        if finalised != (review["status"] == "finalised"):
            report.problems.append(
                f"review {rid}: status {review['status']!r}, but its last action in the log is "
                f"{act['action']!r}"
            )
        if not finalised:
            continue
        after = _json(act["after"])
        chained = _final_codes(after.get("final") if isinstance(after, Mapping) else None)
        stored = _final_codes(_json(review["final"]))
        if stored != chained:
            report.problems.append(
                f"review {rid}: reviews.final differs from the final code set its finalise "
                f"action (action {act['action_id']}) recorded"
            )
        items = db.execute(
            "SELECT * FROM review_items WHERE review_id = ? ORDER BY position", (rid,)
        ).fetchall()
        if chained is not None and sorted(_final_from_items(items)) != sorted(chained):
            report.problems.append(
                f"review {rid}: review_items differ from the final code set its finalise "
                f"action (action {act['action_id']}) recorded"
            )


def verify(db: sqlite3.Connection) -> Verification:
    """Check an audit database's chain, triggers, reviews and code tables.

    Problems are listed in the order found; the chain's first broken link is the only chain
    problem reported, since every hash after it depends on it.
    """
    db.row_factory = sqlite3.Row
    report = Verification()
    columns = {r["name"] for r in db.execute("PRAGMA table_info(actions)")}
    if not columns:
        report.problems.append("no actions table: not a codesuggest audit database")
        return report
    if not {"prev_sha256", "sha256"} <= columns:
        report.problems.append(
            "the log has no hash chain (audit schema 1): open it once with this codesuggest "
            "(`codesuggest serve --db ...`) to add one"
        )
        return report
    present = {
        r["name"] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    for name in TRIGGERS:
        if name not in present:
            report.problems.append(f"trigger {name} was dropped: the log could be edited")
    last = _check_links(db, report)
    _check_reviews(db, last, report)
    return report


def verify_file(path: str | PathLike[str]) -> Verification:
    """``verify`` an audit database file, opened read-only."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"{p} does not exist or is not a file.")
    try:
        db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return verify(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ArtifactError(f"{p} cannot be read as an audit database ({exc}).") from exc
