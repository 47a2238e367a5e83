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
from typing import Any

from . import __version__
from .errors import CodesuggestError, InputError, UnknownCodeError

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
    from .codebook import default_codebook

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
    from .codebook import NOTE_FIELDS

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
        print("codesuggest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
