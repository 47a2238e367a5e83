"""End to end: ``codesuggest serve`` with the shipped model, driven in headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (the ``test``
extra); skipped, saying which is missing, when they are absent. Set
``CODESUGGEST_UPDATE_SCREENSHOT=1`` to refresh ``docs/review-screen.png`` from this run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codesuggest.output.schema import validate_result_dict
from codesuggest.store.audit import note_sha256

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "01_office_t2dm_htn_ckd.txt"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1250",
)
# The sample is type 2 diabetes with diabetic CKD: E11.22 is the code a coder would choose.
REPLACEMENTS = ("E11.22", "E11.65", "E11.8", "I12.9", "Z79.4", "E78.5")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``codesuggest serve`` on a free loopback port with a new audit DB."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    pytest.importorskip("selenium", reason="selenium is not installed (pip install '.[test]')")
    tmp = tmp_path_factory.mktemp("serve")
    db = tmp / "audit.sqlite3"
    cmd = [
        sys.executable,
        "-m",
        "codesuggest.cli",
        "serve",
        "--port",
        str(_free_port()),
        "--db",
        str(db),
        "--reviewer",
        "e2e-coder",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    url = ""
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("codesuggest review:"):
            url = line.split(": ", 1)[1].strip()
        if line.startswith("model loaded"):
            break
    if not url or proc.poll() is not None:
        proc.kill()
        pytest.fail("codesuggest serve did not start:\n" + "".join(lines))
    try:
        yield {"url": url, "db": db, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in (*CHROME_ARGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Any, timeout: float = 30) -> Any:
    """Poll ``condition(driver)`` until it is truthy.

    A condition that read an element Gradio has since re-rendered (a table or a radio list
    redrawn by a reply) is asked again rather than failing the test.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(
        driver, timeout, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
    )
    return wait.until(condition)


def _status(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#status").text


def _wait_status(driver: Any, text: str, timeout: float = 30) -> None:
    """Wait for ``text`` in the status line; on timeout, say what the screen shows instead."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By

    try:
        _wait(driver, lambda d: text in _status(d), timeout)
    except TimeoutException as e:
        results = [
            r.get_attribute("value")
            for r in driver.find_elements(By.CSS_SELECTOR, "#search-results input[type=radio]")
        ]
        errors = [t.text for t in driver.find_elements(By.CSS_SELECTOR, ".toast-body")]
        raise AssertionError(
            f"status never showed {text!r}; it shows {_status(driver)!r}; "
            f"search results {results!r}; error toasts {errors!r}"
        ) from e


def _set_text(driver: Any, selector: str, text: str) -> None:
    """Fill a Gradio textbox the way typing does (one input event), fast for long notes."""
    from selenium.webdriver.common.by import By

    box = _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, selector))
    driver.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        box,
        text,
    )
    return box


def _rows(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#suggestions tr[data-item]")


def _click_row_button(driver: Any, item: str, action: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(
        By.CSS_SELECTOR, f'#suggestions button[data-action="{action}"][data-item="{item}"]'
    ).click()


def test_coder_accepts_replaces_finalises_and_everything_is_audited(server, browser):
    from selenium.webdriver.common.by import By

    note = SAMPLE.read_text(encoding="utf-8")
    browser.get(server["url"])
    _wait(browser, lambda d: "ICD-10-CM" in d.find_element(By.TAG_NAME, "body").text)

    _set_text(browser, "#ctx-age textarea, #ctx-age input", "58")
    _set_text(browser, "#note-input textarea", note)
    browser.find_element(By.CSS_SELECTOR, "#ctx-sex input[value='F']").click()
    browser.find_element(By.CSS_SELECTOR, "#suggest-btn").click()
    _wait(browser, lambda d: len(_rows(d)) >= 2, timeout=60)
    rows = _rows(browser)
    # Replace the top suggestion and accept the next one.
    replace_item, accept_item = (r.get_attribute("data-item") for r in rows[:2])
    codes = {r.get_attribute("data-code") for r in rows}
    replaced_code = rows[0].get_attribute("data-code")
    accepted_code = rows[1].get_attribute("data-code")
    replacement = next(c for c in REPLACEMENTS if c not in codes)

    _click_row_button(browser, accept_item, "accept")
    _wait_status(browser, f"Accepted {accepted_code}.")

    _click_row_button(browser, replace_item, "replace")
    _wait_status(browser, f"in place of {replaced_code}")
    search = browser.find_element(By.CSS_SELECTOR, "#code-search textarea, #code-search input")
    search.send_keys(replacement)
    option = _wait(
        browser,
        lambda d: d.find_element(
            By.CSS_SELECTOR, f'#search-results input[value="ICD-10-CM|{replacement}"]'
        ),
    )
    option.click()
    browser.find_element(By.CSS_SELECTOR, "#replace-btn").click()
    _wait_status(browser, f"Replaced {replaced_code} with {replacement}.")
    assert browser.find_elements(By.CSS_SELECTOR, "#note-view mark.cs-ev")

    # The review screen as the README shows it: one accepted, one replaced, a row selected.
    browser.find_element(
        By.CSS_SELECTOR, f'#suggestions tr[data-item="{accept_item}"] td.cs-c-desc'
    ).click()
    _wait_status(browser, f"Selected {accepted_code}")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#note-view mark.cs-focus"))
    browser.execute_script("window.scrollTo(0, 0)")
    shot = browser.downloads.parent / "review-screen.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("CODESUGGEST_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "review-screen.png")
        # What the picture shows, so a test can tell when it is out of date.
        header = browser.find_element(By.TAG_NAME, "body").text.split("\n")[1]
        (ROOT / "docs" / "review-screen.json").write_text(
            json.dumps({"header": header}, indent=2) + "\n", encoding="utf-8"
        )

    # The evidence words are PHI: the JSON holds them only because the coder asks here.
    browser.find_element(By.CSS_SELECTOR, "#export-snippets input[type=checkbox]").click()
    browser.find_element(By.CSS_SELECTOR, "#finalise-btn").click()
    _wait_status(browser, "Finalised 2 code(s)")
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#dl-json").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "#dl-json").click()
    exported = _wait(
        browser,
        lambda d: next(
            (p for p in d.downloads.glob("*.json") if not p.name.endswith(".crdownload")), None
        ),
    )
    time.sleep(0.2)  # let Chromium finish writing the file
    data = json.loads(exported.read_text(encoding="utf-8"))

    db = sqlite3.connect(server["db"])
    db.row_factory = sqlite3.Row
    (review,) = db.execute(
        "SELECT * FROM reviews WHERE note_sha256 = ?", (note_sha256(note),)
    ).fetchall()
    actions = db.execute(
        "SELECT * FROM actions WHERE review_id = ? ORDER BY action_id", (review["review_id"],)
    ).fetchall()
    db.close()

    assert review["note_sha256"] == note_sha256(note)
    assert review["note_text"] is None
    assert review["reviewer"] == "e2e-coder"
    assert review["status"] == "finalised"
    assert [(a["action"], a["code"]) for a in actions] == [
        ("accept", accepted_code),
        ("replace", replaced_code),
        ("finalise", None),
    ]
    assert json.loads(actions[1]["after"])["replaced_by"] == replacement
    assert {a["reviewer"] for a in actions} == {"e2e-coder"}
    assert all(a["note_sha256"] == review["note_sha256"] for a in actions)
    assert all(a["model_version"] == review["model_version"] for a in actions)

    assert validate_result_dict(data, note=note) == []
    assert data["context"]["age"] == 58
    assert data["context"]["sex"] == "F"
    final = [(d["code"], d.get("replaces")) for d in data["review"]["final"]["diagnoses"]]
    final += [(p["code"], p.get("replaces")) for p in data["review"]["final"]["procedures"]]
    assert sorted(final, key=str) == sorted(
        [(accepted_code, None), (replacement, replaced_code)], key=str
    )
    assert [d["action"] for d in data["review"]["decisions"]] == ["accept", "replace", "finalise"]
    assert data["review"]["review_id"] == review["review_id"]


def _open_note(driver: Any, url: str, note: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    driver.get(url)
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#suggest-btn"))
    _set_text(driver, "#note-input textarea", note)
    driver.find_element(By.CSS_SELECTOR, "#suggest-btn").click()
    return _wait(driver, lambda d: _rows(d), timeout=60)


def test_two_tabs_reviewing_different_notes_never_overwrite_each_other(server, browser):
    notes = [
        (ROOT / "data" / "samples" / name).read_text(encoding="utf-8")
        for name in ("02_ed_chest_pain_pe_ruled_out.txt", "03_discharge_sepsis_pneumonia.txt")
    ]
    tabs, first_codes = [], []
    for note in notes:
        if tabs:
            browser.switch_to.new_window("tab")
        tabs.append(browser.current_window_handle)
        rows = _open_note(browser, server["url"], note)
        first_codes.append((rows[0].get_attribute("data-item"), rows[0].get_attribute("data-code")))
    for tab, (item, code) in reversed(list(zip(tabs, first_codes, strict=True))):
        browser.switch_to.window(tab)
        _click_row_button(browser, item, "reject")
        _wait_status(browser, f"Rejected {code}.")

    db = sqlite3.connect(server["db"])
    for note, (_, code) in zip(notes, first_codes, strict=True):
        (review_id,) = db.execute(
            "SELECT review_id FROM reviews WHERE note_sha256 = ?", (note_sha256(note),)
        ).fetchone()
        actions = db.execute(
            "SELECT action, code FROM actions WHERE review_id = ?", (review_id,)
        ).fetchall()
        assert actions == [("reject", code)]
    db.close()


def test_uploaded_notes_form_a_queue_to_step_through(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    folder = tmp_path / "queue"
    folder.mkdir()
    names = ["03_discharge_sepsis_pneumonia.txt", "01_office_t2dm_htn_ckd.txt"]
    for name in names:
        shutil.copyfile(ROOT / "data" / "samples" / name, folder / name)
    browser.get(server["url"])
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#suggest-btn"))
    browser.find_element(By.XPATH, "//button[@role='tab'][normalize-space()='Text files']").click()
    upload = _wait(
        browser, lambda d: d.find_element(By.CSS_SELECTOR, "#files-input input[type=file]")
    )
    upload.send_keys("\n".join(str(folder / n) for n in names))

    def progress(d: Any) -> str:
        return d.find_element(By.CSS_SELECTOR, "#progress").text

    _wait(browser, lambda d: "1 / 2" in progress(d) and "01_office" in progress(d), timeout=60)
    first = progress(browser)
    browser.find_element(By.CSS_SELECTOR, "#next-btn").click()
    _wait(browser, lambda d: "2 / 2" in progress(d) and "03_discharge" in progress(d), timeout=60)
    browser.find_element(By.CSS_SELECTOR, "#prev-btn").click()
    _wait(browser, lambda d: "1 / 2" in progress(d))
    assert progress(browser) == first  # the same review, not a new one


# A project-written office visit with a knee injection and the drug given (no corpus text).
INJECTION_NOTE = """Chief complaint: right knee pain, follow-up.

History: 64 year old established patient with primary osteoarthritis of the right knee, worse
over two months despite naproxen. Type 2 diabetes on metformin.

Exam: right knee effusion, medial joint line tenderness.

Procedure: After consent, the right knee was prepped and injected with 40 mg triamcinolone
acetonide and 3 mL 1% lidocaine. Tolerated well.

Assessment and plan:
1. Primary osteoarthritis, right knee: injection today; continue home exercises.
2. Type 2 diabetes mellitus: continue metformin; watch glucose after the steroid.
"""


def _row_of(driver: Any, code: str) -> Any:
    return next(r for r in _rows(driver) if r.get_attribute("data-code") == code)


def test_modifiers_and_units_survive_suggest_edit_and_export(server, browser):
    from selenium.webdriver.common.by import By

    rows = _open_note(browser, server["url"], INJECTION_NOTE)
    codes = [r.get_attribute("data-code") for r in rows]
    em = next(c for c in codes if c.startswith("992"))
    assert {"20610", "J3301"} <= set(codes)
    assert "×4" in _row_of(browser, "J3301").text  # units from the 40 mg dose
    assert "-25" in _row_of(browser, em).text
    assert "-RT" in _row_of(browser, "20610").text

    for code in (em, "20610", "J3301"):
        _click_row_button(browser, _row_of(browser, code).get_attribute("data-item"), "accept")
        _wait_status(browser, f"Accepted {code}.")

    # The coder corrects the drug's units on its line.
    _row_of(browser, "J3301").find_element(By.CSS_SELECTOR, "td.cs-c-desc").click()
    _wait_status(browser, "Selected J3301")
    _set_text(browser, "#line-claim textarea, #line-claim input", "*8")
    browser.find_element(By.CSS_SELECTOR, "#set-line-btn").click()
    _wait_status(browser, "J3301*8 recorded.")

    # ... and adds a second injection typed with its modifier, as the edits spell it.
    search = browser.find_element(By.CSS_SELECTOR, "#code-search textarea, #code-search input")
    search.send_keys("20605-LT")
    _wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, '#search-results input[value="CPT|20605|LT"]'),
    ).click()
    browser.find_element(By.CSS_SELECTOR, "#add-btn").click()
    _wait_status(browser, "Added 20605 with 20605-LT.")

    browser.find_element(By.CSS_SELECTOR, "#finalise-btn").click()
    _wait_status(browser, "Finalised")
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#dl-json").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "#dl-json").click()
    exported = _wait(
        browser,
        lambda d: next(
            (p for p in d.downloads.glob("*.json") if not p.name.endswith(".crdownload")), None
        ),
    )
    time.sleep(0.2)
    data = json.loads(exported.read_text(encoding="utf-8"))
    # Finalised without asking for the evidence words (PHI): the spans keep their offsets but
    # not the schema's ``text``, and that is the only way the export departs from the schema.
    assert [p for p in validate_result_dict(data) if not p.endswith("missing key 'text'")] == []
    final = {p["code"]: p for p in data["review"]["final"]["procedures"]}
    assert final[em]["modifiers"] == ["25"]
    assert final["20610"]["modifiers"] == ["RT"]
    assert final["J3301"]["units"] == 8
    assert final["20605"]["modifiers"] == ["LT"]
    assert all(p.startswith("M17") for p in final["J3301"]["pointers"])
    assert "modify" in [d["action"] for d in data["review"]["decisions"]]
