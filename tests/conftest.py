"""Shared fixtures: code tables load once per test session, into a private cache directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "codiesp"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the test run's code-set cache away from the user's own."""
    if "CODESUGGEST_TEST_CACHE_DIR" in os.environ:
        os.environ["CODESUGGEST_CACHE_DIR"] = os.environ["CODESUGGEST_TEST_CACHE_DIR"]
    else:
        os.environ["CODESUGGEST_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # The models the tests trust stay out of the user's own list.
    os.environ["CODESUGGEST_TRUST_FILE"] = str(tmp_path_factory.mktemp("trust") / "trusted.json")


@pytest.fixture(scope="session")
def book():
    from codesuggest.codebook.book import default_codebook

    return default_codebook()


@pytest.fixture(scope="session")
def icd(book):
    return book.icd


def needs_shared() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/codiesp is absent")
