"""Review-screen latency: the server-side handlers, and optionally the round trip in Chromium.

Targets: a note's suggestions on screen within 1 s of submitting it; code-search typeahead
answers within 200 ms.

Run: python benchmarks/bench_ui.py [--model DIR] [--repeat 20] [--browser]

Server side, with the real suggester (``codesuggest.load``) and a temporary audit DB, it
times what the screen's handlers do: open a note (suggest, edits, audit row, HTML), search,
accept (edits re-run, commit, HTML), finalise (commit and the three exports). With
``--browser`` it also starts ``codesuggest serve`` and measures, in headless Chromium, from the
click on "Suggest codes" to the table being drawn, and from a keystroke in the search box to
the results being drawn.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "data" / "samples").glob("*.txt"))
QUERIES = [
    "type 2 diabetes with hyperglycemia",
    "essential hypertension",
    "diabetis",
    "E11.6",
    "chronic kidney disease stage 3a",
    "colonoscopy with biopsy",
    "office visit established",
    "hypert",
    "atrial fibrilation",
    "fracture of neck of right femur",
]


def _stats(name: str, seconds: list[float], target: float | None = None) -> str:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    verdict = "" if target is None else ("  ok" if p95 <= 1000 * target else "  OVER TARGET")
    return (
        f"{name:<34} n={len(ms):<4} median {statistics.median(ms):7.1f} ms   "
        f"p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms{verdict}"
    )


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def server_side(model: str | None, repeat: int) -> None:
    import codesuggest
    from codesuggest.review import (
        ReviewService,
        render_edits,
        render_note,
        render_table,
    )
    from codesuggest.store import AuditStore

    t = time.perf_counter()
    suggester = codesuggest.load(model) if model else codesuggest.load()
    print(f"load (model, code sets, spaCy): {time.perf_counter() - t:.2f} s (once per server)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    store = AuditStore(tmp / "audit.sqlite3")
    service = ReviewService(suggester, store, reviewer="bench", export_dir=tmp / "exports")
    notes = [p.read_text(encoding="utf-8") for p in SAMPLES]
    service.open(text=notes[0], note_id="warm-up", context={}, reviewer="bench")
    service.search("warm up")

    opens, searches, accepts, finals, chars = [], [], [], [], []
    for r in range(repeat):
        for i, text in enumerate(notes):
            holder = {}

            def open_and_draw(text: str = text, i: int = i, holder: dict = holder) -> None:
                review = service.open(text=text, note_id=f"n{i}", context={}, reviewer="bench")
                render_note(review), render_table(review), render_edits(review)
                holder["review"] = review

            opens.append(_time(open_and_draw))
            chars.append(len(text))
            review = holder["review"]
            if review.items and r == 0:
                item = review.items[0].item_id

                def accept_and_draw(review=review, item=item) -> None:
                    service.apply(review, "accept", item)
                    render_note(review, item), render_table(review, item), render_edits(review)

                accepts.append(_time(accept_and_draw))
                finals.append(_time(lambda review=review: service.finalise(review)))
    for _ in range(repeat):
        for q in QUERIES:
            searches.append(_time(lambda q=q: service.search(q)))
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(notes)} sample notes, {min(chars)}-{max(chars)} characters")
    print(_stats("open note (suggest+edits+audit+HTML)", opens, 1.0))
    print(_stats("code search (typeahead)", searches, 0.2))
    print(_stats("accept (edits+commit+HTML)", accepts))
    print(_stats("finalise (commit+3 exports)", finals))


SET_VALUE = (
    "arguments[0].value = arguments[1];"
    "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def through_browser(model: str | None, repeat: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-browser-"))
    cmd = [sys.executable, "-m", "codesuggest.cli", "serve", "--port", str(_free_port())]
    cmd += ["--db", str(tmp / "audit.sqlite3"), *(["--model", model] if model else [])]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = ""
    for line in proc.stdout:
        if line.startswith("codesuggest review:"):
            url = line.split(": ", 1)[1].strip()
            print(f"serve: URL printed after {time.perf_counter() - t:.2f} s")
        if line.startswith("model loaded"):
            print(f"serve: ready after {time.perf_counter() - t:.2f} s")
            break
    options = Options()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1600,1200",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    wait = WebDriverWait(driver, 60, poll_frequency=0.01)
    suggests, searches = [], []
    try:
        driver.get(url)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#note-input textarea"))
        notes = [p.read_text(encoding="utf-8") for p in SAMPLES]
        for r in range(repeat):
            text = notes[r % len(notes)] + f"\n(visit {r})"
            if not driver.find_element(By.CSS_SELECTOR, "#suggest-btn").is_displayed():
                driver.find_element(By.CSS_SELECTOR, "#opener > button.label-wrap").click()
                wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#suggest-btn").is_displayed())
            box = driver.find_element(By.CSS_SELECTOR, "#note-input textarea")
            driver.execute_script(SET_VALUE, box, text)
            old = driver.find_element(By.CSS_SELECTOR, "#progress").text
            start = time.perf_counter()
            driver.find_element(By.CSS_SELECTOR, "#suggest-btn").click()
            wait.until(lambda d, old=old: d.find_element(By.CSS_SELECTOR, "#progress").text != old)
            suggests.append(time.perf_counter() - start)
        search = driver.find_element(By.CSS_SELECTOR, "#code-search textarea, #code-search input")
        for r in range(repeat):
            driver.execute_script(SET_VALUE, search, "")
            wait.until(
                lambda d: not d.find_elements(By.CSS_SELECTOR, "#search-results input[type=radio]")
            )
            start = time.perf_counter()
            driver.execute_script(SET_VALUE, search, QUERIES[r % len(QUERIES)])
            wait.until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results input[type=radio]")
            )
            searches.append(time.perf_counter() - start)
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(_stats("browser: submit note -> table drawn", suggests, 1.0))
    print(_stats("browser: query -> results drawn", searches, 0.2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model folder (default: shipped model)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    args = parser.parse_args()
    server_side(args.model, args.repeat)
    if args.browser:
        through_browser(args.model, args.repeat)


if __name__ == "__main__":
    main()
