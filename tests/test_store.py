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


# --------------------------------------------------------------------------- tamper evidence


def _finalised(store: AuditStore) -> dict[str, Any]:
    """r1 with E11.9 accepted and finalised: three chained actions (accept, accept, finalise)."""
    start(store)
    accept(store)
    accept(store)  # the store records what it is given; a second row lengthens the chain
    final = {
        "diagnoses": [{"sequence": 1, "code": "E11.9", "system": "ICD-10-CM"}],
        "procedures": [],
    }
    return store.record(
        "r1",
        Decision("finalise", None, None, None, {"final": final}, "al"),
        items=[item(0, "E11.9", "accepted")],
        final=final,
    )


def _problems(path) -> list[str]:
    from codesuggest.store.chain import verify_file

    return verify_file(path).problems


def test_insert_or_replace_cannot_rewrite_an_action(store):
    _finalised(store)
    db = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="never replaced"):
        db.execute(
            "INSERT OR REPLACE INTO actions (action_id, review_id, ts, reviewer, action, codesets)"
            " VALUES (1, 'r1', '2026-01-01T00:00:00.000+00:00', 'mallory', 'reject', '{}')"
        )
    db.close()
    assert store.actions("r1")[0]["reviewer"] == "al"


def test_each_action_carries_the_hash_of_the_one_before_it(store):
    from codesuggest.store.chain import GENESIS, row_sha256

    _finalised(store)
    db = sqlite3.connect(store.path)
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM actions ORDER BY action_id").fetchall()
    db.close()
    assert [r["prev_sha256"] for r in rows] == [GENESIS, rows[0]["sha256"], rows[1]["sha256"]]
    assert all(r["sha256"] == row_sha256(r) for r in rows)


def test_audit_verify_passes_an_intact_log_and_prints_its_head(store, capsys):
    from codesuggest.cli import main

    _finalised(store)
    assert main(["audit", "verify", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert "intact: 3 action(s)" in out
    assert store.actions()[-1]["sha256"] in out


def test_audit_verify_names_the_first_broken_link_after_a_row_is_rewritten(store, capsys):
    from codesuggest.cli import main

    _finalised(store)
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER actions_append_only_update")
    db.execute("UPDATE actions SET reviewer = 'mallory' WHERE action_id = 2")
    db.commit()
    db.close()
    assert main(["audit", "verify", str(store.path)]) == 1
    err = capsys.readouterr().err
    assert "trigger actions_append_only_update was dropped" in err
    assert "action 2: the row was altered" in err
    assert "action 3" not in err  # only the first broken link of the chain


def test_reopening_a_log_whose_trigger_was_dropped_says_so(store, caplog):
    _finalised(store)
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER actions_no_replace")
    db.close()
    with caplog.at_level("WARNING"), AuditStore(store.path):
        pass
    assert "actions_no_replace had been dropped" in caplog.text
    assert "codesuggest audit verify" in caplog.text


def test_audit_verify_finds_a_forged_back_dated_insert(store):
    _finalised(store)
    db = sqlite3.connect(store.path)
    db.execute(
        "INSERT INTO actions (review_id, ts, reviewer, action, code, system, codesets,"
        " prev_sha256, sha256) VALUES ('r1', '2020-01-01T00:00:00.000+00:00', 'mallory',"
        " 'reject', 'E11.9', 'ICD-10-CM', '{}', ?, ?)",
        ("0" * 64, "f" * 64),
    )
    db.commit()
    db.close()
    problems = _problems(store.path)
    assert problems[0].startswith("action 4: the chain is broken here")


def test_audit_verify_finds_a_back_dated_row_even_with_its_hashes_recomputed(store):
    from codesuggest.store.chain import row_sha256

    _finalised(store)
    forged = {
        "review_id": "r1",
        "ts": "2020-01-01T00:00:00.000+00:00",
        "reviewer": "mallory",
        "action": "reject",
        "code": "E11.9",
        "system": "ICD-10-CM",
        "before": None,
        "after": None,
        "note_sha256": note_sha256(NOTE),
        "model_version": "3",
        "codesets": "{}",
        "prev_sha256": store.actions()[-1]["sha256"],
    }
    forged["sha256"] = row_sha256(forged)
    db = sqlite3.connect(store.path)
    db.execute(
        f"INSERT INTO actions ({', '.join(forged)}) VALUES ({', '.join('?' * len(forged))})",
        tuple(forged.values()),
    )
    db.commit()
    db.close()
    assert any("action 4: dated 2020-01-01" in p for p in _problems(store.path))


def test_audit_verify_finds_a_deleted_middle_row_and_a_cut_off_end(store):
    _finalised(store)
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER actions_append_only_delete")
    db.execute("DELETE FROM actions WHERE action_id = 2")
    db.commit()
    assert _problems(store.path)[1].startswith("action 3: the chain is broken here")
    db.execute("DELETE FROM actions WHERE action_id = 3")
    db.commit()
    db.close()
    assert any("the end of the log was cut off" in p for p in _problems(store.path))


def test_audit_verify_checks_final_code_sets_against_the_chain(store):
    _finalised(store)
    db = sqlite3.connect(store.path)
    forged = {"diagnoses": [{"sequence": 1, "code": "E11.65", "system": "ICD-10-CM"}]}
    db.execute("UPDATE reviews SET final = ?", (json.dumps(forged),))
    db.execute("UPDATE review_items SET code = 'E11.65'")
    db.commit()
    db.close()
    problems = _problems(store.path)
    assert any("reviews.final differs from the final code set" in p for p in problems)
    assert any("review_items differ from the final code set" in p for p in problems)


def test_audit_verify_finds_a_reopened_review_marked_finalised(store):
    _finalised(store)
    accept(store)
    db = sqlite3.connect(store.path)
    db.execute("UPDATE reviews SET status = 'finalised'")
    db.commit()
    db.close()
    assert any("last action in the log is 'accept'" in p for p in _problems(store.path))


def _downgrade_to_schema_1(path) -> None:
    """Make the file what codesuggest 0.1's store wrote: no chain columns, two triggers."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER actions_append_only_update")
    db.execute("DROP TRIGGER actions_no_replace")
    db.execute("ALTER TABLE actions DROP COLUMN prev_sha256")
    db.execute("ALTER TABLE actions DROP COLUMN sha256")
    db.execute(
        "CREATE TRIGGER actions_append_only_update BEFORE UPDATE ON actions"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def test_a_schema_1_log_is_chained_when_opened_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    with AuditStore(path) as s:
        _finalised(s)
        before = [(a["action_id"], a["action"], a["reviewer"]) for a in s.actions()]
    _downgrade_to_schema_1(path)
    assert "no hash chain" in _problems(path)[0]
    with AuditStore(path) as s:
        assert [(a["action_id"], a["action"], a["reviewer"]) for a in s.actions()] == before
        accept(s)
    assert _problems(path) == []
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE actions SET reviewer = 'x'")
    db.close()


def test_training_refuses_feedback_from_a_log_that_was_edited(tmp_path):
    from codesuggest.train.feedback import notes_from_audit

    path = tmp_path / "audit.sqlite3"
    with AuditStore(path, store_note_text=True) as s:
        _finalised(s)
    notes, _ = notes_from_audit(path)
    assert [n.codes for n in notes] == [[("ICD-10-CM", "E11.9")]]
    db = sqlite3.connect(path)
    db.execute("UPDATE review_items SET code = 'C34.90'")  # teach the model a cancer code
    db.commit()
    db.close()
    with pytest.raises(ArtifactError, match=r"fails its integrity check.*review_items differ"):
        notes_from_audit(path)
