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
    from codesuggest.review import ReviewService
    from codesuggest.review.views import render_edits, render_note, render_table
    from codesuggest.store.audit import AuditStore

    t = time.perf_counter()
    suggester = codesuggest.load(model) if model else codesuggest.load()
    print(f"load (model, code sets, spaCy): {time.perf_counter() - t:.2f} s (once per server)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    store = AuditStore(tmp / "audit.sqlite3")
    service = ReviewService(suggester, store, reviewer="bench", export_dir=tmp / "exports")
    notes = [p.read_text(encoding="utf-8") for p in SAMPLES]
    service.open(text=notes[0], note_id="warm-up", context={}, reviewer="bench")
    service.search("warm up")

    suggests, screens, accepts, finals, searches, chars = [], [], [], [], [], []
    for r in range(repeat):
        for i, text in enumerate(notes):
            chars.append(len(text))
            t = time.perf_counter()
            result = suggester.suggest(text, id=f"n{i}").to_dict()
            suggests.append(time.perf_counter() - t)
            # Everything the screen adds to suggesting: edits, the audit row, the HTML.
            t = time.perf_counter()
            review = service.open(
                text=text, note_id=f"n{i}", context={}, reviewer="bench", result=result
            )
            render_note(review), render_table(review), render_edits(review)
            screens.append(time.perf_counter() - t)
            if review.items and r == 0:
                item = review.items[0].item_id
                t = time.perf_counter()
                service.apply(review, "accept", item)
                render_note(review, item), render_table(review, item), render_edits(review)
                accepts.append(time.perf_counter() - t)
                finals.append(_time(lambda review=review: service.finalise(review)))
    for _ in range(repeat):
        for q in QUERIES:
            searches.append(_time(lambda q=q: service.search(q)))
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    opens = [a + b for a, b in zip(suggests, screens, strict=True)]
    print(f"{len(notes)} sample notes, {min(chars)}-{max(chars)} characters")
    print(_stats("open note: Suggester.suggest", suggests))
    print(_stats("open note: edits+audit row+HTML", screens))
    print(_stats("open note: total", opens, 1.0))
    print(_stats("code search (typeahead)", searches, 0.2))
    print(_stats("accept (edits+commit+HTML)", accepts))
    print(_stats("finalise (commit+3 exports)", finals))


SET_VALUE = (
    "arguments[0].value = arguments[1];"
    "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
)


# Timed inside the page (performance.now and a MutationObserver), so WebDriver's own
# round trips are not counted: from the click or keystroke to the new content in the DOM.
TIME_SUGGEST = """
const [marker, done] = [arguments[0], arguments[arguments.length - 1]];
const t0 = performance.now();
const drawn = () => document.querySelector('#progress').textContent.includes(marker)
  && document.querySelector('#suggestions tr[data-item]');
const obs = new MutationObserver(() => {
  if (drawn()) { obs.disconnect(); done(performance.now() - t0); }
});
obs.observe(document.body, {subtree: true, childList: true, characterData: true});
document.querySelector('#suggest-btn').click();
"""
ARM_SEARCH = """
const [box, prefix] = arguments;
box.value = prefix;
window.csSearchMs = null;
box.addEventListener('keydown', () => {
  const t0 = performance.now();
  const obs = new MutationObserver(() => {
    if (document.querySelector('#search-results input[type=radio]')) {
      obs.disconnect();
      window.csSearchMs = performance.now() - t0;
    }
  });
  obs.observe(document.querySelector('#search-results'), {subtree: true, childList: true});
}, {once: true});
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def through_browser(model: str | None, repeat: int) -> None:
    """``4 * repeat`` notes pasted and ``10 * repeat`` searches, timed in Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from codesuggest.store.audit import note_sha256

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
    driver.set_script_timeout(60)
    suggests, searches = [], []
    try:
        driver.get(url)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#note-input textarea"))
        notes = [p.read_text(encoding="utf-8") for p in SAMPLES]
        for r in range(4 * repeat):
            text = notes[r % len(notes)] + f"\n(visit {r})"
            if not driver.find_element(By.CSS_SELECTOR, "#suggest-btn").is_displayed():
                driver.find_element(By.CSS_SELECTOR, "#opener > button.label-wrap").click()
                wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#suggest-btn").is_displayed())
            box = driver.find_element(By.CSS_SELECTOR, "#note-input textarea")
            driver.execute_script(SET_VALUE, box, text)
            # The screen names a pasted note "pasted-<first 10 hex of its sha256>".
            marker = f"pasted-{note_sha256(text)[:10]}"
            suggests.append(driver.execute_async_script(TIME_SUGGEST, marker) / 1000)
        search = driver.find_element(By.CSS_SELECTOR, "#code-search textarea, #code-search input")
        for r in range(10 * repeat):
            # Gradio reacts to real keystrokes only: type all but the last letter silently,
            # then time in the page from the last keystroke to the results being drawn.
            query = QUERIES[r % len(QUERIES)]
            search.clear()
            search.send_keys("x")
            wait.until(
                lambda d: not d.find_elements(By.CSS_SELECTOR, "#search-results input[type=radio]")
            )
            driver.execute_script(ARM_SEARCH, search, query[:-1])
            search.send_keys(query[-1])
            wait.until(lambda d: d.execute_script("return window.csSearchMs"))
            searches.append(driver.execute_script("return window.csSearchMs") / 1000)
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(_stats("browser: submit note -> table drawn", suggests, 1.0))
    print(_stats("browser: keystroke -> results drawn", searches, 0.2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model folder (default: shipped model)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the sample notes")
    parser.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    args = parser.parse_args()
    server_side(args.model, args.repeat)
    if args.browser:
        through_browser(args.model, args.repeat)


if __name__ == "__main__":
    main()
