"""Shipped model folders (installed as ``codesuggest.models``); see each MODEL_CARD.md."""
