"""The SQLite audit store: durability, append-only log, privacy, analytics, labelled export."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from codesuggest.core.errors import ArtifactError, InputError
from codesuggest.core.records import Decision
from codesuggest.store.audit import AuditStore, note_sha256, redact_result

NOTE = "Type 2 diabetes. Essential hypertension. Mother had breast cancer."


def result(note_id: str = "n1") -> dict[str, Any]:
    return {
        "id": note_id,
        "schema": "1.0",
        "codesets": {"ICD-10-CM": "2026", "CPT": "subset-2026.1"},
        "model": {"name": "m", "version": "3", "sha256": "f" * 64},
        "context": {"setting": "outpatient", "age": 58, "sex": "F", "encounter_date": None},
        "suggestions": [
            {
                "code": "E11.9",
                "system": "ICD-10-CM",
                "description": "T2DM",
                "score": 0.9,
                "rank": 1,
                "selected": True,
                "evidence": [
                    {"start": 0, "end": 15, "text": "Type 2 diabetes", "assertion": "present"}
                ],
                "sources": {},
                "edits": [],
            }
        ],
        "excluded": [
            {"text": "breast cancer", "start": 52, "end": 65, "reason": "family", "codes": []}
        ],
        "errors": [],
    }


def item(item_id: int, code: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "code": code,
        "system": extra.pop("system", "ICD-10-CM"),
        "description": f"desc {code}",
        "origin": extra.pop("origin", "suggested"),
        "status": status,
        "score": extra.pop("score", 0.5),
        "rank": item_id + 1,
        "preselected": False,
        "evidence": [{"start": 0, "end": 4, "text": "Type", "assertion": "present"}],
        **extra,
    }


def start(store: AuditStore, review_id: str = "r1", text: str | None = NOTE, **kw: Any) -> None:
    store.start_review(
        review_id=review_id,
        reviewer=kw.get("reviewer", "alice"),
        result=result(kw.get("note_id", "n1")),
        note_text=text,
        items=kw.get("items", [item(0, "E11.9", "pending")]),
    )


def accept(store: AuditStore, review_id: str = "r1", code: str = "E11.9") -> dict[str, Any]:
    return store.record(
        review_id,
        Decision("accept", code, "ICD-10-CM", {"status": "pending"}, {"status": "accepted"}, "al"),
        items=[item(0, code, "accepted")],
    )


@pytest.fixture
def store(tmp_path):
    s = AuditStore(tmp_path / "audit.sqlite3")
    yield s
    s.close()


def test_database_is_in_wal_mode_with_full_sync(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_action_is_visible_to_another_connection_as_soon_as_record_returns(store):
    start(store)
    accept(store)
    other = sqlite3.connect(store.path)
    rows = other.execute("SELECT action, code, reviewer FROM actions").fetchall()
    other.close()
    assert rows == [("accept", "E11.9", "al")]


def test_committed_actions_survive_a_killed_server_process(tmp_path):
    db = tmp_path / "audit.sqlite3"
    (tmp_path / "result.json").write_text(json.dumps(result()), encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import json, os, signal
        from codesuggest.core.records import Decision
        from codesuggest.store import AuditStore
        s = AuditStore({str(db)!r})
        r = json.loads(open({str(tmp_path / "result.json")!r}).read())
        s.start_review(review_id="r", reviewer="a", result=r, note_text="x", items=[])
        for i in range(25):
            s.record("r", Decision("reject", f"C{{i}}", "ICD-10-CM", None, None, "a"), items=[])
        print("committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert "committed" in proc.stdout
    with AuditStore(db) as reopened:
        assert [a["code"] for a in reopened.actions("r")] == [f"C{i}" for i in range(25)]


def test_audit_log_refuses_update_and_delete(store):
    start(store)
    accept(store)
    db = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE actions SET code = 'X'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM actions")
    db.close()


def test_each_action_row_carries_reviewer_time_note_hash_and_versions(store):
    start(store)
    row = accept(store)
    stored = store.actions("r1")[0]
    assert stored["reviewer"] == "al"
    assert stored["ts"] == row["ts"]
    assert stored["ts"].endswith("+00:00")
    assert stored["note_sha256"] == note_sha256(NOTE)
    assert stored["model_version"] == "3"
    assert stored["codesets"] == {"ICD-10-CM": "2026", "CPT": "subset-2026.1"}
    assert stored["before"] == {"status": "pending"}
    assert stored["after"] == {"status": "accepted"}


def test_note_text_and_evidence_words_are_not_stored_without_opt_in(store):
    start(store)
    row = store.review("r1")
    assert row["note_text"] is None
    assert row["note_sha256"] == note_sha256(NOTE)
    dumped = json.dumps(row) + json.dumps(store.items("r1"))
    assert "Type 2 diabetes" not in dumped
    assert "breast cancer" not in dumped
    assert row["result"]["suggestions"][0]["evidence"][0] == {
        "start": 0,
        "end": 15,
        "assertion": "present",
    }


def test_note_text_is_stored_when_the_operator_opts_in(tmp_path):
    with AuditStore(tmp_path / "a.sqlite3", store_note_text=True) as s:
        start(s)
        assert s.review("r1")["note_text"] == NOTE


def test_redact_result_keeps_offsets_and_drops_words():
    r = redact_result({**result(), "text": NOTE})
    assert "text" not in r
    assert "text" not in r["excluded"][0]
    assert r["excluded"][0]["start"] == 52


def test_two_reviews_never_overwrite_each_other(store):
    start(store, "r1", items=[item(0, "E11.9", "pending")])
    start(store, "r2", text="another note", items=[item(0, "I10", "pending")])
    accept(store, "r1", "E11.9")
    store.record(
        "r2",
        Decision("reject", "I10", "ICD-10-CM", None, None, "bob"),
        items=[item(0, "I10", "rejected")],
    )
    assert [i["status"] for i in store.items("r1")] == ["accepted"]
    assert [i["status"] for i in store.items("r2")] == ["rejected"]
    assert store.review("r2")["note_sha256"] == note_sha256("another note")


def test_finalise_marks_the_review_and_a_later_action_reopens_it(store):
    start(store)
    accept(store)
    final = {"diagnoses": [{"sequence": 1, "code": "E11.9"}], "procedures": []}
    store.record(
        "r1",
        Decision("finalise", None, None, None, {"final": final}, "al"),
        items=[item(0, "E11.9", "accepted")],
        final=final,
    )
    row = store.review("r1")
    assert row["status"] == "finalised"
    assert row["final"] == final
    assert row["finalised_at"]
    accept(store)
    assert store.review("r1")["status"] == "open"


def test_unknown_action_and_unknown_review_are_refused(store):
    start(store)
    with pytest.raises(InputError, match="Unknown review action"):
        store.record("r1", Decision("delete", None, None), items=[])
    with pytest.raises(InputError, match="No review 'nope'"):
        store.record("nope", Decision("accept", "I10", "ICD-10-CM"), items=[])


def test_a_failed_action_leaves_no_partial_rows(store):
    start(store)
    with pytest.raises(sqlite3.IntegrityError):
        store.record(
            "r1", Decision("accept", "X", "ICD-10-CM"), items=[item(0, "A", "pending")] * 2
        )
    assert store.actions("r1") == []
    assert store.items("r1")[0]["code"] == "E11.9"


def test_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ArtifactError, match="newer codesuggest"):
        AuditStore(path)


def test_a_file_that_is_not_a_database_is_refused_with_advice(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not sqlite " * 100, encoding="utf-8")
    with pytest.raises(ArtifactError, match="give another --db path"):
        AuditStore(path)


def _review_with(store: AuditStore, review_id: str, items: list[dict[str, Any]]) -> None:
    start(store, review_id, items=items)
    final = {"diagnoses": [], "procedures": []}
    store.record(
        review_id, Decision("finalise", None, None, None, None, "al"), items=items, final=final
    )


def test_analytics_counts_acceptance_overall_and_per_code(store):
    _review_with(store, "a", [item(0, "E11.9", "accepted"), item(1, "I10", "rejected")])
    _review_with(store, "b", [item(0, "E11.9", "accepted"), item(1, "I10", "accepted")])
    _review_with(store, "c", [item(0, "E11.9", "pending")])
    a = store.analytics()
    assert a["overall"]["acceptance_rate"] == 0.75
    assert (a["overall"]["accepted"], a["overall"]["rejected"], a["overall"]["pending"]) == (
        3,
        1,
        1,
    )
    by_code = {d["code"]: d for d in a["per_code"]}
    assert by_code["E11.9"]["acceptance_rate"] == 1.0
    assert by_code["E11.9"]["suggested"] == 3
    assert by_code["I10"]["acceptance_rate"] == 0.5
    assert a["most_rejected"][0]["code"] == "I10"


def test_analytics_lists_the_most_replaced_codes_and_what_replaced_them(store):
    for n, new in enumerate(["E11.65", "E11.65", "E11.22"]):
        _review_with(
            store,
            f"r{n}",
            [item(0, "E11.9", "replaced", replaced_by=new, replaced_by_system="ICD-10-CM")],
        )
    _review_with(store, "add", [item(0, "Z79.4", "accepted", origin="added")])
    a = store.analytics()
    assert a["most_replaced"][0]["code"] == "E11.9"
    assert a["most_replaced"][0]["replaced_by"] == [
        {"code": "E11.65", "count": 2},
        {"code": "E11.22", "count": 1},
    ]
    assert a["overall"]["acceptance_rate"] == 0.0
    assert a["most_added"][0]["code"] == "Z79.4"


def test_labelled_export_marks_accepted_and_replacements_positive_and_rejections_negative(
    store,
):
    _review_with(
        store,
        "r",
        [
            item(0, "E11.9", "replaced", replaced_by="E11.65", replaced_by_system="ICD-10-CM"),
            item(1, "I10", "accepted"),
            item(2, "R07.9", "rejected"),
            item(3, "E78.5", "pending"),
            item(4, "Z79.4", "accepted", origin="added"),
            item(5, "99213", "accepted", system="CPT"),
        ],
    )
    (example,) = store.labelled()
    got = [(x["code"], x["label"], x["source"], x.get("sequence")) for x in example["labels"]]
    assert got == [
        ("E11.9", 0, "replaced", None),
        ("E11.65", 1, "replacement", 1),
        ("I10", 1, "accepted", 2),
        ("R07.9", 0, "rejected", None),
        ("E78.5", None, "unreviewed", None),
        ("Z79.4", 1, "added", 3),
        ("99213", 1, "accepted", 1),
    ]
    assert example["note_sha256"] == note_sha256(NOTE)
    assert "text" not in example
    assert example["model"]["version"] == "3"
    assert example["reviewer"] == "alice"


def test_labelled_export_carries_the_text_only_when_stored(tmp_path):
    with AuditStore(tmp_path / "a.sqlite3", store_note_text=True) as s:
        _review_with(s, "r", [item(0, "I10", "accepted")])
        assert next(s.labelled())["text"] == NOTE


def test_labelled_export_leaves_out_reviews_not_finalised(store, tmp_path):
    start(store, "open-one")
    _review_with(store, "done", [item(0, "I10", "accepted")])
    assert [x["review_id"] for x in store.labelled()] == ["done"]
    assert len(list(store.labelled(include_open=True))) == 2
    path = tmp_path / "labels.jsonl"
    assert store.write_labelled(path) == 1
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["review_id"] == "done"


def test_labelled_export_skips_an_added_code_the_coder_then_rejected(store):
    _review_with(store, "r", [item(0, "Z79.4", "rejected", origin="added")])
    assert next(store.labelled())["labels"] == []
