# ruff: noqa: F811 - the harness fixtures are imported from test_ui_browser
"""The coder's day (issue 16) in headless Chromium: what got in the way of a new coder.

Uses ``test_ui_browser``'s harness (``codesuggest serve`` with the shipped model on a free
loopback port, a new audit DB, Debian's chromium and chromedriver); skipped without them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from test_ui_browser import (
    ROOT,
    SAMPLE,
    _click_row_button,
    _rows,
    _set_text,
    _status,
    _wait,
    _wait_status,
    browser,  # noqa: F401 - a fixture
    server,  # noqa: F401 - a fixture
)

from codesuggest.store.audit import note_sha256

pytestmark = pytest.mark.browser

SEARCH = "#code-search textarea, #code-search input"


def _by():
    from selenium.webdriver.common.by import By

    return By


def _open(driver: Any, url: str, note: str) -> list[Any]:
    By = _by()
    driver.get(url)
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#suggest-btn"))
    _set_text(driver, "#note-input textarea", note)
    driver.find_element(By.CSS_SELECTOR, "#suggest-btn").click()
    _wait(driver, lambda d: "suggested for" in _status(d), timeout=60)
    return _rows(driver)


def _row(driver: Any, code: str) -> Any:
    return _by(), driver.find_element(
        _by().CSS_SELECTOR, f'#suggestions tr[data-item][data-code="{code}"]'
    )


def _row_edits(driver: Any, code: str) -> str:
    By, row = _row(driver, code)
    return row.find_element(By.CSS_SELECTOR, "td.cs-c-edits").text


def _search_results(driver: Any) -> list[Any]:
    return driver.find_elements(_by().CSS_SELECTOR, "#search-results input[type=radio]")


def _search_box(driver: Any) -> Any:
    return driver.find_element(_by().CSS_SELECTOR, SEARCH)


def _search_and_pick(driver: Any, code: str) -> None:
    """Search for ``code`` and choose it among the results.

    The code goes in as one input event, as a paste does, so one search answers it: typed key
    by key, each keystroke's answer redraws the results, and a choice made on an earlier
    answer is lost to a later one.
    """
    _set_text(driver, SEARCH, code)

    def chosen(d: Any) -> bool:
        radio = d.find_element(_by().CSS_SELECTOR, f'#search-results input[value$="|{code}"]')
        if not radio.is_selected():
            radio.click()
        return radio.is_selected()

    _wait(driver, chosen)


def _add(driver: Any, code: str) -> None:
    _search_and_pick(driver, code)
    driver.find_element(_by().CSS_SELECTOR, "#add-btn").click()
    _wait_status(driver, f"Added {code}.")


def _item_of(driver: Any, code: str) -> str:
    return _row(driver, code)[1].get_attribute("data-item")


# --------------------------------------------------------------------------- 16.1 and 16.3


def test_undecided_rows_edits_follow_a_replacement_and_the_search_starts_afresh(server, browser):
    _open(browser, server["url"], SAMPLE.read_text(encoding="utf-8"))
    By, row = _row(browser, "E11.8")  # ranked low for the sample, neither starred nor decided
    assert "st-pending" in row.get_attribute("class")
    assert not row.find_elements(By.CSS_SELECTOR, ".cs-star")
    _add(browser, "E13.22")
    # E11.8 is undecided: it shows what accepting it beside E13.22 would bring.
    _wait(browser, lambda d: "E13.22" in _row_edits(d, "E11.8"))
    added = _item_of(browser, "E13.22")

    _wait(browser, lambda d: _search_box(d).get_attribute("value") == "" and not _search_results(d))
    _click_row_button(browser, added, "replace")
    _wait_status(browser, "in place of E13.22")
    _search_and_pick(browser, "E11.22")
    browser.find_element(_by().CSS_SELECTOR, "#replace-btn").click()
    _wait_status(browser, "Replaced E13.22 with E11.22.")
    assert "E13.22" not in _row_edits(browser, "E11.8")
    # The search box and its results were cleared: the next query is not appended to the old.
    assert _search_box(browser).get_attribute("value") == ""
    assert not _search_results(browser)

    _search_box(browser).send_keys("hypert")
    _wait(browser, lambda d: _search_results(d))
    from selenium.webdriver.common.keys import Keys

    _search_box(browser).send_keys(Keys.BACKSPACE * 6)
    _wait(browser, lambda d: not _search_results(d), timeout=5)


# --------------------------------------------------------------------------- 16.4


def test_a_whitespace_paste_gives_one_calm_message(server, browser):
    By = _by()
    browser.get(server["url"])
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#suggest-btn"))
    _set_text(browser, "#note-input textarea", "   \n\t  \n")
    browser.find_element(By.CSS_SELECTOR, "#suggest-btn").click()
    _wait_status(browser, "Paste a note first")
    badges = browser.find_elements(By.XPATH, "//*[normalize-space(text())='Error']")
    assert [b for b in badges if b.is_displayed()] == []


# --------------------------------------------------------------------------- 16.5


def test_age_sex_and_date_stated_in_the_note_are_prefilled_above_suggest(server, browser):
    By = _by()
    note = SAMPLE.read_text(encoding="utf-8")  # "58 y/o female", "Date of service: 03/11/2026"
    browser.get(server["url"])
    button = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#suggest-btn"))
    age = browser.find_element(By.CSS_SELECTOR, "#ctx-age textarea, #ctx-age input")
    assert age.location["y"] < button.location["y"]

    _set_text(browser, "#note-input textarea", note)
    _wait(browser, lambda d: age.get_attribute("value") == "58")
    date = browser.find_element(By.CSS_SELECTOR, "#ctx-date textarea, #ctx-date input")
    assert date.get_attribute("value") == "2026-03-11"
    assert browser.find_element(By.CSS_SELECTOR, "#ctx-sex input[value='F']").is_selected()
    source = browser.find_element(By.CSS_SELECTOR, "#ctx-source").text
    assert "Read from the note" in source
    assert "read from the note" in browser.find_element(By.CSS_SELECTOR, "#ctx-age").text

    _set_text(browser, "#ctx-age textarea, #ctx-age input", "59")  # still editable
    button.click()
    _wait(browser, lambda d: "suggested for" in _status(d), timeout=60)
    db = sqlite3.connect(server["db"])
    rows = db.execute(
        "SELECT context FROM reviews WHERE note_sha256 = ? ORDER BY created_at",
        (note_sha256(note),),
    ).fetchall()
    db.close()
    assert '"age": 59' in rows[-1][0]
    assert '"sex": "F"' in rows[-1][0]
    assert '"encounter_date": "2026-03-11"' in rows[-1][0]


# --------------------------------------------------------------------------- 16.6


def test_accept_all_preselected_never_accepts_a_clashing_pair(server, browser):
    _open(browser, server["url"], SAMPLE.read_text(encoding="utf-8"))
    _add(browser, "E13.22")
    browser.find_element(_by().CSS_SELECTOR, "#accept-preselected-btn").click()
    _wait_status(browser, "Left for you to decide")
    assert "E11.22" in _status(browser)
    _, row = _row(browser, "E11.22")
    assert "st-pending" in row.get_attribute("class")


# --------------------------------------------------------------------------- 16.7


def test_highlights_are_clinical_outlined_once_and_list_codes_in_play(server, browser):
    By = _by()
    note = (ROOT / "data" / "samples" / "24_procedure_right_knee_injection.txt").read_text(
        encoding="utf-8"
    )
    rows = _open(browser, server["url"], note)
    marks = browser.find_elements(By.CSS_SELECTOR, "#note-view mark.cs-ev")
    assert marks
    for mark in marks:
        words = mark.text.strip().lower()
        assert words not in {"with", "the", "and", "of", "year"}
        assert not words.replace(" year", "").isdigit()
        assert mark.get_attribute("title").count(";") <= 4
    first = rows[0].get_attribute("data-item")
    browser.find_element(
        By.CSS_SELECTOR, f'#suggestions tr[data-item="{first}"] td.cs-c-desc'
    ).click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#note-view mark.cs-focus"))
    focused = browser.find_elements(By.CSS_SELECTOR, "#note-view mark.cs-focus")
    # Each evidence span of the selected code is one outline, never word by word.
    texts = [m.text for m in focused]
    assert len(texts) == len(set(texts)) or all(len(t.split()) > 1 for t in texts)
    assert all(m.get_attribute("data-item") == first for m in focused)


# --------------------------------------------------------------------------- 16.13


def test_a_coder_raises_a_provider_query_and_records_the_answer(server, browser):
    By = _by()
    note = (ROOT / "data" / "samples" / "13_ortho_left_colles_fracture_initial.txt").read_text(
        encoding="utf-8"
    )
    _open(browser, server["url"], note)
    # The Colles' fracture is coded as such (S52.532A); the hypothyroidism is not: "Unspecified
    # code: the note does not document more specific documentation".
    _, row = _row(browser, "E03.9")
    row.find_element(By.CSS_SELECTOR, "td.cs-c-desc").click()
    _wait_status(browser, "Selected E03.9")
    browser.find_element(By.XPATH, "//*[@id='queries']//button[contains(., 'Provider')]").click()
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#query-btn").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "#query-btn").click()
    _wait_status(browser, "saved as open")
    view = browser.find_element(By.CSS_SELECTOR, "#query-view").text
    assert "Unable to determine" in view
    assert "characters" in view
    assert "E03.9" in view
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#dl-query-txt").is_displayed())

    _set_text(browser, "#query-answer textarea, #query-answer input", "Hashimoto thyroiditis")
    browser.find_element(By.CSS_SELECTOR, "#query-answered-btn").click()
    _wait_status(browser, "is answered")
    db = sqlite3.connect(server["db"])
    rows = db.execute("SELECT code, status, answer FROM provider_queries").fetchall()
    db.close()
    assert ("E03.9", "answered", "Hashimoto thyroiditis") in rows


# --------------------------------------------------------------------------- 16.14


def test_analytics_plot_productivity_offer_a_csv_and_a_qa_sample(server, browser):
    By = _by()
    rows = _open(browser, server["url"], SAMPLE.read_text(encoding="utf-8"))
    item, code = rows[0].get_attribute("data-item"), rows[0].get_attribute("data-code")
    _click_row_button(browser, item, "accept")
    _wait_status(browser, f"Accepted {code}.")
    browser.find_element(By.CSS_SELECTOR, "#finalise-btn").click()
    _wait_status(browser, "Finalised")

    browser.find_element(By.XPATH, "//button[@role='tab'][normalize-space()='Analytics']").click()
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#analytics-refresh").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "#analytics-refresh").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#productivity svg rect.cs-bar"))
    text = browser.find_element(By.CSS_SELECTOR, "#productivity").text
    assert "e2e-coder" in text
    assert "Median minutes per note" in text
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#dl-productivity").is_displayed())
    assert "provider queries" in browser.find_element(By.CSS_SELECTOR, "#analytics").text

    _set_text(browser, "#qa-share input", "100")
    browser.find_element(By.CSS_SELECTOR, "#qa-draw-btn").click()
    _wait(browser, lambda d: "Drew" in d.find_element(By.CSS_SELECTOR, "#qa-status").text)
    browser.find_element(By.CSS_SELECTOR, "#qa-agree").click()
    _wait(browser, lambda d: "agreed" in d.find_element(By.CSS_SELECTOR, "#qa-status").text)
    summary = browser.find_element(By.CSS_SELECTOR, "#qa-summary").text
    assert "Agreement 100.0%" in summary
