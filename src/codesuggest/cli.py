"""The ``codesuggest`` command: a thin shell over the library.

Exit status: 0 success, 1 an operation failed (the message says why), 2 a usage error or an
unknown code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codesuggest import __version__
from codesuggest.core.errors import CodesuggestError, InputError, UnknownCodeError

# Notes are PHI: nothing here may send them anywhere, including Gradio's usage analytics.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


# --------------------------------------------------------------------------- codes


def _codebook(args: argparse.Namespace):
    from codesuggest.codebook.book import default_codebook

    return default_codebook(cpt_file=getattr(args, "cpt_file", None))


def cmd_codes_search(args: argparse.Namespace) -> int:
    book = _codebook(args)
    results = book.search(args.query, system=args.system, limit=args.limit)
    if args.json:
        _print_json([r.to_dict() for r in results])
        return 0
    if not results:
        print(f"No codes match {args.query!r}.")
        return 0
    for r in results:
        flag = " " if r.billable else "*"
        print(f"{r.code:<9}{flag} {r.score:5.2f}  {r.description}  [{r.system}]")
    if any(not r.billable for r in results):
        print("* header: not billable, pick a code beneath it")
    return 0


def _show_lines(book: Any, code: str) -> list[str]:
    from codesuggest.codebook.codeset import NOTE_FIELDS

    info = book.get(code)
    s = book.sets[info.system]
    lines = [f"{info.code}  {info.description}"]
    lines.append(f"  code set:  {s.version}")
    billable = "yes" if info.billable else "no (a header: code to a billable code beneath it)"
    if info.requires_7th:
        billable = "no: a 7th character is required"
    lines.append(f"  billable:  {billable}")
    if info.system == "ICD-10-CM":
        path = list(reversed(s.ancestors(info.code)))
        if path:
            lines.append("  hierarchy:")
            for depth, c in enumerate([*path, info.code]):
                lines.append(f"    {'  ' * depth}{c}  {s.get(c).description}")
        labels = {
            "inclusion_terms": "Inclusion terms",
            "includes": "Includes",
            "excludes1": "Excludes1 (never coded together)",
            "excludes2": "Excludes2 (not included here; both may be coded)",
            "code_first": "Code first",
            "use_additional_code": "Use additional code",
            "code_also": "Code also",
            "notes": "Notes",
        }
        for name in NOTE_FIELDS:
            inherited = s.inherited(info.code, name)
            if name in ("inclusion_terms", "includes", "notes"):
                inherited = [(c, t) for c, t in inherited if c == info.code]
            if not inherited:
                continue
            lines.append(f"  {labels[name]}:")
            for origin, text in inherited:
                where = "" if origin == info.code else f"  (from {origin})"
                lines.append(f"    - {text}{where}")
        if info.requires_7th:
            lines.append("  7th character required; options:")
            base = info.code.replace(".", "")
            pad = "X" * max(0, 6 - len(base))
            for ch, meaning in info.seventh_characters.items():
                full = f"{info.code}{'.' if '.' not in info.code else ''}{pad}{ch}"
                lines.append(f"    {ch}  {meaning}  -> {full}")
        children = s.children(info.code)
        if children and not info.requires_7th:
            lines.append("  codes beneath:")
            for c in children[:40]:
                child = s.get(c)
                lines.append(f"    {c:<9}{' ' if child.billable else '*'} {child.description}")
            if len(children) > 40:
                lines.append(f"    ... and {len(children) - 40} more")
    else:
        lines.append(f"  category:  {info.category or '-'}")
        if info.addon:
            primaries = ", ".join(info.primary_codes) or "see the CPT guidelines"
            lines.append(f"  add-on code: report with a primary code ({primaries})")
    return lines


def cmd_codes_show(args: argparse.Namespace) -> int:
    book = _codebook(args)
    info = book.get(args.code, args.system)
    if args.json:
        d = info.to_dict()
        s = book.sets[info.system]
        d["codeset"] = str(s.version)
        if info.system == "ICD-10-CM":
            d["ancestors"] = s.ancestors(info.code)
            d["children"] = s.children(info.code)
            d["inherited"] = {
                name: [{"from": c, "text": t} for c, t in s.inherited(info.code, name)]
                for name in ("excludes1", "excludes2", "code_first", "use_additional_code")
            }
        _print_json(d)
        return 0
    print("\n".join(_show_lines(book, args.code)))
    return 0


# --------------------------------------------------------------------------- suggest


def _read_note_arg(path: str) -> str | bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder; use `codesuggest batch` for folders.") from None


def _print_result(d: dict[str, Any]) -> None:
    cs = ", ".join(f"{k} {v}" for k, v in d["codesets"].items())
    print(f"code sets: {cs}   model: {d['model']['name']} {d['model']['version']}")
    for err in d["errors"]:
        print(f"error: {err['message']}")
    if not d["suggestions"] and not d["errors"]:
        print("No codes suggested.")
    for s in d["suggestions"]:
        mark = "*" if s["selected"] else " "
        terms = [e for e in s["evidence"] if e["assertion"] != "context"]
        words = [e for e in s["evidence"] if e["assertion"] == "context"]
        ev = "; ".join(f"{e['text']!r}@{e['start']}" for e in terms[:2])
        if words and not terms:
            ev = "words the document model weighed: " + ", ".join(repr(e["text"]) for e in words)
        print(f"{mark} {s['rank']:>2}. {s['code']:<9} {s['score']:.2f}  {s['description'][:60]}")
        if ev:
            print(f"       evidence: {ev}")
        for e in s["edits"]:
            print(f"       {e['severity']}: {e['message']}")
        if s.get("note"):
            print(f"       note: {s['note']}")
    for x in d["excluded"]:
        print(f"  not coded: {x['text']!r}@{x['start']} ({x['reason']})")
    if d["suggestions"]:
        print("* pre-selected (confident enough to code); the others are alternatives")


def _unscored(args: argparse.Namespace, errors: list[dict[str, str]]) -> dict[str, Any]:
    """The result of a note that cannot be read, made without loading the model."""
    from codesuggest.codebook.book import default_codebook
    from codesuggest.core.context import PatientContext
    from codesuggest.core.records import SuggestionResult
    from codesuggest.rank.model import default_model_dir, verify_model_dir

    context = PatientContext.parse(
        setting=args.setting, age=args.age, sex=args.sex, encounter_date=args.date
    )
    meta, sha = verify_model_dir(args.model or default_model_dir())
    return SuggestionResult(
        id=None if args.file == "-" else os.path.basename(args.file),
        codesets=default_codebook().versions(),
        model={
            "name": str(meta.get("name", "unnamed")),
            "version": str(meta.get("version", "0")),
            "sha256": sha,
        },
        context=context.to_dict(),
        errors=errors,
    ).to_dict()


def cmd_suggest(args: argparse.Namespace) -> int:
    from codesuggest.pipeline import MAX_NOTE_CHARS, check_note, load

    note = _read_note_arg(args.file)
    max_chars = int(os.environ.get("CODESUGGEST_MAX_NOTE_CHARS", MAX_NOTE_CHARS))
    _, errors = check_note(note, max_chars=max_chars)
    if errors:
        # Say what is wrong with the note at once, not after loading the model for seconds.
        if args.json:
            _print_json(_unscored(args, errors))
        else:
            for err in errors:
                print(f"error: {err['message']}")
        return 1
    suggester = load(args.model)
    result = suggester.suggest(
        note,
        setting=args.setting,
        age=args.age,
        sex=args.sex,
        encounter_date=args.date,
        id=None if args.file == "-" else os.path.basename(args.file),
    ).to_dict()
    if args.json:
        _print_json(result)
    else:
        _print_result(result)
    return 1 if result["errors"] else 0


# --------------------------------------------------------------------------- train / evaluate


def _progress_printer(quiet: bool) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(step: str, i: int, n: int) -> None:
        bar = bars.get(step)
        if bar is None:
            bar = bars[step] = tqdm(total=n, desc=step, unit="note", file=sys.stderr, leave=True)
        bar.n = i
        bar.refresh()
        if i >= n:
            bar.close()

    return progress


def cmd_train(args: argparse.Namespace) -> int:
    from codesuggest.codebook.book import default_codebook
    from codesuggest.train.corpus import read_labelled
    from codesuggest.train.recipe import load_config, train_to_folder

    config = load_config(args.config)
    if args.setting:
        config["training"]["setting"] = args.setting
    book = default_codebook()
    notes, report = read_labelled(args.data, codebook=book)
    print(report.summary(), file=sys.stderr)
    validation = None
    if args.validation:
        validation, vreport = read_labelled(args.validation, codebook=book)
        print(vreport.summary(), file=sys.stderr)
    if args.feedback:
        from codesuggest.train.feedback import notes_from_audit

        extra, freport = notes_from_audit(args.feedback)
        notes = [*notes, *extra]
        print(freport, file=sys.stderr)
    if not notes:
        raise InputError(f"{args.data} holds no usable labelled notes.")
    _, ev, sha = train_to_folder(
        args.out,
        notes=notes,
        config=config,
        seed=args.seed,
        codebook=book,
        validation=validation,
        data_summary={"source": str(args.data), "report": report.summary()},
        progress=_progress_printer(args.quiet),
    )
    print(f"model written to {args.out} (manifest sha256 {sha})")
    for mode, s in ev.results.items():
        d = s.to_dict()
        print(f"  {mode:<8} MAP {d['MAP']:.3f}  P@5 {d['P@5']:.3f}  F1 {d['selected_F1']:.3f}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from codesuggest.codebook.book import default_codebook
    from codesuggest.rank.model import load_model
    from codesuggest.terms.extractor import TermExtractor
    from codesuggest.train.corpus import read_labelled
    from codesuggest.train.evaluation import evaluate
    from codesuggest.train.prepare import prepare

    book = default_codebook()
    notes, report = read_labelled(args.data, codebook=book)
    if not notes:
        raise InputError(f"{args.data} holds no usable labelled notes.")
    print(report.summary(), file=sys.stderr)
    prepared = prepare(notes, TermExtractor.default())
    table: dict[str, dict[str, Any]] = {}
    for folder in args.model or [None]:
        model = load_model(folder)
        name = str(folder or "default")
        ev = evaluate(model, prepared, book, setting=args.setting)
        table[name] = {m: s.to_dict() for m, s in ev.results.items()}
    if args.json:
        _print_json(table)
        return 0
    keys = ["MAP", "P@5", "P@10", "R@10", "selected_P", "selected_R", "selected_F1"]
    for mode in ("exact", "prefix", "category"):
        print(f"\n{mode} match ({len(notes)} notes)")
        print(f"  {'model':<30}" + "".join(f"{k:>12}" for k in keys))
        for name, res in table.items():
            print(f"  {name[-30:]:<30}" + "".join(f"{res[mode][k]:>12.4f}" for k in keys))
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from codesuggest.core.errors import ArtifactError
    from codesuggest.rank.model import default_model_dir, is_trusted, verify_model_dir

    folders = [default_model_dir(), *(Path(p) for p in args.path)]
    for root in folders:
        candidates = (
            [root]
            if (root / "manifest.json").exists()
            else sorted(p.parent for p in root.glob("*/manifest.json"))
        )
        for folder in candidates:
            try:
                meta, sha = verify_model_dir(folder)
            except ArtifactError as exc:
                print(f"{folder}: NOT USABLE: {exc}")
                continue
            metrics = meta.get("metrics")
            prefix = metrics.get("prefix", {}) if isinstance(metrics, dict) else {}
            trust = (
                "trusted"
                if is_trusted(folder, sha)
                else f"UNTRUSTED: not loaded until `codesuggest models trust {folder}`"
            )
            print(
                f"{folder}: {meta.get('name')} {meta.get('version')} ({meta.get('created')}), "
                f"{meta.get('train_notes')} training notes, validation MAP "
                f"{prefix.get('MAP') if isinstance(prefix, dict) else None} (prefix), "
                f"sha256 {sha[:12]}, {trust}"
            )
    return 0


def cmd_models_trust(args: argparse.Namespace) -> int:
    from codesuggest.rank.model import trust_file, trust_model

    for folder in args.path:
        sha = trust_model(folder)
        print(f"{folder}: trusted (manifest sha256 {sha}), recorded in {trust_file()}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from codesuggest.review.app import parse_auth, serve

    serve(
        host=args.host,
        port=args.port,
        db=args.db,
        model=args.model,
        reviewer=args.reviewer,
        auth=parse_auth(args.auth or [], args.auth_file),
        store_note_text=args.store_note_text,
    )
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from codesuggest.store.chain import verify_file

    report = verify_file(args.db)
    if report.ok:
        print(
            f"{args.db}: intact: {report.actions} action(s) chained; head sha256 {report.head} "
            "(keep it elsewhere to pin the log up to now)"
        )
        return 0
    print(f"{args.db}: TAMPERED or damaged:", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------- batch


def cmd_batch(args: argparse.Namespace) -> int:
    from codesuggest.io.readers import DEFAULT_MAX_CHARS, Fields
    from codesuggest.io.run import run_batch

    summary = run_batch(
        args.input,
        args.out,
        workers=args.workers,
        engine=args.engine,
        output_format=args.format,
        input_format=args.input_format,
        model=args.model,
        setting=args.setting,
        fields=Fields(
            id=args.id_field,
            text=args.text_field,
            setting=args.setting_field,
            age=args.age_field,
            sex=args.sex_field,
            encounter_date=args.date_field,
        ),
        max_chars=args.max_chars or DEFAULT_MAX_CHARS,
        progress=False if args.quiet else None,
    )
    if not args.quiet:
        print(summary, file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    import datetime as dt

    from codesuggest.rules import format_edits, load_mue, load_ncci_ptp, validate_codes

    try:
        day = dt.date.fromisoformat(args.date) if args.date else None
    except ValueError:
        raise InputError(f"--date {args.date!r} is not a date: use YYYY-MM-DD.") from None
    tables = [load_ncci_ptp(p) for p in args.ncci_ptp or ()]
    tables += [load_mue(p) for p in args.mue or ()]
    edits = validate_codes(
        args.codes,
        age=args.age,
        sex=args.sex,
        setting=args.setting,
        encounter_date=day,
        codebook=_codebook(args),
        cms_edits=tables,
    )
    if args.json:
        _print_json({"edits": [e.to_dict() for e in edits]})
    else:
        print(format_edits(edits, args.codes))
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codesuggest",
        description="Offline, explainable ICD-10-CM and CPT code suggestions for medical coders.",
    )
    parser.add_argument("--version", action="version", version=f"codesuggest {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    codes = sub.add_parser("codes", help="look up ICD-10-CM and CPT codes")
    codes_sub = codes.add_subparsers(dest="codes_command", metavar="ACTION", required=True)
    search = codes_sub.add_parser("search", help="fuzzy search by description or code")
    search.add_argument("query", type=_nonempty, help="words or a code, e.g. 'type 2 diabetes'")
    search.add_argument("--system", choices=["ICD-10-CM", "CPT", "HCPCS"], default=None)
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true", help="print JSON")
    search.add_argument("--cpt-file", help="a licensed CPT data file to use instead of the subset")
    search.set_defaults(func=cmd_codes_search)
    show = codes_sub.add_parser("show", help="everything about one code")
    show.add_argument("code", type=_nonempty)
    show.add_argument("--system", choices=["ICD-10-CM", "CPT", "HCPCS"], default=None)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--cpt-file", help="a licensed CPT data file to use instead of the subset")
    show.set_defaults(func=cmd_codes_show)

    suggest = sub.add_parser("suggest", help="suggest codes for one note")
    suggest.add_argument("file", help="a text file, or - for standard input")
    suggest.add_argument("--json", action="store_true", help="print the JSON result")
    suggest.add_argument(
        "--setting",
        type=str.lower,
        choices=["outpatient", "inpatient"],
        default="outpatient",
        help="care setting: outpatient codes uncertain diagnoses as symptoms (default)",
    )
    suggest.add_argument(
        "--age", type=int, default=None, help="age in years, 0-124 (for age edits; default unknown)"
    )
    suggest.add_argument(
        "--sex", type=str.upper, choices=["F", "M"], default=None, help="F or M (any case)"
    )
    suggest.add_argument("--date", default=None, help="encounter date, YYYY-MM-DD")
    suggest.add_argument("--model", default=None, help="a model folder (default: shipped model)")
    suggest.set_defaults(func=cmd_suggest)

    train = sub.add_parser("train", help="train a model on labelled notes")
    train.add_argument("--data", required=True, help="CodiEsp folder, JSONL or CSV")
    train.add_argument("--out", required=True, help="the model folder to write")
    train.add_argument("--config", default=None, help="a TOML config, e.g. training/default.toml")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation", default=None, help="validation data instead of a split")
    train.add_argument("--feedback", default=None, help="a review audit DB to learn from")
    train.add_argument(
        "--setting",
        choices=["outpatient", "inpatient"],
        default=None,
        help="the care setting the notes were coded for (default: the config's, else outpatient)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="score models on labelled notes")
    evaluate.add_argument("--model", action="append", help="a model folder; repeat to compare")
    evaluate.add_argument("--data", required=True, help="CodiEsp folder, JSONL or CSV")
    evaluate.add_argument(
        "--setting",
        choices=["outpatient", "inpatient"],
        default="outpatient",
        help="code the notes as this care setting does (uncertain diagnoses)",
    )
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(func=cmd_evaluate)

    models = sub.add_parser("models", help="installed models")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    models_list = models_sub.add_parser("list", help="list models with their card summary")
    models_list.add_argument("path", nargs="*", help="more folders to look in")
    models_list.set_defaults(func=cmd_models_list)
    models_trust = models_sub.add_parser(
        "trust",
        help="allow a model folder to load (its files are pickles, which can run code)",
        description="Trust the folder's current manifest sha256. Only trust a folder whose "
        "origin you know: loading a pickle can run any code. A folder changed later is "
        "untrusted again.",
    )
    models_trust.add_argument("path", nargs="+", help="model folders")
    models_trust.set_defaults(func=cmd_models_trust)

    serve = sub.add_parser("serve", help="start the coder review screen in the browser")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--db", default=None, help="the audit database (default: user data dir)")
    serve.add_argument("--model", default=None, help="a model folder (default: shipped model)")
    serve.add_argument("--reviewer", default=None, help="reviewer name when there is no login")
    serve.add_argument("--auth", action="append", metavar="USER:PASS", help="require a login")
    serve.add_argument("--auth-file", default=None, help="a file of USER:PASS lines")
    serve.add_argument(
        "--store-note-text", action="store_true", help="keep note text (PHI) in the audit DB"
    )
    serve.set_defaults(func=cmd_serve)

    audit = sub.add_parser("audit", help="the review audit database")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    audit_verify = audit_sub.add_parser(
        "verify",
        help="check the audit log's hash chain; exit 1 naming the first broken link",
        description="Read-only: checks each action's hash and its link to the one before, the "
        "triggers that keep the log append-only, and every finalised review's code set against "
        "its finalise action.",
    )
    audit_verify.add_argument("db", help="the audit database, e.g. audit.sqlite3")
    audit_verify.set_defaults(func=cmd_audit_verify)

    batch = sub.add_parser(
        "batch",
        help="score a folder or file of notes; rerun the same command to resume",
        description="Score every note of INPUT into OUT, one result per note in input order. "
        "OUT is also the checkpoint: after an interruption, the same command carries on where "
        "it stopped. See docs/batch.md.",
    )
    batch.add_argument("input", help="a folder of .txt notes, or a JSONL, CSV or Parquet file")
    batch.add_argument("--out", required=True, help="results: .jsonl, .csv or a .parquet folder")
    batch.add_argument(
        "--format",
        choices=["jsonl", "csv", "parquet"],
        default=None,
        help="output format (default: from --out's suffix, else jsonl)",
    )
    batch.add_argument(
        "--input-format",
        choices=["auto", "txt", "jsonl", "csv", "parquet"],
        default="auto",
        help="default: a folder is txt, a file goes by suffix",
    )
    batch.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes, each loading the model once (Spark: local cores)",
    )
    batch.add_argument("--engine", choices=["local", "spark"], default="local")
    batch.add_argument("--model", default=None, help="a model folder (default: shipped model)")
    batch.add_argument(
        "--setting",
        choices=["outpatient", "inpatient"],
        default="outpatient",
        help="for notes whose record names no setting",
    )
    batch.add_argument("--id-field", default="id", help="JSONL key or column of the note id")
    batch.add_argument("--text-field", default="text", help="JSONL key or column of the text")
    batch.add_argument("--setting-field", default="setting")
    batch.add_argument("--age-field", default="age")
    batch.add_argument("--sex-field", default="sex")
    batch.add_argument("--date-field", default="encounter_date")
    batch.add_argument(
        "--max-chars",
        type=int,
        default=None,
        help="longer notes get a note_too_large error (default 500,000)",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    batch.set_defaults(func=cmd_batch)

    check = sub.add_parser(
        "validate",
        help="check a list of codes against coding rules (a report: exit 0 even with errors)",
    )
    check.add_argument(
        "codes",
        nargs="+",
        metavar="CODE",
        help="principal diagnosis first; 27447-RT for a modifier, 97110*3 for units",
    )
    check.add_argument("--age", type=int, default=None, help="age in years (Medicare Code Editor)")
    check.add_argument("--sex", type=str.upper, choices=["F", "M"], default=None)
    check.add_argument("--setting", choices=["outpatient", "inpatient"], default="outpatient")
    check.add_argument("--date", default=None, help="encounter date, YYYY-MM-DD (default today)")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.add_argument("--ncci-ptp", action="append", metavar="PATH", help="CMS NCCI PTP file")
    check.add_argument("--mue", action="append", metavar="PATH", help="CMS NCCI MUE file")
    check.add_argument("--cpt-file", help="a licensed CPT data file to use instead of the subset")
    check.set_defaults(func=cmd_validate)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except UnknownCodeError as exc:
        print(f"codesuggest: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"codesuggest: {exc}", file=sys.stderr)
        return 2
    except CodesuggestError as exc:
        print(f"codesuggest: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        again = (
            "; rerun the same command to resume: the notes already scored are kept in OUT"
            if args.command == "batch"
            else ""
        )
        print(f"codesuggest: interrupted{again}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
