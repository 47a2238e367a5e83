"""The review audit store: every coder action, committed the moment it is made.

One SQLite file in WAL mode with ``synchronous=FULL``: each action is its own transaction, so a
server killed mid-review keeps everything it had acknowledged. Three tables:

- ``reviews``: one row per review (one note opened by one coder in one browser session), keyed
  by a random ``review_id``; it holds the note's sha256 (and its text only when the operator
  opted in), the model and code-set versions, the patient context, the suggestion result and
  the review's current status.
- ``review_items``: the current state of every row of the review's code table (suggested or
  added code, its decision, what replaced it, its place in the order), rewritten in the same
  transaction as each action. Analytics and the labelled export read it.
- ``actions``: the append-only audit log (triggers refuse UPDATE, DELETE and INSERT OR
  REPLACE). Each row is self-contained: reviewer, UTC timestamp, note hash, model and code-set
  versions, the action and its before/after values as JSON; and each is chained to the one
  before it by sha256 (``store.chain``), so ``codesuggest audit verify`` finds any later edit.

Two browser tabs never share a ``review_id``, so they never write over each other.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from codesuggest.core.errors import ArtifactError, InputError
from codesuggest.core.records import Decision
from codesuggest.store.chain import GENESIS, TRIGGERS, Verification, row_sha256, verify

log = logging.getLogger(__name__)

# 2: actions carry prev_sha256 and sha256 (the hash chain); INSERT OR REPLACE is refused.
SCHEMA_VERSION = 2
ACTIONS = ("accept", "reject", "replace", "add", "reorder", "modify", "context", "finalise")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    review_id      TEXT PRIMARY KEY,
    note_id        TEXT,
    note_sha256    TEXT,
    note_text      TEXT,
    reviewer       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    model_name     TEXT,
    model_version  TEXT,
    model_sha256   TEXT,
    codesets       TEXT NOT NULL,
    context        TEXT NOT NULL,
    result         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('open', 'finalised')),
    finalised_at   TEXT,
    final          TEXT
);
CREATE INDEX IF NOT EXISTS reviews_note ON reviews (note_sha256);
CREATE TABLE IF NOT EXISTS review_items (
    review_id          TEXT NOT NULL REFERENCES reviews (review_id),
    item_id            INTEGER NOT NULL,
    position           INTEGER NOT NULL,
    code               TEXT NOT NULL,
    system             TEXT NOT NULL,
    description        TEXT NOT NULL,
    origin             TEXT NOT NULL CHECK (origin IN ('suggested', 'added')),
    status             TEXT NOT NULL
                       CHECK (status IN ('pending', 'accepted', 'rejected', 'replaced')),
    replaced_by        TEXT,
    replaced_by_system TEXT,
    replaced_by_description TEXT,
    score              REAL,
    rank               INTEGER,
    preselected        INTEGER NOT NULL,
    evidence           TEXT NOT NULL,
    PRIMARY KEY (review_id, item_id)
);
CREATE TABLE IF NOT EXISTS actions (
    action_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    review_id      TEXT NOT NULL REFERENCES reviews (review_id),
    ts             TEXT NOT NULL,
    reviewer       TEXT NOT NULL,
    action         TEXT NOT NULL,
    code           TEXT,
    system         TEXT,
    before         TEXT,
    after          TEXT,
    note_sha256    TEXT,
    model_version  TEXT,
    codesets       TEXT NOT NULL,
    prev_sha256    TEXT,
    sha256         TEXT
);
CREATE INDEX IF NOT EXISTS actions_review ON actions (review_id, action_id);
"""
# REPLACE deletes the old row without firing DELETE triggers, hence the INSERT trigger.
_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS actions_append_only_update BEFORE UPDATE ON actions"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS actions_append_only_delete BEFORE DELETE ON actions"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS actions_no_replace BEFORE INSERT ON actions"
    " WHEN EXISTS (SELECT 1 FROM actions WHERE action_id = NEW.action_id)"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: an action is never replaced');"
    " END",
)


def _add_hash_chain(db: sqlite3.Connection) -> None:
    """Give a log written before the hash chain (schema 1) its chain, in one transaction.

    Rows written before the upgrade are chained as they stand at the upgrade: the chain
    cannot vouch for what happened to them before it existed.
    """
    columns = {r[1] for r in db.execute("PRAGMA table_info(actions)")}
    if not columns or "sha256" in columns:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("ALTER TABLE actions ADD COLUMN prev_sha256 TEXT")
        db.execute("ALTER TABLE actions ADD COLUMN sha256 TEXT")
        db.execute("DROP TRIGGER IF EXISTS actions_append_only_update")
        prev = GENESIS
        for row in db.execute("SELECT * FROM actions ORDER BY action_id").fetchall():
            sha = row_sha256({**dict(row), "prev_sha256": prev})
            db.execute(
                "UPDATE actions SET prev_sha256 = ?, sha256 = ? WHERE action_id = ?",
                (prev, sha, row["action_id"]),
            )
            prev = sha
        for trigger in _TRIGGERS:
            db.execute(trigger)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def note_sha256(text: str) -> str:
    """The hash that identifies a note in the audit log: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def new_review_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def redact_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A suggestion result without note text: evidence and exclusions keep only their offsets.

    Evidence snippets are words of the note; when the operator has not opted in to storing
    note text, the store keeps offsets and the note hash instead.
    """
    out = dict(result)
    out.pop("text", None)
    out["suggestions"] = [
        {**s, "evidence": [{k: v for k, v in e.items() if k != "text"} for e in s["evidence"]]}
        for s in result.get("suggestions") or []
    ]
    out["excluded"] = [
        {k: v for k, v in x.items() if k != "text"} for x in result.get("excluded") or []
    ]
    return out


def connect(path: str | PathLike[str]) -> sqlite3.Connection:
    """The audit database as every store of it opens it: autocommit (transactions are
    explicit), shared across the server's threads behind each store's lock, rows by name."""
    db = sqlite3.connect(Path(path), isolation_level=None, check_same_thread=False, timeout=10.0)
    db.row_factory = sqlite3.Row
    return db


class AuditStore:
    """The SQLite audit store of review actions.

    Safe to share between the server's worker threads; several processes may also open the
    same file (WAL lets readers run beside the one writer).

    Args:
        path: the database file; created with its folder when missing.
        store_note_text: keep the note text itself (PHI) beside its hash. Off by default.
    """

    def __init__(self, path: str | PathLike[str], *, store_note_text: bool = False) -> None:
        self.path = Path(path)
        self.store_note_text = store_note_text
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = connect(self.path)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ArtifactError(
                    f"{self.path} was written by a newer codesuggest (audit schema {version}); "
                    "upgrade codesuggest or give another --db path."
                )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            _add_hash_chain(self._db)
            self._warn_of_dropped_triggers()
            self._db.executescript(_SCHEMA + ";\n".join(_TRIGGERS) + ";")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise ArtifactError(
                f"{self.path} cannot be used as the audit database ({exc}); give another --db path."
            ) from exc

    def _warn_of_dropped_triggers(self) -> None:
        """Say so when a chained log lost a trigger: recreating it must not hide the drop."""
        if not self._db.execute("SELECT 1 FROM pragma_table_info('actions')").fetchone():
            return  # a new database
        present = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
        dropped = [name for name in TRIGGERS if name not in present]
        if dropped:
            log.warning(
                "%s: the audit log's triggers %s had been dropped and are recreated; run "
                "`codesuggest audit verify %s` to see whether the log was changed meanwhile.",
                self.path,
                ", ".join(dropped),
                self.path,
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def start_review(
        self,
        *,
        review_id: str,
        reviewer: str,
        result: Mapping[str, Any],
        note_text: str | None,
        items: list[Mapping[str, Any]],
        note_id: str | None = None,
    ) -> None:
        """Create the row of a newly opened review and its initial code table."""
        model = result.get("model") or {}
        now = utc_now()
        stored_text = note_text if self.store_note_text else None
        stored_result = dict(result) if self.store_note_text else redact_result(result)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO reviews (review_id, note_id, note_sha256, note_text, reviewer,"
                " created_at, updated_at, model_name, model_version, model_sha256, codesets,"
                " context, result, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?, 'open')",
                (
                    review_id,
                    note_id if note_id is not None else result.get("id"),
                    None if note_text is None else note_sha256(note_text),
                    stored_text,
                    reviewer,
                    now,
                    now,
                    model.get("name"),
                    model.get("version"),
                    model.get("sha256"),
                    _dumps(result.get("codesets") or {}),
                    _dumps(result.get("context") or {}),
                    _dumps(stored_result),
                ),
            )
            self._write_items(db, review_id, items)

    def record(
        self,
        review_id: str,
        decision: Decision,
        *,
        items: list[Mapping[str, Any]],
        context: Mapping[str, Any] | None = None,
        final: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one action and the code table it leaves, in one committed transaction.

        ``final`` (the final code set) is given with a ``finalise`` action and marks the
        review finalised; any other action reopens a finalised review.

        Returns:
            The stored action row.
        """
        if decision.action not in ACTIONS:
            raise InputError(f"Unknown review action {decision.action!r}; one of {ACTIONS}.")
        with self._transaction() as db:
            # The time is taken inside the write lock, so the log's times never go backwards.
            ts = utc_now()
            row = db.execute(
                "SELECT note_sha256, model_version, codesets FROM reviews WHERE review_id = ?",
                (review_id,),
            ).fetchone()
            if row is None:
                raise InputError(f"No review {review_id!r} in {self.path}.")
            reviewer = decision.reviewer
            last = db.execute("SELECT sha256 FROM actions ORDER BY action_id DESC LIMIT 1")
            head = last.fetchone()
            stored = {
                "review_id": review_id,
                "ts": ts,
                "reviewer": reviewer,
                "action": decision.action,
                "code": decision.code,
                "system": decision.system,
                "before": _dumps(decision.before),
                "after": _dumps(decision.after),
                "note_sha256": row["note_sha256"],
                "model_version": row["model_version"],
                "codesets": row["codesets"],
                "prev_sha256": GENESIS if head is None else head[0],
            }
            stored["sha256"] = row_sha256(stored)
            marks = ", ".join("?" * len(stored))
            cur = db.execute(
                f"INSERT INTO actions ({', '.join(stored)}) VALUES ({marks})",
                tuple(stored.values()),
            )
            action_id = cur.lastrowid
            self._write_items(db, review_id, items)
            sets = ["updated_at = ?"]
            args: list[Any] = [ts]
            if context is not None:
                sets.append("context = ?")
                args.append(_dumps(dict(context)))
            if decision.action == "finalise":
                sets += ["status = 'finalised'", "finalised_at = ?", "final = ?"]
                args += [ts, _dumps(final)]
            else:
                sets.append("status = 'open'")
            db.execute(
                f"UPDATE reviews SET {', '.join(sets)} WHERE review_id = ?", (*args, review_id)
            )
        return {
            "action_id": action_id,
            "review_id": review_id,
            "ts": ts,
            "reviewer": reviewer,
            "action": decision.action,
            "code": decision.code,
            "system": decision.system,
            "before": decision.before,
            "after": decision.after,
            "note_sha256": row["note_sha256"],
            "model_version": row["model_version"],
            "codesets": _loads(row["codesets"]),
        }

    def _write_items(
        self, db: sqlite3.Connection, review_id: str, items: list[Mapping[str, Any]]
    ) -> None:
        db.execute("DELETE FROM review_items WHERE review_id = ?", (review_id,))
        db.executemany(
            "INSERT INTO review_items (review_id, item_id, position, code, system, description,"
            " origin, status, replaced_by, replaced_by_system, replaced_by_description, score,"
            " rank, preselected, evidence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    review_id,
                    it["item_id"],
                    position,
                    it["code"],
                    it["system"],
                    it.get("description", ""),
                    it["origin"],
                    it["status"],
                    it.get("replaced_by"),
                    it.get("replaced_by_system"),
                    it.get("replaced_by_description"),
                    it.get("score"),
                    it.get("rank"),
                    int(bool(it.get("preselected"))),
                    _dumps(
                        [
                            {"start": e["start"], "end": e["end"]}
                            | ({"assertion": e["assertion"]} if "assertion" in e else {})
                            for e in it.get("evidence") or []
                        ]
                    ),
                )
                for position, it in enumerate(items)
            ],
        )

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

    # ------------------------------------------------------------------ reading

    def verify(self) -> Verification:
        """Check the log's hash chain and the reviews against it (``store.chain.verify``)."""
        with self._lock:
            return verify(self._db)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def review(self, review_id: str) -> dict[str, Any]:
        """A review's row with its JSON columns decoded."""
        rows = self._query("SELECT * FROM reviews WHERE review_id = ?", (review_id,))
        if not rows:
            raise InputError(f"No review {review_id!r} in {self.path}.")
        d = dict(rows[0])
        for key in ("codesets", "context", "result", "final"):
            d[key] = _loads(d[key])
        return d

    def reviews(self) -> list[dict[str, Any]]:
        """Every review, oldest first, without the bulky result column."""
        rows = self._query(
            "SELECT review_id, note_id, note_sha256, reviewer, created_at, updated_at,"
            " model_version, status, finalised_at FROM reviews ORDER BY created_at, review_id"
        )
        return [dict(r) for r in rows]

    def items(self, review_id: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT * FROM review_items WHERE review_id = ? ORDER BY position", (review_id,)
        )
        out = []
        for r in rows:
            d = dict(r)
            d["evidence"] = _loads(d["evidence"])
            d["preselected"] = bool(d["preselected"])
            out.append(d)
        return out

    def actions(self, review_id: str | None = None) -> list[dict[str, Any]]:
        """Audit rows in the order they were committed, of one review or of all."""
        if review_id is None:
            rows = self._query("SELECT * FROM actions ORDER BY action_id")
        else:
            rows = self._query(
                "SELECT * FROM actions WHERE review_id = ? ORDER BY action_id", (review_id,)
            )
        out = []
        for r in rows:
            d = dict(r)
            for key in ("before", "after", "codesets"):
                d[key] = _loads(d[key])
            out.append(d)
        return out

    def analytics(self, *, top: int = 20) -> dict[str, Any]:
        """How coders treated the suggestions, over every decided suggested code.

        Returns ``overall`` counts and acceptance rate, ``per_code`` rows (most decided
        first), ``most_rejected``, ``most_replaced`` (with what replaced them) and
        ``most_added`` (codes the model missed). A replaced suggestion counts as not accepted.
        """
        rows = self._query(
            "SELECT i.code, i.system, i.description, i.origin, i.status, i.replaced_by,"
            " i.replaced_by_system FROM review_items i"
        )
        per: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        desc: dict[tuple[str, str], str] = {}
        replaced_by: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        added: Counter[tuple[str, str]] = Counter()
        for r in rows:
            key = (r["code"], r["system"])
            desc[key] = r["description"]
            if r["origin"] == "added":
                added[key] += 1
                continue
            per[key][r["status"]] += 1
            if r["status"] == "replaced":
                replaced_by[key][r["replaced_by"]] += 1
        total = Counter[str]()
        for c in per.values():
            total.update(c)

        def rate(c: Counter[str]) -> float | None:
            decided = c["accepted"] + c["rejected"] + c["replaced"]
            return round(c["accepted"] / decided, 4) if decided else None

        per_code = [
            {
                "code": code,
                "system": system,
                "description": desc[(code, system)],
                "suggested": sum(c.values()),
                "accepted": c["accepted"],
                "rejected": c["rejected"],
                "replaced": c["replaced"],
                "pending": c["pending"],
                "acceptance_rate": rate(c),
            }
            for (code, system), c in per.items()
        ]
        per_code.sort(key=lambda d: (-(d["suggested"] - d["pending"]), -d["suggested"], d["code"]))
        by_rejected = sorted(
            (d for d in per_code if d["rejected"]), key=lambda d: (-d["rejected"], d["code"])
        )
        by_replaced = sorted(
            (d for d in per_code if d["replaced"]), key=lambda d: (-d["replaced"], d["code"])
        )
        return {
            "overall": {
                "reviews": self._query("SELECT COUNT(*) FROM reviews")[0][0],
                "finalised": self._query("SELECT COUNT(*) FROM reviews WHERE status = 'finalised'")[
                    0
                ][0],
                "suggested": sum(total.values()),
                "accepted": total["accepted"],
                "rejected": total["rejected"],
                "replaced": total["replaced"],
                "pending": total["pending"],
                "added": sum(added.values()),
                "acceptance_rate": rate(total),
            },
            "per_code": per_code,
            "most_rejected": [
                {k: d[k] for k in ("code", "system", "description", "rejected", "suggested")}
                for d in by_rejected[:top]
            ],
            "most_replaced": [
                {
                    "code": d["code"],
                    "system": d["system"],
                    "description": d["description"],
                    "replaced": d["replaced"],
                    "replaced_by": [
                        {"code": c, "count": n}
                        for c, n in replaced_by[(d["code"], d["system"])].most_common()
                    ],
                }
                for d in by_replaced[:top]
            ],
            "most_added": [
                {"code": c, "system": s, "description": desc[(c, s)], "added": n}
                for (c, s), n in added.most_common(top)
            ],
        }

    def labelled(self, *, include_open: bool = False) -> Iterator[dict[str, Any]]:
        """Finalised reviews as labelled examples for retraining (format: docs/review.md).

        Accepted, added and replacement codes are positive (``label`` 1), rejected and
        replaced codes negative (0); suggestions left undecided have ``label`` None.
        """
        where = "" if include_open else "WHERE status = 'finalised'"
        reviews = self._query(
            "SELECT review_id, note_id, note_sha256, note_text, reviewer, finalised_at,"
            " model_name, model_version, model_sha256, codesets, context, status"
            f" FROM reviews {where} ORDER BY created_at, review_id"
        )
        for r in reviews:
            items = self.items(r["review_id"])
            labels: list[dict[str, Any]] = []
            sequence = {"ICD-10-CM": 0, "procedure": 0}
            for it in items:
                if it["origin"] == "added" and it["status"] != "accepted":
                    continue  # the coder took back their own addition: no label either way
                final_system = it["replaced_by_system"] or it["system"]
                group = "ICD-10-CM" if final_system == "ICD-10-CM" else "procedure"
                suggested = it["origin"] == "suggested"
                base = {
                    "code": it["code"],
                    "system": it["system"],
                    "suggested": suggested,
                    "score": it["score"],
                    "rank": it["rank"],
                    "evidence": it["evidence"],
                }
                if it["status"] in ("accepted", "replaced"):
                    sequence[group] += 1
                if it["status"] == "accepted":
                    source = "accepted" if suggested else "added"
                    labels.append(
                        {**base, "label": 1, "source": source, "sequence": sequence[group]}
                    )
                elif it["status"] == "rejected":
                    labels.append({**base, "label": 0, "source": "rejected"})
                elif it["status"] == "replaced":
                    labels.append(
                        {**base, "label": 0, "source": "replaced", "replaced_by": it["replaced_by"]}
                    )
                    labels.append(
                        {
                            "code": it["replaced_by"],
                            "system": it["replaced_by_system"],
                            "suggested": False,
                            "score": None,
                            "rank": None,
                            "evidence": it["evidence"],
                            "label": 1,
                            "source": "replacement",
                            "replaces": it["code"],
                            "sequence": sequence[group],
                        }
                    )
                else:
                    labels.append({**base, "label": None, "source": "unreviewed"})
            example: dict[str, Any] = {
                "review_id": r["review_id"],
                "note_id": r["note_id"],
                "note_sha256": r["note_sha256"],
            }
            if r["note_text"] is not None:
                example["text"] = r["note_text"]
            example.update(
                reviewer=r["reviewer"],
                status=r["status"],
                finalised_at=r["finalised_at"],
                model={
                    "name": r["model_name"],
                    "version": r["model_version"],
                    "sha256": r["model_sha256"],
                },
                codesets=_loads(r["codesets"]),
                context=_loads(r["context"]),
                labels=labels,
            )
            yield example

    def write_labelled(self, path: str | PathLike[str], *, include_open: bool = False) -> int:
        """Write ``labelled()`` as JSON Lines to ``path``; returns the number of examples."""
        n = 0
        with Path(path).open("w", encoding="utf-8") as f:
            for example in self.labelled(include_open=include_open):
                f.write(json.dumps(example, ensure_ascii=False) + "\n")
                n += 1
        return n
